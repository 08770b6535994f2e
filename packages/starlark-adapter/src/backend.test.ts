import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type JsonValue, SandboxLoadError, trustedBackend } from '@wardwright/core';
import { describe, expect, it } from 'vitest';
import { starlarkSandbox } from './backend.ts';

const backend = starlarkSandbox();
const load = (code: string, opts = {}) =>
  starlarkSandbox(opts).load(
    { name: 'test', language: 'starlark', code, filename: 'policy.star' },
    // Deadlines are final: calls that test something else than time get room for a busy machine.
    { timeout_ms: 5000 },
  );

describe('starlarkSandbox', () => {
  it('declares its capabilities', () => {
    expect(backend.specificationVersion).toBe('v1');
    expect(backend.language).toBe('starlark');
    expect(backend.capabilities).toEqual({
      isolated: true,
      wallClock: true,
      steps: 'exact',
      memory: 'soft',
      cpuTime: false,
      hardKill: false,
      execution: 'inline',
      containedBy: 'worker',
      availability: false,
    });
  });

  it('lists top-level functions as entries and converts JSON both ways', async () => {
    const p = await load(
      'LIMIT = 3\ndef helper(x):\n  return x\ndef decide(input):\n  return {"n": input["n"] + 1, "f": input["f"] * 2, "l": input["l"][::-1], "t": (1, None), "s": struct(ok = True)}\n',
    );
    expect([...p.entries].sort()).toEqual(['decide', 'helper']);
    const r = await p.invoke('decide', { n: 1, f: 1.5, l: [1, 'a'] });
    expect(r).toMatchObject({
      ok: true,
      value: { n: 2, f: 3, l: ['a', 1], t: [1, null], s: { ok: true } },
    });
    expect(r.usage.steps).toBe(3);
    expect(r.usage.memory_bytes).toBeGreaterThan(0);
  });

  it('reports non-JSON results as invalid_output naming type and path', async () => {
    const p = await load(
      'def decide(input):\n  return {"a": [1, range(3)]}\ndef big(input):\n  return {"x": 1 << 60}\ndef keys(input):\n  return {1: 2}\n',
    );
    expect(await p.invoke('decide', null)).toMatchObject({
      ok: false,
      failure: {
        kind: 'invalid_output',
        message: 'result contains a range at $.a[1], which is not JSON',
      },
    });
    expect(await p.invoke('big', null)).toMatchObject({ failure: { kind: 'invalid_output' } });
    expect(await p.invoke('keys', null)).toMatchObject({ failure: { kind: 'invalid_output' } });
  });

  it('enforces input and output sizes and missing entries', async () => {
    const p = await load('def decide(input):\n  return "x" * 100\n');
    expect(await p.invoke('decide', 'y'.repeat(50), { max_input_bytes: 10 })).toMatchObject({
      failure: { kind: 'input_limit' },
    });
    expect(await p.invoke('decide', null, { max_output_bytes: 10 })).toMatchObject({
      failure: { kind: 'output_limit' },
    });
    expect(await p.invoke('nope', null)).toMatchObject({ failure: { kind: 'missing_entry' } });
  });

  it('rejects a policy that does not compile, with the location', async () => {
    const e = await load('def decide(input):\n  return undefined_name\n').catch((x: unknown) => x);
    expect(SandboxLoadError.isInstance(e)).toBe(true);
    expect((e as SandboxLoadError).failure).toMatchObject({
      kind: 'compile_error',
      location: { filename: 'policy.star', line: 2, column: 10 },
    });
    const s = await load('def decide(input)\n  pass\n').catch((x: unknown) => x);
    expect((s as SandboxLoadError).failure.kind).toBe('compile_error');
    const other = await backend
      .load({ name: 'js', language: 'javascript', code: '' })
      .catch((x: unknown) => x);
    expect(SandboxLoadError.isInstance(other)).toBe(true);
  });

  it('maps runtime failures and limits onto failure kinds with locations', async () => {
    const p = await load(
      'def decide(input):\n  return input["missing"]\ndef spin(input):\n  while True:\n    pass\ndef grow(input):\n  x = [0]\n  for i in range(100):\n    x = x + x\ndef rec(input):\n  return rec(input)\n',
      { dialect: { while: true, recursion: true } },
    );
    const r = await p.invoke('decide', {});
    expect(r).toMatchObject({
      ok: false,
      failure: { kind: 'runtime_error', location: { filename: 'policy.star', line: 2, column: 3 } },
    });
    const s = await p.invoke('spin', null, { max_steps: 10_000 });
    expect(s).toMatchObject({ failure: { kind: 'step_limit' }, usage: { steps: 10_000 } });
    expect(await p.invoke('grow', null, { memory_bytes: 16 * 1024 * 1024 })).toMatchObject({
      failure: { kind: 'memory_limit' },
    });
    expect(await p.invoke('rec', null)).toMatchObject({ failure: { kind: 'stack_overflow' } });
    expect(await p.invoke('spin', null, { timeout_ms: 10 })).toMatchObject({
      failure: { kind: 'timeout' },
    });
  });

  it('freezes module globals, so calls cannot leak state into each other', async () => {
    const p = await load(
      'SEEN = []\ndef decide(input):\n  SEEN.append(input)\n  return len(SEEN)\n',
    );
    const r = await p.invoke('decide', 1);
    expect(r).toMatchObject({ ok: false, failure: { kind: 'runtime_error' } });
    expect(r.ok ? '' : r.failure.message).toMatch(/frozen/);
  });

  it('gives policies no way to reach the host', async () => {
    for (const name of ['process', 'require', 'globalThis', 'load', 'eval', 'open']) {
      const e = await load(`def decide(input):\n  return ${name}\n`).catch((x: unknown) => x);
      expect(SandboxLoadError.isInstance(e)).toBe(true);
    }
    const p = await load(
      'def decide(input):\n  return [hasattr(input, "constructor"), dir(input)[:2]]\n',
    );
    expect(await p.invoke('decide', {})).toMatchObject({
      ok: true,
      value: [false, ['clear', 'get']],
    });
  });

  it('stops converting a result as soon as it must exceed max_output_bytes', async () => {
    // Found by the conformance kit: 10^8 elements built by sharing one list took the host
    // seconds (and, one level deeper, all its memory) to expand before output_limit.
    const p = await load(
      'def decide(input):\n  a = [0] * 100\n  b = [a] * 100\n  c = [b] * 100\n  d = [c] * 100\n  return [d] * 100\n',
    );
    const start = performance.now();
    expect(await p.invoke('decide', null)).toMatchObject({ failure: { kind: 'output_limit' } });
    expect(performance.now() - start).toBeLessThan(1000);
    // Exactly at the limit still passes: the running count is a lower bound of the JSON size.
    const q = await load('def decide(input):\n  return {"k": ["x" * 10, 1, None, True]}\n');
    const exact = JSON.stringify({ k: ['x'.repeat(10), 1, null, true] }).length;
    expect(await q.invoke('decide', null, { max_output_bytes: exact })).toMatchObject({ ok: true });
    expect(await q.invoke('decide', null, { max_output_bytes: exact - 1 })).toMatchObject({
      failure: { kind: 'output_limit' },
    });
  });

  it('after dispose, calls fail with backend_failure, as on every backend', async () => {
    const b = starlarkSandbox({ name: 'disposable' });
    const p = await b.load({
      name: 'x',
      language: 'starlark',
      code: 'def decide(input):\n  return 1\n',
    });
    await b.dispose();
    expect(await p.invoke('decide', null)).toMatchObject({
      failure: { kind: 'backend_failure', message: 'the policy is disposed' },
    });
  });
});

const examples = fileURLToPath(new URL('../../../examples/policies/', import.meta.url));

describe('Starlark twins of the example policies', () => {
  const message = (content: string) => ({ role: 'user', content });
  const privateInputs: JsonValue[] = [
    {
      request: { messages: [message('hello')] },
      last_user_message: 'hello',
      caller: { tenant_id: 'acme' },
    },
    {
      request: { messages: [message('classification: confidential\nhi')] },
      last_user_message: 'hi',
      caller: { tenant_id: 'acme' },
    },
    {
      request: { messages: [message('Classification: PUBLIC')] },
      last_user_message: 'x',
      caller: { tenant_id: 'acme' },
    },
    {
      request: { messages: [message('x')] },
      last_user_message: '  [PRIVATE] tell me',
      caller: { tenant_id: 'acme-legal' },
    },
    {
      request: { messages: [message('classification: secret')] },
      last_user_message: 'x',
      caller: { tenant_id: 'acme' },
    },
  ];
  const reviewInputs: JsonValue[] = [
    { last_user_message: 'looks good', request_text: '', caller: { consuming_user_id: 'maria' } },
    {
      last_user_message: '/approve',
      request_text: 'change-author: kenji',
      caller: { consuming_user_id: 'maria' },
    },
    {
      last_user_message: ' /APPROVE now',
      request_text: 'change-author: maria',
      caller: { consuming_user_id: 'maria' },
    },
    { last_user_message: '/approve', request_text: '', caller: { consuming_user_id: 'mallory' } },
    { last_user_message: '/approve', request_text: '', caller: {} },
    { last_user_message: '/approved', request_text: '', caller: { consuming_user_id: 'maria' } },
  ];

  // The script input the engine builds for each example scenario's request (see
  // docs/engine/artifact.md): the request, its text as `role\ncontent` lines, the newest user
  // message and the caller.
  const scenarioInputs = (dir: string): JsonValue[] => {
    const root = fileURLToPath(new URL(`../../../examples/scenarios/${dir}/`, import.meta.url));
    return readdirSync(root)
      .filter((f) => f.endsWith('.json'))
      .map((f) => {
        const { fixture } = JSON.parse(readFileSync(`${root}${f}`, 'utf8')) as {
          fixture: {
            caller: JsonValue;
            request: { messages: { role: string; content: string }[] };
          };
        };
        const messages = fixture.request.messages;
        const users = messages.filter((m) => m.role === 'user');
        return {
          request: fixture.request as unknown as JsonValue,
          request_text: messages.map((m) => `${m.role}\n${m.content}`).join('\n'),
          last_user_message: users[users.length - 1]?.content ?? '',
          caller: fixture.caller,
        };
      });
  };

  for (const [base, inputs] of [
    ['private-context', [...privateInputs, ...scenarioInputs('private-context')]],
    ['review-approver', [...reviewInputs, ...scenarioInputs('review-flow')]],
  ] as const) {
    it(`${base}.star decides like ${base}.js`, async () => {
      const js = await trustedBackend().load({
        name: base,
        language: 'javascript',
        code: readFileSync(`${examples}${base}.js`, 'utf8'),
      });
      const star = await starlarkSandbox().load({
        name: base,
        language: 'starlark',
        code: readFileSync(`${examples}${base}.star`, 'utf8'),
      });
      for (const input of inputs) {
        const a = await js.invoke('decide', input);
        const b = await star.invoke('decide', input);
        expect(b.ok).toBe(a.ok);
        if (a.ok && b.ok) expect(b.value).toEqual(a.value);
        if (!a.ok && !b.ok) expect(b.failure.kind).toBe(a.failure.kind);
      }
    });
  }
});
