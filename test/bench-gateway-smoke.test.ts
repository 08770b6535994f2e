import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

// `bench/gateway/run.mjs --smoke`: every target (the scripted upstream, Wardwright in three
// configurations, the Portkey gateway) starts in its own process, answers correctly, takes a
// tiny load, and the report is well-formed. No speed is asserted: timing belongs to
// `npm run bench:gateway`. Runs against the BUILT packages, like the other bench smoke tests.
const out = mkdtempSync(join(tmpdir(), 'wardwright-bench-gateway-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const runner = fileURLToPath(new URL('../bench/gateway/run.mjs', import.meta.url));

interface Row {
  profile: string;
  id: string;
  rounds: number;
  rps: number;
  p50_ms: number | null;
  p99_ms: number | null;
  added_p50_ms: number | null;
  errors: number;
  timeouts: number;
  non2xx: number;
  flagged: boolean;
}

describe('gateway benchmark runner', () => {
  it('runs every target side by side and writes JSON and markdown', async () => {
    await promisify(execFile)(process.execPath, [runner, '--smoke', '--out', out], {
      encoding: 'utf8',
      timeout: 55_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const report = JSON.parse(readFileSync(join(out, 'gateway.json'), 'utf8'));
    expect(report.suite).toBe('gateway');
    expect(report.mode).toBe('smoke');
    expect(report.machine.node).toBe(process.version);
    expect(report.load_avg_before).toHaveLength(3);
    expect(report.versions).toMatchObject({
      portkey_gateway: expect.any(String),
      wardwright_gateway: expect.any(String),
      autocannon: expect.any(String),
    });
    expect(report.profiles.length).toBeGreaterThanOrEqual(2);

    const rows = report.rows as Row[];
    const ids = new Set(rows.map((r) => r.id));
    for (const id of [
      'direct',
      'ww-none',
      'ww-rules',
      'ww-alerts',
      'portkey',
      'direct-sse',
      'ww-ttsr',
    ]) {
      expect(ids, id).toContain(id);
    }
    // Portkey's streaming path either ran or says why it did not.
    expect(ids.has('portkey-sse') || typeof report.skipped['portkey-sse'] === 'string').toBe(true);
    for (const row of rows) {
      expect(row.rounds, row.id).toBeGreaterThan(0);
      expect(row.rps, row.id).toBeGreaterThan(0);
      expect(row.errors + row.timeouts + row.non2xx, `${row.profile} ${row.id}`).toBe(0);
      expect(row.flagged).toBe(false);
      expect(row.p50_ms).not.toBeNull();
      expect(row.p99_ms ?? 0).toBeGreaterThanOrEqual(row.p50_ms ?? 0);
      if (!row.id.startsWith('direct')) expect(typeof row.added_p50_ms).toBe('number');
    }
    // Raw per-round numbers are kept for every profile and target.
    for (const profile of report.profiles) {
      for (const id of ids) expect(report.rounds[profile.key][id].length).toBeGreaterThan(0);
    }

    expect(report.isolation).toMatchObject({
      p99_ratio: expect.any(Number),
      b_p99_alone_ms: expect.any(Number),
      b_p99_with_looping_ms: expect.any(Number),
      b_errors_with_looping: 0,
    });
    // The looping model's requests are refused (fail closed), never answered.
    expect(report.isolation.rounds.looping_model.every((r: { ok: number }) => r.ok === 0)).toBe(
      true,
    );

    // The alert target queued one alert per answered request and accounted for every one.
    const alerts = report.alerts.final;
    expect(alerts.queued).toBeGreaterThan(0);
    expect(alerts.delivered + alerts.depth).toBeLessThanOrEqual(alerts.queued);
    expect(report.alerts.samples).toBeGreaterThan(0);
    expect(report.alerts.dropped).toBe(
      alerts.dead_lettered + alerts.dropped + alerts.failed_closed,
    );

    const md = readFileSync(join(out, 'gateway.md'), 'utf8');
    expect(md).toContain('| load | target | req/s (min–max) |');
    expect(md).toContain('Isolation:');
    expect(md).toContain('Alerts (d):');
  }, 60_000);
});
