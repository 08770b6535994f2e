import type { SandboxBackend } from '@wardwright/core';
import { ConfigError, type ConfigIssue, type Plan } from '@wardwright/core';
import { loadArtifactFile } from '@wardwright/core/node';
import { BACKEND_OPTION, backendsFor } from '../backends.ts';
import type { Command, Context } from '../command.ts';
import { EXIT_FAILED, EXIT_OK, fileErrorCode, formatIssue } from '../errors.ts';
import { plural, shortHash } from '../output.ts';

interface Warning {
  path: string;
  kind: string;
  states: readonly string[];
  message: string;
}

interface Summary {
  model: { id: string; version: string };
  artifact_hash: string;
  request_rules: number;
  stream_rules: number;
  tool_call_rules: number;
  scripts: number;
  warnings: Warning[];
}

type FileResult =
  | { ok: true; file: string; summary: Summary }
  | { ok: false; file: string; issues: ConfigIssue[]; unreadable?: string };

export const check: Command = {
  spec: {
    name: 'check',
    summary: 'Validate artifacts: every problem with its $.path, or a one-line summary.',
    positionals: ['ARTIFACT...'],
    options: {
      json: {
        type: 'boolean',
        description: 'Print a JSON array: {ok, file, issues} or {ok, file, summary} per file.',
      },
      strict: {
        type: 'boolean',
        description: 'Treat state-machine findings (unreachable states, …) as errors.',
      },
      backend: BACKEND_OPTION,
    },
    details: `Each artifact is loaded like the engine loads it: scripts are read relative to the
artifact file, and the state machines are checked for graph problems (printed as warnings
marked "!", errors with --strict).

Exit codes: 0 every artifact is valid, 1 one is not (or cannot be read), 2 usage error.`,
  },

  async run(args, context) {
    const strict = args.values.strict === true;
    const backends = await backendsFor(args);
    const results: FileResult[] = [];
    for (const file of args.positionals) {
      results.push(await checkFile(file, { strict, backends }, context));
    }
    if (args.values.json === true) {
      context.io.out(`${JSON.stringify(results, null, 2)}\n`);
    } else {
      for (const result of results) printResult(result, context);
    }
    return results.every((r) => r.ok) ? EXIT_OK : EXIT_FAILED;
  },
};

async function checkFile(
  file: string,
  options: { strict: boolean; backends: Record<string, SandboxBackend> },
  context: Context,
): Promise<FileResult> {
  let plan: Plan;
  try {
    plan = await loadArtifactFile(file, options);
  } catch (error) {
    if (ConfigError.isInstance(error)) {
      return { ok: false, file, issues: [...error.issues] };
    }
    const code = fileErrorCode(error);
    if (code === undefined) throw error;
    const issues = [{ path: '$', message: `cannot be read: ${code}` }];
    return { ok: false, file, issues, unreadable: code };
  }
  try {
    context.note.afterLoading([plan]);
    return { ok: true, file, summary: summarize(plan) };
  } finally {
    await plan.dispose();
  }
}

function summarize(plan: Plan): Summary {
  const machines = plan.artifact.state_machines ?? [];
  return {
    model: { id: plan.model.id, version: plan.model.version },
    artifact_hash: plan.artifact_hash,
    request_rules: plan.artifact.request_rules?.length ?? 0,
    stream_rules: plan.artifact.stream_rules?.length ?? 0,
    tool_call_rules: plan.artifact.tool_calls?.rules?.length ?? 0,
    scripts: plan.scripts.size,
    warnings: plan.findings.map((f) => ({
      path: `$.state_machines[${machines.findIndex((m) => m.id === f.machine_id)}]`,
      kind: f.kind,
      states: f.states,
      message: f.message,
    })),
  };
}

function printResult(result: FileResult, { io, out }: Context): void {
  if (!result.ok) {
    if (result.unreadable !== undefined) {
      io.err(`wardwright: cannot read ${result.file}: ${result.unreadable}\n`);
      return;
    }
    io.out(`${out.red('✗')} ${result.file}\n`);
    for (const issue of result.issues) io.out(`  ${formatIssue(issue)}\n`);
    return;
  }
  const s = result.summary;
  const counts = [
    plural(s.request_rules, 'request rule'),
    plural(s.stream_rules, 'stream rule'),
    // Said only when there are some: most artifacts have none.
    ...(s.tool_call_rules === 0 ? [] : [plural(s.tool_call_rules, 'tool-call rule')]),
    plural(s.scripts, 'script'),
  ].join(', ');
  io.out(
    `${out.green('✓')} ${result.file}  model ${s.model.id}@${s.model.version}  ${out.dim(shortHash(s.artifact_hash))} (${counts})\n`,
  );
  for (const w of s.warnings) io.out(`  ${out.yellow('!')} ${w.path}: ${w.message}\n`);
}
