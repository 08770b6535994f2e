import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goodArtifact, request, runMain, TempDir } from '../cli.fixtures.ts';

let dir: TempDir;

beforeAll(async () => {
  dir = await TempDir.create();
  await dir.write('artifacts/good.json', goodArtifact());
  await dir.write('artifacts/scripted.json', {
    ...goodArtifact(),
    request_rules: [{ kind: 'script', id: 's', script: 'p' }],
    scripts: { p: { language: 'javascript', source: 'function decide() { return {}; }' } },
  });
  await dir.write('artifacts/invalid.json', goodArtifact({ targets: [] }));
  await dir.write('one/a.json', [
    scenario('refactors go large', { selected_model: 'large' }),
    scenario('plain stays small', { selected_model: 'small' }, 'hello'),
  ]);
  await dir.write('two/nested/b.json', {
    ...scenario('always wrong', { status: 'policy_blocked' }),
    artifact: '../../artifacts/good.json',
  });
  await dir.write('errors/c.json', {
    ...scenario('cannot run', {}),
    fixture: { request: request('x'), states: { m: 'a' } },
  });
  await dir.write('scripted/d.json', {
    ...scenario('s', {}),
    artifact: '../artifacts/scripted.json',
  });
  await dir.write('invalid/e.json', {
    ...scenario('i', {}),
    artifact: '../artifacts/invalid.json',
  });
  await dir.write('broken/f.json', { name: 'no artifact' });
});
afterAll(async () => {
  await dir.remove();
});

function scenario(name: string, expect: Record<string, unknown>, text = 'refactor it') {
  return {
    name,
    artifact: '../artifacts/good.json',
    fixture: { request: request(text), attempts: [{ text: 'ok' }] },
    expect,
  };
}

describe('test, in-process', () => {
  it('runs every directory given, recursively', async () => {
    const run = await runMain(['test', dir.file('one'), dir.file('two')]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^✗ .*nested\/b\.json › always wrong$/m);
    expect(run.stdout).toMatch(/2 passed, 1 failed\n$/);
  });

  it('--verbose lists passing scenarios by name', async () => {
    const run = await runMain(['test', '-v', dir.file('one')]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('✓ refactors go large\n✓ plain stays small\n2 passed, 0 failed\n');
  });

  it('--filter matches names and file paths', async () => {
    const byName = await runMain(['test', dir.file('one'), '--filter', 'plain', '--verbose']);
    expect(byName.stdout).toBe('✓ plain stays small\n1 passed, 0 failed\n');
    const byPath = await runMain(['test', dir.file('one'), dir.file('two'), '--filter=nested']);
    expect(byPath.stdout).toMatch(/0 passed, 1 failed\n$/);
  });

  it('--filter that matches nothing says so, exit 1', async () => {
    const run = await runMain(['test', dir.file('one'), '--filter', 'zzz']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('wardwright: no scenario matches --filter "zzz" (of 2 found)\n');
  });

  it('--json prints the report without receipts', async () => {
    const run = await runMain(['test', dir.file('two'), '--json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report).toEqual({
      passed: 0,
      failed: 1,
      results: [
        {
          name: 'always wrong',
          source: expect.stringMatching(/b\.json$/),
          ok: false,
          failures: [{ field: 'status', expected: 'policy_blocked', actual: 'completed' }],
        },
      ],
    });
  });

  it('a scenario that cannot run prints its error', async () => {
    const run = await runMain(['test', dir.file('errors')], { tty: true });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('\u001b[31m✗\u001b[39m');
    expect(run.stdout).toContain('$.states.m: is not a state machine of the artifact');
    expect(run.stdout).toContain('\u001b[31m0 passed, 1 failed\u001b[39m');
  });

  it('runs scripts in QuickJS by default, and notes once when they run trusted', async () => {
    const sandboxed = await runMain(['test', dir.file('scripted')], { tty: true });
    expect(sandboxed.code).toBe(0);
    expect(sandboxed.stdout).toBe('\u001b[32m1 passed, 0 failed\u001b[39m\n');
    expect(sandboxed.stderr).toBe('');
    for (const backend of ['trusted', 'isolated-vm', 'quickjs']) {
      const run = await runMain(['test', dir.file('scripted'), '--backend', backend]);
      expect(run.stdout, backend).toBe('1 passed, 0 failed\n');
      expect(run.stderr, backend).toBe(
        backend === 'trusted'
          ? 'note: scripts run in-process with the trusted backend (not a sandbox)\n'
          : '',
      );
    }
  });

  it('an invalid artifact named by a scenario is reported with its own path', async () => {
    const run = await runMain(['test', dir.file('invalid')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^wardwright: \S+\/artifacts\/invalid\.json is invalid \(1 issue\):\n {2}\$\.targets: /,
    );
  });

  it('an invalid scenario file is named', async () => {
    const run = await runMain(['test', dir.file('broken')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`wardwright: ${dir.file('broken/f.json')} is invalid`);
    expect(run.stderr).toContain('  $.artifact: is required');
  });

  it('an empty directory has no scenario: says so, exit 1', async () => {
    await dir.write('empty/notes.txt', 'no json here');
    const run = await runMain(['test', dir.file('empty'), '--filter', 'x']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`wardwright: no scenario found in ${dir.file('empty')}\n`);
  });

  it('a missing directory cannot be read', async () => {
    const run = await runMain(['test', dir.file('nowhere')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`wardwright: cannot read ${dir.file('nowhere')}: ENOENT\n`);
  });
});
