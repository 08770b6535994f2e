import {
  assertLanguage,
  entryCandidates,
  type InvokeResult,
  type JsonValue,
  type LoadedPolicy,
  type PolicySource,
  type SandboxBackend,
  type SandboxFailure,
  type SandboxLimits,
  SandboxLoadError,
  withoutExports,
} from '@wardwright/core';
import { encodeBinaryJson } from './binary-json.ts';
import {
  exceedsJsonDepth,
  exceedsUtf8,
  MAX_JSON_DEPTH,
  resolveLimits,
  sanitizeFailureMessage,
  wasmPagesFor,
} from './limits.ts';
import {
  BackendFault,
  binaryInputSupported,
  describeHostError,
  Engine,
  Session,
} from './session.ts';

export interface QuickJsSandboxOptions {
  /** Backend name in receipts; default 'quickjs'. */
  name?: string;
  /**
   * 'reuse' (default): one runtime and context per loaded policy, reloaded after a failure that
   * may leave it unsafe; top-level state persists between calls, as with the trusted backend.
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
 */
export function quickjsSandbox(options: QuickJsSandboxOptions = {}): SandboxBackend {
  const name = options.name ?? 'quickjs';
  const fresh = options.fresh ?? 'reuse';
  const maxStackBytes = Math.min(options.maxStackBytes ?? MAX_STACK_BYTES, MAX_STACK_BYTES);
  if (!(maxStackBytes > 0)) throw new RangeError('maxStackBytes must be a positive number');
  if (fresh !== 'reuse' && fresh !== 'per-call') {
    throw new RangeError(`fresh must be 'reuse' or 'per-call', not ${String(fresh)}`);
  }
  const loaded = new Set<QuickJsPolicy>();
  return {
    specificationVersion: 'v1',
    name,
    language: 'javascript',
    capabilities: {
      isolated: true,
      wallClock: true,
      steps: 'coarse',
      memory: 'hard',
      cpuTime: false,
      hardKill: true,
      execution: 'inline',
      containedBy: 'worker',
      availability: false,
    },
    async load(source: PolicySource, loadLimits?: Partial<SandboxLimits>): Promise<LoadedPolicy> {
      assertLanguage(name, 'javascript', source);
      const limits = resolveLimits(loadLimits);
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
        opened = { kind: 'backend_failure', message: faultMessage(error) };
      }
      if (!(opened instanceof Session)) throw new SandboxLoadError(source.name, opened);
      const policy = new QuickJsPolicy(program, limits, engine, opened, fresh, () =>
        loaded.delete(policy),
      );
      loaded.add(policy);
      return policy;
    },
    async dispose() {
      await Promise.all([...loaded].map((p) => p.dispose()));
    },
  };
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

class QuickJsPolicy implements LoadedPolicy {
  readonly entries: readonly string[];
  private tail: Promise<unknown> = Promise.resolve();
  /** Calls started and not yet settled. */
  private pending = 0;
  private engine: Engine | undefined;
  private session: Session | undefined;
  private disposed = false;

  constructor(
    private readonly program: Program,
    private readonly loadLimits: Readonly<SandboxLimits>,
    engine: Engine,
    session: Session,
    private readonly fresh: 'per-call' | 'reuse',
    private readonly onDispose: () => void,
  ) {
    this.entries = session.entries;
    this.engine = engine;
    this.session = session;
  }

  invoke(entry: string, input: JsonValue, limits?: Partial<SandboxLimits>): Promise<InvokeResult> {
    // QuickJS runs synchronously inside one module: calls must never interleave. When idle, the
    // call starts at once instead of waiting a turn behind an already-settled promise.
    // `run` counts itself out when it settles (it never rejects).
    const idle = this.pending === 0;
    this.pending++;
    const task = idle
      ? this.run(entry, input, limits)
      : this.tail.then(() => this.run(entry, input, limits));
    this.tail = task;
    return task;
  }

  private async run(
    entry: string,
    input: JsonValue,
    callLimits: Partial<SandboxLimits> | undefined,
  ): Promise<InvokeResult> {
    const start = performance.now();
    let steps: number | undefined;
    let memory: number | undefined;
    const usage = () => {
      const value: InvokeResult['usage'] = { wall_ms: performance.now() - start };
      if (steps !== undefined) value.steps = steps;
      if (memory !== undefined) value.memory_bytes = memory;
      return value;
    };
    const fail = (failure: SandboxFailure): InvokeResult => ({
      ok: false,
      failure,
      usage: usage(),
    });
    try {
      if (this.disposed)
        return fail({ kind: 'backend_failure', message: 'the policy is disposed' });
      if (!this.entries.includes(entry)) {
        return fail({ kind: 'missing_entry', message: `the policy defines no function ${entry}` });
      }
      // The load limits are already resolved: only per-call overrides need resolving again.
      const limits =
        callLimits === undefined ? this.loadLimits : resolveLimits(this.loadLimits, callLimits);
      const inputJson = toJson(input);
      if (inputJson === undefined) {
        return fail({ kind: 'input_limit', message: 'input is not a JSON value' });
      }
      if (exceedsUtf8(inputJson, limits.max_input_bytes)) {
        return fail({
          kind: 'input_limit',
          message: `input is larger than ${limits.max_input_bytes} bytes`,
        });
      }
      // Binary JSON when this QuickJS reads our encoding (see binary-json.ts). Either way the
      // guest's reader would overflow the host's stack on deep input (see MAX_JSON_DEPTH).
      const binary = binaryInputSupported()
        ? encodeBinaryJson(JSON.parse(inputJson) as JsonValue, MAX_JSON_DEPTH)
        : undefined;
      if (binary === undefined && exceedsJsonDepth(inputJson, MAX_JSON_DEPTH)) {
        return fail({
          kind: 'input_limit',
          message: `input is nested deeper than ${MAX_JSON_DEPTH} levels`,
        });
      }
      const session = this.kept(limits) ?? (await this.acquire(limits));
      if (!(session instanceof Session)) {
        return fail({
          ...session,
          message: sanitizeFailureMessage(`reloading the policy: ${session.message}`),
        });
      }
      // 'per-call': the session puts the module's memory back as it was after loading.
      const outcome = session.call(entry, inputJson, limits, binary);
      steps = outcome.polls;
      // Read before `recover` may drop the engine: the high-water mark of this call's module.
      memory = this.engine?.memoryBytes;
      if (!outcome.ok) {
        this.recover(outcome.failure.kind);
        return fail(outcome.failure);
      }
      if (exceedsUtf8(outcome.json, limits.max_output_bytes)) {
        return fail({
          kind: 'output_limit',
          message: `result is larger than ${limits.max_output_bytes} bytes`,
        });
      }
      return { ok: true, value: JSON.parse(outcome.json) as JsonValue, usage: usage() };
    } catch (error) {
      // A BackendFault or anything unexpected: the module may be aborted, so start over.
      this.recover('backend_failure');
      return fail({
        kind: 'backend_failure',
        message: faultMessage(error),
      });
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

  private recover(kind: SandboxFailure['kind']): void {
    if (!RELOAD_AFTER.has(kind)) return;
    // 'per-call': the call's memory is already back to the loaded state; only a module whose
    // memory ran out or that faulted needs replacing.
    if (this.fresh === 'per-call' && !REPLACE_ENGINE_AFTER.has(kind)) return;
    this.release();
    if (REPLACE_ENGINE_AFTER.has(kind)) this.dropEngine();
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
    this.onDispose();
  }
}

function toJson(input: JsonValue): string | undefined {
  try {
    return JSON.stringify(input);
  } catch {
    return undefined;
  }
}

function faultMessage(error: unknown): string {
  return sanitizeFailureMessage(
    error instanceof BackendFault ? error.message : describeHostError(error),
  );
}
