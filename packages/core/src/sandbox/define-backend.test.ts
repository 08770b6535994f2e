import { describe, expect, it, vi } from 'vitest';
import { type JsonValue, SandboxLoadError } from './contract.ts';
import {
  defineSandboxBackend,
  type GuestCall,
  type GuestOutcome,
  type SandboxBackendDefinition,
} from './define-backend.ts';

/** A backend whose guest answers with whatever `answer` returns for each call. */
function scripted(
  answer: (call: GuestCall) => GuestOutcome | Promise<GuestOutcome>,
  more: Partial<SandboxBackendDefinition> = {},
) {
  const calls: GuestCall[] = [];
  let disposals = 0;
  const backend = defineSandboxBackend({
    name: 'scripted',
    language: 'javascript',
    capabilities: {
      isolated: true,
      wallClock: true,
      steps: 'none',
      memory: 'hard',
      cpuTime: false,
      hardKill: true,
      containedBy: 'worker',
    },
    async load() {
      return {
        entries: ['decide'],
        call: (call) => {
          calls.push(call);
          return answer(call);
        },
        dispose: () => {
          disposals++;
        },
      };
    },
    ...more,
  });
  const load = () => backend.load({ name: 'p', language: 'javascript', code: '' });
  return { backend, load, calls, disposals: () => disposals };
}

const echo = (call: GuestCall): GuestOutcome => ({ ok: true, json: call.json });

describe('defineSandboxBackend: deadlines and memory limits are final', () => {
  it('turns an answer that came after the deadline into a timeout', async () => {
    const { load } = scripted(() => ({ ok: true, json: '1', usage: { guest_ms: 80 } }));
    const policy = await load();
    expect(await policy.invoke('decide', null, { timeout_ms: 50 })).toMatchObject({
      ok: false,
      failure: { kind: 'timeout', message: 'ran over the 50 ms limit' },
    });
    expect(await policy.invoke('decide', null, { timeout_ms: 80 })).toMatchObject({
      ok: true,
      value: 1,
    });
  });

  it('measures the guest itself when the backend does not say', async () => {
    const { load } = scripted(async () => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      return { ok: true, json: '"late"' };
    });
    const policy = await load();
    const result = await policy.invoke('decide', null, { timeout_ms: 5 });
    expect(result).toMatchObject({ ok: false, failure: { kind: 'timeout' } });
    expect(result.usage.wall_ms).toBeGreaterThan(5);
  });

  it('replaces late answers and guest errors, keeps limits the guest already hit', async () => {
    const outcomes: GuestOutcome[] = [
      { ok: false, failure: { kind: 'runtime_error', message: 'x' }, usage: { guest_ms: 99 } },
      { ok: false, failure: { kind: 'memory_limit', message: 'oom' }, usage: { guest_ms: 99 } },
      {
        ok: false,
        failure: { kind: 'backend_failure', message: 'crash' },
        usage: { guest_ms: 99 },
      },
    ];
    const { load } = scripted(() => outcomes.shift()!);
    const policy = await load();
    const kinds = [];
    for (let i = 0; i < 3; i++) {
      const r = await policy.invoke('decide', null, { timeout_ms: 10 });
      kinds.push(r.ok ? 'ok' : r.failure.kind);
    }
    expect(kinds).toEqual(['timeout', 'memory_limit', 'backend_failure']);
  });

  it('turns an answer that used more memory than the ceiling into memory_limit', async () => {
    const { load } = scripted(() => ({ ok: true, json: '2', usage: { memory_bytes: 5000 } }));
    const policy = await load();
    expect(await policy.invoke('decide', null, { memory_bytes: 4096 })).toMatchObject({
      ok: false,
      failure: {
        kind: 'memory_limit',
        message: 'used 5000 bytes, over the 4096-byte memory limit',
      },
      usage: { memory_bytes: 5000 },
    });
    expect(await policy.invoke('decide', null, { memory_bytes: 5000 })).toMatchObject({
      ok: true,
    });
    const fixed = scripted(() => ({ ok: true, json: '2', usage: { memory_bytes: 5000 } }), {
      memoryCeiling: (limits) => limits.memory_bytes + 1000,
    });
    expect(await (await fixed.load()).invoke('decide', null, { memory_bytes: 4096 })).toMatchObject(
      {
        ok: true,
      },
    );
  });
});

describe('defineSandboxBackend: input', () => {
  it('refuses oversized input without serialising it or calling the guest', async () => {
    const { load, calls } = scripted(echo);
    const policy = await load();
    const huge = 'x'.repeat(50 * 1024 * 1024);
    expect(await policy.invoke('decide', { huge })).toMatchObject({
      ok: false,
      failure: { kind: 'input_limit', message: 'input is larger than 1048576 bytes' },
    });
    // Many small values: the walk stops at the limit instead of visiting them all.
    expect(await policy.invoke('decide', new Array(5_000_000).fill(0))).toMatchObject({
      failure: { kind: 'input_limit' },
    });
    expect(calls).toHaveLength(0);
  });

  it('counts UTF-8 bytes when the bounds straddle the limit', async () => {
    const { load } = scripted(echo);
    const policy = await load();
    // 8 characters, 24 bytes of UTF-8, 26 with the quotes.
    expect(await policy.invoke('decide', '€€€€€€€€', { max_input_bytes: 26 })).toMatchObject({
      ok: true,
    });
    expect(await policy.invoke('decide', '€€€€€€€€', { max_input_bytes: 25 })).toMatchObject({
      failure: { kind: 'input_limit' },
    });
  });

  it('gives every input problem as input_limit, naming what and where', async () => {
    const { load, calls } = scripted(echo);
    const policy = await load();
    const cyclic: Record<string, unknown> = {};
    cyclic.me = cyclic;
    const problems = [
      [cyclic, 'input is nested deeper than 1000 levels (or is cyclic)'],
      [{ n: 10n }, 'input is not JSON: a bigint at $.n'],
      [{ list: [1, Number.NaN] }, 'input is not JSON: the number NaN at $.list[1]'],
      [new Map(), 'input is not JSON: a Map at $'],
    ] as const;
    for (const [input, message] of problems) {
      expect(await policy.invoke('decide', input as unknown as JsonValue)).toMatchObject({
        ok: false,
        failure: { kind: 'input_limit', message },
      });
    }
    expect(calls).toHaveLength(0);
  });

  it('skips undefined properties as JSON does, and serialises the input at most once', async () => {
    const input = { a: 1, b: undefined } as unknown as JsonValue;
    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      const { load } = scripted((call) => ({ ok: true, json: `[${call.json},${call.json}]` }));
      const policy = await load();
      expect(await policy.invoke('decide', input)).toMatchObject({
        ok: true,
        value: [{ a: 1 }, { a: 1 }],
      });
      expect(stringify.mock.calls.filter(([value]) => value === input)).toHaveLength(1);
    } finally {
      stringify.mockRestore();
    }
  });
});

describe('defineSandboxBackend: output', () => {
  it('checks the size of JSON text and of built values', async () => {
    const { load } = scripted((call) =>
      call.input === 'text'
        ? { ok: true, json: '"0123456789"' }
        : { ok: true, value: '0123456789' },
    );
    const policy = await load();
    for (const input of ['text', 'value']) {
      expect(await policy.invoke('decide', input, { max_output_bytes: 12 })).toMatchObject({
        ok: true,
      });
      expect(await policy.invoke('decide', input, { max_output_bytes: 11 })).toMatchObject({
        failure: { kind: 'output_limit', message: 'result is larger than 11 bytes' },
      });
    }
  });

  it('refuses built values that are not JSON, and text that does not parse', async () => {
    const answers: GuestOutcome[] = [
      { ok: true, value: { score: Number.NaN } as unknown as JsonValue },
      { ok: true, value: { when: new Date(0) } as unknown as JsonValue },
      { ok: true, json: '{"a":' },
      { ok: true, json: 42 as unknown as string },
    ];
    const { load } = scripted(() => answers.shift()!);
    const policy = await load();
    const results = [];
    for (let i = 0; i < 4; i++) {
      const r = await policy.invoke('decide', null);
      results.push(r.ok ? 'ok' : `${r.failure.kind}: ${r.failure.message}`);
    }
    expect(results).toEqual([
      'invalid_output: result is not JSON: the number NaN at $.score',
      'invalid_output: result is not JSON: a Date at $.when',
      'backend_failure: the backend answered text that is not JSON',
      'backend_failure: the backend answered something other than JSON text',
    ]);
  });

  it('sanitises failure messages and reports a throwing guest as backend_failure', async () => {
    const answers: (() => GuestOutcome)[] = [
      () => ({ ok: false, failure: { kind: 'runtime_error', message: 'line one\nline two' } }),
      () => {
        throw new TypeError('bug');
      },
    ];
    const { load } = scripted(() => answers.shift()!());
    const policy = await load();
    expect(await policy.invoke('decide', null)).toMatchObject({
      failure: { kind: 'runtime_error', message: 'line one' },
    });
    expect(await policy.invoke('decide', null)).toMatchObject({
      failure: { kind: 'backend_failure', message: 'the backend threw: TypeError: bug' },
    });
  });
});

describe('defineSandboxBackend: policies and loading', () => {
  it('answers unknown entries and disposed policies without calling the guest', async () => {
    const { backend, load, calls, disposals } = scripted(echo);
    const policy = await load();
    expect(policy.entries).toEqual(['decide']);
    expect(await policy.invoke('other', null)).toMatchObject({
      failure: { kind: 'missing_entry', message: 'the policy defines no function other' },
    });
    await backend.dispose();
    await policy.dispose();
    expect(disposals()).toBe(1);
    expect(await policy.invoke('decide', null)).toMatchObject({
      failure: { kind: 'backend_failure', message: 'the policy is disposed' },
    });
    expect(calls).toHaveLength(0);
    await expect(load()).rejects.toThrow(/backend is disposed/);
  });

  it('types load errors: other languages, plain throws, unsanitised messages', async () => {
    const kinds: unknown[] = [];
    const plain = scripted(echo, {
      load: async () => {
        throw new Error('native module missing');
      },
    });
    const typed = scripted(echo, {
      load: async (source) => {
        throw new SandboxLoadError(source.name, {
          kind: 'compile_error',
          message: 'Unexpected token\n  at line 2',
        });
      },
    });
    for (const attempt of [
      () => plain.backend.load({ name: 'p', language: 'starlark', code: '' }),
      () => plain.load(),
      () => typed.load(),
    ]) {
      try {
        await attempt();
      } catch (error) {
        kinds.push(SandboxLoadError.isInstance(error) ? error.failure : String(error));
      }
    }
    expect(kinds).toEqual([
      { kind: 'compile_error', message: 'the scripted backend runs javascript, not starlark' },
      {
        kind: 'backend_failure',
        message: 'the backend failed to load the policy: Error: native module missing',
      },
      { kind: 'compile_error', message: 'Unexpected token' },
    ]);
  });

  it('derives availability from the execution mode and what contains the backend', () => {
    const caps = (
      execution: 'inline' | 'worker' | 'process',
      containedBy: 'worker' | 'process' | 'none',
    ) =>
      defineSandboxBackend({
        name: 'x',
        language: 'javascript',
        capabilities: {
          isolated: true,
          wallClock: true,
          steps: 'none',
          memory: 'hard',
          cpuTime: false,
          hardKill: true,
          containedBy,
          execution,
        },
        load: async () => ({ entries: [], call: echo, dispose() {} }),
      }).capabilities.availability;
    expect([caps('inline', 'worker'), caps('worker', 'worker'), caps('process', 'worker')]).toEqual(
      [false, true, true],
    );
    expect([
      caps('inline', 'process'),
      caps('worker', 'process'),
      caps('process', 'process'),
    ]).toEqual([false, false, true]);
    expect(caps('process', 'none')).toBe(false);
  });
});
