import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The benchmarks are not timed here (timing belongs to `npm run bench`); this only proves every
// case still runs against the built package and each report is well-formed.
const out = mkdtempSync(join(tmpdir(), 'wardwright-bench-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function runSmoke(suite: string, flags: string[] = []): void {
  const runner = fileURLToPath(new URL(`../bench/${suite}/run.mjs`, import.meta.url));
  execFileSync(
    process.execPath,
    ['--no-node-snapshot', ...flags, runner, '--smoke', '--out', out],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
}

describe.each([
  ['core', '| core | case | ops/s |', 10],
  ['engine', '| phase | case | ops/s |', 5],
])('%s benchmark runner', (suite, header, minCases) => {
  it('runs every case and writes JSON and markdown', () => {
    runSmoke(suite);
    const report = JSON.parse(readFileSync(join(out, `${suite}.json`), 'utf8'));
    expect(report.mode).toBe('smoke');
    expect(report.suite).toBe(suite);
    expect(report.machine.node).toBe(process.version);
    expect(report.results.length).toBeGreaterThanOrEqual(minCases);
    for (const result of report.results) {
      expect(result.samples).toBeGreaterThan(0);
      expect(result.ns_per_unit.p50).toBeGreaterThan(0);
      expect(result.ns_per_unit.p99).toBeGreaterThanOrEqual(result.ns_per_unit.p50);
    }
    expect(readFileSync(join(out, `${suite}.md`), 'utf8')).toContain(header);
  }, 60_000);
});

/**
 * A strict little XML well-formedness check (no XML parser is a dependency here): one root,
 * every tag closed in order, attributes quoted, `<` and `&` only as markup or entities.
 * Returns how many of each element there are.
 */
function parseXml(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  const stack: string[] = [];
  let roots = 0;
  const token =
    /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  for (const m of text.matchAll(token)) {
    const [, closing, name, , selfClosing, body, stray] = m;
    if (stray !== undefined)
      throw new Error(`malformed markup at ${m.index}: ${text.slice(m.index, m.index + 40)}`);
    if (body !== undefined) {
      if (/&(?!(?:amp|lt|gt|quot|apos|#\d+);)/.test(body)) throw new Error(`bare & at ${m.index}`);
      if (stack.length === 0 && body.trim() !== '') throw new Error('text outside the root');
      continue;
    }
    if (name === undefined) continue;
    if (closing === '/') {
      if (stack.pop() !== name) throw new Error(`</${name}> closes the wrong element`);
      continue;
    }
    if (stack.length === 0 && ++roots > 1) throw new Error('more than one root element');
    counts.set(name, (counts.get(name) ?? 0) + 1);
    if (selfClosing !== '/') stack.push(name);
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.at(-1)}>`);
  if (roots !== 1) throw new Error('no root element');
  return counts;
}

describe('the XML check itself', () => {
  it('accepts a well-formed document and refuses broken ones', () => {
    expect(parseXml('<svg a="1"><g><rect/></g><text>a &amp; b</text></svg>').get('rect')).toBe(1);
    expect(() => parseXml('<svg><g></svg>')).toThrow();
    expect(() => parseXml('<svg><text>a & b</text></svg>')).toThrow();
    expect(() => parseXml('<svg a=1></svg>')).toThrow();
    expect(() => parseXml('<svg></svg><svg></svg>')).toThrow();
  });
});

describe('sandbox benchmark runner', () => {
  // biome-ignore lint/suspicious/noExplicitAny: a parsed JSON report
  let report: any;
  beforeAll(() => {
    runSmoke('sandbox', ['--expose-gc']);
    report = JSON.parse(readFileSync(join(out, 'sandbox.json'), 'utf8'));
  }, 120_000);

  it('writes every suite, each timed row with consistent stats and its raw samples', () => {
    expect(report.suite).toBe('sandbox');
    expect(report.mode).toBe('smoke');
    // Every JavaScript row ran every suite (an optional Starlark build may lag behind).
    expect(report.failed.filter((f: { backend: string }) => f.backend !== 'starlark')).toEqual([]);
    expect(report.machine.node).toBe(process.version);
    const suites = new Set(report.results.map((r: { suite: string }) => r.suite));
    expect([...suites].sort()).toEqual(
      [
        'cold',
        'concurrency',
        'floor',
        'fresh',
        'fresh-solo',
        'marshal',
        'modes-first',
        'modes-start',
        'modes-throughput',
        'modes-warm',
        'modes-warm-solo',
        'victim',
        'warm',
        'warm-solo',
        'workload',
      ].sort(),
    );
    const warm = report.results.filter((r: { suite: string }) => r.suite === 'warm');
    expect(warm.map((r: { backend: string }) => r.backend)).toEqual(
      expect.arrayContaining(['native', 'trusted', 'quickjs', 'isolated-vm']),
    );
    for (const r of report.results) {
      expect(r.samples_ns).toHaveLength(r.samples);
      expect(r.samples).toBeGreaterThan(0);
      const q = r.ns_per_unit;
      expect([q.min, q.p25, q.p50, q.p75, q.p95, q.p99, q.max]).toEqual(
        [q.min, q.p25, q.p50, q.p75, q.p95, q.p99, q.max].sort((a: number, b: number) => a - b),
      );
    }
    // Three workloads × four JavaScript rows, and the three marshalling sizes per row.
    const workloads = report.results.filter((r: { suite: string }) => r.suite === 'workload');
    expect(new Set(workloads.map((r: { workload: string }) => r.workload))).toEqual(
      new Set(['history', 'ttsr', 'structured']),
    );
    expect(workloads.length).toBeGreaterThanOrEqual(12);
    const sizes = report.results
      .filter(
        (r: { suite: string; backend: string }) => r.suite === 'marshal' && r.backend === 'quickjs',
      )
      .map((r: { input_kib: number }) => r.input_kib);
    expect(sizes).toEqual([1, 16, 256]);
  });

  it('measures the library floor and the probe rows, and states each speed target against them', () => {
    const floors = report.results
      .filter((r: { suite: string }) => r.suite === 'floor')
      .map((r: { backend: string }) => r.backend);
    expect(floors.sort()).toEqual(
      [
        'isolated-vm floor',
        'probe b4 (isolated-vm)',
        'probe c2 (quickjs)',
        'probe d4 (quickjs fresh)',
        'quickjs floor',
      ].sort(),
    );
    expect(
      report.targets.map((t: { backend: string; measure: string }) => `${t.backend} ${t.measure}`),
    ).toEqual(['isolated-vm warm p50', 'quickjs warm p50', 'quickjs fresh per call p50']);
    for (const t of report.targets) {
      expect(t.alone_ns).toBeGreaterThan(0);
      expect(t.interleaved_ns).toBeGreaterThan(0);
      expect(t.machine_factor).toBeGreaterThan(0);
      expect(t.probe.here_ns).toBeGreaterThan(0);
    }
    const md = readFileSync(join(out, 'sandbox.md'), 'utf8');
    expect(md).toContain('## Speed targets, the library floor and this machine');
  });

  it('stops runaways where the backend can, and says where it cannot', () => {
    const limit = (backend: string, kind: string) =>
      report.limits.find(
        (l: { backend: string; limit: string }) => l.backend === backend && l.limit === kind,
      );
    const deadline = limit('quickjs', 'deadline');
    expect(deadline.enforced).toBe(true);
    expect(deadline.failures).toEqual({ timeout: deadline.stats.samples });
    expect(limit('quickjs', 'steps').failures).toEqual({ step_limit: 2 });
    expect(limit('isolated-vm', 'deadline').failures).toEqual({ timeout: 2 });
    expect(limit('isolated-vm', 'steps')).toMatchObject({ enforced: false });
    expect(limit('trusted', 'deadline').why).toContain('no hard kill');
    expect(limit('native', 'steps')).toMatchObject({ enforced: false });
  });

  it('reports memory and concurrency per backend, and Starlark by name', () => {
    expect(report.memory.map((m: { backend: string }) => m.backend)).toEqual(
      expect.arrayContaining(['quickjs', 'isolated-vm']),
    );
    for (const m of report.memory) expect(m.gc).toBe(true);
    expect(report.concurrency.length).toBe(2 * report.memory.length);
    const starlark = report.backends.find((b: { name: string }) => b.name === 'starlark');
    // Present either way: measured once @wardwright/starlark exports its backend, or said missing.
    expect(starlark.available ? starlark.capabilities.steps : starlark.reason).toMatch(
      /exact|coarse|starlark: not available in this build/,
    );
  });

  it('measures each backend inline, in a worker pool and in a process pool', () => {
    type ModeRow = Record<string, number | string | boolean | undefined>;
    const modes: ModeRow[] = report.modes;
    const row = (backend: string, execution: string) =>
      modes.find((m) => m.backend === backend && m.execution === execution);
    for (const backend of ['trusted', 'quickjs', 'isolated-vm']) {
      for (const execution of ['inline', 'worker', 'process']) {
        const m = row(backend, execution);
        expect(m, `${backend} ${execution}`).toBeDefined();
        for (const key of ['warm_p50_ns', 'alone_p50_ns', 'first_p50_ns', 'calls_per_s']) {
          expect(m?.[key], `${backend} ${execution} ${key}`).toBeGreaterThan(0);
        }
        expect(m?.first_p99_ns).toBeGreaterThanOrEqual(Number(m?.first_p50_ns));
        if (execution === 'inline') {
          expect(m?.start_p50_ns).toBeUndefined();
          expect(m?.hop_p50_ns).toBeUndefined();
        } else {
          expect(m?.executors).toBe(2);
          expect(m?.start_p50_ns).toBeGreaterThan(0);
          expect(typeof m?.hop_p50_ns).toBe('number');
          expect(typeof m?.hop_alone_p50_ns).toBe('number');
        }
      }
    }
    // The placements that contain a hostile policy, as the capabilities state them.
    expect(row('quickjs', 'worker')?.availability).toBe(true);
    expect(row('isolated-vm', 'process')?.availability).toBe(true);
    expect(row('isolated-vm', 'worker')?.availability).toBe(false);
    expect(row('quickjs', 'inline')?.availability).toBe(false);
    const md = readFileSync(join(out, 'sandbox.md'), 'utf8');
    expect(md).toContain('## Execution modes: inline, worker pool, process pool');
    expect(md).toMatch(/\| quickjs \| worker \| yes \| \d[\d.]* [nµm]?s \|/);
  });

  it('measures a victim quiet and next to hostile policies, and what the hostile ones did', () => {
    const victim = report.victim;
    expect(victim.victim.pool).toBe('quickjs, worker pool of 2 threads');
    expect(victim.hostile_limits.timeout_ms).toBeLessThan(1000);
    const conditions = victim.conditions.map((c: { condition: string }) => c.condition);
    expect(conditions).toEqual(['quiet', 'same pool', 'separate pools']);
    for (const c of victim.conditions) {
      expect(c.calls).toBeGreaterThan(0);
      expect(c.stats.p99).toBeGreaterThanOrEqual(c.stats.p50);
      expect(c.p99_x_quiet).toBeGreaterThan(0);
      // The victim never fails, whatever runs next to it.
      expect(c.victim_failures).toEqual({});
      // Separate pools: isolated-vm, and Starlark where the build has it.
      expect(c.hostile.length).toBe(
        c.condition === 'quiet' ? 0 : c.condition === 'same pool' ? 1 : c.hostile.length || 1,
      );
      for (const h of c.hostile) {
        expect(h.ran + h.refused).toBeGreaterThan(0);
        expect(
          h.ok + Object.values(h.failures as Record<string, number>).reduce((a, b) => a + b, 0),
        ).toBe(h.ran);
      }
    }
    expect(
      victim.conditions
        .find((c: { condition: string }) => c.condition === 'separate pools')
        .hostile.map((h: { policy: string }) => h.policy),
    ).toContain('hostile isolated-vm');
    const rows = report.results.filter((r: { suite: string }) => r.suite === 'victim');
    expect(rows.map((r: { condition: string }) => r.condition)).toEqual(conditions);
    const md = readFileSync(join(out, 'sandbox.md'), 'utf8');
    expect(md).toContain('## A victim next to hostile policies');
    expect(md).toMatch(
      /\| same pool \| hostile QuickJS \| quickjs, worker pool of 2 threads \| \d+ \|/,
    );
  });

  it('writes a markdown report ranking each workload with ratios to native', () => {
    const md = readFileSync(join(out, 'sandbox.md'), 'utf8');
    expect(md).toContain('## Workloads from the decision cores: ranking, with ratios to native');
    expect(md).toMatch(/\| 1 \| \S+ \| .* \| \d[\d.,]*× \|/);
    expect(md).toContain('## Limit enforcement');
    expect(md).toContain('cannot enforce');
  });

  it.each([
    ['sandbox-warm.svg', 'rect', 4],
    ['sandbox-cold.svg', 'rect', 4],
    ['sandbox-workloads.svg', 'rect', 12],
    ['sandbox-marshal.svg', 'polyline', 4],
    ['sandbox-modes.svg', 'rect', 9],
    ['sandbox-victim.svg', 'rect', 3],
  ])('%s is well-formed SVG with its chart elements', (file, element, min) => {
    const svg = readFileSync(join(out, file), 'utf8');
    const counts = parseXml(svg);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(counts.get('title')).toBe(1);
    // Box plots: one box per row plus the background; lines: one polyline per backend.
    expect(counts.get(element) ?? 0).toBeGreaterThanOrEqual(min + (element === 'rect' ? 1 : 0));
  });
});
