import {
  type InvokeResult,
  type LoadedPolicy,
  type SandboxBackend,
  type SandboxLimits,
  SandboxLoadError,
} from '@wardwright/core';
import { QuickJSContext, QuickJSRuntime } from 'quickjs-emscripten-core';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { quickjsSandbox } from './index.ts';
import { resolveLimits } from './limits.ts';
import { compiledQuickJS, Engine, MemorySnapshot, Session } from './session.ts';

const backend = quickjsSandbox();
afterAll(() => backend.dispose());

async function load(
  code: string,
  limits?: Partial<SandboxLimits>,
  on: SandboxBackend = backend,
): Promise<LoadedPolicy> {
  // Deadlines are final: calls that test something else than time get room for a busy machine.
  return on.load(
    { name: 'p', language: 'javascript', code, filename: 'p.js' },
    { timeout_ms: 5000, ...limits },
  );
}

async function loadError(code: string, limits?: Partial<SandboxLimits>): Promise<SandboxLoadError> {
  try {
    await load(code, limits);
  } catch (error) {
    expect(SandboxLoadError.isInstance(error)).toBe(true);
    return error as SandboxLoadError;
  }
  throw new Error('expected the load to fail');
}

function failure(result: InvokeResult) {
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result.value)}`);
  return result.failure;
}

function value(result: InvokeResult) {
  if (!result.ok) throw new Error(`expected a value, got ${JSON.stringify(result.failure)}`);
  return result.value;
}

const ECHO = 'function decide(input) { return input; }';

describe('quickjsSandbox: contract', () => {
  it('describes itself', () => {
    expect(backend.specificationVersion).toBe('v1');
    expect(backend.name).toBe('quickjs');
    expect(backend.language).toBe('javascript');
    expect(backend.capabilities).toEqual({
      isolated: true,
      wallClock: true,
      steps: 'coarse',
      memory: 'hard',
      cpuTime: false,
      hardKill: true,
      execution: 'inline',
      containedBy: 'worker',
      availability: false,
    });
    expect(quickjsSandbox({ name: 'qjs' }).name).toBe('qjs');
  });

  it('rejects bad options', () => {
    expect(() => quickjsSandbox({ maxStackBytes: 0 })).toThrow(/maxStackBytes/);
    expect(() => quickjsSandbox({ fresh: 'never' as 'reuse' })).toThrow(/fresh/);
  });

  it('runs a policy on a JSON copy of the input and returns JSON', async () => {
    const policy = await load(
      `function decide(input) {
        const total = input.history.reduce((a, b) => a + b, 0);
        input.history.push(1);
        return { allow: total <= input.threshold, total, zero: -0, s: 'é😀' };
      }`,
    );
    const input = { history: [1, 2, 3], threshold: 5 };
    const result = await policy.invoke('decide', input);
    expect(value(result)).toEqual({ allow: false, total: 6, zero: 0, s: 'é😀' });
    expect(input.history).toEqual([1, 2, 3]);
    expect(result.usage.wall_ms).toBeGreaterThanOrEqual(0);
    expect(result.usage.steps).toBe(0);
    expect(result.usage.memory_bytes).toBeGreaterThanOrEqual(16 * 1024 * 1024);
    await policy.dispose();
  });

  it('discovers top-level functions like the trusted backend', async () => {
    const policy = await load(
      `// function if( in a comment is not an entry
      export function decide(x) { function nested() {} return helper(x); }
      function helper(x) { return x; }
      const expr = function named() {};
      function* gen() {}
      let notAFunction = 1;`,
    );
    expect([...policy.entries].sort()).toEqual(['decide', 'gen', 'helper']);
    expect(Object.isFrozen(policy.entries)).toBe(true);
    expect(value(await policy.invoke('helper', [1]))).toEqual([1]);
    // A generator object is not JSON (JSON.stringify would have made it `{}`).
    expect(failure(await policy.invoke('gen', null))).toEqual({
      kind: 'invalid_output',
      message: 'result is not JSON: a Generator',
    });
    const missing = failure(await policy.invoke('nested', null));
    expect(missing).toEqual({
      kind: 'missing_entry',
      message: 'the policy defines no function nested',
    });
    await policy.dispose();
  });

  it('a policy without functions loads with no entries', async () => {
    const policy = await load('const x = 1;');
    expect(policy.entries).toEqual([]);
    await policy.dispose();
  });
});

describe('quickjsSandbox: load failures', () => {
  it('rejects other languages', async () => {
    await expect(
      backend.load({ name: 'p', language: 'starlark', code: 'def decide(x): return x' }),
    ).rejects.toMatchObject({
      failure: {
        kind: 'compile_error',
        message: 'the quickjs backend runs javascript, not starlark',
      },
    });
  });

  it('a syntax error is a compile_error with its location', async () => {
    const error = await loadError('function decide(x) {\n  return x +;\n}');
    expect(error.failure.kind).toBe('compile_error');
    expect(error.failure.message).toMatch(/^SyntaxError: /);
    expect(error.failure.location).toMatchObject({ filename: 'p.js', line: 2 });
    expect(error.message).toMatch(/^policy p: SyntaxError/);
  });

  it('the source runs in strict mode, like the trusted backend', async () => {
    const error = await loadError('undeclared = 1; function decide() {}');
    expect(error.failure.kind).toBe('runtime_error');
    expect(error.failure.message).toMatch(/^ReferenceError: .*undeclared/);
    expect(error.failure.location).toEqual({ filename: 'p.js', line: 1, column: 1 });
  });

  it('the filename defaults to the policy name', async () => {
    const error = await backend
      .load({ name: 'named', language: 'javascript', code: 'throw new Error("x")' })
      .then(
        () => undefined,
        (e: SandboxLoadError) => e,
      );
    expect(error?.failure.location?.filename).toBe('named.js');
  });

  it('module-level code is under the load limits', async () => {
    const started = performance.now();
    const error = await loadError('while (true) {} function decide() {}', { timeout_ms: 30 });
    expect(error.failure.kind).toBe('timeout');
    expect(performance.now() - started).toBeLessThan(1000);
    expect((await loadError('function r() { return r() + 1; } r();')).failure.kind).toBe(
      'stack_overflow',
    );
  });
});

describe('quickjsSandbox: failure kinds', () => {
  it('guest throws are runtime_error with "Name: message"', async () => {
    const policy = await load(
      `function decide(input) {
        switch (input) {
          case 'type': return null.x;
          case 'string': throw 'boom';
          case 'number': throw 42;
          case 'object': throw { name: 'TypeError', message: 'fake' };
          case 'array': throw [1];
          case 'undefined': throw undefined;
          case 'symbol': throw Symbol('s');
          case 'newline': throw new Error('line one\\nline two');
        }
      }`,
    );
    const type = failure(await policy.invoke('decide', 'type'));
    expect(type.kind).toBe('runtime_error');
    expect(type.message).toMatch(/^TypeError: cannot read property 'x' of null/);
    expect(type.location).toEqual({ filename: 'p.js', line: 3, column: expect.any(Number) });
    const messages: Record<string, string> = {
      string: 'threw "boom"',
      number: 'threw 42',
      object: 'threw [object Object]',
      array: 'threw [object Array]',
      undefined: 'threw undefined',
      symbol: 'threw a symbol',
      newline: 'Error: line one',
    };
    for (const [input, message] of Object.entries(messages)) {
      expect(failure(await policy.invoke('decide', input))).toMatchObject({
        kind: 'runtime_error',
        message,
      });
    }
    await policy.dispose();
  });

  it('results that are not JSON are invalid_output', async () => {
    const policy = await load(
      `function decide(input) {
        switch (input) {
          case 'undefined': return undefined;
          case 'function': return () => 1;
          case 'symbol': return Symbol('s');
          case 'cycle': { const a = {}; a.a = a; return a; }
          case 'bigint': return { n: 10n };
          case 'promise': return Promise.resolve(1);
          case 'tojson': return { toJSON() { throw 'nope'; } };
          case 'nan': return { score: NaN };
          case 'infinity': return { score: -Infinity };
          case 'map': return { m: new Map([[1, 2]]) };
          case 'hole': return [1, , 3];
          case 'missing': return { allow: true, reason: undefined };
          case 'class': return [new (class Point { constructor() { this.x = 1; } })()];
          case 'boxed': return [new Number(3), new String('s'), new Boolean(false), new Date(0)];
        }
      }
      async function later() { return 1; }`,
    );
    const notJson: [string, string][] = [
      ['undefined', 'undefined'],
      ['function', 'a function'],
      ['symbol', 'a symbol'],
      ['nan', 'the number NaN under key "score"'],
      ['infinity', 'the number -Infinity under key "score"'],
      ['map', 'a Map under key "m"'],
      ['hole', 'undefined under key "1"'],
    ];
    for (const [input, found] of notJson) {
      expect(failure(await policy.invoke('decide', input))).toEqual({
        kind: 'invalid_output',
        message: `result is not JSON: ${found}`,
      });
    }
    // What JSON carries without loss is kept as JSON.stringify has it.
    expect(value(await policy.invoke('decide', 'missing'))).toEqual({ allow: true });
    expect(value(await policy.invoke('decide', 'class'))).toEqual([{ x: 1 }]);
    expect(value(await policy.invoke('decide', 'boxed'))).toEqual([
      3,
      's',
      false,
      '1970-01-01T00:00:00.000Z',
    ]);
    for (const input of ['cycle', 'bigint', 'tojson']) {
      const f = failure(await policy.invoke('decide', input));
      expect(f.kind).toBe('invalid_output');
      expect(f.message).toMatch(/^result is not JSON: /);
    }
    for (const result of [
      await policy.invoke('decide', 'promise'),
      await policy.invoke('later', 1),
    ]) {
      expect(failure(result)).toEqual({
        kind: 'invalid_output',
        message: 'returned a promise; a policy returns its result directly',
      });
    }
    await policy.dispose();
  });

  it('enforces input and output sizes in UTF-8 bytes', async () => {
    const policy = await load(ECHO, { max_input_bytes: 100, max_output_bytes: 20 });
    expect(failure(await policy.invoke('decide', 'x'.repeat(200)))).toEqual({
      kind: 'input_limit',
      message: 'input is larger than 100 bytes',
    });
    // 18 UTF-16 units but 50 bytes of UTF-8 input: under 100, over the 20-byte output.
    const big = failure(await policy.invoke('decide', '😀'.repeat(8)));
    expect(big).toEqual({ kind: 'output_limit', message: 'result is larger than 20 bytes' });
    expect(value(await policy.invoke('decide', 'é'.repeat(8)))).toBe('é'.repeat(8));
    expect(
      failure(await policy.invoke('decide', 'x'.repeat(200), { max_input_bytes: 300 })).kind,
    ).toBe('output_limit');
    const notJson = failure(await policy.invoke('decide', 1n as unknown as null));
    expect(notJson).toEqual({ kind: 'input_limit', message: 'input is not JSON: a bigint at $' });
    await policy.dispose();
  });

  it('a runaway loop is a timeout within the limit, and the next call works', async () => {
    const policy = await load(
      `let calls = 0;
      function decide(input) { calls++; if (input === 'spin') while (true) {} return calls; }`,
    );
    expect(value(await policy.invoke('decide', null))).toBe(1);
    const started = performance.now();
    const result = await policy.invoke('decide', 'spin', { timeout_ms: 50 });
    const elapsed = performance.now() - started;
    expect(failure(result)).toMatchObject({ kind: 'timeout' });
    expect(failure(result).message).toMatch(/over the 50 ms limit$/);
    expect(elapsed).toBeGreaterThanOrEqual(49);
    expect(elapsed).toBeLessThan(1000);
    expect(result.usage.wall_ms).toBeGreaterThanOrEqual(49);
    // Reloaded from source after the timeout: the module-level counter starts over.
    expect(value(await policy.invoke('decide', null))).toBe(1);
    await policy.dispose();
  });

  it('a step budget stops a loop with step_limit, deterministically', async () => {
    const policy = await load(
      'function decide(n) { let s = 0; for (let i = 0; i < n; i++) s += i; return s; }',
      { max_steps: 10, timeout_ms: 5000 },
    );
    const small = await policy.invoke('decide', 1000);
    expect(value(small)).toBe(499500);
    expect(small.usage.steps).toBe(0);
    const counted = await policy.invoke('decide', 40_000);
    expect(counted.ok).toBe(true);
    expect(counted.usage.steps).toBeGreaterThan(0);
    const first = await policy.invoke('decide', 1e9);
    const second = await policy.invoke('decide', 1e9);
    expect(failure(first)).toEqual({
      kind: 'step_limit',
      message: 'used more than 10 steps (1 step is one interrupt poll, about 5k operations)',
    });
    expect(first.usage.steps).toBe(11);
    expect(second.usage.steps).toBe(11);
    expect(value(await policy.invoke('decide', 3))).toBe(3);
    await policy.dispose();
  });

  it('deep recursion is stack_overflow, and the next call works', async () => {
    const policy = await load(
      `function down(n) { return n === 0 ? 0 : down(n - 1) + 1; }
      function decide(n) { return down(n); }`,
    );
    expect(value(await policy.invoke('decide', 100))).toBe(100);
    expect(failure(await policy.invoke('decide', 1e7))).toEqual({
      kind: 'stack_overflow',
      message: 'maximum call stack size exceeded',
    });
    expect(value(await policy.invoke('decide', 200))).toBe(200);
    await policy.dispose();
  });

  it('a smaller stack limit overflows sooner', async () => {
    const small = quickjsSandbox({ maxStackBytes: 32 * 1024 });
    const policy = await load(
      'function decide(n) { return n === 0 ? 0 : decide(n - 1) + 1; }',
      {},
      small,
    );
    expect(failure(await policy.invoke('decide', 1000)).kind).toBe('stack_overflow');
    await small.dispose();
    expect(failure(await policy.invoke('decide', 1)).message).toBe('the policy is disposed');
  });
});

describe('quickjsSandbox: memory', () => {
  const MiB = 1024 * 1024;
  const bombs: Record<string, string> = {
    'string doubling': 'let s = "x"; while (true) s = s + s;',
    'one growing array': 'const a = []; while (true) a.push(a.length);',
    'many small chunks':
      'const keep = []; while (true) { const c = []; for (let i = 0; i < 1000; i++) c.push(i); keep.push(c); }',
    'many distinct strings':
      'const keep = []; for (let i = 0; ; i++) keep.push("x".repeat(100000) + i);',
  };

  it('memory bombs under 32 MiB are memory_limit, the cap holds, and the next call works', async () => {
    const rssBefore = process.memoryUsage().rss;
    for (const [name, bomb] of Object.entries(bombs)) {
      const policy = await load(
        `function decide(input) { if (input === 'bomb') { ${bomb} } return 'fine'; }`,
        { memory_bytes: 32 * MiB, timeout_ms: 5000 },
      );
      const result = await policy.invoke('decide', 'bomb');
      expect(failure(result).kind, name).toBe('memory_limit');
      expect(failure(result).message).toMatch(/over the 33554432-byte memory limit$/);
      expect(result.usage.memory_bytes).toBeLessThanOrEqual(32 * MiB);
      expect(value(await policy.invoke('decide', null))).toBe('fine');
      await policy.dispose();
    }
    // Generous: the WASM memories are only collected by V8's GC, and the bound is about 2x cap.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(2 * 32 * MiB + 64 * MiB);
  });

  it('input goes in as binary JSON; one too big to decode falls back to JSON text and is memory_limit', async () => {
    const decoded = vi.spyOn(
      Session.prototype as unknown as { decoded(json: string): unknown },
      'decoded',
    );
    const policy = await load(
      'function decide(s) { return typeof s === "string" ? s.length : s; }',
      {
        memory_bytes: 16 * MiB,
        max_input_bytes: 64 * MiB,
      },
    );
    expect(value(await policy.invoke('decide', 'x'.repeat(MiB)))).toBe(MiB);
    expect(decoded.mock.results.at(-1)?.value).toBeDefined();
    // Decoding copies the input twice in a 16 MiB module: the decode runs out of memory, the JSON
    // text path then does too, in the guest, where it is classified.
    const big = await policy.invoke('decide', 'x'.repeat(7 * MiB));
    expect(decoded.mock.results.at(-1)?.value).toBeUndefined();
    expect(failure(big).kind).toBe('memory_limit');
    expect(value(await policy.invoke('decide', 42))).toBe(42);
    decoded.mockRestore();
    await policy.dispose();
  });

  it('a call with a different memory limit gets a module of that size', async () => {
    const policy = await load(ECHO, { memory_bytes: 20 * MiB });
    const a = await policy.invoke('decide', 1);
    expect(a.usage.memory_bytes).toBeLessThanOrEqual(20 * MiB);
    const bomb = await load(
      'function decide() { const keep = []; for (let i = 0; ; i++) keep.push("y".repeat(100000) + i); }',
      { memory_bytes: 20 * MiB, timeout_ms: 5000 },
    );
    const small = await bomb.invoke('decide', null);
    expect(failure(small).kind).toBe('memory_limit');
    expect(small.usage.memory_bytes).toBeLessThanOrEqual(20 * MiB);
    const large = await bomb.invoke('decide', null, { memory_bytes: 40 * MiB });
    expect(failure(large).kind).toBe('memory_limit');
    expect(large.usage.memory_bytes).toBeGreaterThan(20 * MiB);
    expect(large.usage.memory_bytes).toBeLessThanOrEqual(40 * MiB);
    await Promise.all([policy.dispose(), bomb.dispose()]);
  });
});

describe('quickjsSandbox: isolation and determinism', () => {
  it('guest code cannot see the host', async () => {
    const policy = await load(
      `function decide() {
        return [typeof process, typeof require, typeof module, typeof globalThis.process,
          typeof setTimeout, typeof setInterval, typeof queueMicrotask, typeof WebAssembly,
          typeof Atomics, typeof performance, typeof std, typeof os, typeof console];
      }`,
    );
    expect(value(await policy.invoke('decide', null))).toEqual(Array(13).fill('undefined'));
    await policy.dispose();
  });

  it('the clock is frozen at the epoch and Math.random throws', async () => {
    const policy = await load(
      `class Sub extends Date {}
      function decide() {
        let random;
        try { Math.random(); } catch (e) { random = String(e); }
        return [Date.now(), new Date().getTime(), new Sub().getTime(), new Date(5).getTime(),
          Date.parse('2024-01-02T00:00:00Z'), Date.UTC(2024, 0, 2), typeof Date(),
          new Date(0) instanceof Date, new Date().constructor === Date, random];
      }`,
    );
    const expected = [
      0,
      0,
      0,
      5,
      1704153600000,
      1704153600000,
      'string',
      true,
      true,
      'Error: Math.random is disabled: policies must be deterministic',
    ];
    expect(value(await policy.invoke('decide', null))).toEqual(expected);
    expect(value(await policy.invoke('decide', null))).toEqual(expected);
    await policy.dispose();
  });

  it("'reuse' keeps top-level state between calls; 'per-call' does not", async () => {
    const code =
      'let n = 0; function decide() { globalThis.seen = (globalThis.seen ?? 0) + 1; return [++n, seen]; }';
    const reuse = await load(code);
    expect(value(await reuse.invoke('decide', null))).toEqual([1, 1]);
    expect(value(await reuse.invoke('decide', null))).toEqual([2, 2]);
    const perCall = quickjsSandbox({ fresh: 'per-call' });
    const fresh = await load(code, {}, perCall);
    expect(fresh.entries).toEqual(['decide']);
    expect(value(await fresh.invoke('decide', null))).toEqual([1, 1]);
    expect(value(await fresh.invoke('decide', null))).toEqual([1, 1]);
    await reuse.dispose();
    await perCall.dispose();
  });

  it("'per-call' starts each call with its own deadline, however long ago the previous call's ran out", async () => {
    const perCall = quickjsSandbox({ fresh: 'per-call' });
    const policy = await load('function decide(n) { return n + 1; }', {}, perCall);
    expect(value(await policy.invoke('decide', 1, { timeout_ms: 50 }))).toBe(2);
    // The previous call's 50 ms deadline is long past when the next call sets up its context.
    const now = performance.now.bind(performance);
    const later = vi.spyOn(performance, 'now').mockImplementation(() => now() + 60_000);
    try {
      expect(value(await policy.invoke('decide', 2, { timeout_ms: 50 }))).toBe(3);
    } finally {
      later.mockRestore();
    }
    await perCall.dispose();
  });

  it("'per-call' contexts reach only their own realm: no write through the guest's functions survives", async () => {
    const perCall = quickjsSandbox({ fresh: 'per-call' });
    // Each probe would see a previous call's write if the frozen Date, Date.now or Math.random
    // were made in the shared template context (its Function.prototype would be shared).
    const code = `function decide() {
      const realm = [Date, Date.now, Math.random].map((f) => Object.getPrototypeOf(f) === Function.prototype);
      const seen = [Date, Date.now, Math.random].map((f) => Object.getPrototypeOf(f).leak ?? 0);
      for (const f of [Date, Date.now, Math.random]) Object.getPrototypeOf(f).leak = 1;
      let thrown;
      try { Math.random(); } catch (e) { thrown = e instanceof Error; }
      return { realm, seen, ctor: Date.constructor === Function, nowProto: Date.now.prototype === undefined, thrown, date: new Date().getTime() };
    }`;
    const policy = await load(code, {}, perCall);
    const expected = {
      realm: [true, true, true],
      seen: [0, 0, 0],
      ctor: true,
      nowProto: true,
      thrown: true,
      date: 0,
    };
    expect(value(await policy.invoke('decide', null))).toEqual(expected);
    expect(value(await policy.invoke('decide', null))).toEqual(expected);
    // The same code in 'reuse' mode does see its own earlier write: the probe can fail.
    const reuse = await load(code);
    expect(value(await reuse.invoke('decide', null))).toEqual(expected);
    expect(value(await reuse.invoke('decide', null))).toMatchObject({ seen: [1, 1, 1] });
    await reuse.dispose();
    await perCall.dispose();
  });

  it("'per-call' recovers after a timeout on a new runtime", async () => {
    const perCall = quickjsSandbox({ fresh: 'per-call' });
    const policy = await load('function decide(x) { while (x) {} return 2; }', {}, perCall);
    expect(failure(await policy.invoke('decide', true, { timeout_ms: 20 })).kind).toBe('timeout');
    expect(value(await policy.invoke('decide', false))).toBe(2);
    await perCall.dispose();
  });

  it("'per-call' calls queued together run one after another", async () => {
    const perCall = quickjsSandbox({ fresh: 'per-call' });
    const policy = await load(ECHO, {}, perCall);
    const results = await Promise.all([1, 2, 3].map((n) => policy.invoke('decide', n)));
    expect(results.map(value)).toEqual([1, 2, 3]);
    await perCall.dispose();
  });

  it("'per-call' recovers after limits too", async () => {
    const perCall = quickjsSandbox({ fresh: 'per-call' });
    const policy = await load(
      'function decide(x) { if (x) { const a = []; while (true) a.push(a.length); } return 1; }',
      { timeout_ms: 5000, memory_bytes: 16 * 1024 * 1024 },
      perCall,
    );
    expect(failure(await policy.invoke('decide', true)).kind).toBe('memory_limit');
    expect(value(await policy.invoke('decide', false))).toBe(1);
    await perCall.dispose();
  });

  it('policies do not share globals', async () => {
    const a = await load('globalThis.shared = "a"; function decide() { return shared; }');
    const b = await load('function decide() { return typeof shared; }');
    expect(value(await a.invoke('decide', null))).toBe('a');
    expect(value(await b.invoke('decide', null))).toBe('undefined');
    await Promise.all([a.dispose(), b.dispose()]);
  });

  it('concurrent calls never interleave, even next to a runaway one', async () => {
    const policy = await load(
      `let current = null;
      function decide(input) {
        if (current !== null) throw new Error('interleaved');
        current = input;
        let s = 0;
        for (let i = 0; i < 20000; i++) s += i;
        if (input === 'spin') while (true) {}
        const out = current;
        current = null;
        return out;
      }`,
    );
    const inputs = Array.from({ length: 20 }, (_, i) => (i === 7 ? 'spin' : i));
    const results = await Promise.all(
      inputs.map((x) => policy.invoke('decide', x, { timeout_ms: 30 })),
    );
    results.forEach((result, i) => {
      if (i === 7) expect(failure(result).kind).toBe('timeout');
      else expect(value(result)).toBe(i);
    });
    await policy.dispose();
  });
});

describe('quickjsSandbox: host-side faults', () => {
  it('a fault inside the module is backend_failure, and the next call starts over', async () => {
    const policy = await load('let n = 0; function decide() { return ++n; }');
    expect(value(await policy.invoke('decide', null))).toBe(1);
    const spy = vi.spyOn(Session.prototype, 'call').mockImplementationOnce(() => {
      throw new Error('Aborted(simulated)');
    });
    const broken = failure(await policy.invoke('decide', null));
    expect(broken).toEqual({ kind: 'backend_failure', message: 'Error: Aborted(simulated)' });
    spy.mockRestore();
    expect(value(await policy.invoke('decide', null))).toBe(1);
    await policy.dispose();
    await policy.dispose();
  });

  it('a reload that fails is reported with its kind', async () => {
    const policy = await load(
      'for (let i = 0; i < 100000; i++) {} function decide(x) { while (x) {} return 1; }',
      { timeout_ms: 1000 },
    );
    expect(failure(await policy.invoke('decide', true, { timeout_ms: 20 })).kind).toBe('timeout');
    const reload = failure(await policy.invoke('decide', false, { max_steps: 1 }));
    expect(reload.kind).toBe('step_limit');
    expect(reload.message).toMatch(/^reloading the policy: used more than 1 steps/);
    expect(value(await policy.invoke('decide', false))).toBe(1);
    await policy.dispose();
  });

  it('a module that does not start or set up is a backend_failure at load', async () => {
    const create = vi.spyOn(Engine, 'create').mockRejectedValueOnce(new Error('no wasm'));
    expect((await loadError(ECHO)).failure).toEqual({
      kind: 'backend_failure',
      message: 'QuickJS did not start: Error: no wasm',
    });
    create.mockRestore();
    const stack = vi
      .spyOn(QuickJSRuntime.prototype, 'setMaxStackSize')
      .mockImplementationOnce(() => {
        throw new Error('aborted');
      });
    expect((await loadError(ECHO)).failure).toEqual({
      kind: 'backend_failure',
      message: 'Error: aborted',
    });
    stack.mockRestore();
  });

  it('a failure while discovering entries fails the load', async () => {
    const discover = vi
      .spyOn(Session.prototype as unknown as { callControl: () => unknown }, 'callControl')
      .mockReturnValueOnce({ ok: false, failure: { kind: 'timeout', message: 'late' }, polls: 0 });
    expect((await loadError(ECHO)).failure).toEqual({ kind: 'timeout', message: 'late' });
    discover.mockRestore();
  });

  it("a host error inside a call is a backend_failure, a host stack overflow the guest's stack_overflow", async () => {
    const policy = await load(ECHO);
    const call = vi.spyOn(QuickJSContext.prototype, 'callFunction').mockImplementationOnce(() => {
      throw new RangeError('Maximum call stack size exceeded');
    });
    // The host's stack running out inside the module is the guest's deep recursion.
    expect(failure(await policy.invoke('decide', 1))).toEqual({
      kind: 'stack_overflow',
      message: 'maximum call stack size exceeded',
    });
    call.mockImplementationOnce(() => {
      throw new TypeError('handle used after free');
    });
    expect(failure(await policy.invoke('decide', 1))).toEqual({
      kind: 'backend_failure',
      message: 'TypeError: handle used after free',
    });
    call.mockRestore();
    expect(value(await policy.invoke('decide', 2))).toBe(2);
    await policy.dispose();
  });

  it("a snapshot that cannot be taken is a backend_failure, at load and after a fault ('per-call')", async () => {
    const perCall = quickjsSandbox({ fresh: 'per-call' });
    const take = vi.spyOn(MemorySnapshot, 'take').mockImplementationOnce(() => {
      throw new Error('no snapshot');
    });
    const refused = await perCall
      .load({ name: 'p', language: 'javascript', code: ECHO, filename: 'p.js' })
      .catch((error: unknown) => error);
    expect(SandboxLoadError.isInstance(refused)).toBe(true);
    expect((refused as SandboxLoadError).failure).toEqual({
      kind: 'backend_failure',
      message: 'Error: no snapshot',
    });
    const policy = await load(ECHO, {}, perCall);
    // A fault drops the module; the next call loads on a new one and its snapshot fails too.
    const call = vi.spyOn(QuickJSContext.prototype, 'callFunction').mockImplementationOnce(() => {
      throw new Error('Aborted()');
    });
    expect(failure(await policy.invoke('decide', 1)).kind).toBe('backend_failure');
    call.mockRestore();
    take.mockImplementationOnce(() => {
      throw new Error('no snapshot');
    });
    expect(failure(await policy.invoke('decide', 2))).toEqual({
      kind: 'backend_failure',
      message: 'Error: no snapshot',
    });
    take.mockRestore();
    expect(value(await policy.invoke('decide', 3))).toBe(3);
    await perCall.dispose();
  });

  it("'per-call' puts back memory a call changed: live zeroed buffers, prototypes, big allocations, the stack", async () => {
    const perCall = quickjsSandbox({ fresh: 'per-call' });
    // A zero-filled buffer allocated at load is live memory that looks like free memory: the
    // restore must not skip it. The call also grows the heap by MiBs and recurses deeply.
    const code = `const zeros = new Uint8Array(2 * 1024 * 1024);
      function depth(n) { return n === 0 ? 0 : 1 + depth(n - 1); }
      function decide(input) {
        const seen = { zeros: zeros[123456] + zeros[zeros.length - 1], proto: Array.prototype.leak ?? null, g: globalThis.mark ?? null };
        zeros[123456] = 7; zeros[zeros.length - 1] = 9;
        Array.prototype.leak = input; globalThis.mark = input;
        const big = []; for (let i = 0; i < input.grow; i++) big.push('x'.repeat(1024) + i);
        return { seen, depth: depth(input.depth), big: big.length };
      }`;
    const policy = await load(code, { memory_bytes: 64 * 1024 * 1024 }, perCall);
    const fresh = { zeros: 0, proto: null, g: null };
    for (const [grow, depth] of [
      [4000, 500],
      [10, 10],
      [0, 900],
    ] as const) {
      const result = value(await policy.invoke('decide', { grow, depth }));
      expect(result).toEqual({ seen: fresh, depth, big: grow });
    }
    await perCall.dispose();
  });

  it('QuickJS is compiled once per process and every engine instantiates that module', async () => {
    // Found from the package's exports: if the .wasm could not be located, every engine would
    // quietly compile its own again (about 3 ms more per load).
    const first = await compiledQuickJS();
    expect(first).toBeDefined();
    expect(await compiledQuickJS()).toBe(first);
    const engine = await Engine.create(512);
    const session = Session.open(engine, ECHO, ['decide'], resolveLimits(), 'p.js', 256 * 1024);
    if (!(session instanceof Session)) throw new Error(session.message);
    expect(session.call('decide', () => '7', resolveLimits())).toMatchObject({
      ok: true,
      json: '7',
    });
    session.dispose();
  });

  it('a snapshot leaves out the C stack and copies little more than the live heap', async () => {
    const engine = await Engine.create(512, { snapshots: true });
    expect(engine.stackGap).toBeDefined();
    const gap = engine.stackGap!;
    expect(gap.end - gap.start).toBeGreaterThanOrEqual(1024 * 1024);
    const session = Session.open(engine, ECHO, ['decide'], resolveLimits(), 'p.js', 256 * 1024);
    if (!(session instanceof Session)) throw new Error(session.message);
    const copied = session.snapshotAfterLoad();
    // The stack alone is megabytes; what is copied is static data plus QuickJS's heap.
    expect(copied).toBeLessThan(gap.end - gap.start);
    expect(copied).toBeGreaterThan(0);
    const result = session.call('decide', () => '41', resolveLimits());
    expect(result).toMatchObject({ ok: true, json: '41' });
    session.dispose();
  });
});

describe('quickjsSandbox: guests that loop in native code or leave work behind', () => {
  const MiB = 1024 * 1024;
  // QuickJS's generic array loops poll no interrupt: on an array-like or a sparse array these ran
  // past any deadline (a test that hangs here has lost the guard).
  const NATIVE_LOOPS = `
    const huge = { length: 2 ** 53 - 1 };
    function sparse() { const a = []; a.length = 2 ** 32 - 1; return a; }
    function decide(which) {
      switch (which) {
        case 'lastIndexOf': return Array.prototype.lastIndexOf.call(huge, 1);
        case 'indexOf': return Array.prototype.indexOf.call(huge, 1);
        case 'includes': return Array.prototype.includes.call(huge, 1);
        case 'join': return Array.prototype.join.call(huge, ',').length;
        case 'every': return Array.prototype.every.call(huge, () => true);
        case 'slice': return Array.prototype.slice.call(huge, 0).length;
        case 'sparse-lastIndexOf': return sparse().lastIndexOf(1);
        case 'from': return Array.from(huge).length;
        case 'concat': return [].concat({ length: 2 ** 40, [Symbol.isConcatSpreadable]: true }).length;
        case 'normal': return [3, 1, 2].indexOf(2) + Array.from('ab').length + [1].concat([2]).length;
      }
    }`;

  it('array methods refuse absurd lengths with a RangeError at once', async () => {
    for (const fresh of ['reuse', 'per-call'] as const) {
      const on = quickjsSandbox({ fresh });
      const policy = await load(NATIVE_LOOPS, undefined, on);
      for (const which of [
        'lastIndexOf',
        'indexOf',
        'includes',
        'join',
        'every',
        'slice',
        'sparse-lastIndexOf',
        'from',
        'concat',
      ]) {
        const f = failure(await policy.invoke('decide', which, { timeout_ms: 60_000 }));
        expect([which, f.kind]).toEqual([which, 'runtime_error']);
        expect(f.message).toMatch(/^RangeError: array-like length \d+ is over the sandbox bound/);
      }
      expect(value(await policy.invoke('decide', 'normal'))).toBe(2 + 2 + 2);
      await on.dispose();
    }
  });

  it('promise jobs a call leaves behind never pile up: the runtime is reloaded instead', async () => {
    const policy = await load(
      `let calls = 0;
      function decide() {
        calls++;
        for (let i = 0; i < 2000; i++) Promise.resolve(new Array(100).fill(i)).then((a) => a);
        return calls;
      }
      function quiet() { calls++; return calls; }`,
      { memory_bytes: 16 * MiB, timeout_ms: 5000 },
    );
    // Without the reload, 300 × 2 000 jobs holding arrays exhausted the 16 MiB module.
    for (let i = 0; i < 300; i++) {
      expect(value(await policy.invoke('decide', null))).toBe(1);
    }
    // A call that leaves nothing pending keeps the runtime (and its state) as 'reuse' promises.
    expect(value(await policy.invoke('quiet', null))).toBe(1);
    expect(value(await policy.invoke('quiet', null))).toBe(2);
    await policy.dispose();
  });

  it('a first call that fills the memory with promise jobs is memory_limit; the next call works', async () => {
    const policy = await load(
      `function decide() { for (let i = 0; i < 1e5; i++) Promise.resolve(i).then((x) => x); return 1; }
      function ok(n) { return { ok: n }; }`,
      { memory_bytes: 32 * MiB },
    );
    expect(failure(await policy.invoke('decide', null)).kind).toBe('memory_limit');
    expect(value(await policy.invoke('ok', 1))).toEqual({ ok: 1 });
    expect(value(await policy.invoke('ok', 2))).toEqual({ ok: 2 });
    await policy.dispose();
  });

  it("QuickJS's own parsers overflowing their recursion is stack_overflow", async () => {
    const policy = await load(
      'function decide() { return JSON.parse("[".repeat(1e5) + "]".repeat(1e5)).length; }',
    );
    expect(failure(await policy.invoke('decide', null)).kind).toBe('stack_overflow');
    await policy.dispose();
  });

  it('stack-trace hooks are fixed before the policy runs', async () => {
    const policy = await load(
      `function decide() {
        try { Error.prepareStackTrace = () => { while (true) {} }; } catch (e) { return String(e.name); }
        return 'assigned';
      }`,
    );
    expect(value(await policy.invoke('decide', null))).toBe('TypeError');
    await policy.dispose();
  });
});
