import { readFile } from 'node:fs/promises';
import { SandboxLoadError } from '@wardwright/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendList } from '../backends.ts';
import { runCli, runMain, TempDir } from '../cli.fixtures.ts';
import { UsageError } from '../errors.ts';
import { measureInterleaved, nativeBackend, PLANS, summarize } from './bench-measure.ts';

// No timing assertions here (the machine is shared and noisy): these check that every backend
// ran, that the statistics are consistent with the raw samples, and the command's behaviour.

let dir: TempDir;
let moduleStyle: string;
let scriptStyle: string;
let input: string;

const POLICY = `function decide(input) {
  let high = 0;
  for (const v of input.values) if (v > input.threshold) high++;
  return { high };
}
function other(input) { return { n: input.values.length }; }
`;

beforeAll(async () => {
  dir = await TempDir.create();
  moduleStyle = await dir.write('module.js', POLICY.replace(/^function/gm, 'export function'));
  scriptStyle = await dir.write('script.js', POLICY);
  input = await dir.write('input.json', { threshold: 2, values: [1, 2, 3, 4, 5] });
});
afterAll(async () => {
  await dir.remove();
});

interface Side {
  samples: number;
  batch: number;
  min: number;
  p25: number;
  p50: number;
  p75: number;
  p95: number;
  p99: number;
  max: number;
  samples_ns: number[];
}

function expectConsistent(side: Side): void {
  expect(side.samples).toBeGreaterThan(0);
  expect(side.samples_ns).toHaveLength(side.samples);
  expect(side.min).toBe(Math.min(...side.samples_ns));
  expect(side.max).toBe(Math.max(...side.samples_ns));
  const order = [side.min, side.p25, side.p50, side.p75, side.p95, side.p99, side.max];
  expect([...order].sort((a, b) => a - b)).toEqual(order);
}

describe('wardwright bench', () => {
  it('measures warm and cold on each backend, with raw samples and ratios to native', async () => {
    for (const policy of [moduleStyle, scriptStyle]) {
      const run = await runMain([
        'bench',
        '--policy',
        policy,
        '--input',
        input,
        '--backends',
        // The script-style file is mostly about how native imports it: one sandbox is enough.
        policy === moduleStyle ? 'quickjs,trusted,native' : 'quickjs,native',
        '--quick',
        '--json',
      ]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const report = JSON.parse(run.stdout);
      expect(report.results.map((r: { backend: string }) => r.backend)).toEqual(
        policy === moduleStyle ? ['quickjs', 'trusted', 'native'] : ['quickjs', 'native'],
      );
      // Every backend computed the same answer from the same file, native included.
      expect(report.outputs_agree).toBe(true);
      expect(report.baseline).toBe('native');
      expect(report.mode).toBe('quick');
      expect(report.machine.node).toBe(process.version);
      expect(report.notes.join('\n')).toContain('native: the policy file imported as an ES module');
      for (const r of report.results) {
        expectConsistent(r.warm);
        expectConsistent(r.cold);
        expect(r.cold.batch).toBe(1);
      }
      expect(report.results[0].capabilities.steps).toBe('coarse');
    }
  }, 60_000);

  it('prints a table, draws progress only on a terminal, and writes --out files', async () => {
    const out = dir.file('out');
    const args = [
      'bench',
      '--policy',
      moduleStyle,
      '--input',
      input,
      '--backends',
      'trusted,native',
    ];
    const plain = await runMain([...args, '--quick', '--out', out]);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toBe('');
    const [header, ...lines] = plain.stdout.split('\n');
    expect(header).toMatch(/^backend +warm p50 +p95 +p99 +n +× native +cold p50/);
    expect(lines[0]).toMatch(/^trusted /);
    expect(lines[1]).toMatch(/^native .* 1\.00× /);
    expect(plain.stdout).toContain('trusted: in-process, not a sandbox');
    const written = JSON.parse(await readFile(`${out}/bench.json`, 'utf8'));
    expect(written.results).toHaveLength(2);
    expect(await readFile(`${out}/bench.md`, 'utf8')).toContain('| native |');

    const tty = await runMain([...args.slice(0, -1), 'native', '--quick'], { tty: true });
    expect(tty.code).toBe(0);
    expect(tty.stderr).toMatch(/\r\[#*\.*\] \d+%/);
    expect(tty.stderr).toContain('100%');
  }, 60_000);

  it('by default leaves isolated-vm out, saying why, when node runs with the snapshot on', () => {
    // The built CLI in a child process started without --no-node-snapshot (vitest's own workers
    // run with it).
    const run = runCli(['bench', '--policy', moduleStyle, '--input', input, '--quick']);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('skipped isolated-vm: needs node --no-node-snapshot');
    expect(run.stdout.split('\n').map((line) => line.split(' ')[0])).toEqual(
      expect.arrayContaining(['quickjs', 'trusted', 'native']),
    );
    expect(run.stdout).not.toMatch(/^isolated-vm /m);
  }, 60_000);

  it('warns when the backends disagree (a policy that sees the host)', async () => {
    const leaky = await dir.write(
      'leaky.js',
      'function decide() { return { t: typeof process }; }',
    );
    const run = await runMain([
      'bench',
      '--policy',
      leaky,
      '--input',
      input,
      '--backends',
      'quickjs,native',
      '--quick',
      '--json',
    ]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('warning: the backends returned different outputs');
    expect(JSON.parse(run.stdout).outputs_agree).toBe(false);
  }, 30_000);

  it('calls the function --entry names', async () => {
    const run = await runMain([
      'bench',
      '--policy',
      scriptStyle,
      '--input',
      input,
      '--backends',
      'native,trusted',
      '--entry',
      'other',
      '--quick',
      '--json',
    ]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).outputs_agree).toBe(true);
  }, 30_000);

  it('fails with exit 1 when the first call fails, naming the backend and the kind', async () => {
    const bad = await dir.write('bad.js', 'function decide() { throw new TypeError("nope"); }');
    const run = await runMain([
      'bench',
      '--policy',
      bad,
      '--input',
      input,
      '--backends',
      'quickjs',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('the first call failed on quickjs: runtime_error');
  });

  it('fails with exit 1 when the policy does not load, on a sandbox and natively', async () => {
    const broken = await dir.write('broken.js', 'export function decide( {');
    for (const backend of ['quickjs', 'native']) {
      const run = await runMain([
        'bench',
        '--policy',
        broken,
        '--input',
        input,
        '--backends',
        backend,
      ]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('wardwright bench: the policy did not load: policy');
    }
  });

  it("native load failures are the contract's SandboxLoadError, typed by kind", async () => {
    const load = (code: string) =>
      nativeBackend()
        .load({ name: 'p', language: 'javascript', code })
        .catch((e: unknown) => e);
    const syntax = await load('function decide( {');
    expect(SandboxLoadError.isInstance(syntax)).toBe(true);
    expect((syntax as SandboxLoadError).failure.kind).toBe('compile_error');
    const thrown = await load('throw new TypeError("at load"); function decide() {}');
    expect(SandboxLoadError.isInstance(thrown)).toBe(true);
    expect((thrown as SandboxLoadError).failure).toEqual({
      kind: 'runtime_error',
      message: 'TypeError: at load',
    });
  });

  it('fails with exit 1 on an unreadable or non-JSON input', async () => {
    const missing = await runMain(['bench', '--policy', moduleStyle, '--input', dir.file('no')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read');
    const text = await dir.write('text.json', 'not json');
    const notJson = await runMain(['bench', '--policy', moduleStyle, '--input', text]);
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toContain('is not JSON');
  });

  it('skips a backend that cannot run the policy, and fails when none is left', async () => {
    const run = await runMain([
      'bench',
      '--policy',
      moduleStyle,
      '--input',
      input,
      '--backends',
      'starlark',
    ]);
    expect(run.code).toBe(1);
    // Until @wardwright/starlark exports its backend it is missing; after, it runs Starlark only.
    expect(run.stderr).toMatch(
      /skipped starlark: (not available in this build|runs starlark, not javascript)/,
    );
    expect(run.stderr).toContain('no backend to run');
  });

  it('rejects a missing option or an unknown backend as a usage error', async () => {
    expect((await runMain(['bench', '--input', input])).stderr).toContain('missing --policy FILE');
    const unknown = await runMain([
      'bench',
      '--policy',
      moduleStyle,
      '--input',
      input,
      '--backends',
      'quickjs,quikjs',
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown backend quikjs (did you mean quickjs?)');
  });
});

describe('backendList', () => {
  it('keeps the order, drops duplicates and blanks, and refuses an empty list', () => {
    expect(backendList('native, quickjs,,native', ['quickjs', 'native'], '--b')).toEqual([
      'native',
      'quickjs',
    ]);
    expect(() => backendList(' , ', ['quickjs'], '--b')).toThrow(UsageError);
  });
});

describe('the measuring loop', () => {
  it('summarize: quantiles by linear interpolation, IQR as a share of the median', () => {
    const s = summarize([5, 1, 4, 2, 3]);
    expect(s).toMatchObject({ samples: 5, min: 1, p25: 2, p50: 3, p75: 4, max: 5, mean: 3 });
    expect(s.p99).toBeCloseTo(4.96, 2);
    expect(s.iqr_pct).toBeCloseTo(66.7, 1);
    expect(summarize([]).samples).toBe(0);
  });

  it('interleaves subjects in blocks round by round, rotating the order, and bounds the samples', async () => {
    const calls: string[] = [];
    // About 0.45 ms a call: a block (1 ms) holds two or three of them, so twelve samples take
    // several rounds.
    const subject = (name: string) => ({
      name,
      batch: 1,
      run: () => {
        const until = performance.now() + 0.45;
        while (performance.now() < until) {}
        calls.push(name);
      },
    });
    const plan = { warmupMs: 0, timeMs: 60_000, maxSamples: 12, minSamples: 1 };
    const measured = await measureInterleaved([subject('a'), subject('b'), subject('c')], plan);
    expect(measured.map((m) => m.samples_ns.length)).toEqual([12, 12, 12]);
    // The timed calls are the last 36; group them into runs of one subject (the blocks).
    const runs: string[] = [];
    for (const name of calls.slice(-36)) if (runs.at(-1) !== name) runs.push(name);
    expect(runs.length).toBeGreaterThanOrEqual(12); // at least 4 rounds of 3 blocks
    // Every subject is still running in the first two rounds: a, b, c, then rotated b, c, a.
    expect(runs.slice(0, 6)).toEqual(['a', 'b', 'c', 'b', 'c', 'a']);
  });

  it('sizes batches for fast subjects so a sample is not the timer floor', async () => {
    const [fast] = await measureInterleaved([{ name: 'fast', run: () => 1 }], {
      ...PLANS.smoke,
      warmupMs: 5,
    });
    expect(fast!.stats.batch).toBeGreaterThan(1);
  });
});
