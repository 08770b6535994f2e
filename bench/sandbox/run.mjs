// `npm run bench:sandbox`: every sandbox backend side by side in one process, each suite
// interleaving its rows (see bench-measure.ts for the method): cold start, warm invoke, a fresh
// instance per call, marshalling 1/16/256 KiB inputs, limit enforcement, memory per live
// instance, throughput under concurrency, three decision-core workloads against the same
// code run natively, and (modes.mjs) each backend inline, in a worker pool and in a process pool,
// and a victim policy's latency next to hostile ones. A backend is a row picked by name; Starlark
// joins when @wardwright/starlark exports `starlarkSandbox`. Options: --quick, --smoke, --out DIR.
// Writes sandbox.json (raw samples included), sandbox.md and sandbox-*.svg.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { trustedBackend } from '@wardwright/core';
import { quickjsSandbox } from '@wardwright/sandbox-quickjs';
import { envelope, runnerArgs, writeFiles } from '../core/harness.mjs';
import { boxPlot, lineChart } from '../report/svg.mjs';
import { floorSubjects, PROBE_P50_NS } from './floor.mjs';
import { measure as M } from './measure.mjs';
import { modesSuite, victimSuite } from './modes.mjs';
import { markdownReport } from './report.mjs';
import { historyInput, marshalInput, structuredInput, ttsrInput } from './workloads/inputs.mjs';

const { mode, outDir } = runnerArgs();
const plan = M.PLANS[/** @type {'smoke' | 'quick' | 'full'} */ (mode)];
const started = Date.now();
const smoke = mode === 'smoke';

/** @typedef {import('@wardwright/core').SandboxBackend} SandboxBackend */
/** @typedef {{ name: string, language: 'javascript' | 'starlark', create: (options?: { fresh?: 'per-call' }) => SandboxBackend, freshNote?: string }} RowSpec */

// ---------------------------------------------------------------------------------------------
// Rows, by name
// ---------------------------------------------------------------------------------------------

// The optional backends join by name when their packages load.
/** @type {((options?: object) => SandboxBackend) | undefined} */
const ivmFactory = await import('@wardwright/sandbox-isolated-vm').then(
  (mod) => mod.isolatedVmSandbox,
  () => undefined,
);
/** @type {((options?: object) => SandboxBackend) | undefined} */
const starlarkFactory = await import('@wardwright/starlark').then(
  (mod) => (typeof mod.starlarkSandbox === 'function' ? mod.starlarkSandbox : undefined),
  () => undefined,
);

/** @type {RowSpec[]} */
const specs = [
  { name: 'native', language: 'javascript', create: () => M.nativeBackend() },
  {
    name: 'trusted',
    language: 'javascript',
    create: () => trustedBackend(),
    freshNote: 'always fresh: it re-runs the policy module on every call',
  },
  { name: 'quickjs', language: 'javascript', create: (o) => quickjsSandbox(o) },
];
/** @type {{ backend: string, reason: string }[]} */
const unavailable = [];
if (ivmFactory === undefined) {
  unavailable.push({ backend: 'isolated-vm', reason: 'isolated-vm: not available in this build' });
} else {
  specs.push({ name: 'isolated-vm', language: 'javascript', create: (o) => ivmFactory(o) });
}
if (starlarkFactory === undefined) {
  unavailable.push({ backend: 'starlark', reason: 'starlark: not available in this build' });
} else {
  specs.push({
    name: 'starlark',
    language: 'starlark',
    // No `fresh` option to pass: Starlark freezes a module's globals after loading it, so no
    // call can leave state for the next one; its fresh row is its warm call.
    create: () => starlarkFactory(),
    freshNote: 'no fresh option needed: module globals are frozen after load',
  });
}

const workloadDir = new URL('./workloads/', import.meta.url);
/** @param {string} workload @param {'javascript' | 'starlark'} language */
function sourceOf(workload, language) {
  const file = new URL(`${workload}.${language === 'starlark' ? 'star' : 'js'}`, workloadDir);
  try {
    return {
      name: workload,
      language,
      code: readFileSync(file, 'utf8'),
      filename: fileURLToPath(file),
    };
  } catch {
    return undefined;
  }
}

/**
 * Rows that did not run in a suite, with why. A row that cannot load or call a workload is
 * reported and the others go on (an optional backend may lag behind); the smoke test requires
 * this list to be empty for the JavaScript backends.
 * @type {{ suite: string, backend: string, reason: string }[]}
 */
const failed = [];
/** @param {string} suite @param {string} backend @param {unknown} error */
const fail = (suite, backend, error) =>
  failed.push({ suite, backend, reason: error instanceof Error ? error.message : String(error) });

/**
 * Rows for one workload: every spec that has the workload in its language.
 * @param {string} suite @param {string} workload @param {{ fresh?: 'per-call' }} [options]
 */
function rowsFor(suite, workload, options) {
  return specs.flatMap((spec) => {
    const source = sourceOf(workload, spec.language);
    if (source === undefined) return [];
    try {
      return [{ name: spec.name, backend: spec.create(options), source }];
    } catch (error) {
      fail(suite, spec.name, error);
      return [];
    }
  });
}

/**
 * Load each row and make the checked first call; the rows that fail are reported and dropped.
 * @param {string} suite @param {ReturnType<typeof rowsFor>} rows @param {any} input
 */
async function loadRows(suite, rows, input) {
  const loaded = [];
  for (const row of rows) {
    try {
      loaded.push({ row, ...(await M.loadChecked(row, 'decide', input)) });
    } catch (error) {
      fail(suite, row.name, error);
    }
  }
  return loaded;
}

/** @type {SandboxBackend[]} */
const toDispose = [];
/** @param {ReturnType<typeof rowsFor>} rows */
const track = (rows) => {
  for (const r of rows) toDispose.push(r.backend);
  return rows;
};

/** @type {Record<string, unknown>[]} */
const results = [];
/**
 * One timed case in the flat `results` list, in the shape of the other suites' reports
 * (ns_per_unit, units_per_s) plus p95, the IQR and the raw samples.
 * @param {string} suite @param {string} backend @param {string} name @param {import('@wardwright/cli/measure').Measured} m @param {Record<string, unknown>} [extra]
 */
function record(suite, backend, name, m, extra = {}) {
  const { samples, batch, iqr_pct, mean, ...ns } = m.stats;
  const entry = {
    suite,
    group: backend,
    backend,
    name,
    samples,
    batch,
    unit_ops: 1,
    ns_per_unit: { ...ns, mean },
    units_per_s: ns.p50 > 0 ? Math.round(1e9 / ns.p50) : 0,
    iqr_pct,
    ...extra,
    samples_ns: m.samples_ns,
  };
  results.push(entry);
  return entry;
}

const log = (/** @type {string} */ text) => process.stderr.write(`${text}\n`);

// ---------------------------------------------------------------------------------------------
// 1. Cold start and warm invoke (the classify policy)
// ---------------------------------------------------------------------------------------------

const classifyInput = {
  threshold: 50,
  values: Array.from({ length: 50 }, (_, i) => (i * 37) % 100),
};
log('warm invoke and cold start…');
{
  const checked = await loadRows('warm', track(rowsFor('warm', 'classify')), classifyInput);
  for (const { policy } of checked) await policy.dispose();
  const rows = checked.map((c) => c.row);
  for (const r of await M.benchPolicy(rows, 'decide', classifyInput, plan)) {
    record('warm', r.backend, `${r.backend}: warm invoke`, r.warm);
    record('cold', r.backend, `${r.backend}: cold start (load + first call)`, r.cold);
  }
  // The same calls with each backend alone, as a gateway runs one: interleaving rows that switch
  // every ~10 µs costs a fast call its warm caches (up to 2× on this hardware).
  log('warm invoke, each backend alone…');
  for (const row of rows) {
    const { policy } = await M.loadChecked(row, 'decide', classifyInput);
    const run = M.callerFor(row.backend, policy, 'decide', classifyInput);
    record('warm-solo', row.name, `${row.name}: warm invoke, alone`, await solo(row.name, run));
    await policy.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// 1b. The library floor and the probe's reference rows (see floor.mjs), each alone
// ---------------------------------------------------------------------------------------------

log('library floor…');
/** @type {{ backend: string, reason: string }[]} */
const floorSkipped = [];
{
  const floors = await floorSubjects(
    fileURLToPath(new URL('classify.js', workloadDir)),
    classifyInput,
  );
  floorSkipped.push(...floors.skipped);
  for (const subject of floors.subjects) {
    record('floor', subject.name, subject.name, await solo(subject.name, subject.run));
  }
  for (const subject of floors.subjects) subject.dispose();
}

/** One subject measured on its own. @param {string} name @param {() => unknown} run */
async function solo(name, run) {
  const [measured] = await M.measureInterleaved([{ name, run }], plan);
  return /** @type {import('@wardwright/cli/measure').Measured} */ (measured);
}

// ---------------------------------------------------------------------------------------------
// 2. Fresh instance per call
// ---------------------------------------------------------------------------------------------

log('fresh instance per call…');
{
  const rows = track(rowsFor('fresh', 'classify', { fresh: 'per-call' })).filter(
    (r) => r.name !== 'native',
  );
  const loaded = await loadRows('fresh', rows, classifyInput);
  const measured = await M.measureInterleaved(
    loaded.map(({ row, policy }) => ({
      name: row.name,
      run: () => policy.invoke('decide', classifyInput),
    })),
    plan,
  );
  for (const m of measured) {
    const spec = specs.find((s) => s.name === m.name);
    record('fresh', m.name, `${m.name}: fresh instance per call`, m, {
      ...(spec?.freshNote === undefined ? {} : { note: spec.freshNote }),
    });
  }
  for (const { row, policy } of loaded) {
    const run = () => policy.invoke('decide', classifyInput);
    record(
      'fresh-solo',
      row.name,
      `${row.name}: fresh instance per call, alone`,
      await solo(row.name, run),
    );
  }
  for (const { policy } of loaded) await policy.dispose();
}

// ---------------------------------------------------------------------------------------------
// 3. Marshalling: inputs of 1, 16 and 256 KiB to a policy that reads almost nothing
// ---------------------------------------------------------------------------------------------

const SIZES_KIB = [1, 16, 256];
log('marshalling…');
{
  const rows = track(rowsFor('marshal', 'marshal'));
  const subjects = [];
  const loaded = [];
  for (const kib of SIZES_KIB) {
    const input = marshalInput(kib);
    for (const { row, policy } of await loadRows('marshal', rows, input)) {
      loaded.push(policy);
      subjects.push({
        name: `${row.name}|${kib}`,
        run: M.callerFor(row.backend, policy, 'decide', input),
      });
    }
  }
  for (const m of await M.measureInterleaved(subjects, plan)) {
    const [backend, kib] = m.name.split('|');
    record('marshal', backend ?? '', `${backend}: ${kib} KiB input`, m, {
      input_kib: Number(kib),
    });
  }
  for (const policy of loaded) await policy.dispose();
}

// ---------------------------------------------------------------------------------------------
// 4. Decision-core workloads, natively and as policies
// ---------------------------------------------------------------------------------------------

/** @type {[workload: string, title: string, input: import('@wardwright/core').JsonValue][]} */
const WORKLOADS = [
  ['history', 'history classification: 3 rules over a 64-entry window', historyInput()],
  ['ttsr', 'TTSR window scan: 5 literal rules over a 4 KB answer in 256-char chunks', ttsrInput()],
  [
    'structured',
    'structured-output semantic validation: parse a ~1 KB answer, 4 rules',
    structuredInput(),
  ],
];
/** @type {Record<string, unknown>} */
const outputs = {};
log('workloads…');
for (const [workload, title, input] of WORKLOADS) {
  const all = await loadRows('workload', track(rowsFor('workload', workload)), input);
  // Every backend must compute native's answer, or the comparison is of different work.
  const reference = JSON.stringify(all.find((l) => l.row.name === 'native')?.output);
  const loaded = [];
  for (const l of all) {
    if (JSON.stringify(l.output) === reference) {
      loaded.push(l);
    } else {
      fail(
        'workload',
        l.row.name,
        `${workload}: returned ${JSON.stringify(l.output)}, not ${reference}`,
      );
      await l.policy.dispose();
    }
  }
  outputs[workload] = JSON.parse(reference ?? 'null');
  const measured = await M.measureInterleaved(
    loaded.map(({ row, policy }) => ({
      name: row.name,
      run: M.callerFor(row.backend, policy, 'decide', input),
    })),
    plan,
  );
  for (const m of measured) {
    record('workload', m.name, `${m.name}: ${workload}`, m, { workload, title });
  }
  for (const { policy } of loaded) await policy.dispose();
}

// ---------------------------------------------------------------------------------------------
// 5. Limit enforcement: how long past the deadline (and the step budget) a runaway is stopped
// ---------------------------------------------------------------------------------------------

const DEADLINE_MS = smoke ? 5 : 20;
const STEP_BUDGET = 100;
const TRIALS = smoke ? 2 : mode === 'quick' ? 8 : 30;
log('limit enforcement…');
/** @type {Record<string, unknown>[]} */
const limits = [];
{
  /** @type {{ spec: RowSpec, backend: SandboxBackend, kind: 'deadline' | 'steps', source: import('@wardwright/core').PolicySource, callLimits: object, samples: number[], steps: number[], failures: Record<string, number> }[]} */
  const cases = [];
  for (const spec of specs) {
    const source = sourceOf('runaway', spec.language);
    if (source === undefined) continue;
    const backend = spec.create();
    toDispose.push(backend);
    const caps = backend.capabilities;
    // An in-process backend without a kill would block this thread for good. A sandbox without
    // a hard kill (Starlark) stops itself, checking the deadline as it runs: that is measured.
    if (!caps.hardKill && !caps.isolated) {
      limits.push({
        backend: spec.name,
        limit: 'deadline',
        enforced: false,
        why: 'in-process with no hard kill (capabilities.hardKill false): a runaway would block the thread for good; not run',
      });
    } else {
      cases.push({
        spec,
        backend,
        kind: 'deadline',
        source,
        callLimits: { timeout_ms: DEADLINE_MS },
        samples: [],
        steps: [],
        failures: {},
      });
    }
    if (caps.steps === 'none') {
      limits.push({
        backend: spec.name,
        limit: 'steps',
        enforced: false,
        why: 'no step counting (capabilities.steps none)',
      });
    } else {
      cases.push({
        spec,
        backend,
        kind: 'steps',
        source,
        callLimits: { timeout_ms: 5_000, max_steps: STEP_BUDGET },
        samples: [],
        steps: [],
        failures: {},
      });
    }
  }
  // Trials interleaved across cases; a fresh load per trial (not timed), so a reload after the
  // previous kill never lands in the next measurement.
  for (let t = 0; t < TRIALS; t++) {
    for (const c of cases) {
      let policy;
      try {
        policy = await c.backend.load(c.source);
      } catch (error) {
        fail('limits', c.spec.name, error);
        continue;
      }
      const start = process.hrtime.bigint();
      const result = await policy.invoke('decide', {}, c.callLimits);
      const ns = Number(process.hrtime.bigint() - start);
      await policy.dispose();
      const kind = result.ok ? 'returned' : result.failure.kind;
      c.failures[kind] = (c.failures[kind] ?? 0) + 1;
      c.samples.push(c.kind === 'deadline' ? ns - DEADLINE_MS * 1e6 : ns);
      if (result.usage.steps !== undefined) c.steps.push(result.usage.steps);
    }
  }
  for (const c of cases) {
    if (c.samples.length === 0) continue;
    const stats = M.summarize(c.samples);
    limits.push({
      backend: c.spec.name,
      limit: c.kind,
      enforced: true,
      steps_precision: c.backend.capabilities.steps,
      stopped_by: c.backend.capabilities.hardKill
        ? 'preemptive kill'
        : 'the guest checking its own budget as it runs',
      ...(c.kind === 'deadline'
        ? { deadline_ms: DEADLINE_MS, measures: 'ns past the deadline until invoke returned' }
        : { max_steps: STEP_BUDGET, measures: 'ns from the call until it was stopped' }),
      failures: c.failures,
      ...(c.steps.length > 0 ? { steps_reported: M.summarize(c.steps) } : {}),
      stats,
      samples_ns: c.samples.map(Math.round),
    });
  }
}

// One table in backend order, the deadline before the steps.
limits.sort(
  (a, b) =>
    specs.findIndex((s) => s.name === a.backend) - specs.findIndex((s) => s.name === b.backend) ||
    String(a.limit).localeCompare(String(b.limit)),
);

// ---------------------------------------------------------------------------------------------
// 6. Memory per live instance: 100 loaded (and called) policies per backend
// ---------------------------------------------------------------------------------------------

const LIVE = smoke ? 5 : 100;
log('memory…');
/** @type {Record<string, unknown>[]} */
const memory = [];
for (const spec of specs) {
  const source = sourceOf('classify', spec.language);
  if (source === undefined) continue;
  const backend = spec.create();
  const gc = /** @type {(() => void) | undefined} */ (globalThis.gc);
  gc?.();
  gc?.();
  const before = process.memoryUsage();
  const live = [];
  try {
    for (let i = 0; i < LIVE; i++) {
      const policy = await backend.load(source);
      await policy.invoke('decide', classifyInput);
      live.push(policy);
    }
  } catch (error) {
    fail('memory', spec.name, error);
    await backend.dispose();
    continue;
  }
  gc?.();
  gc?.();
  const after = process.memoryUsage();
  /** @param {number} a @param {number} b */
  const kib = (a, b) => Math.round((a - b) / LIVE / 1024);
  memory.push({
    backend: spec.name,
    instances: LIVE,
    gc: gc !== undefined,
    kib_per_instance: {
      rss: kib(after.rss, before.rss),
      heap_used: kib(after.heapUsed, before.heapUsed),
      external: kib(after.external, before.external),
      array_buffers: kib(after.arrayBuffers, before.arrayBuffers),
    },
  });
  for (const p of live) await p.dispose();
  await backend.dispose();
}

// ---------------------------------------------------------------------------------------------
// 7. Throughput under concurrency: N concurrent invokes of one policy, and of N policies
// ---------------------------------------------------------------------------------------------

const N = smoke ? 4 : 16;
log('concurrency…');
/** @type {Record<string, unknown>[]} */
const concurrency = [];
{
  const subjects = [];
  const loaded = [];
  for (const spec of specs) {
    const source = sourceOf('classify', spec.language);
    if (source === undefined) continue;
    const backend = spec.create();
    toDispose.push(backend);
    /** @type {import('@wardwright/core').LoadedPolicy[]} */
    const many = [];
    try {
      for (let i = 0; i <= N; i++) {
        const policy = await backend.load(source);
        loaded.push(policy);
        many.push(policy);
        // Checked: a failing call would be timed as a fast one.
        const first = await policy.invoke('decide', classifyInput);
        if (!first.ok) throw new Error(`${first.failure.kind}: ${first.failure.message}`);
      }
    } catch (error) {
      fail('concurrency', spec.name, error);
      continue;
    }
    const one = /** @type {import('@wardwright/core').LoadedPolicy} */ (many.pop());
    subjects.push(
      {
        name: `${spec.name}|one policy`,
        batch: 1,
        run: () =>
          Promise.all(Array.from({ length: N }, () => one.invoke('decide', classifyInput))),
      },
      {
        name: `${spec.name}|${N} policies`,
        batch: 1,
        run: () => Promise.all(many.map((p) => p.invoke('decide', classifyInput))),
      },
    );
  }
  for (const m of await M.measureInterleaved(subjects, plan)) {
    const [backend, shape] = m.name.split('|');
    const entry = record(
      'concurrency',
      backend ?? '',
      `${backend}: ${N} concurrent invokes, ${shape}`,
      m,
      {
        concurrent: N,
        shape,
      },
    );
    concurrency.push({
      backend,
      shape,
      concurrent: N,
      invokes_per_s: m.stats.p50 > 0 ? Math.round((N * 1e9) / m.stats.p50) : 0,
      p50_ns_per_round: entry.ns_per_unit.p50,
    });
  }
  for (const p of loaded) await p.dispose();
}

for (const backend of toDispose) await backend.dispose();

// ---------------------------------------------------------------------------------------------
// 8. Execution modes (inline, worker pool, process pool) and 9. a victim under hostile load
// ---------------------------------------------------------------------------------------------

const poolContext = {
  specs: specs.filter((spec) => spec.name !== 'native'),
  source: (/** @type {'javascript' | 'starlark'} */ language) => sourceOf('classify', language),
  input: classifyInput,
  plan,
  mode: /** @type {'smoke' | 'quick' | 'full'} */ (mode),
  record,
  fail,
  log,
};
const modes = await modesSuite(poolContext);
const classifySource = sourceOf('classify', 'javascript');
const victim =
  classifySource === undefined
    ? undefined
    : await victimSuite({ ...poolContext, classify: classifySource });

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

/**
 * Every backend, with its capabilities if it ran and why not if it did not (`reason`, which
 * sandbox.md and the smoke test read).
 * @type {{ name: string, language?: 'javascript' | 'starlark', available: boolean, capabilities?: import('@wardwright/core').SandboxCapabilities, reason?: string }[]}
 */
const backends = specs.map((spec) => ({
  name: spec.name,
  language: spec.language,
  available: true,
  capabilities: spec.create().capabilities,
}));
for (const u of unavailable) backends.push({ name: u.backend, available: false, reason: u.reason });

/**
 * Issue 4's speed targets, set on the dependency probe's machine: each backend's p50 alone and
 * interleaved, its library floor, and how fast this machine ran the probe's own rows.
 */
const p50Of = (/** @type {string} */ suite, /** @type {string} */ backend) =>
  /** @type {any} */ (results.find((r) => r.suite === suite && r.backend === backend))?.ns_per_unit
    .p50;
/** @param {string} backend @param {string} measure @param {'warm' | 'fresh'} kind @param {number} target @param {string} floor @param {keyof typeof PROBE_P50_NS} probe @param {string} probeRow */
const target = (backend, measure, kind, target, floor, probe, probeRow) => {
  const probeNow = p50Of('floor', probeRow);
  return {
    backend,
    measure,
    target_ns: target,
    alone_ns: p50Of(`${kind}-solo`, backend),
    interleaved_ns: p50Of(kind, backend),
    floor: floor === '' ? undefined : { row: floor, ns: p50Of('floor', floor) },
    probe: { row: probeRow, probe_ns: PROBE_P50_NS[probe], here_ns: probeNow },
    machine_factor:
      probeNow === undefined ? undefined : Math.round((probeNow / PROBE_P50_NS[probe]) * 100) / 100,
  };
};
const targets = [
  target(
    'isolated-vm',
    'warm p50',
    'warm',
    8000,
    'isolated-vm floor',
    'b4',
    'probe b4 (isolated-vm)',
  ),
  target('quickjs', 'warm p50', 'warm', 20_000, 'quickjs floor', 'c2', 'probe c2 (quickjs)'),
  target('quickjs', 'fresh per call p50', 'fresh', 250_000, '', 'd4', 'probe d4 (quickjs fresh)'),
];

const report = {
  ...envelope({ suite: 'sandbox', mode, started }),
  targets,
  floor_skipped: floorSkipped,
  plan,
  backends,
  outputs,
  failed,
  results,
  limits,
  memory,
  concurrency,
  modes,
  victim,
};

/** @param {string} suite @param {(r: Record<string, any>) => boolean} [keep] */
const boxes = (suite, keep = () => true) =>
  results
    .filter((r) => r.suite === suite && keep(r))
    .map((r) => ({ label: String(r.backend), stats: /** @type {any} */ (r).ns_per_unit }));

const svgs = {
  'sandbox-warm.svg': boxPlot({
    title: 'Warm invoke: classify 50 values',
    subtitle: `${mode} run, ${report.date.slice(0, 10)}, Node ${report.machine.node}`,
    rows: boxes('warm'),
  }),
  'sandbox-cold.svg': boxPlot({
    title: 'Cold start: load + first call',
    subtitle: `${mode} run, ${report.date.slice(0, 10)}`,
    rows: boxes('cold'),
  }),
  'sandbox-workloads.svg': boxPlot({
    title: 'Decision-core workloads, warm',
    subtitle: 'history · ttsr · structured, per backend',
    rows: results
      .filter((r) => r.suite === 'workload')
      .map((r) => ({
        label: `${r.backend} ${r.workload}`,
        stats: /** @type {any} */ (r).ns_per_unit,
      })),
  }),
  'sandbox-modes.svg': boxPlot({
    title: 'Warm invoke by execution mode: classify 50 values',
    subtitle: 'inline, a worker pool and a process pool of 2, one caller',
    rows: results
      .filter((r) => r.suite === 'modes-warm')
      .map((r) => ({
        label: `${r.backend} ${r.execution}`,
        stats: /** @type {any} */ (r).ns_per_unit,
      })),
  }),
  'sandbox-victim.svg': boxPlot({
    title: 'A victim policy next to hostile ones',
    subtitle: 'classify in QuickJS, worker pool of 2, one call at a time',
    rows: results
      .filter((r) => r.suite === 'victim')
      .map((r) => ({
        label: String(r.condition),
        color: r.condition === 'quiet' ? '#1f77b4' : '#d62728',
        stats: /** @type {any} */ (r).ns_per_unit,
      })),
  }),
  'sandbox-marshal.svg': lineChart({
    title: 'Cost vs input size (p50 per call)',
    subtitle: 'a policy that reads almost nothing: the input crossing the boundary',
    xLabel: 'input size (log scale)',
    xTicks: SIZES_KIB.map((k) => ({ value: k, label: `${k} KiB` })),
    series: specs
      .map((spec) => ({
        label: spec.name,
        points: results
          .filter((r) => r.suite === 'marshal' && r.backend === spec.name)
          .map((r) => ({
            x: /** @type {number} */ (r.input_kib),
            y: /** @type {any} */ (r).ns_per_unit.p50,
          })),
      }))
      .filter((s) => s.points.length > 0),
  }),
};

const md = markdownReport(report, Object.keys(svgs));
console.log(md);
// Raw sample arrays on one line each: the file stays readable and diffs stay small.
const json = JSON.stringify(report, null, 1).replace(/\[\n[\d.,\s-]*\]/g, (list) =>
  list.replace(/\s+/g, ''),
);
writeFiles(outDir, {
  'sandbox.json': `${json}\n`,
  'sandbox.md': md,
  ...svgs,
});
