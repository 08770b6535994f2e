import { fileURLToPath } from 'node:url';
import {
  ReceiptSchema,
  runScenarios,
  type ScenarioReport,
  simulate,
  trustedBackend,
} from '@wardwright/core';
import { type LoadedScenarios, loadScenarioDir } from '@wardwright/core/node';
import { starlarkSandbox } from '@wardwright/starlark';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The example artifacts are documentation that runs: every scenario under examples/scenarios
// pins what its artifact does, and the receipts they produce are checked against the receipt
// schema and for determinism.
const scenarioDir = fileURLToPath(new URL('../examples/scenarios', import.meta.url));
// JavaScript scripts run in the trusted backend; the *-starlark artifacts run the .star twins.
const load = () =>
  loadScenarioDir(scenarioDir, {
    backends: { trusted: trustedBackend(), starlark: starlarkSandbox() },
  });

function describeFailures(report: ScenarioReport): string {
  const lines: string[] = [];
  for (const result of report.results) {
    if (result.ok) continue;
    lines.push(`✗ ${result.source ?? '?'} › ${result.name}`);
    if (result.error !== undefined) lines.push(`    error: ${result.error}`);
    for (const failure of result.failures) {
      lines.push(
        `    ${failure.field}: expected ${JSON.stringify(failure.expected)}, got ${JSON.stringify(failure.actual)}`,
      );
    }
  }
  return `${report.failed} of ${report.results.length} scenarios failed:\n${lines.join('\n')}`;
}

let loaded: LoadedScenarios;
let report: ScenarioReport;

beforeAll(async () => {
  loaded = await load();
  report = await runScenarios(loaded.cases);
});

afterAll(async () => {
  await Promise.all([...loaded.plans.values()].map((plan) => plan.dispose()));
});

describe('example scenarios', () => {
  it('cover every example artifact with at least four scenarios, 20 or more in all', () => {
    expect(loaded.cases.length).toBeGreaterThanOrEqual(20);
    // Per artifact file: the Starlark twins share their model id with the JavaScript artifacts.
    const perArtifact = new Map<string, number>();
    for (const [file, plan] of loaded.plans) {
      perArtifact.set(file, loaded.cases.filter((c) => c.plan === plan).length);
    }
    expect(perArtifact.size).toBe(7);
    for (const [model, count] of perArtifact) {
      expect(count, `scenarios for ${model}`).toBeGreaterThanOrEqual(4);
    }
  });

  it('all pass', () => {
    expect(report.results.length).toBe(loaded.cases.length);
    expect(report.failed, describeFailures(report)).toBe(0);
  });

  it('produce receipts that validate against ReceiptSchema', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const validate = ajv.compile(ReceiptSchema);
    let checked = 0;
    for (const result of report.results) {
      if (result.receipt === undefined) continue;
      const valid = validate(result.receipt);
      expect(valid, `${result.name}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      checked++;
    }
    expect(checked).toBe(loaded.cases.length);
  });

  it('give byte-identical receipts when a fixture is simulated twice, even from a fresh compile', async () => {
    const again = await load();
    try {
      expect(again.cases.map((c) => c.name)).toEqual(loaded.cases.map((c) => c.name));
      for (const [index, c] of loaded.cases.entries()) {
        const first = JSON.stringify((await simulate(c.plan, c.fixture)).receipt);
        const second = JSON.stringify((await simulate(c.plan, c.fixture)).receipt);
        const fresh = again.cases[index]!;
        const third = JSON.stringify((await simulate(fresh.plan, fresh.fixture)).receipt);
        expect(second, c.name).toBe(first);
        expect(third, c.name).toBe(first);
        expect(JSON.stringify(report.results[index]?.receipt), c.name).toBe(first);
      }
    } finally {
      await Promise.all([...again.plans.values()].map((plan) => plan.dispose()));
    }
  });

  it('run the Starlark twins of private-context and review-flow with the same expectations', () => {
    const languages = (dir: string) =>
      loaded.cases
        .filter((c) => c.source?.includes(`examples/scenarios/${dir}/`))
        .map((c) => [...c.plan.scripts.values()].map((s) => s.language));
    for (const base of ['private-context', 'review-flow']) {
      const js = loaded.cases.filter((c) => c.source?.includes(`examples/scenarios/${base}/`));
      const star = loaded.cases.filter((c) =>
        c.source?.includes(`examples/scenarios/${base}-starlark/`),
      );
      expect(star.length).toBe(js.length);
      expect(star.map((c) => [c.name, c.expect])).toEqual(js.map((c) => [c.name, c.expect]));
      expect(languages(`${base}-starlark`).flat()).toEqual(star.map(() => 'starlark'));
      expect(languages(base).flat()).toEqual(js.map(() => 'javascript'));
    }
  });

  it('report a deliberately wrong expectation as one failure naming the field', async () => {
    const c = loaded.cases.find((x) => x.name.startsWith('a refund question'));
    expect(c).toBeDefined();
    const wrong = await runScenarios([
      { ...c!, expect: { ...c!.expect, actions: ['refund-policy-reminder:block'] } },
    ]);
    expect(wrong.passed).toBe(0);
    expect(wrong.failed).toBe(1);
    expect(wrong.results[0]?.failures).toEqual([
      {
        field: 'actions',
        expected: ['refund-policy-reminder:block'],
        actual: ['refund-policy-reminder:inject_reminder'],
      },
    ]);
  });
});
