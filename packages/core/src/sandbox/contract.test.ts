import { describe, expect, it } from 'vitest';
import { entryCandidates, sanitizeFailureMessage, withoutExports } from './contract.ts';

describe('entryCandidates', () => {
  it('lists every function name once, in source order, generators and async ones included', () => {
    const code = `export function decide(input) { return helper(input); }
      function helper(x) { function inner() {} return x; }
      async function later() {}
      function* steps() {}
      function   spaced (a) {}
      const f = function named() {};
      function decide2() {} function decide() {}`;
    expect(entryCandidates(code)).toEqual([
      'decide',
      'helper',
      'inner',
      'later',
      'steps',
      'spaced',
      'named',
      'decide2',
    ]);
  });

  it('finds nothing in code without function declarations', () => {
    expect(entryCandidates('const decide = (x) => x; // functional style')).toEqual([]);
  });
});

describe('withoutExports', () => {
  it('drops `export` before function declarations only, keeping line numbers and indentation', () => {
    const code = [
      'export function decide() {}',
      '  export async function later() {}',
      'export const limit = 3;',
      "const text = 'export function not_at_line_start';",
    ].join('\n');
    expect(withoutExports(code).split('\n')).toEqual([
      'function decide() {}',
      '  async function later() {}',
      'export const limit = 3;',
      "const text = 'export function not_at_line_start';",
    ]);
  });
});

describe('sanitizeFailureMessage', () => {
  it('keeps the first line, without control characters, at most 500 characters', () => {
    expect(sanitizeFailureMessage('boom\u0007 here\nsecond line')).toBe('boom  here');
    expect(sanitizeFailureMessage('x'.repeat(600))).toHaveLength(500);
  });
});
