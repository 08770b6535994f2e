// Summarise a V8 CPU profile (`node --cpu-prof`, e.g. from `run.mjs --profile DIR`): the top
// functions by self time and by inclusive time, with file:line, and self time per file.
//   node bench/gateway/profile-summary.mjs FILE.cpuprofile [--top N]
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: profile-summary.mjs FILE.cpuprofile [--top N]');
const topIndex = process.argv.indexOf('--top');
const TOP = topIndex >= 0 ? Number(process.argv[topIndex + 1]) : 25;

/** @type {{ nodes: { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }[], samples: number[], timeDeltas: number[] }} */
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
/** @type {Map<number, number>} */
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** @type {Map<number, number>} µs of self time per node */
const self = new Map();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  self.set(id, (self.get(id) ?? 0) + dt);
  total += dt;
});

const short = (/** @type {string} */ url) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\//, 'node_modules/')
    .replace(/^\/work\/main\//, '');
const keyOf = (/** @type {{ functionName: string, url: string, lineNumber: number }} */ f) =>
  `${f.functionName || '(anonymous)'} ${f.url === '' ? '' : `${short(f.url)}:${f.lineNumber + 1}`}`;

/** @type {Map<string, number>} */
const selfByFn = new Map();
/** @type {Map<string, number>} */
const inclusive = new Map();
/** @type {Map<string, number>} */
const selfByFile = new Map();
for (const [id, us] of self) {
  const node = byId.get(id);
  if (node === undefined) continue;
  const key = keyOf(node.callFrame);
  selfByFn.set(key, (selfByFn.get(key) ?? 0) + us);
  const f = short(node.callFrame.url) || `(${node.callFrame.functionName})`;
  selfByFile.set(f, (selfByFile.get(f) ?? 0) + us);
  // Inclusive: every distinct function on the stack gets the sample once.
  const seen = new Set();
  for (let at = /** @type {number | undefined} */ (id); at !== undefined; at = parent.get(at)) {
    const n = byId.get(at);
    if (n === undefined) break;
    const k = keyOf(n.callFrame);
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + us);
  }
}

const pct = (/** @type {number} */ us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const show = (/** @type {string} */ title, /** @type {Map<string, number>} */ m) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    console.log(`${pct(us)}  ${k}`);
  }
};
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled`);
show('self time by function', selfByFn);
show('self time by file', selfByFile);
show('inclusive time by function', inclusive);
