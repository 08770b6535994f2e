import { attr, method, methodsNamed } from '../builtins/methods.ts';
import type { Dialect } from '../dialect.ts';
import { type Position, runtimeError, type StarlarkError } from '../errors.ts';
import { charge, thread } from '../limits/thread.ts';
import type {
  Arg,
  Clause,
  Expr,
  FunctionDef,
  Module,
  Param,
  Pos,
  Ref,
  Stmt,
} from '../syntax/ast.ts';
import { binary, equal, index, iterate, plus, setIndex, slice, unary } from '../values/ops.ts';
import {
  SBytes,
  SDict,
  SFloat,
  SList,
  SRange,
  STuple,
  truth,
  typeName,
  type Value,
} from '../values/values.ts';
import {
  BREAK,
  Cell,
  CONTINUE,
  type Code,
  callFunction,
  callValue,
  type Eval,
  type Exec,
  Frame,
  type Kwargs,
  NORMAL,
  RETURN,
  SFunction,
  toStarlarkError,
} from './function.ts';

export interface CompileContext {
  readonly filename: string;
  readonly dialect: Dialect;
  /** Module globals by resolver slot. */
  readonly G: (Value | undefined)[];
  readonly globalNames: readonly string[];
  readonly lookupUniversal: (name: string) => Value;
}

type Assign = (fr: Frame, v: Value) => void;

/** Compile a resolved module to a closure that runs its top level in a fresh frame. */
export function compileModule(mod: Module, ctx: CompileContext): () => void {
  const scope = mod.scope!;
  const body = block(mod.body, ctx);
  return () => {
    const L: (Value | Cell | undefined)[] = [];
    for (let i = scope.nlocals; i > 0; i--) L.push(undefined);
    for (const s of scope.cells) L[s] = new Cell(undefined);
    const fr = new Frame(L, []);
    try {
      body(fr);
    } catch (e) {
      const err = toStarlarkError(e);
      err.frames.push({ name: '<toplevel>', position: err.pending });
      err.pending = null;
      throw err;
    }
  };
}

function posOf(ctx: CompileContext, p: Pos): Position {
  return { filename: ctx.filename, line: p.line, col: p.col };
}

/** Give an error in flight the position of the statement or call it passed through. */
function annotate(e: unknown, pos: Position): StarlarkError {
  const err = toStarlarkError(e);
  // The innermost statement or call gives the frame its position; outer ones keep it.
  if (err.pending === null) err.pending = pos;
  if (err.position === null) err.position = pos;
  return err;
}

function block(stmts: Stmt[], ctx: CompileContext): Exec {
  const fns = stmts.map((s) => stmt(s, ctx));
  const poses = stmts.map((s) => posOf(ctx, s));
  const n = fns.length;
  if (n === 1) {
    const f = fns[0]!;
    const p = poses[0]!;
    return (fr) => {
      const t = thread();
      if (--t.steps < t.chk) t.tick();
      try {
        return f(fr);
      } catch (e) {
        throw annotate(e, p);
      }
    };
  }
  return (fr) => {
    const t = thread();
    let i = 0;
    try {
      for (; i < n; i++) {
        if (--t.steps < t.chk) t.tick();
        const r = fns[i]!(fr);
        if (r !== NORMAL) return r;
      }
    } catch (e) {
      throw annotate(e, poses[i]!);
    }
    return NORMAL;
  };
}

function stmt(s: Stmt, ctx: CompileContext): Exec {
  switch (s.kind) {
    case 'Expr': {
      const e = expr(s.expr, ctx);
      return (fr) => {
        e(fr);
        return NORMAL;
      };
    }
    case 'Assign': {
      const v = expr(s.value, ctx);
      const tg = s.target;
      if (tg.kind === 'Ident' && tg.ref!.where === 'local') {
        const slot = tg.ref!.slot;
        return (fr) => {
          fr.L[slot] = v(fr);
          return NORMAL;
        };
      }
      if (tg.kind === 'Index') {
        const obj = expr(tg.object, ctx);
        const idx = expr(tg.index, ctx);
        return (fr) => {
          const val = v(fr);
          const o = obj(fr);
          const i = idx(fr);
          if (
            o instanceof SList &&
            typeof i === 'number' &&
            i >= 0 &&
            i < o.items.length &&
            !o.frozen &&
            o.iterating === 0
          )
            o.items[i] = val;
          else if (o instanceof SDict && typeof i === 'string' && !o.frozen && o.iterating === 0) {
            // A string is its own canonical key.
            const before = o.m.size;
            o.m.set(i, val);
            if (o.m.size !== before) charge(32);
          } else setIndex(o, i, val);
          return NORMAL;
        };
      }
      const a = assign(tg, ctx);
      return (fr) => {
        a(fr, v(fr));
        return NORMAL;
      };
    }
    case 'AugAssign':
      return augAssign(s, ctx);
    case 'Def': {
      const mk = makeFunction(s.fn, ctx);
      const a = assignRef(s.ref!, s.fn.name, ctx);
      return (fr) => {
        a(fr, mk(fr));
        return NORMAL;
      };
    }
    case 'If': {
      const c = expr(s.cond, ctx);
      const th = block(s.body, ctx);
      const el = s.orElse.length > 0 ? block(s.orElse, ctx) : null;
      return (fr) => (truth(c(fr)) ? th(fr) : el !== null ? el(fr) : NORMAL);
    }
    case 'For':
      return forLoop(s, ctx);
    case 'While': {
      const c = expr(s.cond, ctx);
      const body = block(s.body, ctx);
      return (fr) => {
        const t = thread();
        while (truth(c(fr))) {
          if (--t.steps < t.chk) t.tick();
          const r = body(fr);
          if (r === BREAK) break;
          if (r === RETURN) return r;
        }
        return NORMAL;
      };
    }
    case 'Return': {
      if (s.value === null)
        return (fr) => {
          fr.ret = null;
          return RETURN;
        };
      const v = expr(s.value, ctx);
      return (fr) => {
        fr.ret = v(fr);
        return RETURN;
      };
    }
    case 'Break':
      return () => BREAK;
    case 'Continue':
      return () => CONTINUE;
    case 'Pass':
      return () => NORMAL;
    case 'Load':
      return () => {
        throw runtimeError(`cannot load ${JSON.stringify(s.module)}: load is not supported here`);
      };
  }
}

function forLoop(s: Extract<Stmt, { kind: 'For' }>, ctx: CompileContext): Exec {
  const it = expr(s.iter, ctx);
  const a = assign(s.target, ctx);
  const body = block(s.body, ctx);
  const tg = s.target;
  const local = tg.kind === 'Ident' && tg.ref!.where === 'local' ? tg.ref!.slot : -1;
  return (fr) => {
    const x = it(fr);
    const t = thread();
    if (local >= 0 && x instanceof SRange) {
      const n = x.length;
      const L = fr.L;
      for (let i = 0; i < n; i++) {
        if (--t.steps < t.chk) t.tick();
        L[local] = x.start + i * x.step;
        const r = body(fr);
        if (r === BREAK) break;
        if (r === RETURN) return r;
      }
      return NORMAL;
    }
    if (x instanceof SRange) {
      const n = x.length;
      for (let i = 0; i < n; i++) {
        if (--t.steps < t.chk) t.tick();
        a(fr, x.start + i * x.step);
        const r = body(fr);
        if (r === BREAK) break;
        if (r === RETURN) return r;
      }
      return NORMAL;
    }
    if (x instanceof SList || x instanceof SDict) {
      const items = x instanceof SList ? x.items : x.keys();
      x.iterating++;
      try {
        for (let i = 0; i < items.length; i++) {
          if (--t.steps < t.chk) t.tick();
          if (local >= 0) fr.L[local] = items[i]!;
          else a(fr, items[i]!);
          const r = body(fr);
          if (r === BREAK) break;
          if (r === RETURN) return r;
        }
      } finally {
        x.iterating--;
      }
      return NORMAL;
    }
    const items = iterate(x);
    for (let i = 0; i < items.length; i++) {
      if (--t.steps < t.chk) t.tick();
      a(fr, items[i]!);
      const r = body(fr);
      if (r === BREAK) break;
      if (r === RETURN) return r;
    }
    return NORMAL;
  };
}

function augAssign(s: Extract<Stmt, { kind: 'AugAssign' }>, ctx: CompileContext): Exec {
  const op = s.op;
  const rhs = expr(s.value, ctx);
  const apply = (x: Value, y: Value): Value => {
    if (op === '+' && x instanceof SList) {
      // `list += iterable` extends in place, as in Python.
      x.checkMutable('extend list');
      if (!(y instanceof SList || y instanceof STuple || y instanceof SDict || y instanceof SRange))
        throw runtimeError(`unknown binary op: list + ${typeName(y)}`);
      const more = iterate(y);
      charge(8 * more.length);
      for (const v of more) x.items.push(v);
      return x;
    }
    if (op === '|' && x instanceof SDict && y instanceof SDict) {
      x.checkMutable('update dict');
      for (const [k, v] of y.m) x.set(y.key(k), v);
      return x;
    }
    return op === '+' ? plus(x, y) : binary(op, x, y);
  };
  const t = s.target;
  if (t.kind === 'Ident') {
    const get = ident(t, ctx);
    const set = assignRef(t.ref!, t.name, ctx);
    if (op === '+')
      return (fr) => {
        const x = get(fr);
        const y = rhs(fr);
        if (typeof x === 'number' && typeof y === 'number') {
          const r = x + y;
          if (r <= Number.MAX_SAFE_INTEGER && r >= -Number.MAX_SAFE_INTEGER) {
            set(fr, r);
            return NORMAL;
          }
        }
        set(fr, apply(x, y));
        return NORMAL;
      };
    return (fr) => {
      set(fr, apply(get(fr), rhs(fr)));
      return NORMAL;
    };
  }
  if (t.kind === 'Index') {
    const obj = expr(t.object, ctx);
    const idx = expr(t.index, ctx);
    return (fr) => {
      const o = obj(fr);
      const i = idx(fr);
      setIndex(o, i, apply(index(o, i), rhs(fr)));
      return NORMAL;
    };
  }
  if (t.kind === 'Dot') {
    return () => {
      throw runtimeError(`cannot assign to field .${t.name}`);
    };
  }
  throw runtimeError('invalid augmented assignment target');
}

function assignRef(ref: Ref, name: string, ctx: CompileContext): Assign {
  switch (ref.where) {
    case 'local': {
      const slot = ref.slot;
      return (fr, v) => {
        fr.L[slot] = v;
      };
    }
    case 'cell': {
      const slot = ref.slot;
      return (fr, v) => {
        (fr.L[slot] as Cell).v = v;
      };
    }
    case 'free': {
      const i = ref.index;
      return (fr, v) => {
        fr.F[i]!.v = v;
      };
    }
    case 'global': {
      const slot = ref.slot;
      const G = ctx.G;
      return (_fr, v) => {
        G[slot] = v;
      };
    }
    case 'universal':
      return () => {
        throw runtimeError(`cannot reassign builtin ${name}`);
      };
  }
}

function assign(target: Expr, ctx: CompileContext): Assign {
  switch (target.kind) {
    case 'Ident': {
      // Refs can change from local to cell after compile-time resolution of a later def,
      // but resolution is complete before compilation, so the ref is final here.
      return assignRef(target.ref!, target.name, ctx);
    }
    case 'Tuple':
    case 'List': {
      const parts = target.items.map((x) => assign(x, ctx));
      const n = parts.length;
      return (fr, v) => {
        let items: readonly Value[];
        if (v instanceof STuple || v instanceof SList) items = v.items;
        else {
          if (typeof v === 'string' || v === null || typeof v !== 'object' || v instanceof SFloat)
            throw runtimeError(
              `got ${typeName(v)} in sequence assignment (want ${n}-element sequence)`,
            );
          items = iterate(v);
        }
        if (items.length !== n)
          throw runtimeError(
            items.length > n
              ? `too many values to unpack (got ${items.length}, want ${n})`
              : `too few values to unpack (got ${items.length}, want ${n})`,
          );
        for (let i = 0; i < n; i++) parts[i]!(fr, items[i]!);
      };
    }
    case 'Index': {
      const obj = expr(target.object, ctx);
      const idx = expr(target.index, ctx);
      return (fr, v) => setIndex(obj(fr), idx(fr), v);
    }
    case 'Dot':
      return () => {
        throw runtimeError(`cannot assign to field .${target.name}`);
      };
    default:
      throw runtimeError('invalid assignment target');
  }
}

function ident(e: Extract<Expr, { kind: 'Ident' }>, ctx: CompileContext): Eval {
  const ref = e.ref!;
  const name = e.name;
  switch (ref.where) {
    case 'local': {
      const slot = ref.slot;
      return (fr) => {
        const v = fr.L[slot];
        if (v === undefined)
          throw runtimeError(`local variable ${name} referenced before assignment`);
        return v as Value;
      };
    }
    case 'cell': {
      const slot = ref.slot;
      return (fr) => {
        const v = (fr.L[slot] as Cell).v;
        if (v === undefined)
          throw runtimeError(`local variable ${name} referenced before assignment`);
        return v;
      };
    }
    case 'free': {
      const i = ref.index;
      return (fr) => {
        const v = fr.F[i]!.v;
        if (v === undefined)
          throw runtimeError(`local variable ${name} referenced before assignment`);
        return v;
      };
    }
    case 'global': {
      const slot = ref.slot;
      const G = ctx.G;
      return () => {
        const v = G[slot];
        if (v === undefined)
          throw runtimeError(`global variable ${name} referenced before assignment`);
        return v;
      };
    }
    case 'universal': {
      const v = ctx.lookupUniversal(name);
      return () => v;
    }
  }
}

function literal(e: Extract<Expr, { kind: 'Literal' }>): Value {
  const l = e.value;
  switch (l.t) {
    case 'int':
      return l.v;
    case 'float':
      return new SFloat(l.v);
    case 'string':
      return l.v;
    case 'bytes':
      return new SBytes(l.v);
  }
}

export function expr(e: Expr, ctx: CompileContext): Eval {
  switch (e.kind) {
    case 'Ident':
      return ident(e, ctx);
    case 'Literal': {
      const v = literal(e);
      return () => v;
    }
    case 'List': {
      const items = e.items.map((x) => expr(x, ctx));
      const n = items.length;
      return (fr) => {
        const out = new Array<Value>(n);
        for (let i = 0; i < n; i++) out[i] = items[i]!(fr);
        charge(8 * n + 32);
        return new SList(out);
      };
    }
    case 'Tuple': {
      const items = e.items.map((x) => expr(x, ctx));
      const n = items.length;
      return (fr) => {
        const out = new Array<Value>(n);
        for (let i = 0; i < n; i++) out[i] = items[i]!(fr);
        charge(8 * n + 32);
        return new STuple(out);
      };
    }
    case 'Dict': {
      const ks = e.entries.map(([k]) => expr(k, ctx));
      const vs = e.entries.map(([, v]) => expr(v, ctx));
      const n = ks.length;
      return (fr) => {
        const d = new SDict();
        for (let i = 0; i < n; i++) {
          const k = ks[i]!(fr);
          const before = d.m.size;
          d.set(k, vs[i]!(fr));
          if (d.m.size === before)
            throw runtimeError(
              `duplicate key: ${typeName(k) === 'string' ? JSON.stringify(k) : String(k)}`,
            );
        }
        charge(32 * n + 32);
        return d;
      };
    }
    case 'Comprehension':
      return comprehension(e, ctx);
    case 'Unary': {
      const x = expr(e.operand, ctx);
      const op = e.op;
      if (op === 'not') return (fr) => !truth(x(fr));
      if (op === '-')
        return (fr) => {
          const v = x(fr);
          return typeof v === 'number' ? (v === 0 ? 0 : -v) : unary(op, v);
        };
      return (fr) => unary(op, x(fr));
    }
    case 'Binary':
      return binaryExpr(e, ctx);
    case 'And': {
      const l = expr(e.left, ctx);
      const r = expr(e.right, ctx);
      return (fr) => {
        const v = l(fr);
        return truth(v) ? r(fr) : v;
      };
    }
    case 'Or': {
      const l = expr(e.left, ctx);
      const r = expr(e.right, ctx);
      return (fr) => {
        const v = l(fr);
        return truth(v) ? v : r(fr);
      };
    }
    case 'Cond': {
      const c = expr(e.cond, ctx);
      const a = expr(e.whenTrue, ctx);
      const b = expr(e.whenFalse, ctx);
      return (fr) => (truth(c(fr)) ? a(fr) : b(fr));
    }
    case 'Dot': {
      const o = expr(e.object, ctx);
      const name = e.name;
      return (fr) => attr(o(fr), name);
    }
    case 'Index': {
      const o = expr(e.object, ctx);
      const i = expr(e.index, ctx);
      return (fr) => {
        const obj = o(fr);
        const idx = i(fr);
        if (obj instanceof SList && typeof idx === 'number' && idx >= 0 && idx < obj.items.length)
          return obj.items[idx]!;
        if (obj instanceof SDict) {
          const v = obj.get(idx);
          if (v !== undefined) return v;
        }
        return index(obj, idx);
      };
    }
    case 'Slice': {
      const o = expr(e.object, ctx);
      const a = e.start ? expr(e.start, ctx) : () => null;
      const b = e.stop ? expr(e.stop, ctx) : () => null;
      const c = e.step ? expr(e.step, ctx) : () => null;
      return (fr) => slice(o(fr), a(fr), b(fr), c(fr));
    }
    case 'Call':
      return call(e, ctx);
    case 'Lambda':
      return makeFunction(e.fn, ctx);
  }
}

function binaryExpr(e: Extract<Expr, { kind: 'Binary' }>, ctx: CompileContext): Eval {
  const l = expr(e.left, ctx);
  const r = expr(e.right, ctx);
  const op = e.op;
  const MAX = Number.MAX_SAFE_INTEGER;
  switch (op) {
    case '+':
      return (fr) => {
        const a = l(fr);
        const b = r(fr);
        if (typeof a === 'number' && typeof b === 'number') {
          const s = a + b;
          if (s <= MAX && s >= -MAX) return s;
        }
        return plus(a, b);
      };
    case '-':
      return (fr) => {
        const a = l(fr);
        const b = r(fr);
        if (typeof a === 'number' && typeof b === 'number') {
          const s = a - b;
          if (s <= MAX && s >= -MAX) return s;
        }
        return binary(op, a, b);
      };
    case '*':
      return (fr) => {
        const a = l(fr);
        const b = r(fr);
        if (typeof a === 'number' && typeof b === 'number') {
          const s = a * b;
          if (s <= MAX && s >= -MAX) return s === 0 ? 0 : s;
        }
        return binary(op, a, b);
      };
    case '%':
      return (fr) => {
        const a = l(fr);
        const b = r(fr);
        if (typeof a === 'number' && typeof b === 'number' && b > 0 && a >= 0) return a % b;
        return binary(op, a, b);
      };
    case '//':
      return (fr) => {
        const a = l(fr);
        const b = r(fr);
        if (typeof a === 'number' && typeof b === 'number' && b > 0 && a >= 0 && a <= 0x7fffffff)
          return Math.floor(a / b);
        return binary(op, a, b);
      };
    case '==':
      return (fr) => {
        const a = l(fr);
        const b = r(fr);
        if (a === b && typeof a !== 'object') return true;
        return equal(a, b);
      };
    case '!=':
      return (fr) => {
        const a = l(fr);
        const b = r(fr);
        if (a === b && typeof a !== 'object') return false;
        return !equal(a, b);
      };
    case '<':
      return (fr) => {
        const a = l(fr);
        const b = r(fr);
        if (typeof a === 'number' && typeof b === 'number') return a < b;
        return binary(op, a, b);
      };
    case '<=':
      return (fr) => {
        const a = l(fr);
        const b = r(fr);
        if (typeof a === 'number' && typeof b === 'number') return a <= b;
        return binary(op, a, b);
      };
    case '>':
      return (fr) => {
        const a = l(fr);
        const b = r(fr);
        if (typeof a === 'number' && typeof b === 'number') return a > b;
        return binary(op, a, b);
      };
    case '>=':
      return (fr) => {
        const a = l(fr);
        const b = r(fr);
        if (typeof a === 'number' && typeof b === 'number') return a >= b;
        return binary(op, a, b);
      };
    default:
      return (fr) => binary(op, l(fr), r(fr));
  }
}

type Sink = (fr: Frame, acc: SList | SDict) => void;

function comprehension(e: Extract<Expr, { kind: 'Comprehension' }>, ctx: CompileContext): Eval {
  const body = expr(e.body, ctx);
  const value = e.value ? expr(e.value, ctx) : null;
  let sink: Sink;
  if (value === null)
    sink = (fr, acc) => {
      charge(8);
      (acc as SList).items.push(body(fr));
    };
  else
    sink = (fr, acc) => {
      charge(32);
      (acc as SDict).set(body(fr), value(fr));
    };
  for (let i = e.clauses.length - 1; i >= 0; i--) sink = clause(e.clauses[i]!, sink, ctx);
  const run = sink;
  const isDict = e.dict;
  return (fr) => {
    const acc = isDict ? new SDict() : new SList([]);
    run(fr, acc);
    return acc;
  };
}

function clause(c: Clause, next: Sink, ctx: CompileContext): Sink {
  if (c.kind === 'if') {
    const cond = expr(c.cond, ctx);
    return (fr, acc) => {
      if (truth(cond(fr))) next(fr, acc);
    };
  }
  const it = expr(c.iter, ctx);
  const a = assign(c.target, ctx);
  const p = posOf(ctx, c);
  const tg = c.target;
  const local = tg.kind === 'Ident' && tg.ref!.where === 'local' ? tg.ref!.slot : -1;
  return (fr, acc) => {
    const x = it(fr);
    const t = thread();
    try {
      if (x instanceof SRange) {
        const n = x.length;
        for (let i = 0; i < n; i++) {
          if (--t.steps < t.chk) t.tick();
          if (local >= 0) fr.L[local] = x.start + i * x.step;
          else a(fr, x.start + i * x.step);
          next(fr, acc);
        }
        return;
      }
      const mut = x instanceof SList || x instanceof SDict ? x : null;
      const items = iterate(x);
      if (mut) mut.iterating++;
      try {
        for (let i = 0; i < items.length; i++) {
          if (--t.steps < t.chk) t.tick();
          if (local >= 0) fr.L[local] = items[i]!;
          else a(fr, items[i]!);
          next(fr, acc);
        }
      } finally {
        if (mut) mut.iterating--;
      }
    } catch (err) {
      throw annotate(err, p);
    }
  };
}

function call(e: Extract<Expr, { kind: 'Call' }>, ctx: CompileContext): Eval {
  const p = posOf(ctx, e);
  const simple = e.args.every((a) => a.kind === 'positional');
  const argv = e.args.map((a) => expr(a.value, ctx));
  const n = argv.length;
  const buildArgs = simple ? null : argBuilder(e.args, argv);
  const evalArgs = (fr: Frame): [Value[], Kwargs] => {
    if (buildArgs !== null) return buildArgs(fr);
    const args = new Array<Value>(n);
    for (let i = 0; i < n; i++) args[i] = argv[i]!(fr);
    return [args, null];
  };
  if (e.fn.kind === 'Dot') {
    // Method call: look the method up without allocating a bound function.
    const recv = expr(e.fn.object, ctx);
    const name = e.fn.name;
    const forType = methodsNamed(name);
    if (simple)
      return (fr) => {
        const self = recv(fr);
        const args = new Array<Value>(n);
        for (let i = 0; i < n; i++) args[i] = argv[i]!(fr);
        try {
          const m =
            typeof self === 'string'
              ? forType.str
              : self instanceof SList
                ? forType.list
                : self instanceof SDict
                  ? forType.dict
                  : method(self, name);
          if (m !== undefined) {
            const t = thread();
            if (--t.steps < t.chk) t.tick();
            return m(args, null, self);
          }
          return callValue(attr(self, name), args, null);
        } catch (err) {
          throw annotate(err, p);
        }
      };
    return (fr) => {
      const self = recv(fr);
      try {
        const m = method(self, name);
        const [args, kw] = evalArgs(fr);
        if (m !== undefined) {
          const t = thread();
          if (--t.steps < t.chk) t.tick();
          return m(args, kw, self);
        }
        return callValue(attr(self, name), args, kw);
      } catch (err) {
        throw annotate(err, p);
      }
    };
  }
  const fn = expr(e.fn, ctx);
  if (simple)
    return (fr) => {
      const f = fn(fr);
      const args = new Array<Value>(n);
      for (let i = 0; i < n; i++) args[i] = argv[i]!(fr);
      try {
        if (f instanceof SFunction) {
          const t = thread();
          if (--t.steps < t.chk) t.tick();
          return callFunction(f, args, null);
        }
        return callValue(f, args, null);
      } catch (err) {
        throw annotate(err, p);
      }
    };
  return (fr) => {
    const f = fn(fr);
    try {
      const [args, kw] = evalArgs(fr);
      return callValue(f, args, kw);
    } catch (err) {
      throw annotate(err, p);
    }
  };
}

function argBuilder(args: Arg[], argv: Eval[]): (fr: Frame) => [Value[], Kwargs] {
  return (fr) => {
    const pos: Value[] = [];
    let kw: [string, Value][] | null = null;
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      const v = argv[i]!(fr);
      switch (a.kind) {
        case 'positional':
          pos.push(v);
          break;
        case 'named':
          if (kw === null) kw = [];
          kw.push([a.name, v]);
          break;
        case 'star':
          for (const x of iterate(v, 'iterable')) pos.push(x);
          break;
        case 'starstar': {
          if (!(v instanceof SDict))
            throw runtimeError(`argument after ** must be a mapping, not ${typeName(v)}`);
          if (kw === null) kw = [];
          for (const [k, x] of v.m) {
            const key = v.key(k);
            if (typeof key !== 'string')
              throw runtimeError(`keywords must be strings, not ${typeName(key)}`);
            if (kw.some(([n]) => n === key))
              throw runtimeError(`got multiple values for keyword argument '${key}'`);
            kw.push([key, x]);
          }
          break;
        }
      }
    }
    if (kw !== null) {
      const seen = new Set<string>();
      for (const [k] of kw) {
        if (seen.has(k)) throw runtimeError(`got multiple values for keyword argument '${k}'`);
        seen.add(k);
      }
    }
    return [pos, kw];
  };
}

function makeFunction(def: FunctionDef, ctx: CompileContext): Eval {
  const scope = def.scope!;
  const params = def.params;
  const posParams: Param[] = [];
  const kwonly: Param[] = [];
  let starSlot = -1;
  let kwargsSlot = -1;
  let seenStar = false;
  let k = 0;
  const slotOf = new Map<Param, number>();
  for (const p of params) {
    if (p.kind === 'star' && p.name === null) {
      seenStar = true;
      continue;
    }
    slotOf.set(p, scope.paramSlots[k++]!);
    if (p.kind === 'star') {
      seenStar = true;
      starSlot = slotOf.get(p)!;
    } else if (p.kind === 'starstar') kwargsSlot = slotOf.get(p)!;
    else if (seenStar) kwonly.push(p);
    else posParams.push(p);
  }
  const named = [...posParams, ...kwonly];
  const defaults = named.map((p) => (p.kind === 'optional' ? expr(p.default, ctx) : null));
  const code: Code = {
    name: def.name,
    filename: ctx.filename,
    line: def.line,
    col: def.col,
    nlocals: scope.nlocals,
    posSlots: posParams.map((p) => slotOf.get(p)!),
    posNames: posParams.map((p) => (p as { name: string }).name),
    kwonlySlots: kwonly.map((p) => slotOf.get(p)!),
    kwonlyNames: kwonly.map((p) => (p as { name: string }).name),
    starSlot,
    kwargsSlot,
    cellSlots: scope.cells,
    simple: starSlot < 0 && kwargsSlot < 0 && kwonly.length === 0,
    body: () => NORMAL,
    active: 0,
    allowRecursion: ctx.dialect.recursion,
  };
  code.body = block(def.body, ctx);
  const freeRefs = scope.freevars;
  return (fr) => {
    const dv = defaults.map((d) => (d === null ? undefined : d(fr)));
    const free = freeRefs.map((r) => {
      if (r.where === 'cell') return fr.L[r.slot] as Cell;
      if (r.where === 'free') return fr.F[r.index]!;
      throw runtimeError('internal error: bad free variable');
    });
    return new SFunction(code, dv, free);
  };
}
