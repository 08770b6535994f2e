import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { schemaIssues } from '../schema/validator.ts';
import { memoryAlertSink } from './alert-sinks.ts';
import { planOf, userRequest } from './engine.fixtures.ts';
import { createEngine, InvalidRequestError, ShadowDivergenceError } from './engine.ts';
import { ManualClock, type ModelProvider, type Provider, type ProviderCall } from './provider.ts';
import { type Receipt, ReceiptSchema } from './receipt.ts';
import { memoryReceiptStore } from './receipt-store.ts';

/** A provider that answers each attempt from a list and remembers what it was sent. */
function scripted(...replies: (string | { error: string } | { chunks: string[] })[]) {
  const calls: ProviderCall[] = [];
  const provider: Provider = async (call) => {
    calls.push(call);
    const reply = replies[call.attempt_index];
    if (reply === undefined) return { kind: 'error', status: 'no_more_replies' };
    if (typeof reply === 'string') return { kind: 'text', text: reply };
    if ('error' in reply)
      return { kind: 'error', status: reply.error, message: 'upstream said no' };
    return {
      kind: 'stream',
      chunks: (async function* () {
        for (const chunk of reply.chunks) yield chunk;
      })(),
    };
  };
  return { provider, calls };
}

function expectValidReceipt(receipt: unknown) {
  expect(schemaIssues(ReceiptSchema, receipt)).toEqual([]);
}

describe('engine: request phase outcomes', () => {
  it('passes an allowed request through and records a valid receipt', async () => {
    const plan = await planOf({
      prompt_transforms: { preamble: 'Be brief.' },
      request_rules: [
        { kind: 'match', id: 'deny', contains: 'DROP TABLE', actions: [{ action: 'block' }] },
      ],
    });
    const { provider, calls } = scripted('hello');
    const receipts = memoryReceiptStore<Receipt>();
    const seen: string[] = [];
    const engine = createEngine({
      plan,
      provider,
      receipts,
      onDecision: (r) => seen.push(r.receipt_id),
    });
    const result = await engine.handle(userRequest('hi'), { caller: { session_id: 's1' } });
    expect(result).toMatchObject({ status: 'completed', http_status: 200, text: 'hello' });
    expect(calls[0]?.model).toBe('small');
    expect(calls[0]?.messages[0]).toEqual({
      role: 'system',
      name: 'wardwright_preamble',
      content: 'Be brief.',
    });
    expect(result.receipt.rules).toEqual([
      expect.objectContaining({ rule_id: 'deny', outcome: 'not_matched' }),
    ]);
    expect(await receipts.get(result.receipt.receipt_id)).toBe(result.receipt);
    expect(seen).toEqual([result.receipt.receipt_id]);
    expectValidReceipt(result.receipt);
  });

  it('blocks case-insensitively by default, never calls the provider, answers 403', async () => {
    const plan = await planOf({
      request_rules: [
        {
          kind: 'match',
          id: 'deny',
          contains: 'drop table',
          actions: [{ action: 'block', reason: 'sql' }],
        },
        {
          kind: 'match',
          id: 'exact',
          contains: 'drop table',
          case_sensitive: true,
          actions: [{ action: 'annotate' }],
        },
      ],
    });
    const { provider, calls } = scripted('never');
    const result = await createEngine({ plan, provider }).handle(
      userRequest('please DROP TABLE users'),
    );
    expect(result).toMatchObject({ status: 'policy_blocked', http_status: 403, text: null });
    expect(calls).toHaveLength(0);
    expect(result.receipt.decision.determining_rule_ids).toEqual(['deny']);
    expect(result.receipt.rules.map((r) => [r.rule_id, r.outcome])).toEqual([
      ['deny', 'matched'],
      ['exact', 'not_matched'],
    ]);
    expect(result.receipt.rules[0]?.evidence).toMatchObject({
      match_index: 12,
      excerpt: 'DROP TABLE',
    });
    expectValidReceipt(result.receipt);
  });

  it('folds case for regex rules too, unless case_sensitive', async () => {
    const plan = await planOf({
      request_rules: [
        { kind: 'match', id: 'folded', regex: 'Deploy [A-Z]+', actions: [{ action: 'annotate' }] },
        {
          kind: 'match',
          id: 'exact',
          regex: 'Deploy [A-Z]+',
          case_sensitive: true,
          actions: [{ action: 'annotate' }],
        },
      ],
    });
    const result = await createEngine({ plan, provider: scripted('ok').provider }).handle(
      userRequest('please deploy prod'),
    );
    expect(result.receipt.rules.map((r) => [r.rule_id, r.outcome])).toEqual([
      ['folded', 'matched'],
      ['exact', 'not_matched'],
    ]);
    expect(result.receipt.rules[0]?.evidence).toMatchObject({ excerpt: 'deploy prod' });
  });

  it('routes by context window, and a switch_model rule forces the model', async () => {
    const plan = await planOf({
      request_rules: [
        {
          kind: 'match',
          id: 'big',
          regex: 'refactor|rewrite',
          actions: [{ action: 'switch_model', target_model: 'large' }],
        },
      ],
    });
    const { provider, calls } = scripted('a', 'b', 'c');
    const engine = createEngine({ plan, provider });
    await engine.handle(userRequest('short'));
    await engine.handle(userRequest('x'.repeat(400)));
    const forced = await engine.handle(userRequest('refactor this'));
    expect(calls.map((c) => c.model)).toEqual(['small', 'large', 'large']);
    expect(forced.receipt.decision.route).toMatchObject({
      kind: 'selected',
      reason: 'forced_model',
    });
  });

  it('a disjoint restriction blocks the route (403) and names no model', async () => {
    const plan = await planOf({
      request_rules: [
        {
          kind: 'match',
          id: 'a',
          contains: 'x',
          actions: [{ action: 'restrict_routes', allowed_targets: ['small'] }],
        },
        {
          kind: 'match',
          id: 'b',
          contains: 'x',
          actions: [{ action: 'restrict_routes', allowed_targets: ['large'] }],
        },
      ],
    });
    const result = await createEngine({ plan, provider: scripted().provider }).handle(
      userRequest('x'),
    );
    expect(result).toMatchObject({ status: 'route_blocked', http_status: 403 });
    expect(result.receipt.decision.route).toMatchObject({
      kind: 'blocked',
      reason: 'no_allowed_target',
    });
    expect(result.receipt.final.selected_model).toBeNull();
  });

  it('an alert whose queue fails closed refuses the request with 503', async () => {
    const plan = await planOf({
      alerts: { queue: { capacity: 0, on_full: 'fail_closed' } },
      request_rules: [
        {
          kind: 'match',
          id: 'page',
          contains: 'help',
          actions: [{ action: 'alert', severity: 'critical' }],
        },
      ],
    });
    const { provider, calls } = scripted('never');
    const result = await createEngine({ plan, provider }).handle(userRequest('help'));
    expect(result).toMatchObject({ status: 'alert_failed_closed', http_status: 503 });
    expect(result.receipt.alerts[0]?.decision.outcome).toBe('failed_closed');
    expect(calls).toHaveLength(0);
  });

  it('queues alerts on every configured sink, which a worker or drain delivers', async () => {
    const plan = await planOf({
      alerts: { sinks: ['ops', 'audit'] },
      request_rules: [
        {
          kind: 'match',
          id: 'page',
          contains: 'help',
          actions: [{ action: 'alert', idempotency_key: 'k1' }],
        },
      ],
    });
    const ops = memoryAlertSink({ name: 'ops' });
    const audit = memoryAlertSink({ name: 'audit' });
    const clock = new ManualClock(1000);
    const engine = createEngine({
      plan,
      provider: scripted('ok', 'ok').provider,
      clock,
      alert_sinks: { ops, audit },
      alert_workers: false,
    });
    const first = await engine.handle(userRequest('help'));
    const second = await engine.handle(userRequest('help again'));
    expect(first.receipt.alerts.map((a) => [a.sink, a.decision.outcome])).toEqual([
      ['ops', 'queued'],
      ['audit', 'queued'],
    ]);
    expect(second.receipt.alerts.map((a) => a.decision.outcome)).toEqual([
      'duplicate_suppressed',
      'duplicate_suppressed',
    ]);
    await engine.alert_queues.get('ops')!.drain(clock.now());
    expect(ops.delivered.map((d) => d.alert.idempotency_key)).toEqual(['k1']);
    expect(audit.delivered).toHaveLength(0);
  });

  it('delivers alerts in the background by default, and close() stops the workers', async () => {
    const plan = await planOf({
      request_rules: [
        { kind: 'match', id: 'page', contains: 'help', actions: [{ action: 'alert' }] },
      ],
    });
    const sink = memoryAlertSink();
    const engine = createEngine({
      plan,
      provider: scripted('ok').provider,
      alert_sinks: { memory: sink },
    });
    await engine.handle(userRequest('help'));
    await vi.waitFor(() => expect(sink.delivered).toHaveLength(1));
    await engine.close();
  });

  it('refuses to start without a sink the artifact names', async () => {
    const plan = await planOf({ alerts: { sinks: ['pager'] } });
    expect(() => createEngine({ plan, provider: scripted().provider })).toThrow(
      /alert sink "pager"/,
    );
  });

  it('rejects a malformed request with every issue named, before any effect', async () => {
    const plan = await planOf();
    const engine = createEngine({ plan, provider: scripted('x').provider });
    const attempt = engine.handle({ messages: [{ role: 'robot', content: 1 }], stream: 'yes' });
    await expect(attempt).rejects.toThrow(InvalidRequestError);
    await attempt.catch((error: InvalidRequestError) => {
      expect(error.issues.map((i) => i.path)).toEqual([
        'request.messages[0].role',
        'request.messages[0].content',
        'request.stream',
      ]);
    });
    await expect(
      engine.handle(userRequest('x'), { caller: { session: 's' } as never }),
    ).rejects.toThrow(/caller.session: is not a known key/);
    expect(engine.history.entries()).toHaveLength(0);
  });
});

describe('engine: history, tools and state', () => {
  it('counts the current request toward its own history threshold', async () => {
    const plan = await planOf({
      request_rules: [
        {
          kind: 'history',
          id: 'repeat-secret',
          scope: 'session_id',
          threshold: 2,
          pattern: 'password',
          filter: { kind: 'request_text' },
          actions: [{ action: 'block' }],
        },
      ],
    });
    const engine = createEngine({ plan, provider: scripted('a', 'b', 'c').provider });
    const caller = { session_id: 's1' };
    expect((await engine.handle(userRequest('my password?'), { caller })).status).toBe('completed');
    expect(
      (await engine.handle(userRequest('other session password'), { caller: { session_id: 's2' } }))
        .status,
    ).toBe('completed');
    const third = await engine.handle(userRequest('password again'), { caller });
    expect(third.status).toBe('policy_blocked');
    expect(third.receipt.rules[0]?.evidence).toMatchObject({ result: { count: 2, threshold: 2 } });
    const anonymous = await engine.handle(userRequest('password'));
    expect(anonymous.receipt.rules[0]?.evidence).toMatchObject({
      result: { evidence: { reason: 'missing_scope' } },
    });
  });

  it('matches tool results by name and namespace, and records the result in history', async () => {
    const plan = await planOf({
      request_rules: [
        {
          kind: 'tool',
          id: 'shell',
          tool: { namespaces: ['shell'], phases: ['result_interpretation'] },
          actions: [{ action: 'annotate', message: 'shell output' }],
        },
        {
          kind: 'tool',
          id: 'offers-browser',
          tool: { names: ['browser.open'], phases: ['planning'] },
          actions: [{ action: 'annotate' }],
        },
      ],
    });
    const engine = createEngine({ plan, provider: scripted('ok', 'ok').provider });
    const toolResult = {
      messages: [
        { role: 'user', content: 'list files' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'c1',
              type: 'function',
              function: { name: 'shell.exec', arguments: '{"cmd":"ls"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'a.txt' },
      ],
    };
    const r1 = await engine.handle(toolResult, { caller: { session_id: 's' } });
    expect(r1.receipt.rules.map((r) => r.outcome)).toEqual(['matched', 'not_matched']);
    expect(r1.receipt.request.tool_context).toEqual({
      phase: 'result_interpretation',
      names: ['shell.exec'],
      arguments: '{"cmd":"ls"}',
    });
    // The call itself was history when the model emitted it; the result is its own entry.
    expect(engine.history.entries().map((e) => [e.kind, e.key, e.text])).toEqual([
      ['request_text', '', 'list files'],
      ['tool_result', 'shell.exec', 'a.txt'],
      ['response_text', '', 'ok'],
    ]);
    const offers = await engine.handle({
      ...userRequest('browse'),
      tools: [{ type: 'function', function: { name: 'browser.open' } }],
    });
    expect(offers.receipt.rules.map((r) => r.outcome)).toEqual(['not_matched', 'matched']);
  });

  it('records a tool call once, when the model emits it, and counts it on the next request', async () => {
    const plan = await planOf({
      request_rules: [
        {
          kind: 'history',
          id: 'shell-loop',
          scope: 'session_id',
          threshold: 2,
          filter: { kind: 'tool_call', key: 'shell.exec' },
          actions: [{ action: 'block' }],
        },
      ],
    });
    let calls = 0;
    const provider: ModelProvider = {
      specificationVersion: 'v2',
      async call() {
        calls++;
        return {
          kind: 'message',
          parts: [
            { type: 'tool_call', id: `c${calls}`, name: 'shell.exec', arguments: '{"cmd":"ls"}' },
          ],
          finish_reason: 'tool_calls',
        };
      },
    };
    const engine = createEngine({ plan, provider });
    const caller = { session_id: 's' };
    const messages: unknown[] = [{ role: 'user', content: 'list files' }];
    const turn = async () => {
      const result = await engine.handle({ messages }, { caller });
      for (const call of result.answer?.tool_calls ?? []) {
        messages.push({
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: call.id,
              type: 'function',
              function: { name: call.name, arguments: call.arguments },
            },
          ],
        });
        messages.push({ role: 'tool', tool_call_id: call.id, content: 'a.txt' });
      }
      return result;
    };
    expect((await turn()).status).toBe('completed');
    const kinds = () => engine.history.entries().map((e) => e.kind);
    expect(kinds()).toEqual(['request_text', 'tool_call']);
    // One call is history: the request carrying its result passes and the model calls again.
    expect((await turn()).status).toBe('completed');
    expect(kinds().filter((k) => k === 'tool_call')).toHaveLength(2);
    expect(kinds().filter((k) => k === 'tool_result')).toHaveLength(1);
    // Two calls: the loop is stopped before a third.
    expect((await turn()).status).toBe('policy_blocked');
    expect(calls).toBe(2);
  });

  it('moves a state machine per caller and gates rules on its state', async () => {
    const plan = await planOf({
      state_machines: [
        {
          id: 'review',
          initial: 'draft',
          states: { draft: {}, approved: {}, shipped: { terminal: true } },
          transitions: [
            { from: 'draft', event: 'approve', to: 'approved', rule_id: 'approve' },
            { from: 'approved', event: 'ship', to: 'shipped', rule_id: 'ship' },
          ],
        },
      ],
      request_rules: [
        {
          kind: 'match',
          id: 'lgtm',
          contains: 'lgtm',
          actions: [{ action: 'transition_state', machine_id: 'review', event: 'approve' }],
        },
        {
          kind: 'match',
          id: 'deploy-unapproved',
          contains: 'deploy',
          when: { state: { machine: 'review', in: ['draft'] } },
          actions: [{ action: 'block' }],
        },
        {
          kind: 'match',
          id: 'deploy',
          contains: 'deploy',
          when: { state: { machine: 'review', in: ['approved'] } },
          actions: [{ action: 'transition_state', machine_id: 'review', event: 'ship' }],
        },
      ],
    });
    const engine = createEngine({ plan, provider: scripted('a', 'b', 'c', 'd').provider });
    const alice = { session_id: 'alice' };
    expect((await engine.handle(userRequest('deploy'), { caller: alice })).status).toBe(
      'policy_blocked',
    );
    const approve = await engine.handle(userRequest('LGTM'), { caller: alice });
    expect(approve.receipt.decision.state_transitions[0]).toMatchObject({
      machine_id: 'review',
      scope_value: 'alice',
      decision: { kind: 'transition', from: 'draft', to: 'approved' },
    });
    const deploy = await engine.handle(userRequest('deploy'), { caller: alice });
    expect(deploy.status).toBe('completed');
    expect(deploy.receipt.rules[1]).toMatchObject({
      outcome: 'skipped',
      evidence: { state: 'approved', required: ['draft'] },
    });
    expect(engine.states.get('review', 'alice')).toEqual({
      state: 'shipped',
      taken: { approve: 1, ship: 1 },
    });
    // Another caller still starts in draft; a caller without a session is never advanced.
    expect(
      (await engine.handle(userRequest('deploy'), { caller: { session_id: 'bob' } })).status,
    ).toBe('policy_blocked');
    const anonymous = await engine.handle(userRequest('lgtm'));
    expect(anonymous.receipt.decision.state_transitions[0]?.decision).toBeNull();
  });
});

describe('engine: response phase', () => {
  const guarded = {
    structured_output: {
      schemas: [
        {
          id: 'answer',
          schema: {
            type: 'object',
            required: ['answer'],
            properties: { answer: { type: 'string' } },
          },
        },
      ],
      guard_loop: { max_attempts: 2 },
    },
  };

  it('retries a malformed structured output with feedback, then accepts', async () => {
    const plan = await planOf(guarded);
    const { provider, calls } = scripted('not json', '{"answer":"42"}');
    const result = await createEngine({ plan, provider }).handle(userRequest('q'));
    expect(result).toMatchObject({
      status: 'completed_after_guard',
      http_status: 200,
      text: '{"answer":"42"}',
    });
    expect(calls[1]?.messages.at(-1)).toMatchObject({
      role: 'system',
      name: 'wardwright_structured_output_guard',
    });
    expect(result.receipt.attempts.map((a) => a.guard_feedback)).toEqual([false, true]);
    expect(result.receipt.guard?.decision).toMatchObject({ kind: 'accept', schema_id: 'answer' });
    expectValidReceipt(result.receipt);
  });

  it('fails closed with 422 when the guard budget is spent, or hands back the last text with allow_last', async () => {
    const blocked = await createEngine({
      plan: await planOf(guarded),
      provider: scripted('x', 'y').provider,
    }).handle(userRequest('q'));
    expect(blocked).toMatchObject({
      status: 'exhausted_guard_budget',
      http_status: 422,
      text: null,
    });
    const lenient = await planOf({
      structured_output: {
        ...guarded.structured_output,
        guard_loop: { max_attempts: 2, on_exhausted: 'allow_last' },
      },
    });
    const allowed = await createEngine({
      plan: lenient,
      provider: scripted('x', 'y').provider,
    }).handle(userRequest('q'));
    expect(allowed).toMatchObject({
      status: 'exhausted_guard_budget',
      http_status: 200,
      text: 'y',
    });
    expectValidReceipt(allowed.receipt);
  });

  it('holds a stream under a guard: the fenced attempt is retried and only the valid answer is released', async () => {
    const plan = await planOf(guarded);
    const { provider, calls } = scripted(
      { chunks: ['```json\n', '{"answer":"42"}', '\n```'] },
      { chunks: ['{"answer":', '"42"}'] },
    );
    const released: string[] = [];
    const result = await createEngine({ plan, provider }).handle(
      userRequest('q', { stream: true }),
      {
        onRelease: (text) => {
          released.push(text);
        },
      },
    );
    expect(result).toMatchObject({ status: 'completed_after_guard', text: '{"answer":"42"}' });
    expect(released).toEqual(['{"answer":"42"}']);
    expect(calls.map((c) => c.stream)).toEqual([true, true]);
    expect(result.receipt.guard?.decision).toMatchObject({ kind: 'accept' });
    expect(result.receipt.attempts.map((a) => a.guard_feedback)).toEqual([false, true]);
    expectValidReceipt(result.receipt);

    // Spent: nothing reached the client, and the status is still ours to choose (422).
    const spent: string[] = [];
    const blocked = await createEngine({ plan, provider: scripted('x', 'y').provider }).handle(
      userRequest('q', { stream: true }),
      {
        onRelease: (text) => {
          spent.push(text);
        },
      },
    );
    expect(blocked).toMatchObject({ status: 'exhausted_guard_budget', http_status: 422 });
    expect(spent).toEqual([]);
  });

  it('a held stream whose client is gone when the answer is ready ends client_disconnected', async () => {
    const plan = await planOf(guarded);
    const result = await createEngine({
      plan,
      provider: scripted('{"answer":"42"}').provider,
    }).handle(userRequest('q', { stream: true }), {
      onRelease: () => {
        throw new Error('socket closed');
      },
    });
    expect(result).toMatchObject({ status: 'client_disconnected', text: null });
    expect(result.receipt.attempts[0]?.status).toBe('client_disconnected');
  });

  it('a held stream lets a stream rule retry: nothing was released yet', async () => {
    const plan = await planOf({
      ...guarded,
      stream_rules: [
        {
          id: 'no-todo',
          action: 'retry_with_reminder',
          contains: 'TODO',
          reminder: 'Answer fully.',
          max_retries: 1,
          horizon_bytes: 8,
        },
      ],
    });
    const released: string[] = [];
    const result = await createEngine({
      plan,
      provider: scripted({ chunks: ['{"answer":', '"TODO"}'] }, '{"answer":"42"}').provider,
    }).handle(userRequest('q', { stream: true }), {
      onRelease: (text) => {
        released.push(text);
      },
    });
    expect(result.status).toBe('completed');
    expect(released).toEqual(['{"answer":"42"}']);
    expect(result.receipt.stream?.retries.map((r) => r.kind)).toEqual(['retry']);
  });

  it('maps a provider failure to 502 and keeps its status in the attempt', async () => {
    for (const plan of [await planOf(), await planOf(guarded)]) {
      const result = await createEngine({
        plan,
        provider: scripted({ error: 'http_500' }).provider,
      }).handle(userRequest('q'));
      expect(result).toMatchObject({ status: 'provider_error', http_status: 502 });
      expect(result.receipt.attempts[0]).toMatchObject({
        status: 'provider_error',
        error: { status: 'http_500' },
      });
      expectValidReceipt(result.receipt);
    }
    const throwing: Provider = async () => {
      throw new Error('socket hang up');
    };
    const result = await createEngine({ plan: await planOf(), provider: throwing }).handle(
      userRequest('q'),
    );
    expect(result.receipt.attempts[0]?.error).toEqual({
      status: 'provider_exception',
      message: 'socket hang up',
    });
  });

  it('redacts a secret split across stream chunks before any byte of it is released', async () => {
    const plan = await planOf({
      stream_rules: [
        {
          id: 'mask',
          action: 'rewrite_window',
          regex: 'sk-[a-z0-9]{6}',
          replacement: '[key]',
          horizon_bytes: 16,
        },
      ],
    });
    const released: string[] = [];
    const result = await createEngine({
      plan,
      provider: scripted({ chunks: ['key: sk-', 'abc123 ok'] }).provider,
    }).handle(userRequest('q', { stream: true }), {
      onRelease: (t) => {
        released.push(t);
      },
    });
    expect(result.text).toBe('key: [key] ok');
    expect(released.join('')).toBe('key: [key] ok');
    expect(released.some((piece) => piece.includes('sk-'))).toBe(false);
    expect(result.receipt.stream?.attempts[0]?.events[0]).toMatchObject({
      rule_id: 'mask',
      match_start_byte: 5,
    });
    expectValidReceipt(result.receipt);
  });

  it('applies stream rules to whole (non-streaming) answers too', async () => {
    const plan = await planOf({
      stream_rules: [{ id: 'no-secret', action: 'block', contains: 'BEGIN PRIVATE KEY' }],
    });
    const result = await createEngine({
      plan,
      provider: scripted('-----BEGIN PRIVATE KEY-----').provider,
    }).handle(userRequest('q'));
    expect(result).toMatchObject({ status: 'stream_policy_blocked', http_status: 422, text: null });
  });

  it('retries with a reminder before anything is released, and reroutes when the reminder no longer fits', async () => {
    const plan = await planOf({
      stream_rules: [
        {
          id: 'no-old',
          action: 'retry_with_reminder',
          contains: 'OldClient(',
          reminder: 'OldClient was removed; use NewClient.connect(url). '.repeat(4),
        },
      ],
    });
    const { provider, calls } = scripted(
      { chunks: ['use ', 'OldClient(url)'] },
      { chunks: ['use NewClient.connect(url)'] },
    );
    const result = await createEngine({ plan, provider }).handle(
      userRequest('how do I connect?', { stream: true }),
    );
    expect(result).toMatchObject({ status: 'completed', text: 'use NewClient.connect(url)' });
    expect(calls.map((c) => c.model)).toEqual(['small', 'large']);
    expect(calls[1]?.messages.at(-1)).toMatchObject({
      role: 'system',
      name: 'wardwright_policy_reminder',
    });
    expect(result.receipt.stream?.retries[0]).toMatchObject({
      kind: 'retry',
      reroute: { from_model: 'small', to_model: 'large' },
    });
    expect(result.receipt.attempts.map((a) => a.status)).toEqual(['stream_halted', 'completed']);
    expectValidReceipt(result.receipt);
  });

  it('keeps what a stream released before it failed: the client has those bytes', async () => {
    const plan = await planOf({
      stream_rules: [
        { id: 'late-block', action: 'block', contains: 'FORBIDDEN', horizon_bytes: 4 },
      ],
    });
    const released: string[] = [];
    const result = await createEngine({
      plan,
      provider: scripted({ chunks: ['a fine start, ', 'then FORBIDDEN'] }).provider,
    }).handle(userRequest('q', { stream: true }), { onRelease: (t) => void released.push(t) });
    expect(result.status).toBe('stream_policy_blocked');
    expect(result.text).toBe(released.join(''));
    // A 4-byte horizon released all but the last 4 bytes of the first chunk.
    expect(result.text).toBe('a fine sta');
    expect(result.receipt.final.released_bytes).toBe(result.receipt.stream?.released_bytes);
    expect(result.receipt.final.released_bytes).toBeGreaterThan(0);
  });

  it('stops reading the upstream stream when the governor halts, and aborts it', async () => {
    const plan = await planOf({
      stream_rules: [{ id: 'stop', action: 'block', contains: 'STOP' }],
    });
    let pulled = 0;
    let aborted = false;
    const provider: Provider = async (call) => {
      call.signal.addEventListener('abort', () => {
        aborted = true;
      });
      return {
        kind: 'stream',
        chunks: (async function* () {
          for (const chunk of ['a', 'STOP', 'never', 'never']) {
            pulled++;
            yield chunk;
          }
        })(),
      };
    };
    const result = await createEngine({ plan, provider }).handle(
      userRequest('q', { stream: true }),
    );
    expect(result.status).toBe('stream_policy_blocked');
    expect(pulled).toBe(2);
    expect(aborted).toBe(true);
  });
});

describe('engine: scripts', () => {
  const withScript = (source: string, extra: Record<string, unknown> = {}) =>
    planOf({
      request_rules: [{ kind: 'script', id: 'policy', script: 'p', ...extra }],
      scripts: { p: { language: 'javascript', source } },
    });

  it('applies the actions a script returns, under the rule id', async () => {
    const plan = await withScript(
      'function decide(input) { return { actions: input.last_user_message.includes("private") ? [{ action: "restrict_routes", allowed_targets: ["small"] }] : [] }; }',
    );
    const engine = createEngine({ plan, provider: scripted('a', 'b').provider });
    const private_ = await engine.handle(userRequest(`private ${'x'.repeat(400)}`));
    expect(private_.receipt.decision.actions[0]).toMatchObject({
      rule_id: 'policy',
      action: 'restrict_routes',
    });
    // The only allowed target is too small for the prompt: the client's error, as OpenAI says it.
    expect(private_).toMatchObject({ status: 'context_length_exceeded', http_status: 400 });
    expect(private_.message).toMatch(
      /^the prompt \(about \d+ tokens\) is longer than the context window of every model allowed to serve it \(largest: \d+ tokens\)$/,
    );
    expect((await engine.handle(userRequest('public'))).status).toBe('completed');
  });

  it('fails closed on every kind of script failure, naming it in the receipt', async () => {
    const cases: [string, string][] = [
      ['function decide() { throw new Error("boom"); }', 'runtime_error'],
      ['function decide() { return { actions: [{ action: "explode" }] }; }', 'invalid_output'],
      [
        'function decide() { return { actions: [{ action: "switch_model", target_model: "gpt-9" }] }; }',
        'invalid_output',
      ],
      ['function decide() { return undefined; }', 'invalid_output'],
      // An alert message past MAX_ACTION_TEXT: queues and outboxes keep what a script says.
      [
        'function decide() { return { actions: [{ action: "alert", message: "x".repeat(5000) }] }; }',
        'invalid_output',
      ],
      ['function decide() { return { actions: [], extra: "x".repeat(100000) }; }', 'output_limit'],
    ];
    for (const [source, kind] of cases) {
      const result = await createEngine({
        plan: await withScript(source),
        provider: scripted('x').provider,
      }).handle(userRequest('q'));
      expect(result.status, source).toBe('policy_blocked');
      expect(result.receipt.sandbox[0]?.failure?.kind, source).toBe(kind);
      expect(result.receipt.rules[0]).toMatchObject({
        outcome: 'failed',
        evidence: { failure: { kind } },
      });
      expectValidReceipt(result.receipt);
    }
  });

  it('with on_failure fail_open, a failing script is ignored but still reported', async () => {
    const plan = await withScript('function decide() { throw "no"; }', { on_failure: 'fail_open' });
    const result = await createEngine({ plan, provider: scripted('ok').provider }).handle(
      userRequest('q'),
    );
    expect(result.status).toBe('completed');
    expect(result.receipt.sandbox[0]?.failure).toMatchObject({
      kind: 'runtime_error',
      message: 'threw "no"',
    });
  });

  it('hands a script the declared history window and machine states', async () => {
    const plan = await withScript(
      'function decide(input) { return { actions: [], note: JSON.stringify([input.history, input.states, input.caller]) }; }',
      {
        history: { scope: 'session_id', kind: 'request_text', last: 2 },
      },
    );
    let seen: unknown;
    const script = plan.scripts.get('p')!;
    const invoke = script.policy.invoke.bind(script.policy);
    (script.policy as { invoke: typeof invoke }).invoke = async (entry, input, limits) => {
      seen = input;
      return invoke(entry, input, limits);
    };
    const clock = new ManualClock(100);
    const engine = createEngine({ plan, provider: scripted('a', 'b', 'c').provider, clock });
    for (const text of ['one', 'two', 'three']) {
      clock.advance(10);
      await engine.handle(userRequest(text), { caller: { session_id: 's' } });
    }
    expect((seen as { history: unknown }).history).toEqual([
      { kind: 'request_text', key: '', text: 'two', created_at_ms: 120 },
      { kind: 'request_text', key: '', text: 'three', created_at_ms: 130 },
    ]);
  });
});

describe('engine: shadow (compare) mode', () => {
  it('records where a candidate plan decides differently, without changing the result', async () => {
    const active = await planOf({
      request_rules: [
        { kind: 'match', id: 'deny', contains: 'secret', actions: [{ action: 'block' }] },
      ],
    });
    const candidate = await planOf({
      model: { id: 'coder', version: '2' },
      request_rules: [
        { kind: 'match', id: 'deny', contains: 'secret', actions: [{ action: 'annotate' }] },
      ],
    });
    const engine = createEngine({
      plan: active,
      provider: scripted('x').provider,
      shadow: { plan: candidate },
    });
    const result = await engine.handle(userRequest('a secret'));
    expect(result.status).toBe('policy_blocked');
    expect(result.receipt.shadow).toMatchObject({
      diverged: true,
      candidate: { model_version: '2' },
    });
    expect(result.receipt.shadow?.differences.map((d) => d.label)).toEqual([
      'blocked',
      'determining_rule_ids',
      'actions',
      'route',
    ]);
    const same = await engine.handle(userRequest('nothing to see'));
    expect(same.receipt.shadow?.diverged).toBe(false);
    expectValidReceipt(result.receipt);
  });

  it('in strict mode throws on the first divergence with its label', async () => {
    const active = await planOf();
    const candidate = await planOf({
      request_rules: [{ kind: 'match', id: 'x', contains: 'q', actions: [{ action: 'block' }] }],
    });
    const engine = createEngine({
      plan: active,
      provider: scripted('x').provider,
      shadow: { plan: candidate, strict: true },
    });
    await expect(engine.handle(userRequest('q'))).rejects.toThrow(ShadowDivergenceError);
    await expect(engine.handle(userRequest('q'))).rejects.toThrow(
      /diverged on blocked: active=false candidate=true/,
    );
  });
});

describe('engine: determinism', () => {
  it('gives byte-identical, schema-valid receipts for the same inputs and clock', async () => {
    const plan = await planOf({
      alerts: { queue: { capacity: 2 } },
      stream_rules: [{ id: 'mask', action: 'rewrite_chunk', contains: 'secret', horizon_bytes: 8 }],
      request_rules: [
        {
          kind: 'match',
          id: 'alert',
          regex: '[0-9]{3}',
          actions: [{ action: 'alert', severity: 'warning' }],
        },
        {
          kind: 'history',
          id: 'busy',
          scope: 'session_id',
          threshold: 3,
          actions: [{ action: 'switch_model', target_model: 'large' }],
        },
      ],
    });
    const run = async (texts: string[], chunks: string[][], stream: boolean) => {
      const clock = new ManualClock(5000);
      let n = 0;
      const provider: Provider = async () => {
        const pieces = chunks[n++ % chunks.length] ?? [];
        return {
          kind: 'stream',
          chunks: (async function* () {
            for (const piece of pieces) {
              clock.advance(7);
              yield piece;
            }
          })(),
        };
      };
      const engine = createEngine({
        plan,
        provider,
        clock,
        simulation: true,
        record_resource_usage: false,
      });
      const out: string[] = [];
      for (const text of texts) {
        clock.advance(3);
        out.push(
          JSON.stringify(
            (await engine.handle(userRequest(text, { stream }), { caller: { session_id: 's' } }))
              .receipt,
          ),
        );
      }
      return out;
    };
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ maxLength: 30 }), { minLength: 1, maxLength: 4 }),
        fc.array(
          fc.array(fc.constantFrom('a', 'sec', 'ret', ' 123', 'secret', 'é', '👍'), {
            maxLength: 5,
          }),
          { minLength: 1, maxLength: 3 },
        ),
        fc.boolean(),
        async (texts, chunks, stream) => {
          const first = await run(texts, chunks, stream);
          const second = await run(texts, chunks, stream);
          expect(second).toEqual(first);
          for (const receipt of first) expectValidReceipt(JSON.parse(receipt));
        },
      ),
      { numRuns: 40 },
    );
  });
});
