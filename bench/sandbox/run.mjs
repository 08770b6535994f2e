// `npm run bench:sandbox`: the cost of running a small policy (classify 50 numbers against a
// threshold) in each sandbox backend, side by side in one run: warm invoke, cold load (load
// + first call), a fresh instance per call, and memory per loaded policy. Input and output
// validation are included (they are part of every invoke). Options: --quick, --smoke, --out DIR.
import { trustedBackend } from '@wardwright/core';
import { isolatedVmSandbox } from '@wardwright/sandbox-isolated-vm';
import { quickjsSandbox } from '@wardwright/sandbox-quickjs';
import { keepAlive, runCases, runnerArgs, writeReport } from '../core/harness.mjs';

const { mode, outDir, timing } = runnerArgs();

const source = `
function decide(input) {
  let high = 0;
  const flagged = [];
  for (let i = 0; i < input.values.length; i++) {
    if (input.values[i] > input.threshold) { high++; if (flagged.length < 5) flagged.push(i); }
  }
  return { actions: high > 10 ? [{ action: 'annotate', message: high + ' above threshold' }] : [], high, flagged };
}`;
const input = { threshold: 50, values: Array.from({ length: 50 }, (_, i) => (i * 37) % 100) };
const policySource = {
  name: 'classify',
  language: /** @type {const} */ ('javascript'),
  code: source,
};

/** @type {[string, string, () => import('@wardwright/core').SandboxBackend][]} */
const backends = [
  ['trusted (in-process, not a sandbox)', 'trusted', () => trustedBackend()],
  ['quickjs', 'quickjs', () => quickjsSandbox()],
  ['isolated-vm', 'isolated-vm', () => isolatedVmSandbox()],
];
/** @type {[string, () => import('@wardwright/core').SandboxBackend][]} */
const fresh = [
  ['quickjs', () => quickjsSandbox({ fresh: 'per-call' })],
  ['isolated-vm', () => isolatedVmSandbox({ fresh: 'per-call' })],
];

/** @type {import('../core/harness.mjs').Case[]} */
const cases = [];
/** @type {import('@wardwright/core').SandboxBackend[]} */
const live = [];
for (const [label, group, create] of backends) {
  const backend = create();
  live.push(backend);
  const policy = await backend.load(policySource);
  const check = await policy.invoke('decide', input);
  if (!check.ok) throw new Error(`${label}: ${check.failure.kind}: ${check.failure.message}`);
  cases.push({
    group,
    name: `${label}: warm invoke`,
    unit_ops: 1,
    batch: 20,
    async: true,
    fn: () => policy.invoke('decide', input),
    ...(group === 'isolated-vm'
      ? { target: { max_ns_per_unit: 8_000, label: '≤ 8 µs' } }
      : group === 'quickjs'
        ? { target: { max_ns_per_unit: 20_000, label: '≤ 20 µs' } }
        : {}),
  });
  cases.push({
    group,
    name: `${label}: cold load + first call + dispose`,
    unit_ops: 1,
    batch: 1,
    async: true,
    fn: async () => {
      const loaded = await backend.load(policySource);
      await loaded.invoke('decide', input);
      await loaded.dispose();
    },
  });
}
for (const [group, create] of fresh) {
  const backend = create();
  live.push(backend);
  const policy = await backend.load(policySource);
  cases.push({
    group,
    name: `${group}: fresh instance per call (fresh: 'per-call')`,
    unit_ops: 1,
    batch: 2,
    async: true,
    fn: () => policy.invoke('decide', input),
    ...(group === 'quickjs' ? { target: { max_ns_per_unit: 250_000, label: '≤ 250 µs' } } : {}),
  });
}

const started = Date.now();
const results = await runCases(cases, timing);
keepAlive();

// Memory per loaded policy: RSS growth over 100 loaded (and called) policies, after GC when
// exposed. Coarse by nature (RSS moves in pages); reported as measured, once per backend.
/** @type {Record<string, number>} */
const memory = {};
if (mode !== 'smoke') {
  for (const [label, group, create] of backends) {
    if (group === 'trusted') continue;
    const backend = create();
    globalThis.gc?.();
    const before = process.memoryUsage().rss;
    const loaded = [];
    for (let i = 0; i < 100; i++) {
      const p = await backend.load(policySource);
      await p.invoke('decide', input);
      loaded.push(p);
    }
    globalThis.gc?.();
    memory[label] = Math.round((process.memoryUsage().rss - before) / 100 / 1024);
    await backend.dispose();
  }
}
for (const backend of live) await backend.dispose();

writeReport({
  suite: 'sandbox',
  title: 'Sandbox backend benchmarks',
  column: 'backend',
  note: `ops/s is 1 / p50; every invoke includes JSON input/output validation. Memory per loaded policy (RSS growth over 100, KiB): ${
    Object.entries(memory)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'not measured in smoke mode'
  }.`,
  mode,
  outDir,
  started,
  results,
});
