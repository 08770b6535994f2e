import { runtimeError, StarlarkError } from '../errors.ts';
import { charge, work } from '../limits/thread.ts';

/** Int helpers: a JS number is the fast path; BigInt only beyond ±(2^53 − 1). */

const MAX = Number.MAX_SAFE_INTEGER;
const BMAX = BigInt(MAX);

export type Int = number | bigint;

/**
 * The largest int, in bits (about 78 900 decimal digits). Arithmetic on a bigint is one native
 * operation the deadline cannot interrupt, and its cost grows faster than its size: at this bound
 * a multiplication takes ~3 ms, a division ~6 ms and a conversion to decimal ~22 ms on a 2-core
 * machine; at four times the bound, ~45, ~220 and ~450 ms. A result past it is a memory_limit
 * failure, found before the operation that would build it.
 */
export const MAX_INT_BITS = 2 ** 18;

/** Bits of |v|, for a bigint (a safe-integer number has at most 53). */
export function bitLength(v: Int): number {
  if (typeof v === 'number') return v === 0 ? 0 : Math.ceil(Math.log2(Math.abs(v) + 1));
  // From its hex digits: 0.1 ms at the bound, and exact with the first digit's own width.
  const hex = (v < 0n ? -v : v).toString(16);
  return (hex.length - 1) * 4 + (32 - Math.clz32(Number.parseInt(hex[0]!, 16)));
}

function tooBig(bits: number): never {
  throw new StarlarkError(
    'memory_limit',
    `int too large: about ${bits} bits, over the ${MAX_INT_BITS}-bit bound for ints`,
  );
}

/** Refuse an int that would have more than MAX_INT_BITS bits, before it is built. */
export function checkBits(bits: number): void {
  if (bits > MAX_INT_BITS) tooBig(bits);
}

/**
 * A bigint result: within the bound, its bytes charged, and the work of producing it from
 * operands of `operandBits` charged as steps (with a clock check) — see `work`.
 */
function result(v: bigint, operandBits: number): Int {
  if (v <= BMAX && v >= -BMAX) return Number(v);
  const bits = bitLength(v);
  if (bits > MAX_INT_BITS) tooBig(bits);
  charge(Math.ceil(bits / 8) + 16);
  work(operandBits >> 6);
  return v;
}

export function norm(v: bigint): Int {
  return v <= BMAX && v >= -BMAX ? Number(v) : result(v, 0);
}

export function big(v: Int): bigint {
  return typeof v === 'bigint' ? v : BigInt(v);
}

export function add(a: Int, b: Int): Int {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a + b;
    if (r <= MAX && r >= -MAX) return r;
  }
  return result(big(a) + big(b), operandBits(a, b));
}

/** Bits of the operands together: only measured when one of them is a bigint. */
function operandBits(a: Int, b: Int): number {
  return (typeof a === 'bigint' ? bitLength(a) : 53) + (typeof b === 'bigint' ? bitLength(b) : 53);
}

export function sub(a: Int, b: Int): Int {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a - b;
    if (r <= MAX && r >= -MAX) return r;
  }
  return result(big(a) - big(b), operandBits(a, b));
}

export function mul(a: Int, b: Int): Int {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a * b;
    if (r <= MAX && r >= -MAX) return r === 0 ? 0 : r;
  }
  // The product's size is known before it is computed: refuse one past the bound first.
  const bits = operandBits(a, b);
  checkBits(bits - 1);
  return result(big(a) * big(b), bits);
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
  return result(q, 2 * operandBits(a, b));
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
  return result(r, 2 * operandBits(a, b));
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
  checkBits(bitLength(a) + b);
  return norm(big(a) << BigInt(b));
}

/**
 * Decimal (or `radix`) text of an int, its cost charged first: converting a bigint to decimal is
 * the dearest int operation (quadratic-ish in V8), done natively in one piece.
 */
export function intToString(v: Int, radix = 10): string {
  if (typeof v === 'number') return v.toString(radix);
  const bits = bitLength(v);
  charge(2 * Math.ceil(bits / 3) + 16);
  work(bits >> 4);
  return v.toString(radix);
}

/**
 * An int from digits already checked for `base` (2 to 36, no sign or prefix), in time linear in
 * their number for bases 2, 8, 10 and 16 (the engine's own parser) and in chunks otherwise; its
 * size is checked before any is parsed.
 */
export function parseDigits(digits: string, base: number, negative: boolean): Int {
  checkBits(Math.ceil(digits.length * Math.log2(base)));
  work(digits.length);
  let v: bigint;
  const prefix =
    base === 16 ? '0x' : base === 8 ? '0o' : base === 2 ? '0b' : base === 10 ? '' : null;
  if (prefix !== null) {
    v = BigInt(prefix + digits);
  } else {
    // Chunks whose value stays a safe integer: base^chunk < 2^53.
    const chunk = Math.floor(53 / Math.log2(base));
    const scale = BigInt(base) ** BigInt(chunk);
    v = 0n;
    let i = digits.length % chunk || chunk;
    v = BigInt(Number.parseInt(digits.slice(0, i), base));
    for (; i < digits.length; i += chunk) {
      v = v * scale + BigInt(Number.parseInt(digits.slice(i, i + chunk), base));
    }
  }
  return norm(negative ? -v : v);
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
