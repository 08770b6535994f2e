import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonErrorOffset, lineColumn } from './json-error.ts';

describe('jsonErrorOffset', () => {
  it.each([
    ['{"a": oops}', 6],
    ['{"a": 1,}', 8],
    ['[1, 2', 5],
    ['{"a" 1}', 5],
    ['"abc', 4],
    ['"a\\x"', 3],
    ['"\\u12G4"', 5],
    ['01', 1],
    ['-', 0],
    ['{} x', 3],
    ['tru', 3],
    ['', 0],
    ['"a\u0001"', 2],
  ])('finds the error in %j at %i', (text, offset) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(jsonErrorOffset(text)).toBe(offset);
  });

  it('accepts exactly what JSON.parse accepts, for any JSON value', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        expect(jsonErrorOffset(text)).toBe(text.length);
      }),
    );
  });

  it('gives 1-based lines and columns', () => {
    expect(lineColumn('{\n  "b": oops\n}', 9)).toEqual({ line: 2, column: 8 });
    expect(lineColumn('x', 0)).toEqual({ line: 1, column: 1 });
  });
});
