/**
 * Where the CLI writes, and how: colors, aligned tables and expected/actual diffs. Commands
 * get an `Io` instead of touching `process`, so tests can run them in-process too.
 */

export interface Io {
  /** Writes to stdout, as is (callers add the newline). */
  out(text: string): void;
  /** Writes to stderr, as is. */
  err(text: string): void;
  readonly stdoutIsTTY: boolean;
  readonly stderrIsTTY: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export function processIo(): Io {
  return {
    out: (text) => {
      process.stdout.write(text);
    },
    err: (text) => {
      process.stderr.write(text);
    },
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    env: process.env,
  };
}

/**
 * Colors follow the common conventions: FORCE_COLOR (any value but `0`/`false`) forces them,
 * even over NO_COLOR, as Node itself does; a non-empty NO_COLOR or TERM=dumb turns them off;
 * otherwise only a terminal gets them, so pipes and files stay plain text.
 */
export function colorEnabled(isTTY: boolean, env: Io['env']): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return isTTY;
}

export interface Style {
  readonly enabled: boolean;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

function sgr(open: number, close: number): (text: string) => string {
  return (text) => `\u001b[${open}m${text}\u001b[${close}m`;
}

const plain = (text: string) => text;

export function makeStyle(enabled: boolean): Style {
  if (!enabled) {
    return { enabled, red: plain, green: plain, yellow: plain, dim: plain, bold: plain };
  }
  return {
    enabled,
    red: sgr(31, 39),
    green: sgr(32, 39),
    yellow: sgr(33, 39),
    dim: sgr(2, 22),
    bold: sgr(1, 22),
  };
}

/** The styles for stdout and stderr, each decided from its own stream. */
export function stylesFor(io: Io): { out: Style; err: Style } {
  return {
    out: makeStyle(colorEnabled(io.stdoutIsTTY, io.env)),
    err: makeStyle(colorEnabled(io.stderrIsTTY, io.env)),
  };
}

/**
 * Align cells in columns, two spaces apart. `paint` colors a cell after padding, so escape
 * codes never count towards a width. Trailing spaces are trimmed.
 */
export function table(
  rows: readonly (readonly string[])[],
  paint: (cell: string, row: number, column: number) => string = (cell) => cell,
): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row, r) =>
    row
      .map((cell, c) => {
        const padded = c === row.length - 1 ? cell : cell.padEnd(widths[c]!);
        return paint(padded, r, c);
      })
      .join('  ')
      .trimEnd(),
  );
}

function isComposite(value: unknown): boolean {
  return typeof value === 'object' && value !== null;
}

/**
 * One field that differs: scalars on one line (`status: expected "a", got "b"`); objects and
 * arrays as indented JSON, expected lines marked `-` and actual lines marked `+`.
 */
export function fieldDiff(
  field: string,
  expected: unknown,
  actual: unknown,
  style: Style,
  indent = '    ',
): string[] {
  if (!isComposite(expected) && !isComposite(actual)) {
    return [
      `${indent}${field}: expected ${style.green(show(expected))}, got ${style.red(show(actual))}`,
    ];
  }
  const lines = [`${indent}${field}: expected (-), got (+)`];
  for (const line of json(expected).split('\n')) lines.push(style.green(`${indent}  - ${line}`));
  for (const line of json(actual).split('\n')) lines.push(style.red(`${indent}  + ${line}`));
  return lines;
}

/** A value as JSON, `undefined` spelled out so a missing value is visible. */
export function show(value: unknown): string {
  return value === undefined ? 'undefined' : JSON.stringify(value);
}

function json(value: unknown): string {
  return value === undefined ? 'undefined' : JSON.stringify(value, null, 2);
}

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** `sha256:1bfe5947c218…`: enough to tell artifacts apart at a glance. */
export function shortHash(hash: string): string {
  return hash.length > 19 ? `${hash.slice(0, 19)}…` : hash;
}
