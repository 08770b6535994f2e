import { runtimeError } from '../errors.ts';
import { poll, thread, work } from '../limits/thread.ts';

/**
 * Value representation, chosen for speed on the common path:
 * - None → `null`, bool → JS boolean, string → JS string (UTF-16 code units, like starlark-java),
 * - int → a JS number when |n| ≤ 2^53 − 1, else a BigInt (always normalised back to a number
 *   when it fits, so `typeof v === 'number'` is the int fast path),
 * - float → `SFloat` (a box, so 1 and 1.0 stay distinguishable),
 * - everything else → the classes below.
 */
export type Value =
  | null
  | boolean
  | number
  | bigint
  | string
  | SFloat
  | SBytes
  | SList
  | STuple
  | SDict
  | SSet
  | SRange
  | Callable
  | SStruct
  | SModule;

export class SFloat {
  constructor(readonly v: number) {}
}

export class SBytes {
  constructor(readonly b: Uint8Array) {}
}

/** Shared by list, dict and set: frozen flag and active-iterator count. */
export abstract class Mutable {
  frozen = false;
  iterating = 0;
  checkMutable(what: string): void {
    if (this.frozen) throw runtimeError(`cannot ${what}: value is frozen`);
    if (this.iterating > 0) throw runtimeError(`cannot ${what} during iteration`);
  }
}

export class SList extends Mutable {
  constructor(public items: Value[]) {
    super();
  }
}

export class STuple {
  /** Its key as a dict key or set element, once built (see `keyOf`). */
  key: string | undefined = undefined;
  constructor(readonly items: readonly Value[]) {}
}

export class SRange {
  constructor(
    readonly start: number,
    readonly stop: number,
    readonly step: number,
  ) {}
  get length(): number {
    const { start, stop, step } = this;
    if (step > 0) return stop > start ? Math.floor((stop - start - 1) / step) + 1 : 0;
    return start > stop ? Math.floor((start - stop - 1) / -step) + 1 : 0;
  }
  at(i: number): number {
    return this.start + i * this.step;
  }
}

/** Canonical Map key of a hashable value: equal values (1 == 1.0) share a key. */
export type Key = unknown;

const TUPLE_TAG = '\u0000\u0001tuple\u0001';
const SEP = '\u0001';
/** Parts at least this long are linked into a tuple's key, not copied (see `tupleKey`). */
const LINK = 1024;

/**
 * The canonical key of a value. A tuple's key is a string that spells out its elements (nested
 * tuples' keys included), charged to the allocation budget (twice its length, as every string)
 * and as steps (see `work`) each time it is asked for: the map that uses it hashes and copies it.
 * What it costs depends only on the tuple, not on whether its key was built before.
 */
export function keyOf(v: Value): Key {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
      return v;
    default:
  }
  if (v instanceof STuple) {
    const k = tupleKey(v);
    const t = thread();
    if (t.alloc + 2 * k.length > t.allocMax) t.memFail();
    t.alloc += 2 * k.length;
    work(k.length);
    return k;
  }
  return canonical(v);
}

/** keyOf without charges: for the elements of a tuple being keyed and the fields of a struct. */
function canonical(v: Value): Key {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
      return v;
    default:
  }
  if (v === null) return null;
  if (v instanceof SFloat) {
    const x = v.v;
    if (Number.isInteger(x)) return Number.isSafeInteger(x) ? x : BigInt(x);
    return x;
  }
  if (v instanceof STuple) return tupleKey(v);
  if (v instanceof SList || v instanceof SDict || v instanceof SSet)
    throw runtimeError(`unhashable type: ${typeName(v)}`);
  if (v instanceof SStruct) {
    for (const f of v.fields.values()) canonical(f);
    return v;
  }
  return v;
}

/**
 * A tuple's key, built once per tuple object (a tuple is immutable, so its key never changes) and
 * refused with memory_limit, before it is built, when it is longer than the allocation budget
 * could pay for. Each part is length-prefixed, so nothing is escaped and the key of a tuple
 * nested d deep grows with d, not 2^d; long parts (nested tuples' keys, long strings) are linked
 * (a host string concatenation, which shares them) rather than copied, so a tuple that contains
 * another many times over, `t = (t, t)` thirty times, costs thirty small keys to build, and the
 * only copy is the one a map makes of a key it hashes, which is charged.
 */
function tupleKey(tuple: STuple): string {
  const cached = tuple.key;
  if (cached !== undefined) return cached;
  poll();
  const t = thread();
  const items = tuple.items;
  let key = TUPLE_TAG;
  let run: string[] = [];
  let length = TUPLE_TAG.length;
  for (let i = 0; i < items.length; i++) {
    const part = keyPart(items[i]!);
    length += part.length + (i > 0 ? 1 : 0);
    if (t.alloc + 2 * length > t.allocMax) t.memFail();
    if (i > 0) run.push(SEP);
    if (part.length < LINK) run.push(part);
    else {
      key = key + run.join('') + part;
      run = [];
    }
  }
  if (run.length > 0) key += run.join('');
  tuple.key = key;
  return key;
}

function keyPart(v: Value): string {
  if (v instanceof STuple) {
    const k = tupleKey(v);
    return `t${k.length}:${k}`;
  }
  const k = canonical(v);
  switch (typeof k) {
    case 'string':
      return `s${k.length}:${k}`;
    case 'number':
      return `n${k}`;
    case 'bigint':
      return `n${k}`;
    case 'boolean':
      return `b${k}`;
    default:
      if (k === null) return 'N';
      // Identity-hashed values (functions): a per-object id keeps tuple keys exact.
      return `o${objectId(k as object)}`;
  }
}

const ids = new WeakMap<object, number>();
let nextId = 1;
function objectId(o: object): number {
  let id = ids.get(o);
  if (id === undefined) {
    id = nextId++;
    ids.set(o, id);
  }
  return id;
}

export class SDict extends Mutable {
  readonly m = new Map<Key, Value>();
  /** Original keys where the canonical key differs (floats, tuples). */
  ks: Map<Key, Value> | null = null;

  get(k: Value): Value | undefined {
    return this.m.get(keyOf(k));
  }
  set(k: Value, v: Value): void {
    const c = keyOf(k);
    if (c !== k && !this.m.has(c)) {
      if (this.ks === null) this.ks = new Map();
      this.ks.set(c, k);
    }
    this.m.set(c, v);
  }
  /** The original key for a canonical key. */
  key(c: Key): Value {
    if (this.ks !== null) {
      const k = this.ks.get(c);
      if (k !== undefined) return k;
    }
    return c as Value;
  }
  delete(c: Key): void {
    this.m.delete(c);
    this.ks?.delete(c);
  }
  keys(): Value[] {
    const out: Value[] = [];
    for (const c of this.m.keys()) out.push(this.key(c));
    return out;
  }
}

export class SSet extends Mutable {
  readonly m = new Map<Key, Value>();
  add(v: Value): void {
    const c = keyOf(v);
    if (!this.m.has(c)) this.m.set(c, v);
  }
  has(v: Value): boolean {
    return this.m.has(keyOf(v));
  }
}

export class SStruct {
  constructor(readonly fields: Map<string, Value>) {}
}

export class SModule {
  constructor(
    readonly name: string,
    readonly members: Map<string, Value>,
  ) {}
}

/** Anything callable: Starlark functions and builtins share this base for `type()` and calls. */
export abstract class Callable {
  abstract readonly name: string;
}

export function typeName(v: Value): string {
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'number':
    case 'bigint':
      return 'int';
    case 'boolean':
      return 'bool';
    default:
  }
  if (v === null) return 'NoneType';
  if (v instanceof SFloat) return 'float';
  if (v instanceof SList) return 'list';
  if (v instanceof STuple) return 'tuple';
  if (v instanceof SDict) return 'dict';
  if (v instanceof SSet) return 'set';
  if (v instanceof SRange) return 'range';
  if (v instanceof SBytes) return 'bytes';
  if (v instanceof SStruct) return 'struct';
  if (v instanceof SModule) return 'module';
  if (v instanceof Callable) return (v as { typeLabel?: string }).typeLabel ?? 'function';
  return 'unknown';
}

export function truth(v: Value): boolean {
  switch (typeof v) {
    case 'boolean':
      return v;
    case 'number':
      return v !== 0;
    case 'string':
      return v.length > 0;
    case 'bigint':
      return v !== 0n;
    default:
  }
  if (v === null) return false;
  if (v instanceof SFloat) return v.v !== 0;
  if (v instanceof SList) return v.items.length > 0;
  if (v instanceof STuple) return v.items.length > 0;
  if (v instanceof SDict || v instanceof SSet) return v.m.size > 0;
  if (v instanceof SRange) return v.length > 0;
  if (v instanceof SBytes) return v.b.length > 0;
  return true;
}

/**
 * Freeze a value graph (after module initialisation): lists, dicts and sets become immutable.
 * Iterative, so a deeply nested value cannot overflow the host stack.
 */
export function freeze(root: Value): void {
  const todo: Value[] = [root];
  while (todo.length > 0) {
    const v = todo.pop()!;
    if (v instanceof Mutable) {
      if (v.frozen) continue;
      v.frozen = true;
      if (v instanceof SList) for (const x of v.items) todo.push(x);
      else if (v instanceof SDict) {
        for (const x of v.m.values()) todo.push(x);
        if (v.ks) for (const x of v.ks.values()) todo.push(x);
      }
    } else if (v instanceof STuple) for (const x of v.items) todo.push(x);
    else if (v instanceof SStruct) for (const x of v.fields.values()) todo.push(x);
    else if (v instanceof Callable) {
      const parts = (v as { frozenParts?: () => Value[] }).frozenParts?.();
      if (parts) for (const x of parts) todo.push(x);
    }
  }
}
