import { makeUniverse } from './builtins/universe.ts';
import { type Dialect, resolveDialect } from './dialect.ts';
import { StarlarkError } from './errors.ts';
import { compileModule } from './eval/compile.ts';
import { callValue, toStarlarkError, unwind } from './eval/function.ts';
import {
  charge,
  DEFAULT_THREAD_LIMITS,
  Thread,
  type ThreadLimits,
  withThread,
} from './limits/thread.ts';
import { resolveModule } from './resolve/resolver.ts';
import type { Module } from './syntax/ast.ts';
import { parse } from './syntax/parser.ts';
import { freeze, type Value } from './values/values.ts';

export interface CompileOptions {
  readonly filename?: string;
  readonly dialect?: Partial<Dialect>;
  /** Extra predeclared names (beyond the universe), e.g. test helpers. */
  readonly predeclared?: ReadonlyMap<string, Value>;
}

export interface ExecLimits {
  /** Step budget; null or absent: unlimited. See `Thread` for the definition of a step. */
  readonly maxSteps?: number | null;
  readonly maxAllocBytes?: number;
  readonly maxDepth?: number;
  readonly timeoutMs?: number;
  readonly maxOutputBytes?: number;
  /**
   * A bound on live memory, for running programs rather than policies: checked against
   * `liveBytes()` (e.g. the process's heap in use) whenever the clock is read (every 1024 steps
   * and after large host work). Unlike `maxAllocBytes`, memory freed along the way does not count.
   */
  readonly maxLiveBytes?: number;
  readonly liveBytes?: () => number;
}

export interface ExecOptions {
  readonly limits?: ExecLimits;
  /** Where `print` goes; default: discarded. */
  readonly print?: (line: string) => void;
  /** When the call started (`performance.now()`), if the caller already read the clock. */
  readonly startedAt?: number;
  /** Freeze globals after initialisation (default true; the REPL keeps them mutable). */
  readonly freeze?: boolean;
  /**
   * Bytes charged to the allocation budget before the code runs: what the host hands the call
   * (its arguments) counts against the guest's budget like anything the guest builds.
   */
  readonly inputBytes?: number;
}

export interface ExecStats {
  readonly steps: number;
  readonly allocBytes: number;
}

function threadFor(options: ExecOptions): Thread {
  const l = options.limits ?? {};
  const limits: ThreadLimits = {
    maxSteps: l.maxSteps ?? null,
    maxAllocBytes: l.maxAllocBytes ?? DEFAULT_THREAD_LIMITS.maxAllocBytes,
    maxDepth: l.maxDepth ?? DEFAULT_THREAD_LIMITS.maxDepth,
    deadline:
      l.timeoutMs === undefined
        ? Number.POSITIVE_INFINITY
        : (options.startedAt ?? performance.now()) + l.timeoutMs,
    maxOutputBytes: l.maxOutputBytes ?? DEFAULT_THREAD_LIMITS.maxOutputBytes,
    ...(l.maxLiveBytes === undefined || l.liveBytes === undefined
      ? {}
      : { live: { maxBytes: l.maxLiveBytes, read: l.liveBytes } }),
  };
  return new Thread(limits, options.print ?? (() => undefined));
}

/** A parsed, resolved and compiled module, ready to initialise any number of times. */
export class Program {
  private constructor(
    readonly filename: string,
    readonly globalNames: readonly string[],
    private readonly make: () => { run: () => void; G: (Value | undefined)[] },
  ) {}

  /** Parse, resolve and compile. Throws a StarlarkError (kind `syntax` or `resolve`). */
  static compile(src: string, options: CompileOptions = {}): Program {
    const filename = options.filename ?? '<input>';
    const dialect = resolveDialect(options.dialect);
    const universe = makeUniverse({ set: dialect.set });
    const extra = options.predeclared ?? new Map<string, Value>();
    let mod: Module;
    try {
      mod = parse(src, { filename });
      resolveModule(mod, {
        dialect,
        isPredeclared: (n) => extra.has(n) || universe.has(n),
      });
    } catch (e) {
      const err = toStarlarkError(e);
      if (err.kind === 'stack_overflow')
        throw new StarlarkError('syntax', 'program is nested too deeply', {
          filename,
          line: 1,
          col: 1,
        });
      throw err;
    }
    const names = mod.globals ?? [];
    const lookupUniversal = (n: string): Value => (extra.has(n) ? extra.get(n)! : universe.get(n)!);
    const make = (): { run: () => void; G: (Value | undefined)[] } => {
      const G = new Array<Value | undefined>(names.length);
      const run = compileModule(mod, { filename, dialect, G, globalNames: names, lookupUniversal });
      return { run, G };
    };
    return new Program(filename, names, make);
  }

  /** Run the top level with fresh globals, then freeze them. */
  init(options: ExecOptions = {}): { module: ModuleInstance; stats: ExecStats } {
    const { run, G } = this.make();
    const t = threadFor(options);
    withThread(t, () => {
      try {
        run();
      } catch (e) {
        const err = toStarlarkError(e);
        err.stats = { steps: t.stepsUsed, allocBytes: t.alloc };
        throw err;
      }
    });
    const globals = new Map<string, Value>();
    this.globalNames.forEach((n, i) => {
      const v = G[i];
      if (v !== undefined) {
        if (options.freeze !== false) freeze(v);
        globals.set(n, v);
      }
    });
    return {
      module: new ModuleInstance(globals),
      stats: { steps: t.stepsUsed, allocBytes: t.alloc },
    };
  }
}

/** An initialised module: frozen globals, whose functions can be called with fresh budgets. */
export class ModuleInstance {
  constructor(readonly globals: ReadonlyMap<string, Value>) {}

  call(fn: Value, args: Value[], options: ExecOptions = {}): { value: Value; stats: ExecStats } {
    const t = threadFor(options);
    const value = withThread(t, () => {
      try {
        if (options.inputBytes !== undefined && options.inputBytes > 0) charge(options.inputBytes);
        return callValue(fn, args, null);
      } catch (e) {
        const err = toStarlarkError(e);
        if (err.pending !== null) unwind(err, '<host>');
        err.stats = { steps: t.stepsUsed, allocBytes: t.alloc };
        throw err;
      }
    });
    return { value, stats: { steps: t.stepsUsed, allocBytes: t.alloc } };
  }
}

/** Compile and run a module in one go. */
export function execModule(
  src: string,
  options: CompileOptions & ExecOptions = {},
): { globals: ReadonlyMap<string, Value>; stats: ExecStats } {
  const program = Program.compile(src, options);
  const { module, stats } = program.init(options);
  return { globals: module.globals, stats };
}

export { StarlarkError };
