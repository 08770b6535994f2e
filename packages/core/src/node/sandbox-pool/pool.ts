import { createRequire } from 'node:module';
import { isAbsolute, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type InvokeResult,
  type JsonValue,
  type PolicyLanguage,
  type PolicySource,
  type SandboxBackend,
  type SandboxCapabilities,
  type SandboxFailure,
  type SandboxLimits,
  SandboxLoadError,
  sanitizeFailureMessage,
} from '../../sandbox/contract.ts';
import {
  defineSandboxBackend,
  type GuestCall,
  type GuestOutcome,
  type GuestPolicy,
} from '../../sandbox/define-backend.ts';
import type { FramedMessage } from './frames.ts';
import type { Executor, ExecutorExit, ExecutorInit, Transport } from './transports.ts';

/**
 * A pool of executors (worker threads or child processes) that run any sandbox backend, so the
 * host's event loop keeps answering while a policy burns its budget, and a host-side watchdog
 * ends an executor that has not answered by `timeout_ms + graceMs`: every backend gets a hard
 * kill. A process executor also survives what a thread cannot contain: a native addon that
 * aborts the process (isolated-vm on some out-of-memory paths) takes only that process down.
 *
 * Scheduling: one shared FIFO queue, and each executor runs one request at a time. A call goes
 * to an idle executor (preferring one that already has the policy loaded), and a policy is loaded
 * lazily into each executor the first time a call for it lands there. So a runaway call occupies
 * exactly one executor and the others keep draining the queue — pinning policies to executors
 * would instead stall every policy that shares the runaway's. One request per executor also means
 * the watchdog measures the call itself, never time spent queued behind another call.
 *
 * Restart storms: a policy whose calls keep losing their executor (the watchdog ended it, or it
 * crashed) is refused for a while after the third loss in a row — 250 ms, doubling per further
 * loss up to 30 s — so one policy that kills its executor on every call cannot keep every
 * executor restarting and starve the others. A call that completes resets the count.
 */

export interface SandboxPoolOptions {
  /**
   * The backend factory to call inside each executor: `module` is resolved in the host (from
   * `resolveFrom`) to an absolute file URL, `export` names the factory, and `options` (JSON, as
   * it crosses to the executor) is its argument, e.g. `{ module: '@wardwright/sandbox-quickjs',
   * export: 'quickjsSandbox' }`.
   */
  backend: { module: string; export: string; options?: JsonValue };
  /**
   * Where `backend.module` is resolved from, with Node's `require` resolution: a file (pass
   * `import.meta.url`) or a directory ending in `/`. Default: the current working directory.
   */
  resolveFrom?: string | URL;
  /** Default: the inner backend's name + `+worker` or `+process`. */
  name?: string;
  /** How long past a call's `timeout_ms` the host waits before it ends the executor. Default 100. */
  graceMs?: number;
  /** How long the host waits for an executor to start, or for a policy to load in one. Default 10 000. */
  loadTimeoutMs?: number;
}

/** Why an executor ended, as the pool saw it. */
export type ExecutorExitCause =
  /** The watchdog ended an executor that ran past `timeout_ms + graceMs` (or `loadTimeoutMs`). */
  | 'watchdog'
  /** A worker ran out of its `resourceLimits` heap. */
  | 'out_of_memory'
  /** The executor exited, threw or was killed by a signal on its own. */
  | 'crashed'
  /** The backend module did not start in the executor. */
  | 'start_failed'
  | 'disposed';

export type SandboxPoolEvent =
  | { type: 'spawn'; slot: number; id: number }
  | {
      type: 'exit';
      slot: number;
      id: number;
      cause: ExecutorExitCause;
      exitCode: number | null;
      signal: NodeJS.Signals | null;
    }
  /** A policy was refused for a while after its calls kept losing their executor. */
  | { type: 'cooldown'; policy: string; losses: number; ms: number };

interface PolicyRecord {
  readonly id: number;
  readonly source: PolicySource;
  readonly loadLimits: Partial<SandboxLimits> | undefined;
  disposed: boolean;
  /** Calls in a row that lost their executor. */
  losses: number;
  /** The last such loss: what a refused call answers, and when it may run again. */
  cooldown: { until: number; failure: SandboxFailure } | undefined;
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
  | { t: 'result'; body: string }
  | { t: 'failed'; message: string }
  /** Made by the host: the executor was ended or died before it answered. */
  | { t: 'lost'; failure: SandboxFailure; cause: ExecutorExitCause };

interface Pending {
  resolve: (reply: Reply) => void;
  timer: NodeJS.Timeout;
  /** The answer when the watchdog fires. */
  overdue: SandboxFailure;
}

interface Slot {
  readonly index: number;
  executor: Executor | undefined;
  state: 'empty' | 'starting' | 'idle' | 'busy';
  readonly loaded: Set<PolicyRecord>;
  pending: Pending | undefined;
}

interface Job {
  readonly policy: PolicyRecord;
  run(slot: Slot): Promise<void>;
  /** Answer without running: the pool was disposed, or no executor can start. */
  abandon(failure: SandboxFailure): void;
}

type LoadOutcome = { entries: string[] } | { error: SandboxLoadError };

const DEFAULT_GRACE_MS = 100;
const DEFAULT_LOAD_TIMEOUT_MS = 10_000;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Losses in a row a policy may have before it is refused for a while. */
const LOSSES_BEFORE_COOLDOWN = 3;
const FIRST_COOLDOWN_MS = 250;
const MAX_COOLDOWN_MS = 30_000;

/** Validate the options every pool shares; throws a RangeError naming the bad one. */
export function poolSettings(
  options: SandboxPoolOptions,
  size: number,
  sizeName: string,
): { graceMs: number; loadTimeoutMs: number } {
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(`${sizeName} must be a positive integer, got ${size}`);
  }
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const loadTimeoutMs = options.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS;
  for (const [key, value] of [
    ['graceMs', graceMs],
    ['loadTimeoutMs', loadTimeoutMs],
  ] as const) {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`${key} must be a non-negative number, got ${value}`);
    }
  }
  return { graceMs, loadTimeoutMs };
}

/**
 * Start a pool and resolve once every executor is up, because the inner backend's name, language
 * and capabilities come from an executor (the contract needs them synchronously, and asking the
 * caller to repeat them would let them drift from the real backend). Rejects when the module
 * cannot be resolved or the backend does not start.
 */
export async function startSandboxPool(
  transport: Transport,
  options: SandboxPoolOptions,
  size: number,
  settings: { graceMs: number; loadTimeoutMs: number },
  onEvent: ((event: SandboxPoolEvent) => void) | undefined,
  what: string,
): Promise<SandboxBackend> {
  const init: ExecutorInit = {
    module: resolveBackendModule(options.backend.module, options.resolveFrom, what),
    export: options.backend.export,
    options: options.backend.options,
  };
  const pool = new SandboxPool(transport, init, size, settings, onEvent);
  const info = await pool.boot(what);
  return pool.backend(info, options.name ?? `${info.name}+${transport.mode}`);
}

/** Executors get an absolute file URL, so what they load never depends on their own location. */
function resolveBackendModule(
  specifier: string,
  from: string | URL | undefined,
  what: string,
): string {
  if (specifier.startsWith('file:')) return specifier;
  if (isAbsolute(specifier)) return pathToFileURL(specifier).href;
  const base = from ?? `${process.cwd()}${sep}`;
  try {
    return pathToFileURL(createRequire(base).resolve(specifier)).href;
  } catch (error) {
    throw new Error(
      `${what}: cannot resolve the backend module ${specifier} from ${String(base)}: ${firstLine(error)}`,
    );
  }
}

class SandboxPool {
  private readonly slots: Slot[];
  private readonly queue: Job[] = [];
  private readonly policies = new Set<PolicyRecord>();
  /** Why the host ended an executor; an exit without an entry here was not the host's doing. */
  private readonly causes = new WeakMap<Executor, ExecutorExitCause>();
  /** Told when an executor that `dispose` is waiting for has exited. */
  private readonly onGone = new WeakMap<Executor, () => void>();
  private nextPolicyId = 1;
  /** How the watchdog's failures say what it did. */
  private readonly ended: string;
  private disposed = false;

  constructor(
    private readonly transport: Transport,
    private readonly init: ExecutorInit,
    size: number,
    private readonly settings: { graceMs: number; loadTimeoutMs: number },
    private readonly onEvent: ((event: SandboxPoolEvent) => void) | undefined,
  ) {
    this.ended =
      transport.mode === 'worker' ? 'the worker was terminated' : 'the process was killed';
    this.slots = Array.from({ length: size }, (_, index) => ({
      index,
      executor: undefined,
      state: 'empty',
      loaded: new Set(),
      pending: undefined,
    }));
  }

  /**
   * Every executor starts now, not on first use: starting one (a thread or a process, the backend
   * module, its WebAssembly or native setup) takes tens to hundreds of milliseconds, which would
   * otherwise land on the first call that finds the others busy — exactly when a runaway is
   * running.
   */
  async boot(what: string): Promise<BackendInfo> {
    const replies = await Promise.all(this.slots.map((slot) => this.start(slot)));
    const broken = replies.find((reply) => reply.t !== 'ready');
    if (broken !== undefined) {
      await this.dispose();
      const message = broken.t === 'lost' ? broken.failure.message : replyMessage(broken);
      throw new Error(`${what}: the backend did not start in a ${this.transport.mode}: ${message}`);
    }
    return replies[0] as BackendInfo;
  }

  backend(info: BackendInfo, name: string): SandboxBackend {
    const { execution: _, availability: __, ...inner } = info.capabilities;
    return defineSandboxBackend({
      name,
      language: info.language,
      capabilities: {
        ...inner,
        // An executor without it (a backend of your own) is contained by nothing we know of.
        containedBy: inner.containedBy ?? 'none',
        // The host can always end the executor, whatever the inner backend can stop itself.
        hardKill: true,
        execution: this.transport.mode,
      },
      // The inner backend checked its own memory limit, against its own accounting.
      memoryCeiling: () => Number.POSITIVE_INFINITY,
      load: (source, _limits, loadLimits) => this.load(source, loadLimits),
      dispose: () => this.dispose(),
    });
  }

  private async load(
    source: PolicySource,
    loadLimits: Partial<SandboxLimits> | undefined,
  ): Promise<GuestPolicy> {
    const record: PolicyRecord = {
      id: this.nextPolicyId++,
      // Only the contract's fields cross, so an extra property cannot break the message.
      source: {
        name: source.name,
        language: source.language,
        code: source.code,
        ...(source.filename === undefined ? {} : { filename: source.filename }),
      },
      loadLimits: loadLimits === undefined ? undefined : { ...loadLimits },
      disposed: false,
      losses: 0,
      cooldown: undefined,
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
    return {
      entries: outcome.entries,
      call: (call) => this.invoke(record, call),
      dispose: () => {
        record.disposed = true;
        this.policies.delete(record);
        for (const slot of this.slots) this.unload(slot, record);
      },
    };
  }

  private invoke(record: PolicyRecord, call: GuestCall): Promise<GuestOutcome> {
    const refused = this.refusal(record);
    if (refused !== undefined) return Promise.resolve({ ok: false, failure: refused });
    const { limits } = call;
    // The policy in the executor was loaded with its load limits: a call without limits sends
    // none (nothing to merge again there); one with limits sends them resolved, known keys only.
    const message: FramedMessage = {
      t: 'invoke',
      id: record.id,
      entry: call.entry,
      ...(call.callLimits === undefined ? {} : { limits }),
      body: call.json,
    };
    return new Promise<GuestOutcome>((resolve) => {
      this.submit({
        policy: record,
        abandon: (failure) => resolve({ ok: false, failure }),
        run: async (slot) => {
          if (record.disposed) {
            return resolve({
              ok: false,
              failure: { kind: 'backend_failure', message: 'the policy is disposed' },
            });
          }
          // Refused while it waited: an earlier call of the policy lost its executor meanwhile.
          const late = this.refusal(record);
          if (late !== undefined) return resolve({ ok: false, failure: late });
          if (!slot.loaded.has(record)) {
            const outcome = await this.loadIn(slot, record);
            if ('error' in outcome) {
              const failure = outcome.error.failure;
              return resolve({
                ok: false,
                failure: {
                  ...failure,
                  message: `loading the policy in a ${this.transport.mode}: ${failure.message}`,
                },
              });
            }
          }
          const reply = await this.request(
            slot,
            message,
            limits.timeout_ms + this.settings.graceMs,
            {
              kind: 'timeout',
              message: `ran over the ${limits.timeout_ms} ms limit; ${this.ended}`,
            },
          );
          resolve(this.outcome(record, reply));
        },
      });
    });
  }

  /** The failure a policy in its cool-down gets without running, or undefined. */
  private refusal(record: PolicyRecord): SandboxFailure | undefined {
    const cooldown = record.cooldown;
    if (cooldown === undefined) return;
    const left = cooldown.until - performance.now();
    if (left <= 0) return;
    return {
      kind: cooldown.failure.kind,
      message: sanitizeFailureMessage(
        `refused for another ${Math.ceil(left)} ms: the last ${record.losses} calls lost their ${this.transport.mode} (${cooldown.failure.message})`,
      ),
    };
  }

  private outcome(record: PolicyRecord, reply: Reply): GuestOutcome {
    if (reply.t === 'lost') {
      record.losses++;
      if (record.losses >= LOSSES_BEFORE_COOLDOWN) {
        const ms = Math.min(
          MAX_COOLDOWN_MS,
          FIRST_COOLDOWN_MS * 2 ** (record.losses - LOSSES_BEFORE_COOLDOWN),
        );
        record.cooldown = { until: performance.now() + ms, failure: reply.failure };
        this.emit({ type: 'cooldown', policy: record.source.name, losses: record.losses, ms });
      }
      return { ok: false, failure: reply.failure };
    }
    record.losses = 0;
    record.cooldown = undefined;
    if (reply.t !== 'result') {
      return { ok: false, failure: { kind: 'backend_failure', message: replyMessage(reply) } };
    }
    let result: InvokeResult;
    try {
      result = JSON.parse(reply.body) as InvokeResult;
    } catch {
      return {
        ok: false,
        failure: { kind: 'backend_failure', message: 'the executor answered something not JSON' },
      };
    }
    const { wall_ms, ...rest } = result.usage ?? { wall_ms: 0 };
    // The executor's clock: the guest's own time, without the queue and the hop.
    const usage = { ...rest, guest_ms: wall_ms };
    return result.ok
      ? { ok: true, value: result.value, usage }
      : { ok: false, failure: result.failure, usage };
  }

  private async loadIn(slot: Slot, record: PolicyRecord): Promise<LoadOutcome> {
    const { source } = record;
    const reply = await this.request(
      slot,
      {
        t: 'load',
        id: record.id,
        name: source.name,
        language: source.language,
        ...(source.filename === undefined ? {} : { filename: source.filename }),
        ...(record.loadLimits === undefined ? {} : { limits: record.loadLimits }),
        body: source.code,
      },
      this.settings.loadTimeoutMs,
      {
        kind: 'timeout',
        message: `loading took longer than ${this.settings.loadTimeoutMs} ms; ${this.ended}`,
      },
    );
    if (reply.t === 'loaded') {
      slot.loaded.add(record);
      // Disposed while it was loading here: nothing will ever unload it otherwise.
      if (record.disposed) this.unload(slot, record);
      return { entries: reply.entries };
    }
    const failure: SandboxFailure =
      reply.t === 'load_error' && !reply.typed
        ? {
            kind: 'backend_failure',
            message: `the backend failed to load the policy: ${reply.failure.message}`,
          }
        : reply.t === 'load_error' || reply.t === 'lost'
          ? reply.failure
          : { kind: 'backend_failure', message: replyMessage(reply) };
    return { error: new SandboxLoadError(source.name, failure) };
  }

  private unload(slot: Slot, record: PolicyRecord): void {
    if (!slot.loaded.delete(record)) return;
    try {
      slot.executor?.send({ t: 'unload', id: record.id });
    } catch {
      // An executor that cannot take a message is on its way out, policies and all.
    }
  }

  private submit(job: Job): void {
    if (this.disposed) {
      job.abandon({ kind: 'backend_failure', message: 'the backend is disposed' });
      return;
    }
    this.queue.push(job);
    this.pump();
  }

  /** Hand queued jobs to idle executors, and start executors for what is left. */
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
    // The calls waiting for this executor are answered rather than retried: a backend that no
    // longer starts (its module gone, a crash on import) would otherwise respawn in a loop.
    const message = sanitizeFailureMessage(
      `a ${this.transport.mode} could not start: ${reply.t === 'lost' ? reply.failure.message : replyMessage(reply)}`,
    );
    for (const job of this.queue.splice(0)) job.abandon({ kind: 'backend_failure', message });
  }

  private async run(slot: Slot, job: Job): Promise<void> {
    const executor = slot.executor!;
    slot.state = 'busy';
    executor.ref();
    try {
      await job.run(slot);
    } finally {
      // Unless the executor was replaced meanwhile (its successor may be busy with another job).
      if (slot.executor === executor) {
        slot.state = 'idle';
        executor.unref();
      }
      this.pump();
    }
  }

  /** Replace an executor that was working: the pool stays at full strength for the next burst. */
  private respawn(slot: Slot): void {
    if (!this.disposed) void this.start(slot).then((reply) => this.started(reply));
  }

  private start(slot: Slot): Promise<Reply> {
    slot.state = 'starting';
    let executor: Executor | undefined;
    const ready = new Promise<Reply>((resolve) => {
      slot.pending = {
        resolve: (reply) => {
          if (reply.t === 'ready' && executor !== undefined && slot.executor === executor) {
            slot.state = 'idle';
            executor.unref();
          }
          resolve(reply);
        },
        timer: setTimeout(
          () => this.kill(slot, false),
          Math.min(this.settings.loadTimeoutMs, MAX_TIMER_MS),
        ),
        overdue: {
          kind: 'timeout',
          message: `the ${this.transport.mode} did not start within ${this.settings.loadTimeoutMs} ms`,
        },
      };
    });
    executor = this.transport.start(this.init, {
      message: (reply) => this.received(slot, executor!, reply as unknown as Reply),
      exit: (exit) => this.exited(slot, executor!, exit),
    });
    slot.executor = executor;
    this.emit({ type: 'spawn', slot: slot.index, id: executor.id });
    return ready;
  }

  private received(slot: Slot, executor: Executor, reply: Reply): void {
    if (slot.executor !== executor) return;
    const pending = slot.pending;
    if (pending === undefined) return;
    slot.pending = undefined;
    clearTimeout(pending.timer);
    if (reply.t === 'init_error') {
      this.causes.set(executor, 'start_failed');
      this.retire(slot);
      executor.kill();
    }
    pending.resolve(reply);
  }

  private exited(slot: Slot, executor: Executor, exit: ExecutorExit): void {
    let cause = this.causes.get(executor);
    if (slot.executor === executor) {
      // Nobody asked it to stop: a crash, an exit from inside, a signal, or its heap cap.
      cause = exit.outOfMemory ? 'out_of_memory' : 'crashed';
      const failure: SandboxFailure = exit.outOfMemory
        ? {
            kind: 'memory_limit',
            message: `the ${this.transport.mode} ran out of its heap limit and was replaced`,
          }
        : { kind: 'backend_failure', message: sanitizeFailureMessage(this.crashMessage(exit)) };
      // An executor that dies while starting is answered by `started`, and not respawned: it
      // would most likely die again.
      const wasStarting = slot.state === 'starting';
      this.retire(slot)?.resolve({ t: 'lost', failure, cause });
      if (!wasStarting) this.respawn(slot);
    }
    this.emit({
      type: 'exit',
      slot: slot.index,
      id: executor.id,
      cause: cause ?? 'crashed',
      exitCode: exit.code,
      signal: exit.signal,
    });
    this.onGone.get(executor)?.();
    this.onGone.delete(executor);
  }

  private crashMessage(exit: ExecutorExit): string {
    const mode = this.transport.mode;
    if (exit.signal !== null) return `the ${mode} was killed by ${exit.signal} and was replaced`;
    if (exit.error !== undefined) {
      return `the ${mode} crashed and was replaced: ${firstLine(exit.error)}`;
    }
    return `the ${mode} exited with code ${exit.code} and was replaced`;
  }

  /** One request to one executor, answered by it, or by the watchdog after `watchdogMs`. */
  private request(
    slot: Slot,
    message: FramedMessage,
    watchdogMs: number,
    overdue: SandboxFailure,
  ): Promise<Reply> {
    const executor = slot.executor!;
    return new Promise<Reply>((resolve) => {
      slot.pending = {
        resolve,
        // Node fires a timer longer than 2^31 - 1 ms after 1 ms: a huge limit must not kill.
        timer: setTimeout(() => this.kill(slot, true), Math.min(watchdogMs, MAX_TIMER_MS)),
        overdue,
      };
      try {
        executor.send(message);
      } catch (error) {
        // Something in the limits or the source that structured clone refuses (a function…).
        clearTimeout(slot.pending.timer);
        slot.pending = undefined;
        resolve({
          t: 'failed',
          message: `could not send the request to the ${this.transport.mode}: ${firstLine(error)}`,
        });
      }
    });
  }

  /** The watchdog: end the executor and answer its request with the overdue failure. */
  private kill(slot: Slot, respawn: boolean): void {
    const executor = slot.executor!;
    const pending = this.retire(slot)!;
    this.causes.set(executor, 'watchdog');
    executor.kill();
    pending.resolve({ t: 'lost', failure: pending.overdue, cause: 'watchdog' });
    if (respawn) this.respawn(slot);
  }

  /** Forget a slot's executor (its policies go with it) and hand back its unanswered request. */
  private retire(slot: Slot): Pending | undefined {
    const pending = slot.pending;
    if (pending !== undefined) clearTimeout(pending.timer);
    slot.pending = undefined;
    slot.executor = undefined;
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
    const gone: Promise<void>[] = [];
    for (const slot of this.slots) {
      const executor = slot.executor;
      if (executor === undefined) continue;
      this.causes.set(executor, 'disposed');
      this.retire(slot)?.resolve({
        t: 'lost',
        failure: { kind: 'backend_failure', message: 'the backend was disposed during the call' },
        cause: 'disposed',
      });
      gone.push(this.whenGone(executor));
      // An idle executor is unref'd: without this, a host with nothing else to do would exit
      // before hearing that it is gone, and `await dispose()` would never return.
      executor.ref();
      executor.kill();
    }
    await Promise.all(gone);
  }

  /** Resolves when an executor the pool ended reports its exit. */
  private whenGone(executor: Executor): Promise<void> {
    return new Promise((resolve) => this.onGone.set(executor, resolve));
  }

  private emit(event: SandboxPoolEvent): void {
    try {
      this.onEvent?.(event);
    } catch {
      // A logging hook that throws must not leave an executor half-replaced.
    }
  }
}

function replyMessage(reply: Reply): string {
  return sanitizeFailureMessage(
    'message' in reply && typeof reply.message === 'string'
      ? reply.message
      : `unexpected reply ${reply.t} from the executor`,
  );
}

function firstLine(error: unknown): string {
  return sanitizeFailureMessage(error instanceof Error ? error.message : String(error));
}
