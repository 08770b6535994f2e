// The cost of the worker execution mode: warm invoke latency of one small policy (classify 50
// numbers against a threshold, as in run.mjs), inline (on the calling thread) and through
// `workerSandbox` (one thread hop each way, JSON strings across), for QuickJS and trusted.
// Sequential calls, one at a time, so this is the latency of a call, not pool throughput.
// Prints medians and p99 in microseconds. Needs the built packages:
//   npm run build -w @wardwright/core && npm run build -w @wardwright/sandbox-quickjs
//   node bench/sandbox/worker-mode.mjs [--calls N]
import { trustedBackend } from '@wardwright/core';
import { workerSandbox } from '@wardwright/core/node';
import { quickjsSandbox } from '@wardwright/sandbox-quickjs';

const callsArg = process.argv.indexOf('--calls');
const CALLS = callsArg === -1 ? 5000 : Number(process.argv[callsArg + 1]);
const WARMUP = 2000;

const source = {
  name: 'classify',
  language: /** @type {const} */ ('javascript'),
  code: `
function decide(input) {
  let high = 0;
  const flagged = [];
  for (let i = 0; i < input.values.length; i++) {
    if (input.values[i] > input.threshold) { high++; if (flagged.length < 5) flagged.push(i); }
  }
  return { actions: high > 10 ? [{ action: 'annotate', message: high + ' above threshold' }] : [], high, flagged };
}`,
};
const input = { threshold: 50, values: Array.from({ length: 50 }, (_, i) => (i * 37) % 100) };

/** @param {import('@wardwright/core').SandboxBackend} backend */
async function measure(backend) {
  const policy = await backend.load(source);
  const check = await policy.invoke('decide', input);
  if (!check.ok)
    throw new Error(`${backend.name}: ${check.failure.kind}: ${check.failure.message}`);
  for (let i = 0; i < WARMUP; i++) await policy.invoke('decide', input);
  const samples = new Float64Array(CALLS);
  for (let i = 0; i < CALLS; i++) {
    const start = performance.now();
    await policy.invoke('decide', input);
    samples[i] = performance.now() - start;
  }
  await policy.dispose();
  samples.sort();
  /** @param {number} q */
  const at = (q) => (samples[Math.min(CALLS - 1, Math.floor(q * CALLS))] ?? 0) * 1000;
  return { p50: at(0.5), p99: at(0.99) };
}

/** @type {{ label: string, inlineResult: { p50: number, p99: number }, workerResult: { p50: number, p99: number } }[]} */
const rows = [];
/** @type {[string, () => import('@wardwright/core').SandboxBackend, { module: string, export: string }][]} */
const targets = [
  ['trusted', () => trustedBackend(), { module: '@wardwright/core', export: 'trustedBackend' }],
  [
    'quickjs',
    () => quickjsSandbox(),
    { module: '@wardwright/sandbox-quickjs', export: 'quickjsSandbox' },
  ],
];
for (const [label, inline, inner] of targets) {
  const direct = inline();
  const inlineResult = await measure(direct);
  await direct.dispose();
  const pooled = await workerSandbox({ backend: inner, threads: 1, resolveFrom: import.meta.url });
  const workerResult = await measure(pooled);
  await pooled.dispose();
  rows.push({ label, inlineResult, workerResult });
}

/** @param {number} n */
const us = (n) => `${n.toFixed(1)} µs`.padStart(10);
console.log(
  `warm invoke, ${CALLS} sequential calls after ${WARMUP} warm-up (Node ${process.version})`,
);
console.log('backend   inline p50  worker p50  hop (p50)   inline p99  worker p99');
for (const { label, inlineResult: a, workerResult: b } of rows) {
  console.log(
    `${label.padEnd(8)} ${us(a.p50)}  ${us(b.p50)}  ${us(b.p50 - a.p50)}  ${us(a.p99)}  ${us(b.p99)}`,
  );
}
