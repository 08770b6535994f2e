// The suites of `npm run bench:sandbox` that start executor pools (run by run.mjs):
//
// - execution modes: the classify policy through each backend inline (on the caller's thread),
//   in a worker pool and in a process pool, side by side: warm invoke (the hop a mode adds),
//   the pool's start, a first load + call on a started pool, and throughput with several
//   concurrent callers;
// - a victim under hostile load: the classify policy in QuickJS in a worker pool of 2 (the
//   gateway's default), called one call at a time, with no other load, with a hostile QuickJS
//   policy running on the same pool, and with hostile isolated-vm (process pool) and Starlark
//   (worker pool) policies running on pools of their own; quiet and loaded phases alternate.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { processSandbox, workerSandbox } from '@wardwright/core/node';
import { hostileCases, hostilePolicy } from '@wardwright/core/testing';
import { measure as M } from './measure.mjs';

/** @typedef {import('@wardwright/core').SandboxBackend} SandboxBackend */
/** @typedef {import('@wardwright/core').LoadedPolicy} LoadedPolicy */
/** @typedef {import('@wardwright/core').PolicySource} PolicySource */
/** @typedef {import('@wardwright/core').JsonValue} JsonValue */
/** @typedef {import('@wardwright/cli/measure').Measured} Measured */
/** @typedef {'javascript' | 'starlark'} Language */
/** @typedef {'inline' | 'worker' | 'process'} Execution */
/**
 * What run.mjs hands the suites: its backends by name, its plan, and how it records rows.
 * @typedef {{
 *   specs: { name: string, language: Language, create: () => SandboxBackend }[],
 *   source: (language: Language) => PolicySource | undefined,
 *   input: JsonValue,
 *   plan: import('@wardwright/cli/measure').Plan,
 *   mode: 'smoke' | 'quick' | 'full',
 *   record: (suite: string, backend: string, name: string, m: Measured, extra?: Record<string, unknown>) => unknown,
 *   fail: (suite: string, backend: string, error: unknown) => void,
 *   log: (text: string) => void,
 * }} Context
 */

/** The factory each executor imports, by the row's backend name (as in `wardwright serve`). */
const POOL_MODULES = /** @type {Record<string, { module: string, export: string }>} */ ({
  trusted: { module: '@wardwright/core', export: 'trustedBackend' },
  quickjs: { module: '@wardwright/sandbox-quickjs', export: 'quickjsSandbox' },
  'isolated-vm': { module: '@wardwright/sandbox-isolated-vm', export: 'isolatedVmSandbox' },
  starlark: { module: '@wardwright/starlark', export: 'starlarkSandbox' },
});

/** Executors per pool: the gateway's default on this 2-core machine (min(4, cores)). */
export const POOL_SIZE = 2;

const SETTINGS = {
  // coldRounds: pool starts per row; callers: calls started together in a throughput round;
  // victim*: rounds of (quiet, same pool, separate pools) phases, each phaseMs long.
  // A phase after one where a pool replaced an executor waits until `respawnMs` after that
  // replacement began (an executor takes a few hundred ms to start here), so quiet is quiet.
  smoke: {
    coldRounds: 2,
    callers: 4,
    victimRounds: 1,
    phaseMs: 400,
    settleMs: 150,
    respawnMs: 400,
  },
  quick: {
    coldRounds: 2,
    callers: 8,
    victimRounds: 3,
    phaseMs: 500,
    settleMs: 300,
    respawnMs: 1000,
  },
  full: {
    coldRounds: 10,
    callers: 8,
    victimRounds: 8,
    phaseMs: 1000,
    settleMs: 300,
    respawnMs: 1000,
  },
};

/**
 * Hostile calls' load limits: a deadline of a few hundred ms, and the availability battery's
 * 32 MiB. A case that names a longer deadline of its own (`HostileCase.timeout_ms`) gets it.
 */
export const HOSTILE_LIMITS = { timeout_ms: 300, memory_bytes: 32 * 1024 * 1024 };
/** The victim's pause between calls (after an answer, before the next call). */
const VICTIM_GAP_MS = 1;
/** How long after a pool begins replacing an executor the new one counts as starting. */
const RESTART_WINDOW_MS = 400;

const now = () => process.hrtime.bigint();
/** @param {bigint} from */
const since = (from) => Number(now() - from);
/** @param {string} name @param {number[]} samples @returns {Measured} */
const measured = (name, samples) => ({
  name,
  stats: M.summarize(samples),
  samples_ns: samples.map(Math.round),
});

/**
 * A backend in one execution mode: the backend itself, or a pool of POOL_SIZE executors.
 * @param {{ create: () => SandboxBackend }} spec @param {{ module: string, export: string }} backend @param {Execution} execution @param {(event: { type: string, cause?: string }) => void} [onEvent]
 * @returns {Promise<SandboxBackend>}
 */
async function startIn(spec, backend, execution, onEvent = () => {}) {
  const resolveFrom = import.meta.url;
  if (execution === 'inline') return spec.create();
  if (execution === 'worker') {
    return workerSandbox({ backend, threads: POOL_SIZE, resolveFrom, onWorkerEvent: onEvent });
  }
  // execArgv: the default passes --no-node-snapshot on (this runner has it; isolated-vm needs it).
  return processSandbox({ backend, processes: POOL_SIZE, resolveFrom, onProcessEvent: onEvent });
}

/** @param {unknown} error */
const messageOf = (error) => (error instanceof Error ? error.message : String(error));

/** @param {Execution} execution */
const where = (execution) =>
  execution === 'inline'
    ? 'inline'
    : `${execution} pool of ${POOL_SIZE} ${execution === 'worker' ? 'threads' : 'processes'}`;

// ---------------------------------------------------------------------------------------------
// Execution modes
// ---------------------------------------------------------------------------------------------

/**
 * @param {Context} ctx
 * @returns {Promise<Record<string, unknown>[]>} one summary per backend × mode (sandbox.json `modes`)
 */
export async function modesSuite(ctx) {
  const settings = SETTINGS[ctx.mode];
  /** @type {{ backend: string, execution: Execution, label: string, source: PolicySource, start: () => Promise<SandboxBackend> }[]} */
  let rows = [];
  for (const spec of ctx.specs) {
    const module = POOL_MODULES[spec.name];
    const source = ctx.source(spec.language);
    if (module === undefined || source === undefined) continue;
    for (const execution of /** @type {Execution[]} */ (['inline', 'worker', 'process'])) {
      rows.push({
        backend: spec.name,
        execution,
        label: `${spec.name} ${execution}`,
        source,
        start: () => startIn(spec, module, execution),
      });
    }
  }

  /** @type {Map<string, Record<string, any>>} */
  const summary = new Map();
  for (const row of rows) {
    summary.set(row.label, {
      backend: row.backend,
      execution: row.execution,
      executors: row.execution === 'inline' ? 0 : POOL_SIZE,
    });
  }

  // Warm invoke and throughput: every row started and loaded once, then measured interleaved.
  ctx.log('execution modes: warm invoke and throughput…');
  /** @type {{ row: (typeof rows)[number], backend: SandboxBackend, policy: LoadedPolicy }[]} */
  const live = [];
  for (const row of rows) {
    let backend;
    try {
      backend = await row.start();
    } catch (error) {
      ctx.fail('modes', row.backend, `${where(row.execution)}: ${messageOf(error)}`);
      continue;
    }
    try {
      const { policy } = await M.loadChecked(
        { name: row.label, backend, source: row.source },
        'decide',
        ctx.input,
      );
      live.push({ row, backend, policy });
      const s = summary.get(row.label) ?? {};
      s.availability = backend.capabilities.availability === true;
      s.backend_name = backend.name;
    } catch (error) {
      ctx.fail('modes', row.backend, `${where(row.execution)}: ${messageOf(error)}`);
      await backend.dispose();
    }
  }
  rows = live.map((l) => l.row);
  const warm = await M.measureInterleaved(
    live.map(({ row, policy }) => ({
      name: row.label,
      run: () => policy.invoke('decide', ctx.input),
    })),
    ctx.plan,
  );
  for (const [i, m] of warm.entries()) {
    const { row } = /** @type {(typeof live)[number]} */ (live[i]);
    ctx.record(
      'modes-warm',
      row.backend,
      `${row.backend}, ${where(row.execution)}: warm invoke`,
      m,
      {
        execution: row.execution,
        executors: row.execution === 'inline' ? 0 : POOL_SIZE,
      },
    );
    Object.assign(summary.get(row.label) ?? {}, {
      warm_p50_ns: m.stats.p50,
      warm_p99_ns: m.stats.p99,
    });
  }
  // Each row alone too, as a gateway calling one pool back to back runs it: between blocks of
  // the interleaved rows an executor sits idle, and waking it again costs more on this machine.
  for (const { row, policy } of live) {
    const [m] = await M.measureInterleaved(
      [{ name: row.label, run: () => policy.invoke('decide', ctx.input) }],
      ctx.plan,
    );
    if (m === undefined) continue;
    ctx.record(
      'modes-warm-solo',
      row.backend,
      `${row.backend}, ${where(row.execution)}: warm invoke, alone`,
      m,
      { execution: row.execution, executors: row.execution === 'inline' ? 0 : POOL_SIZE },
    );
    Object.assign(summary.get(row.label) ?? {}, {
      alone_p50_ns: m.stats.p50,
      alone_p99_ns: m.stats.p99,
    });
  }
  for (const row of rows) {
    const s = summary.get(row.label);
    const inline = summary.get(`${row.backend} inline`);
    if (s === undefined || inline === undefined || row.execution === 'inline') continue;
    if (s.warm_p50_ns !== undefined && inline.warm_p50_ns !== undefined) {
      s.hop_p50_ns = Math.round(s.warm_p50_ns - inline.warm_p50_ns);
    }
    if (s.alone_p50_ns !== undefined && inline.alone_p50_ns !== undefined) {
      s.hop_alone_p50_ns = Math.round(s.alone_p50_ns - inline.alone_p50_ns);
    }
  }

  // Throughput: `callers` calls started together on one loaded policy; the pool's executors
  // drain them (inline: one after another on this thread). Checked once before timing.
  const callers = settings.callers;
  /** @type {typeof live} */
  const ready = [];
  for (const l of live) {
    const answers = await Promise.all(
      Array.from({ length: callers }, () => l.policy.invoke('decide', ctx.input)),
    );
    const bad = answers.find((a) => !a.ok);
    if (bad === undefined) ready.push(l);
    else if (!bad.ok)
      ctx.fail(
        'modes',
        l.row.backend,
        `${where(l.row.execution)}: ${bad.failure.kind}: ${bad.failure.message}`,
      );
  }
  const rounds = await M.measureInterleaved(
    ready.map(({ row, policy }) => ({
      name: row.label,
      batch: 1,
      run: () =>
        Promise.all(Array.from({ length: callers }, () => policy.invoke('decide', ctx.input))),
    })),
    ctx.plan,
  );
  for (const [i, m] of rounds.entries()) {
    const { row } = /** @type {(typeof ready)[number]} */ (ready[i]);
    const callsPerS = m.stats.p50 > 0 ? Math.round((callers * 1e9) / m.stats.p50) : 0;
    ctx.record(
      'modes-throughput',
      row.backend,
      `${row.backend}, ${where(row.execution)}: ${callers} concurrent calls`,
      m,
      { execution: row.execution, callers, calls_per_s: callsPerS },
    );
    Object.assign(summary.get(row.label) ?? {}, { callers, calls_per_s: callsPerS });
  }
  for (const { policy, backend } of live) {
    await policy.dispose();
    await backend.dispose();
  }

  // Cold: the pool's start (every executor up, the backend imported in each), then a first load
  // and call on it, in rounds with the rows rotated; disposing is not timed. Inline has no start
  // (the backend's module is imported with the host); its first call is on a new backend object.
  ctx.log('execution modes: pool start and first call…');
  /** @type {Map<string, { start: number[], first: number[] }>} */
  const cold = new Map(rows.map((row) => [row.label, { start: [], first: [] }]));
  const broken = new Set();
  for (let round = 0; round < settings.coldRounds; round++) {
    for (let k = 0; k < rows.length; k++) {
      const row = /** @type {(typeof rows)[number]} */ (rows[(k + round) % rows.length]);
      if (broken.has(row.label)) continue;
      const samples = /** @type {{ start: number[], first: number[] }} */ (cold.get(row.label));
      let backend;
      let policy;
      try {
        const t0 = now();
        backend = await row.start();
        const started = since(t0);
        const t1 = now();
        policy = await backend.load(row.source);
        const result = await policy.invoke('decide', ctx.input);
        const first = since(t1);
        if (!result.ok) throw new Error(`${result.failure.kind}: ${result.failure.message}`);
        if (row.execution !== 'inline') samples.start.push(started);
        samples.first.push(first);
      } catch (error) {
        broken.add(row.label);
        ctx.fail('modes', row.backend, `${where(row.execution)}: ${messageOf(error)}`);
      } finally {
        await policy?.dispose();
        await backend?.dispose();
      }
    }
  }
  for (const row of rows) {
    const samples = cold.get(row.label);
    if (samples === undefined || broken.has(row.label)) continue;
    const s = summary.get(row.label) ?? {};
    if (samples.start.length > 0) {
      const m = measured(row.label, samples.start);
      ctx.record(
        'modes-start',
        row.backend,
        `${row.backend}, ${where(row.execution)}: pool start`,
        m,
        { execution: row.execution, executors: POOL_SIZE },
      );
      Object.assign(s, { start_p50_ns: m.stats.p50, start_p99_ns: m.stats.p99 });
    }
    const m = measured(row.label, samples.first);
    ctx.record(
      'modes-first',
      row.backend,
      `${row.backend}, ${where(row.execution)}: first load + call${row.execution === 'inline' ? '' : ' on a started pool'}`,
      m,
      { execution: row.execution },
    );
    Object.assign(s, { first_p50_ns: m.stats.p50, first_p99_ns: m.stats.p99 });
  }
  return rows.map((row) => summary.get(row.label) ?? {});
}

// ---------------------------------------------------------------------------------------------
// A victim under hostile load
// ---------------------------------------------------------------------------------------------

/**
 * One hostile policy called in a loop through its cases, one call at a time, while a phase runs.
 * @typedef {{
 *   policy: string, pool: string, language: Language, loaded: LoadedPolicy,
 *   cases: { name: string, timeout_ms?: number | undefined }[],
 *   next: number,
 *   tallies: Map<string, Tally>,
 * }} Hostile
 */
/**
 * What one hostile policy's calls did in one condition; `by_case`: outcome (`ok` or the failure
 * kind) counts per case, for the JSON.
 * @typedef {{ ran: number, ok: number, failures: Record<string, number>, refused: number, by_case: Record<string, Record<string, number>> }} Tally
 */

/** Executors a pool lost, and cool-downs it started, per condition. */
class PoolEvents {
  /** @param {string} pool */
  constructor(pool) {
    this.pool = pool;
    /** @type {string} */
    this.condition = '';
    /** @type {Map<string, { exits: Record<string, number>, cooldowns: number }>} */
    this.by = new Map();
    /** When the pool last began replacing an executor (performance.now()). */
    this.lastSpawn = Number.NEGATIVE_INFINITY;
    /** When it began replacing each executor it lost in a phase. */
    /** @type {number[]} */
    this.spawns = [];
  }
  /** @param {string} condition */
  of(condition) {
    let entry = this.by.get(condition);
    if (entry === undefined) {
      entry = { exits: {}, cooldowns: 0 };
      this.by.set(condition, entry);
    }
    return entry;
  }
  /** @param {{ type: string, cause?: string }} event */
  hook = (event) => {
    const entry = this.of(this.condition);
    if (event.type === 'spawn') {
      this.lastSpawn = performance.now();
      if (this.condition !== '') this.spawns.push(this.lastSpawn);
    } else if (event.type === 'exit' && event.cause !== 'disposed') {
      const cause = event.cause ?? 'crashed';
      entry.exits[cause] = (entry.exits[cause] ?? 0) + 1;
    } else if (event.type === 'cooldown') {
      entry.cooldowns++;
    }
  };
}

/**
 * CPU time of the whole machine so far (every process, this VM's other tenants included), from
 * /proc/stat: busy and total, in ticks; undefined off Linux.
 */
function machineCpu() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = ticks.reduce((a, b) => a + b, 0);
    // idle and iowait are fields 4 and 5 of the cpu line.
    return { busy: total - (ticks[3] ?? 0) - (ticks[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

/**
 * Run `hostile` until `stop` resolves: one call at a time, cycling through its cases. A refused
 * call (the policy is cooling down after losing executors) is counted, waits out the cool-down
 * it was told, and runs the same case next.
 * @param {Hostile} hostile @param {string} condition @param {{ stopped: boolean, signal: Promise<unknown> }} stop
 */
async function drive(hostile, condition, stop) {
  let tally = hostile.tallies.get(condition);
  if (tally === undefined) {
    tally = { ran: 0, ok: 0, failures: {}, refused: 0, by_case: {} };
    hostile.tallies.set(condition, tally);
  }
  while (!stop.stopped) {
    const hostileCase = /** @type {{ name: string, timeout_ms?: number | undefined }} */ (
      hostile.cases[hostile.next % hostile.cases.length]
    );
    const name = hostileCase.name;
    const result = await hostile.loaded.invoke(
      'decide',
      { case: name },
      hostileCase.timeout_ms === undefined ? undefined : { timeout_ms: hostileCase.timeout_ms },
    );
    if (!result.ok && result.failure.message.startsWith('refused for another')) {
      tally.refused++;
      const ms = Number(/refused for another (\d+) ms/.exec(result.failure.message)?.[1] ?? 50);
      await Promise.race([sleep(ms + 1), stop.signal]);
      continue;
    }
    hostile.next++;
    tally.ran++;
    const outcome = result.ok ? 'ok' : result.failure.kind;
    if (result.ok) tally.ok++;
    else tally.failures[outcome] = (tally.failures[outcome] ?? 0) + 1;
    const byCase = tally.by_case[name] ?? {};
    byCase[outcome] = (byCase[outcome] ?? 0) + 1;
    tally.by_case[name] = byCase;
  }
}

/**
 * @param {Context & { classify: PolicySource }} ctx
 * @returns {Promise<Record<string, unknown> | undefined>} sandbox.json `victim`
 */
export async function victimSuite(ctx) {
  const settings = SETTINGS[ctx.mode];
  const specOf = (/** @type {string} */ name) => ctx.specs.find((s) => s.name === name);
  const quickjs = specOf('quickjs');
  if (quickjs === undefined) return undefined;
  ctx.log('victim under hostile load…');
  /** @type {{ pool: string, events: PoolEvents, backend: SandboxBackend }[]} */
  const pools = [];
  /** @param {string} name @param {string} label @param {Execution} execution */
  const startPool = async (name, label, execution) => {
    const spec = specOf(name);
    const module = POOL_MODULES[name];
    if (spec === undefined || module === undefined) return undefined;
    const events = new PoolEvents(label);
    try {
      const backend = await startIn(spec, module, execution, events.hook);
      pools.push({ pool: label, events, backend });
      return backend;
    } catch (error) {
      ctx.fail('victim', name, `${label}: ${messageOf(error)}`);
      return undefined;
    }
  };
  /** @type {Hostile[]} */
  const hostiles = [];
  /** @param {SandboxBackend | undefined} backend @param {string} pool @param {Language} language @param {string} policy */
  const loadHostile = async (backend, pool, language, policy) => {
    if (backend === undefined) return undefined;
    try {
      const loaded = await backend.load(
        { name: policy, language, code: hostilePolicy(language) },
        HOSTILE_LIMITS,
      );
      /** @type {Hostile} */
      const hostile = {
        policy,
        pool,
        language,
        loaded,
        cases: hostileCases(language).map((c) => ({
          name: c.name,
          // A case that needs longer to do its damage (a heap growing until V8 aborts) says so.
          timeout_ms: /** @type {{ timeout_ms?: number }} */ (c).timeout_ms,
        })),
        next: 0,
        tallies: new Map(),
      };
      hostiles.push(hostile);
      return hostile;
    } catch (error) {
      ctx.fail('victim', pool.split(',')[0] ?? pool, `${pool}: ${messageOf(error)}`);
      return undefined;
    }
  };

  const victimPoolName = `quickjs, ${where('worker')}`;
  const victimPool = await startPool('quickjs', victimPoolName, 'worker');
  if (victimPool === undefined) return undefined;
  let victim;
  try {
    ({ policy: victim } = await M.loadChecked(
      { name: 'victim', backend: victimPool, source: ctx.classify },
      'decide',
      ctx.input,
    ));
  } catch (error) {
    ctx.fail('victim', 'quickjs', `${victimPoolName}: ${messageOf(error)}`);
    await victimPool.dispose();
    return undefined;
  }
  const samePool = await loadHostile(victimPool, victimPoolName, 'javascript', 'hostile QuickJS');
  const ivmPoolName = `isolated-vm, ${where('process')}`;
  const ivm = await loadHostile(
    await startPool('isolated-vm', ivmPoolName, 'process'),
    ivmPoolName,
    'javascript',
    'hostile isolated-vm',
  );
  const starPoolName = `starlark, ${where('worker')}`;
  const star = await loadHostile(
    await startPool('starlark', starPoolName, 'worker'),
    starPoolName,
    'starlark',
    'hostile Starlark',
  );

  /** @type {{ condition: string, hostile: Hostile[] }[]} */
  const conditions = [{ condition: 'quiet', hostile: [] }];
  if (samePool !== undefined) conditions.push({ condition: 'same pool', hostile: [samePool] });
  const separate = [ivm, star].filter((h) => h !== undefined);
  if (separate.length > 0) conditions.push({ condition: 'separate pools', hostile: separate });

  /** @typedef {{ samples: number[], starts: number[], failures: Record<string, number>, phases: number, cpu: { busy: number, total: number } }} Phase */
  /** @type {Map<string, Phase>} */
  const calls = new Map(
    conditions.map((c) => [
      c.condition,
      { samples: [], starts: [], failures: {}, phases: 0, cpu: { busy: 0, total: 0 } },
    ]),
  );
  // Rounds of one phase per condition, the order rotated each round, so machine noise lands on
  // quiet and loaded phases alike. Between phases: the hostile calls in flight end, then a pause
  // for the pools to replace what they lost.
  for (let round = 0; round < settings.victimRounds; round++) {
    for (let k = 0; k < conditions.length; k++) {
      const { condition, hostile } = /** @type {(typeof conditions)[number]} */ (
        conditions[(k + round) % conditions.length]
      );
      for (const p of pools) p.events.condition = condition;
      /** @type {(value?: unknown) => void} */
      let release = () => {};
      const stop = { stopped: false, signal: new Promise((resolve) => (release = resolve)) };
      const loops = hostile.map((h) => drive(h, condition, stop));
      const phase = /** @type {Phase} */ (calls.get(condition));
      phase.phases++;
      const cpuBefore = machineCpu();
      const end = performance.now() + settings.phaseMs;
      while (performance.now() < end) {
        phase.starts.push(performance.now());
        const t0 = now();
        const result = await victim.invoke('decide', ctx.input);
        phase.samples.push(since(t0));
        if (!result.ok) {
          phase.failures[result.failure.kind] = (phase.failures[result.failure.kind] ?? 0) + 1;
        }
        await sleep(VICTIM_GAP_MS);
      }
      const cpuAfter = machineCpu();
      if (cpuBefore !== undefined && cpuAfter !== undefined) {
        phase.cpu.busy += cpuAfter.busy - cpuBefore.busy;
        phase.cpu.total += cpuAfter.total - cpuBefore.total;
      }
      stop.stopped = true;
      release();
      await Promise.all(loops);
      await sleep(settings.settleMs);
      const restarting = Math.max(...pools.map((p) => p.events.lastSpawn)) + settings.respawnMs;
      if (restarting > performance.now()) await sleep(restarting - performance.now());
    }
  }

  const quiet = calls.get('quiet');
  const quietStats = quiet === undefined ? undefined : M.summarize(quiet.samples);
  /** @type {Record<string, unknown>[]} */
  const summary = [];
  for (const { condition, hostile } of conditions) {
    const phase = /** @type {Phase} */ (calls.get(condition));
    const m = measured(condition, phase.samples);
    ctx.record('victim', 'quickjs', `victim (quickjs, ${where('worker')}): ${condition}`, m, {
      condition,
    });
    const over = (/** @type {number} */ ms) => phase.samples.filter((ns) => ns > ms * 1e6).length;
    // Which calls overlapped an executor starting (in any pool): from a replacement's spawn
    // until the pool's start p50 later, about when it is up. Compared with the share of all calls
    // that did, it says whether the slow calls are the restarts'.
    const spawns = pools.flatMap((p) => p.events.spawns).sort((a, b) => a - b);
    const duringStart = (/** @type {number} */ i) => {
      const start = /** @type {number} */ (phase.starts[i]);
      const finish = start + /** @type {number} */ (phase.samples[i]) / 1e6;
      return spawns.some((t) => t <= finish && t + RESTART_WINDOW_MS >= start);
    };
    const all = phase.samples.map((_, i) => i);
    const slow = all.filter((i) => /** @type {number} */ (phase.samples[i]) > 1e6);
    summary.push({
      condition,
      phases: phase.phases,
      calls: phase.samples.length,
      victim_failures: phase.failures,
      stats: m.stats,
      p50_x_quiet:
        quietStats === undefined
          ? undefined
          : Math.round((m.stats.p50 / quietStats.p50) * 100) / 100,
      p99_x_quiet:
        quietStats === undefined
          ? undefined
          : Math.round((m.stats.p99 / quietStats.p99) * 100) / 100,
      calls_over_ms: { 1: over(1), 10: over(10), 100: over(100) },
      during_executor_start: {
        window_ms: RESTART_WINDOW_MS,
        calls: all.filter(duringStart).length,
        calls_over_1_ms: slow.filter(duringStart).length,
      },
      machine_cores_busy:
        phase.cpu.total > 0
          ? Math.round((phase.cpu.busy / phase.cpu.total) * cpus().length * 100) / 100
          : undefined,
      hostile: hostile.map((h) => ({
        policy: h.policy,
        pool: h.pool,
        cases: h.cases.length,
        case_timeouts_ms: Object.fromEntries(
          h.cases.flatMap((c) => (c.timeout_ms === undefined ? [] : [[c.name, c.timeout_ms]])),
        ),
        ...(h.tallies.get(condition) ?? { ran: 0, ok: 0, failures: {}, refused: 0, by_case: {} }),
      })),
      pools: pools
        .filter((p) => p.events.by.has(condition))
        .map((p) => ({ pool: p.pool, ...p.events.of(condition) })),
    });
  }
  await victim.dispose();
  for (const h of hostiles) await h.loaded.dispose();
  for (const p of pools) await p.backend.dispose();
  return {
    victim: {
      policy: 'classify (50 numbers against a threshold)',
      pool: victimPoolName,
      gap_ms: VICTIM_GAP_MS,
    },
    hostile_limits: HOSTILE_LIMITS,
    rounds: settings.victimRounds,
    phase_ms: settings.phaseMs,
    settle_ms: settings.settleMs,
    respawn_ms: settings.respawnMs,
    conditions: summary,
  };
}
