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
    '## Charts',
    '',
    ...charts.map((c) => `![${c}](${c})`),
    '',
  );
  return `${lines.join('\n')}\n`;
}
