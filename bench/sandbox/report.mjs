// The markdown report of the sandbox suite, built from the JSON report alone (so it can be
// rebuilt from a committed sandbox.json). Ratios are to the native row measured in the same
// run; noise is the IQR as a share of the median.
import { formatNs as fmt } from '../report/svg.mjs';

/** @param {number} value @param {number | undefined} base */
function ratio(value, base) {
  if (base === undefined || !(base > 0)) return '–';
  const r = value / base;
  return `${r < 10 ? r.toFixed(2) : r < 100 ? r.toFixed(1) : Math.round(r).toLocaleString('en-US')}×`;
}

/** @param {string[]} header @param {string[][]} rows @param {string} [align] */
function mdTable(header, rows, align) {
  return [
    `| ${header.join(' | ')} |`,
    `|${(align ?? `---${'|---:'.repeat(header.length - 1)}`).split('|').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
}

/**
 * The speed targets of the sandbox issue next to the library floor and the probe's reference
 * rows: the targets were set on the dependency probe's machine, so the probe's own rows measured
 * here give this machine's speed factor.
 * @param {any} report
 */
function targetsSection(report) {
  if (!Array.isArray(report.targets)) return [];
  const floors = report.results.filter((/** @type {any} */ r) => r.suite === 'floor');
  return [
    '## Speed targets, the library floor and this machine',
    '',
    "Floor: the same policy through the library's own API with nothing of Wardwright's around it (JSON in and out, a deadline), each alone. Probe rows: the dependency probe's policy and calls (node-deps-probe §6), whose medians on the probe's machine set the targets; machine factor = this run ÷ the probe's median.",
    '',
    ...mdTable(
      [
        'backend',
        'measure',
        'alone',
        'interleaved',
        'floor',
        'above floor',
        'target',
        'probe row here / there',
        'machine factor',
        'target × factor',
      ],
      report.targets.map((/** @type {any} */ t) => [
        t.backend,
        t.measure,
        t.alone_ns === undefined ? '–' : fmt(t.alone_ns),
        t.interleaved_ns === undefined ? '–' : fmt(t.interleaved_ns),
        t.floor?.ns === undefined ? '–' : fmt(t.floor.ns),
        t.floor?.ns === undefined || t.alone_ns === undefined
          ? '–'
          : `+${fmt(Math.max(0, t.alone_ns - t.floor.ns))}`,
        fmt(t.target_ns),
        t.probe.here_ns === undefined ? '–' : `${fmt(t.probe.here_ns)} / ${fmt(t.probe.probe_ns)}`,
        t.machine_factor === undefined ? '–' : `${t.machine_factor}×`,
        t.machine_factor === undefined ? '–' : fmt(t.target_ns * t.machine_factor),
      ]),
    ),
    '',
    ...mdTable(
      ['floor row', 'p50', 'p99', 'IQR'],
      floors.map((/** @type {any} */ r) => [
        r.backend,
        fmt(p50(r)),
        fmt(r.ns_per_unit.p99),
        `${r.iqr_pct}%`,
      ]),
    ),
    '',
  ];
}

/** @param {any} r */
const p50 = (r) => r.ns_per_unit.p50;

/** @param {number | undefined} ns */
const cell = (ns) => (ns === undefined ? '–' : fmt(ns));
/** @param {number | undefined} ns */
const hop = (ns) => (ns === undefined ? '–' : `${ns < 0 ? '−' : '+'}${fmt(Math.abs(ns))}`);

/**
 * Each backend inline, in a worker pool and in a process pool: the hop a mode adds to a warm
 * call, what starting a pool and a first call on it cost, and throughput with several callers.
 * @param {any} report
 */
function modesSection(report) {
  if (!Array.isArray(report.modes) || report.modes.length === 0) return [];
  const rounds = report.results.filter((/** @type {any} */ r) => r.suite === 'modes-start')[0]
    ?.samples;
  const callers = report.modes.find((/** @type {any} */ m) => m.callers !== undefined)?.callers;
  const executors = report.modes.find((/** @type {any} */ m) => m.executors > 0)?.executors;
  return [
    '## Execution modes: inline, worker pool, process pool',
    '',
    `The classify policy through each backend on the caller's thread (inline), in a pool of ${executors} worker threads (\`workerSandbox\`) and in a pool of ${executors} child processes (\`processSandbox\`), all rows interleaved as above. Warm: one caller, one call at a time. Hop: the mode's warm p50 − the same backend's inline p50 (a JSON message each way and a wake-up of the executor). Alone: the same call with no other row in between, as a gateway calling one pool back to back runs it (interleaved, an executor idles between its blocks and pays for waking up). Pool start: \`await workerSandbox(…)\` / \`processSandbox(…)\` until every executor is up with the backend module imported; first call: a load and the first call on a started pool (inline: on a new backend object, its module already imported by the host); ${rounds ?? 'a few'} rounds, rows rotated, disposing not timed. Throughput: ${callers} calls started together on one loaded policy, calls/s from the p50 of a round. Contains: the backend in that mode holds availability (\`capabilities.availability\`): no policy can crash, hang or stall the host.`,
    '',
    ...mdTable(
      [
        'backend',
        'mode',
        'contains',
        'warm p50',
        'warm p99',
        'hop (p50)',
        'alone p50',
        'hop alone',
        'pool start p50',
        'p99',
        'first load + call p50',
        'p99',
        `${callers} concurrent, calls/s`,
      ],
      report.modes.map((/** @type {any} */ m) => [
        m.backend,
        m.execution,
        m.availability ? 'yes' : 'no',
        cell(m.warm_p50_ns),
        cell(m.warm_p99_ns),
        hop(m.hop_p50_ns),
        cell(m.alone_p50_ns),
        hop(m.hop_alone_p50_ns),
        cell(m.start_p50_ns),
        cell(m.start_p99_ns),
        cell(m.first_p50_ns),
        cell(m.first_p99_ns),
        m.calls_per_s === undefined ? '–' : m.calls_per_s.toLocaleString('en-US'),
      ]),
      '---|---|:-:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:',
    ),
    '',
  ];
}

/** @param {number} part @param {number} whole */
const pct = (part, whole) => (whole > 0 ? `${Math.round((part / whole) * 1000) / 10}%` : '–');

/** @param {Record<string, number>} counts */
const kinds = (counts) =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ×${v}`)
    .join(', ') || '–';

/** The cases that ran with a deadline of their own, e.g. ": heap-abort 3000 ms". @param {any} v */
function longer(v) {
  /** @type {Map<string, number>} */
  const all = new Map();
  for (const c of v.conditions) {
    for (const h of c.hostile) {
      for (const [name, ms] of Object.entries(h.case_timeouts_ms ?? {})) all.set(name, Number(ms));
    }
  }
  return all.size === 0 ? '' : `: ${[...all].map(([name, ms]) => `${name} ${ms} ms`).join(', ')}`;
}

/**
 * A victim's latency with no other load and next to hostile policies, and what the hostile
 * policies did meanwhile.
 * @param {any} report
 */
function victimSection(report) {
  const v = report.victim;
  if (v === undefined || v === null) return [];
  return [
    '## A victim next to hostile policies',
    '',
    `The victim: the classify policy in ${v.victim.pool}, called one call at a time (${v.victim.gap_ms} ms between an answer and the next call). Conditions: quiet (nothing else running); same pool (a hostile QuickJS policy running its hostile cases one after another on the victim's pool); separate pools (hostile isolated-vm in a process pool and hostile Starlark in a worker pool, both at once; the victim's pool runs nothing else). ${v.rounds} rounds of one ${v.phase_ms} ms phase per condition, the order rotated each round; between phases the hostile calls in flight end, then a pause of ${v.settle_ms} ms, and at least ${v.respawn_ms} ms after a pool last began replacing an executor, so a quiet phase starts with every pool at rest. Hostile calls run with a ${v.hostile_limits.timeout_ms} ms deadline (a case that needs longer to do its damage names its own${longer(v)}) and a ${Math.round(v.hostile_limits.memory_bytes / 2 ** 20)} MiB memory limit.`,
    '',
    ...mdTable(
      [
        'condition',
        'victim calls',
        'p50',
        'p95',
        'p99',
        'max',
        'p50 × quiet',
        'p99 × quiet',
        'calls > 1 ms',
        'of which during an executor start',
        'calls > 10 ms',
        'cores busy',
        'victim failures',
      ],
      v.conditions.map((/** @type {any} */ c) => [
        c.condition,
        c.calls.toLocaleString('en-US'),
        fmt(c.stats.p50),
        fmt(c.stats.p95),
        fmt(c.stats.p99),
        fmt(c.stats.max),
        c.p50_x_quiet === undefined ? '–' : `${c.p50_x_quiet}×`,
        c.p99_x_quiet === undefined ? '–' : `${c.p99_x_quiet}×`,
        String(c.calls_over_ms[1]),
        c.during_executor_start === undefined
          ? '–'
          : `${c.during_executor_start.calls_over_1_ms} (all calls: ${pct(c.during_executor_start.calls, c.calls)})`,
        String(c.calls_over_ms[10]),
        c.machine_cores_busy === undefined
          ? '–'
          : `${c.machine_cores_busy} of ${report.machine.cores}`,
        kinds(c.victim_failures),
      ]),
    ),
    '',
    `During an executor start: the call overlapped the ${v.conditions[0]?.during_executor_start?.window_ms ?? 400} ms after a pool began replacing an executor it lost (about its start time here); "all calls" is the share of every call of the condition that did, the base rate to compare with. Cores busy: the whole machine's CPU use during the phases (/proc/stat), any other work on the machine included.`,
    '',
    'What the hostile policies did meanwhile: calls that ran (answered by the sandbox, whatever the outcome), calls refused because the policy was cooling down after losing executors (each refused call waits out the cool-down it is told), executors the pool lost, and cool-downs started.',
    '',
    ...mdTable(
      [
        'condition',
        'hostile policy',
        'pool',
        'ran',
        'ok',
        'failed as',
        'refused',
        'executors lost',
        'cool-downs',
      ],
      v.conditions.flatMap((/** @type {any} */ c) =>
        c.hostile.map((/** @type {any} */ h) => {
          const pool = c.pools.find((/** @type {any} */ p) => p.pool === h.pool);
          return [
            c.condition,
            h.policy,
            h.pool,
            String(h.ran),
            String(h.ok),
            kinds(h.failures),
            String(h.refused),
            pool === undefined ? '0' : kinds(pool.exits).replace(/^–$/, '0'),
            pool === undefined ? '0' : String(pool.cooldowns),
          ];
        }),
      ),
      '---|---|---|---:|---:|---|---:|---|---:',
    ),
    '',
  ];
}

/**
 * @param {any} report the object written to sandbox.json
 * @param {string[]} charts SVG file names next to the report
 */
export function markdownReport(report, charts) {
  /** @type {any[]} */
  const results = report.results;
  const of = (/** @type {string} */ suite) => results.filter((r) => r.suite === suite);
  const find = (/** @type {string} */ suite, /** @type {string} */ backend) =>
    of(suite).find((r) => r.backend === backend);
  const m = report.machine;
  const lines = [
    `# Sandbox backend benchmarks (${report.mode})`,
    '',
    `${report.date.slice(0, 10)} · Node ${m.node} · ${m.cpu} (${m.cores} cores, affinity ${m.cpu_affinity}) · load average ${m.load_avg_1m} at the end · ${report.duration_s} s`,
    '',
    `Every row in a table was measured in the same run, interleaved round by round in blocks of about 1 ms per row; up to ${report.plan.maxSamples} samples or ${report.plan.timeMs} ms per row (at least ${report.plan.minSamples}) after ${report.plan.warmupMs} ms of warm-up; a call of 10 µs or more is one sample, faster calls are timed in batches of about 10 µs; IQR % = (p75 − p25) / p50, the noise of the row. Raw samples are in sandbox.json.`,
    '',
    ...(report.failed.length === 0
      ? []
      : [
          '## Rows that did not run',
          '',
          ...report.failed.map(
            (/** @type {any} */ f) => `- ${f.suite} · ${f.backend}: ${f.reason}`,
          ),
          '',
        ]),
    '## Backends and the limits they can enforce',
    '',
    ...mdTable(
      ['backend', 'isolated', 'hard kill', 'steps', 'memory', 'CPU time', 'cannot enforce'],
      report.backends.map((/** @type {any} */ b) => {
        if (!b.available) return [b.name, '–', '–', '–', '–', '–', b.reason];
        const c = b.capabilities;
        const cannot = [
          c.hardKill
            ? ''
            : c.isolated
              ? 'a preemptive stop (no hard kill: the guest checks its deadline as it runs)'
              : 'a runaway (no hard kill, in-process: the deadline is checked after the call)',
          c.steps === 'none' ? 'a step budget (no step counting)' : '',
          c.memory === 'none' ? 'memory' : c.memory === 'soft' ? 'memory only softly' : '',
        ].filter((x) => x !== '');
        return [
          b.name,
          c.isolated ? 'yes' : 'no',
          c.hardKill ? 'yes' : 'no',
          c.steps,
          c.memory,
          c.cpuTime ? 'yes' : 'no',
          cannot.join('; ') || '–',
        ];
      }),
      '---|:-:|:-:|:-:|:-:|:-:|---',
    ),
    '',
    '## Warm invoke and cold start',
    '',
    'The classify policy (50 numbers against a threshold). Warm: a loaded policy called again and again. Cold: load the source and make the first call (dispose not timed).',
    '',
    ...mdTable(
      [
        'backend',
        'warm p50',
        'p95',
        'p99',
        'IQR',
        '× native',
        'alone p50',
        'cold p50',
        'cold p99',
        '× native',
      ],
      of('warm').map((w) => {
        const c = find('cold', w.backend);
        const nw = find('warm', 'native');
        const nc = find('cold', 'native');
        const alone = find('warm-solo', w.backend);
        return [
          w.backend,
          fmt(p50(w)),
          fmt(w.ns_per_unit.p95),
          fmt(w.ns_per_unit.p99),
          `${w.iqr_pct}%`,
          ratio(p50(w), nw && p50(nw)),
          alone ? fmt(p50(alone)) : '–',
          c ? fmt(p50(c)) : '–',
          c ? fmt(c.ns_per_unit.p99) : '–',
          c ? ratio(p50(c), nc && p50(nc)) : '–',
        ];
      }),
    ),
    '',
    '"Alone": the same call measured with no other row in between, as a server calling one backend runs it; the other columns are the interleaved rows (1 ms blocks), where the switch between rows still costs a fast call a little.',
    '',
    ...targetsSection(report),
    '## Workloads from the decision cores: ranking, with ratios to native',
    '',
    'The same source file (bench/sandbox/workloads/*.js) imported natively and loaded into each sandbox; every backend returned the same output (checked before timing).',
    '',
  ];
  /** @type {Map<string, any[]>} */
  const byWorkload = new Map();
  for (const r of of('workload'))
    byWorkload.set(r.workload, [...(byWorkload.get(r.workload) ?? []), r]);
  for (const [workload, rows] of byWorkload) {
    const native = rows.find((r) => r.backend === 'native');
    lines.push(
      `**${workload}**: ${rows[0].title}`,
      '',
      ...mdTable(
        ['rank', 'backend', 'p50', 'p95', 'p99', 'IQR', '× native'],
        [...rows]
          .sort((a, b) => p50(a) - p50(b))
          .map((r, i) => [
            String(i + 1),
            r.backend,
            fmt(p50(r)),
            fmt(r.ns_per_unit.p95),
            fmt(r.ns_per_unit.p99),
            `${r.iqr_pct}%`,
            ratio(p50(r), native && p50(native)),
          ]),
      ),
      '',
    );
  }
  lines.push(
    '## Fresh instance per call',
    '',
    "`fresh: 'per-call'`: no state survives between calls (isolated-vm: a new context per call on the policy's isolate; QuickJS: the module's memory restored from a snapshot taken right after load).",
    '',
    ...mdTable(
      ['backend', 'p50', 'p99', 'IQR', '× its warm invoke', 'alone p50', 'note'],
      of('fresh').map((r) => {
        const w = find('warm', r.backend);
        const alone = find('fresh-solo', r.backend);
        return [
          r.backend,
          fmt(p50(r)),
          fmt(r.ns_per_unit.p99),
          `${r.iqr_pct}%`,
          ratio(p50(r), w && p50(w)),
          alone ? fmt(p50(alone)) : '–',
          r.note ?? '',
        ];
      }),
    ),
    '',
    '## Marshalling: cost vs input size',
    '',
    'A policy that reads almost nothing, so the time is the input crossing the boundary (p50 per call).',
    '',
  );
  const sizes = [...new Set(of('marshal').map((r) => r.input_kib))].sort((a, b) => a - b);
  const marshalBackends = [...new Set(of('marshal').map((r) => r.backend))];
  lines.push(
    ...mdTable(
      ['backend', ...sizes.map((k) => `${k} KiB`), 'per KiB (largest two sizes)'],
      marshalBackends.map((b) => {
        const cells = sizes.map((k) =>
          of('marshal').find((r) => r.backend === b && r.input_kib === k),
        );
        const [x, y] = cells.slice(-2);
        const [kx, ky] = sizes.slice(-2);
        const slope =
          x && y && kx !== undefined && ky !== undefined ? (p50(y) - p50(x)) / (ky - kx) : 0;
        return [b, ...cells.map((c) => (c ? fmt(p50(c)) : '–')), fmt(Math.max(0, slope))];
      }),
    ),
    '',
    '## Limit enforcement',
    '',
    'A `while (true) {}` policy, a fresh load per trial (not timed). Deadline: time from the deadline until `invoke` returned. Steps: time from the call until it was stopped by the step budget, and the steps the backend reported.',
    '',
    ...mdTable(
      ['backend', 'limit', 'budget', 'p50', 'p95', 'max', 'trials', 'stopped by', 'stopped as'],
      report.limits.map((/** @type {any} */ l) =>
        l.enforced
          ? [
              l.backend,
              l.limit,
              l.limit === 'deadline'
                ? `${l.deadline_ms} ms`
                : `${l.max_steps} steps (${l.steps_precision})`,
              `${l.limit === 'deadline' ? '+' : ''}${fmt(l.stats.p50)}`,
              `${l.limit === 'deadline' ? '+' : ''}${fmt(l.stats.p95)}`,
              `${l.limit === 'deadline' ? '+' : ''}${fmt(l.stats.max)}`,
              String(l.stats.samples),
              l.stopped_by,
              Object.entries(l.failures)
                .map(([k, v]) => `${k} ×${v}`)
                .join(', ') +
                (l.steps_reported ? `; steps reported p50 ${l.steps_reported.p50}` : ''),
            ]
          : [l.backend, l.limit, '–', '–', '–', '–', '0', '–', `cannot enforce: ${l.why}`],
      ),
    ),
    '',
    '## Memory per live instance',
    '',
    `Growth per loaded-and-called policy over ${report.memory[0]?.instances ?? 0} live ones, after GC${report.memory[0]?.gc ? '' : ' (not exposed: run with --expose-gc)'}. Coarse: RSS moves in pages and WebAssembly memory is committed as it is touched.`,
    '',
    ...mdTable(
      ['backend', 'RSS KiB', 'JS heap KiB', 'external KiB', 'ArrayBuffers KiB'],
      report.memory.map((/** @type {any} */ x) => [
        x.backend,
        String(x.kib_per_instance.rss),
        String(x.kib_per_instance.heap_used),
        String(x.kib_per_instance.external),
        String(x.kib_per_instance.array_buffers),
      ]),
    ),
    '',
    '## Throughput under concurrency',
    '',
    `${report.concurrency[0]?.concurrent ?? 0} invokes started together (Promise.all) on one loaded policy, and one each on as many loaded policies; invokes/s from the p50 of a round. Sequential: 1 / warm p50.`,
    '',
  );
  const concBackends = [...new Set(report.concurrency.map((/** @type {any} */ c) => c.backend))];
  lines.push(
    ...mdTable(
      [
        'backend',
        'one policy, invokes/s',
        `${report.concurrency[0]?.concurrent ?? 'N'} policies, invokes/s`,
        'sequential, invokes/s',
      ],
      concBackends.map((b) => {
        const one = report.concurrency.find(
          (/** @type {any} */ c) => c.backend === b && c.shape === 'one policy',
        );
        const many = report.concurrency.find(
          (/** @type {any} */ c) => c.backend === b && c.shape !== 'one policy',
        );
        const w = find('warm', /** @type {string} */ (b));
        return [
          /** @type {string} */ (b),
          one ? one.invokes_per_s.toLocaleString('en-US') : '–',
          many ? many.invokes_per_s.toLocaleString('en-US') : '–',
          w ? Math.round(1e9 / p50(w)).toLocaleString('en-US') : '–',
        ];
      }),
    ),
    '',
    ...modesSection(report),
    ...victimSection(report),
    '## Charts',
    '',
    ...charts.map((c) => `![${c}](${c})`),
    '',
  );
  return `${lines.join('\n')}\n`;
}
