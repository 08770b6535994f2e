import { describe, expect, it } from 'vitest';
import { SandboxLoadError } from './contract.ts';
import { trustedBackend } from './trusted-backend.ts';

const load = (code: string, limits = {}) =>
  // Deadlines are final: calls that test something else than time get room for a busy machine.
  trustedBackend().load(
    { name: 'p', language: 'javascript', code },
    { timeout_ms: 5000, ...limits },
  );

describe('trusted backend', () => {
  it('finds declared (and exported) functions and calls them with a copy of the input', async () => {
    const policy = await load(
      'export function decide(input) { input.mutated = true; return { seen: input.n }; }\nfunction helper() {}\nconst notAFunction = 1;',
    );
    expect(policy.entries).toEqual(['decide', 'helper']);
    const input = { n: 3 };
    expect(await policy.invoke('decide', input)).toMatchObject({ ok: true, value: { seen: 3 } });
    expect(input).toEqual({ n: 3 });
  });

  it('classifies failures with the shared taxonomy', async () => {
    const policy = await load(`
      function missing() { return undefined; }
      function thrower() { throw new TypeError("bad"); }
      function weird() { throw 42; }
      function deep() { return deep() + 1; }
      function cyclic() { const a = {}; a.self = a; return a; }
      function promise() { return Promise.resolve(1); }
      function big() { return "x".repeat(200); }
      function slow() { const end = Date.now() + 30; while (Date.now() < end) {} return 1; }
    `);
    const kinds: Record<string, string> = {};
    for (const entry of [
      'missing',
      'thrower',
      'weird',
      'deep',
      'cyclic',
      'promise',
      'big',
      'slow',
      'absent',
    ]) {
      const result = await policy.invoke(entry, null, { max_output_bytes: 100, timeout_ms: 10 });
      kinds[entry] = result.ok ? 'ok' : result.failure.kind;
    }
    expect(kinds).toEqual({
      missing: 'invalid_output',
      thrower: 'runtime_error',
      weird: 'runtime_error',
      deep: 'stack_overflow',
      cyclic: 'invalid_output',
      promise: 'invalid_output',
      big: 'output_limit',
      slow: 'timeout',
      absent: 'missing_entry',
    });
    const big = await policy.invoke('missing', 'x'.repeat(50), { max_input_bytes: 10 });
    expect(big).toMatchObject({ ok: false, failure: { kind: 'input_limit' } });
  });

  it('rejects code that does not compile, or another language, with a load error', async () => {
    await expect(load('function (')).rejects.toSatisfy(
      (e: unknown) => SandboxLoadError.isInstance(e) && e.failure.kind === 'compile_error',
    );
    await expect(load('throw new Error("at load")')).rejects.toSatisfy(
      (e: unknown) => SandboxLoadError.isInstance(e) && e.failure.kind === 'runtime_error',
    );
    await expect(
      trustedBackend().load({ name: 'p', language: 'starlark', code: 'def decide(x): pass' }),
    ).rejects.toThrow(/runs javascript, not starlark/);
  });

  it('keeps calls and policies apart: module state never carries over', async () => {
    const backend = trustedBackend();
    const code = 'let calls = 0; function decide() { calls++; return calls; }';
    const a = await backend.load({ name: 'a', language: 'javascript', code });
    const b = await backend.load({ name: 'b', language: 'javascript', code });
    await a.invoke('decide', null);
    expect(await a.invoke('decide', null)).toMatchObject({ value: 1 });
    expect(await b.invoke('decide', null)).toMatchObject({ value: 1 });
    await backend.dispose();
    // The same answer from every backend, through the shared call wrapper.
    expect(await a.invoke('decide', null)).toMatchObject({
      ok: false,
      failure: { kind: 'backend_failure', message: 'the policy is disposed' },
    });
  });
});

describe('trusted backend: function discovery', () => {
  it('finds functions declared mid-line and ignores nested or expression functions', async () => {
    const policy = await load(
      'let n = 0; function decide() { function inner() {} return inner; }\nconst f = function named() {};',
    );
    expect(policy.entries).toEqual(['decide']);
  });
});

describe('trusted backend: hostile results stay failures', () => {
  it('contains throwing getters, proxies and rejected promises, and measures bytes', async () => {
    const policy = await load(`
      function thenGetter() { return { get then() { throw new Error('gotcha'); } }; }
      function proxy() { return new Proxy({}, { ownKeys() { throw new Error('trap'); } }); }
      async function rejects() { throw new Error('late'); }
      function wide(input) { return input; }
    `);
    expect(await policy.invoke('thenGetter', null)).toMatchObject({
      ok: false,
      failure: { kind: 'invalid_output', message: 'result is not JSON: gotcha' },
    });
    expect(await policy.invoke('proxy', null)).toMatchObject({
      ok: false,
      failure: { kind: 'invalid_output' },
    });
    expect(await policy.invoke('rejects', null)).toMatchObject({
      ok: false,
      failure: { kind: 'invalid_output' },
    });
    // 600 'é' are 1200 UTF-8 bytes: over a 1000-byte limit although 600 UTF-16 units are not.
    const wide = 'é'.repeat(600);
    expect(await policy.invoke('wide', wide, { max_input_bytes: 1000 })).toMatchObject({
      failure: { kind: 'input_limit' },
    });
    expect(await policy.invoke('wide', wide, { max_output_bytes: 1000 })).toMatchObject({
      failure: { kind: 'output_limit' },
    });
  });
});
