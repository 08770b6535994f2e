import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

// `npm run demo` runs this demo against the built package; keep what it shows true.
const demo = fileURLToPath(new URL('./start.mjs', import.meta.url));

function run(env: Record<string, string | undefined>) {
  const result = spawnSync(process.execPath, [demo], { encoding: 'utf8', env });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result.stdout;
}

/** The block printed for one scenario: from its `▸` line to the next blank or `▸` line. */
function block(out: string, name: string): string {
  const lines = out.split('\n');
  const start = lines.findIndex((line) => line.includes(`▸ ${name}`));
  expect(start, `no block for ${name}`).toBeGreaterThanOrEqual(0);
  let end = start + 1;
  while (end < lines.length && lines[end]!.startsWith('    ')) end++;
  return lines.slice(start, end).join('\n');
}

describe('npm run demo: the engine demo', () => {
  let out = '';
  beforeAll(() => {
    out = run({ ...process.env, NO_COLOR: '1' });
  });

  it('compiles every example artifact and simulates its showcased scenarios, deterministically', () => {
    for (const header of [
      'acme-coder@3.1.0 examples/artifacts/coding-agent.json',
      'acme-assistant@5.0.0 examples/artifacts/private-context.json',
      'release-assistant@0.9.0 examples/artifacts/review-flow.json',
      'support-answer@2024-06-01 examples/artifacts/support-answer.json',
      'ops-agent@1.4.0 examples/artifacts/tool-loop-guard.json',
      'acme-assistant@5.0.0 examples/artifacts/private-context-starlark.json',
      'release-assistant@0.9.0 examples/artifacts/review-flow-starlark.json',
    ]) {
      expect(out).toContain(header);
    }
    expect(out.match(/▸ /g)).toHaveLength(12);
    expect(out.match(/✓ as pinned/g)).toHaveLength(12);
    expect(out.trimEnd().endsWith('12 scenarios simulated, receipts deterministic')).toBe(true);
  });

  it('shows a stream retry before release and a key masked across chunks', () => {
    const retried = block(out, 'the removed OldClient API is caught and retried before release');
    expect(retried).toContain(
      'attempts   2: fast-coder-8k stream_halted → fast-coder-8k completed +1 reminder',
    );
    expect(retried).toContain('stream     no-old-client retry_with_reminder at bytes 10–20');
    expect(retried).toContain(
      'released   "const c = await NewClient.connect(url);\\nawait c.ready();"',
    );
    const masked = block(out, 'a live API key split across chunks is masked before release');
    expect(masked).toContain('stream     mask-live-keys rewrite_window at bytes 26–58');
    expect(masked).toContain('released   "Your config sends the key sk-live-[redacted] instead');
  });

  it('shows routing, a script failing closed, alerts, a state transition and a guard retry', () => {
    expect(block(out, 'a [private] marker keeps the request on local models')).toContain(
      'route      local/llama-3.1-8b (first_fit)',
    );
    const failed = block(out, 'an unknown classification level fails closed');
    expect(failed).toContain('status     policy_blocked (HTTP 403)');
    expect(failed).toContain(
      'script     private-context-local-only failed (runtime_error): Error: unknown classification level "top-secret"',
    );
    expect(failed).toContain('released   nothing');
    const approved = block(out, 'a review-board member approves the change');
    expect(approved).toContain('state      review: reviewing → approved');
    expect(approved).toContain('alert      approve-by-reviewer → memory: queued');
    const loop = block(out, 'five recent shell.exec calls stop the loop');
    expect(loop).toContain('decided by shell-loop-stop');
    expect(loop).toContain('alert      shell-loop-stop → pager: queued');
    const guarded = block(out, 'JSON wrapped in a markdown fence is retried with feedback');
    expect(guarded).toContain('status     completed_after_guard (HTTP 200)');
    expect(guarded).toContain('guard      answer-shape json_syntax (attempt 0)');
  });

  it('prints no ANSI codes when stdout is not a terminal', () => {
    // Colors depend on a TTY, not on NO_COLOR alone: a pipe gets plain text either way.
    const plain = run({ ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined });
    expect(plain).not.toContain('\x1b[');
    expect(plain).toBe(out);
  });
});
