import { SCENARIO_SCHEMA_ID, simulate as simulateFixture } from '@wardwright/core';
import { BACKEND_OPTION } from '../backends.ts';
import type { Command } from '../command.ts';
import { EXIT_OK, UsageError } from '../errors.ts';
import { formatTrace } from '../trace.ts';
import { loadPlan, orReport, readJson } from './load.ts';

export const simulate: Command = {
  spec: {
    name: 'simulate',
    summary: 'Run one fixture through an artifact and show every decision.',
    positionals: ['ARTIFACT', 'FIXTURE'],
    options: {
      backend: BACKEND_OPTION,
      json: {
        type: 'boolean',
        description: 'Print the receipt (wardwright.receipt.v1) exactly, as JSON.',
      },
      trace: {
        type: 'boolean',
        description: 'Add ids, digests, priorities, stream counters and timings to the trace.',
      },
    },
    details: `FIXTURE is a fixture file, or a scenario file (its "fixture" is simulated).
The fixture (wardwright.fixture.v1) is the request, the caller, the history and machine
states before it, and the provider's scripted replies; without "attempts" only the request
phase runs (status "simulated"). The real engine runs with a manual clock, so the same
artifact and fixture always give the same receipt.

Exit codes: 0 simulated, whatever the final status; 1 the artifact or fixture is invalid or
cannot be read; 2 usage error.`,
  },

  async run(args, context) {
    if (args.values.json === true && args.values.trace === true) {
      throw new UsageError('--json and --trace cannot be combined');
    }
    const [artifactFile, fixtureFile] = args.positionals as [string, string];
    const plan = await loadPlan(artifactFile, args, context);
    try {
      const fixture = fixtureOf(await readJson(fixtureFile, context));
      const result = await orReport(fixtureFile, context, () => simulateFixture(plan, fixture));
      context.io.out(
        args.values.json === true
          ? `${JSON.stringify(result.receipt, null, 2)}\n`
          : `${formatTrace(result, context.out, args.values.trace === true).join('\n')}\n`,
      );
      return EXIT_OK;
    } finally {
      await plan.dispose();
    }
  },
};

/** A scenario file holds its fixture under `fixture`: simulate that, so any pinned case replays. */
function fixtureOf(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const record = value as Record<string, unknown>;
  return record.schema === SCENARIO_SCHEMA_ID && 'fixture' in record ? record.fixture : value;
}
