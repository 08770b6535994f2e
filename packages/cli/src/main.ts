import { createRequire } from 'node:module';
import { commandHelp, parseCommandArgs, suggestion } from './args.ts';
import { ScriptNote } from './backends.ts';
import type { Command, Context } from './command.ts';
import { alerts } from './commands/alerts.ts';
import { bench } from './commands/bench.ts';
import { check } from './commands/check.ts';
import { explain } from './commands/explain.ts';
import { serve } from './commands/serve.ts';
import { simulate } from './commands/simulate.ts';
import { test } from './commands/test.ts';
import {
  EXIT_FAILED,
  EXIT_INTERNAL,
  EXIT_OK,
  EXIT_USAGE,
  ReportedError,
  SetupError,
  UsageError,
} from './errors.ts';
import { type Io, stylesFor } from './output.ts';

const COMMANDS: readonly Command[] = [check, explain, simulate, test, serve, alerts, bench];
const NAMES = COMMANDS.map((c) => c.spec.name);

function generalHelp(): string {
  const width = Math.max(...NAMES.map((n) => n.length));
  return [
    'Usage: wardwright COMMAND [options]',
    '',
    'Check, explain, simulate and test Wardwright artifacts (governed-model policies).',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(width)}  ${c.spec.summary}`),
    '',
    'Run "wardwright help COMMAND" or "wardwright COMMAND --help" for its options.',
    'Options: -h, --help  show this help; --version  print the version.',
    '',
    'Colors are used on a terminal only; NO_COLOR turns them off, FORCE_COLOR=1 forces them.',
    'Exit codes: 0 success, 1 failure (invalid input, failed check or test), 2 usage error,',
    '70 internal error.',
    '',
  ].join('\n');
}

function version(): string {
  // src/ and dist/ both sit next to package.json, so one relative path serves both.
  const pkg = createRequire(import.meta.url)('../package.json') as { version: string };
  return pkg.version;
}

/** Run the CLI; resolves to the exit code. Never throws. */
export async function main(
  argv: readonly string[],
  io: Io,
  options: { signal?: AbortSignal } = {},
): Promise<number> {
  const styles = stylesFor(io);
  const context: Context = {
    io,
    out: styles.out,
    err: styles.err,
    note: new ScriptNote(io),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
  const usage = (message: string, command?: string) => {
    const who = command === undefined ? 'wardwright' : `wardwright ${command}`;
    io.err(`${styles.err.red(`${who}: ${message}`)}\n`);
    io.err(`Run "${who} --help" for usage.\n`);
    return EXIT_USAGE;
  };

  const [first, ...rest] = argv;
  if (first === undefined) {
    io.err(generalHelp());
    return EXIT_USAGE;
  }
  if (first === '--help' || first === '-h') {
    io.out(generalHelp());
    return EXIT_OK;
  }
  if (first === '--version') {
    io.out(`${version()}\n`);
    return EXIT_OK;
  }
  if (first === 'help') {
    const topic = rest[0];
    if (topic === undefined) {
      io.out(generalHelp());
      return EXIT_OK;
    }
    const command = COMMANDS.find((c) => c.spec.name === topic);
    if (command === undefined) return usage(`unknown command ${topic}${suggestion(topic, NAMES)}`);
    io.out(commandHelp(command.spec));
    return EXIT_OK;
  }
  const command = COMMANDS.find((c) => c.spec.name === first);
  if (command === undefined) {
    const what = first.startsWith('-') ? 'option' : 'command';
    return usage(
      `unknown ${what} ${first}${suggestion(first, first.startsWith('-') ? ['--help', '--version'] : NAMES)}`,
    );
  }

  try {
    const args = parseCommandArgs(command.spec, rest);
    if (args.values.help === true) {
      io.out(commandHelp(command.spec));
      return EXIT_OK;
    }
    return await command.run(args, context);
  } catch (error) {
    if (error instanceof UsageError) return usage(error.message, command.spec.name);
    if (error instanceof ReportedError) return EXIT_FAILED;
    if (error instanceof SetupError) {
      io.err(`wardwright ${command.spec.name}: ${error.message}\n`);
      return EXIT_FAILED;
    }
    io.err(
      `wardwright: internal error, please report it with the command that caused it:\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return EXIT_INTERNAL;
  }
}
