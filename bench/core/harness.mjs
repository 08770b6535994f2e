// A small layer over tinybench for sub-microsecond work: each tinybench iteration runs the case
// `batch` times, so the timer's own cost (~50 ns per sample) is spread over the batch; samples
// are then reported per operation. Noise is reported, not hidden: median, p99, quartiles, min
// and max over all samples, plus the sample count.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineInfo } from '@wardwright/cli/measure';
import { Bench } from 'tinybench';

/** @typedef {{ name: string, group: string, unit_ops: number, fn: () => unknown, async?: boolean, batch?: number, target?: { max_ns_per_unit?: number, min_ops_per_s?: number, label: string } }} Case */

/** @type {unknown} */
let sink;

/**
 * `rounds` > 1 runs every case that many times for a share of `timeMs` each, round after round,
 * and pools the samples: on a shared machine whose load drifts, cases compared with each other
 * are then measured under the same conditions rather than one after the other.
 *
 * @param {Case[]} cases
 * @param {{ timeMs: number, warmupMs: number, rounds?: number }} options
 */
export async function runCases(cases, options) {
  const rounds = Math.max(1, options.rounds ?? 1);
  /** @type {number[][]} */
  const samples = cases.map(() => []);
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({
      time: options.timeMs / rounds,
      warmup: true,
      warmupTime: options.warmupMs / rounds,
      warmupIterations: 5,
      retainSamples: true,
    });
    for (const c of cases) {
      const batch = c.batch ?? 1;
      const fn = c.fn;
      if (c.async === true) {
        // Awaiting each call is part of what is measured: it is what a caller pays.
        bench.add(c.name, async () => {
          for (let i = 0; i < batch; i++) sink = await fn();
        });
      } else {
        bench.add(c.name, () => {
          for (let i = 0; i < batch; i++) sink = fn();
        });
      }
    }
    await bench.run();
    cases.forEach((c, i) => {
      const result = bench.tasks[i]?.result;
      if (result?.state !== 'completed' || result.latency.samples === undefined) {
        const why = result?.state === 'errored' ? String(result.error) : result?.state;
        throw new Error(`benchmark "${c.name}" did not complete: ${why}`);
      }
      samples[i]?.push(...result.latency.samples);
    });
  }
  return cases.map((c, i) => {
    // ns per unit of work (a decision, a chunk): sample ms / batch / units per call.
    const perUnit = (samples[i] ?? [])
      .map((ms) => (ms * 1e6) / (c.batch ?? 1) / c.unit_ops)
      .sort((a, b) => a - b);
    /** @param {number} p */
    const q = (p) =>
      perUnit[Math.min(perUnit.length - 1, Math.floor(p * (perUnit.length - 1)))] ?? 0;
    const p50 = q(0.5);
    /** @type {Record<string, unknown> & { ns_per_unit: { min: number, p25: number, p50: number, p75: number, p99: number, max: number }, units_per_s: number, target?: { label: string, met: boolean } }} */
    const stats = {
      name: c.name,
      group: c.group,
      samples: perUnit.length,
      batch: c.batch ?? 1,
      unit_ops: c.unit_ops,
      ns_per_unit: {
        min: round(perUnit[0] ?? 0),
        p25: round(q(0.25)),
        p50: round(p50),
        p75: round(q(0.75)),
        p99: round(q(0.99)),
        max: round(perUnit[perUnit.length - 1] ?? 0),
      },
      units_per_s: Math.round(1e9 / p50),
    };
    if (c.target !== undefined) {
      const t = c.target;
      const met =
        (t.max_ns_per_unit === undefined || p50 <= t.max_ns_per_unit) &&
        (t.min_ops_per_s === undefined || 1e9 / p50 >= t.min_ops_per_s);
      stats.target = { ...t, met };
    }
    return stats;
  });
}

// One definition of the machine block for every report: the CLI's (`wardwright bench` writes it too).
export { machineInfo };

/** @param {number} n */
function round(n) {
  return n < 10 ? Math.round(n * 100) / 100 : n < 1000 ? Math.round(n * 10) / 10 : Math.round(n);
}

export function keepAlive() {
  return sink;
}

/** Options every runner takes: --quick (shorter), --smoke (just runs), --out DIR. */
export function runnerArgs() {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const smoke = args.includes('--smoke');
  const outIndex = args.indexOf('--out');
  const outDir =
    (outIndex >= 0 ? args[outIndex + 1] : undefined) ??
    fileURLToPath(new URL('../results/', import.meta.url));
  const mode = smoke ? 'smoke' : quick ? 'quick' : 'full';
  const timing = smoke
    ? { timeMs: 5, warmupMs: 1 }
    : quick
      ? { timeMs: 150, warmupMs: 50 }
      : { timeMs: 1500, warmupMs: 300 };
  return { mode, outDir, timing };
}

/** @param {number} ns */
const fmt = (ns) =>
  ns < 1000
    ? `${ns} ns`
    : ns < 1_000_000
      ? `${Math.round(ns / 10) / 100} µs`
      : `${Math.round(ns / 10_000) / 100} ms`;

/**
 * Write `<suite>.json` (every sample statistic, machine and Node info) and `<suite>.md` (the
 * table the docs copy), and print the table.
 * @param {{ suite: string, title: string, column: string, note: string, mode: string, outDir: string, started: number, results: Awaited<ReturnType<typeof runCases>> }} r
 */
export function writeReport(r) {
  const report = { ...envelope(r), results: r.results };
  const lines = [
    `# ${r.title} (${report.mode})`,
    '',
    `${report.date.slice(0, 10)} · Node ${report.machine.node} · ${report.machine.cpu} (${report.machine.cores} cores) · ${report.duration_s} s`,
    '',
    `| ${r.column} | case | ops/s | p50 | p99 | target |`,
    '|---|---|---:|---:|---:|---|',
    ...r.results.map(
      (x) =>
        `| ${x.group} | ${x.name} | ${x.units_per_s.toLocaleString('en-US')} | ${fmt(x.ns_per_unit.p50)} | ${fmt(x.ns_per_unit.p99)} | ${x.target === undefined ? '' : `${x.target.label} ${x.target.met ? '✅' : '❌'}`} |`,
    ),
    '',
    r.note,
  ];
  console.log(lines.join('\n'));
  writeFiles(r.outDir, {
    [`${r.suite}.json`]: `${JSON.stringify(report, null, 2)}\n`,
    [`${r.suite}.md`]: `${lines.join('\n')}\n`,
  });
}

/**
 * What every report starts with: suite, date, mode, duration, machine.
 * @param {{ suite: string, mode: string, started: number }} r
 */
export function envelope(r) {
  return {
    suite: r.suite,
    date: new Date().toISOString(),
    mode: r.mode,
    duration_s: Math.round((Date.now() - r.started) / 100) / 10,
    machine: machineInfo(),
  };
}

/**
 * Write report files (JSON, markdown, SVG…) into `outDir`, and say where.
 * @param {string} outDir @param {Record<string, string>} files name → content
 */
export function writeFiles(outDir, files) {
  mkdirSync(outDir, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(outDir, name), content);
  console.log(`\nwrote ${Object.keys(files).join(', ')} to ${outDir}`);
}
