import { existsSync } from 'node:fs';
import type { InvokeResult, LoadedPolicy, SandboxBackend } from '@wardwright/core';
import { workerSandbox } from '@wardwright/core/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryGuarantee } from './memory-guarantee.ts';

// isolated-vm in worker mode: the sync API blocks the thread that calls it, so inline a spinning
// guest holds the event loop until its timeout; in a worker thread it holds only that thread.
// Workers load the BUILT package (vitest does not transform worker code).
const BUILT = new URL('../dist/index.js', import.meta.url);

let backend: SandboxBackend;
let policy: LoadedPolicy;

beforeAll(async () => {
  if (!existsSync(BUILT)) {
    throw new Error('run `npm run build -w @wardwright/sandbox-isolated-vm` first');
  }
  backend = await workerSandbox({
    backend: { module: '@wardwright/sandbox-isolated-vm', export: 'isolatedVmSandbox' },
    threads: 1,
  });
  policy = await backend.load({
    name: 'spinner',
    language: 'javascript',
    code: `function spin() { while (true) {} }
function bomb() { const keep = []; for (let i = 0; i < 1e7; i++) keep.push('x'.repeat(1000) + i); return keep.length; }
function ok(n) { return { twice: n * 2 }; }`,
  });
});
afterAll(() => backend.dispose());

const kindOf = (result: InvokeResult) => (result.ok ? 'ok' : result.failure.kind);

describe('isolated-vm in worker mode', () => {
  it('stops while(true){} at 50 ms with timeout while the host event loop keeps turning', async () => {
    expect(backend.capabilities).toMatchObject({ hardKill: true, memory: memoryGuarantee() });
    let ticks = 0;
    let spinning = true;
    const tick = () => {
      ticks++;
      if (spinning) setImmediate(tick);
    };
    setImmediate(tick);
    const result = await policy.invoke('spin', null, { timeout_ms: 50 });
    spinning = false;
    expect(kindOf(result)).toBe('timeout');
    // Inline, not one tick could run until the call returned.
    expect(ticks).toBeGreaterThan(1);
    expect(await policy.invoke('ok', 21)).toMatchObject({ ok: true, value: { twice: 42 } });
  });

  it('a memory bomb of strings is memory_limit, and the next call works', async () => {
    const result = await policy.invoke('bomb', null, { timeout_ms: 10_000 });
    expect(kindOf(result)).toBe('memory_limit');
    expect(await policy.invoke('ok', 1)).toMatchObject({ ok: true, value: { twice: 2 } });
  });
});
