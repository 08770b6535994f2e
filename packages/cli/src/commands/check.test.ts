import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goodArtifact, richArtifact, runMain, TempDir } from '../cli.fixtures.ts';

let dir: TempDir;

beforeAll(async () => {
  dir = await TempDir.create();
});
afterAll(async () => {
  await dir.remove();
});

describe('check, in-process', () => {
  it('prints state-machine findings as warnings, and as errors with --strict', async () => {
    const rich = await dir.write('rich.json', richArtifact());
    const run = await runMain(['check', rich]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('(10 request rules, 3 stream rules, 1 script)');
    expect(run.stdout).toContain(
      '  ! $.state_machines[0]: state "orphan" cannot be reached from the initial state "draft"\n',
    );
    const strict = await runMain(['check', '--strict', rich]);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(/^✗ .*rich\.json\n {2}\$\.state_machines\[0\]/);
  });

  it('counts zero rules when an artifact has none', async () => {
    const bare = await dir.write(
      'bare.json',
      goodArtifact({ request_rules: undefined, stream_rules: undefined }),
    );
    const run = await runMain(['check', bare]);
    expect(run.stdout).toContain('(0 request rules, 0 stream rules, 0 scripts)\n');
  });

  it('--json gives warnings with their path and kind', async () => {
    const rich = await dir.write('rich-json.json', richArtifact());
    const [result] = JSON.parse((await runMain(['check', '--json', rich])).stdout);
    expect(result.summary.warnings).toEqual([
      {
        path: '$.state_machines[0]',
        kind: 'unreachable_state',
        states: ['orphan'],
        message: 'state "orphan" cannot be reached from the initial state "draft"',
      },
    ]);
  });

  it('--json marks an unreadable file', async () => {
    const missing = dir.file('missing.json');
    const run = await runMain(['check', '--json', missing]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual([
      {
        ok: false,
        file: missing,
        issues: [{ path: '$', message: 'cannot be read: ENOENT' }],
        unreadable: 'ENOENT',
      },
    ]);
  });

  it('reports a file that is not JSON once', async () => {
    const broken = await dir.write('broken.json', '{ "schema": ');
    const run = await runMain(['check', broken]);
    expect(run.code).toBe(1);
    expect(run.stdout.split('\n').filter((l) => l.startsWith('  $'))).toHaveLength(1);
  });

  it('only meaning errors: reported by the first pass, nothing to remove', async () => {
    const bad = await dir.write(
      'meaning.json',
      goodArtifact({
        request_rules: [
          {
            kind: 'match',
            id: 'r',
            contains: 'x',
            actions: [{ action: 'switch_model', target_model: 'huge' }],
          },
        ],
      }),
    );
    const run = await runMain(['check', bad]);
    expect(run.stdout.split('\n').filter((l) => l.startsWith('  $'))).toEqual([
      '  $.request_rules[0].actions[0].target_model: names "huge", which is not a known target (expected one of `small`, `large`)',
    ]);
  });

  it('an unknown key alone: the copy without it compiles, so nothing is added', async () => {
    const bad = await dir.write('extra-key.json', goodArtifact({ colour: 'blue' }));
    const run = await runMain(['check', bad]);
    expect(run.code).toBe(1);
    expect(run.stdout.split('\n').filter((l) => l.startsWith('  $'))).toHaveLength(1);
    expect(run.stdout).toContain('  $.colour: is not a known key');
  });

  it('a wrong required value is not removed into a "missing key" issue', async () => {
    const bad = await dir.write(
      'required.json',
      goodArtifact({
        targets: [{ model: 'small', context_window: 'wide' }],
        request_rules: [
          {
            kind: 'match',
            id: 'r',
            contains: 'x',
            actions: [{ action: 'switch_model', target_model: 'huge' }],
          },
        ],
      }),
    );
    const run = await runMain(['check', bad]);
    // The copy lacks a required key, so its compile stops at shape errors again; the
    // unknown target cannot be found until the type is fixed, and nothing bogus is added.
    expect(run.stdout.split('\n').filter((l) => l.startsWith('  $'))).toEqual([
      '  $.targets[0].context_window: must be an integer, got the string "wide"',
    ]);
  });

  it('script files are read relative to the artifact in both passes', async () => {
    await dir.write('scripts/p.js', 'function decide() { return { actions: [] }; }');
    const bad = await dir.write(
      'with-script.json',
      goodArtifact({
        description: 5,
        request_rules: [{ kind: 'script', id: 's', script: 'p', entry: 'decid' }],
        scripts: { p: { language: 'javascript', path: 'scripts/p.js' } },
      }),
    );
    const run = await runMain(['check', bad]);
    const issues = run.stdout.split('\n').filter((l) => l.startsWith('  $'));
    expect(issues[0]).toMatch(/^ {2}\$\.description: is not a known key/);
    expect(issues[1]).toMatch(/^ {2}\$\.request_rules\[0\]\.entry: .*did you mean `decide`\?$/);
    expect(issues).toHaveLength(2);
  });
});
