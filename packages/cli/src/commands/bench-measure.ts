import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { pathToFileURL } from 'node:url';
import {
  defineSandboxBackend,
  entryCandidates,
  type GuestOutcome,
  type GuestPolicy,
  type JsonValue,
  type LoadedPolicy,
  type PolicySource,
  type SandboxBackend,
  SandboxLoadError,
  sanitizeFailureMessage,
  withoutExports,
} from '@wardwright/core';

/**
 * The one measuring loop behind `wardwright bench` and the repository's `bench/sandbox` suites.
 *
 * Why here: the CLI is what users install, so the loop ships with it; the repository's bench
 * imports it as `@wardwright/cli/measure` instead of keeping a copy, so a fix to the method
 * reaches both.
 *
 * Method: every subject is warmed up, then measured in rounds: each round gives every subject a
 * block of back-to-back samples (about 1 ms of them), the order rotated each round, so a noisy
 * neighbour or a GC pause lands on every row rather than on whichever ran last. Blocks, not one
 * sample per turn: switching rows every ~10 µs costs a fast call its warm caches and branch
 * history (measured: 1.4-2.4× on the sandbox rows), which is not what a server calling one
 * backend pays. A call of 10 µs or more is one sample, so the percentiles are
 * of single calls; faster calls are timed in batches sized during the warm-up to about 10 µs, so
 * a sample never sits at the timer's floor (~100 ns), and their percentiles are of batch means
 * (the batch is reported). A row stops at `maxSamples`, or after `timeMs` once it has
 * `minSamples` (slow rows: cold starts). Reported: min, quartiles, p50/p95/p99, max, mean and
 * the IQR as a share of the median (the noise figure); raw samples go into the JSON.
 */

export type Mode = 'smoke' | 'quick' | 'full';

export interface Plan {
  readonly warmupMs: number;
  /** Time budget of one subject (spread over the rounds); a slow one stops there. */
  readonly timeMs: number;
  /** A fast subject stops at this many samples (it bounds the raw samples in the JSON). */
  readonly maxSamples: number;
  /** A slow subject (a cold start) keeps going past `timeMs` until it has this many. */
  readonly minSamples: number;
}

export const PLANS: Readonly<Record<Mode, Plan>> = {
  smoke: { warmupMs: 0, timeMs: 5, maxSamples: 5, minSamples: 3 },
  quick: { warmupMs: 40, timeMs: 200, maxSamples: 300, minSamples: 12 },
  full: { warmupMs: 250, timeMs: 1200, maxSamples: 1500, minSamples: 40 },
};

/** The shortest sample worth timing: well above the clock's ~100 ns cost per reading. */
const MIN_SAMPLE_NS = 10_000;
/** How long a subject runs per turn before the next one takes over. */
const BLOCK_NS = 1_000_000;

let sink: unknown;
/** What the timed calls returned last: kept so no call can be optimised away. */
export function keepAlive(): unknown {
  return sink;
}

export interface Subject {
  readonly name: string;
  readonly run: () => unknown;
  /** Calls per timed sample; default: sized in the warm-up. Cold starts use 1. */
  readonly batch?: number;
}

export interface Stats {
  samples: number;
  batch: number;
  min: number;
  p25: number;
  p50: number;
  p75: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  /** (p75 - p25) / p50, in percent: how spread the run was. */
  iqr_pct: number;
}

export interface Measured {
  readonly name: string;
  readonly stats: Stats;
  /** Nanoseconds per call, one per timed sample, in the order taken. */
  readonly samples_ns: number[];
}

const now = () => process.hrtime.bigint();

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** Linear interpolation between closest ranks (the usual "type 7" quantile). */
function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const at = p * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

const round = (n: number) => (n < 100 ? Math.round(n * 100) / 100 : Math.round(n));

export function summarize(samplesNs: readonly number[], batch = 1): Stats {
  const sorted = [...samplesNs].sort((a, b) => a - b);
  const p50 = quantile(sorted, 0.5);
  const p25 = quantile(sorted, 0.25);
  const p75 = quantile(sorted, 0.75);
  const mean = sorted.length === 0 ? 0 : sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return {
    samples: sorted.length,
    batch,
    min: round(sorted[0] ?? 0),
    p25: round(p25),
    p50: round(p50),
    p75: round(p75),
    p95: round(quantile(sorted, 0.95)),
    p99: round(quantile(sorted, 0.99)),
    max: round(sorted[sorted.length - 1] ?? 0),
    mean: round(mean),
    iqr_pct: p50 > 0 ? Math.round(((p75 - p25) / p50) * 1000) / 10 : 0,
  };
}

interface State {
  readonly subject: Subject;
  sync: boolean;
  batch: number;
  spentNs: number;
  readonly samples: number[];
}

async function timeBatch(state: State): Promise<number> {
  const { run } = state.subject;
  const n = state.batch;
  // Sync calls are not awaited: an await per call would be most of a native call's cost.
  if (state.sync) {
    const start = now();
    for (let i = 0; i < n; i++) sink = run();
    return Number(now() - start);
  }
  const start = now();
  for (let i = 0; i < n; i++) await run();
  return Number(now() - start);
}

function done(state: State, plan: Plan): boolean {
  const count = state.samples.length;
  if (count >= plan.maxSamples) return true;
  return state.spentNs >= plan.timeMs * 1e6 && count >= plan.minSamples;
}

/**
 * Measure the subjects side by side (see the module comment). `onProgress` gets a fraction in
 * [0, 1] after every round.
 */
export async function measureInterleaved(
  subjects: readonly Subject[],
  plan: Plan,
  onProgress?: (fraction: number) => void,
): Promise<Measured[]> {
  const states: State[] = [];
  for (const subject of subjects) {
    const first = subject.run();
    const sync = !isThenable(first);
    if (!sync) await first;
    states.push({ subject, sync, batch: 1, spentNs: 0, samples: [] });
  }
  // Warm-up, interleaved too; its last timings size the batches.
  const warmEnd = now() + BigInt(Math.round(plan.warmupMs * 1e6));
  const perCall = states.map(() => Number.POSITIVE_INFINITY);
  do {
    for (const [i, state] of states.entries()) {
      let block = 0;
      do {
        const ns = await timeBatch(state);
        block += ns;
        perCall[i] = ns / state.batch;
        // Double the batch while a sample is short, so the estimate is not timer noise.
        if (ns < MIN_SAMPLE_NS && state.batch < 1 << 16) state.batch *= 2;
      } while (block < BLOCK_NS);
    }
  } while (now() < warmEnd);
  for (const [i, state] of states.entries()) {
    const fixed = state.subject.batch;
    state.batch = fixed ?? Math.max(1, Math.min(1 << 16, Math.ceil(MIN_SAMPLE_NS / perCall[i]!)));
  }
  let turn = 0;
  for (;;) {
    const active = states.filter((s) => !done(s, plan));
    if (active.length === 0) break;
    for (let k = 0; k < active.length; k++) {
      const state = active[(k + turn) % active.length]!;
      let block = 0;
      do {
        const ns = await timeBatch(state);
        block += ns;
        state.spentNs += ns;
        state.samples.push(ns / state.batch);
      } while (block < BLOCK_NS && !done(state, plan));
    }
    turn++;
    onProgress?.(progress(states, plan));
  }
  return states.map((s) => ({
    name: s.subject.name,
    stats: summarize(s.samples, s.batch),
    samples_ns: s.samples.map(round),
  }));
}

function progress(states: readonly State[], plan: Plan): number {
  let sum = 0;
  for (const s of states) {
    sum += done(s, plan)
      ? 1
      : Math.min(
          0.99,
          Math.max(s.spentNs / (plan.timeMs * 1e6), s.samples.length / plan.maxSamples),
        );
  }
  return sum / states.length;
}

// ---------------------------------------------------------------------------------------------
// The native row: the same policy source as a plain function, in-process
// ---------------------------------------------------------------------------------------------

/**
 * `native`: the policy file imported as an ES module in this process and its entry called as a
 * plain function: no isolation, no limits, no JSON copy of the input or output. It is the floor
 * a sandbox is compared against (unlike `trusted`, which still copies JSON in and out and checks
 * sizes). A file that does not `export` its entry is imported from a copy with an export added.
 */
const nativeFunctions = new WeakMap<
  LoadedPolicy,
  ReadonlyMap<string, (input: unknown) => unknown>
>();

export function nativeBackend(): SandboxBackend {
  let loads = 0;
  // The functions of the load in progress, handed from the definition's load to the wrapped one.
  const loading = new Map<PolicySource, ReadonlyMap<string, (input: unknown) => unknown>>();
  const backend = defineSandboxBackend({
    name: 'native',
    language: 'javascript',
    capabilities: {
      isolated: false,
      wallClock: true,
      steps: 'none',
      memory: 'none',
      cpuTime: false,
      hardKill: false,
      containedBy: 'none',
    },
    async load(source: PolicySource): Promise<GuestPolicy> {
      let functions: ReadonlyMap<string, (input: unknown) => unknown>;
      try {
        functions = await loadNative(source, ++loads);
      } catch (error) {
        throw loadError(source, error);
      }
      loading.set(source, functions);
      return {
        entries: [...functions.keys()],
        call: ({ entry, input }) => callNative(functions, entry, input),
        dispose() {},
      };
    },
  });
  return {
    ...backend,
    // The checked call goes through the shared wrapper; `callerFor` times the plain function.
    async load(source, limits) {
      const policy = await backend.load(source, limits);
      const functions = loading.get(source);
      loading.delete(source);
      if (functions !== undefined) nativeFunctions.set(policy, functions);
      return policy;
    },
  };
}

function loadError(source: PolicySource, error: unknown): SandboxLoadError {
  const message = sanitizeFailureMessage(
    error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  );
  return new SandboxLoadError(source.name, {
    kind: error instanceof SyntaxError ? 'compile_error' : 'runtime_error',
    message,
  });
}

// A new URL per load (`fresh`): a cold load must not come from the module cache.
async function loadNative(
  source: PolicySource,
  fresh: number,
): Promise<ReadonlyMap<string, (input: unknown) => unknown>> {
  const functions = new Map<string, (input: unknown) => unknown>();
  const collect = (values: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(values)) {
      if (typeof value === 'function') functions.set(key, value as (input: unknown) => unknown);
    }
  };
  if (source.filename !== undefined && /\bexport\b/.test(source.code)) {
    const url = pathToFileURL(source.filename);
    url.searchParams.set('load', String(fresh));
    collect((await import(url.href)) as Record<string, unknown>);
  }
  if (functions.size === 0) {
    // A script-style policy (top-level `function decide`): the same candidates the
    // sandboxes use, kept when they are functions at the top level.
    const names = entryCandidates(source.code);
    const code = `${withoutExports(source.code)}
export const entries = {${names.map((n) => `${JSON.stringify(n)}: typeof ${n} === 'function' ? ${n} : undefined`).join(', ')}};
// load ${fresh}`;
    const mod = (await import(
      `data:text/javascript;charset=utf-8,${encodeURIComponent(code)}`
    )) as { entries: Record<string, unknown> };
    collect(mod.entries);
  }
  return functions;
}

/** The policy's function on the input itself: no copy, no serialisation (the wrapper checks the value). */
function callNative(
  functions: ReadonlyMap<string, (input: unknown) => unknown>,
  entry: string,
  input: JsonValue,
): GuestOutcome {
  try {
    return { ok: true, value: functions.get(entry)!(input) as JsonValue };
  } catch (error) {
    return {
      ok: false,
      failure: {
        kind: 'runtime_error',
        message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      },
    };
  }
}

/**
 * The call a subject times for a loaded policy. A native row is called synchronously (its
 * `invoke` wrapper is only for the first, checked call): awaiting a promise per call would
 * measure the microtask queue, not the policy.
 */
export function callerFor(
  backend: SandboxBackend,
  policy: LoadedPolicy,
  entry: string,
  input: JsonValue,
): () => unknown {
  const direct = nativeFunctions.get(policy)?.get(entry);
  if (backend.name === 'native' && direct !== undefined) return () => direct(input);
  return () => policy.invoke(entry, input);
}

// ---------------------------------------------------------------------------------------------
// One policy on several backends: what `wardwright bench` runs, and the bench's workload suite
// ---------------------------------------------------------------------------------------------

export interface Row {
  /** The backend's name as picked on the command line: quickjs, isolated-vm, native… */
  readonly name: string;
  readonly backend: SandboxBackend;
  readonly source: PolicySource;
}

export interface RowResult {
  readonly backend: string;
  readonly warm: Measured;
  readonly cold: Measured;
  /** The first call's result, so a caller can check every backend agreed. */
  readonly output: JsonValue;
}

export class PolicyCallError extends Error {
  constructor(
    readonly backend: string,
    readonly kind: string,
    message: string,
  ) {
    super(`${backend}: ${kind}: ${message}`);
    this.name = 'PolicyCallError';
  }
}

/** Load once and call once, failing loudly: a bench of a failing call measures nothing. */
export async function loadChecked(
  row: Row,
  entry: string,
  input: JsonValue,
): Promise<{ policy: LoadedPolicy; output: JsonValue }> {
  const policy = await row.backend.load(row.source);
  const first = await policy.invoke(entry, input);
  if (!first.ok) {
    await policy.dispose();
    throw new PolicyCallError(row.name, first.failure.kind, first.failure.message);
  }
  return { policy, output: first.value };
}

/**
 * Warm invoke (a loaded policy called again and again) and cold load (load, first call; the
 * dispose is not timed) for every row, the rows interleaved.
 */
export async function benchPolicy(
  rows: readonly Row[],
  entry: string,
  input: JsonValue,
  plan: Plan,
  onProgress?: (fraction: number) => void,
): Promise<RowResult[]> {
  const loaded: { row: Row; policy: LoadedPolicy; output: JsonValue }[] = [];
  try {
    for (const row of rows) loaded.push({ row, ...(await loadChecked(row, entry, input)) });
    const warm = await measureInterleaved(
      loaded.map(({ row, policy }) => ({
        name: row.name,
        run: callerFor(row.backend, policy, entry, input),
      })),
      plan,
      onProgress === undefined ? undefined : (f) => onProgress(f / 2),
    );
    const cold = await measureInterleaved(
      rows.map((row) => ({ name: row.name, batch: 1, run: () => coldStart(row, entry, input) })),
      plan,
      onProgress === undefined ? undefined : (f) => onProgress(0.5 + f / 2),
    );
    return loaded.map(({ row, output }, i) => ({
      backend: row.name,
      warm: warm[i]!,
      cold: cold[i]!,
      output,
    }));
  } finally {
    for (const { policy } of loaded) await policy.dispose();
  }
}

/** Time load + first call; dispose afterwards, outside the timed part of the next sample. */
export async function coldStart(row: Row, entry: string, input: JsonValue): Promise<void> {
  const policy = await row.backend.load(row.source);
  try {
    const result = await policy.invoke(entry, input);
    if (!result.ok)
      throw new PolicyCallError(row.name, result.failure.kind, result.failure.message);
  } finally {
    await policy.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// The machine a run measured, in every report
// ---------------------------------------------------------------------------------------------

export interface MachineInfo {
  node: string;
  v8: string;
  platform: string;
  cpu: string;
  cores: number;
  memory_gib: number;
  /** Other work on the machine shows here: above the core count, the run shared its CPUs. */
  load_avg_1m: number;
  /** The CPUs this process may run on (e.g. "0-1", or "1" under `taskset -c 1`), where known. */
  cpu_affinity: string;
}

export function machineInfo(): MachineInfo {
  const cpu = cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform} ${process.arch}`,
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    load_avg_1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    cpu_affinity: cpuAffinity(),
  };
}

function cpuAffinity(): string {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    return /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting shared by the CLI table and the markdown report
// ---------------------------------------------------------------------------------------------

export function formatNs(ns: number): string {
  if (ns < 1000) return `${Math.round(ns)} ns`;
  if (ns < 1e6) return `${(ns / 1000).toFixed(ns < 10_000 ? 2 : 1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

export function formatRatio(value: number, base: number): string {
  if (!(base > 0)) return '';
  const r = value / base;
  return `${r < 10 ? r.toFixed(2) : r < 100 ? r.toFixed(1) : Math.round(r)}×`;
}
