import {
  defineSandboxBackend,
  entryCandidates,
  type GuestCall,
  type GuestOutcome,
  type GuestPolicy,
  type GuestUsage,
  type PolicySource,
  type SandboxBackend,
  type SandboxFailure,
  type SandboxLimits,
  SandboxLoadError,
  withoutExports,
} from '@wardwright/core';
import type ivm from 'isolated-vm';
import { GUEST_PRELUDE } from './guest.ts';
import { sanitizeFailureMessage } from './limits.ts';
import { memoryGuarantee } from './memory-guarantee.ts';
import { warnWithoutNoNodeSnapshot } from './snapshot-warning.ts';

/**
 * The isolated-vm backend: each loaded policy gets its own V8 isolate (a separate heap with a
 * hard memory limit) and one context, with the source compiled once. Calls go through the
 * SYNC API with JSON strings in and out — the fastest path measured (see the docs page) — so a
 * call runs on the calling thread: calls to one policy are serialised by construction, and a
 * runaway guest blocks the event loop until its wall-clock timeout fires.
 */

export interface IsolatedVmSandboxOptions {
  /** Backend name in receipts; default 'isolated-vm'. */
  name?: string;
  /**
   * Called when V8 reports that it lost control of an isolate (isolated-vm's
   * `onCatastrophicError`); the isolate is then replaced on the next call. isolated-vm advises
   * ending the process, which is the host's decision. Do not set it with isolated-vm 7 (Node 24):
   * there an out-of-memory in a guest whose isolate has this handler crashes the process.
   */
  onCatastrophicError?: (message: string, policy: string) => void;
  /**
   * How `usage.memory_bytes` (the isolate's used heap) is measured. Reading heap statistics
   * costs 4 µs or more, about as much as a warm call, so by default ('sampled') it is read
   * after the first call of each isolate, after every failed call and after every
   * {@link MEMORY_SAMPLE_INTERVAL}th call; the calls in between report the latest reading.
   * `true`: read after every call. `false`: never (no `memory_bytes`).
   */
  measureMemory?: boolean | 'sampled';
  /**
   * 'reuse' (default): one context per loaded policy (replaced after the isolate is disposed,
   * or after promise work a call left pending threw or overran); top-level state persists
   * between calls. 'per-call': a fresh context for every call on the
   * same isolate (the compiled policy runs again), so no call sees another's writes; costs
   * about 0.3-0.9 ms more per call.
   */
  fresh?: 'per-call' | 'reuse';
}

type Ivm = typeof ivm;

export const INSTALL_HINT = 'install isolated-vm (5.x on Node 20, 6.x on Node 22, 7.x on Node 24)';

let ivmModule: Promise<Ivm> | undefined;

async function importIvm(): Promise<Ivm> {
  ivmModule ??= import('isolated-vm').then(
    (mod) => ((mod as { default?: Ivm }).default ?? mod) as Ivm,
    (error: unknown) => {
      ivmModule = undefined;
      throw error;
    },
  );
  return ivmModule;
}

// Strict like the trusted backend, on the first line so line numbers stay the policy's own.
const STRICT_PREFIX = "'use strict';";
const MiB = 1024 * 1024;
const TIMED_OUT = 'Script execution timed out.';
/** In `measureMemory: 'sampled'` mode, heap statistics are read at least this often. */
export const MEMORY_SAMPLE_INTERVAL = 64;

type Control = ivm.Reference<(op: number, a?: string, b?: string) => string>;

/** One isolate with the policy compiled in it, and (when reused) its context. */
interface Instance {
  readonly isolate: ivm.Isolate;
  readonly script: ivm.Script;
  context: ivm.Context | undefined;
  control: Control | undefined;
  broken: boolean;
  /** `isolate.cpuTime` when the last call ended: nothing runs in the isolate between calls. */
  cpuMark: bigint;
  /** Calls left before the next heap reading (sampled mode); 0 means read after this one. */
  untilSample: number;
  /** The latest heap reading, reported between readings in sampled mode. */
  memory: number;
}

class InstanceError extends Error {
  constructor(readonly failure: SandboxFailure) {
    super(failure.message);
  }
}

export function isolatedVmSandbox(options: IsolatedVmSandboxOptions = {}): SandboxBackend {
  const name = options.name ?? 'isolated-vm';
  const fresh = options.fresh ?? 'reuse';
  if (fresh !== 'reuse' && fresh !== 'per-call') {
    throw new RangeError(`fresh must be 'reuse' or 'per-call', not ${String(fresh)}`);
  }
  const memory = options.measureMemory ?? 'sampled';
  if (memory !== true && memory !== false && memory !== 'sampled') {
    throw new RangeError(`measureMemory must be true, false or 'sampled', not ${String(memory)}`);
  }
  return defineSandboxBackend({
    name,
    language: 'javascript',
    capabilities: {
      isolated: true,
      wallClock: true,
      steps: 'none',
      memory: memoryGuarantee(),
      cpuTime: true,
      hardKill: true,
      // V8 aborts the whole process when an isolate's heap runs out in some allocations, and a
      // guest can run while isolated-vm copies a rejection after the call's timeout: only a
      // process that can be killed contains that.
      containedBy: 'process',
    },
    // The isolate's limit is whole MiB, at least 8.
    memoryCeiling: (limits) => isolateMemoryMiB(limits) * MiB,
    async load(source: PolicySource, limits: Readonly<SandboxLimits>): Promise<GuestPolicy> {
      let lib: Ivm;
      try {
        lib = await importIvm();
      } catch (error) {
        throw new SandboxLoadError(source.name, {
          kind: 'backend_failure',
          message: sanitizeFailureMessage(
            `cannot load isolated-vm: ${INSTALL_HINT}, and run node with --no-node-snapshot (${errorText(error)})`,
          ),
        });
      }
      warnWithoutNoNodeSnapshot();
      return loadPolicy(lib, source, limits, options);
    },
  });
}

function isolateMemoryMiB(limits: Readonly<SandboxLimits>): number {
  return Math.max(8, Math.ceil(limits.memory_bytes / MiB));
}

function loadPolicy(
  lib: Ivm,
  source: PolicySource,
  loadLimits: Readonly<SandboxLimits>,
  options: IsolatedVmSandboxOptions,
): GuestPolicy {
  // Kept at load when the name is a function at the top level of the policy.
  const candidates = JSON.stringify(entryCandidates(source.code));
  const body = STRICT_PREFIX + withoutExports(source.code);
  // The limit is fixed when the isolate is created, so it comes from the load-time limits.
  const memoryLimit = isolateMemoryMiB(loadLimits);
  const measureMemory = options.measureMemory ?? 'sampled';
  const sampleEvery = measureMemory === true ? 1 : MEMORY_SAMPLE_INTERVAL;
  let entries: readonly string[] = [];

  const reuse = (options.fresh ?? 'reuse') === 'reuse';

  /** A context with the prelude and the policy's top level run; throws InstanceError. */
  const open = (isolate: ivm.Isolate, script: ivm.Script, timeoutMs: number) => {
    const context = isolate.createContextSync();
    try {
      const control = context.evalSync(GUEST_PRELUDE, { reference: true }) as Control;
      try {
        script.runSync(context, { timeout: timeoutMs });
      } catch (error) {
        throw new InstanceError(classifyHostError(error, isolate, timeoutMs, 'load'));
      }
      return { context, control };
    } catch (error) {
      if (!isolate.isDisposed) context.release();
      throw error;
    }
  };

  const create = (): Instance => {
    const instance: Partial<Instance> & { broken: boolean } = { broken: false };
    const hook = options.onCatastrophicError;
    const isolate = new lib.Isolate({
      memoryLimit,
      // Registered only when asked for: with isolated-vm 7 on Node 24, an isolate that has this
      // handler crashes the whole process (SIGSEGV) when its guest runs out of memory.
      ...(hook === undefined
        ? {}
        : {
            onCatastrophicError: (message: string) => {
              instance.broken = true;
              hook(message, source.name);
            },
          }),
    });
    try {
      let script: ivm.Script;
      try {
        script = isolate.compileScriptSync(body, {
          filename: source.filename ?? source.name,
          columnOffset: -STRICT_PREFIX.length,
        });
      } catch (error) {
        throw new InstanceError(compileFailure(error));
      }
      const { context, control } = open(isolate, script, loadLimits.timeout_ms);
      entries = Object.freeze(JSON.parse(control.applySync(undefined, [0, candidates])));
      if (!reuse) context.release();
      return Object.assign(instance, {
        isolate,
        script,
        context: reuse ? context : undefined,
        control: reuse ? control : undefined,
        cpuMark: isolate.cpuTime,
        untilSample: 0,
        memory: 0,
      });
    } catch (error) {
      if (!isolate.isDisposed) isolate.dispose();
      throw error;
    }
  };

  /**
   * Usage of a call whose isolate is alive. CPU time is the difference from the previous call's
   * end (one read per call); in sampled mode a failed call always reads the heap, since failures
   * are where memory matters.
   */
  const measure = (instance: Instance, failed: boolean): GuestUsage => {
    const { isolate } = instance;
    let memory_bytes: number | undefined;
    if (measureMemory !== false) {
      if (failed || instance.untilSample === 0) {
        instance.memory = isolate.getHeapStatisticsSync().used_heap_size;
        instance.untilSample = sampleEvery - 1;
        // Over its limit and not (yet) killed by isolated-vm: this call is answered as over the
        // limit, and the next one starts on a new isolate instead of inheriting the heap.
        if (instance.memory > memoryLimit * MiB) instance.broken = true;
      } else {
        instance.untilSample--;
      }
      memory_bytes = instance.memory;
    }
    // Read after the heap statistics, so any isolate time they take is this call's.
    const cpu = isolate.cpuTime;
    const cpu_ms = Number(cpu - instance.cpuMark) / 1e6;
    instance.cpuMark = cpu;
    return memory_bytes === undefined ? { cpu_ms } : { cpu_ms, memory_bytes };
  };

  let current: Instance | undefined;
  try {
    current = create();
  } catch (error) {
    throw new SandboxLoadError(
      source.name,
      error instanceof InstanceError
        ? error.failure
        : { kind: 'backend_failure', message: sanitizeFailureMessage(errorText(error)) },
    );
  }
  const policy: GuestPolicy = {
    entries,
    call(call: GuestCall): GuestOutcome {
      // Everything below is synchronous, so concurrent calls of one policy never interleave.
      const start = performance.now();
      const { limits } = call;
      let instance: Instance;
      try {
        if (current === undefined || current.broken || current.isolate.isDisposed) {
          const old = current;
          current = undefined;
          if (old !== undefined && !old.isolate.isDisposed) old.isolate.dispose();
          current = create();
        }
        instance = current;
      } catch (error) {
        const message = `cannot recreate the isolate: ${errorText(error)}`;
        return { ok: false, failure: { kind: 'backend_failure', message } };
      }
      const { isolate } = instance;
      let output: unknown;
      let context = instance.context;
      let control = instance.control;
      try {
        if (control === undefined) {
          // The guest's own prelude run, names and all: a fresh context for this call, or the
          // reused context's replacement after work left pending in the old one.
          ({ context, control } = open(isolate, instance.script, limits.timeout_ms));
          control.applySync(undefined, [0, candidates]);
          if (reuse) Object.assign(instance, { context, control });
        }
        // A new context's top level ran inside this call's budget.
        const remaining = limits.timeout_ms - (performance.now() - start);
        output = control.applySync(undefined, [1, call.entry, call.json], {
          timeout: Math.max(1, Math.ceil(remaining)),
        });
      } catch (error) {
        // The call may have answered before its promise jobs threw or ran out of time: that
        // answer stands, and a reused context those jobs may have written to is replaced.
        output =
          error instanceof InstanceError ? '' : keptAnswer(control, isolate, limits.timeout_ms);
        if (output === '') {
          const failure =
            error instanceof InstanceError
              ? error.failure
              : classifyHostError(error, isolate, limits.timeout_ms, 'call');
          return isolate.isDisposed
            ? { ok: false, failure }
            : { ok: false, failure, usage: measure(instance, true) };
        }
        if (reuse) Object.assign(instance, { context: undefined, control: undefined });
      } finally {
        if (context !== instance.context && context !== undefined && !isolate.isDisposed) {
          context.release();
        }
      }
      if (typeof output !== 'string') {
        // Unreachable unless the prelude is broken: never hand a guest object to the engine.
        const failure = {
          kind: 'backend_failure',
          message: 'the guest returned a non-string',
        } as const;
        return { ok: false, failure, usage: measure(instance, true) };
      }
      if (output.charCodeAt(0) === 0) {
        return { ok: false, failure: taggedFailure(output), usage: measure(instance, true) };
      }
      // Exact JSON text, from the guest's serialiser: the wrapper checks its size and parses it.
      return { ok: true, json: output, usage: measure(instance, false) };
    },
    dispose() {
      if (current !== undefined && !current.isolate.isDisposed) current.isolate.dispose();
      current = undefined;
    },
  };
  return policy;
}

/** The answer the guest kept before isolated-vm threw, or '' when the call never answered. */
function keptAnswer(control: Control | undefined, isolate: ivm.Isolate, timeoutMs: number): string {
  if (control === undefined || isolate.isDisposed) return '';
  try {
    // The failed call's job queue is empty (drained, or cleared by the termination), so this runs
    // only the prelude; the timeout is a guard all the same.
    return control.applySync(undefined, [2], { timeout: Math.max(1, timeoutMs) });
  } catch {
    return '';
  }
}

// V8 appends the position to compile errors: "SyntaxError: Unexpected token ';' [file:3:5]".
const COMPILE_POSITION = /^(.*) \[(.*):(\d+):(\d+)\]$/;

function compileFailure(error: unknown): SandboxFailure {
  const text = sanitizeFailureMessage(errorText(error));
  const match = COMPILE_POSITION.exec(text);
  if (match === null) return { kind: 'compile_error', message: text };
  return {
    kind: 'compile_error',
    message: match[1]!,
    location: {
      filename: match[2]!,
      line: Math.max(1, Number(match[3])),
      column: Math.max(1, Number(match[4])),
    },
  };
}

const TAGS: Record<string, SandboxFailure['kind']> = {
  r: 'runtime_error',
  o: 'invalid_output',
  s: 'stack_overflow',
  m: 'memory_limit',
};

function taggedFailure(output: string): SandboxFailure {
  return {
    kind: TAGS[output[1] ?? ''] ?? 'backend_failure',
    message: sanitizeFailureMessage(output.slice(2)),
  };
}

/** Errors thrown by isolated-vm itself; guest exceptions are caught by the prelude. */
function classifyHostError(
  error: unknown,
  isolate: ivm.Isolate,
  timeoutMs: number,
  phase: 'load' | 'call',
): SandboxFailure {
  const text = errorText(error);
  if (isolate.isDisposed) {
    return /memory limit/i.test(text)
      ? { kind: 'memory_limit', message: 'the isolate ran out of memory and was disposed' }
      : { kind: 'backend_failure', message: sanitizeFailureMessage(text) };
  }
  if (error instanceof Error && error.message === TIMED_OUT) {
    return { kind: 'timeout', message: `ran over the ${timeoutMs} ms limit` };
  }
  // At load time the policy's top level runs unguarded, so its own exceptions land here.
  if (phase === 'load') {
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      return { kind: 'stack_overflow', message: 'maximum call stack size exceeded' };
    }
    return { kind: 'runtime_error', message: sanitizeFailureMessage(text) };
  }
  return { kind: 'backend_failure', message: sanitizeFailureMessage(text) };
}

function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return `threw ${typeof error === 'string' ? JSON.stringify(error.slice(0, 100)) : String(error)}`;
}
