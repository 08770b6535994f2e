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
  }, 60_000);

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
  ])('%s is well-formed SVG with its chart elements', (file, element, min) => {
    const svg = readFileSync(join(out, file), 'utf8');
    const counts = parseXml(svg);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(counts.get('title')).toBe(1);
    // Box plots: one box per row plus the background; lines: one polyline per backend.
    expect(counts.get(element) ?? 0).toBeGreaterThanOrEqual(min + (element === 'rect' ? 1 : 0));
  });
});
