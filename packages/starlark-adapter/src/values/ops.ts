import { formatPercent } from '../builtins/format.ts';
import { runtimeError } from '../errors.ts';
import { charge, poll, work } from '../limits/thread.ts';
import type { BinaryOp } from '../syntax/ast.ts';
import * as I from './ints.ts';
import { repr } from './repr.ts';
import {
  Callable,
  keyOf,
  SBytes,
  SDict,
  SFloat,
  SList,
  SRange,
  SSet,
  SStruct,
  STuple,
  truth as truthOf,
  typeName,
  type Value,
} from './values.ts';

export function isInt(v: Value): v is number | bigint {
  return typeof v === 'number' || typeof v === 'bigint';
}

export function equal(a: Value, b: Value): boolean {
  poll();
  if (a === b) return !(a instanceof SFloat && Number.isNaN(a.v));
  switch (typeof a) {
    case 'string':
    case 'boolean':
      return false;
    case 'number':
    case 'bigint':
      if (b instanceof SFloat) return I.cmpIntFloat(a, b.v) === 0;
      return false;
    default:
  }
  if (a === null || b === null) return false;
  if (a instanceof SFloat) {
    if (b instanceof SFloat) return a.v === b.v;
    if (isInt(b)) return I.cmpIntFloat(b, a.v) === 0;
    return false;
  }
  if (a instanceof SList) return b instanceof SList && seqEqual(a.items, b.items);
  if (a instanceof STuple) return b instanceof STuple && seqEqual(a.items, b.items);
  if (a instanceof SDict) {
    if (!(b instanceof SDict) || a.m.size !== b.m.size) return false;
    for (const [k, v] of a.m) {
      if (!b.m.has(k)) return false;
      if (!equal(v, b.m.get(k)!)) return false;
    }
    return true;
  }
  if (a instanceof SSet) {
    if (!(b instanceof SSet) || a.m.size !== b.m.size) return false;
    for (const k of a.m.keys()) if (!b.m.has(k)) return false;
    return true;
  }
  if (a instanceof SBytes) {
    if (!(b instanceof SBytes) || a.b.length !== b.b.length) return false;
    work(a.b.length);
    for (let i = 0; i < a.b.length; i++) if (a.b[i] !== b.b[i]) return false;
    return true;
  }
  if (a instanceof SRange) {
    if (!(b instanceof SRange)) return false;
    const n = a.length;
    if (n !== b.length) return false;
    if (n === 0) return true;
    return a.start === b.start && (n === 1 || a.step === b.step);
  }
  if (a instanceof SStruct) {
    if (!(b instanceof SStruct) || a.fields.size !== b.fields.size) return false;
    for (const [k, v] of a.fields) {
      const w = b.fields.get(k);
      if (w === undefined || !equal(v, w)) return false;
    }
    return true;
  }
  return false;
}

function seqEqual(a: readonly Value[], b: readonly Value[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!equal(a[i]!, b[i]!)) return false;
  return true;
}

/** Three-way comparison for ordered types; throws for unordered pairs. */
export function compare(a: Value, b: Value, op = '<'): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (a instanceof STuple && b instanceof STuple) return seqCompare(a.items, b.items, op);
  if (isInt(a)) {
    if (isInt(b)) return I.cmpInt(a, b);
    if (b instanceof SFloat) return I.cmpIntFloat(a, b.v);
  } else if (a instanceof SFloat) {
    if (b instanceof SFloat) return cmpFloat(a.v, b.v);
    if (isInt(b)) return -I.cmpIntFloat(b, a.v);
  } else if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  else if (a instanceof SList && b instanceof SList) return seqCompare(a.items, b.items, op);
  else if (a instanceof STuple && b instanceof STuple) return seqCompare(a.items, b.items, op);
  else if (a instanceof SBytes && b instanceof SBytes) {
    const n = Math.min(a.b.length, b.b.length);
    work(n);
    for (let i = 0; i < n; i++) if (a.b[i] !== b.b[i]) return a.b[i]! - b.b[i]!;
    return a.b.length - b.b.length;
  }
  throw runtimeError(`${typeName(a)} ${op} ${typeName(b)} not implemented (cannot compare)`);
}

/** NaN sorts above everything, as in starlark-go, so sorting is total. */
function cmpFloat(a: number, b: number): number {
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
  if (Number.isNaN(b)) return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function seqCompare(a: readonly Value[], b: readonly Value[], op: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (typeof x === 'number' && typeof y === 'number') {
      if (x !== y) return x < y ? -1 : 1;
      continue;
    }
    if (!equal(x, y)) return compare(x, y, op);
  }
  return a.length - b.length;
}

function floatOf(v: Value): number | undefined {
  if (v instanceof SFloat) return v.v;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return I.toFloat(v);
  return undefined;
}

export function mkFloat(x: number): SFloat {
  return new SFloat(x);
}

function unsupported(op: string, a: Value, b: Value): never {
  throw runtimeError(
    `unknown binary op: ${typeName(a)} ${op} ${typeName(b)} (operation not supported)`,
  );
}

export function binary(op: BinaryOp, a: Value, b: Value): Value {
  switch (op) {
    case '+':
      return plus(a, b);
    case '-':
      if (isInt(a) && isInt(b)) return I.sub(a, b);
      return floatArith(op, a, b);
    case '*':
      return times(a, b);
    case '/': {
      const x = floatOf(a);
      const y = floatOf(b);
      if (x === undefined || y === undefined || typeof a === 'boolean' || typeof b === 'boolean')
        return unsupported(op, a, b);
      if (y === 0) throw runtimeError('floating-point division by zero');
      if (isInt(a) && isInt(b) && (typeof a === 'bigint' || typeof b === 'bigint')) {
        return new SFloat(bigDiv(I.big(a), I.big(b)));
      }
      return new SFloat(x / y);
    }
    case '//':
      if (isInt(a) && isInt(b)) return I.floordiv(a, b);
      {
        const x = numOf(op, a, b, a);
        const y = numOf(op, a, b, b);
        if (y === 0) throw runtimeError('floating-point division by zero');
        return new SFloat(Math.floor(x / y));
      }
    case '%':
      if (isInt(a) && isInt(b)) return I.mod(a, b);
      if (typeof a === 'string') return formatPercent(a, b);
      {
        const x = numOf(op, a, b, a);
        const y = numOf(op, a, b, b);
        if (y === 0) throw runtimeError('floating-point modulo by zero');
        let r = x % y;
        if (r !== 0 && r < 0 !== y < 0) r += y;
        return new SFloat(r);
      }
    case '&':
      if (isInt(a) && isInt(b)) return I.bitand(a, b);
      if (a instanceof SSet && b instanceof SSet) return setOp('&', a, b);
      return unsupported(op, a, b);
    case '|':
      if (isInt(a) && isInt(b)) return I.bitor(a, b);
      if (a instanceof SDict && b instanceof SDict) {
        const d = new SDict();
        for (const [k, v] of a.m) d.set(a.key(k), v);
        for (const [k, v] of b.m) d.set(b.key(k), v);
        charge(32 * d.m.size);
        return d;
      }
      if (a instanceof SSet && b instanceof SSet) return setOp('|', a, b);
      return unsupported(op, a, b);
    case '^':
      if (isInt(a) && isInt(b)) return I.bitxor(a, b);
      if (a instanceof SSet && b instanceof SSet) return setOp('^', a, b);
      return unsupported(op, a, b);
    case '<<':
      if (isInt(a) && isInt(b)) {
        const r = I.shl(a, b);
        if (typeof r === 'bigint') charge(Math.ceil(r.toString(16).length / 2));
        return r;
      }
      return unsupported(op, a, b);
    case '>>':
      if (isInt(a) && isInt(b)) return I.shr(a, b);
      return unsupported(op, a, b);
    case '==':
      return equal(a, b);
    case '!=':
      return !equal(a, b);
    case '<':
      return compare(a, b, op) < 0;
    case '>':
      return compare(a, b, op) > 0;
    case '<=':
      return compare(a, b, op) <= 0;
    case '>=':
      return compare(a, b, op) >= 0;
    case 'in':
      return contains(b, a);
    case 'not in':
      return !contains(b, a);
  }
}

function numOf(op: string, a: Value, b: Value, v: Value): number {
  const x = typeof v === 'boolean' ? undefined : floatOf(v);
  if (x === undefined) return unsupported(op, a, b);
  return x;
}

function bigDiv(a: bigint, b: bigint): number {
  const r = Number(a) / Number(b);
  if (!Number.isFinite(r)) throw runtimeError('int too large to convert to float');
  return r;
}

function floatArith(op: '-' | '+' | '*', a: Value, b: Value): Value {
  const x = numOf(op, a, b, a);
  const y = numOf(op, a, b, b);
  return new SFloat(op === '-' ? x - y : op === '+' ? x + y : x * y);
}

export function plus(a: Value, b: Value): Value {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a + b;
    if (r <= Number.MAX_SAFE_INTEGER && r >= -Number.MAX_SAFE_INTEGER) return r;
  }
  if (typeof a === 'string' && typeof b === 'string') {
    charge(2 * (a.length + b.length) + 16);
    return a + b;
  }
  if (isInt(a) && isInt(b)) return I.add(a, b);
  if (a instanceof SList && b instanceof SList) {
    charge(8 * (a.items.length + b.items.length) + 32);
    work(a.items.length + b.items.length);
    return new SList(a.items.concat(b.items));
  }
  if (a instanceof STuple && b instanceof STuple) {
    charge(8 * (a.items.length + b.items.length) + 32);
    work(a.items.length + b.items.length);
    return new STuple(a.items.concat(b.items));
  }
  if (a instanceof SBytes && b instanceof SBytes) {
    charge(a.b.length + b.b.length + 16);
    work(a.b.length + b.b.length);
    const r = new Uint8Array(a.b.length + b.b.length);
    r.set(a.b);
    r.set(b.b, a.b.length);
    return new SBytes(r);
  }
  if (typeof a === 'boolean' || typeof b === 'boolean') return unsupported('+', a, b);
  if ((a instanceof SFloat || isInt(a)) && (b instanceof SFloat || isInt(b)))
    return floatArith('+', a, b);
  return unsupported('+', a, b);
}

/**
 * How many times to repeat a sequence of `len` elements of `itemSize` bytes each: the result
 * charged before it is built, and the work of building it charged as steps.
 */
function repeatCount(n: number | bigint, len: number, itemSize: number): number {
  if (n <= 0 || len === 0) return 0;
  if (typeof n === 'bigint' || n * len * itemSize > 2 ** 40) {
    charge(Number.MAX_SAFE_INTEGER);
    return 0;
  }
  charge(n * len * itemSize + 16);
  work(n * len);
  return n;
}

export function times(a: Value, b: Value): Value {
  if (isInt(a) && isInt(b)) return I.mul(a, b);
  if (isInt(b) && !isInt(a)) return repeat(a, b, () => unsupported('*', a, b));
  if (isInt(a) && !isInt(b)) return repeat(b, a, () => unsupported('*', a, b));
  if (typeof a === 'boolean' || typeof b === 'boolean') return unsupported('*', a, b);
  return floatArith('*', a, b);
}

function repeat(seq: Value, n: number | bigint, fail: () => never): Value {
  // An empty sequence repeated any number of times is empty (and costs nothing to build).
  if (typeof seq === 'string') return seq.repeat(repeatCount(n, seq.length, 2));
  if (seq instanceof SList)
    return new SList(repeatArr(seq.items, repeatCount(n, seq.items.length, 8)));
  if (seq instanceof STuple)
    return new STuple(repeatArr(seq.items, repeatCount(n, seq.items.length, 8)));
  if (seq instanceof SBytes) {
    const k = repeatCount(n, seq.b.length, 1);
    const r = new Uint8Array(k * seq.b.length);
    for (let i = 0; i < k; i++) r.set(seq.b, i * seq.b.length);
    return new SBytes(r);
  }
  if (seq instanceof SFloat) return new SFloat(seq.v * I.toFloat(n));
  return fail();
}

function repeatArr(items: readonly Value[], n: number): Value[] {
  if (n === 0) return [];
  if (items.length === 1) return new Array<Value>(n).fill(items[0]!);
  const out: Value[] = [];
  for (let i = 0; i < n; i++) for (const x of items) out.push(x);
  return out;
}

function setOp(op: '&' | '|' | '^', a: SSet, b: SSet): SSet {
  const r = new SSet();
  if (op === '|') {
    for (const v of a.m.values()) r.add(v);
    for (const v of b.m.values()) r.add(v);
  } else if (op === '&') {
    for (const [k, v] of a.m) if (b.m.has(k)) r.add(v);
  } else {
    for (const [k, v] of a.m) if (!b.m.has(k)) r.add(v);
    for (const [k, v] of b.m) if (!a.m.has(k)) r.add(v);
  }
  charge(32 * r.m.size);
  return r;
}

export function contains(container: Value, x: Value): boolean {
  if (typeof container === 'string') {
    if (typeof x !== 'string')
      throw runtimeError(`'in <string>' requires string as left operand, not ${typeName(x)}`);
    work(container.length);
    return container.includes(x);
  }
  if (container instanceof SList || container instanceof STuple) {
    work(container.items.length);
    for (const y of container.items) if (equal(x, y)) return true;
    return false;
  }
  if (container instanceof SDict) return container.m.has(keyOf(x));
  if (container instanceof SSet) return container.m.has(keyOf(x));
  if (container instanceof SRange) {
    if (!isInt(x)) return false;
    const n = Number(x);
    const { start, step } = container;
    const len = container.length;
    if (len === 0) return false;
    const i = (n - start) / step;
    return Number.isInteger(i) && i >= 0 && i < len;
  }
  if (container instanceof SBytes) {
    work(container.b.length);
    if (isInt(x)) {
      const n = Number(x);
      if (n < 0 || n > 255) throw runtimeError(`int in bytes: ${n} out of range`);
      return container.b.includes(n);
    }
    if (x instanceof SBytes) return bytesIndexOf(container.b, x.b, 0) >= 0;
    throw runtimeError(`'in bytes' requires bytes or int as left operand, not ${typeName(x)}`);
  }
  throw runtimeError(`unknown binary op: ${typeName(x)} in ${typeName(container)}`);
}

/**
 * The first index of `n` in `h` at or after `from`, or -1. A short needle is compared in place; a
 * long one through the engine's string search (one character per byte), which is linear where
 * comparing in place would take |h| × |n|.
 */
export function bytesIndexOf(h: Uint8Array, n: Uint8Array, from: number): number {
  if (n.length > 16) {
    const latin = new TextDecoder('windows-1252');
    return latin.decode(h).indexOf(latin.decode(n), from);
  }
  outer: for (let i = from; i + n.length <= h.length; i++) {
    for (let j = 0; j < n.length; j++) if (h[i + j] !== n[j]) continue outer;
    return i;
  }
  return -1;
}

export function unary(op: '-' | '+' | '~' | 'not', v: Value): Value {
  switch (op) {
    case 'not':
      return !truthOf(v);
    case '-':
      if (isInt(v)) return I.neg(v);
      if (v instanceof SFloat) return new SFloat(-v.v);
      break;
    case '+':
      if (isInt(v) || v instanceof SFloat) return v;
      break;
    case '~':
      if (isInt(v)) return I.bitnot(v);
      break;
  }
  throw runtimeError(`unknown unary op: ${op}${typeName(v)}`);
}

export function len(v: Value): number {
  if (typeof v === 'string') return v.length;
  if (v instanceof SList || v instanceof STuple) return v.items.length;
  if (v instanceof SDict || v instanceof SSet) return v.m.size;
  if (v instanceof SRange) return v.length;
  if (v instanceof SBytes) return v.b.length;
  return -1;
}

export function toIndex(v: Value, what: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return v > 0n ? Number.MAX_SAFE_INTEGER : -Number.MAX_SAFE_INTEGER;
  if (what.startsWith('invalid')) throw runtimeError(`${what}: got ${typeName(v)}, want int`);
  throw runtimeError(`${what} must be integers, not ${typeName(v)} (got ${typeName(v)}, want int)`);
}

export function index(obj: Value, idx: Value): Value {
  if (obj instanceof SList || obj instanceof STuple) {
    const n = obj.items.length;
    let i = toIndex(idx, `${typeName(obj)} indices`);
    const orig = i;
    if (i < 0) i += n;
    if (i < 0 || i >= n)
      throw runtimeError(`index ${orig} out of range: ${typeName(obj)} has ${n} elements`);
    return obj.items[i]!;
  }
  if (obj instanceof SDict) {
    const v = obj.get(idx);
    if (v === undefined) throw runtimeError(`key ${repr(idx)} not in dict`);
    return v;
  }
  if (typeof obj === 'string') {
    const n = obj.length;
    let i = toIndex(idx, 'string indices');
    const orig = i;
    if (i < 0) i += n;
    if (i < 0 || i >= n) throw runtimeError(`index ${orig} out of range: string has ${n} elements`);
    return obj[i]!;
  }
  if (obj instanceof SRange) {
    const n = obj.length;
    let i = toIndex(idx, 'range indices');
    const orig = i;
    if (i < 0) i += n;
    if (i < 0 || i >= n) throw runtimeError(`index ${orig} out of range: range has ${n} elements`);
    return obj.at(i);
  }
  if (obj instanceof SBytes) {
    const n = obj.b.length;
    let i = toIndex(idx, 'bytes indices');
    const orig = i;
    if (i < 0) i += n;
    if (i < 0 || i >= n) throw runtimeError(`index ${orig} out of range: bytes has ${n} elements`);
    return obj.b[i]!;
  }
  throw runtimeError(`unhandled index operation ${typeName(obj)}[${typeName(idx)}]`);
}

export function setIndex(obj: Value, idx: Value, v: Value): void {
  if (obj instanceof SList) {
    obj.checkMutable('assign to element of list');
    const n = obj.items.length;
    let i = toIndex(idx, 'list indices');
    const orig = i;
    if (i < 0) i += n;
    if (i < 0 || i >= n) throw runtimeError(`index ${orig} out of range: list has ${n} elements`);
    obj.items[i] = v;
    return;
  }
  if (obj instanceof SDict) {
    obj.checkMutable('insert into dict');
    const before = obj.m.size;
    obj.set(idx, v);
    if (obj.m.size !== before) charge(32);
    return;
  }
  throw runtimeError(`${typeName(obj)} value does not support item assignment`);
}

/** Resolve slice bounds like Python: returns the list of indices' start, stop, step. */
export function sliceIndices(
  n: number,
  start: Value,
  stop: Value,
  step: Value,
): [number, number, number] {
  let st = 1;
  if (step !== null) {
    st = toIndex(step, 'slice step');
    if (st === 0) throw runtimeError('slice step cannot be zero');
  }
  const clamp = (v: Value, what: string, dflt: number): number => {
    if (v === null) return dflt;
    let i = toIndex(v, what);
    if (i < 0) i += n;
    if (st > 0) return i < 0 ? 0 : Math.min(i, n);
    return i < -1 ? -1 : Math.min(i, n - 1);
  };
  const a = clamp(start, 'invalid start index', st > 0 ? 0 : n - 1);
  const b = clamp(stop, 'invalid end index', st > 0 ? n : -1);
  return [a, b, st];
}

/** How many indices a resolved slice [a:b:st] selects. */
function sliceLength(a: number, b: number, st: number): number {
  if (st > 0) return a < b ? Math.floor((b - a - 1) / st) + 1 : 0;
  return a > b ? Math.floor((a - b - 1) / -st) + 1 : 0;
}

export function slice(obj: Value, start: Value, stop: Value, step: Value): Value {
  if (typeof obj === 'string') {
    const [a, b, st] = sliceIndices(obj.length, start, stop, step);
    if (st === 1) return a < b ? obj.slice(a, b) : '';
    const n = sliceLength(a, b, st);
    charge(2 * n + 16);
    work(n);
    const parts: string[] = [];
    let piece = '';
    for (let k = 0, i = a; k < n; k++, i += st) {
      piece += obj[i];
      if (piece.length >= 1024) {
        parts.push(piece);
        piece = '';
      }
    }
    parts.push(piece);
    return parts.join('');
  }
  if (obj instanceof SList || obj instanceof STuple) {
    const [a, b, st] = sliceIndices(obj.items.length, start, stop, step);
    const n = sliceLength(a, b, st);
    charge(8 * n + 32);
    work(n);
    let out: Value[];
    if (st === 1) out = a < b ? obj.items.slice(a, b) : [];
    else {
      out = new Array<Value>(n);
      for (let k = 0, i = a; k < n; k++, i += st) out[k] = obj.items[i]!;
    }
    return obj instanceof SList ? new SList(out) : new STuple(out);
  }
  if (obj instanceof SRange) {
    const [a, b, st] = sliceIndices(obj.length, start, stop, step);
    const s = obj.start + a * obj.step;
    const e = obj.start + b * obj.step;
    return new SRange(s, e, obj.step * st);
  }
  if (obj instanceof SBytes) {
    const [a, b, st] = sliceIndices(obj.b.length, start, stop, step);
    const n = sliceLength(a, b, st);
    charge(n + 16);
    work(n);
    const out = new Uint8Array(n);
    for (let k = 0, i = a; k < n; k++, i += st) out[k] = obj.b[i]!;
    return new SBytes(out);
  }
  throw runtimeError(`invalid slice operand ${typeName(obj)}`);
}

/**
 * Iterate a value. Lists, dicts and sets are marked as being iterated (so mutation fails)
 * for as long as the callback runs.
 */
export function iterate(v: Value, what = 'iterable'): readonly Value[] {
  if (v instanceof SList) return v.items;
  if (v instanceof STuple) return v.items;
  if (v instanceof SDict) return v.keys();
  if (v instanceof SSet) return [...v.m.values()];
  if (v instanceof SRange) {
    const n = v.length;
    charge(8 * n);
    work(n);
    const out = new Array<Value>(n);
    for (let i = 0; i < n; i++) out[i] = v.at(i);
    return out;
  }
  if (typeof v === 'string')
    throw runtimeError(`${typeName(v)} is not ${what}: use .elems() (got string, want ${what})`);
  throw runtimeError(`type '${typeName(v)}' is not ${what} (got ${typeName(v)}, want ${what})`);
}

export function isIterable(v: Value): boolean {
  return (
    v instanceof SList ||
    v instanceof STuple ||
    v instanceof SDict ||
    v instanceof SSet ||
    v instanceof SRange
  );
}

export function callableName(v: Value): string {
  return v instanceof Callable ? v.name : typeName(v);
}
