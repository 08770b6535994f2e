import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The benchmarks are not timed here (timing belongs to `npm run bench`); this only proves every
// case still runs against the built package and each report is well-formed.
const out = mkdtempSync(join(tmpdir(), 'wardwright-bench-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe.each([
  ['core', '| core | case | ops/s |', 10],
  ['engine', '| phase | case | ops/s |', 5],
  ['sandbox', '| backend | case | ops/s |', 8],
])('%s benchmark runner', (suite, header, minCases) => {
  it('runs every case and writes JSON and markdown', () => {
    const runner = fileURLToPath(new URL(`../bench/${suite}/run.mjs`, import.meta.url));
    execFileSync(process.execPath, ['--no-node-snapshot', runner, '--smoke', '--out', out], {
      encoding: 'utf8',
    });
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
