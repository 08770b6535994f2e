// Starlark speed: CPU-bound programs that are also valid Python, timed with our interpreter
// (the built dist, in-process: compile + run) and with python3 (in-process: compile + exec), and
// the warm p50 of decide() on a small policy. Usage: node bench/starlark/run.mjs [--quick]
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '../../packages/starlark-adapter/dist/index.js');
const { Program, starlarkSandbox } = await import(dist);

const quick = process.argv.includes('--quick');
const REPEATS = quick ? 3 : 7;
const programs = readdirSync(join(here, 'programs'))
  .filter((f) => f.endsWith('.star'))
  .sort();

/** The median: for an even count, the mean of the two middle values. @param {number[]} xs */
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};

/** @param {string} src */
function ours(src) {
  /** @type {string[]} */
  const out = [];
  const t0 = performance.now();
  Program.compile(src, { filename: 'bench.star' }).init({
    print: (/** @type {string} */ l) => out.push(l),
  });
  return { ms: performance.now() - t0, out: out.join('\n') };
}

/** @param {string} file */
function python(file) {
  const code = [
    'import sys, time, io, contextlib',
    'src = open(sys.argv[1]).read()',
    'buf = io.StringIO()',
    't0 = time.perf_counter()',
    'with contextlib.redirect_stdout(buf):',
    '    exec(compile(src, sys.argv[1], "exec"), {})',
    'ms = (time.perf_counter() - t0) * 1000',
    'print(ms)',
    'print(buf.getvalue().strip())',
  ].join('\n');
  const [ms, ...out] = execFileSync('python3', ['-c', code, file], { encoding: 'utf8' })
    .trim()
    .split('\n');
  return { ms: Number(ms), out: out.join('\n') };
}

const rows = [];
for (const name of programs) {
  const file = join(here, 'programs', name);
  const src = readFileSync(file, 'utf8');
  ours(src); // warm-up: JIT the interpreter itself
  const a = [];
  const b = [];
  let outA = '';
  let outB = '';
  for (let i = 0; i < REPEATS; i++) {
    const r = ours(src);
    a.push(r.ms);
    outA = r.out;
    const p = python(file);
    b.push(p.ms);
    outB = p.out;
  }
  if (outA !== outB) throw new Error(`${name}: output differs: starlark ${outA} vs python ${outB}`);
  rows.push({ program: name.replace('.star', ''), starlark_ms: median(a), python_ms: median(b) });
}

// Warm decide(): the private-context example policy on a small input.
const policySrc = readFileSync(join(here, '../../examples/policies/private-context.star'), 'utf8');
const backend = starlarkSandbox();
const policy = await backend.load({ name: 'bench', language: 'starlark', code: policySrc });
const input = {
  request: { messages: [{ role: 'user', content: 'classification: internal\nhello there' }] },
  last_user_message: 'hello there',
  caller: { tenant_id: 'acme' },
};
for (let i = 0; i < 20000; i++) await policy.invoke('decide', input);
const BATCH = 200;
const perCall = [];
for (let b = 0; b < (quick ? 50 : 200); b++) {
  const t0 = performance.now();
  for (let i = 0; i < BATCH; i++) await policy.invoke('decide', input);
  perCall.push(((performance.now() - t0) / BATCH) * 1000);
}
// The interpreter call alone, without the backend's JSON round trip and promise.
const { module } = Program.compile(policySrc).init();
const { fromJson } = await import(dist);
const decide = module.globals.get('decide');
const arg = fromJson(input);
for (let i = 0; i < 20000; i++) module.call(decide, [arg]);
const rawCall = [];
for (let b = 0; b < (quick ? 50 : 200); b++) {
  const t0 = performance.now();
  for (let i = 0; i < BATCH; i++) module.call(decide, [arg]);
  rawCall.push(((performance.now() - t0) / BATCH) * 1000);
}

console.log('| program | starlark (ms) | python3 (ms) | ratio |');
console.log('|---|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.program} | ${r.starlark_ms.toFixed(1)} | ${r.python_ms.toFixed(1)} | ${(r.starlark_ms / r.python_ms).toFixed(2)}x |`,
  );
}
const ratios = rows.map((r) => r.starlark_ms / r.python_ms);
console.log(`\nmedian ratio (starlark / python3): ${median(ratios).toFixed(2)}x`);
console.log(
  `warm decide() via starlarkSandbox().invoke: p50 ${median(perCall).toFixed(2)} µs per call`,
);
console.log(
  `warm decide() interpreter call only (ModuleInstance.call): p50 ${median(rawCall).toFixed(2)} µs per call`,
);
