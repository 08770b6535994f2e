import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  lookupJsonPointer,
  MISSING,
  parseJsonPointer,
  resolveJsonPointer,
} from './json-pointer.ts';

function tokensOf(pointer: string): readonly string[] {
  const parsed = parseJsonPointer(pointer);
  if (!parsed.ok) throw new Error(`unexpected issue: ${parsed.issue.message}`);
  return parsed.tokens;
}

function format(tokens: readonly string[]): string {
  return tokens.map((t) => `/${t.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

// RFC 6901 §5.
const rfcDocument = JSON.parse(`{
  "foo": ["bar", "baz"],
  "": 0,
  "a/b": 1,
  "c%d": 2,
  "e^f": 3,
  "g|h": 4,
  "i\\\\j": 5,
  "k\\"l": 6,
  " ": 7,
  "m~n": 8
}`);

describe('parseJsonPointer', () => {
  it('unescapes ~1 to / and ~0 to ~, in that order', () => {
    expect(tokensOf('')).toEqual([]);
    expect(tokensOf('/')).toEqual(['']);
    expect(tokensOf('/a~1b/m~0n')).toEqual(['a/b', 'm~n']);
    // `~01` is an escaped `~` followed by `1`, never `/`.
    expect(tokensOf('/~01')).toEqual(['~1']);
    expect(tokensOf('//x/')).toEqual(['', 'x', '']);
  });

  it('rejects a pointer without a leading slash and suggests the pointer meant', () => {
    expect(parseJsonPointer('confidence', '$.rules[0].path')).toEqual({
      ok: false,
      issue: {
        path: '$.rules[0].path',
        message: 'must be a JSON Pointer (RFC 6901) starting with `/`, got "confidence"',
        hint: 'JSON Pointers start with `/`, e.g. `/confidence`',
      },
    });
    const hint = (pointer: string) => {
      const parsed = parseJsonPointer(pointer);
      return parsed.ok ? undefined : parsed.issue.hint;
    };
    expect(hint('$.answer.items[0]')).toBe('JSON Pointers start with `/`, e.g. `/answer/items/0`');
    expect(hint('answer.confidence')).toBe(
      'JSON Pointers start with `/`, e.g. `/answer/confidence`',
    );
    expect(hint('what is this?')).toBe('JSON Pointers start with `/`, e.g. `/confidence`');
  });

  it('rejects a ~ that is not followed by 0 or 1', () => {
    for (const pointer of ['/a~', '/a~2', '/~/x']) {
      const parsed = parseJsonPointer(pointer);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) {
        expect(parsed.issue.path).toBe('$');
        expect(parsed.issue.message).toContain('not followed by `0` or `1`');
        expect(parsed.issue.hint).toBe(
          'write `~0` for a literal `~` and `~1` for a literal `/` inside a key',
        );
      }
    }
  });

  it('round-trips any list of tokens through its escaped form', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme-ascii' })), (tokens) => {
        expect(tokensOf(format(tokens))).toEqual(tokens);
      }),
    );
  });
});

describe('resolveJsonPointer', () => {
  it('resolves every example pointer of RFC 6901 §5', () => {
    const cases: [string, unknown][] = [
      ['', rfcDocument],
      ['/foo', ['bar', 'baz']],
      ['/foo/0', 'bar'],
      ['/', 0],
      ['/a~1b', 1],
      ['/c%d', 2],
      ['/e^f', 3],
      ['/g|h', 4],
      ['/i\\j', 5],
      ['/k"l', 6],
      ['/ ', 7],
      ['/m~0n', 8],
    ];
    expect(cases).toHaveLength(12);
    for (const [pointer, expected] of cases) {
      expect(resolveJsonPointer(rfcDocument, tokensOf(pointer))).toEqual({
        found: true,
        value: expected,
      });
    }
  });

  it('reads array elements only through canonical in-bounds indices', () => {
    const doc = { list: ['a', 'b', 'c'], empty: [] };
    expect(resolveJsonPointer(doc, tokensOf('/list/2'))).toEqual({ found: true, value: 'c' });
    expect(resolveJsonPointer(doc, tokensOf('/list/0'))).toEqual({ found: true, value: 'a' });
    for (const pointer of [
      '/list/3',
      '/list/-',
      '/list/01',
      '/list/00',
      '/list/1a',
      '/list/',
      '/list/-1',
      '/list/ 1',
      '/list/length',
      '/list/9999999999999999999',
      '/empty/0',
    ]) {
      expect(resolveJsonPointer(doc, tokensOf(pointer)), pointer).toEqual({ found: false });
    }
  });

  it('never reaches inherited properties', () => {
    const doc = { a: {} };
    for (const pointer of ['/__proto__', '/constructor', '/a/toString', '/a/hasOwnProperty']) {
      expect(resolveJsonPointer(doc, tokensOf(pointer)), pointer).toEqual({ found: false });
    }
    // A parsed `__proto__` key is the output's own data, so it resolves.
    const parsed = JSON.parse('{"__proto__": {"x": 1}, "constructor": 2}');
    expect(resolveJsonPointer(parsed, tokensOf('/__proto__/x'))).toEqual({ found: true, value: 1 });
    expect(resolveJsonPointer(parsed, tokensOf('/constructor'))).toEqual({ found: true, value: 2 });
  });

  it('finds nothing below a scalar or null, and finds a present null or undefined', () => {
    const doc = { s: 'text', n: null, u: undefined, z: 0 };
    for (const pointer of ['/s/0', '/s/length', '/n/x', '/z/x', '/missing']) {
      expect(resolveJsonPointer(doc, tokensOf(pointer)), pointer).toEqual({ found: false });
    }
    expect(resolveJsonPointer(doc, tokensOf('/n'))).toEqual({ found: true, value: null });
    expect(resolveJsonPointer(doc, tokensOf('/u'))).toEqual({ found: true, value: undefined });
    expect(lookupJsonPointer(doc, tokensOf('/missing'))).toBe(MISSING);
  });

  it('finds every value of a JSON document at the pointer built from its path', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (doc) => {
        const visit = (value: unknown, tokens: string[]): void => {
          expect(resolveJsonPointer(doc, tokensOf(format(tokens)))).toEqual({ found: true, value });
          if (Array.isArray(value)) {
            value.forEach((v, i) => {
              visit(v, [...tokens, String(i)]);
            });
          } else if (typeof value === 'object' && value !== null) {
            for (const [k, v] of Object.entries(value)) visit(v, [...tokens, k]);
          }
        };
        visit(doc, []);
      }),
      { numRuns: 200 },
    );
  });

  it('never mutates the document', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.array(fc.string(), { maxLength: 4 }), (doc, tokens) => {
        const before = structuredClone(doc);
        resolveJsonPointer(doc, tokens);
        expect(doc).toEqual(before);
      }),
    );
  });
});
