import { parseArgs } from 'node:util';
import { nearest as nearestKnown } from '@wardwright/core';
import { UsageError } from './errors.ts';

/**
 * Command lines: `node:util` parseArgs does the splitting; this module adds what it lacks —
 * an unknown option or command names the nearest known one, and positional counts are checked.
 */

export interface OptionSpec {
  readonly type: 'boolean' | 'string';
  readonly short?: string;
  /** The value's placeholder in help, for string options. */
  readonly value?: string;
  readonly description: string;
}

export interface CommandSpec {
  readonly name: string;
  /** One line, for `wardwright --help`. */
  readonly summary: string;
  /** Positional arguments, e.g. `ARTIFACT...`; a trailing `...` means one or more. */
  readonly positionals: readonly string[];
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Paragraphs after the usage line in `--help`. */
  readonly details: string;
}

export interface ParsedArgs {
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: readonly string[];
}

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', description: 'Show this help.' };

export function optionsOf(spec: CommandSpec): Record<string, OptionSpec> {
  return { ...spec.options, help: HELP_OPTION };
}

/** Parse a command's arguments; `help` is true when `--help`/`-h` was given (nothing else checked). */
export function parseCommandArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const options = optionsOf(spec);
  const { tokens } = parseArgs({
    args: [...argv],
    options: Object.fromEntries(
      Object.entries(options).map(([name, o]) => [
        name,
        o.short === undefined ? { type: o.type } : { type: o.type, short: o.short },
      ]),
    ),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const values: Record<string, string | boolean | undefined> = {};
  const positionals: string[] = [];
  const problems: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') positionals.push(token.value);
    if (token.kind !== 'option') continue;
    const option = options[token.name];
    if (option === undefined) {
      const known = Object.keys(options).map((name) => `--${name}`);
      const flag = token.rawName.startsWith('--') ? token.rawName : `-${token.name}`;
      problems.push(`unknown option ${flag}${suggestion(flag, known)}`);
      continue;
    }
    if (option.type === 'boolean') {
      if (token.value !== undefined) problems.push(`option --${token.name} takes no value`);
      else values[token.name] = true;
      continue;
    }
    // As in strict parseArgs: `--filter --json` is a forgotten value, not a filter of "--json".
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('-'))) {
      problems.push(`option --${token.name} needs a value (${option.value ?? 'VALUE'})`);
      continue;
    }
    values[token.name] = token.value;
  }
  if (values.help === true) return { values, positionals };
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  checkPositionals(spec, positionals);
  return { values, positionals };
}

function checkPositionals(spec: CommandSpec, positionals: readonly string[]): void {
  const variadic = spec.positionals.at(-1)?.endsWith('...') === true;
  const min = spec.positionals.length;
  if (positionals.length < min) {
    const missing = spec.positionals.slice(positionals.length).join(' ');
    throw new UsageError(`missing ${missing}`);
  }
  if (!variadic && positionals.length > min) {
    const extra = positionals.slice(min).join(' ');
    throw new UsageError(
      `unexpected argument${positionals.length - min === 1 ? '' : 's'} ${extra}`,
    );
  }
}

/** `wardwright check ARTIFACT... [options]` and the option list, for `--help`. */
export function commandHelp(spec: CommandSpec): string {
  const options = optionsOf(spec);
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short === undefined ? '    ' : `-${o.short}, `}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    return [flag, o.description] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length));
  return [
    `Usage: wardwright ${spec.name} ${spec.positionals.join(' ')} [options]`,
    '',
    spec.summary,
    '',
    spec.details.trimEnd(),
    '',
    'Options:',
    ...rows.map(([flag, description]) => `  ${flag.padEnd(width)}  ${description}`),
    '',
  ].join('\n');
}

/**
 * ` (did you mean --json?)` for the nearest known name within a few edits, else the list of
 * known names, so the message always says what would have worked.
 */
export function suggestion(name: string, known: readonly string[]): string {
  const near = nearest(name, known);
  return near === undefined ? ` (known: ${known.join(', ')})` : ` (did you mean ${near}?)`;
}

/** The known name closest to `name`, if within a third of its length (at least 2) edits. */
export function nearest(name: string, known: readonly string[]): string | undefined {
  return nearestKnown(name, known, { min_edits: 2 });
}
