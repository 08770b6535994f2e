import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boundaryAtOrBefore, lastGraphemeStart } from './graphemes.ts';
import { compileRegex, literalPattern } from './pattern.ts';
import { indexWithinBudget, utf8Length } from './utf8.ts';

const encoder = new TextEncoder();

describe('utf8Length', () => {
  it('agrees with TextEncoder on any string, including lone surrogates', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(utf8Length(text)).toBe(encoder.encode(text).length);
      }),
    );
  });

  it('measures a slice', () => {
    expect(utf8Length('aé😀b', 1, 4)).toBe(2 + 4);
  });
});

describe('indexWithinBudget', () => {
  it('returns the longest prefix within the budget that keeps surrogate pairs whole', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.nat(40), (text, budget) => {
        const i = indexWithinBudget(text, 0, budget);
        expect(utf8Length(text, 0, i)).toBeLessThanOrEqual(budget);
        const code = text.charCodeAt(i - 1);
        expect(code >= 0xd800 && code <= 0xdbff).toBe(false);
        if (i < text.length) {
          const next = text.codePointAt(i)!;
          expect(
            utf8Length(text, 0, i) + encoder.encode(String.fromCodePoint(next)).length,
          ).toBeGreaterThan(budget);
        }
      }),
    );
  });

  it('never splits a four-byte character', () => {
    expect(indexWithinBudget('😀😀', 0, 5)).toBe(2);
    expect(indexWithinBudget('😀😀', 0, 3)).toBe(0);
  });
});

describe('grapheme boundaries', () => {
  it('never cuts a combining sequence, emoji modifier or flag', () => {
    const text = 'ae\u0301👍🏽🇫🇷x';
    expect(boundaryAtOrBefore(text, 2)).toBe(1); // inside e + combining acute
    expect(boundaryAtOrBefore(text, 3)).toBe(3);
    expect(boundaryAtOrBefore(text, 5)).toBe(3); // inside thumbs-up + skin tone
    expect(boundaryAtOrBefore(text, 9)).toBe(7); // inside the flag
    expect(boundaryAtOrBefore(text, 11)).toBe(11);
    expect(boundaryAtOrBefore(text, 0)).toBe(0);
    expect(boundaryAtOrBefore(text, 99)).toBe(text.length);
  });

  it('keeps CR LF together and treats ASCII neighbours as a boundary', () => {
    expect(boundaryAtOrBefore('a\r\nb', 2)).toBe(1);
    expect(boundaryAtOrBefore('abc', 2)).toBe(2);
  });

  it('finds where the last cluster starts', () => {
    expect(lastGraphemeStart('')).toBe(0);
    expect(lastGraphemeStart('a')).toBe(0);
    expect(lastGraphemeStart('abc')).toBe(2);
    expect(lastGraphemeStart('ab\r')).toBe(2);
    expect(lastGraphemeStart('a\r\n')).toBe(1);
    expect(lastGraphemeStart('ae\u0301')).toBe(1);
    expect(lastGraphemeStart('x🇫🇷')).toBe(1);
  });

  it('agrees with Intl.Segmenter on arbitrary text', () => {
    const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-composite', maxLength: 12 }), fc.nat(), (text, n) => {
        const boundaries = new Set([...segmenter.segment(text)].map((s) => s.index));
        boundaries.add(text.length);
        const index = text.length === 0 ? 0 : n % (text.length + 1);
        const b = boundaryAtOrBefore(text, index);
        expect(boundaries.has(b)).toBe(true);
        expect(b).toBeLessThanOrEqual(index);
        for (let i = b + 1; i <= index; i++) expect(boundaries.has(i)).toBe(false);
        const last = lastGraphemeStart(text);
        expect(text.length === 0 || boundaries.has(last)).toBe(true);
      }),
    );
  });
});

describe('patterns', () => {
  it('finds literals from a position', () => {
    const p = literalPattern('ab');
    expect(p.find('xxabyab')).toEqual({ start: 2, end: 4 });
    expect(p.find('xxabyab', 3)).toEqual({ start: 5, end: 7 });
    expect(p.find('xyz')).toBeUndefined();
    expect(p.test('zab')).toBe(true);
    expect(literalPattern('').find('abc')).toBeUndefined();
    expect(literalPattern('').test('abc')).toBe(false);
  });

  it('compiles RE2 regexes and skips empty matches', () => {
    const compiled = compileRegex('secret-[0-9]*', '$.regex');
    if (!compiled.ok) throw new Error('expected a valid regex');
    expect(compiled.pattern.kind).toBe('regex');
    expect(compiled.pattern.find('a secret-12 b')).toEqual({ start: 2, end: 11 });
    expect(compiled.pattern.find('a secret-12 b secret-3', 3)).toEqual({ start: 14, end: 22 });
    expect(compiled.pattern.test('nothing')).toBe(false);

    const starry = compileRegex('x*', '$.regex');
    if (!starry.ok) throw new Error('expected a valid regex');
    expect(starry.pattern.find('abxxc')).toEqual({ start: 2, end: 4 });
    expect(starry.pattern.find('abc')).toBeUndefined();
  });

  it('finds the same matches with or without its fast no-match test', () => {
    const compiled = compileRegex('^ab|\\bcd', '$.regex');
    if (!compiled.ok) throw new Error('expected a valid regex');
    const p = compiled.pattern;
    expect(p.find('zzz zzz')).toBeUndefined();
    expect(p.test('zzz zzz')).toBe(false);
    expect(p.find('ab cd')).toEqual({ start: 0, end: 2 });
    // A later start keeps the text's own anchors: `^ab` does not match at 3, `\bcd` does.
    expect(p.find('ab ab cd', 3)).toEqual({ start: 6, end: 8 });
    expect(p.find('xab', 1)).toBeUndefined();
    expect(p.test('x cd')).toBe(true);
  });

  it('rejects invalid and JavaScript-only regexes with a located issue', () => {
    expect(compileRegex('(', '$.rules[0].regex')).toMatchObject({
      ok: false,
      issue: {
        path: '$.rules[0].regex',
        message: expect.stringMatching(/^is not a valid RE2 regex: /),
      },
    });
    expect(compileRegex('a(?=b)', '$.r')).toMatchObject({
      ok: false,
      issue: { hint: expect.stringContaining('lookaround and backreferences are not supported') },
    });
    expect(compileRegex('', '$.r')).toEqual({
      ok: false,
      issue: { path: '$.r', message: 'must not be empty' },
    });
  });

  it('answers on an input where a backtracking engine would never return', () => {
    // `(a+)+$` against 5000 a's and a '!' takes exponential time in a backtracking engine
    // (V8's included); with RE2 this call simply returns.
    const compiled = compileRegex('(a+)+$', '$.r');
    if (!compiled.ok) throw new Error('expected a valid regex');
    expect(compiled.pattern.test(`${'a'.repeat(5000)}!`)).toBe(false);
    expect(compiled.pattern.test('aaa')).toBe(true);
  });
});
