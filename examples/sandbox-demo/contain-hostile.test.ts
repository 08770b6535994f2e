import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Runs the demo against the built packages, as a reader would, and pins what it shows.
const demo = fileURLToPath(new URL('./contain-hostile.mjs', import.meta.url));

describe('examples/sandbox-demo/contain-hostile.mjs', () => {
  it('contains every hostile case while the victim keeps answering', () => {
    const out = execFileSync(process.execPath, ['--no-node-snapshot', demo], {
      encoding: 'utf8',
      // V8 prints its out-of-memory report on the aborting process's stderr.
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(out).toContain('QuickJS in worker threads (availability: true)');
    expect(out).toContain('Starlark in worker threads (availability: true)');
    expect(out).toContain('isolated-vm in child processes (availability: true)');
    expect(out).toMatch(/heap-abort +backend_failure: the process was killed by SIGABRT/);
    expect(out.trim().split('\n').at(-1)).toMatch(/^\d+ victim calls, 0 failed; /);
  }, 120_000);
});
