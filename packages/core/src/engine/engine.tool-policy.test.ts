import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { schemaIssues } from '../schema/validator.ts';
import { planOf, userRequest } from './engine.fixtures.ts';
import { createEngine } from './engine.ts';
import type { ModelReply, ReplyEvent } from './model-reply.ts';
import type { ModelProvider, ProviderCall } from './provider.ts';
import { ReceiptSchema } from './receipt.ts';

/**
 * Tool-call policy through the engine: each emitted call is decided before the answer leaves,
 * whole or streamed.
 */

const tools = [
  {
    type: 'function',
    function: {
      name: 'shell.exec',
      parameters: {
        type: 'object',
        required: ['command'],
        properties: { command: { type: 'string' } },
      },
    },
  },
  { type: 'function', function: { name: 'weather', parameters: { type: 'object' } } },
];

const toolCalls = {
  validate_arguments: {},
  rules: [
    {
      id: 'no-rm-rf',
      tool: { names: ['shell.exec'] },
      arguments: [{ pointer: '/command', regex: 'rm\\s+-rf' }],
      actions: [{ action: 'retry_with_reminder', reminder: 'Never delete recursively.' }],
    },
    {
      id: 'no-sudo',
      tool: { names: ['shell.exec'] },
      arguments: [{ pointer: '/command', contains: 'sudo' }],
      actions: [{ action: 'block', reason: 'no sudo' }],
    },
    {
      id: 'no-weather',
      tool: { names: ['weather'] },
      actions: [{ action: 'drop_call', reason: 'weather is off today' }],
    },
  ],
};

type Call = { id: string; name: string; arguments: string };
const shell = (id: string, command: unknown): Call => ({
  id,
  name: 'shell.exec',
  arguments: JSON.stringify({ command }),
});

/** A provider answering attempt by attempt, whole or as a stream of fragments; it records calls. */
function scripted(streamed: boolean, ...attempts: { text?: string; calls: Call[] }[]) {
  const seen: ProviderCall[] = [];
  const provider: ModelProvider = {
    specificationVersion: 'v2',
    async call(call) {
      seen.push(call);
      const answer = attempts[call.attempt_index];
      if (answer === undefined) return { kind: 'error', status: 'no_more_replies' };
      if (!streamed) {
        const reply: ModelReply = {
          kind: 'message',
          parts: [
            ...(answer.text === undefined ? [] : [{ type: 'text' as const, text: answer.text }]),
            ...answer.calls.map((c) => ({ type: 'tool_call' as const, ...c })),
          ],
          finish_reason: 'tool_calls',
        };
        return reply;
      }
      const events: ReplyEvent[] = [];
      if (answer.text !== undefined) events.push({ type: 'text', text: answer.text });
      answer.calls.forEach((c, index) => {
        const half = Math.floor(c.arguments.length / 2);
        events.push({ type: 'tool_call', index, id: c.id, name: c.name, arguments: '' });
        events.push({ type: 'tool_call', index, arguments: c.arguments.slice(0, half) });
        events.push({ type: 'tool_call', index, arguments: c.arguments.slice(half) });
      });
      events.push({ type: 'finish', reason: 'tool_calls' });
      return {
        kind: 'stream',
        events: (async function* () {
          yield* events;
        })(),
      };
    },
  };
  return { provider, seen };
}

const ask = (stream: boolean) => userRequest('clean up', { tools, stream });

describe.each([false, true])('engine: tool-call policy (stream: %s)', (streamed) => {
  it('re-asks once with the reminder when a destructive command is emitted, then passes the fixed call', async () => {
    const plan = await planOf({ tool_calls: toolCalls });
    const { provider, seen } = scripted(
      streamed,
      { calls: [shell('c1', 'rm -rf /tmp/build')] },
      { calls: [shell('c2', 'make clean')] },
    );
    const released: string[] = [];
    const result = await createEngine({ plan, provider }).handle(ask(streamed), {
      onRelease: (t) => void released.push(t),
    });
    expect(result.status).toBe('completed');
    expect(result.answer?.tool_calls).toEqual([shell('c2', 'make clean')]);
    expect(seen).toHaveLength(2);
    expect(seen[1]?.messages.at(-1)).toEqual({
      role: 'system',
      name: 'wardwright_policy_reminder',
      content: 'Never delete recursively.',
    });
    const digest = (c: Call) => ({
      id: c.id,
      name: c.name,
      arguments_bytes: Buffer.byteLength(c.arguments),
      arguments_digest: `sha256:${createHash('sha256').update(c.arguments).digest('hex')}`,
    });
    expect(result.receipt.tool_policy).toEqual({
      // Every emitted call, the refused one included.
      emitted: [
        { attempt_index: 0, ...digest(shell('c1', 'rm -rf /tmp/build')) },
        { attempt_index: 1, ...digest(shell('c2', 'make clean')) },
      ],
      decisions: [
        {
          attempt_index: 0,
          call_id: 'c1',
          tool: 'shell.exec',
          rule_id: 'no-rm-rf',
          action: 'retry_with_reminder',
          evidence: {
            pointer: '/command',
            excerpt: 'rm -rf /tmp/build',
            reason: 'regex rm\\s+-rf matched',
          },
        },
      ],
      dropped: [],
      retries: 1,
    });
    expect(schemaIssues(ReceiptSchema, result.receipt)).toEqual([]);
  });

  it('repairs arguments that break the declared schema with one retry naming the path', async () => {
    const plan = await planOf({ tool_calls: toolCalls });
    const { provider, seen } = scripted(
      streamed,
      { calls: [shell('c1', ['ls'])] },
      { calls: [shell('c2', 'ls')] },
    );
    const result = await createEngine({ plan, provider }).handle(ask(streamed));
    expect(result.status).toBe('completed');
    expect(result.answer?.tool_calls).toEqual([shell('c2', 'ls')]);
    expect(seen[1]?.messages.at(-1)?.content).toBe(
      'Your call to the tool shell.exec had invalid arguments: at /command: must be string. Call it again with arguments that match its parameters.',
    );
    expect(result.receipt.tool_policy?.decisions[0]).toMatchObject({
      rule_id: 'tool-arguments',
      evidence: { pointer: '/command', excerpt: '["ls"]' },
    });
  });

  it('blocks the answer when a call is blocked: no call and no text reach the client', async () => {
    const plan = await planOf({ tool_calls: toolCalls });
    const { provider } = scripted(streamed, { calls: [shell('c1', 'sudo reboot')] });
    const result = await createEngine({ plan, provider }).handle(ask(streamed));
    expect(result).toMatchObject({ status: 'tool_call_blocked', http_status: 422, text: null });
    expect(result.answer).toBeNull();
    expect(result.receipt.final.message).toMatch(
      /shell\.exec was blocked by rule no-sudo: no sudo/,
    );
    expect(result.receipt.response).toBeNull();
    expect(schemaIssues(ReceiptSchema, result.receipt)).toEqual([]);
  });

  it('fails closed when the rule’s retry is spent', async () => {
    const plan = await planOf({ tool_calls: toolCalls });
    const { provider } = scripted(
      streamed,
      { calls: [shell('c1', 'rm -rf /')] },
      { calls: [shell('c2', 'rm -rf ~')] },
    );
    const result = await createEngine({ plan, provider }).handle(ask(streamed));
    expect(result).toMatchObject({ status: 'tool_call_retry_exhausted', http_status: 422 });
  });

  it('drops one call and keeps the others; with none left the answer says why', async () => {
    const plan = await planOf({ tool_calls: toolCalls });
    const weather = { id: 'w', name: 'weather', arguments: '{}' };
    const both = scripted(streamed, { calls: [weather, shell('c1', 'ls')] });
    const kept = await createEngine({ plan, provider: both.provider }).handle(ask(streamed));
    expect(kept.status).toBe('completed');
    expect(kept.answer?.tool_calls.map((c) => c.id)).toEqual(['c1']);
    expect(kept.receipt.tool_policy?.dropped).toEqual(['w']);
    expect(kept.receipt.response?.tool_calls.map((c) => c.id)).toEqual(['c1']);

    const only = scripted(streamed, { calls: [weather] });
    const none = await createEngine({ plan, provider: only.provider }).handle(ask(streamed));
    expect(none.status).toBe('completed');
    expect(none.answer).toMatchObject({
      tool_calls: [],
      finish_reason: 'stop',
      refusal: 'The requested tool call was removed by policy (no-weather).',
    });
  });
});

describe('engine: tool-call policy after text was released', () => {
  it('cannot retry once text reached a streaming client (409), and a block ends the stream', async () => {
    const plan = await planOf({ tool_calls: toolCalls });
    const retry = scripted(true, { text: 'Cleaning up. ', calls: [shell('c1', 'rm -rf /')] });
    const released: string[] = [];
    const result = await createEngine({ plan, provider: retry.provider }).handle(ask(true), {
      onRelease: (t) => void released.push(t),
    });
    expect(released).toEqual(['Cleaning up. ']);
    expect(result).toMatchObject({
      status: 'tool_call_retry_skipped_after_release',
      http_status: 409,
      text: 'Cleaning up. ',
    });
    expect(result.answer).toBeNull();
    expect(retry.seen).toHaveLength(1);

    const block = scripted(true, { text: 'Rebooting. ', calls: [shell('c1', 'sudo reboot')] });
    const blocked = await createEngine({ plan, provider: block.provider }).handle(ask(true), {
      onRelease: () => {},
    });
    expect(blocked).toMatchObject({ status: 'tool_call_blocked', text: 'Rebooting. ' });
    expect(blocked.answer).toBeNull();
  });
});

describe('engine: tool-call alerts', () => {
  const alerting = {
    rules: [
      {
        id: 'page-on-sudo',
        tool: { names: ['shell.exec'] },
        arguments: [{ pointer: '/command', contains: 'sudo' }],
        actions: [
          { action: 'alert', severity: 'critical', message: 'the agent reached for sudo' },
          { action: 'drop_call', reason: 'no sudo' },
        ],
      },
    ],
  };

  it('queues the alert on every sink and records it in the receipt', async () => {
    const plan = await planOf({ tool_calls: alerting });
    const { provider } = scripted(false, {
      calls: [shell('c1', 'sudo reboot'), shell('c2', 'uptime')],
    });
    const result = await createEngine({ plan, provider }).handle(ask(false));
    expect(result.status).toBe('completed');
    expect(result.answer?.tool_calls.map((c) => c.id)).toEqual(['c2']);
    expect(result.receipt.alerts).toMatchObject([
      { sink: 'memory', rule_id: 'page-on-sudo', decision: { outcome: 'queued' } },
    ]);
    expect(result.receipt.tool_policy?.decisions.map((d) => d.action)).toEqual([
      'alert',
      'drop_call',
    ]);
    expect(schemaIssues(ReceiptSchema, result.receipt)).toEqual([]);
  });

  it('withholds the calls when the alert queue fails closed', async () => {
    const plan = await planOf({
      tool_calls: alerting,
      alerts: { queue: { capacity: 1, on_full: 'fail_closed' } },
    });
    const { provider } = scripted(false, { calls: [shell('c1', 'sudo reboot')] });
    const engine = createEngine({ plan, provider, alert_workers: false });
    const first = await engine.handle(ask(false));
    expect(first.status).toBe('completed');
    const second = await engine.handle(ask(false));
    expect(second).toMatchObject({ status: 'alert_failed_closed', http_status: 503, text: null });
    expect(second.answer).toBeNull();
    expect(schemaIssues(ReceiptSchema, second.receipt)).toEqual([]);
  });
});

describe('engine: tool-call state events', () => {
  const machine = {
    id: 'incident',
    initial: 'normal',
    states: { normal: {}, quarantined: { terminal: true } },
    transitions: [
      { from: 'normal', event: 'quarantine', to: 'quarantined', rule_id: 'quarantine' },
    ],
  };
  const quarantining = {
    rules: [
      {
        id: 'sudo-quarantines',
        tool: { names: ['shell.exec'] },
        arguments: [{ pointer: '/command', contains: 'sudo' }],
        actions: [
          { action: 'block', reason: 'no sudo' },
          { action: 'transition_state', machine_id: 'incident', event: 'quarantine' },
        ],
      },
      {
        id: 'quarantined-sessions-run-nothing',
        tool: { names: ['shell.exec'] },
        require: { state: { machine: 'incident', in: ['normal'] } },
        actions: [{ action: 'block', reason: 'session quarantined' }],
      },
    ],
  };

  it('a blocked call moves the session’s machine, and the next call meets the new state', async () => {
    const plan = await planOf({ state_machines: [machine], tool_calls: quarantining });
    const { provider } = scripted(
      false,
      { calls: [shell('c1', 'sudo rm /etc/hosts')] },
      { calls: [shell('c2', 'ls')] },
    );
    const engine = createEngine({ plan, provider });
    const caller = { session_id: 's1' };
    const first = await engine.handle(ask(false), { caller });
    expect(first.status).toBe('tool_call_blocked');
    expect(first.receipt.decision.state_transitions).toMatchObject([
      {
        machine_id: 'incident',
        scope_value: 's1',
        rule_id: 'sudo-quarantines',
        event: 'quarantine',
        decision: { kind: 'transition', to: 'quarantined' },
      },
    ]);
    expect(schemaIssues(ReceiptSchema, first.receipt)).toEqual([]);
    // A harmless call from the quarantined session is blocked by the state requirement.
    const second = await createEngine({
      plan,
      provider: scripted(false, { calls: [shell('c2', 'ls')] }).provider,
      states: engine.states,
    }).handle(ask(false), { caller });
    expect(second.status).toBe('tool_call_blocked');
    expect(second.receipt.final.message).toMatch(/quarantined-sessions-run-nothing/);
  });

  it('refuses an event no transition of the machine takes', async () => {
    await expect(
      planOf({
        state_machines: [machine],
        tool_calls: {
          rules: [
            {
              id: 'x',
              actions: [{ action: 'transition_state', machine_id: 'incident', event: 'explode' }],
            },
          ],
        },
      }),
    ).rejects.toThrow(/\$\.tool_calls\.rules\[0\]\.actions\[0\]\.event: sends the event "explode"/);
  });
});

describe.each([false, true])('engine: tool-call script rules (stream: %s)', (streamed) => {
  const withScript = (source: string, on_failure?: 'fail_open') => ({
    scripts: { calls: { language: 'javascript', source } },
    tool_calls: {
      script_rules: [
        {
          id: 'calls-script',
          script: 'calls',
          ...(on_failure === undefined ? {} : { on_failure }),
        },
      ],
    },
  });

  it('a script sees every call and decides on each by id', async () => {
    const plan = await planOf(
      withScript(`function decide_tool_calls(input) {
        const decisions = [];
        for (const call of input.calls) {
          if (call.arguments && /^sudo /.test(call.arguments.command))
            decisions.push({ call_id: call.id, action: 'drop_call', reason: 'sudo from ' + input.caller.session_id });
          else decisions.push({ call_id: call.id, action: 'annotate', message: call.name + ' ok' });
        }
        return { decisions };
      }`),
    );
    const { provider } = scripted(streamed, {
      calls: [shell('c1', 'sudo reboot'), shell('c2', 'uptime')],
    });
    const result = await createEngine({ plan, provider }).handle(ask(streamed), {
      caller: { session_id: 's9' },
    });
    expect(result.status).toBe('completed');
    expect(result.answer?.tool_calls.map((c) => c.id)).toEqual(['c2']);
    expect(result.receipt.tool_policy?.decisions).toEqual([
      {
        attempt_index: 0,
        call_id: 'c1',
        tool: 'shell.exec',
        rule_id: 'calls-script',
        action: 'drop_call',
        evidence: { reason: 'decided by script: sudo from s9' },
      },
      {
        attempt_index: 0,
        call_id: 'c2',
        tool: 'shell.exec',
        rule_id: 'calls-script',
        action: 'annotate',
        evidence: { reason: 'decided by script: shell.exec ok' },
      },
    ]);
    expect(result.receipt.sandbox).toMatchObject([
      { rule_id: 'calls-script', script: 'calls', entry: 'decide_tool_calls', ok: true },
    ]);
    expect(schemaIssues(ReceiptSchema, result.receipt)).toEqual([]);
  });

  it('a failing script blocks the answer (fail_closed), or is ignored (fail_open)', async () => {
    const source = 'function decide_tool_calls(input) { throw new Error("boom"); }';
    const closed = await planOf(withScript(source));
    const a = await createEngine({
      plan: closed,
      provider: scripted(streamed, { calls: [shell('c1', 'ls')] }).provider,
    }).handle(ask(streamed));
    expect(a.status).toBe('tool_call_blocked');
    expect(a.receipt.final.message).toMatch(/calls-script: script failed \(runtime_error\)/);
    expect(a.receipt.sandbox[0]).toMatchObject({ ok: false, failure: { kind: 'runtime_error' } });

    const open = await planOf(withScript(source, 'fail_open'));
    const b = await createEngine({
      plan: open,
      provider: scripted(streamed, { calls: [shell('c1', 'ls')] }).provider,
    }).handle(ask(streamed));
    expect(b.status).toBe('completed');
    expect(b.answer?.tool_calls.map((c) => c.id)).toEqual(['c1']);
  });

  it('an answer naming a call that was not emitted is invalid output, and fails closed', async () => {
    const plan = await planOf(
      withScript(
        'function decide_tool_calls() { return { decisions: [{ call_id: "nope", action: "block" }] }; }',
      ),
    );
    const result = await createEngine({
      plan,
      provider: scripted(streamed, { calls: [shell('c1', 'ls')] }).provider,
    }).handle(ask(streamed));
    expect(result.status).toBe('tool_call_blocked');
    expect(result.receipt.sandbox[0]?.failure).toMatchObject({
      kind: 'invalid_output',
      message: expect.stringMatching(/call_id names no emitted call/),
    });
  });
});

describe('engine: tool-call script rules, configuration', () => {
  it('refuses a script rule naming a script that does not exist', async () => {
    await expect(
      planOf({ tool_calls: { script_rules: [{ id: 's', script: 'missing' }] } }),
    ).rejects.toThrow(/\$\.tool_calls\.script_rules\[0\]\.script: names the script "missing"/);
  });
});

describe('engine: tool-call history', () => {
  it('records every emitted call, a refused one too, so a tool-loop rule counts what the model tried', async () => {
    const plan = await planOf({ tool_calls: toolCalls });
    const { provider } = scripted(
      false,
      { calls: [shell('c1', 'rm -rf /tmp/build')] },
      { calls: [shell('c2', 'make clean')] },
    );
    const engine = createEngine({ plan, provider });
    const result = await engine.handle(ask(false), { caller: { session_id: 's1' } });
    expect(result.status).toBe('completed');
    const calls = engine.history
      .entries()
      .filter((e) => e.kind === 'tool_call')
      .map((e) => [e.key, e.text]);
    expect(calls).toEqual([
      ['shell.exec', '{"command":"rm -rf /tmp/build"}'],
      ['shell.exec', '{"command":"make clean"}'],
    ]);
  });
});
