import {
  defineSandboxBackend,
  entryCandidates,
  type GuestCall,
  type GuestOutcome,
  type GuestPolicy,
  MAX_JSON_DEPTH,
  type PolicySource,
  type SandboxBackend,
  type SandboxFailure,
  type SandboxLimits,
  SandboxLoadError,
  withoutExports,
} from '@wardwright/core';
import { encodeBinaryJson } from './binary-json.ts';
import { sanitizeFailureMessage, WASM_PAGE_BYTES, wasmPagesFor } from './limits.ts';
import {
  BackendFault,
  binaryInputSupported,
  describeHostError,
  Engine,
  isHostStackOverflow,
  Session,
} from './session.ts';

export interface QuickJsSandboxOptions {
  /** Backend name in receipts; default 'quickjs'. */
  name?: string;
  /**
   * 'reuse' (default): one runtime and context per loaded policy, reloaded after a failure that
   * may leave it unsafe (and after a call that left promise jobs pending); top-level state persists
   * between calls, as with the trusted backend.
   * 'per-call': every call starts from the state right after the policy loaded (the module's
   * memory is restored from a snapshot when the call returns), so no call sees another's writes;
   * costs the copy of a few hundred KiB per call.
   */
  fresh?: 'per-call' | 'reuse';
  /** QuickJS stack limit in bytes; at most (and by default) 256 KiB. */
  maxStackBytes?: number;
}

const MAX_STACK_BYTES = 256 * 1024;

/**
 * QuickJS compiled to WebAssembly: each loaded policy gets its own WASM module with a fixed-size
 * memory (a hard memory cap), a stack limit, a deadline and a coarse step budget checked from
 * QuickJS's interrupt poll. Calls are synchronous inside the module and serialised per policy.
 * What every backend checks the same way (entries, input, output, final deadlines) is done by
 * core's `defineSandboxBackend`.
 */
export function quickjsSandbox(options: QuickJsSandboxOptions = {}): SandboxBackend {
  const fresh = options.fresh ?? 'reuse';
  const maxStackBytes = Math.min(options.maxStackBytes ?? MAX_STACK_BYTES, MAX_STACK_BYTES);
  if (!(maxStackBytes > 0)) throw new RangeError('maxStackBytes must be a positive number');
  if (fresh !== 'reuse' && fresh !== 'per-call') {
    throw new RangeError(`fresh must be 'reuse' or 'per-call', not ${String(fresh)}`);
  }
  return defineSandboxBackend({
    name: options.name ?? 'quickjs',
    language: 'javascript',
    capabilities: {
      isolated: true,
      wallClock: true,
      steps: 'coarse',
      memory: 'hard',
      cpuTime: false,
      hardKill: true,
      // Terminating a worker stops WebAssembly at once: a thread contains every guest.
      containedBy: 'worker',
    },
    // The whole WebAssembly memory is reported, and it is whole pages of at least 16 MiB.
    memoryCeiling: (limits) => wasmPagesFor(limits.memory_bytes) * WASM_PAGE_BYTES,
    async load(source: PolicySource, limits: Readonly<SandboxLimits>): Promise<GuestPolicy> {
      const program: Program = {
        code: withoutExports(source.code),
        // Kept at load when the name is a function at the top level of the policy.
        candidates: entryCandidates(source.code),
        filename: source.filename ?? `${source.name}.js`,
        maxStackBytes,
      };
      let engine: Engine;
      try {
        engine = await Engine.create(wasmPagesFor(limits.memory_bytes), {
          snapshots: fresh === 'per-call',
        });
      } catch (error) {
        throw new SandboxLoadError(source.name, {
          kind: 'backend_failure',
          message: sanitizeFailureMessage(`QuickJS did not start: ${describeHostError(error)}`),
        });
      }
      let opened: Session | SandboxFailure;
      try {
        opened = openSession(engine, program, limits, fresh);
      } catch (error) {
        opened = faultFailure(error);
      }
      if (!(opened instanceof Session)) throw new SandboxLoadError(source.name, opened);
      return new QuickJsPolicy(program, engine, opened, fresh);
    },
  });
}

interface Program {
  code: string;
  candidates: readonly string[];
  filename: string;
  maxStackBytes: number;
}

function openSession(
  engine: Engine,
  program: Program,
  limits: Readonly<SandboxLimits>,
  fresh: 'per-call' | 'reuse',
): Session | SandboxFailure {
  const opened = Session.open(
    engine,
    program.code,
    program.candidates,
    limits,
    program.filename,
    program.maxStackBytes,
  );
  if (fresh === 'per-call' && opened instanceof Session) {
    try {
      opened.snapshotAfterLoad();
    } catch (error) {
      try {
        opened.dispose();
      } catch {}
      throw new BackendFault(describeHostError(error));
    }
  }
  return opened;
}

/** Failures after which the runtime is reloaded from source before the next call. */
const RELOAD_AFTER = new Set<SandboxFailure['kind']>([
  'timeout',
  'step_limit',
  'memory_limit',
  'stack_overflow',
  'backend_failure',
]);
/** Failures after which the WASM module itself is replaced (its memory never shrinks). */
const REPLACE_ENGINE_AFTER = new Set<SandboxFailure['kind']>(['memory_limit', 'backend_failure']);

class QuickJsPolicy implements GuestPolicy {
  readonly entries: readonly string[];
  private tail: Promise<unknown> = Promise.resolve();
  /** Calls started and not yet settled. */
  private pending = 0;
  private engine: Engine | undefined;
  private session: Session | undefined;
  private disposed = false;

  constructor(
    private readonly program: Program,
    engine: Engine,
    session: Session,
    private readonly fresh: 'per-call' | 'reuse',
  ) {
    this.entries = session.entries;
    this.engine = engine;
    this.session = session;
  }

  call(call: GuestCall): Promise<GuestOutcome> {
    // QuickJS runs synchronously inside one module: calls must never interleave. When idle, the
    // call starts at once instead of waiting a turn behind an already-settled promise.
    // `run` counts itself out when it settles (it never rejects).
    const idle = this.pending === 0;
    this.pending++;
    const task = idle ? this.run(call) : this.tail.then(() => this.run(call));
    this.tail = task;
    return task;
  }

  private async run(call: GuestCall): Promise<GuestOutcome> {
    // The guest's own time: a call queued behind another one, or waiting for its module to be
    // rebuilt, has not started its deadline.
    let start = performance.now();
    let steps: number | undefined;
    let memory: number | undefined;
    const usage = () => ({
      guest_ms: performance.now() - start,
      ...(steps === undefined ? {} : { steps }),
      ...(memory === undefined ? {} : { memory_bytes: memory }),
    });
    const { limits } = call;
    try {
      if (this.disposed) {
        return {
          ok: false,
          failure: { kind: 'backend_failure', message: 'the policy is disposed' },
        };
      }
      // Binary JSON when this QuickJS reads our encoding (see binary-json.ts). The wrapper has
      // checked the depth: the guest's reader recurses on the host's stack (see MAX_JSON_DEPTH).
      const binary = binaryInputSupported()
        ? encodeBinaryJson(call.input, MAX_JSON_DEPTH)
        : undefined;
      const session = this.kept(limits) ?? (await this.acquire(limits));
      if (!(session instanceof Session)) {
        return {
          ok: false,
          failure: { ...session, message: `reloading the policy: ${session.message}` },
          usage: usage(),
        };
      }
      start = performance.now();
      // 'per-call': the session puts the module's memory back as it was after loading.
      const outcome = session.call(call.entry, () => call.json, limits, binary);
      steps = outcome.polls;
      // Read before `recover` may drop the engine: the high-water mark of this call's module.
      memory = this.engine?.memoryBytes;
      if (!outcome.ok) {
        this.recover(outcome.failure.kind);
        // Whatever the guest saw, a module whose memory is nearly all used would fail the next
        // call too (its memory never shrinks): start that one on a new module.
        if (this.engine?.nearCap() === true) this.reload();
        return { ok: false, failure: outcome.failure, usage: usage() };
      }
      // Promise jobs the call left behind would pile up (QuickJS runs none unless asked) or run
      // in a later call; neither is this call's business. They go with the module.
      if (outcome.pendingJobs) this.reload();
      return { ok: true, json: outcome.json, usage: usage() };
    } catch (error) {
      // A BackendFault or anything unexpected: the module may be aborted, so start over.
      this.recover('backend_failure');
      return { ok: false, failure: faultFailure(error), usage: usage() };
    } finally {
      this.pending--;
    }
  }

  /** The kept session when it fits these limits (no await: the common case stays synchronous). */
  private kept(limits: Readonly<SandboxLimits>): Session | undefined {
    return this.engine !== undefined && this.engine.pages === wasmPagesFor(limits.memory_bytes)
      ? this.session
      : undefined;
  }

  /** A new session for this call (on a new engine when needed). */
  private async acquire(limits: Readonly<SandboxLimits>): Promise<Session | SandboxFailure> {
    const pages = wasmPagesFor(limits.memory_bytes);
    if (this.engine !== undefined && this.engine.pages !== pages) this.recover('memory_limit');
    this.engine ??= await Engine.create(pages, { snapshots: this.fresh === 'per-call' });
    // The entries are known now: the new session looks them all up again.
    const opened = openSession(
      this.engine,
      { ...this.program, candidates: this.entries },
      limits,
      this.fresh,
    );
    if (opened instanceof Session) this.session = opened;
    else this.recover(opened.kind);
    return opened;
  }

  private release(): void {
    const session = this.session;
    this.session = undefined;
    if (session === undefined) return;
    try {
      session.dispose();
    } catch {
      // A runtime that cannot be freed cleanly means the module is not trustworthy any more.
      this.dropEngine();
    }
  }

  /**
   * Start the next call on a fresh module: after a call left promise jobs behind (they may hold
   * most of its memory, and a runtime freed with jobs pending does not give all of it back), or
   * after a failure with the memory nearly all used. 'per-call' keeps its module: the snapshot
   * puts the heap back as it was after loading.
   */
  private reload(): void {
    if (this.fresh !== 'reuse') return;
    // Not disposed: freeing a runtime whose jobs still hold objects aborts the module (QuickJS's
    // `list_empty(&rt->gc_obj_list)` assertion). The module goes as a whole, to the collector.
    this.session = undefined;
    this.dropEngine();
  }

  private recover(kind: SandboxFailure['kind']): void {
    if (!RELOAD_AFTER.has(kind)) return;
    // 'per-call': the call's memory is already back to the loaded state; only a module whose
    // memory ran out or that faulted needs replacing.
    if (this.fresh === 'per-call' && !REPLACE_ENGINE_AFTER.has(kind)) return;
    if (REPLACE_ENGINE_AFTER.has(kind)) {
      // The module goes as a whole: freeing its runtime first would gain nothing, and with
      // objects still held (pending jobs, a half-built value) QuickJS aborts the module on free.
      this.session = undefined;
      this.dropEngine();
      return;
    }
    this.release();
  }

  private dropEngine(): void {
    this.engine = undefined;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.tail;
    this.release();
    this.dropEngine();
  }
}

/**
 * A fault inside the module. Deep recursion in QuickJS's own C code (its JSON or regex parser,
 * `eval` of deeply nested source) overflows the HOST's stack before QuickJS's stack limit sees
 * it: that is the guest's stack overflow, not the backend's fault (the module is replaced all
 * the same, since it unwound through WebAssembly frames).
 */
function faultFailure(error: unknown): SandboxFailure {
  if (isHostStackOverflow(error)) {
    return { kind: 'stack_overflow', message: 'maximum call stack size exceeded' };
  }
  return {
    kind: 'backend_failure',
    message: sanitizeFailureMessage(
      error instanceof BackendFault ? error.message : describeHostError(error),
    ),
  };
}
