import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The example runs against the built packages; keep what it prints true.
const example = fileURLToPath(new URL('./basic.mjs', import.meta.url));

describe('examples/gateway/basic.mjs', () => {
  it('answers, streams the retried answer, and blocks', () => {
    const result = spawnSync(process.execPath, [example], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('answer:   Hello from upstream.');
    expect(result.stdout).toMatch(/receipt: {2}rcpt_[0-9a-f]{16}/);
    expect(result.stdout).toContain('streamed: client = NewClient.connect(url)');
    expect(result.stdout).toContain('blocked:  403 policy_blocked');
    expect(result.stdout).toContain('upstream calls: 3');
  });
});
