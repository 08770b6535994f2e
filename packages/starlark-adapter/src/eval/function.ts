import { runtimeError, StarlarkError } from '../errors.ts';
import { thread } from '../limits/thread.ts';
import { Callable, SDict, STuple, typeName, type Value } from '../values/values.ts';

/** A captured variable: a nested function and its parent share the box. */
export class Cell {
  constructor(public v: Value | undefined) {}
}

/** A function activation: locals by resolver slot, captured cells, and the return value. */
export class Frame {
  ret: Value = null;
  constructor(
    readonly L: (Value | Cell | undefined)[],
    readonly F: Cell[],
  ) {}
}

/** Control signal of a statement: continue normally, break, continue, or return. */
export const NORMAL = 0;
export const BREAK = 1;
export const CONTINUE = 2;
export const RETURN = 3;
export type Exec = (fr: Frame) => number;
export type Eval = (fr: Frame) => Value;

/** The compiled, shareable part of a function; closures over it are `SFunction`s. */
export interface Code {
  readonly name: string;
  readonly filename: string;
  readonly line: number;
  readonly col: number;
  readonly nlocals: number;
  /** Positional parameters (may also be passed by name). */
  readonly posSlots: number[];
  readonly posNames: string[];
  readonly kwonlySlots: number[];
  readonly kwonlyNames: string[];
  readonly starSlot: number;
  readonly kwargsSlot: number;
  readonly cellSlots: number[];
  readonly simple: boolean;
  body: Exec;
  /** Activations on the stack; recursion is refused when the dialect forbids it. */
  active: number;
  readonly allowRecursion: boolean;
}

export class SFunction extends Callable {
  readonly typeLabel = 'function';
  constructor(
    readonly code: Code,
    /** Defaults for posNames then kwonlyNames; undefined where required. */
    readonly defaults: (Value | undefined)[],
    readonly free: Cell[],
  ) {
    super();
  }
  get name(): string {
    return this.code.name;
  }
  /** Values reachable from the function, frozen with it. */
  frozenParts(): Value[] {
    const out: Value[] = [];
    for (const d of this.defaults) if (d !== undefined) out.push(d);
    for (const c of this.free) if (c.v !== undefined) out.push(c.v);
    return out;
  }
}

export type Kwargs = [string, Value][] | null;
export type BuiltinImpl = (args: Value[], kw: Kwargs, self: Value) => Value;

export class Builtin extends Callable {
  readonly typeLabel = 'builtin_function_or_method';
  constructor(
    readonly name: string,
    readonly impl: BuiltinImpl,
    readonly self: Value = null,
  ) {
    super();
  }
}

export function callValue(fn: Value, args: Value[], kw: Kwargs): Value {
  const t = thread();
  if (--t.steps < t.chk) t.tick();
  if (fn instanceof SFunction) return callFunction(fn, args, kw);
  if (fn instanceof Builtin) return fn.impl(args, kw, fn.self);
  throw runtimeError(`invalid call of non-function (${typeName(fn)})`);
}

export function callFunction(fn: SFunction, args: Value[], kw: Kwargs): Value {
  const code = fn.code;
  const t = thread();
  if (code.active > 0 && !code.allowRecursion)
    throw runtimeError(
      `function ${code.name} called recursively (enable the recursion dialect option)`,
    );
  if (t.depth >= t.maxDepth)
    throw new StarlarkError('stack_overflow', `call depth exceeds the limit of ${t.maxDepth}`);
  // Pushing keeps the array's elements packed, which V8 indexes faster than a holey array.
  const L: (Value | Cell | undefined)[] = [];
  for (let i = code.nlocals; i > 0; i--) L.push(undefined);
  if (code.simple && kw === null && args.length === code.posSlots.length) {
    const slots = code.posSlots;
    for (let i = 0; i < args.length; i++) L[slots[i]!] = args[i];
  } else bindArgs(fn, L, args, kw);
  const cells = code.cellSlots;
  for (let i = 0; i < cells.length; i++) {
    const s = cells[i]!;
    L[s] = new Cell(L[s] as Value | undefined);
  }
  const fr = new Frame(L, fn.free);
  t.depth++;
  code.active++;
  try {
    code.body(fr);
  } catch (e) {
    throw unwind(e, code.name);
  } finally {
    t.depth--;
    code.active--;
  }
  return fr.ret;
}

/** Record a Starlark frame on an error passing out of a function. */
export function unwind(e: unknown, name: string): StarlarkError {
  const err = toStarlarkError(e);
  err.frames.push({ name, position: err.pending });
  err.pending = null;
  return err;
}

/**
 * Host exceptions become typed errors, never leak as they are: the JS stack overflowing is a
 * stack overflow, a host allocation the engine refuses (a string, array or BigInt too large) is
 * the memory limit, anything else a runtime error that says it came from the host. The position
 * is added as the error passes through the statement that raised it.
 */
export function toStarlarkError(e: unknown): StarlarkError {
  if (StarlarkError.isInstance(e)) return e;
  if (e instanceof RangeError) {
    if (/call stack/i.test(e.message)) {
      return new StarlarkError('stack_overflow', 'maximum call stack size exceeded');
    }
    if (/Invalid (string|array|typed array) length|allocation|BigInt/i.test(e.message)) {
      return new StarlarkError('memory_limit', `host allocation failed: ${e.message}`);
    }
    if (/code point/i.test(e.message)) {
      return new StarlarkError('runtime', `invalid code point: ${e.message}`);
    }
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new StarlarkError('runtime', `internal error: ${msg}`);
}

function bindArgs(fn: SFunction, L: (Value | Cell | undefined)[], args: Value[], kw: Kwargs): void {
  const code = fn.code;
  const npos = code.posSlots.length;
  if (args.length > npos && code.starSlot < 0) {
    throw runtimeError(
      `function ${code.name} accepts ${npos === 0 ? 'no' : `at most ${npos}`} positional argument${npos === 1 ? '' : 's'} (${args.length} given)`,
    );
  }
  const n = Math.min(args.length, npos);
  for (let i = 0; i < n; i++) L[code.posSlots[i]!] = args[i];
  if (code.starSlot >= 0) L[code.starSlot] = new STuple(args.length > npos ? args.slice(npos) : []);
  let kwargs: SDict | null = null;
  if (code.kwargsSlot >= 0) {
    kwargs = new SDict();
    L[code.kwargsSlot] = kwargs;
  }
  if (kw !== null) {
    for (const [name, v] of kw) {
      let slot = -1;
      let k = code.posNames.indexOf(name);
      if (k >= 0) slot = code.posSlots[k]!;
      else {
        k = code.kwonlyNames.indexOf(name);
        if (k >= 0) slot = code.kwonlySlots[k]!;
      }
      if (slot >= 0) {
        if (L[slot] !== undefined)
          throw runtimeError(`function ${code.name} got multiple values for parameter '${name}'`);
        L[slot] = v;
      } else if (kwargs !== null) {
        if (kwargs.m.has(name))
          throw runtimeError(`function ${code.name} got multiple values for parameter '${name}'`);
        kwargs.set(name, v);
      } else
        throw runtimeError(`function ${code.name} got an unexpected keyword argument '${name}'`);
    }
  }
  const d = fn.defaults;
  for (let i = 0; i < npos; i++) {
    const s = code.posSlots[i]!;
    if (L[s] === undefined) {
      const dv = d[i];
      if (dv === undefined)
        throw runtimeError(`function ${code.name} missing 1 argument (${code.posNames[i]})`);
      L[s] = dv;
    }
  }
  for (let i = 0; i < code.kwonlySlots.length; i++) {
    const s = code.kwonlySlots[i]!;
    if (L[s] === undefined) {
      const dv = d[npos + i];
      if (dv === undefined)
        throw runtimeError(`function ${code.name} missing 1 argument (${code.kwonlyNames[i]})`);
      L[s] = dv;
    }
  }
}
