import type { JsonValue, SandboxLimits } from '@wardwright/core';
import { SandboxLoadError } from '@wardwright/core';
import { afterAll, describe, expect, it } from 'vitest';
import { isolatedVmSandbox } from './backend.ts';
import { memoryGuarantee } from './memory-guarantee.ts';

const backend = isolatedVmSandbox();
afterAll(() => backend.dispose());

const load = (code: string, limits: Partial<SandboxLimits> = {}, filename?: string) =>
  backend.load(
    { name: 'p', language: 'javascript', code, ...(filename === undefined ? {} : { filename }) },
    // Deadlines are final: calls that test something else than time get room for a busy machine.
    { timeout_ms: 5000, ...limits },
  );

const loadFailure = async (code: string, limits: Partial<SandboxLimits> = {}) => {
  try {
    await load(code, limits);
  } catch (error) {
    if (SandboxLoadError.isInstance(error)) return error.failure;
    throw error;
  }
  throw new Error('loaded');
};

describe('isolated-vm backend: contract', () => {
  it('declares its capabilities', () => {
    expect(backend).toMatchObject({
      specificationVersion: 'v1',
      name: 'isolated-vm',
      language: 'javascript',
      capabilities: {
        isolated: true,
        wallClock: true,
        steps: 'none',
        memory: memoryGuarantee(),
        cpuTime: true,
        hardKill: true,
        execution: 'inline',
        containedBy: 'process',
        availability: false,
      },
    });
    expect(isolatedVmSandbox({ name: 'ivm-2' }).name).toBe('ivm-2');
  });

  it('finds top-level functions like the trusted backend and calls them with a copy of the input', async () => {
    const policy = await load(
      [
        'export function decide(input) { input.mutated = true; return { seen: input.n, zero: -0 }; }',
        'function helper() { function inner() {} return inner; }',
        'const notAFunction = 1;',
        'const viaConst = function named() {};',
        '// function ghost() {} in a comment is not defined',
      ].join('\n'),
    );
    expect(policy.entries).toEqual(['decide', 'helper']);
    const input = { n: 3 };
    expect(await policy.invoke('decide', input)).toMatchObject({
      ok: true,
      value: { seen: 3, zero: 0 },
    });
    expect(input).toEqual({ n: 3 });
    await policy.dispose();
  });

  it('reports wall time, CPU time and heap use per call; memory can be switched off', async () => {
    const code = 'function f() { let x = 0; for (let i = 0; i < 1e6; i++) x += i; return x; }';
    const result = await (await load(code)).invoke('f', null);
    expect(result.ok).toBe(true);
    expect(result.usage.wall_ms).toBeGreaterThan(0);
    expect(result.usage.cpu_ms).toBeGreaterThan(0);
    expect(result.usage.memory_bytes).toBeGreaterThan(0);
    const lean = isolatedVmSandbox({ measureMemory: false });
    const quiet = await (await lean.load({ name: 'q', language: 'javascript', code })).invoke(
      'f',
      null,
    );
    expect(quiet.usage.cpu_ms).toBeGreaterThan(0);
    expect(quiet.usage).not.toHaveProperty('memory_bytes');
    await lean.dispose();
  });

  it('keeps module state between calls of one policy and apart between policies', async () => {
    const code = 'let calls = 0; function f() { calls++; globalThis.leak = calls; return calls; }';
    const a = await load(code);
    const b = await load(code);
    await a.invoke('f', null);
    expect(await a.invoke('f', null)).toMatchObject({ value: 2 });
    expect(await b.invoke('f', null)).toMatchObject({ value: 1 });
    await a.dispose();
    await b.dispose();
  });

  it("with fresh: 'per-call' no call sees another's writes, and failures still classify", async () => {
    const perCall = isolatedVmSandbox({ fresh: 'per-call' });
    const policy = await perCall.load({
      name: 'p',
      language: 'javascript',
      code: `let calls = 0;
        function f() { calls++; globalThis.seen = (globalThis.seen ?? 0) + 1; Array.prototype.x = 1; return [calls, seen]; }
        function slow() { for (;;) {} }
        function bomb() { const keep = []; for (;;) keep.push(new Array(1e6).fill(1.5)); }`,
    });
    expect(await policy.invoke('f', null)).toMatchObject({ ok: true, value: [1, 1] });
    expect(await policy.invoke('f', null)).toMatchObject({ ok: true, value: [1, 1] });
    expect(await policy.invoke('slow', null, { timeout_ms: 20 })).toMatchObject({
      failure: { kind: 'timeout' },
    });
    expect(await policy.invoke('bomb', null, { timeout_ms: 10_000 })).toMatchObject({
      failure: { kind: 'memory_limit' },
    });
    expect(await policy.invoke('f', null)).toMatchObject({ ok: true, value: [1, 1] });
    // The policy's top level runs inside the call's budget.
    const heavy = await perCall.load(
      {
        name: 'h',
        language: 'javascript',
        code: 'let n = 0; for (let i = 0; i < 3e6; i++) n += i;\nfunction f() { return n; }',
      },
      { timeout_ms: 5_000 },
    );
    expect(await heavy.invoke('f', null, { timeout_ms: 1 })).toMatchObject({
      failure: { kind: 'timeout' },
    });
    await perCall.dispose();
  });

  it('disposes: a disposed policy answers backend_failure, and dispose is idempotent', async () => {
    const own = isolatedVmSandbox();
    const policy = await own.load({ name: 'p', language: 'javascript', code: 'function f() {}' });
    await own.dispose();
    await policy.dispose();
    expect(await policy.invoke('f', null)).toMatchObject({
      ok: false,
      failure: { kind: 'backend_failure', message: 'the policy is disposed' },
    });
  });
});

describe('isolated-vm backend: every failure kind', () => {
  it('classifies call failures with the shared taxonomy and the trusted messages', async () => {
    const policy = await load(`
      function missing() { return undefined; }
      function nan() { return { score: NaN }; }
      function map() { return { seen: new Map() }; }
      function fn() { return function () {}; }
      function symbol() { return Symbol('s'); }
      function thrower() { throw new TypeError("bad"); }
      function weird() { throw 42; }
      function text() { throw "nope"; }
      function object() { throw { code: 1 }; }
      function proxy() { throw new Proxy({}, { getPrototypeOf() { throw 1; } }); }
      function deep() { return deep() + 1; }
      function cyclic() { const a = {}; a.self = a; return a; }
      function bigint() { return { n: 1n }; }
      function toJson() { return { toJSON() { throw new Error("no"); } }; }
      function nested() { let v = []; for (let i = 0; i < 1e5; i++) v = [v]; return v; }
      function promise() { return Promise.resolve(1); }
      function thenGetter() { return { get then() { throw new Error("then"); } }; }
      function asyncFn() { return (async () => 1)(); }
      function big() { return "x".repeat(200); }
      function slow() { for (;;) {} }
      function random() { return Math.random(); }
      function echo(input) { return input; }
    `);
    const expected: Record<string, [string, RegExp]> = {
      missing: ['invalid_output', /^result is not JSON: undefined$/],
      fn: ['invalid_output', /^result is not JSON: a function$/],
      symbol: ['invalid_output', /^result is not JSON: a symbol$/],
      nan: ['invalid_output', /^result is not JSON: the number NaN under key "score"$/],
      map: ['invalid_output', /^result is not JSON: a Map under key "seen"$/],
      thrower: ['runtime_error', /^TypeError: bad$/],
      weird: ['runtime_error', /^threw 42$/],
      text: ['runtime_error', /^threw "nope"$/],
      object: ['runtime_error', /^threw \[object Object\]$/],
      proxy: ['runtime_error', /cannot be described/],
      deep: ['stack_overflow', /^maximum call stack size exceeded$/],
      cyclic: ['invalid_output', /^result is not JSON: Converting circular structure/],
      bigint: ['invalid_output', /^result is not JSON: a bigint under key "n"$/],
      toJson: ['invalid_output', /^result is not JSON: no$/],
      nested: ['invalid_output', /^result is nested deeper than 1000 levels$/],
      promise: ['invalid_output', /returned a promise/],
      thenGetter: ['runtime_error', /^Error: then$/],
      asyncFn: ['invalid_output', /returned a promise/],
      big: ['output_limit', /^result is larger than 100 bytes$/],
      slow: ['timeout', /^ran over the 20 ms limit$/],
      random: ['runtime_error', /Math.random is disabled/],
      absent: ['missing_entry', /^the policy defines no function absent$/],
    };
    const actual: Record<string, [string, string]> = {};
    for (const entry of Object.keys(expected)) {
      const result = await policy.invoke(entry, null, {
        max_output_bytes: 100,
        timeout_ms: entry === 'slow' ? 20 : 5_000,
      });
      actual[entry] = result.ok ? ['ok', ''] : [result.failure.kind, result.failure.message];
    }
    for (const [entry, [kind, message]] of Object.entries(expected)) {
      expect({ entry, kind: actual[entry]?.[0] }).toEqual({ entry, kind });
      expect(actual[entry]?.[1]).toMatch(message);
    }
    expect(await policy.invoke('echo', 'x'.repeat(50), { max_input_bytes: 10 })).toMatchObject({
      ok: false,
      failure: { kind: 'input_limit', message: 'input is larger than 10 bytes' },
    });
    // The engine only passes JSON; anything else is a caller bug, reported as input_limit as
    // every backend does, never thrown.
    const notJson = await policy.invoke('echo', 1n as unknown as JsonValue);
    expect(notJson).toMatchObject({
      ok: false,
      failure: { kind: 'input_limit', message: 'input is not JSON: a bigint at $' },
    });
    const undef = await policy.invoke('echo', undefined as unknown as JsonValue);
    expect(undef).toMatchObject({
      ok: false,
      failure: { kind: 'input_limit', message: 'input is not JSON: undefined at $' },
    });
    await policy.dispose();
  });

  it('rejects a load with compile_error (and a location), runtime_error, or a limit kind', async () => {
    expect(await loadFailure('\n\nfoo(;')).toEqual({
      kind: 'compile_error',
      message: "SyntaxError: Unexpected token ';'",
      location: { filename: 'p', line: 3, column: 5 },
    });
    await expect(load('function (', {}, 'policies/a.js')).rejects.toSatisfy(
      (e: unknown) =>
        SandboxLoadError.isInstance(e) &&
        e.failure.kind === 'compile_error' &&
        e.failure.location?.filename === 'policies/a.js' &&
        e.failure.location.line === 1 &&
        e.failure.location.column === 1,
    );
    expect(await loadFailure('throw new Error("at load")')).toEqual({
      kind: 'runtime_error',
      message: 'Error: at load',
    });
    expect(await loadFailure('throw "x"')).toMatchObject({ message: 'threw "x"' });
    expect(await loadFailure('undeclared = 1')).toMatchObject({ kind: 'runtime_error' });
    expect(await loadFailure('for (;;) {}', { timeout_ms: 20 })).toMatchObject({
      kind: 'timeout',
    });
    expect(await loadFailure('(function r() { r(); })()')).toMatchObject({
      kind: 'stack_overflow',
    });
    expect(
      await loadFailure('const keep = []; for (;;) keep.push(new Array(1e5).fill(1.5));', {
        memory_bytes: 8 * 1024 * 1024,
        timeout_ms: 10_000,
      }),
    ).toMatchObject({ kind: 'memory_limit' });
    await expect(
      backend.load({ name: 'p', language: 'starlark', code: 'def decide(x): pass' }),
    ).rejects.toThrow(/runs javascript, not starlark/);
  });
});

describe('isolated-vm backend: limits and recovery', () => {
  it('stops while(true) at a 50 ms limit within 1 s, and the next call works', async () => {
    const policy = await load('function f() { while (true) {} }\nfunction ok() { return 1; }');
    const start = performance.now();
    const result = await policy.invoke('f', null, { timeout_ms: 50 });
    expect(performance.now() - start).toBeLessThan(1000);
    expect(result).toMatchObject({ ok: false, failure: { kind: 'timeout' } });
    expect(result.usage.wall_ms).toBeGreaterThanOrEqual(45);
    expect(await policy.invoke('ok', null)).toMatchObject({ ok: true, value: 1 });
    await policy.dispose();
  });

  it("stops work queued on promises after return at the same call's limit: the deadline is final", async () => {
    const policy = await load(
      'function f() { Promise.resolve().then(() => { for (;;) {} }); return 1; }\nfunction ok() { return 2; }',
    );
    const start = performance.now();
    const result = await policy.invoke('f', null, { timeout_ms: 30 });
    expect(performance.now() - start).toBeLessThan(1000);
    // The answer came before the spin, but the call ran over its deadline all the same.
    expect(result).toMatchObject({ ok: false, failure: { kind: 'timeout' } });
    // The spin ran inside this call's budget, and its time is this call's.
    expect(result.usage.wall_ms).toBeGreaterThanOrEqual(25);
    expect(await policy.invoke('ok', null)).toMatchObject({ ok: true, value: 2 });
    await policy.dispose();
  });

  it.each([
    ['heap arrays', 'const keep = []; for (;;) keep.push(new Array(1e6).fill(1.5));'],
    ['flat strings', "const keep = []; for (let i = 0; ; i++) keep.push('x'.repeat(1 << 20) + i);"],
    ['array buffers', 'const keep = []; for (;;) keep.push(new ArrayBuffer(1 << 20));'],
  ])(
    'a memory bomb of %s under 32 MiB returns memory_limit and the next call works',
    async (_, bomb) => {
      const policy = await load(
        `let calls = 0;\nfunction bomb() { ${bomb} }\nfunction ok(input) { calls++; return { calls, input }; }`,
      );
      await policy.invoke('ok', 1);
      const result = await policy.invoke('bomb', null, { timeout_ms: 10_000 });
      expect(result).toMatchObject({ ok: false, failure: { kind: 'memory_limit' } });
      // A disposed isolate is recreated from the source, so module state starts over.
      const next = await policy.invoke('ok', 2);
      expect(next).toMatchObject({ ok: true, value: { input: 2 } });
      expect(policy.entries).toEqual(['bomb', 'ok']);
      await policy.dispose();
    },
  );

  it('returns stack_overflow for deep recursion and keeps working', async () => {
    const policy = await load('function f(n) { return n === 0 ? 0 : 1 + f(n - 1); }');
    expect(await policy.invoke('f', 1e7)).toMatchObject({
      ok: false,
      failure: { kind: 'stack_overflow' },
    });
    expect(await policy.invoke('f', 100)).toMatchObject({ ok: true, value: 100 });
    await policy.dispose();
  });

  it('takes the memory limit from the load limits, at least 8 MiB', async () => {
    const code =
      'function f(n) { const keep = []; for (let i = 0; i < n; i++) keep.push(new Array(1e5).fill(1.5)); return keep.length; }';
    const small = await load(code, { memory_bytes: 1024, timeout_ms: 10_000 });
    // 20 arrays of 1e5 doubles are about 16 MB: over the 8 MiB floor, under 128 MiB.
    expect(await small.invoke('f', 20)).toMatchObject({ failure: { kind: 'memory_limit' } });
    expect(await small.invoke('f', 2)).toMatchObject({ ok: true, value: 2 });
    const roomy = await load(code, { memory_bytes: 128 * 1024 * 1024, timeout_ms: 10_000 });
    expect(await roomy.invoke('f', 20)).toMatchObject({ ok: true, value: 20 });
    await small.dispose();
    await roomy.dispose();
  });
});

describe('isolated-vm backend: concurrency, determinism, isolation', () => {
  it('serves concurrent calls to one policy and to several policies without mixing them', async () => {
    const code = 'function f(input) { let t = 0; for (const n of input.values) t += n; return t; }';
    const [a, b] = await Promise.all([load(code), load(code)]);
    const calls = Array.from({ length: 40 }, (_, i) =>
      (i % 2 === 0 ? a! : b!).invoke('f', { values: [i, i, 1] }),
    );
    const results = await Promise.all(calls);
    expect(results.map((r) => (r.ok ? r.value : r.failure.kind))).toEqual(
      Array.from({ length: 40 }, (_, i) => 2 * i + 1),
    );
    await a!.dispose();
    await b!.dispose();
  });

  it('freezes the clock, disables Math.random and has no timers', async () => {
    const code = `function f() {
      return {
        now: Date.now(),
        iso: new Date().toISOString(),
        str: Date(),
        parsed: new Date('2024-01-02T03:04:05Z').getTime(),
        ctor: new (new Date(5).constructor)().getTime(),
        timers: [typeof setTimeout, typeof setInterval, typeof setImmediate, typeof queueMicrotask, typeof performance],
      };
    }`;
    const first = await (await load(code)).invoke('f', null);
    const second = await (await load(code)).invoke('f', null);
    expect(first).toMatchObject({
      ok: true,
      value: {
        now: 0,
        iso: '1970-01-01T00:00:00.000Z',
        parsed: Date.UTC(2024, 0, 2, 3, 4, 5),
        ctor: 0,
        timers: ['undefined', 'undefined', 'undefined', 'undefined', 'undefined'],
      },
    });
    expect(first.ok && second.ok && first.value).toEqual(second.ok && second.value);
  });

  it('gives guest code no host objects and no isolated-vm objects', async () => {
    const policy = await load(`function f() {
      const climb = (function () { return this; }).constructor('return typeof process')();
      return {
        process: typeof process, require: typeof require, ivm: typeof globalThis.ivm,
        module: typeof module, wasm: typeof WebAssembly, sab: typeof SharedArrayBuffer,
        atomics: typeof Atomics, climb,
        names: Object.getOwnPropertyNames(globalThis).filter((n) => /ivm|isolate|^Reference$|ExternalCopy|Callback|^Copy$|^_/i.test(n)),
      };
    }`);
    expect(await policy.invoke('f', null)).toMatchObject({
      ok: true,
      value: {
        process: 'undefined',
        require: 'undefined',
        ivm: 'undefined',
        module: 'undefined',
        wasm: 'undefined',
        sab: 'undefined',
        atomics: 'undefined',
        climb: 'undefined',
        names: [],
      },
    });
    await policy.dispose();
  });

  it('a guest cannot fake a timeout or tamper with the JSON bridge', async () => {
    const policy = await load(`
      JSON.parse = () => 'tampered'; JSON.stringify = () => 'tampered';
      function fake() { throw new Error('Script execution timed out.'); }
      function echo(input) { return input; }
    `);
    expect(await policy.invoke('fake', null)).toMatchObject({
      ok: false,
      failure: { kind: 'runtime_error', message: 'Error: Script execution timed out.' },
    });
    expect(await policy.invoke('echo', { a: [1] })).toMatchObject({ ok: true, value: { a: [1] } });
    await policy.dispose();
  });
});
