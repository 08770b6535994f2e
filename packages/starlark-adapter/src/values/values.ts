import { runtimeError } from '../errors.ts';

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

export function keyOf(v: Value): Key {
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
  if (v instanceof STuple) return TUPLE_TAG + v.items.map(tupleKeyPart).join('\u0001');
  if (v instanceof SList || v instanceof SDict || v instanceof SSet)
    throw runtimeError(`unhashable type: ${typeName(v)}`);
  if (v instanceof SStruct) {
    for (const f of v.fields.values()) keyOf(f);
    return v;
  }
  return v;
}

function tupleKeyPart(v: Value): string {
  const k = keyOf(v);
  switch (typeof k) {
    case 'string':
      return `s${JSON.stringify(k)}`;
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
