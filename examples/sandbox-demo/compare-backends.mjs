// The same policy under two sandboxes, compared decision by decision: the private-context
// artifact is compiled once with its script in QuickJS and once in isolated-vm, and every
// private-context scenario runs on the QuickJS plan with the isolated-vm plan as a strict
// shadow. Any difference in what the two backends decide would throw, naming the decision.
//
//   node --no-node-snapshot examples/sandbox-demo/compare-backends.mjs
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runScenarios } from '@wardwright/core';
import { loadArtifactFile, loadScenarioDir } from '@wardwright/core/node';
import { isolatedVmSandbox } from '@wardwright/sandbox-isolated-vm';
import { quickjsSandbox } from '@wardwright/sandbox-quickjs';

const examples = fileURLToPath(new URL('..', import.meta.url));
const artifact = join(examples, 'artifacts', 'private-context.json');

const quickjs = quickjsSandbox();
const ivm = isolatedVmSandbox();
const inQuickjs = await loadArtifactFile(artifact, { backends: { quickjs } });
const inIsolatedVm = await loadArtifactFile(artifact, { backends: { 'isolated-vm': ivm } });

const { cases, plans } = await loadScenarioDir(join(examples, 'scenarios', 'private-context'), {
  backends: { quickjs },
});
const report = await runScenarios(
  cases.map((c) => ({ ...c, plan: inQuickjs })),
  { shadow: () => ({ plan: inIsolatedVm, strict: true }) },
);

for (const result of report.results) {
  const receipt = result.receipt;
  const script = receipt?.sandbox[0];
  const line = result.ok
    ? `✓ ${result.name}: ${receipt?.final.status}, script in ${script?.backend ?? '—'}${script?.failure ? ` failed (${script.failure.kind})` : ''}, shadow in isolated-vm agreed`
    : `✗ ${result.name}: ${result.error ?? result.failures.map((f) => f.field).join(', ')}`;
  console.log(line);
}
console.log(
  `${report.passed} passed, ${report.failed} failed — QuickJS and isolated-vm decided alike on every scenario`,
);

for (const plan of [inQuickjs, inIsolatedVm, ...plans.values()]) await plan.dispose();
await quickjs.dispose();
await ivm.dispose();
process.exitCode = report.failed === 0 ? 0 : 1;
