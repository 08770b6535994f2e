import { describe, expect, it, vi } from 'vitest';
import type { SandboxBackend } from '../sandbox/contract.ts';
import { trustedBackend } from '../sandbox/trusted-backend.ts';
import { schemaIssues } from '../schema/validator.ts';
import { planOf, userRequest } from './engine.fixtures.ts';
import { createEngine } from './engine.ts';
import { compileArtifact } from './plan.ts';
import type { Provider, ProviderReply } from './provider.ts';
import { ReceiptSchema } from './receipt.ts';
import { simulate } from './simulate.ts';

// Failure paths found in review: each test pins one, and each fails against the code before
// its fix.

// Replies that ignore the call, so a test can also pick one per attempt by hand.
const text = (reply: string) => async (): Promise<ProviderReply> => ({ kind: 'text', text: reply });
const chunks =
  (...pieces: string[]) =>
  async (): Promise<ProviderReply> => ({
    kind: 'stream',
    chunks: (async function* () {
      yield* pieces;
    })(),
  });
const flip = {
  id: 'm',
  initial: 'a',
  states: { a: {}, b: {}, c: { terminal: true } },
  transitions: [
    { from: 'a', event: 'go', to: 'b', rule_id: 'ab', max_taken: 1 },
    { from: 'b', event: 'go', to: 'c', rule_id: 'bc' },
  ],
};

describe('engine robustness', () => {
  it('serialises request phases: concurrent requests of one session move state one at a time', async () => {
    const plan = await planOf({
      state_machines: [flip],
      request_rules: [
        {
          kind: 'match',
          id: 'go',
          contains: 'go',
          actions: [{ action: 'transition_state', machine_id: 'm', event: 'go' }],
        },
        // An async script between reading and writing state is where two requests interleave.
        { kind: 'script', id: 'slow', script: 'p', on_failure: 'fail_open' },
      ],
      scripts: {
        p: { language: 'javascript', source: 'function decide() { return { actions: [] }; }' },
      },
    });
    const engine = createEngine({ plan, provider: text('ok') });
    const caller = { session_id: 's' };
    const results = await Promise.all([
      engine.handle(userRequest('go'), { caller }),
      engine.handle(userRequest('go'), { caller }),
    ]);
    expect(results.map((r) => r.receipt.decision.state_transitions[0]?.decision)).toMatchObject([
      { kind: 'transition', from: 'a', to: 'b' },
      { kind: 'transition', from: 'b', to: 'c' },
    ]);
    expect(engine.states.get('m', 's')).toEqual({ state: 'c', taken: { ab: 1, bc: 1 } });
  });

  it('does not move state for a request refused by alert backpressure', async () => {
    const plan = await planOf({
      state_machines: [flip],
      alerts: { queue: { capacity: 1, on_full: 'fail_closed' } },
      request_rules: [
        {
          kind: 'match',
          id: 'go',
          contains: 'go',
          actions: [
            { action: 'transition_state', machine_id: 'm', event: 'go' },
            { action: 'alert' },
          ],
        },
      ],
    });
    const engine = createEngine({ plan, provider: text('ok'), alert_workers: false });
    const caller = { session_id: 's' };
    expect((await engine.handle(userRequest('go'), { caller })).http_status).toBe(200);
    const refused = await engine.handle(userRequest('go'), { caller });
    expect(refused.http_status).toBe(503);
    expect(engine.states.get('m', 's')?.state).toBe('b');
  });

  it('a script whose result throws while being read fails closed, and a throwing shadow is recorded', async () => {
    const hostile = 'function decide() { return { get then() { throw new Error("gotcha"); } }; }';
    const plan = await planOf({
      request_rules: [{ kind: 'script', id: 's', script: 'p' }],
      scripts: { p: { language: 'javascript', source: hostile } },
    });
    const result = await createEngine({ plan, provider: text('ok') }).handle(userRequest('q'));
    expect(result.status).toBe('policy_blocked');
    expect(result.receipt.sandbox[0]?.failure?.kind).toBe('invalid_output');

    const throwing: SandboxBackend = {
      ...trustedBackend(),
      async load() {
        return {
          entries: ['decide'],
          invoke: async () => {
            throw new Error('backend bug');
          },
          dispose: async () => undefined,
        };
      },
    };
    const candidate = await compileArtifact(
      {
        schema: 'wardwright.artifact.v1',
        model: { id: 'coder', version: '2' },
        targets: [{ model: 'small', context_window: 64 }],
        request_rules: [{ kind: 'script', id: 's', script: 'p' }],
        scripts: { p: { language: 'javascript', source: 'function decide() {}' } },
      },
      { backends: { broken: throwing } },
    );
    const shadowed = await createEngine({
      plan: await planOf(),
      provider: text('ok'),
      shadow: { plan: candidate },
    }).handle(userRequest('q'));
    expect(shadowed.status).toBe('completed');
    expect(shadowed.receipt.shadow?.diverged).toBe(true);
    expect(shadowed.receipt.sandbox).toEqual([]);
    // The candidate's own script failed with backend_failure and blocked — inside the candidate.
    expect(shadowed.receipt.shadow?.differences[0]).toMatchObject({
      label: 'blocked',
      candidate: true,
    });
  });

  it('fails a fail_open script closed when the client made its input too large', async () => {
    const plan = await planOf({
      request_rules: [{ kind: 'script', id: 's', script: 'p', on_failure: 'fail_open' }],
      scripts: {
        p: {
          language: 'javascript',
          source: 'function decide() { return { actions: [{ action: "block" }] }; }',
          limits: { max_input_bytes: 2000 },
        },
      },
    });
    const engine = createEngine({ plan: plan, provider: text('ok') });
    expect((await engine.handle(userRequest('hi'))).status).toBe('policy_blocked');
    const padded = await engine.handle(userRequest('x'.repeat(5000)));
    expect(padded.status).toBe('policy_blocked');
    expect(padded.receipt.sandbox[0]?.failure?.kind).toBe('input_limit');
  });

  it('refuses a request nested too deep, or holding what JSON cannot, before anything reads it', async () => {
    const plan = await planOf();
    const engine = createEngine({ plan, provider: text('ok') });
    let deep: unknown = [];
    for (let i = 0; i < 10_000; i++) deep = [deep];
    await expect(engine.handle({ ...userRequest('hi'), x: deep })).rejects.toThrow(
      /request: nests arrays and objects deeper than 128 levels/,
    );
    await expect(engine.handle({ ...userRequest('hi'), x: () => 1 })).rejects.toThrow(
      /request\.x: is not JSON data \(found a function\)/,
    );
    // The engine is unharmed.
    expect((await engine.handle(userRequest('hi'))).status).toBe('completed');
  });

  it('fails closed when an upstream stalls while text is held past max_hold_ms', async () => {
    const plan = await planOf({
      stream_rules: [
        { id: 'keys', action: 'block', contains: 'sk-', horizon_bytes: 16, max_hold_ms: 40 },
      ],
    });
    let abortedWith: unknown = null;
    // Sends a little, then goes silent for good: only the abort ends its wait.
    const provider: Provider = async (call) => ({
      kind: 'stream',
      chunks: (async function* () {
        yield 'held';
        await new Promise<void>((resolve) => {
          call.signal.addEventListener('abort', () => {
            abortedWith = call.signal.reason;
            resolve();
          });
        });
      })(),
    });
    const sent: string[] = [];
    const result = await createEngine({ plan, provider }).handle(
      userRequest('q', { stream: true }),
      { onRelease: (piece) => void sent.push(piece) },
    );
    expect(result.status).toBe('stream_policy_latency_exceeded');
    expect(sent).toEqual([]);
    expect(abortedWith).toBe('stream policy halted the attempt');
    expect(result.receipt.stream?.attempts[0]?.events.at(-1)).toMatchObject({
      type: 'stream_policy.latency_exceeded',
      max_hold_ms: 40,
    });
    expect(schemaIssues(ReceiptSchema, result.receipt)).toEqual([]);
  });

  it('stops a stream whose client went away, aborts the upstream, and keeps what was sent', async () => {
    const plan = await planOf();
    const controller = new AbortController();
    let pulled = 0;
    const provider: Provider = async () => ({
      kind: 'stream',
      chunks: (async function* () {
        for (const piece of ['one ', 'two ', 'three ', 'four ']) {
          pulled++;
          yield piece;
        }
      })(),
    });
    const sent: string[] = [];
    const result = await createEngine({ plan, provider }).handle(
      userRequest('q', { stream: true }),
      {
        signal: controller.signal,
        onRelease: (piece) => {
          sent.push(piece);
          if (sent.length === 2) controller.abort();
        },
      },
    );
    expect(result).toMatchObject({
      status: 'client_disconnected',
      http_status: 499,
      text: 'one two ',
    });
    // Nothing more is read from the upstream once the client is gone.
    expect(pulled).toBe(2);
    expect(result.receipt.attempts[0]?.status).toBe('client_disconnected');
    expect(schemaIssues(ReceiptSchema, result.receipt)).toEqual([]);

    const failingWrite = await createEngine({ plan, provider: chunks('a', 'b') }).handle(
      userRequest('q', { stream: true }),
      {
        onRelease: () => {
          throw new Error('socket closed');
        },
      },
    );
    expect(failingWrite).toMatchObject({ status: 'client_disconnected', text: null });
  });

  it('a provider that fails because the client went away is a client disconnect, not an upstream error', async () => {
    const plan = await planOf();
    // The upstream's stream breaks when the abort reaches it (as fetch does), mid-stream…
    const controller = new AbortController();
    const breaking: Provider = async (call) => ({
      kind: 'stream',
      chunks: (async function* () {
        yield 'first ';
        controller.abort();
        if (call.signal.aborted) throw new Error('This operation was aborted');
        yield 'never';
      })(),
    });
    const broken = await createEngine({ plan, provider: breaking }).handle(
      userRequest('q', { stream: true }),
      { signal: controller.signal, onRelease: () => {} },
    );
    expect(broken).toMatchObject({ status: 'client_disconnected', http_status: 499 });
    expect(broken.receipt.attempts[0]?.status).toBe('client_disconnected');
    // …or before it answered at all, as an error reply.
    const gone = new AbortController();
    const refusing: Provider = async () => {
      gone.abort();
      return { kind: 'error', status: 'upstream_aborted', message: 'aborted' };
    };
    const refused = await createEngine({ plan, provider: refusing }).handle(
      userRequest('q', { stream: true }),
      { signal: gone.signal, onRelease: () => {} },
    );
    expect(refused.status).toBe('client_disconnected');
    // Without an abort, the same failures are the upstream's.
    const failing: Provider = async () => ({ kind: 'error', status: 'upstream_500' });
    expect((await createEngine({ plan, provider: failing }).handle(userRequest('q'))).status).toBe(
      'provider_error',
    );
  });

  it('tells the receipt id before any rule runs, and survives a throwing listener', async () => {
    const plan = await planOf();
    const seen: string[] = [];
    let calledBeforeProvider = false;
    const provider: Provider = async () => {
      calledBeforeProvider = seen.length === 1;
      return { kind: 'text', text: 'ok' };
    };
    const result = await createEngine({ plan, provider }).handle(userRequest('q'), {
      onReceiptId: (id) => void seen.push(id),
    });
    expect(seen).toEqual([result.receipt.receipt_id]);
    expect(calledBeforeProvider).toBe(true);
    const errors: string[] = [];
    const tolerant = createEngine({
      plan,
      provider,
      onError: (_error, where) => void errors.push(where),
    });
    const after = await tolerant.handle(userRequest('q'), {
      onReceiptId: () => {
        throw new Error('listener broke');
      },
    });
    expect(after.status).toBe('completed');
    expect(errors).toEqual(['onReceiptId']);
  });

  it('retries a non-streaming answer that arrived in chunks: nothing reached the client', async () => {
    const plan = await planOf({
      stream_rules: [
        {
          id: 'no-old',
          action: 'retry_with_reminder',
          contains: 'OldClient(',
          reminder: 'Use NewClient.',
          horizon_bytes: 12,
        },
      ],
    });
    let call = 0;
    const provider: Provider = async () =>
      call++ === 0
        ? chunks('a long preamble before ', 'OldClient(x)')()
        : text('NewClient.connect()')();
    const result = await createEngine({ plan, provider }).handle(userRequest('q'));
    expect(result).toMatchObject({ status: 'completed', text: 'NewClient.connect()' });
    expect(result.receipt.stream?.released_bytes).toBe(0);
  });

  it('counts only streamed bytes as released to the client', async () => {
    const plan = await planOf({
      stream_rules: [{ id: 'note', action: 'annotate', contains: 'zzz', horizon_bytes: 4 }],
      structured_output: { schemas: [{ id: 'o', schema: { type: 'object' } }] },
    });
    let call = 0;
    const provider: Provider = async () => text(call++ === 0 ? 'not json at all' : '{"ok":1}')();
    const result = await createEngine({ plan, provider }).handle(userRequest('q'));
    expect(result.receipt.final.released_bytes).toBe(8);
    expect(result.receipt.stream?.released_bytes).toBe(0);
  });

  it('reports an async onDecision rejection to onError instead of leaving it unhandled', async () => {
    const onError = vi.fn();
    const engine = createEngine({
      plan: await planOf(),
      provider: text('ok'),
      onDecision: async () => {
        throw new Error('hook down');
      },
      onError,
    });
    await engine.handle(userRequest('q'));
    await vi.waitFor(() =>
      expect(onError).toHaveBeenCalledWith(
        expect.objectContaining({ message: 'hook down' }),
        'onDecision hook',
      ),
    );
  });

  it('gates a shadow plan on its own state machines', async () => {
    const active = await planOf();
    const candidate = await planOf({
      model: { id: 'coder', version: '2' },
      state_machines: [flip],
      request_rules: [
        {
          kind: 'match',
          id: 'big',
          contains: 'q',
          when: { state: { machine: 'm', in: ['a'] } },
          actions: [{ action: 'switch_model', target_model: 'large' }],
        },
      ],
    });
    const result = await createEngine({
      plan: active,
      provider: text('ok'),
      shadow: { plan: candidate },
    }).handle(userRequest('q'), {
      caller: { session_id: 's' },
    });
    expect(result.receipt.shadow?.differences.map((d) => d.label)).toContain('route');
  });

  it('takes a match excerpt from the searched text when lowercasing changed its length', async () => {
    const plan = await planOf({
      request_rules: [
        { kind: 'match', id: 'secret', contains: 'secret', actions: [{ action: 'annotate' }] },
      ],
    });
    const result = await createEngine({ plan, provider: text('ok') }).handle(
      userRequest('İİİİ my SECRET'),
    );
    expect(result.receipt.rules[0]?.evidence).toMatchObject({ excerpt: 'secret' });
  });

  it('keeps receipts identical across simulations on one plan, scripts and timeouts included', async () => {
    const plan = await planOf({
      request_rules: [
        { kind: 'script', id: 'counter', script: 'counter' },
        { kind: 'script', id: 'slow', script: 'slow', on_failure: 'fail_open' },
      ],
      scripts: {
        // Module state that survived a call would block the second simulation.
        counter: {
          language: 'javascript',
          source:
            'let n = 0; function decide() { n++; return { actions: n > 1 ? [{ action: "block" }] : [] }; }',
        },
        slow: {
          language: 'javascript',
          source:
            'function decide() { const end = Date.now() + 5; while (Date.now() < end) {} return { actions: [] }; }',
          limits: { timeout_ms: 1 },
        },
      },
    });
    const fixture = { request: userRequest('q'), attempts: [{ text: 'ok' }] };
    const first = await simulate(plan, fixture);
    const second = await simulate(plan, fixture);
    expect(JSON.stringify(second.receipt)).toBe(JSON.stringify(first.receipt));
    expect(first.receipt.final.status).toBe('completed');
    expect(first.receipt.sandbox[1]?.failure).toEqual({
      kind: 'timeout',
      message: 'ran over the 1 ms limit',
    });
  });

  it('disposes loaded scripts when a backend fails with a plain error mid-compile', async () => {
    let disposed = 0;
    let loads = 0;
    const inner = trustedBackend();
    const flaky: SandboxBackend = {
      ...inner,
      async load(source, limits) {
        if (loads++ === 1) throw new Error('backend crashed');
        const policy = await inner.load(source, limits);
        return { ...policy, entries: policy.entries, dispose: async () => void disposed++ };
      },
    };
    const source = 'function decide() { return { actions: [] }; }';
    await expect(
      compileArtifact(
        {
          schema: 'wardwright.artifact.v1',
          model: { id: 'm', version: '1' },
          targets: [{ model: 't', context_window: 10 }],
          scripts: { a: { language: 'javascript', source }, b: { language: 'javascript', source } },
        },
        { backends: { js: flaky } },
      ),
    ).rejects.toThrow('backend crashed');
    expect(disposed).toBe(1);
  });
});
