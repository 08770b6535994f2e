import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import {
  type JsonValue,
  type PolicyLanguage,
  type SandboxBackend,
  SandboxLoadError,
} from '@wardwright/core';
import {
  backendFactory,
  backendList,
  IVM_INSTALL,
  SANDBOX_BACKENDS,
  type SandboxBackendName,
} from '../backends.ts';
import type { Command, Context } from '../command.ts';
import { EXIT_FAILED, EXIT_OK, fileErrorCode, UsageError } from '../errors.ts';
import { table } from '../output.ts';
import {
  benchPolicy,
  formatNs,
  formatRatio,
  type MachineInfo,
  type Mode,
  machineInfo,
  nativeBackend,
  PLANS,
  PolicyCallError,
  type Row,
  type RowResult,
} from './bench-measure.ts';

export const BENCH_BACKENDS = [...SANDBOX_BACKENDS, 'native'] as const;

const NATIVE_NOTE =
  'native: the policy file imported as an ES module in this process and called as a plain function (not a sandbox: no limits, no JSON copy)';
const TRUSTED_NOTE = 'trusted: in-process, not a sandbox (JSON in and out, no isolation)';

const INSTALL: Record<string, string> = {
  'isolated-vm': IVM_INSTALL,
  starlark: 'npm install @wardwright/starlark (a version that exports starlarkSandbox)',
};

interface Skipped {
  backend: string;
  reason: string;
}

export const bench: Command = {
  spec: {
    name: 'bench',
    summary: 'Time a policy on each sandbox backend: warm invoke and cold load, side by side.',
    positionals: [],
    options: {
      policy: { type: 'string', value: 'FILE', description: 'The policy: .js, or .star.' },
      input: { type: 'string', value: 'FILE', description: 'The JSON input of every call.' },
      backends: {
        type: 'string',
        value: 'LIST',
        description: `Comma-separated, from ${BENCH_BACKENDS.join(', ')}. Default: every installed backend for the policy's language (native included for JavaScript).`,
      },
      entry: {
        type: 'string',
        value: 'NAME',
        description: 'The function to call (default: decide).',
      },
      quick: { type: 'boolean', description: 'Fewer samples (about 1 s per backend).' },
      json: {
        type: 'boolean',
        description: 'Print the results as JSON, raw samples (ns per call) included.',
      },
      out: {
        type: 'string',
        value: 'DIR',
        description: 'Also write bench.json and bench.md there.',
      },
    },
    details: `Loads the policy on each backend, checks that a first call succeeds, then measures,
with the backends interleaved round by round (about 1 ms of calls each per round) so machine
noise lands on all of them:
  warm invoke  a loaded policy called again and again (what a request pays);
  cold load    load the source and make the first call (what a new policy version pays).
Reported per backend: p50, p95, p99, quartiles, min and max over the samples, and the ratio
of each p50 to native (or to the fastest row when native is not measured).

${NATIVE_NOTE}.
isolated-vm needs node --no-node-snapshot (NODE_OPTIONS=--no-node-snapshot wardwright bench …).

Exit codes: 0 measured, 1 the policy or input cannot be read or a call failed, 2 usage error.`,
  },

  async run(args, context) {
    const policyFile = stringOption(args.values.policy, '--policy FILE');
    const inputFile = stringOption(args.values.input, '--input FILE');
    const entry = args.values.entry === undefined ? 'decide' : String(args.values.entry);
    const mode: Mode = args.values.quick === true ? 'quick' : 'full';
    const language: PolicyLanguage = extname(policyFile) === '.star' ? 'starlark' : 'javascript';
    const explicit =
      typeof args.values.backends === 'string'
        ? backendList(args.values.backends, BENCH_BACKENDS, '--backends')
        : undefined;

    const code = await readText(policyFile, context);
    const inputText = await readText(inputFile, context);
    if (code === undefined || inputText === undefined) return EXIT_FAILED;
    let input: JsonValue;
    try {
      input = JSON.parse(inputText) as JsonValue;
    } catch (error) {
      context.io.err(`wardwright: ${inputFile} is not JSON: ${(error as Error).message}\n`);
      return EXIT_FAILED;
    }

    const skipped: Skipped[] = [];
    let names = explicit;
    if (names === undefined) {
      names =
        language === 'starlark' ? ['starlark'] : ['quickjs', 'isolated-vm', 'trusted', 'native'];
      // By default isolated-vm only joins when it can run safely (V8 may crash the process
      // otherwise); asked for by name, it runs and its package prints the warning.
      if (names.includes('isolated-vm') && !snapshotDisabled(context)) {
        names = names.filter((n) => n !== 'isolated-vm');
        skipped.push({
          backend: 'isolated-vm',
          reason: 'needs node --no-node-snapshot (NODE_OPTIONS=--no-node-snapshot)',
        });
      }
    }
    const rows: Row[] = [];
    const source = {
      name: policyFile,
      language,
      code,
      filename: resolve(policyFile),
    } as const;
    for (const name of names) {
      const backend = await backendNamed(name);
      if (backend === undefined) {
        skipped.push({ backend: name, reason: `not available in this build: ${INSTALL[name]}` });
      } else if (backend.language !== language) {
        skipped.push({ backend: name, reason: `runs ${backend.language}, not ${language}` });
      } else {
        rows.push({ name, backend, source });
      }
    }
    for (const s of skipped)
      context.io.err(`wardwright bench: skipped ${s.backend}: ${s.reason}\n`);
    if (rows.length === 0) {
      context.io.err('wardwright bench: no backend to run\n');
      return EXIT_FAILED;
    }

    const bar = progressBar(context);
    let results: RowResult[];
    try {
      results = await benchPolicy(rows, entry, input, PLANS[mode], bar.update);
    } catch (error) {
      bar.clear();
      context.io.err(`wardwright bench: ${describeFailure(error)}\n`);
      return EXIT_FAILED;
    } finally {
      bar.clear();
      for (const row of rows) await row.backend.dispose();
    }

    const outputs = new Set(results.map((r) => JSON.stringify(r.output)));
    const agree = outputs.size === 1;
    if (!agree) {
      context.io.err('wardwright bench: warning: the backends returned different outputs\n');
    }
    const report = {
      policy: policyFile,
      input: inputFile,
      entry,
      language,
      mode,
      date: new Date().toISOString(),
      machine: machineInfo(),
      outputs_agree: agree,
      baseline: baselineOf(results),
      results: results.map((r) => ({
        backend: r.backend,
        capabilities: rows.find((row) => row.name === r.backend)!.backend.capabilities,
        warm: { ...r.warm.stats, samples_ns: r.warm.samples_ns },
        cold: { ...r.cold.stats, samples_ns: r.cold.samples_ns },
      })),
      skipped,
      notes: notesFor(results),
    };
    const text = render(results, report.notes, skipped);
    if (typeof args.values.out === 'string') {
      await mkdir(args.values.out, { recursive: true });
      await writeFile(join(args.values.out, 'bench.json'), `${JSON.stringify(report, null, 2)}\n`);
      await writeFile(join(args.values.out, 'bench.md'), markdown(report.date, results, report));
    }
    context.io.out(args.values.json === true ? `${JSON.stringify(report, null, 2)}\n` : text);
    return EXIT_OK;
  },
};

function snapshotDisabled(context: Context): boolean {
  return (
    process.execArgv.includes('--no-node-snapshot') ||
    (context.io.env.NODE_OPTIONS ?? '').split(/\s+/).includes('--no-node-snapshot')
  );
}

function stringOption(value: string | boolean | undefined, what: string): string {
  if (typeof value !== 'string') throw new UsageError(`missing ${what}`);
  return value;
}

async function readText(file: string, context: Context): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = fileErrorCode(error);
    if (code === undefined) throw error;
    context.io.err(`wardwright: cannot read ${file}: ${code}\n`);
    return undefined;
  }
}

async function backendNamed(name: string): Promise<SandboxBackend | undefined> {
  if (name === 'native') return nativeBackend();
  const factory = await backendFactory(name as SandboxBackendName);
  return factory?.();
}

/** A failed first call or a policy that does not load is the user's to fix; anything else is a bug. */
function describeFailure(error: unknown): string {
  if (error instanceof PolicyCallError) return `the first call failed on ${error.message}`;
  if (SandboxLoadError.isInstance(error)) {
    return `the policy did not load: ${error.message}`;
  }
  throw error;
}

/** The row every ratio is to: native when measured, else the fastest warm p50. */
function baselineOf(results: readonly RowResult[]): string {
  const native = results.find((r) => r.backend === 'native');
  if (native !== undefined) return 'native';
  return [...results].sort((a, b) => a.warm.stats.p50 - b.warm.stats.p50)[0]!.backend;
}

function notesFor(results: readonly RowResult[]): string[] {
  const notes: string[] = [];
  if (results.some((r) => r.backend === 'native')) notes.push(NATIVE_NOTE);
  if (results.some((r) => r.backend === 'trusted')) notes.push(TRUSTED_NOTE);
  return notes;
}

function render(
  results: readonly RowResult[],
  notes: readonly string[],
  skipped: readonly Skipped[],
): string {
  const base = results.find((r) => r.backend === baselineOf(results))!;
  const rows = [
    ['backend', 'warm p50', 'p95', 'p99', 'n', `× ${base.backend}`, 'cold p50', 'p95', 'n'],
    ...results.map((r) => [
      r.backend,
      formatNs(r.warm.stats.p50),
      formatNs(r.warm.stats.p95),
      formatNs(r.warm.stats.p99),
      String(r.warm.stats.samples),
      formatRatio(r.warm.stats.p50, base.warm.stats.p50),
      formatNs(r.cold.stats.p50),
      formatNs(r.cold.stats.p95),
      String(r.cold.stats.samples),
    ]),
  ];
  return [
    ...table(rows),
    '',
    ...notes,
    ...skipped.map((s) => `${s.backend}: skipped, ${s.reason}`),
    '',
  ].join('\n');
}

function markdown(
  date: string,
  results: readonly RowResult[],
  report: { policy: string; mode: string; machine: MachineInfo; notes: string[] },
): string {
  const base = results.find((r) => r.backend === baselineOf(results))!;
  return [
    `# wardwright bench: ${report.policy} (${report.mode})`,
    '',
    `${date.slice(0, 10)} · Node ${report.machine.node} · ${report.machine.cpu} (${report.machine.cores} cores)`,
    '',
    `| backend | warm p50 | warm p99 | × ${base.backend} | cold p50 | cold p99 |`,
    '|---|---:|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.backend} | ${formatNs(r.warm.stats.p50)} | ${formatNs(r.warm.stats.p99)} | ${formatRatio(r.warm.stats.p50, base.warm.stats.p50)} | ${formatNs(r.cold.stats.p50)} | ${formatNs(r.cold.stats.p99)} |`,
    ),
    '',
    ...report.notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
}

/** A progress bar on stderr, on a terminal only; pipes and CI logs get nothing. */
function progressBar(context: Context): { update?: (f: number) => void; clear: () => void } {
  if (!context.io.stderrIsTTY) return { clear: () => {} };
  let shown = -1;
  let drawn = false;
  return {
    update: (fraction) => {
      const pct = Math.floor(fraction * 100);
      if (pct === shown) return;
      shown = pct;
      drawn = true;
      const width = 30;
      const full = Math.round((pct / 100) * width);
      context.io.err(`\r[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${pct}%`);
    },
    clear: () => {
      if (drawn) context.io.err('\r\u001b[2K');
      drawn = false;
    },
  };
}
