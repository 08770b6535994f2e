import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Runs the demo against the built packages, as a reader would, and pins what it proves.
const demo = fileURLToPath(new URL('./compare-backends.mjs', import.meta.url));

describe('examples/sandbox-demo/compare-backends.mjs', () => {
  it('runs every private-context scenario in QuickJS with isolated-vm as a strict shadow', () => {
    const out = execFileSync(process.execPath, ['--no-node-snapshot', demo], { encoding: 'utf8' });
    const lines = out.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^(\d+) passed, 0 failed — QuickJS and isolated-vm decided alike/);
    expect(Number(lines.at(-1)?.split(' ')[0])).toBeGreaterThanOrEqual(4);
    expect(out).toContain('script in quickjs failed (runtime_error), shadow in isolated-vm agreed');
    expect(out).not.toContain('✗');
  }, 60_000);
});
