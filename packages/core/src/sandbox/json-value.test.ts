import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkJsonValue, MAX_JSON_DEPTH } from './json-value.ts';

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

describe('checkJsonValue', () => {
  it('bounds the UTF-8 size of JSON.stringify for every JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ noUnicodeString: false }), (value) => {
        const check = checkJsonValue(value, { maxBytes: 1e9, undefinedProperty: 'reject' });
        expect(check.ok).toBe(true);
        if (!check.ok) return;
        const size = bytes(value);
        expect(check.minBytes).toBeLessThanOrEqual(size);
        expect(size).toBeLessThanOrEqual(check.maxBytes);
      }),
    );
  });

  it('says too_large only when the text is larger than the limit, and ok bounds it below', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat({ max: 400 }), (value, maxBytes) => {
        const check = checkJsonValue(value, { maxBytes, undefinedProperty: 'reject' });
        if (!check.ok) {
          expect(check.reason).toBe('too_large');
          expect(bytes(value)).toBeGreaterThan(maxBytes);
        } else {
          expect(check.minBytes).toBeLessThanOrEqual(maxBytes);
        }
      }),
    );
  });

  it('stops early on a shared value that would expand without bound', () => {
    let value: unknown[] = [0];
    for (let i = 0; i < 60; i++) value = [value, value];
    const start = performance.now();
    expect(checkJsonValue(value, { maxBytes: 1 << 20, undefinedProperty: 'omit' })).toEqual({
      ok: false,
      reason: 'too_large',
    });
    // 2^60 values if walked in full; a bound of seconds still proves it stopped.
    expect(performance.now() - start).toBeLessThan(5_000);
  });

  it('refuses cycles and nesting past the depth limit', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(checkJsonValue(cyclic, { maxBytes: 1e6, undefinedProperty: 'omit' })).toEqual({
      ok: false,
      reason: 'too_deep',
    });
    let deep: unknown = 1;
    for (let i = 0; i < MAX_JSON_DEPTH; i++) deep = [deep];
    expect(checkJsonValue(deep, { maxBytes: 1e6, undefinedProperty: 'omit' }).ok).toBe(true);
    expect(checkJsonValue([deep], { maxBytes: 1e6, undefinedProperty: 'omit' })).toMatchObject({
      reason: 'too_deep',
    });
  });

  it('names what is not JSON and where', () => {
    const check = (value: unknown, undefinedProperty: 'omit' | 'reject' = 'reject') =>
      checkJsonValue(value, { maxBytes: 1e6, undefinedProperty });
    expect(check({ a: [1, Number.NaN] })).toEqual({
      ok: false,
      reason: 'not_json',
      found: 'the number NaN',
      path: '$.a[1]',
    });
    expect(check({ 'odd key': 10n })).toMatchObject({ found: 'a bigint', path: '$["odd key"]' });
    expect(check([new Map()])).toMatchObject({ found: 'a Map', path: '$[0]' });
    expect(check({ d: new Date(0) })).toMatchObject({ found: 'a Date', path: '$.d' });
    expect(check({ f: () => 1 })).toMatchObject({ found: 'a function', path: '$.f' });
    expect(check({ u: undefined })).toMatchObject({ found: 'undefined', path: '$.u' });
    expect(check([undefined], 'omit')).toMatchObject({ found: 'undefined', path: '$[0]' });
    class Point {
      x = 1;
    }
    expect(check({ p: new Point() })).toMatchObject({ found: 'a class instance' });
    expect(check(Number.POSITIVE_INFINITY)).toMatchObject({ path: '$' });
  });

  it('skips undefined properties like JSON.stringify when asked to', () => {
    const value = { a: 1, b: undefined, c: 'x' };
    const check = checkJsonValue(value, { maxBytes: 100, undefinedProperty: 'omit' });
    expect(check).toMatchObject({ ok: true });
    if (check.ok) {
      expect(check.minBytes).toBeLessThanOrEqual(bytes(value));
      expect(bytes(value)).toBeLessThanOrEqual(check.maxBytes);
    }
    expect(
      checkJsonValue(Object.create(null), { maxBytes: 10, undefinedProperty: 'omit' }).ok,
    ).toBe(true);
  });
});
