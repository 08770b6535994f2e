import { describe, expect, it, vi } from 'vitest';
import {
  colorEnabled,
  fieldDiff,
  makeStyle,
  plural,
  processIo,
  shortHash,
  show,
  stylesFor,
  table,
} from './output.ts';

describe('colorEnabled', () => {
  it.each([
    [true, {}, true],
    [false, {}, false],
    [true, { NO_COLOR: '1' }, false],
    [true, { NO_COLOR: '' }, true],
    [true, { TERM: 'dumb' }, false],
    [false, { FORCE_COLOR: '1' }, true],
    [false, { FORCE_COLOR: '' }, true],
    [true, { FORCE_COLOR: '0' }, false],
    [true, { FORCE_COLOR: 'false' }, false],
    [false, { FORCE_COLOR: '1', NO_COLOR: '1' }, true],
  ] as const)('tty %s with %j: %s', (tty, env, expected) => {
    expect(colorEnabled(tty, env)).toBe(expected);
  });

  it('decides stdout and stderr apart', () => {
    const styles = stylesFor({ ...processIo(), stdoutIsTTY: true, stderrIsTTY: false, env: {} });
    expect(styles.out.enabled).toBe(true);
    expect(styles.err.enabled).toBe(false);
  });
});

describe('makeStyle', () => {
  it('wraps text in SGR codes only when enabled', () => {
    const on = makeStyle(true);
    expect(on.red('x')).toBe('\u001b[31mx\u001b[39m');
    expect(on.green('x')).toBe('\u001b[32mx\u001b[39m');
    expect(on.yellow('x')).toBe('\u001b[33mx\u001b[39m');
    expect(on.dim('x')).toBe('\u001b[2mx\u001b[22m');
    expect(on.bold('x')).toBe('\u001b[1mx\u001b[22m');
    const off = makeStyle(false);
    for (const paint of [off.red, off.green, off.yellow, off.dim, off.bold]) {
      expect(paint('x')).toBe('x');
    }
  });
});

describe('table', () => {
  it('pads every column but the last and paints after padding', () => {
    const lines = table(
      [
        ['a', 'bb', 'c'],
        ['aaa', 'b', ''],
      ],
      (cell, row, column) => (row === 0 && column === 0 ? `<${cell}>` : cell),
    );
    expect(lines).toEqual(['<a  >  bb  c', 'aaa  b']);
  });

  it('leaves cells alone without a painter', () => {
    expect(table([['x', 'y']])).toEqual(['x  y']);
  });
});

describe('fieldDiff', () => {
  const plain = makeStyle(false);

  it('puts scalars on one line, JSON-quoted', () => {
    expect(fieldDiff('status', 'completed', 'policy_blocked', plain)).toEqual([
      '    status: expected "completed", got "policy_blocked"',
    ]);
    expect(fieldDiff('attempts', 2, null, plain, '')).toEqual(['attempts: expected 2, got null']);
  });

  it('marks expected JSON lines with - and actual lines with +', () => {
    expect(fieldDiff('states', { m: 'a' }, undefined, plain)).toEqual([
      '    states: expected (-), got (+)',
      '      - {',
      '      -   "m": "a"',
      '      - }',
      '      + undefined',
    ]);
  });

  it('colors expected green and actual red', () => {
    const [line] = fieldDiff('x', 1, 2, makeStyle(true));
    expect(line).toBe('    x: expected \u001b[32m1\u001b[39m, got \u001b[31m2\u001b[39m');
  });
});

describe('helpers', () => {
  it('show spells out undefined', () => {
    expect(show(undefined)).toBe('undefined');
    expect(show('a')).toBe('"a"');
  });

  it('plural', () => {
    expect(plural(1, 'rule')).toBe('1 rule');
    expect(plural(0, 'rule')).toBe('0 rules');
  });

  it('shortHash keeps 12 hex digits', () => {
    expect(shortHash(`sha256:${'a'.repeat(64)}`)).toBe(`sha256:${'a'.repeat(12)}…`);
    expect(shortHash('sha256:ab')).toBe('sha256:ab');
  });

  it('processIo writes to the process streams', () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const io = processIo();
      io.out('to stdout');
      io.err('to stderr');
      expect(out).toHaveBeenCalledWith('to stdout');
      expect(err).toHaveBeenCalledWith('to stderr');
      expect(io.env).toBe(process.env);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });
});
