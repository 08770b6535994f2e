// `npm run bench` (after the build): every suite in turn, each in its own process with the Node
// flags it needs, the same options forwarded to all (--quick, --smoke, --out DIR). npm appends
// `-- --quick` to the last command of a script only, hence one runner rather than a `&&` chain.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** @type {[suite: string, nodeFlags: string[]][]} */
const SUITES = [
  ['core', []],
  ['engine', []],
  // isolated-vm needs the snapshot off; --expose-gc lets the memory suite collect first.
  ['sandbox', ['--no-node-snapshot', '--expose-gc']],
  // Wardwright vs direct vs the Portkey gateway, each target in its own process.
  ['gateway', []],
];

const args = process.argv.slice(2);
const started = Date.now();
for (const [suite, flags] of SUITES) {
  const runner = fileURLToPath(new URL(`../${suite}/run.mjs`, import.meta.url));
  const t0 = Date.now();
  const result = spawnSync(process.execPath, [...flags, runner, ...args], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`bench: the ${suite} suite failed (exit ${result.status ?? result.signal})`);
    process.exit(1);
  }
  console.error(`bench: ${suite} took ${Math.round((Date.now() - t0) / 100) / 10} s`);
}
console.error(`bench: all suites took ${Math.round((Date.now() - started) / 100) / 10} s`);
