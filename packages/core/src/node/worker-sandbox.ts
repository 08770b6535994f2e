import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { isAbsolute, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ResourceLimits, Worker } from 'node:worker_threads';
import {
  holdsAvailability,
  type InvokeResult,
  type JsonValue,
  type LoadedPolicy,
  type PolicyLanguage,
  type PolicySource,
  resolveLimits,
  type SandboxBackend,
  type SandboxCapabilities,
  type SandboxFailure,
  type SandboxLimits,
  SandboxLoadError,
  sanitizeFailureMessage,
} from '../sandbox/contract.ts';
import { SANDBOX_WORKER_SOURCE } from './sandbox-worker.ts';

/**
 * The `worker` execution mode for any sandbox backend. Every backend runs a guest on the thread
 * that calls it, so a runaway policy blocks that thread until its limit stops it (and the trusted
 * backend cannot stop it at all). `workerSandbox` runs the backend in a pool of worker threads
 * instead: the host's event loop keeps answering while a policy burns its budget, and a host-side
 * watchdog terminates a worker that has not answered by `timeout_ms + graceMs`, so every backend
 * gets a hard kill. The price is a thread hop per call (measured in docs/sandboxes/choosing.md).
 *
 * Scheduling: one shared FIFO queue, and each worker runs one request at a time. A call goes to
 * an idle worker (preferring one that already has the policy loaded), and a policy is loaded
 * lazily into each worker the first time a call for it lands there. So a runaway call occupies
 * exactly one worker and the others keep draining the queue — pinning policies to workers would
 * instead stall every policy that shares the runaway's worker. One request per worker also means
 * the watchdog measures the call itself, never time spent queued behind another call.
 */

export interface WorkerSandboxOptions {
  /**
   * The backend factory to call inside each worker: `module` is resolved in the host (from
   * `resolveFrom`) to an absolute file URL, `export` names the factory, and `options` (JSON, as
   * it crosses to the worker) is its argument, e.g. `{ module: '@wardwright/sandbox-quickjs',
   * export: 'quickjsSandbox' }`.
   */
  backend: { module: string; export: string; options?: JsonValue };
  /**
   * Where `backend.module` is resolved from, with Node's `require` resolution: a file (pass
   * `import.meta.url`) or a directory ending in `/`. Default: the current working directory.
   */
  resolveFrom?: string | URL;
  /** Worker threads in the pool, all started up front. Default `min(4, availableParallelism())`. */
  threads?: number;
  /** Default: the inner backend's name + `+worker`. */
  name?: string;
  /** How long past a call's `timeout_ms` the host waits before it terminates the worker. Default 100. */
  graceMs?: number;
  /** How long the host waits for a worker to start, or for a policy to load in one. Default 10 000. */
  loadTimeoutMs?: number;
  /** Passed to `new Worker`: e.g. `maxOldGenerationSizeMb`, a hard heap cap per worker. */
  resourceLimits?: ResourceLimits;
  /**
   * Passed to `new Worker` (default: the process's own). Node refuses process-wide flags here:
   * `--no-node-snapshot`, which isolated-vm needs, goes on the `node` command line or in
   * `NODE_OPTIONS`, and the workers inherit it.
   */
  execArgv?: string[];
  /** Told when a worker starts or ends, and why: for logs and metrics. Must not throw. */
  onWorkerEvent?: (event: WorkerSandboxEvent) => void;
}

export type WorkerExitCause =
  /** The watchdog terminated a worker that ran past `timeout_ms + graceMs` (or `loadTimeoutMs`). */
  | 'watchdog'
  /** The worker ran out of its `resourceLimits` heap. */
  | 'out_of_memory'
  /** The worker exited or threw on its own. */
  | 'crashed'
  /** The backend module did not start in the worker. */
  | 'start_failed'
  | 'disposed';

export type WorkerSandboxEvent =
  | { type: 'spawn'; slot: number; threadId: number }
  | { type: 'exit'; slot: number; threadId: number; cause: WorkerExitCause; exitCode: number };

interface PolicyRecord {
  readonly id: number;
  readonly source: PolicySource;
  readonly loadLimits: Partial<SandboxLimits> | undefined;
  /** `loadLimits` over the defaults, for the watchdog of calls that bring no limits. */
  readonly limits: Readonly<SandboxLimits>;
  disposed: boolean;
}

interface BackendInfo {
  name: string;
  language: PolicyLanguage;
  capabilities: SandboxCapabilities;
}

type Reply =
  | ({ t: 'ready' } & BackendInfo)
  | { t: 'init_error'; message: string }
  | { t: 'loaded'; entries: string[] }
  | { t: 'load_error'; failure: SandboxFailure; typed: boolean }
  | { t: 'result'; json: string }
  | { t: 'failed'; message: string }
  /** Made by the host: the worker was terminated or died before it answered. */
  | { t: 'lost'; failure: SandboxFailure };

interface Pending {
  resolve: (reply: Reply) => void;
  timer: NodeJS.Timeout;
  /** The answer when the watchdog fires. */
  overdue: SandboxFailure;
}

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  state: 'empty' | 'starting' | 'idle' | 'busy';
  readonly loaded: Set<PolicyRecord>;
  pending: Pending | undefined;
}

interface Job {
  readonly policy: PolicyRecord;
  run(slot: Slot): Promise<void>;
  /** Answer without running: the backend was disposed, or no worker can start. */
  abandon(failure: SandboxFailure): void;
}

type LoadOutcome = { entries: string[] } | { error: Error };

const DEFAULT_GRACE_MS = 100;
const DEFAULT_LOAD_TIMEOUT_MS = 10_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Start a worker-mode backend. Resolves once the first worker is up, because the inner backend's
 * name, language and capabilities come from that worker (the contract needs them synchronously,
 * and asking the caller to repeat them would let them drift from the real backend). Rejects when
 * the module cannot be resolved or the backend does not start.
 */
export async function workerSandbox(options: WorkerSandboxOptions): Promise<SandboxBackend> {
  const threads = options.threads ?? Math.min(4, availableParallelism());
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`workerSandbox: threads must be a positive integer, got ${threads}`);
  }
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const loadTimeoutMs = options.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS;
  for (const [key, value] of [
    ['graceMs', graceMs],
    ['loadTimeoutMs', loadTimeoutMs],
  ] as const) {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`workerSandbox: ${key} must be a non-negative number, got ${value}`);
    }
  }
  const pool = new WorkerPool(
    {
      module: resolveBackendModule(options.backend.module, options.resolveFrom),
      export: options.backend.export,
      options: options.backend.options,
    },
    threads,
    graceMs,
    loadTimeoutMs,
    options,
  );
  const info = await pool.boot();
  return pool.backend(info, options.name ?? `${info.name}+worker`);
}

/** Workers get an absolute file URL, so what they load never depends on their own location. */
function resolveBackendModule(specifier: string, from: string | URL | undefined): string {
  if (specifier.startsWith('file:')) return specifier;
  if (isAbsolute(specifier)) return pathToFileURL(specifier).href;
  const base = from ?? `${process.cwd()}${sep}`;
  try {
    return pathToFileURL(createRequire(base).resolve(specifier)).href;
  } catch (error) {
    throw new Error(
      `workerSandbox: cannot resolve the backend module ${specifier} from ${String(base)}: ${firstLine(error)}`,
    );
  }
}

class WorkerPool {
  private readonly slots: Slot[];
  private readonly queue: Job[] = [];
  private readonly policies = new Set<PolicyRecord>();
  /** Why the host ended a worker; an exit without an entry here was not the host's doing. */
  private readonly causes = new WeakMap<Worker, WorkerExitCause>();
  private nextPolicyId = 1;
  private disposed = false;

  constructor(
    private readonly workerData: {
      module: string;
      export: string;
      options: JsonValue | undefined;
    },
    threads: number,
    private readonly graceMs: number,
    private readonly loadTimeoutMs: number,
    private readonly options: WorkerSandboxOptions,
  ) {
    this.slots = Array.from({ length: threads }, (_, index) => ({
      index,
      worker: undefined,
      state: 'empty',
      loaded: new Set(),
      pending: undefined,
    }));
  }

  /**
   * Every worker starts now, not on first use: starting one (a thread, the backend module, its
   * WebAssembly or native setup) takes tens to hundreds of milliseconds, which would otherwise
   * land on the first call that finds the others busy — exactly when a runaway is running.
   */
  async boot(): Promise<BackendInfo> {
    const replies = await Promise.all(this.slots.map((slot) => this.start(slot)));
    const broken = replies.find((reply) => reply.t !== 'ready');
    if (broken !== undefined) {
      await this.dispose();
      const message = broken.t === 'lost' ? broken.failure.message : replyMessage(broken);
      throw new Error(`workerSandbox: the backend did not start in a worker: ${message}`);
    }
    return replies[0] as BackendInfo;
  }

  /** Replace a worker that was working: the pool stays at full strength for the next burst. */
  private respawn(slot: Slot): void {
    if (!this.disposed) void this.start(slot).then((reply) => this.started(reply));
  }

  backend(info: BackendInfo, name: string): SandboxBackend {
    return {
      specificationVersion: 'v1',
      name,
      language: info.language,
      // The host can always terminate the worker, whatever the inner backend can stop itself.
      capabilities: Object.freeze({
        ...info.capabilities,
        hardKill: true,
        execution: 'worker',
        availability: holdsAvailability('worker', info.capabilities.containedBy ?? 'none'),
      }),
      load: (source, limits) => this.load(source, limits),
      dispose: () => this.dispose(),
    };
  }

  private async load(
    source: PolicySource,
    loadLimits: Partial<SandboxLimits> | undefined,
  ): Promise<LoadedPolicy> {
    const record: PolicyRecord = {
      id: this.nextPolicyId++,
      // Only the contract's fields cross, so an extra property cannot break structured clone.
      source: {
        name: source.name,
        language: source.language,
        code: source.code,
        ...(source.filename === undefined ? {} : { filename: source.filename }),
      },
      loadLimits: loadLimits === undefined ? undefined : { ...loadLimits },
      limits: resolveLimits(loadLimits),
      disposed: false,
    };
    const outcome = await new Promise<LoadOutcome>((resolve) => {
      this.submit({
        policy: record,
        run: async (slot) => resolve(await this.loadIn(slot, record)),
        abandon: (failure) => resolve({ error: new SandboxLoadError(source.name, failure) }),
      });
    });
    if ('error' in outcome) throw outcome.error;
    this.policies.add(record);
    return this.policy(record, Object.freeze([...outcome.entries]));
  }

  private policy(record: PolicyRecord, entries: readonly string[]): LoadedPolicy {
    return {
      entries,
      invoke: async (entry, input, callLimits) => {
        const start = performance.now();
        const result = await this.invoke(record, entries, entry, input, callLimits);
        // The host's clock: what the caller waited, queue and thread hop included.
        return { ...result, usage: { ...result.usage, wall_ms: performance.now() - start } };
      },
      dispose: async () => {
        record.disposed = true;
        this.policies.delete(record);
        for (const slot of this.slots) this.unload(slot, record);
      },
    };
  }

  private async invoke(
    record: PolicyRecord,
    entries: readonly string[],
    entry: string,
    input: JsonValue,
    callLimits: Partial<SandboxLimits> | undefined,
  ): Promise<InvokeResult> {
    if (record.disposed || this.disposed) {
      return failed({ kind: 'backend_failure', message: 'the policy is disposed' });
    }
    // Answered here to save the hop; the message is the one every backend gives.
    if (!entries.includes(entry)) {
      return failed({ kind: 'missing_entry', message: `the policy defines no function ${entry}` });
    }
    let inputJson: string | undefined;
    try {
      inputJson = JSON.stringify(input);
    } catch {
      inputJson = undefined;
    }
    if (inputJson === undefined) {
      return failed({ kind: 'input_limit', message: 'input is not a JSON value' });
    }
    const limits =
      callLimits === undefined ? record.limits : resolveLimits(record.loadLimits, callLimits);
    // The policy in the worker was loaded with `loadLimits`: a call without limits sends none
    // (nothing to clone or merge again there); one with limits sends them resolved, known keys only.
    const message = {
      t: 'invoke',
      id: record.id,
      entry,
      input: inputJson,
      limits: callLimits === undefined ? undefined : limits,
    };
    return new Promise<InvokeResult>((resolve) => {
      this.submit({
        policy: record,
        abandon: (failure) => resolve(failed(failure)),
        run: async (slot) => {
          if (record.disposed) {
            return resolve(failed({ kind: 'backend_failure', message: 'the policy is disposed' }));
          }
          if (!slot.loaded.has(record)) {
            const outcome = await this.loadIn(slot, record);
            if ('error' in outcome) {
              const failure = SandboxLoadError.isInstance(outcome.error)
                ? outcome.error.failure
                : { kind: 'backend_failure' as const, message: outcome.error.message };
              return resolve(
                failed({
                  ...failure,
                  message: sanitizeFailureMessage(
                    `loading the policy in a worker: ${failure.message}`,
                  ),
                }),
              );
            }
          }
          const reply = await this.request(slot, message, limits.timeout_ms + this.graceMs, {
            kind: 'timeout',
            message: `ran over the ${limits.timeout_ms} ms limit; the worker was terminated`,
          });
          resolve(toInvokeResult(reply));
        },
      });
    });
  }

  private async loadIn(slot: Slot, record: PolicyRecord): Promise<LoadOutcome> {
    const reply = await this.request(
      slot,
      { t: 'load', id: record.id, source: record.source, limits: record.loadLimits },
      this.loadTimeoutMs,
      {
        kind: 'timeout',
        message: `loading took longer than ${this.loadTimeoutMs} ms; the worker was terminated`,
      },
    );
    if (reply.t === 'loaded') {
      slot.loaded.add(record);
      // Disposed while it was loading here: nothing will ever unload it otherwise.
      if (record.disposed) this.unload(slot, record);
      return { entries: reply.entries };
    }
    if (reply.t === 'load_error' && !reply.typed)
      return { error: new Error(reply.failure.message) };
    const failure: SandboxFailure =
      reply.t === 'load_error' || reply.t === 'lost'
        ? reply.failure
        : { kind: 'backend_failure', message: replyMessage(reply) };
    return { error: new SandboxLoadError(record.source.name, failure) };
  }

  private unload(slot: Slot, record: PolicyRecord): void {
    if (!slot.loaded.delete(record)) return;
    slot.worker?.postMessage({ t: 'unload', id: record.id });
  }

  private submit(job: Job): void {
    if (this.disposed) {
      job.abandon({ kind: 'backend_failure', message: 'the backend is disposed' });
      return;
    }
    this.queue.push(job);
    this.pump();
  }

  /** Hand queued jobs to idle workers, and start workers for what is left. */
  private pump(): void {
    while (this.queue.length > 0) {
      const job = this.queue[0]!;
      const idle = this.slots.filter((slot) => slot.state === 'idle');
      const slot = idle.find((s) => s.loaded.has(job.policy)) ?? idle[0];
      if (slot === undefined) break;
      this.queue.shift();
      void this.run(slot, job);
    }
    // Only a slot whose start failed is empty here; it is retried when a call needs it.
    let wanted = this.queue.length - this.slots.filter((slot) => slot.state === 'starting').length;
    for (const slot of this.slots) {
      if (wanted <= 0) break;
      if (slot.state !== 'empty') continue;
      wanted--;
      void this.start(slot).then((reply) => this.started(reply));
    }
  }

  private started(reply: Reply): void {
    if (reply.t === 'ready') {
      this.pump();
      return;
    }
    // The calls waiting for this worker are answered rather than retried: a backend that no
    // longer starts (its module gone, a crash on import) would otherwise respawn in a loop.
    const message = sanitizeFailureMessage(
      `a worker could not start: ${reply.t === 'lost' ? reply.failure.message : replyMessage(reply)}`,
    );
    for (const job of this.queue.splice(0)) job.abandon({ kind: 'backend_failure', message });
  }

  private async run(slot: Slot, job: Job): Promise<void> {
    const worker = slot.worker!;
    slot.state = 'busy';
    // A worker with work in flight keeps the process alive; an idle one never does.
    worker.ref();
    try {
      await job.run(slot);
    } finally {
      // Unless the worker was replaced meanwhile (and its successor may be busy with another job).
      if (slot.worker === worker) {
        slot.state = 'idle';
        worker.unref();
      }
      this.pump();
    }
  }

  private start(slot: Slot): Promise<Reply> {
    const worker = new Worker(SANDBOX_WORKER_SOURCE, {
      eval: true,
      workerData: this.workerData,
      ...(this.options.resourceLimits === undefined
        ? {}
        : { resourceLimits: this.options.resourceLimits }),
      ...(this.options.execArgv === undefined ? {} : { execArgv: this.options.execArgv }),
    });
    slot.worker = worker;
    slot.state = 'starting';
    const threadId = worker.threadId;
    let lastError: unknown;
    worker.on('message', (reply: Reply) => {
      if (slot.worker !== worker) return;
      const pending = slot.pending;
      if (pending === undefined) return;
      slot.pending = undefined;
      clearTimeout(pending.timer);
      if (reply.t === 'init_error') {
        this.causes.set(worker, 'start_failed');
        this.retire(slot);
        void worker.terminate();
      }
      pending.resolve(reply);
    });
    // Without a listener, an error in the worker would be thrown in the host.
    worker.on('error', (error) => {
      lastError = error;
    });
    worker.on('exit', (exitCode) => {
      let cause = this.causes.get(worker);
      if (slot.worker === worker) {
        // Nobody asked it to stop: a crash, an exit from inside, or its heap cap.
        const outOfMemory = (lastError as { code?: unknown })?.code === 'ERR_WORKER_OUT_OF_MEMORY';
        cause = outOfMemory ? 'out_of_memory' : 'crashed';
        const failure: SandboxFailure = outOfMemory
          ? {
              kind: 'memory_limit',
              message: 'the worker ran out of its heap limit and was replaced',
            }
          : {
              kind: 'backend_failure',
              message: sanitizeFailureMessage(
                lastError === undefined
                  ? `the worker exited with code ${exitCode} and was replaced`
                  : `the worker crashed and was replaced: ${firstLine(lastError)}`,
              ),
            };
        // A worker that dies while starting is answered by `started`, and not respawned: it
        // would most likely die again.
        const wasStarting = slot.state === 'starting';
        this.retire(slot)?.resolve({ t: 'lost', failure });
        if (!wasStarting) this.respawn(slot);
      }
      this.emit({ type: 'exit', slot: slot.index, threadId, cause: cause ?? 'crashed', exitCode });
    });
    this.emit({ type: 'spawn', slot: slot.index, threadId });
    return new Promise<Reply>((resolve) => {
      slot.pending = {
        resolve: (reply) => {
          if (reply.t === 'ready' && slot.worker === worker) {
            slot.state = 'idle';
            worker.unref();
          }
          resolve(reply);
        },
        timer: setTimeout(() => this.kill(slot, false), Math.min(this.loadTimeoutMs, MAX_TIMER_MS)),
        overdue: {
          kind: 'timeout',
          message: `the worker did not start within ${this.loadTimeoutMs} ms`,
        },
      };
    });
  }

  /** One request to one worker, answered by the worker, or by the watchdog after `watchdogMs`. */
  private request(
    slot: Slot,
    message: Record<string, unknown>,
    watchdogMs: number,
    overdue: SandboxFailure,
  ): Promise<Reply> {
    const worker = slot.worker!;
    return new Promise<Reply>((resolve) => {
      slot.pending = {
        resolve,
        // Node fires a timer longer than 2^31 - 1 ms after 1 ms: a huge limit must not kill.
        timer: setTimeout(() => this.kill(slot, true), Math.min(watchdogMs, MAX_TIMER_MS)),
        overdue,
      };
      try {
        worker.postMessage(message);
      } catch (error) {
        // Something in the limits or the source that structured clone refuses (a function…).
        clearTimeout(slot.pending.timer);
        slot.pending = undefined;
        resolve({
          t: 'failed',
          message: `could not send the request to the worker: ${firstLine(error)}`,
        });
      }
    });
  }

  /** The watchdog: terminate the worker and answer its request with the overdue failure. */
  private kill(slot: Slot, respawn: boolean): void {
    const worker = slot.worker!;
    const pending = this.retire(slot)!;
    this.causes.set(worker, 'watchdog');
    void worker.terminate();
    pending.resolve({ t: 'lost', failure: pending.overdue });
    if (respawn) this.respawn(slot);
  }

  /** Forget a slot's worker (its policies go with it) and hand back its unanswered request. */
  private retire(slot: Slot): Pending | undefined {
    const pending = slot.pending;
    if (pending !== undefined) clearTimeout(pending.timer);
    slot.pending = undefined;
    slot.worker = undefined;
    slot.state = 'empty';
    slot.loaded.clear();
    return pending;
  }

  private async dispose(): Promise<void> {
    this.disposed = true;
    for (const record of this.policies) record.disposed = true;
    this.policies.clear();
    for (const job of this.queue.splice(0)) {
      job.abandon({ kind: 'backend_failure', message: 'the backend is disposed' });
    }
    await Promise.all(
      this.slots.map(async (slot) => {
        const worker = slot.worker;
        if (worker === undefined) return;
        this.causes.set(worker, 'disposed');
        this.retire(slot)?.resolve({
          t: 'lost',
          failure: { kind: 'backend_failure', message: 'the backend was disposed during the call' },
        });
        await worker.terminate();
      }),
    );
  }

  private emit(event: WorkerSandboxEvent): void {
    try {
      this.options.onWorkerEvent?.(event);
    } catch {
      // A logging hook that throws must not leave a worker half-replaced.
    }
  }
}

function failed(failure: SandboxFailure): InvokeResult {
  return { ok: false, failure, usage: { wall_ms: 0 } };
}

function toInvokeResult(reply: Reply): InvokeResult {
  if (reply.t === 'result') return JSON.parse(reply.json) as InvokeResult;
  if (reply.t === 'lost') return failed(reply.failure);
  return failed({ kind: 'backend_failure', message: replyMessage(reply) });
}

function replyMessage(reply: Reply): string {
  return sanitizeFailureMessage(
    'message' in reply && typeof reply.message === 'string'
      ? reply.message
      : `unexpected reply ${reply.t} from the worker`,
  );
}

function firstLine(error: unknown): string {
  return sanitizeFailureMessage(error instanceof Error ? error.message : String(error));
}
