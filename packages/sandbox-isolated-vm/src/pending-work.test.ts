import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isolatedVmSandbox } from './backend.ts';

/*
 * Promise jobs a call leaves behind run after the entry returns, inside the same isolated-vm
 * call, and isolated-vm throws their unhandled rejection (any guest value) or their timeout at
 * the host. The call's own answer must stand, the next call must not see their writes, and
 * nothing may reach the host as an unhandled rejection.
 */

const backends = {
  reuse: isolatedVmSandbox(),
  'per-call': isolatedVmSandbox({ fresh: 'per-call' }),
};
const backend = (fresh: 'reuse' | 'per-call' = 'reuse') => backends[fresh];
afterAll(() => Promise.all(Object.values(backends).map((b) => b.dispose())));

const load = (code: string, fresh?: 'reuse' | 'per-call') =>
  backend(fresh).load({ name: 'p', language: 'javascript', code }, { timeout_ms: 1000 });

let hostRejections: unknown[] = [];
const onRejection = (reason: unknown) => hostRejections.push(reason);
beforeEach(() => {
  hostRejections = [];
  process.on('unhandledRejection', onRejection);
});
afterEach(async () => {
  // Let any rejection that did reach the host surface before looking.
  await new Promise((resolve) => setImmediate(resolve));
  process.off('unhandledRejection', onRejection);
  expect(hostRejections).toEqual([]);
});

const LATE_WRITE = `let seen = 'none';
function decide() {
  const result = { seen };
  Promise.resolve().then(() => { seen = 'late'; throw new Error('after return'); });
  return result;
}`;

describe('isolated-vm backend: work left pending after return', () => {
  it.each(['reuse', 'per-call'] as const)(
    '%s: a .then that writes and throws after return changes neither this call nor the next',
    async (fresh) => {
      const policy = await load(LATE_WRITE, fresh);
      for (let call = 0; call < 3; call++) {
        expect(await policy.invoke('decide', null)).toMatchObject({
          ok: true,
          value: { seen: 'none' },
        });
      }
      await policy.dispose();
    },
  );

  it('a rejected promise left behind is inert: the answer stands, twice', async () => {
    const policy = await load(
      "function decide() { Promise.reject(new Error('late')); return 'ok'; }",
    );
    expect(await policy.invoke('decide', null)).toMatchObject({ ok: true, value: 'ok' });
    expect(await policy.invoke('decide', null)).toMatchObject({ ok: true, value: 'ok' });
    await policy.dispose();
  });

  it('a rejection dressed as the timeout error cannot fake a timeout or hide a runtime_error', async () => {
    const policy = await load(`
      const fake = () => Promise.reject(new Error('Script execution timed out.'));
      function quiet() { fake(); return 1; }
      function loud() { fake(); throw new TypeError('real'); }
      function huge() { fake(); return 'x'.repeat(100); }`);
    expect(await policy.invoke('quiet', null)).toMatchObject({ ok: true, value: 1 });
    expect(await policy.invoke('loud', null)).toEqual({
      ok: false,
      failure: { kind: 'runtime_error', message: 'TypeError: real' },
      usage: expect.any(Object),
    });
    // The kept answer goes through the same output checks as any other.
    expect(await policy.invoke('huge', null, { max_output_bytes: 10 })).toMatchObject({
      ok: false,
      failure: { kind: 'output_limit' },
    });
    await policy.dispose();
  });

  it('an async entry that throws is invalid_output, not its rejection', async () => {
    const policy = await load("async function decide() { throw new Error('inside'); }");
    expect(await policy.invoke('decide', null)).toMatchObject({
      ok: false,
      failure: { kind: 'invalid_output', message: expect.stringMatching(/returned a promise/) },
    });
    await policy.dispose();
  });

  it('reuse: the context is replaced after pending work failed, so top-level state restarts', async () => {
    const policy = await load(`let calls = 0;
      function messy() { calls++; Promise.reject(0); return calls; }
      function clean() { calls++; return calls; }`);
    expect(await policy.invoke('clean', null)).toMatchObject({ value: 1 });
    expect(await policy.invoke('clean', null)).toMatchObject({ value: 2 });
    // This call answers from the old context, then the context is dropped.
    expect(await policy.invoke('messy', null)).toMatchObject({ value: 3 });
    expect(await policy.invoke('clean', null)).toMatchObject({ value: 1 });
    expect(await policy.invoke('clean', null)).toMatchObject({ value: 2 });
    expect(policy.entries).toEqual(['messy', 'clean']);
    await policy.dispose();
  });

  it('reuse: work that only writes after return is like a write during the call (state persists)', async () => {
    // Documented limit: a job that neither throws nor overruns leaves no trace the host can see,
    // so its writes persist exactly as top-level writes made during a call do with 'reuse'.
    const policy = await load(`let seen = 'none';
      function decide() { const result = { seen }; Promise.resolve().then(() => { seen = 'late'; }); return result; }`);
    expect(await policy.invoke('decide', null)).toMatchObject({ value: { seen: 'none' } });
    expect(await policy.invoke('decide', null)).toMatchObject({ value: { seen: 'late' } });
    await policy.dispose();
  });

  it('per-call: work that only writes after return is never seen by the next call', async () => {
    const policy = await load(
      `let seen = 'none';
      function decide() { const result = { seen }; Promise.resolve().then(() => { seen = 'late'; }); return result; }`,
      'per-call',
    );
    expect(await policy.invoke('decide', null)).toMatchObject({ value: { seen: 'none' } });
    expect(await policy.invoke('decide', null)).toMatchObject({ value: { seen: 'none' } });
    await policy.dispose();
  });

  it('a memory bomb after return kills the isolate: memory_limit, then a fresh isolate', async () => {
    const policy = await backend().load(
      {
        name: 'p',
        language: 'javascript',
        code: `let calls = 0;
          function bomb() { Promise.resolve().then(() => { const keep = []; for (;;) keep.push(new Array(1e6).fill(1.5)); }); return 1; }
          function ok() { return ++calls; }`,
      },
      { memory_bytes: 16 * 1024 * 1024, timeout_ms: 10_000 },
    );
    expect(await policy.invoke('ok', null)).toMatchObject({ value: 1 });
    expect(await policy.invoke('bomb', null)).toMatchObject({
      ok: false,
      failure: { kind: 'memory_limit' },
    });
    expect(await policy.invoke('ok', null)).toMatchObject({ ok: true, value: 1 });
    await policy.dispose();
  });
});
