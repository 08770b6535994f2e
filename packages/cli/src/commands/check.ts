import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, type ConfigIssue, compileArtifact, type Plan } from '@wardwright/core';
import { loadArtifactFile, readJsonFile } from '@wardwright/core/node';
import { backendsFor } from '../backends.ts';
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
    },
    details: `Each artifact is loaded like the engine loads it: scripts are read relative to the
artifact file, and the state machines are checked for graph problems (printed as warnings
marked "!", errors with --strict).

Exit codes: 0 every artifact is valid, 1 one is not (or cannot be read), 2 usage error.`,
  },

  async run(args, context) {
    const strict = args.values.strict === true;
    const results: FileResult[] = [];
    for (const file of args.positionals) results.push(await checkFile(file, strict, context));
    if (args.values.json === true) {
      context.io.out(`${JSON.stringify(results, null, 2)}\n`);
    } else {
      for (const result of results) printResult(result, context);
    }
    return results.every((r) => r.ok) ? EXIT_OK : EXIT_FAILED;
  },
};

async function checkFile(file: string, strict: boolean, context: Context): Promise<FileResult> {
  let plan: Plan;
  try {
    plan = await loadArtifactFile(file, { backends: backendsFor(), strict });
  } catch (error) {
    if (ConfigError.isInstance(error)) {
      return { ok: false, file, issues: await withHiddenIssues(file, error.issues, strict) };
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
    plural(s.scripts, 'script'),
  ].join(', ');
  io.out(
    `${out.green('✓')} ${result.file}  model ${s.model.id}@${s.model.version}  ${out.dim(shortHash(s.artifact_hash))} (${counts})\n`,
  );
  for (const w of s.warnings) io.out(`  ${out.yellow('!')} ${w.path}: ${w.message}\n`);
}

/**
 * Work-around: compileArtifact stops at shape errors, so a meaning error elsewhere (an unknown
 * switch_model target) only shows up after the next edit. To list it in the same run, the keys
 * the shape errors point at are removed from a copy, which is compiled again; its issues that
 * do not concern a removed key (nor its parents, which now miss it) are added.
 */
async function withHiddenIssues(
  file: string,
  issues: readonly ConfigIssue[],
  strict: boolean,
): Promise<ConfigIssue[]> {
  const all = [...issues];
  let artifact: unknown;
  try {
    artifact = await readJsonFile(file);
  } catch {
    return all;
  }
  const removed = issues.map((issue) => issue.path).filter((path) => removeAt(artifact, path));
  if (removed.length === 0) return all;
  const base = dirname(resolve(file));
  try {
    const plan = await compileArtifact(artifact, {
      backends: backendsFor(),
      strict,
      readSource: (path) => readFile(resolve(base, path), 'utf8'),
    });
    await plan.dispose();
  } catch (error) {
    if (!ConfigError.isInstance(error)) return all;
    for (const issue of error.issues) {
      const seen = all.some((i) => i.path === issue.path && i.message === issue.message);
      if (!seen && !removed.some((path) => related(path, issue.path))) all.push(issue);
    }
  }
  return all;
}

function related(a: string, b: string): boolean {
  return a === b || isUnder(a, b) || isUnder(b, a);
}

function isUnder(path: string, parent: string): boolean {
  return path.startsWith(parent) && (path[parent.length] === '.' || path[parent.length] === '[');
}

const SEGMENT = /\.([A-Za-z_$][A-Za-z0-9_$]*)|\[(0|[1-9][0-9]*)\]|\[("(?:[^"\\]|\\.)*")\]/y;

/** Delete the object key a `$.a[0].b` path ends with; false when there is none to delete. */
export function removeAt(root: unknown, path: string): boolean {
  if (!path.startsWith('$')) return false;
  const segments: (string | number)[] = [];
  for (let i = 1; i < path.length; ) {
    SEGMENT.lastIndex = i;
    const m = SEGMENT.exec(path);
    if (m === null) return false;
    segments.push(m[1] ?? (m[2] === undefined ? (JSON.parse(m[3]!) as string) : Number(m[2])));
    i = SEGMENT.lastIndex;
  }
  const last = segments.pop();
  if (typeof last !== 'string') return false;
  let node: unknown = root;
  for (const segment of segments) {
    if (typeof node !== 'object' || node === null) return false;
    node = (node as Record<string | number, unknown>)[segment];
  }
  if (
    typeof node !== 'object' ||
    node === null ||
    Array.isArray(node) ||
    !Object.hasOwn(node, last)
  ) {
    return false;
  }
  delete (node as Record<string, unknown>)[last];
  return true;
}
