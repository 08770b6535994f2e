import { fileURLToPath } from 'node:url';
import { simulate, trustedBackend } from '@wardwright/core';
import { loadArtifactFile } from '@wardwright/core/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goodArtifact, request, runCli, TempDir } from './cli.fixtures.ts';

/**
 * The built CLI, run as a child process the way a user runs it: `npm test` builds it first
 * (for a local run: `npm run build -w @wardwright/core && npm run build -w @wardwright/cli`).
 */

const ESC = '\u001b[';
const supportAnswer = fileURLToPath(
  new URL('../../../examples/artifacts/support-answer.json', import.meta.url),
);
let dir: TempDir;
let good: string;

beforeAll(async () => {
  dir = await TempDir.create();
  good = await dir.write('good.json', goodArtifact());
});
afterAll(async () => {
  await dir.remove();
});

describe('wardwright check (built)', () => {
  it('prints one summary line per valid artifact and exits 0', () => {
    const run = runCli(['check', good]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(
        `^✓ ${escapeRegExp(good)} {2}model coder@1\\.2\\.0 {2}sha256:[0-9a-f]{12}… \\(1 request rule, 1 stream rule, 0 scripts\\)\\n$`,
      ),
    );
    expect(run.stderr).toBe('');
  });

  it('lists a wrong type, a misspelt key (with a hint) and an unknown switch_model target together, exit 1', async () => {
    const bad = await dir.write(
      'three-mistakes.json',
      goodArtifact({
        request_rules: [
          {
            kind: 'match',
            id: 'big-job',
            contains: 'refactor',
            case_sensitive: 'yes',
            actions: [{ action: 'switch_model', target_model: 'larg' }],
          },
          {
            kind: 'match',
            id: 'other',
            contians: 'x',
            regex: 'y',
            actions: [{ action: 'annotate' }],
          },
        ],
      }),
    );
    const run = runCli(['check', bad, good]);
    expect(run.code).toBe(1);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toBe(`✗ ${bad}`);
    expect(lines).toContain(
      '  $.request_rules[0].case_sensitive: must be a boolean, got the string "yes"',
    );
    expect(run.stdout).toMatch(
      /^ {2}\$\.request_rules\[1\]\.contians: is not a known key \(expected one of .*\); hint: did you mean `contains`\?$/m,
    );
    expect(run.stdout).toMatch(
      /^ {2}\$\.request_rules\[0\]\.actions\[0\]\.target_model: names "larg", which is not a known target .*; hint: did you mean `large`\?$/m,
    );
    // The valid file after it is still checked.
    expect(run.stdout).toContain(`✓ ${good}`);
  });

  it('--json prints {ok, file, issues|summary} per file', async () => {
    const bad = await dir.write('bad-target.json', goodArtifact({ targets: [] }));
    const run = runCli(['check', '--json', good, bad]);
    expect(run.code).toBe(1);
    const out = JSON.parse(run.stdout);
    expect(out).toEqual([
      {
        ok: true,
        file: good,
        summary: expect.objectContaining({
          model: { id: 'coder', version: '1.2.0' },
          request_rules: 1,
          stream_rules: 1,
          scripts: 0,
          warnings: [],
        }),
      },
      { ok: false, file: bad, issues: [expect.objectContaining({ path: '$.targets' })] },
    ]);
  });

  it('says which file cannot be read, without a stack trace', () => {
    const missing = dir.file('missing.json');
    const run = runCli(['check', missing]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`wardwright: cannot read ${missing}: ENOENT\n`);
    expect(run.stdout).toBe('');
  });
});

describe('wardwright explain (built)', () => {
  it('prints phases, the effect matrix and conflicts as text', () => {
    const run = runCli(['explain', good]);
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(/^coder@1\.2\.0 {2}sha256:[0-9a-f]{12}…$/);
    expect(lines).toContain('  2. request.rules        big-job');
    expect(lines).toContain('  5. response.stream      mask-keys');
    const header = lines.find((l) => l.startsWith('  rule'))!;
    expect(header.trim().split(/ {2,}/)).toEqual([
      'rule',
      'source',
      'kind',
      'terminal',
      'route',
      'rewrite',
      'retry',
      'alert',
      'annotate',
      'state',
      'opaque',
    ]);
    // The x sits under its column's header.
    const row = lines.find((l) => l.startsWith('  big-job'))!;
    expect(row.indexOf('x')).toBe(header.indexOf('route'));
    const streamRow = lines.find((l) => l.startsWith('  mask-keys'))!;
    expect(streamRow.indexOf('x')).toBe(header.indexOf('rewrite'));
    expect(run.stdout).toContain('conflicts\n  none found\n');
  });

  it('says that a structured-output guard holds a streamed answer', () => {
    const run = runCli(['explain', supportAnswer]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      '  7. response.guard       answer-shape, confidence-in-range, no-ai-disclaimer  (holds a streamed answer until it is valid)\n',
    );
    expect(JSON.parse(runCli(['explain', supportAnswer, '--json']).stdout).phases[6]).toEqual({
      phase: 'response.guard',
      rule_ids: ['answer-shape', 'confidence-in-range', 'no-ai-disclaimer'],
      holds_stream: true,
    });
    // Without a guard the phase holds nothing and says nothing.
    expect(runCli(['explain', good]).stdout).toContain('  7. response.guard       -\n');
  });

  it('--json prints the projection', () => {
    const run = runCli(['explain', good, '--json']);
    expect(run.code).toBe(0);
    const projection = JSON.parse(run.stdout);
    expect(projection.model).toEqual({ id: 'coder', version: '1.2.0' });
    expect(projection.effects.map((e: { rule_id: string }) => e.rule_id)).toEqual([
      'big-job',
      'mask-keys',
    ]);
    expect(projection.phases).toHaveLength(8);
  });
});

describe('wardwright simulate (built)', () => {
  const fixture = {
    caller: { session_id: 's1' },
    request: request('please refactor this', { stream: true }),
    attempts: [{ chunks: [{ text: 'your key sk-abcd ' }, { text: 'is masked' }] }],
  };

  it('prints a readable trace', async () => {
    const file = await dir.write('fixture.json', fixture);
    const run = runCli(['simulate', good, file]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const out = run.stdout;
    expect(out).toMatch(/^request {2}coder@1\.2\.0/);
    expect(out).toMatch(/^ {2}big-job {2}matched {2}contains in request_text at \d+: "refactor"$/m);
    expect(out).toContain('  1. big-job  switch_model -> large');
    expect(out).toContain('  selected large (forced_model, context window 100000)');
    expect(out).toContain('  #0  large  completed  26 bytes in 20 ms');
    expect(out).toContain(
      '    mask-keys  rewrite_window  chunk 0 (raw bytes 0-17), match bytes 9-16',
    );
    expect(out).toContain('  completed  HTTP 200  model large  26 bytes released');
    expect(out).toContain('released text\n  | your key sk-**** is masked\n');
  });

  it('--json prints the receipt byte for byte as simulate() gives it', async () => {
    const file = await dir.write('fixture-json.json', fixture);
    const run = runCli(['simulate', good, file, '--json']);
    expect(run.code).toBe(0);
    const plan = await loadArtifactFile(good, { backends: { trusted: trustedBackend() } });
    const expected = await simulate(plan, fixture);
    await plan.dispose();
    expect(run.stdout).toBe(`${JSON.stringify(expected.receipt, null, 2)}\n`);
  });

  it('simulates the fixture of a scenario file', async () => {
    const scenario = {
      schema: 'wardwright.scenario.v1',
      name: 'refactor',
      artifact: 'ignored-here.json',
      fixture,
      expect: { status: 'completed' },
    };
    const file = await dir.write('scenario-as-fixture.json', scenario);
    const direct = runCli([
      'simulate',
      good,
      await dir.write('plain-fixture.json', fixture),
      '--json',
    ]);
    const run = runCli(['simulate', good, file, '--json']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(direct.stdout);
  });

  it('exits 1 on an invalid fixture, naming the paths', async () => {
    const file = await dir.write('bad-fixture.json', { request: { messages: [] }, extra: 1 });
    const run = runCli(['simulate', good, file]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`wardwright: ${file} is invalid (2 issues):`);
    expect(run.stderr).toContain('  $.extra: is not a known key');
    expect(run.stderr).toContain('  $.request.messages:');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('wardwright test (built)', () => {
  async function scenarios(name: string, expect: Record<string, unknown>[]): Promise<string> {
    await dir.write(`${name}/artifacts/a.json`, goodArtifact());
    await dir.write(
      `${name}/scenarios/cases.json`,
      expect.map((e, i) => ({
        name: `case ${i}`,
        artifact: '../artifacts/a.json',
        fixture: { request: request('refactor it'), attempts: [{ text: 'done' }] },
        expect: e,
      })),
    );
    return dir.file(`${name}/scenarios`);
  }

  it('passing scenarios: "N passed, 0 failed", exit 0', async () => {
    const scenarioDir = await scenarios('passing', [
      { status: 'completed', selected_model: 'large' },
      { text: 'done', matched_rules: ['big-job'] },
    ]);
    const run = runCli(['test', scenarioDir]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('2 passed, 0 failed\n');
  });

  it('a broken expectation: exit 1 and a diff naming the field, expected and actual', async () => {
    const scenarioDir = await scenarios('failing', [
      { status: 'policy_blocked', matched_rules: ['other'] },
      { status: 'completed' },
    ]);
    const run = runCli(['test', scenarioDir]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^✗ .*cases\.json › case 0$/m);
    expect(run.stdout).toContain('    status: expected "policy_blocked", got "completed"\n');
    expect(run.stdout).toContain(
      [
        '    matched_rules: expected (-), got (+)',
        '      - [',
        '      -   "other"',
        '      - ]',
        '      + [',
        '      +   "big-job"',
        '      + ]',
      ].join('\n'),
    );
    expect(run.stdout).not.toContain('case 1');
    expect(run.stdout).toMatch(/1 passed, 1 failed\n$/);
  });

  it('no scenario found: says so, exit 1', async () => {
    await dir.write('empty/readme.txt', 'nothing here');
    const run = runCli(['test', dir.file('empty')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`wardwright: no scenario found in ${dir.file('empty')}\n`);
  });
});

describe('usage (built)', () => {
  it.each(['check', 'explain', 'simulate', 'test'])('%s --help prints its usage, exit 0', (cmd) => {
    const run = runCli([cmd, '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^Usage: wardwright ${cmd} `));
    expect(run.stdout).toContain('-h, --help');
    expect(run.stdout).toContain('Exit codes:');
    expect(runCli(['help', cmd]).stdout).toBe(run.stdout);
  });

  it('wardwright --help lists every command', () => {
    const run = runCli(['--help']);
    expect(run.code).toBe(0);
    for (const cmd of ['check', 'explain', 'simulate', 'test']) {
      expect(run.stdout).toMatch(new RegExp(`^ {2}${cmd} +\\S`, 'm'));
    }
  });

  it('an unknown command exits 2 naming it and the nearest known one', () => {
    const run = runCli(['simulat', good]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('wardwright: unknown command simulat (did you mean simulate?)');
  });

  it('an unknown option exits 2 naming it and the nearest known one', () => {
    const run = runCli(['explain', good, '--jsno']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'wardwright explain: unknown option --jsno (did you mean --json?)',
    );
  });
});

describe('colors (built)', () => {
  it('are off when stdout is not a terminal', () => {
    const run = runCli(['check', good]);
    expect(run.stdout).not.toContain(ESC);
    expect(runCli(['check', good], { NO_COLOR: '1' }).stdout).not.toContain(ESC);
  });

  it('FORCE_COLOR=1 turns them on, even in a pipe', () => {
    const run = runCli(['check', good], { FORCE_COLOR: '1' });
    expect(run.stdout).toContain(`${ESC}32m✓${ESC}39m`);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
