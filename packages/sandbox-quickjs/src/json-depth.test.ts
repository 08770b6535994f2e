import type { InvokeResult, JsonValue, LoadedPolicy } from '@wardwright/core';
import { afterAll, describe, expect, it } from 'vitest';
import { quickjsSandbox } from './index.ts';
import { MAX_JSON_DEPTH } from './limits.ts';

// QuickJS's JSON.stringify / JSON.parse recurse on the host's stack without tripping QuickJS's own
// stack limit: about 5 000 levels used to throw a RangeError in the HOST and corrupt the runtime
// (the next dispose aborted with `list_empty(&rt->gc_obj_list)`).

const backend = quickjsSandbox();
const perCall = quickjsSandbox({ fresh: 'per-call' });
afterAll(() => Promise.all([backend.dispose(), perCall.dispose()]));

const load = (code: string, on = backend): Promise<LoadedPolicy> =>
  // Deadlines are final: building and serialising 20 000 levels needs room on a busy machine.
  on.load({ name: 'deep', language: 'javascript', code }, { timeout_ms: 5000 });

const NEST = `function nest(n) { let v = 0; for (let i = 0; i < n; i++) v = [v]; return v; }
function decide(input) { return typeof input === 'number' ? nest(input) : input; }`;

function nested(depth: number): JsonValue {
  let v: JsonValue = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

function depthOf(value: JsonValue): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + Math.max(0, ...children.map(depthOf));
}

const tooDeep = {
  ok: false,
  failure: {
    kind: 'invalid_output',
    message: `result is nested deeper than ${MAX_JSON_DEPTH} levels`,
  },
};

function expectTooDeep(result: InvokeResult): void {
  expect(result).toMatchObject(tooDeep);
}

describe('deep JSON across the guest boundary', () => {
  it.each([
    ['reuse', backend],
    ['per-call', perCall],
  ])(
    'a 20 000-deep result is invalid_output decided in the guest, and the next call works (%s)',
    async (_, on) => {
      const policy = await load(NEST, on);
      expectTooDeep(await policy.invoke('decide', 20_000));
      expectTooDeep(await policy.invoke('decide', 20_000));
      expect(await policy.invoke('decide', { ok: true })).toMatchObject({
        ok: true,
        value: { ok: true },
      });
      await policy.dispose();
    },
  );

  it(`exactly ${MAX_JSON_DEPTH} levels pass, one more does not`, async () => {
    const policy = await load(NEST);
    const result = await policy.invoke('decide', MAX_JSON_DEPTH);
    expect(result).toMatchObject({ ok: true, value: nested(MAX_JSON_DEPTH) });
    expectTooDeep(await policy.invoke('decide', MAX_JSON_DEPTH + 1));
    await policy.dispose();
  });

  it('counts objects, values produced by toJSON, and only the current path', async () => {
    const policy = await load(`function decide(kind) {
      const n = ${MAX_JSON_DEPTH + 1};
      if (kind === 'objects') { let v = {}; for (let i = 0; i < n; i++) v = { a: v }; return v; }
      if (kind === 'toJSON') {
        return { toJSON() { let v = 0; for (let i = 0; i < n; i++) v = [v]; return v; } };
      }
      // Wide, shallow and shared: a thousand siblings of depth 3 under one root.
      const leaf = [[1]];
      return Array.from({ length: n }, () => leaf);
    }`);
    expectTooDeep(await policy.invoke('decide', 'objects'));
    expectTooDeep(await policy.invoke('decide', 'toJSON'));
    const wide = await policy.invoke('decide', 'wide');
    expect(wide.ok && depthOf(wide.value)).toBe(3);
    await policy.dispose();
  });

  it('a policy that replaces Array.prototype methods does not disturb the depth count or discovery', async () => {
    const policy = await load(`
      Array.prototype.push = function () { throw new Error('push'); };
      Array.prototype.pop = function () { throw new Error('pop'); };
      function decide(n) { let v = 1; for (let i = 0; i < n; i++) v = { a: v }; return v; }`);
    expect(policy.entries).toEqual(['decide']);
    expect(await policy.invoke('decide', 3)).toMatchObject({
      ok: true,
      value: { a: { a: { a: 1 } } },
    });
    expectTooDeep(await policy.invoke('decide', MAX_JSON_DEPTH + 1));
    await policy.dispose();
  });

  it('the failure message reaches the host intact even when the guest breaks its own JSON.stringify', async () => {
    // QuickJS's JSON.stringify stores into an internal array, so an index setter on
    // Array.prototype makes every stringify throw; the host must not need one to read the message.
    const policy = await load(`
      Object.defineProperty(Array.prototype, '0', { set() { throw new Error('index setter'); } });
      function decide() { return { a: 1 }; }`);
    expect(await policy.invoke('decide', null)).toMatchObject({
      ok: false,
      failure: { kind: 'invalid_output', message: 'result is not JSON: index setter' },
    });
    await policy.dispose();
  });

  it('other unserialisable results keep their own messages', async () => {
    const policy = await load('function decide() { const a = []; a.push(a); return a; }');
    const result = await policy.invoke('decide', null);
    expect(result).toMatchObject({ ok: false, failure: { kind: 'invalid_output' } });
    expect(!result.ok && result.failure.message).toMatch(/^result is not JSON: /);
    await policy.dispose();
  });

  it('a 2 000-deep input is input_limit before the guest parses it; the next call works', async () => {
    const policy = await load(NEST);
    expect(await policy.invoke('decide', nested(2000))).toMatchObject({
      ok: false,
      failure: {
        kind: 'input_limit',
        message: `input is nested deeper than ${MAX_JSON_DEPTH} levels (or is cyclic)`,
      },
    });
    expect(await policy.invoke('decide', nested(MAX_JSON_DEPTH))).toMatchObject({
      ok: true,
      value: nested(MAX_JSON_DEPTH),
    });
    // Brackets inside strings are not nesting.
    const text = `"\\${'['.repeat(3 * MAX_JSON_DEPTH)}`;
    expect(await policy.invoke('decide', { text })).toMatchObject({ ok: true, value: { text } });
    await policy.dispose();
  });
});
