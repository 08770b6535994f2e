import type { Dialect } from '../dialect.ts';
import { StarlarkError } from '../errors.ts';
import type { Clause, Expr, FunctionDef, Module, Pos, Ref, Scope, Stmt } from '../syntax/ast.ts';

export interface ResolveOptions {
  readonly dialect: Dialect;
  /** Names the host provides (universe builtins and predeclared values). */
  readonly isPredeclared: (name: string) => boolean;
}

interface FnScope {
  readonly scope: Scope;
  readonly parent: Block | null;
  /** Free variable name → index into the closure's freevars. */
  readonly free: Map<string, Ref>;
  readonly isModule: boolean;
  /** Slot refs by slot number, so capture can turn a local into a cell. */
  readonly slotRefs: Ref[];
  /** Uses of locals to check for use before any assignment. */
  readonly uses: { name: string; pos: Pos; inLoop: boolean }[];
  readonly firstBinding: Map<string, Pos>;
}

interface Block {
  readonly fn: FnScope;
  readonly parent: Block | null;
  readonly names: Map<string, Ref>;
}

/**
 * The static resolver: decides where every name lives (local slot, cell, free variable,
 * global slot, or universal), and reports compile-time errors with positions before anything
 * runs. It annotates the tree in place (`ref`, `scope`, `globals`).
 */
export function resolveModule(mod: Module, options: ResolveOptions): void {
  const r = new Resolver(mod.filename, options);
  r.module(mod);
}

class Resolver {
  private readonly globals = new Map<string, Ref>();
  private readonly globalNames: string[] = [];
  private loopDepth = 0;

  constructor(
    private readonly filename: string,
    private readonly options: ResolveOptions,
  ) {}

  private fail(msg: string, pos: Pos): never {
    throw new StarlarkError('resolve', msg, {
      filename: this.filename,
      line: pos.line,
      col: pos.col,
    });
  }

  module(mod: Module): void {
    // Every name bound at top level is global, wherever the binding is.
    for (const s of mod.body) this.collectTop(s);
    const fn = this.newFn(null, true);
    const block: Block = { fn, parent: null, names: new Map() };
    this.stmts(mod.body, block, true);
    mod.scope = fn.scope;
    mod.globals = this.globalNames;
  }

  private newFn(parent: Block | null, isModule: boolean): FnScope {
    return {
      scope: { nlocals: 0, cells: [], freevars: [], paramSlots: [] },
      parent,
      free: new Map(),
      isModule,
      slotRefs: [],
      uses: [],
      firstBinding: new Map(),
    };
  }

  private addGlobal(name: string): void {
    if (this.globals.has(name)) return;
    this.globals.set(name, { where: 'global', slot: this.globalNames.length, name });
    this.globalNames.push(name);
  }

  private collectTop(s: Stmt): void {
    switch (s.kind) {
      case 'Assign':
      case 'AugAssign':
        this.bindTargets(s.target, (n) => this.addGlobal(n));
        return;
      case 'Def':
        this.addGlobal(s.fn.name);
        return;
      case 'For':
        this.bindTargets(s.target, (n) => this.addGlobal(n));
        for (const b of s.body) this.collectTop(b);
        return;
      case 'While':
        for (const b of s.body) this.collectTop(b);
        return;
      case 'If':
        for (const b of s.body) this.collectTop(b);
        for (const b of s.orElse) this.collectTop(b);
        return;
      case 'Load':
        for (const n of s.names) this.addGlobal(n.local);
        return;
      default:
    }
  }

  private bindTargets(e: Expr, bind: (name: string, pos: Pos) => void): void {
    switch (e.kind) {
      case 'Ident':
        bind(e.name, e);
        return;
      case 'Tuple':
      case 'List':
        for (const x of e.items) this.bindTargets(x, bind);
        return;
      default:
    }
  }

  private newLocal(fn: FnScope): Ref {
    const ref: Ref = { where: 'local', slot: fn.scope.nlocals++ };
    fn.slotRefs.push(ref);
    return ref;
  }

  private collectLocals(body: Stmt[], fn: FnScope, block: Block): void {
    const bind = (name: string, pos: Pos): void => {
      if (!block.names.has(name)) block.names.set(name, this.newLocal(fn));
      const prev = fn.firstBinding.get(name);
      if (prev === undefined || before(pos, prev)) fn.firstBinding.set(name, pos);
    };
    const visit = (s: Stmt): void => {
      switch (s.kind) {
        case 'Assign':
        case 'AugAssign':
          this.bindTargets(s.target, bind);
          return;
        case 'Def':
          bind(s.fn.name, s);
          return;
        case 'For':
          this.bindTargets(s.target, bind);
          for (const b of s.body) visit(b);
          return;
        case 'While':
          for (const b of s.body) visit(b);
          return;
        case 'If':
          for (const b of s.body) visit(b);
          for (const b of s.orElse) visit(b);
          return;
        default:
      }
    };
    for (const s of body) visit(s);
  }

  private stmts(body: Stmt[], block: Block, top: boolean): void {
    for (const s of body) this.stmt(s, block, top);
  }

  private stmt(s: Stmt, block: Block, top: boolean): void {
    const d = this.options.dialect;
    switch (s.kind) {
      case 'Expr':
        this.expr(s.expr, block);
        return;
      case 'Assign':
        this.expr(s.value, block);
        this.target(s.target, block);
        return;
      case 'AugAssign':
        this.expr(s.target, block);
        this.expr(s.value, block);
        this.target(s.target, block);
        return;
      case 'Def':
        this.func(s.fn, block);
        s.ref = this.lookup(s.fn.name, block, s, true);
        return;
      case 'If':
        if (top && !d.toplevelControl)
          this.fail(
            'if statement not within a function (enable the toplevelControl dialect option)',
            s,
          );
        this.expr(s.cond, block);
        this.stmts(s.body, block, false);
        this.stmts(s.orElse, block, false);
        return;
      case 'For':
        if (top && !d.toplevelControl)
          this.fail(
            'for loop not within a function (enable the toplevelControl dialect option)',
            s,
          );
        this.expr(s.iter, block);
        this.target(s.target, block);
        this.loopDepth++;
        this.stmts(s.body, block, false);
        this.loopDepth--;
        return;
      case 'While':
        if (!d.while) this.fail('while loops are not enabled (enable the while dialect option)', s);
        if (top && !d.toplevelControl)
          this.fail(
            'while loop not within a function (enable the toplevelControl dialect option)',
            s,
          );
        this.expr(s.cond, block);
        this.loopDepth++;
        this.stmts(s.body, block, false);
        this.loopDepth--;
        return;
      case 'Return':
        if (block.fn.isModule) this.fail('return statement not within a function', s);
        if (s.value) this.expr(s.value, block);
        return;
      case 'Break':
      case 'Continue':
        if (this.loopDepth === 0) this.fail(`${s.kind.toLowerCase()} not in a loop`, s);
        return;
      case 'Pass':
        return;
      case 'Load':
        if (!block.fn.isModule) this.fail('load statement within a function', s);
        return;
    }
  }

  private target(e: Expr, block: Block): void {
    switch (e.kind) {
      case 'Ident':
        e.ref = this.lookup(e.name, block, e, true);
        return;
      case 'Tuple':
      case 'List':
        for (const x of e.items) this.target(x, block);
        return;
      case 'Index':
        this.expr(e.object, block);
        this.expr(e.index, block);
        return;
      case 'Dot':
        this.expr(e.object, block);
        return;
      default:
        this.fail('cannot assign to this expression', e);
    }
  }

  private func(fn: FunctionDef, outer: Block): void {
    const f = this.newFn(outer, false);
    const block: Block = { fn: f, parent: null, names: new Map() };
    const seen = new Set<string>();
    // Defaults are evaluated in the enclosing scope, when the def runs.
    for (const p of fn.params) {
      if (p.kind === 'optional') this.expr(p.default, outer);
      const name = p.name;
      if (name === null) continue;
      if (seen.has(name)) this.fail(`duplicate parameter: ${name}`, p);
      seen.add(name);
      const ref = this.newLocal(f);
      block.names.set(name, ref);
      f.scope.paramSlots.push((ref as { slot: number }).slot);
      f.firstBinding.set(name, p);
    }
    this.collectLocals(fn.body, f, block);
    const savedLoop = this.loopDepth;
    this.loopDepth = 0;
    this.stmts(fn.body, block, false);
    this.loopDepth = savedLoop;
    for (const u of f.uses) {
      const first = f.firstBinding.get(u.name);
      if (!u.inLoop && first !== undefined && before(u.pos, first))
        this.fail(`local variable ${u.name} referenced before assignment`, u.pos);
    }
    fn.scope = f.scope;
  }

  private comprehension(e: Extract<Expr, { kind: 'Comprehension' }>, block: Block): void {
    // The first iterable is evaluated in the enclosing block; everything else in a new one.
    const first = e.clauses[0] as Extract<Clause, { kind: 'for' }>;
    this.expr(first.iter, block);
    const inner: Block = { fn: block.fn, parent: block, names: new Map() };
    for (const c of e.clauses) {
      if (c.kind === 'for') {
        if (c !== first) this.expr(c.iter, inner);
        this.bindTargets(c.target, (name) => {
          if (!inner.names.has(name)) inner.names.set(name, this.newLocal(block.fn));
        });
        this.target(c.target, inner);
      } else this.expr(c.cond, inner);
    }
    this.expr(e.body, inner);
    if (e.value) this.expr(e.value, inner);
  }

  private lookup(name: string, block: Block, pos: Pos, binding: boolean): Ref {
    for (let b: Block | null = block; b !== null; b = b.parent) {
      const r = b.names.get(name);
      if (r !== undefined) {
        if (!binding && b.parent === null && !block.fn.isModule)
          block.fn.uses.push({ name, pos, inLoop: this.loopDepth > 0 });
        return r;
      }
    }
    const fn = block.fn;
    if (!fn.isModule) {
      const free = fn.free.get(name);
      if (free !== undefined) return free;
      if (fn.parent !== null && !fn.parent.fn.isModule) {
        const outer = this.lookupEnclosing(name, fn.parent);
        if (outer !== null) {
          const ref: Ref = { where: 'free', index: fn.scope.freevars.length };
          fn.scope.freevars.push(outer);
          fn.free.set(name, ref);
          return ref;
        }
      } else if (fn.parent !== null) {
        // Comprehension variables of the module top level can be captured by a lambda too.
        const outer = this.lookupEnclosing(name, fn.parent);
        if (outer !== null && outer.where !== 'global') {
          const ref: Ref = { where: 'free', index: fn.scope.freevars.length };
          fn.scope.freevars.push(outer);
          fn.free.set(name, ref);
          return ref;
        }
      }
    }
    const g = this.globals.get(name);
    if (g !== undefined) return g;
    if (this.options.isPredeclared(name)) return { where: 'universal', name };
    return this.fail(`undefined: name '${name}' is not defined`, pos);
  }

  /** Find a name for a nested function; a captured local becomes a cell. */
  private lookupEnclosing(name: string, block: Block): Ref | null {
    for (let b: Block | null = block; b !== null; b = b.parent) {
      const r = b.names.get(name);
      if (r !== undefined) {
        if (r.where === 'local') {
          (r as { where: string }).where = 'cell';
          block.fn.scope.cells.push(r.slot);
        }
        return r;
      }
    }
    const fn = block.fn;
    if (fn.isModule) return null;
    const free = fn.free.get(name);
    if (free !== undefined) return free;
    if (fn.parent === null) return null;
    const outer = this.lookupEnclosing(name, fn.parent);
    if (outer === null || outer.where === 'global') return null;
    const ref: Ref = { where: 'free', index: fn.scope.freevars.length };
    fn.scope.freevars.push(outer);
    fn.free.set(name, ref);
    return ref;
  }

  private expr(e: Expr, block: Block): void {
    switch (e.kind) {
      case 'Ident':
        e.ref = this.lookup(e.name, block, e, false);
        return;
      case 'Literal':
        return;
      case 'List':
      case 'Tuple':
        for (const x of e.items) this.expr(x, block);
        return;
      case 'Dict':
        for (const [k, v] of e.entries) {
          this.expr(k, block);
          this.expr(v, block);
        }
        return;
      case 'Comprehension':
        this.comprehension(e, block);
        return;
      case 'Unary':
        this.expr(e.operand, block);
        return;
      case 'Binary':
      case 'And':
      case 'Or':
        this.expr(e.left, block);
        this.expr(e.right, block);
        return;
      case 'Cond':
        this.expr(e.cond, block);
        this.expr(e.whenTrue, block);
        this.expr(e.whenFalse, block);
        return;
      case 'Dot':
        this.expr(e.object, block);
        return;
      case 'Index':
        this.expr(e.object, block);
        this.expr(e.index, block);
        return;
      case 'Slice':
        this.expr(e.object, block);
        if (e.start) this.expr(e.start, block);
        if (e.stop) this.expr(e.stop, block);
        if (e.step) this.expr(e.step, block);
        return;
      case 'Call': {
        this.expr(e.fn, block);
        const named = new Set<string>();
        for (const a of e.args) {
          if (a.kind === 'named') {
            if (named.has(a.name)) this.fail(`keyword argument ${a.name} repeated`, a);
            named.add(a.name);
          }
          this.expr(a.value, block);
        }
        return;
      }
      case 'Lambda':
        this.func(e.fn, block);
        return;
    }
  }
}

function before(a: Pos, b: Pos): boolean {
  return a.line < b.line || (a.line === b.line && a.col < b.col);
}
