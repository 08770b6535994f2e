import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';

/** `wardwright serve` from the built CLI, for tests that signal or kill a real process. */

const here = fileURLToPath(new URL('.', import.meta.url));
const cli = resolve(here, '../../../cli/bin/wardwright.js');
const builtCli = resolve(here, '../../../cli/dist/cli.js');

export interface ServingCli {
  child: ChildProcess;
  /** The URL its banner names. */
  url: string;
  /** Everything it printed so far, stdout and stderr. */
  output: () => string;
  exit: Promise<number | null>;
}

/**
 * Starts `wardwright serve --config CONFIG` and waits for its banner. `cleanup` receives a step
 * that SIGKILLs the process if it is still running when the test file ends.
 */
export async function spawnServe(
  config: string,
  cleanup: (step: () => Promise<void>) => void,
): Promise<ServingCli> {
  if (!existsSync(builtCli)) throw new Error(`${builtCli} is missing: run \`npm run build\``);
  const child = spawn(process.execPath, [cli, 'serve', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    out += text;
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    out += text;
  });
  const exit = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  cleanup(async () => {
    child.kill('SIGKILL');
    await exit;
  });
  const url = await vi.waitFor(
    () => {
      const match = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (match === null) throw new Error(`not serving yet:\n${out}`);
      return match[1]!;
    },
    { timeout: 30_000, interval: 50 },
  );
  return { child, url, output: () => out, exit };
}
