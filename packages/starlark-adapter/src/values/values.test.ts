import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as I from './ints.ts';
import { compare, equal } from './ops.ts';
import { reprFloat } from './repr.ts';
import { keyOf, SDict, SFloat, SList, STuple } from './values.ts';

describe('ints', () => {
  it('agree with BigInt arithmetic across the number/BigInt boundary', () => {
    const int = fc.oneof(
      fc.integer(),
      fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }).map(I.norm),
    );
    fc.assert(
      fc.property(int, int, (a, b) => {
        const x = BigInt(a);
        const y = BigInt(b);
        expect(BigInt(I.add(a, b))).toBe(x + y);
        expect(BigInt(I.sub(a, b))).toBe(x - y);
        expect(BigInt(I.mul(a, b))).toBe(x * y);
        if (y !== 0n) {
          const q = BigInt(I.floordiv(a, b));
          const r = BigInt(I.mod(a, b));
          expect(q * y + r).toBe(x);
          expect(r === 0n || r < 0n === y < 0n).toBe(true);
        }
        // Normalised: a value that fits is always a JS number.
        const s = I.add(a, b);
        expect(typeof s === 'bigint').toBe(
          x + y > BigInt(Number.MAX_SAFE_INTEGER) || x + y < -BigInt(Number.MAX_SAFE_INTEGER),
        );
      }),
    );
  });

  it('compares ints and floats exactly', () => {
    expect(I.cmpIntFloat(2n ** 60n + 1n, 2 ** 60)).toBe(1);
    expect(I.cmpIntFloat(3, 3.5)).toBe(-1);
    expect(I.cmpIntFloat(4, 4)).toBe(0);
  });
});

describe('equality, hashing and order', () => {
  it('equal values share a dict key', () => {
    expect(keyOf(1)).toBe(keyOf(new SFloat(1)));
    expect(keyOf(new STuple([1, 'a']))).toBe(keyOf(new STuple([new SFloat(1), 'a'])));
    expect(() => keyOf(new SList([]))).toThrow(/unhashable/);
    const d = new SDict();
    d.set(new SFloat(2), 'x');
    expect(d.get(2)).toBe('x');
    expect(d.keys()[0]).toBeInstanceOf(SFloat);
  });

  it('orders sequences lexicographically and refuses mixed types', () => {
    expect(compare(new STuple([1, 2]), new STuple([1, 3]))).toBeLessThan(0);
    expect(compare(new SList([1]), new SList([1, 0]))).toBeLessThan(0);
    expect(equal(new SList([1, 'a']), new SList([1, 'a']))).toBe(true);
    expect(() => compare(1, 'a')).toThrow(/not implemented/);
  });

  it('formats floats like Python repr', () => {
    expect([1, 0.5, 1e16, 1e15, 1e-5, 0.0001, -0, 123.456, 1.5e300].map(reprFloat)).toEqual([
      '1.0',
      '0.5',
      '1e+16',
      '1000000000000000.0',
      '1e-05',
      '0.0001',
      '-0.0',
      '123.456',
      '1.5e+300',
    ]);
  });
});
