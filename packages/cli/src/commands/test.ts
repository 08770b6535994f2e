import { type Plan, runScenarios, type ScenarioCase, type ScenarioResult } from '@wardwright/core';
import { loadScenarioDir } from '@wardwright/core/node';
import { BACKEND_OPTION, backendsFor } from '../backends.ts';
import type { Command, Context } from '../command.ts';
import { EXIT_FAILED, EXIT_OK, ReportedError } from '../errors.ts';
import { fieldDiff } from '../output.ts';
import { orReport } from './load.ts';

export const test: Command = {
  spec: {
    name: 'test',
    summary: 'Run the scenarios in directories and report the ones whose expectations fail.',
    positionals: ['DIR...'],
    options: {
      json: {
        type: 'boolean',
        description: 'Print {passed, failed, results} as JSON (results without receipts).',
      },
      filter: {
        type: 'string',
        value: 'SUBSTRING',
        description: 'Run only scenarios whose name or file path contains SUBSTRING.',
      },
      verbose: { type: 'boolean', short: 'v', description: 'List passing scenarios too.' },
      backend: BACKEND_OPTION,
    },
    details: `Every *.json file under each DIR (recursively) holds one scenario
(wardwright.scenario.v1) or an array of them: an artifact file (relative to the scenario
file), a fixture and the expected outcome. Each scenario is simulated and every expected field
compared; a failing one prints "✗ FILE › NAME" and, per field, the expected and actual values.

Exit codes: 0 every scenario passed, 1 one failed or none was found (or a file is invalid or
cannot be read), 2 usage error.`,
  },

  async run(args, context) {
    const plans: Plan[] = [];
    const backends = await backendsFor(args);
    try {
      const cases: ScenarioCase[] = [];
      for (const dir of args.positionals) {
        const loaded = await orReport(
          dir,
          context,
          () => loadScenarioDir(dir, { backends }),
          `an artifact named by a scenario in ${dir}`,
        );
        plans.push(...loaded.plans.values());
        cases.push(...loaded.cases);
      }
      context.note.afterLoading(plans);
      const filter = args.values.filter;
      const selected =
        typeof filter === 'string'
          ? cases.filter((c) => c.name.includes(filter) || (c.source ?? '').includes(filter))
          : cases;
      if (selected.length === 0) {
        const why =
          cases.length === 0
            ? `no scenario found in ${args.positionals.join(', ')}`
            : `no scenario matches --filter ${JSON.stringify(filter)} (of ${cases.length} found)`;
        context.io.err(`wardwright: ${why}\n`);
        throw new ReportedError(why);
      }
      const report = await runScenarios(selected);
      if (args.values.json === true) {
        const results = report.results.map(({ receipt: _receipt, ...rest }) => rest);
        context.io.out(
          `${JSON.stringify({ passed: report.passed, failed: report.failed, results }, null, 2)}\n`,
        );
      } else {
        printReport(report.results, args.values.verbose === true, context);
        const summary = `${report.passed} passed, ${report.failed} failed`;
        context.io.out(
          `${report.failed > 0 ? context.out.red(summary) : context.out.green(summary)}\n`,
        );
      }
      return report.failed > 0 ? EXIT_FAILED : EXIT_OK;
    } finally {
      await Promise.all(plans.map((plan) => plan.dispose()));
    }
  },
};

function printReport(results: readonly ScenarioResult[], verbose: boolean, context: Context) {
  const { io, out } = context;
  for (const result of results) {
    const title = result.source === undefined ? result.name : `${result.source} › ${result.name}`;
    if (result.ok) {
      if (verbose) io.out(`${out.green('✓')} ${result.name}\n`);
      continue;
    }
    io.out(`${out.red('✗')} ${title}\n`);
    if (result.error !== undefined) {
      for (const line of result.error.split('\n')) io.out(`    ${out.red(line)}\n`);
    }
    for (const failure of result.failures) {
      io.out(`${fieldDiff(failure.field, failure.expected, failure.actual, out).join('\n')}\n`);
    }
  }
}
