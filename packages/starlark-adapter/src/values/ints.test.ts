import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StarlarkError } from '../errors.ts';
import { toStarlarkError } from '../eval/function.ts';
import { type ExecLimits, Program } from '../interpreter.ts';
import { bitLength, MAX_INT_BITS } from './ints.ts';

/**
 * Big ints are native operations the deadline cannot interrupt and whose cost grows faster than
 * their size: they are bounded (MAX_INT_BITS), refused before an operation would build one past
 * the bound, charged to the allocation budget and, when large, as steps with a clock check.
 */

// Every case here expects memory_limit or a value: a deadline a busy machine cannot race.
const TIME = { timeoutMs: 10_000 };
/** A limit test's wall-time bound: max(2 × limit, limit + 100 ms). */
const BOUND_MS = Math.max(2 * TIME.timeoutMs, TIME.timeoutMs + 100);

function outcome(src: string, limits: ExecLimits = TIME) {
  const start = performance.now();
  try {
    const { module } = Program.compile(src, { filename: 't.star' }).init({ limits });
    const r = module.call(module.globals.get('f')!, [], { limits });
    return { kind: 'ok', ms: performance.now() - start, value: r.value, stats: r.stats };
  } catch (e) {
    if (!StarlarkError.isInstance(e)) throw e;
    return { kind: e.kind, ms: performance.now() - start, message: e.message, stats: e.stats };
  }
}

describe('int size bound', () => {
  it('int("9" * 300000) is refused before parsing: memory_limit, at once', () => {
    const r = outcome('def f():\n  return int("9" * 300000)\n');
    expect(r).toMatchObject({ kind: 'memory_limit' });
    expect(r.message).toMatch(/int too large: about \d+ bits, over the 262144-bit bound for ints/);
    expect(r.ms).toBeLessThan(BOUND_MS);
    const million = outcome('def f():\n  return int("9" * 1000000)\n');
    expect(million).toMatchObject({ kind: 'memory_limit' });
    expect(million.ms).toBeLessThan(BOUND_MS);
  });

  it('parses ints up to the bound in every base, exactly, in linear time', () => {
    const digits = '7'.repeat(70_000);
    const r = outcome(`def f():\n  return int("${digits}") == int("${digits}", 10)\n`);
    expect(r).toMatchObject({ kind: 'ok', value: true });
    expect(r.ms).toBeLessThan(BOUND_MS);
    // Chunked bases agree with the schoolbook definition on smaller values.
    for (const base of [3, 7, 12, 36]) {
      const text = '123456789abcdefghijklmnopqrstuvwxyz'.slice(0, base - 1).repeat(40);
      const expected = [...text].reduce(
        (v, ch) => v * BigInt(base) + BigInt(Number.parseInt(ch, 36)),
        0n,
      );
      const got = outcome(`def f():\n  return str(int("${text}", ${base}))\n`);
      expect(got).toMatchObject({ kind: 'ok', value: expected.toString() });
    }
  });

  it('x = x * x in a loop stops at the bound with memory_limit, never leaking a host error', () => {
    const r = outcome('def f():\n  x = 3\n  for i in range(40):\n    x = x * x\n  return x\n', {
      ...TIME,
      maxAllocBytes: 10_000_000,
    });
    expect(r).toMatchObject({ kind: 'memory_limit' });
    expect(r.message).toMatch(/over the 262144-bit bound/);
    expect(r.ms).toBeLessThan(BOUND_MS);
  });

  it('the bound is checked for every way to grow an int: +, -, <<, literals', () => {
    // 2 ** (MAX_INT_BITS - 1): the largest power of two within the bound, built by shifts.
    // (MAX_INT_BITS - 1 = 511 × 513.)
    expect((MAX_INT_BITS - 1) % 511).toBe(0);
    const near = `def near():\n  x = 1\n  for i in range(${(MAX_INT_BITS - 1) / 511}):\n    x = x << 511\n  return x\n`;
    expect(outcome(`${near}def f():\n  return near() + near() > 0\n`)).toMatchObject({
      kind: 'memory_limit',
    });
    expect(outcome(`${near}def f():\n  x = near()\n  return x - (-x) > 0\n`)).toMatchObject({
      kind: 'memory_limit',
    });
    expect(outcome(`${near}def f():\n  return near() << 1\n`)).toMatchObject({
      kind: 'memory_limit',
    });
    expect(() => Program.compile(`x = ${'9'.repeat(80_000)}\n`)).toThrow(
      /int literal of 80000 digits is over the 262144-bit bound/,
    );
    // At the bound itself everything still works, decimal conversion included.
    expect(
      outcome(`${near}def f():\n  x = near()\n  return len(str(x)) > 78000 and x // x == 1\n`),
    ).toMatchObject({ kind: 'ok', value: true });
  });

  it('charges big results to the allocation budget', () => {
    const small = outcome('def f():\n  return 1 << 500\n');
    const big = outcome(
      'def f():\n  x = 1 << 500\n  for i in range(300):\n    x = x << 500\n  return 1\n',
    );
    expect(small.kind).toBe('ok');
    expect(big.stats!.allocBytes).toBeGreaterThan(300 * 8);
    expect(
      outcome('def f():\n  x = 1 << 500\n  for i in range(300):\n    x = x << 500\n  return 1\n', {
        ...TIME,
        maxAllocBytes: 5_000,
      }),
    ).toMatchObject({ kind: 'memory_limit' });
  });
});

describe('bitLength', () => {
  it('is exact for every int, negative ones by their magnitude', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << 300n), max: 1n << 300n }), (v) => {
        const magnitude = v < 0n ? -v : v;
        expect(bitLength(v)).toBe(magnitude === 0n ? 0 : magnitude.toString(2).length);
      }),
    );
    fc.assert(
      fc.property(fc.maxSafeInteger(), (n) => {
        expect(bitLength(n)).toBe(n === 0 ? 0 : Math.abs(n).toString(2).length);
      }),
    );
  });
});

describe('host errors', () => {
  it('become typed errors, never leak as they are', () => {
    const bigint = toStarlarkError(new RangeError('Maximum BigInt size exceeded'));
    expect([bigint.kind, bigint.message]).toEqual([
      'memory_limit',
      'host allocation failed: Maximum BigInt size exceeded',
    ]);
    const codePoint = toStarlarkError(new RangeError('Invalid code point 1114112'));
    expect([codePoint.kind, codePoint.message]).toEqual([
      'runtime',
      'invalid code point: Invalid code point 1114112',
    ]);
    expect(toStarlarkError(new RangeError('Maximum call stack size exceeded')).kind).toBe(
      'stack_overflow',
    );
    expect(toStarlarkError(new TypeError('x is not a function')).message).toBe(
      'internal error: x is not a function',
    );
  });
});
