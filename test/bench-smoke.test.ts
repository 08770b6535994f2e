import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The benchmark is not timed here (timing belongs to `npm run bench`); this only proves every
// case still runs against the built package and the report is well-formed.
const runner = fileURLToPath(new URL('../bench/core/run.mjs', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'wardwright-bench-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('core benchmark runner', () => {
  it('runs every case and writes JSON and markdown', () => {
    execFileSync(process.execPath, [runner, '--smoke', '--out', out], { encoding: 'utf8' });
    const report = JSON.parse(readFileSync(join(out, 'core.json'), 'utf8'));
    expect(report.mode).toBe('smoke');
    expect(report.machine.node).toBe(process.version);
    expect(report.results.length).toBeGreaterThanOrEqual(10);
    for (const result of report.results) {
      expect(result.samples).toBeGreaterThan(0);
      expect(result.ns_per_unit.p50).toBeGreaterThan(0);
      expect(result.ns_per_unit.p99).toBeGreaterThanOrEqual(result.ns_per_unit.p50);
    }
    expect(readFileSync(join(out, 'core.md'), 'utf8')).toContain('| core | case | ops/s |');
  }, 60_000);
});
