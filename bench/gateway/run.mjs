// `npm run bench:gateway`: the gateway benchmark. One run, side by side: the scripted upstream
// called directly, through Wardwright (no rules / typical rules / streaming with TTSR rules) and
// through the Portkey gateway, all on the same upstream, under the same autocannon load, each
// target in a process of its own and the load generator in this one. Rounds are interleaved
// (every target once per round, the order rotated), so noise lands on every row. Then the
// isolation check: model B's p99 with and without model A's looping script under load.
// Writes bench/results/gateway.{json,md}. Options: --quick, --smoke, --out DIR, --profile DIR
// (Wardwright targets run under `node --cpu-prof`, profiles written to DIR).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import autocannon from 'autocannon';
import { envelope, runnerArgs, writeFiles } from '../core/harness.mjs';
import { paced } from './paced.mjs';
import { killAllNow, portkeyVersion, startPortkey, startTarget, stopAll } from './procs.mjs';
import { ANSWER, LOOPING_MODEL, MODEL, requestBody, SESSIONS } from './workload.mjs';

const started = Date.now();
/** How often the alert target's queue is sampled. */
const ALERT_SAMPLE_MS = 200;
const { mode, outDir } = runnerArgs();
const argv = process.argv.slice(2);
const profileIndex = argv.indexOf('--profile');
const profileDir = profileIndex >= 0 ? resolve(argv[profileIndex + 1] ?? 'profiles') : undefined;

// Load profiles: closed loop (each connection sends its next request when the last answer
// ended: measures capacity; latency there is mostly queueing, ≈ connections ÷ req/s), and open
// loop at a fixed rate every target sustains (paced.mjs; 'auto': half the slowest target's
// closed-loop req/s at 200 connections, at least 50), where added latency is what one request
// pays for passing through the gateway rather than time spent queueing for a saturated CPU.
// Isolation: model B at a fixed rate ('auto': a quarter of (b)'s closed-loop req/s).
/**
 * @typedef {{ key: string, connections: number, rate?: number | 'auto' }} Profile
 * @typedef {{ profiles: Profile[], rounds: number, round_s: number, warmup_s: number, iso: { rounds: number, round_s: number, b_connections: number, b_rate: number | 'auto', a_connections: number } }} Settings
 * @typedef {{ id: string, label: string, group: 'json' | 'sse', url: string, stream: boolean, headers?: Record<string, string> }} Target
 */
/** @type {Record<string, Settings>} */
const ALL_SETTINGS = {
  full: {
    profiles: [
      { key: 'c200', connections: 200 },
      { key: 'c20', connections: 20 },
      { key: 'c200-rate', connections: 200, rate: 'auto' },
    ],
    rounds: 5,
    round_s: 4,
    warmup_s: 2,
    iso: { rounds: 5, round_s: 6, b_connections: 20, b_rate: 'auto', a_connections: 20 },
  },
  quick: {
    profiles: [
      { key: 'c200', connections: 200 },
      { key: 'c200-rate', connections: 200, rate: 'auto' },
    ],
    rounds: 2,
    round_s: 1.25,
    warmup_s: 0.75,
    iso: { rounds: 1, round_s: 1.5, b_connections: 20, b_rate: 'auto', a_connections: 20 },
  },
  smoke: {
    profiles: [
      { key: 'c4', connections: 4 },
      { key: 'c4-rate', connections: 4, rate: 8 },
    ],
    rounds: 1,
    round_s: 0.3,
    warmup_s: 0.2,
    iso: { rounds: 1, round_s: 0.3, b_connections: 2, b_rate: 10, a_connections: 2 },
  },
};
const SETTINGS = ALL_SETTINGS[mode] ?? unknownMode();
/** @returns {never} */
function unknownMode() {
  throw new Error(`unknown mode ${mode}`);
}

const require = createRequire(import.meta.url);
const versions = {
  wardwright_gateway: require('@wardwright/gateway/package.json').version,
  wardwright_core: require('@wardwright/core/package.json').version,
  portkey_gateway: portkeyVersion,
  autocannon: require('autocannon/package.json').version,
  git_commit: gitCommit(),
};
const loadBefore = loadavg().map((x) => Math.round(x * 100) / 100);

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------

/**
 * One load run. Closed loop (no `rate`): autocannon, each connection sending its next request
 * when the previous answer ended. Open loop (`rate`): paced.mjs, requests due at a fixed rate.
 * Latency is each 2xx answer's own timer in both (sub-millisecond; autocannon's histogram keeps
 * whole milliseconds), to the last byte of the answer: for SSE, the time to the last byte.
 * @param {{ url: string, stream: boolean, model?: string, headers?: Record<string, string>, connections: number, duration_s: number, rate?: number | undefined }} o
 */
async function load(o) {
  const body = o.model === undefined ? requestBody(o.stream) : bodyFor(o.model, o.stream);
  const requests = Array.from({ length: SESSIONS }, (_, i) => ({
    method: /** @type {const} */ ('POST'),
    path: '/v1/chat/completions',
    headers: {
      'content-type': 'application/json',
      'x-wardwright-session-id': `session-${i}`,
      ...o.headers,
    },
    body,
  }));
  /** @type {number[]} */
  let latencies = [];
  /** @type {{ ok: number, non2xx: number, errors: number, timeouts: number }} */
  let counts;
  let elapsed_s;
  if (o.rate !== undefined) {
    const r = await paced({
      url: o.url,
      requests,
      rate: o.rate,
      duration_s: o.duration_s,
      connections: o.connections,
    });
    latencies = r.latencies;
    counts = r;
    elapsed_s = r.elapsed_s;
  } else {
    const t0 = performance.now();
    const instance = autocannon({
      url: new URL(o.url).origin,
      connections: o.connections,
      duration: o.duration_s,
      requests,
      timeout: 10,
      // autocannon stops at its next sampling tick: 100 ms ticks keep rounds close to duration_s.
      sampleInt: 100,
    });
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
    const result = await instance;
    elapsed_s = (performance.now() - t0) / 1000;
    counts = {
      ok: result['2xx'],
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
    };
  }
  latencies.sort((a, b) => a - b);
  return {
    rps: Math.round(counts.ok / elapsed_s),
    p50_ms: ms(quantile(latencies, 0.5)),
    p90_ms: ms(quantile(latencies, 0.9)),
    p99_ms: ms(quantile(latencies, 0.99)),
    max_ms: ms(latencies[latencies.length - 1] ?? 0),
    ok: counts.ok,
    non2xx: counts.non2xx,
    errors: counts.errors,
    timeouts: counts.timeouts,
    elapsed_s: Math.round(elapsed_s * 100) / 100,
  };
}

/** @param {string} model @param {boolean} stream */
function bodyFor(model, stream) {
  return JSON.stringify({ ...JSON.parse(requestBody(stream)), model });
}

/** @param {number[]} sorted @param {number} q */
function quantile(sorted, q) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))] ?? 0;
}
/** @param {number} x */
const ms = (x) => Math.round(x * 1000) / 1000;
/** @param {number[]} xs */
const median = (xs) =>
  quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );

// ---------------------------------------------------------------------------------------------
// Correctness before speed: every target must return the upstream's answer
// ---------------------------------------------------------------------------------------------

/** @param {{ url: string, stream: boolean, headers?: Record<string, string> }} t */
async function answerOf(t) {
  const response = await fetch(`${new URL(t.url).origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...t.headers },
    body: requestBody(t.stream),
  });
  const text = await response.text();
  if (response.status !== 200)
    return { ok: false, why: `HTTP ${response.status}: ${text.slice(0, 200)}` };
  let content = '';
  if (t.stream) {
    for (const line of text.split(/\r?\n/)) {
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      content += JSON.parse(line.slice(6)).choices?.[0]?.delta?.content ?? '';
    }
    if (!text.includes('data: [DONE]')) return { ok: false, why: 'no [DONE]' };
  } else {
    content = JSON.parse(text).choices?.[0]?.message?.content;
  }
  return content === ANSWER
    ? { ok: true }
    : { ok: false, why: `answer differs: ${String(content).slice(0, 80)}` };
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

process.on('SIGINT', () => {
  killAllNow();
  process.exit(130);
});
process.on('exit', killAllNow);

const log = (/** @type {string} */ s) =>
  console.error(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${s}`);

try {
  const execArgv = (/** @type {string} */ name) =>
    profileDir === undefined
      ? []
      : ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `${name}.cpuprofile`];
  const upstream = await startTarget('upstream', ['upstream']);
  const [none, rules, stream, isolation, alerting, portkey] = await Promise.all([
    startTarget('wardwright-none', ['none', upstream.url], {
      execArgv: execArgv('wardwright-none'),
    }),
    startTarget('wardwright-rules', ['rules', upstream.url], {
      execArgv: execArgv('wardwright-rules'),
    }),
    startTarget('wardwright-stream', ['stream', upstream.url], {
      execArgv: execArgv('wardwright-stream'),
    }),
    startTarget('wardwright-isolation', ['isolation', upstream.url]),
    startTarget('wardwright-alerts', ['alerts', upstream.url]),
    startPortkey(),
  ]);
  log(`targets up after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const portkeyHeaders = {
    'x-portkey-provider': 'openai',
    'x-portkey-custom-host': upstream.url,
    authorization: 'Bearer sk-bench-not-a-key',
  };

  /** @type {{ id: string, label: string, group: 'json' | 'sse', url: string, stream: boolean, headers?: Record<string, string> }[]} */
  const candidates = [
    {
      id: 'direct',
      label: '(0) direct → upstream',
      group: 'json',
      url: upstream.url,
      stream: false,
    },
    {
      id: 'ww-none',
      label: '(a) Wardwright, no rules',
      group: 'json',
      url: none.url,
      stream: false,
    },
    {
      id: 'ww-rules',
      label: '(b) Wardwright, 10 rules + history',
      group: 'json',
      url: rules.url,
      stream: false,
    },
    {
      id: 'ww-alerts',
      label: '(d) Wardwright, (b) + an alert per request → file sink',
      group: 'json',
      url: alerting.url,
      stream: false,
    },
    {
      id: 'portkey',
      label: '(p) Portkey, no guardrails',
      group: 'json',
      url: portkey.url,
      stream: false,
      headers: portkeyHeaders,
    },
    {
      id: 'direct-sse',
      label: '(0) direct → upstream, SSE',
      group: 'sse',
      url: upstream.url,
      stream: true,
    },
    {
      id: 'ww-ttsr',
      label: '(c) Wardwright SSE, 5 TTSR rules',
      group: 'sse',
      url: stream.url,
      stream: true,
    },
    {
      id: 'portkey-sse',
      label: '(p) Portkey SSE, no guardrails',
      group: 'sse',
      url: portkey.url,
      stream: true,
      headers: portkeyHeaders,
    },
  ];
  /** @type {Record<string, string>} */
  const skipped = {};
  /** @type {Target[]} */
  const targets = [];
  for (const c of candidates) {
    const check = await answerOf(c);
    if (check.ok) targets.push(c);
    else if (c.id.startsWith('portkey')) {
      skipped[c.id] = check.why ?? 'no answer';
      log(`skipping ${c.label}: ${check.why}`);
    } else throw new Error(`${c.label} does not answer correctly: ${check.why}`);
  }

  // Alert delivery under load: the (d) target's queue, sampled all along (depth, lag).
  const alertSampler = sampleAlerts(alerting.url);

  /** @type {Record<string, Record<string, Round[]>>} */
  const rounds = {};
  /** @type {{ key: string, connections: number, rate: number | null }[]} */
  const profiles = [];
  for (const [index, profile] of SETTINGS.profiles.entries()) {
    const connections = profile.connections;
    const rate =
      profile.rate === undefined
        ? undefined
        : profile.rate === 'auto'
          ? autoRate(rounds, targets, connections)
          : profile.rate;
    profiles.push({ key: profile.key, connections, rate: rate ?? null });
    /** @type {Record<string, Round[]>} */
    const byTarget = Object.fromEntries(targets.map((t) => [t.id, []]));
    rounds[profile.key] = byTarget;
    // Warm-up (JIT, connection pools) before the first profile; in full mode before each.
    if (index === 0 || mode === 'full') {
      for (const t of targets)
        await load({ ...t, connections, rate, duration_s: SETTINGS.warmup_s });
    }
    for (let r = 0; r < SETTINGS.rounds; r++) {
      // Rotate the order each round: whatever drifts lands on every target.
      const order = targets.map((_, i) => targets[(i + r) % targets.length]);
      for (const t of order) {
        if (t === undefined) continue;
        const x = await load({ ...t, connections, rate, duration_s: SETTINGS.round_s });
        byTarget[t.id]?.push({ ...x, round: r });
        log(
          `${profile.key}${rate === undefined ? '' : `@${rate}/s`} round ${r + 1}/${SETTINGS.rounds} ${t.id.padEnd(12)} ${String(x.rps).padStart(6)} rps  p50 ${x.p50_ms} ms  p99 ${x.p99_ms} ms${x.errors + x.timeouts + x.non2xx > 0 || x.ok === 0 ? `  ⚠ ok ${x.ok} errors ${x.errors} timeouts ${x.timeouts} non2xx ${x.non2xx}` : ''}`,
        );
      }
    }
  }

  // Isolation: model B (typical rules) at a fixed request rate, alone and while model A — same
  // gateway process — is hammered with requests whose script loops until its 50 ms limit.
  const iso = {
    ...SETTINGS.iso,
    b_rate:
      SETTINGS.iso.b_rate === 'auto'
        ? Math.max(20, Math.round(0.25 * medianRps(rounds, 'ww-rules')))
        : SETTINGS.iso.b_rate,
  };
  /** @type {{ alone: Round[], with_looping: Round[], looping_model: Round[] }} */
  const isoRounds = { alone: [], with_looping: [], looping_model: [] };
  const bLoad = (/** @type {number} */ duration_s) =>
    load({
      url: isolation.url,
      stream: false,
      model: MODEL,
      connections: iso.b_connections,
      rate: iso.b_rate,
      duration_s,
    });
  const aLoad = (/** @type {number} */ duration_s) =>
    load({
      url: isolation.url,
      stream: false,
      model: LOOPING_MODEL,
      connections: iso.a_connections,
      duration_s,
    });
  await Promise.all([bLoad(SETTINGS.warmup_s), aLoad(SETTINGS.warmup_s)]);
  for (let r = 0; r < iso.rounds; r++) {
    const alone = await bLoad(iso.round_s);
    const [withA, a] = await Promise.all([bLoad(iso.round_s), aLoad(iso.round_s)]);
    isoRounds.alone.push({ ...alone, round: r });
    isoRounds.with_looping.push({ ...withA, round: r });
    isoRounds.looping_model.push({ ...a, round: r });
    log(
      `isolation round ${r + 1}/${iso.rounds}: B alone p99 ${alone.p99_ms} ms, with looping A p99 ${withA.p99_ms} ms (A: ${a.non2xx} refused, ${a.ok} ok)`,
    );
  }

  const alerts = await alertSampler.finish();
  log(
    `alerts: ${alerts.final?.queued ?? '?'} queued, ${alerts.final?.delivered ?? '?'} delivered, ${alerts.dropped} dropped; max depth ${alerts.max_depth}, max lag ${alerts.max_lag_ms} ms`,
  );
  log('stopping the targets');
  await stopAll();
  const report = summarise({ targets, skipped, rounds, profiles, iso, isoRounds, alerts });
  writeOut(report);
} catch (error) {
  await stopAll();
  throw error;
}

// ---------------------------------------------------------------------------------------------
// Summary and report
// ---------------------------------------------------------------------------------------------

/** @typedef {Awaited<ReturnType<typeof load>> & { round?: number }} Round */

/**
 * Median req/s of a target over the rounds of the first closed-loop profile.
 * @param {Record<string, Record<string, Round[]>>} rounds @param {string} id
 */
function medianRps(rounds, id) {
  const first = Object.values(rounds)[0];
  return median((first?.[id] ?? []).map((x) => x.rps));
}

/**
 * The open-loop rate: half the slowest target's closed-loop req/s at these connections (at least
 * 50 req/s), so that every target keeps up and latency is not queueing.
 * @param {Record<string, Record<string, Round[]>>} rounds
 * @param {{ id: string }[]} targets @param {number} connections
 */
function autoRate(rounds, targets, connections) {
  const closed = SETTINGS.profiles.find(
    (p) => p.connections === connections && p.rate === undefined,
  );
  const byTarget = closed === undefined ? undefined : rounds[closed.key];
  const slowest = Math.min(
    ...targets.map((t) => median((byTarget?.[t.id] ?? []).map((x) => x.rps))),
  );
  return Math.max(50, Math.round((0.5 * slowest) / 10) * 10);
}

/** Rounds with no 2xx answer have no latency: they are flagged, and left out of the medians. */
/** @param {Round[]} xs */
function answered(xs) {
  return xs.filter((x) => x.ok > 0);
}

/**
 * @param {{ targets: { id: string, label: string, group: string }[], skipped: Record<string, string>, rounds: Record<string, Record<string, Round[]>>, profiles: { key: string, connections: number, rate: number | null }[], iso: { b_rate: number, b_connections: number, a_connections: number }, isoRounds: Record<string, Round[]>, alerts: AlertSamples }} r
 */
function summarise(r) {
  /**
   * @type {{ profile: string, connections: number, rate: number | null, id: string, label: string, group: string, rounds: number, rps: number, rps_min: number, rps_max: number, p50_ms: number | null, p99_ms: number | null, added_p50_ms: number | null, added_p99_ms: number | null, vs_direct_rps: number | null, vs_portkey_rps: number | null, errors: number, timeouts: number, non2xx: number, flagged: boolean }[]}
   */
  const rows = [];
  for (const profile of r.profiles) {
    const byTarget = r.rounds[profile.key] ?? {};
    for (const t of r.targets) {
      const xs = byTarget[t.id] ?? [];
      const ys = answered(xs);
      const base = byTarget[t.group === 'sse' ? 'direct-sse' : 'direct'] ?? [];
      // Added latency: per round, against the direct run of the same round; then the median.
      const added = (/** @type {'p50_ms' | 'p99_ms'} */ k) => {
        const pairs = xs
          .map((x, i) => [x, base[i]])
          .filter(([x, d]) => x !== undefined && d !== undefined && x.ok > 0 && d.ok > 0);
        return pairs.length === 0
          ? null
          : ms(median(pairs.map(([x, d]) => (x?.[k] ?? 0) - (d?.[k] ?? 0))));
      };
      const direct = t.id.startsWith('direct');
      rows.push({
        profile: profile.key,
        connections: profile.connections,
        rate: profile.rate,
        id: t.id,
        label: t.label,
        group: t.group,
        rounds: xs.length,
        rps: Math.round(median(xs.map((x) => x.rps))),
        rps_min: Math.min(...xs.map((x) => x.rps)),
        rps_max: Math.max(...xs.map((x) => x.rps)),
        p50_ms: ys.length === 0 ? null : ms(median(ys.map((x) => x.p50_ms))),
        p99_ms: ys.length === 0 ? null : ms(median(ys.map((x) => x.p99_ms))),
        added_p50_ms: direct ? null : added('p50_ms'),
        added_p99_ms: direct ? null : added('p99_ms'),
        vs_direct_rps: /** @type {number | null} */ (null),
        vs_portkey_rps: /** @type {number | null} */ (null),
        errors: sum(xs.map((x) => x.errors)),
        timeouts: sum(xs.map((x) => x.timeouts)),
        non2xx: sum(xs.map((x) => x.non2xx)),
        flagged: xs.some((x) => x.errors + x.timeouts + x.non2xx > 0 || x.ok === 0),
      });
    }
  }
  const rowOf = (/** @type {string} */ profile, /** @type {string} */ id) =>
    rows.find((x) => x.profile === profile && x.id === id);
  for (const row of rows) {
    const direct = rowOf(row.profile, row.group === 'sse' ? 'direct-sse' : 'direct');
    const portkey = rowOf(row.profile, row.group === 'sse' ? 'portkey-sse' : 'portkey');
    row.vs_direct_rps = direct === undefined || row === direct ? null : ratio(row.rps, direct.rps);
    row.vs_portkey_rps =
      portkey === undefined || row.id.startsWith('portkey') || row.id.startsWith('direct')
        ? null
        : ratio(row.rps, portkey.rps);
  }
  // The issue's targets: at 200 connections closed loop (or the largest count in smoke mode).
  const top = r.profiles.find((p) => p.rate === null) ?? r.profiles[0];
  const open = r.profiles.find((p) => p.rate !== null && p.connections === top?.connections);
  const a = rowOf(top?.key ?? '', 'ww-none');
  const b = rowOf(top?.key ?? '', 'ww-rules');
  const p = rowOf(top?.key ?? '', 'portkey');
  const aOpen = rowOf(open?.key ?? '', 'ww-none');
  const bOpen = rowOf(open?.key ?? '', 'ww-rules');
  const le1 = (/** @type {{ added_p50_ms: number | null } | undefined} */ x) =>
    x === undefined || x.added_p50_ms === null ? null : x.added_p50_ms <= 1;
  const alone = answered(r.isoRounds.alone ?? []);
  const withA = answered(r.isoRounds.with_looping ?? []);
  const p99Alone = ms(median(alone.map((x) => x.p99_ms)));
  const p99With = ms(median(withA.map((x) => x.p99_ms)));
  const isoRatio = alone.length === 0 || withA.length === 0 ? null : ratio(p99With, p99Alone);
  const isolation = {
    setup: `one gateway process, two models: B = the typical rules (b) at a fixed ${r.iso.b_rate} req/s over ${r.iso.b_connections} connections; A = a QuickJS policy script in worker mode (workerSandbox, 1 thread) that loops until its 50 ms limit (fail closed: 403), ${r.iso.a_connections} connections closed loop`,
    b_rate: r.iso.b_rate,
    b_p50_alone_ms: ms(median(alone.map((x) => x.p50_ms))),
    b_p50_with_looping_ms: ms(median(withA.map((x) => x.p50_ms))),
    b_p99_alone_ms: p99Alone,
    b_p99_with_looping_ms: p99With,
    p99_ratio: isoRatio,
    target: '≤ 2×',
    met: isoRatio === null ? null : isoRatio <= 2,
    b_errors_with_looping: sum(
      (r.isoRounds.with_looping ?? []).map((x) => x.errors + x.timeouts + x.non2xx),
    ),
    a_refused: sum((r.isoRounds.looping_model ?? []).map((x) => x.non2xx)),
    rounds: r.isoRounds,
  };
  const targets = {
    closed_loop_profile: top?.key ?? null,
    open_loop_profile: open?.key ?? null,
    added_p50_a_le_1ms_closed: le1(a),
    added_p50_b_le_1ms_closed: le1(b),
    added_p50_a_le_1ms_open: le1(aOpen),
    added_p50_b_le_1ms_open: le1(bOpen),
    b_rps_ge_portkey: b === undefined || p === undefined ? null : b.rps >= p.rps,
    b_over_portkey_rps: b === undefined || p === undefined ? null : ratio(b.rps, p.rps),
  };
  return {
    ...envelope({ suite: 'gateway', mode, started }),
    load_avg_before: loadBefore,
    load_avg_after: loadavg().map((x) => Math.round(x * 100) / 100),
    versions,
    settings: SETTINGS,
    profiles: r.profiles,
    skipped: r.skipped,
    targets_met: targets,
    rows,
    isolation,
    alerts: r.alerts,
    rounds: r.rounds,
  };
}

/** @param {ReturnType<typeof summarise>} report */
function writeOut(report) {
  const f = (/** @type {number | null | undefined} */ x) => (x == null ? '' : `${x}`);
  const load = (/** @type {{ connections: number, rate: number | null }} */ x) =>
    x.rate === null ? `${x.connections}` : `${x.connections} @ ${x.rate}/s`;
  const t = report.targets_met;
  const iso = report.isolation;
  const lines = [
    `# Gateway benchmark (${report.mode})`,
    '',
    `${report.date.slice(0, 10)} · Node ${report.machine.node} · ${report.machine.cpu} (${report.machine.cores} cores) · load average (1/5/15 min) before ${report.load_avg_before.join(' / ')}, after ${report.load_avg_after.join(' / ')} · ${report.duration_s} s · Wardwright ${versions.wardwright_gateway} (${versions.git_commit}) · Portkey gateway ${versions.portkey_gateway} · autocannon ${versions.autocannon}`,
    '',
    `Each row: the median of ${SETTINGS.rounds} interleaved rounds of ${SETTINGS.round_s} s (min–max of req/s across rounds). Connections alone: closed loop; "@ N/s": open loop at a fixed N req/s. Latency from writing the request to the last byte of the answer, 2xx only; added = the row minus direct in the same round. ×direct and ×Portkey are req/s ratios.`,
    '',
    '| load | target | req/s (min–max) | p50 ms | p99 ms | added p50 | added p99 | ×direct | ×Portkey | errors/timeouts/non-2xx |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...report.rows.map(
      (x) =>
        `| ${load(x)} | ${x.label} | ${x.rps.toLocaleString('en-US')} (${x.rps_min}–${x.rps_max}) | ${f(x.p50_ms)} | ${f(x.p99_ms)} | ${f(x.added_p50_ms)} | ${f(x.added_p99_ms)} | ${f(x.vs_direct_rps)} | ${f(x.vs_portkey_rps)} | ${x.errors}/${x.timeouts}/${x.non2xx}${x.flagged ? ' ⚠' : ''} |`,
    ),
    '',
    ...Object.entries(report.skipped).map(([id, why]) => `Not measured: \`${id}\` — ${why}`),
    '',
    `Isolation: ${iso.setup}. B's p99 alone ${iso.b_p99_alone_ms} ms, while A loops ${iso.b_p99_with_looping_ms} ms: ratio **${f(iso.p99_ratio)}×** (target ≤ 2× ${mark(iso.met)}); B's p50 ${iso.b_p50_alone_ms} → ${iso.b_p50_with_looping_ms} ms; B errors while A loops: ${iso.b_errors_with_looping}; A refused (403, as it should be): ${iso.a_refused}.`,
    '',
    `Alerts (d): every request raises one toward a file sink (fsync'd), default queue (capacity ${report.alerts.capacity}). Over the whole run: ${f(report.alerts.final?.queued)} queued, ${f(report.alerts.final?.delivered)} delivered, **${report.alerts.dropped} dropped** (dead-lettered, dropped or failed closed at a full queue); depth at most ${report.alerts.max_depth}, delivery lag (oldest waiting alert) at most ${report.alerts.max_lag_ms} ms, median sample ${report.alerts.median_lag_ms} ms; ${report.alerts.samples} samples every ${ALERT_SAMPLE_MS} ms. Goal: no drops at the default capacity ${mark(report.alerts.final === null ? null : report.alerts.dropped === 0)}.`,
    '',
    `Targets: (b) req/s ≥ Portkey at ${t.closed_loop_profile}: ${mark(t.b_rps_ge_portkey)} (${f(t.b_over_portkey_rps)}×). Added p50 ≤ 1 ms — closed loop ${t.closed_loop_profile}: (a) ${mark(t.added_p50_a_le_1ms_closed)}, (b) ${mark(t.added_p50_b_le_1ms_closed)}; open loop ${t.open_loop_profile}: (a) ${mark(t.added_p50_a_le_1ms_open)}, (b) ${mark(t.added_p50_b_le_1ms_open)}.`,
  ];
  writeFiles(outDir, {
    'gateway.json': `${JSON.stringify(report, null, 2)}\n`,
    'gateway.md': `${lines.join('\n')}\n`,
  });
  console.log(lines.join('\n'));
}

/**
 * @typedef {{ sink: string, depth: number, capacity: number, oldest_queued_age_ms: number | null, queued: number, delivered: number, dead_lettered: number, dropped: number, failed_closed: number }} QueueView
 * @typedef {{ capacity: number, samples: number, max_depth: number, max_lag_ms: number, median_lag_ms: number, dropped: number, final: { queued: number, delivered: number, dead_lettered: number, dropped: number, failed_closed: number, depth: number } | null }} AlertSamples
 */

/**
 * Polls the alert target's `/v1/wardwright/runtime` while the benchmark runs; `finish` waits (up
 * to 15 s) for the queue to drain and returns the maxima and the final counters.
 * @param {string} url
 */
function sampleAlerts(url) {
  /** @type {number[]} */
  const lags = [];
  let maxDepth = 0;
  /** @type {number | undefined} */
  let capacity;
  let stopped = false;
  const read = async () => {
    const response = await fetch(`${new URL(url).origin}/v1/wardwright/runtime`);
    const runtime = /** @type {{ models: { alert_queues: QueueView[] }[] }} */ (
      await response.json()
    );
    return runtime.models[0]?.alert_queues[0];
  };
  const loop = (async () => {
    while (!stopped) {
      try {
        const queue = await read();
        if (queue !== undefined) {
          capacity = queue.capacity;
          maxDepth = Math.max(maxDepth, queue.depth);
          lags.push(queue.oldest_queued_age_ms ?? 0);
        }
      } catch {
        // A sample lost under load is a sample lost, not a failed run.
      }
      await new Promise((r) => setTimeout(r, ALERT_SAMPLE_MS));
    }
  })();
  return {
    /** @returns {Promise<AlertSamples>} */
    async finish() {
      stopped = true;
      await loop;
      /** @type {AlertSamples['final']} */
      let final = null;
      const until = Date.now() + 15_000;
      for (;;) {
        const queue = await read().catch(() => undefined);
        if (queue !== undefined) {
          final = {
            queued: queue.queued,
            delivered: queue.delivered,
            dead_lettered: queue.dead_lettered,
            dropped: queue.dropped,
            failed_closed: queue.failed_closed,
            depth: queue.depth,
          };
        }
        if ((queue?.depth ?? 0) === 0 || Date.now() > until) break;
        await new Promise((r) => setTimeout(r, ALERT_SAMPLE_MS));
      }
      return {
        capacity: capacity ?? 0,
        samples: lags.length,
        max_depth: maxDepth,
        max_lag_ms: Math.round(Math.max(0, ...lags)),
        median_lag_ms: Math.round(median(lags)),
        dropped: final === null ? 0 : final.dead_lettered + final.dropped + final.failed_closed,
        final,
      };
    },
  };
}

/** @param {boolean | null} x */
function mark(x) {
  return x === null ? 'n/a' : x ? '✅' : '❌';
}
/** @param {number} a @param {number} b */
function ratio(a, b) {
  return b === 0 ? 0 : Math.round((a / b) * 100) / 100;
}
/** @param {number[]} xs */
function sum(xs) {
  return xs.reduce((s, x) => s + x, 0);
}
function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: new URL('.', import.meta.url),
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim();
  } catch {
    return 'unknown';
  }
}
