import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { goodArtifact, request, richArtifact, runMain, TempDir } from './cli.fixtures.ts';
import { check } from './commands/check.ts';

/** The dispatcher, in-process: help, version, usage errors, exit codes. */

let dir: TempDir;
let good: string;

beforeAll(async () => {
  dir = await TempDir.create();
  good = await dir.write('good.json', goodArtifact());
});
afterAll(async () => {
  await dir.remove();
});

describe('main', () => {
  it('without a command prints help on stderr and exits 2', async () => {
    const run = await runMain([]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^Usage: wardwright COMMAND/);
  });

  it('--help, -h and help print the general help on stdout', async () => {
    const help = await runMain(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: wardwright COMMAND/);
    expect((await runMain(['-h'])).stdout).toBe(help.stdout);
    expect((await runMain(['help'])).stdout).toBe(help.stdout);
  });

  it('help CMD and CMD -h print the command help', async () => {
    const run = await runMain(['help', 'test']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: wardwright test DIR\.\.\. \[options\]/);
    expect(run.stdout).toContain('--filter SUBSTRING');
    expect((await runMain(['test', '-h'])).stdout).toBe(run.stdout);
  });

  it('help with an unknown command exits 2 with a suggestion', async () => {
    const run = await runMain(['help', 'explian']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'wardwright: unknown command explian (did you mean explain?)\nRun "wardwright --help" for usage.\n',
    );
  });

  it('--version prints the package version', async () => {
    const run = await runMain(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^\d+\.\d+\.\d+\S*\n$/);
  });

  it('an unknown global option exits 2', async () => {
    const run = await runMain(['--verison']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown option --verison (did you mean --version?)');
  });

  it('an unknown command with nothing close lists the known ones', async () => {
    const run = await runMain(['frobnicate']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'unknown command frobnicate (known: check, explain, simulate, test, serve, alerts, bench)',
    );
  });

  it('a usage error of a command names the command, in red on a terminal', async () => {
    const run = await runMain(['simulate', good], { tty: true });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      '\u001b[31mwardwright simulate: missing FIXTURE\u001b[39m\nRun "wardwright simulate --help" for usage.\n',
    );
  });

  it('an unexpected exception prints its stack and exits 70', async () => {
    const spy = vi.spyOn(check, 'run').mockRejectedValueOnce(new Error('kaput'));
    try {
      const run = await runMain(['check', good]);
      expect(run.code).toBe(70);
      expect(run.stderr).toMatch(/^wardwright: internal error, please report it/);
      expect(run.stderr).toMatch(/Error: kaput\n\s+at /);
    } finally {
      spy.mockRestore();
    }
  });

  it('a thrown non-error is reported as is, exit 70', async () => {
    const spy = vi.spyOn(check, 'run').mockRejectedValueOnce('just a string');
    try {
      const run = await runMain(['check', good]);
      expect(run.code).toBe(70);
      expect(run.stderr).toContain('just a string');
    } finally {
      spy.mockRestore();
    }
  });
});

describe('explain and simulate, in-process', () => {
  it('explain colors headings on a terminal and not elsewhere', async () => {
    const tty = await runMain(['explain', good], { tty: true });
    expect(tty.stdout).toContain('\u001b[1mphases\u001b[22m');
    const plain = await runMain(['explain', good]);
    expect(plain.stdout).not.toContain('\u001b[');
  });

  it('explain shows state machines with their findings, and static conflicts', async () => {
    const rich = await dir.write('rich.json', richArtifact());
    const run = await runMain(['explain', rich]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      [
        'state machines',
        '  review  scope session_id, initial draft, terminal done',
        '    draft --submit--> pending  rule t-submit, at most 1x, sent by submit',
        '    pending --finish--> done   rule t-finish, sent by finish',
        '    orphan --finish--> done    rule t-orphan, sent by finish',
        '    ! unreachable_state: state "orphan" cannot be reached from the initial state "draft"',
      ].join('\n'),
    );
    expect(run.stdout).toContain(
      '  ! disjoint_route_restrictions (only-small, only-large): their allow-lists share no model',
    );
    expect(run.stdout).toMatch(/^ {2}submit .* x +review in \[draft\]$/m);
    expect(run.stdout).toMatch(/^ {2}scripted +request +script +x$/m);
  });

  it('explain of a machine without terminal states or senders', async () => {
    const loop = await dir.write(
      'loop.json',
      goodArtifact({
        state_machines: [
          {
            id: 'ping',
            initial: 'a',
            states: { a: {}, b: {} },
            transitions: [
              { from: 'a', event: 'go', to: 'b', rule_id: 'ab' },
              { from: 'b', event: 'go', to: 'a', rule_id: 'ba' },
            ],
          },
        ],
      }),
    );
    const run = await runMain(['explain', loop]);
    expect(run.stdout).toContain('  ping  scope session_id, initial a, terminal -\n');
    expect(run.stdout).toContain('    a --go--> b  rule ab, sent by no rule\n');
    expect(run.stdout).toContain('    ! no_terminal_state:');
  });

  it('explain of an artifact without rules or machines says so', async () => {
    const bare = await dir.write(
      'bare.json',
      goodArtifact({ request_rules: undefined, stream_rules: undefined }),
    );
    const run = await runMain(['explain', bare]);
    expect(run.stdout).toContain('effects\n  no rules\n');
    expect(run.stdout).toContain('state machines\n  none\n');
  });

  it('explain of an invalid artifact exits 1 with its issues', async () => {
    const bad = await dir.write('bad.json', goodArtifact({ targets: 'none' }));
    const run = await runMain(['explain', bad]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      `wardwright: ${bad} is invalid (1 issue):\n  $.targets: must be an array, got the string "none"\n`,
    );
  });

  it('explain of a file that is not JSON gives the line and column', async () => {
    const broken = await dir.write('broken.json', '{\n  "schema": \n}');
    const run = await runMain(['explain', broken]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `wardwright: ${broken} is invalid (1 issue):\n  $: is not valid JSON at line 3`,
    );
  });

  it('simulate --json prints the receipt', async () => {
    const fixture = await dir.write('f-json.json', { request: request('hi') });
    const run = await runMain(['simulate', good, fixture, '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      receipt_schema: 'wardwright.receipt.v1',
      final: { status: 'simulated' },
    });
  });

  it('a missing artifact: its first line is red on a terminal', async () => {
    const missing = dir.file('nope-artifact.json');
    const run = await runMain(['explain', missing], { tty: true });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`\u001b[31mwardwright: cannot read ${missing}: ENOENT\u001b[39m\n`);
    const bad = await dir.write('bad-tty.json', goodArtifact({ targets: 'none' }));
    const invalid = await runMain(['explain', bad], { tty: true });
    expect(invalid.stderr.split('\n')[1]).toBe(
      '  $.targets: must be an array, got the string "none"',
    );
  });

  it('check of a missing file says so on stderr', async () => {
    const missing = dir.file('nope-check.json');
    const run = await runMain(['check', missing, good]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`wardwright: cannot read ${missing}: ENOENT\n`);
    expect(run.stdout).toMatch(/^✓ /);
  });

  it('simulate refuses --json with --trace', async () => {
    const fixture = await dir.write('f.json', { request: request('hi') });
    const run = await runMain(['simulate', good, fixture, '--json', '--trace']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--json and --trace cannot be combined');
  });

  it('simulate of a missing fixture exits 1 naming it', async () => {
    const missing = dir.file('nope.json');
    const run = await runMain(['simulate', good, missing]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`wardwright: cannot read ${missing}: ENOENT\n`);
  });

  it('simulate with fixture states the artifact lacks exits 1', async () => {
    const fixture = await dir.write('states.json', { request: request('hi'), states: { m: 'a' } });
    const run = await runMain(['simulate', good, fixture]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`wardwright: ${fixture} is invalid (1 issue):`);
    expect(run.stderr).toContain('$.states.m: is not a state machine of the artifact');
  });

  it('the script note is printed once, on stderr, only for artifacts with scripts', async () => {
    const scripted = await dir.write(
      'scripted.json',
      goodArtifact({
        request_rules: [{ kind: 'script', id: 's', script: 'p' }],
        scripts: { p: { language: 'javascript', source: 'function decide() { return {}; }' } },
      }),
    );
    const run = await runMain(['check', scripted, scripted, good, '--backend', 'trusted']);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(
      'note: scripts run in-process with the trusted backend (not a sandbox)\n',
    );
    expect((await runMain(['check', good, '--backend', 'trusted'])).stderr).toBe('');
    // The default, QuickJS, is a sandbox: nothing to note.
    expect(await runMain(['check', scripted])).toMatchObject({ code: 0, stderr: '' });
  });

  it('--backend names one of the JavaScript sandboxes, or is a usage error with a hint', async () => {
    const run = await runMain(['check', good, '--backend', 'quickj']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'wardwright check: --backend must be one of quickjs, isolated-vm, trusted, not quickj (did you mean quickjs?)',
    );
    expect((await runMain(['check', good, '--backend'])).code).toBe(2);
  });
});
