import { runtimeError } from '../errors.ts';

/** Int helpers: a JS number is the fast path; BigInt only beyond ±(2^53 − 1). */

const MAX = Number.MAX_SAFE_INTEGER;
const BMAX = BigInt(MAX);

export type Int = number | bigint;

export function norm(v: bigint): Int {
  return v <= BMAX && v >= -BMAX ? Number(v) : v;
}

export function big(v: Int): bigint {
  return typeof v === 'bigint' ? v : BigInt(v);
}

export function add(a: Int, b: Int): Int {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a + b;
    if (r <= MAX && r >= -MAX) return r;
  }
  return norm(big(a) + big(b));
}

export function sub(a: Int, b: Int): Int {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a - b;
    if (r <= MAX && r >= -MAX) return r;
  }
  return norm(big(a) - big(b));
}

export function mul(a: Int, b: Int): Int {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a * b;
    if (r <= MAX && r >= -MAX) return r === 0 ? 0 : r;
  }
  return norm(big(a) * big(b));
}

/** Floor division, as in Python. */
export function floordiv(a: Int, b: Int): Int {
  if (b === 0 || b === 0n) throw runtimeError('integer division by zero');
  if (typeof a === 'number' && typeof b === 'number' && (a | 0) === a && (b | 0) === b)
    return Math.floor(a / b) + 0;
  const x = big(a);
  const y = big(b);
  let q = x / y;
  if (x % y !== 0n && x < 0n !== y < 0n) q -= 1n;
  return norm(q);
}

/** Modulo with the sign of the divisor, as in Python. */
export function mod(a: Int, b: Int): Int {
  if (b === 0 || b === 0n) throw runtimeError('integer modulo by zero');
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a % b;
    return (r !== 0 && r < 0 !== b < 0 ? r + b : r) + 0;
  }
  const x = big(a);
  const y = big(b);
  let r = x % y;
  if (r !== 0n && r < 0n !== y < 0n) r += y;
  return norm(r);
}

export function neg(a: Int): Int {
  return typeof a === 'number' ? (a === 0 ? 0 : -a) : norm(-a);
}

function small32(a: Int): a is number {
  return typeof a === 'number' && (a | 0) === a;
}

export function bitand(a: Int, b: Int): Int {
  if (small32(a) && small32(b)) return a & b;
  return norm(big(a) & big(b));
}
export function bitor(a: Int, b: Int): Int {
  if (small32(a) && small32(b)) return a | b;
  return norm(big(a) | big(b));
}
export function bitxor(a: Int, b: Int): Int {
  if (small32(a) && small32(b)) return a ^ b;
  return norm(big(a) ^ big(b));
}
export function bitnot(a: Int): Int {
  if (small32(a)) return ~a;
  return norm(~big(a));
}

export function shl(a: Int, b: Int): Int {
  if (lt(b, 0)) throw runtimeError(`negative shift count: ${b}`);
  if (typeof b !== 'number' || b >= 512) throw runtimeError(`shift count too large: ${b}`);
  return norm(big(a) << BigInt(b));
}
export function shr(a: Int, b: Int): Int {
  if (lt(b, 0)) throw runtimeError(`negative shift count: ${b}`);
  if (typeof b !== 'number') return lt(a, 0) ? -1 : 0;
  return norm(big(a) >> BigInt(b));
}

export function lt(a: Int, b: Int): boolean {
  return a < b;
}

export function cmpInt(a: Int, b: Int): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Exact int → float conversion, failing when the value is out of float range. */
export function toFloat(a: Int): number {
  const f = Number(a);
  if (!Number.isFinite(f)) throw runtimeError('int too large to convert to float');
  return f;
}

/** Compare an int with a float exactly (both directions). */
export function cmpIntFloat(a: Int, f: number): number {
  if (Number.isNaN(f)) return Number.NaN;
  if (f === Number.POSITIVE_INFINITY) return -1;
  if (f === Number.NEGATIVE_INFINITY) return 1;
  if (typeof a === 'number') return a < f ? -1 : a > f ? 1 : 0;
  const fl = Math.floor(f);
  const bf = BigInt(fl);
  if (a < bf) return -1;
  if (a > bf) return 1;
  return fl < f ? -1 : 0;
}
