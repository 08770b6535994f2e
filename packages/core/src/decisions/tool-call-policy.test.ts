import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/config-error.ts';
import {
  compileToolCallPolicy,
  decideToolCalls,
  declaredTools,
  EMPTY_TOOL_CALL_LEDGER,
  type EmittedCall,
  type ToolCallContext,
  type ToolCallLedger,
  toolNamespace,
} from './tool-call-policy.ts';

const tools = declaredTools([
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
  {
    type: 'function',
    function: {
      name: 'deploy',
      parameters: {
        type: 'object',
        required: ['service', 'ticket'],
        properties: { service: { type: 'string' }, ticket: { type: 'string' } },
      },
    },
  },
  { type: 'function', function: { name: 'weather', parameters: { type: 'object' } } },
]);

const policy = compileToolCallPolicy({
  validate_arguments: {},
  rules: [
    {
      id: 'no-rm-rf',
      tool: { namespaces: ['shell'] },
      arguments: [{ pointer: '/command', regex: 'rm\\s+-rf' }],
      actions: [
        { action: 'retry_with_reminder', reminder: 'Never delete recursively.' },
        { action: 'annotate', message: 'destructive shell' },
      ],
    },
    {
      id: 'no-sudo',
      tool: { names: ['shell.exec'] },
      arguments: [{ pointer: '/command', contains: 'sudo' }],
      actions: [{ action: 'block', reason: 'no sudo' }],
    },
    {
      id: 'deploy-needs-ticket-and-approval',
      tool: { names: ['deploy'] },
      require: {
        arguments: [{ pointer: '/ticket', regex: '^OPS-[0-9]+$' }],
        state: { machine: 'review', in: ['approved'] },
      },
      actions: [{ action: 'drop_call', reason: 'deploy needs an OPS ticket and approval' }],
    },
  ],
});

const call = (id: string, name: string, args: unknown): EmittedCall => ({
  id,
  name,
  arguments: typeof args === 'string' ? args : JSON.stringify(args),
});

const context = (over: Partial<ToolCallContext> = {}): ToolCallContext => ({
  declared: tools,
  stateOf: (machine) => (machine === 'review' ? 'approved' : null),
  ledger: EMPTY_TOOL_CALL_LEDGER,
  ...over,
});

describe('tool-call policy: vectors', () => {
  it('lets calls through that no rule fires on', () => {
    const calls = [
      call('a', 'weather', { city: 'Oslo' }),
      call('b', 'shell.exec', { command: 'ls' }),
    ];
    expect(decideToolCalls(policy, calls, context())).toEqual({
      decisions: [],
      verdict: { kind: 'allow', calls, dropped: [] },
      alerts: [],
      state_events: [],
    });
  });

  it('asks for a retry with the reminder when a destructive command is emitted', () => {
    const out = decideToolCalls(
      policy,
      [call('a', 'shell.exec', { command: 'rm -rf /' })],
      context(),
    );
    expect(out.verdict).toEqual({
      kind: 'retry',
      reminders: ['Never delete recursively.'],
      ledger: { total: 1, by_rule: { 'no-rm-rf': 1 } },
    });
    expect(out.decisions).toEqual([
      {
        call_id: 'a',
        tool: 'shell.exec',
        rule_id: 'no-rm-rf',
        action: 'retry_with_reminder',
        evidence: { pointer: '/command', excerpt: 'rm -rf /', reason: 'regex rm\\s+-rf matched' },
      },
      {
        call_id: 'a',
        tool: 'shell.exec',
        rule_id: 'no-rm-rf',
        action: 'annotate',
        evidence: { pointer: '/command', excerpt: 'rm -rf /', reason: 'regex rm\\s+-rf matched' },
      },
    ]);
  });

  it('fails closed once the rule has used its retry', () => {
    const ledger: ToolCallLedger = { total: 1, by_rule: { 'no-rm-rf': 1 } };
    const out = decideToolCalls(
      policy,
      [call('a', 'shell.exec', { command: 'rm -rf ~' })],
      context({ ledger }),
    );
    expect(out.verdict).toEqual({ kind: 'exhausted', call_id: 'a', rule_id: 'no-rm-rf' });
  });

  it('a block wins over a retry and over the other calls', () => {
    const out = decideToolCalls(
      policy,
      [
        call('a', 'shell.exec', { command: 'rm -rf /' }),
        call('b', 'shell.exec', { command: 'sudo reboot' }),
        call('c', 'weather', {}),
      ],
      context(),
    );
    expect(out.verdict).toEqual({
      kind: 'block',
      call_id: 'b',
      rule_id: 'no-sudo',
      reason: 'no sudo',
    });
  });

  it('drops a deploy without an OPS ticket, or outside an approved review, and keeps the rest', () => {
    const calls = [
      call('a', 'deploy', { service: 'api', ticket: 'JIRA-1' }),
      call('b', 'weather', { city: 'Oslo' }),
    ];
    const out = decideToolCalls(policy, calls, context());
    expect(out.verdict).toEqual({ kind: 'allow', calls: [calls[1]], dropped: ['a'] });
    expect(out.decisions[0]?.evidence).toEqual({
      pointer: '/ticket',
      excerpt: 'JIRA-1',
      reason: '/ticket does not satisfy regex ^OPS-[0-9]+$',
    });
    const good = call('c', 'deploy', { service: 'api', ticket: 'OPS-12' });
    expect(decideToolCalls(policy, [good], context()).verdict.kind).toBe('allow');
    const unapproved = decideToolCalls(policy, [good], context({ stateOf: () => 'draft' }));
    expect(unapproved.verdict).toEqual({ kind: 'allow', calls: [], dropped: ['c'] });
    expect(unapproved.decisions[0]?.evidence.reason).toBe(
      'machine review is in draft, not in approved',
    );
    const noMachine = decideToolCalls(policy, [good], context({ stateOf: () => null }));
    expect(noMachine.decisions[0]?.evidence.reason).toBe(
      'machine review is not started, not in approved',
    );
  });

  it('validates arguments against the declared parameters, with feedback naming the path', () => {
    const out = decideToolCalls(policy, [call('a', 'shell.exec', { command: 42 })], context());
    expect(out.verdict).toEqual({
      kind: 'retry',
      reminders: [
        'Your call to the tool shell.exec had invalid arguments: at /command: must be string. Call it again with arguments that match its parameters.',
      ],
      ledger: { total: 1, by_rule: { 'tool-arguments': 1 } },
    });
    expect(out.decisions[0]).toMatchObject({
      rule_id: 'tool-arguments',
      evidence: { pointer: '/command', excerpt: '42' },
    });
    const notJson = decideToolCalls(policy, [call('b', 'weather', '{"city":')], context());
    expect(notJson.decisions[0]?.evidence.reason).toMatch(/^arguments are not valid JSON/);
    const unknown = decideToolCalls(policy, [call('c', 'nuke', {})], context());
    expect(unknown.decisions[0]?.evidence.reason).toBe('the request offered no tool named nuke');
  });

  it('raises an alert per rule that asks for one, and leaves the call alone', () => {
    const alerting = compileToolCallPolicy({
      rules: [
        {
          id: 'watch-shell',
          tool: { namespaces: ['shell'] },
          actions: [{ action: 'alert', severity: 'warning', message: 'shell call' }],
        },
      ],
    });
    const calls = [call('a', 'shell.exec', { command: 'ls' }), call('b', 'weather', {})];
    const out = decideToolCalls(alerting, calls, context());
    expect(out.verdict).toEqual({ kind: 'allow', calls, dropped: [] });
    expect(out.alerts).toEqual([
      { rule_id: 'watch-shell', call_id: 'a', severity: 'warning', message: 'shell call' },
    ]);
  });

  it('matches declared `pattern`s with RE2: a backtracking pattern cannot stall the host', () => {
    const hostile = declaredTools([
      {
        type: 'function',
        function: {
          name: 'echo',
          parameters: {
            type: 'object',
            properties: { text: { type: 'string', pattern: '^(a+)+$' } },
          },
        },
      },
    ]);
    // A backtracking engine takes about 2^40 steps on this; RE2 answers at once.
    const out = decideToolCalls(
      policy,
      [call('a', 'echo', { text: `${'a'.repeat(40)}!` })],
      context({ declared: hostile }),
    );
    expect(out.decisions[0]?.evidence.reason).toBe('at /text: must match pattern "^(a+)+$"');
    // Each pattern of a schema is its own.
    const two = declaredTools([
      {
        type: 'function',
        function: {
          name: 'pair',
          parameters: {
            type: 'object',
            properties: { a: { pattern: '^x' }, b: { pattern: '^y' } },
          },
        },
      },
    ]);
    const pair = decideToolCalls(
      policy,
      [call('p', 'pair', { a: 'x1', b: 'x2' })],
      context({ declared: two }),
    );
    expect(pair.decisions[0]?.evidence.reason).toBe('at /b: must match pattern "^y"');
  });

  it('takes a tool’s namespace before the first dot or double underscore', () => {
    expect(toolNamespace('shell.exec')).toBe('shell');
    expect(toolNamespace('github__create_issue')).toBe('github');
    expect(toolNamespace('a__b.c')).toBe('a');
    expect(toolNamespace('plain')).toBe('plain');
    expect(toolNamespace('.hidden')).toBe('.hidden');
  });

  it('refuses a bad configuration, naming each field', () => {
    expect(() =>
      compileToolCallPolicy({
        rules: [
          {
            id: 'x',
            arguments: [{ pointer: 'command', regex: '(?=a)' }],
            actions: [{ action: 'block' }],
          },
          { id: 'x', actions: [{ action: 'drop_call' }] },
        ],
      }),
    ).toThrow(ConfigError);
    try {
      compileToolCallPolicy({
        rules: [
          {
            id: 'x',
            arguments: [{ pointer: 'command', contains: 'a' }],
            actions: [{ action: 'block' }],
          },
          { id: 'x', actions: [{ action: 'drop_call' }] },
        ],
      });
    } catch (error) {
      const paths = (error as ConfigError).issues.map((i) => i.path);
      expect(paths).toEqual(['$.rules[0].arguments[0].pointer', '$.rules[1].id']);
    }
  });
});

describe('tool-call policy: properties', () => {
  const commands = ['ls', 'rm -rf /', 'sudo ls', 'echo hi', 42, null];
  const arbitraryCall = fc.record({
    id: fc.uuid(),
    name: fc.constantFrom('shell.exec', 'deploy', 'weather', 'nuke'),
    args: fc.oneof(
      fc.record({ command: fc.constantFrom(...commands) }),
      fc.record({ service: fc.constant('api'), ticket: fc.constantFrom('OPS-1', 'JIRA-2', '') }),
      fc.constant('{"broken":'),
    ),
  });
  const arbitraryLedger = fc.record({
    total: fc.integer({ min: 0, max: 3 }),
    by_rule: fc.dictionary(
      fc.constantFrom('no-rm-rf', 'tool-arguments'),
      fc.integer({ min: 0, max: 2 }),
    ),
  });
  const state = fc.constantFrom('approved', 'draft', null);

  it('is deterministic, keeps call order, and never lets a dropped call through', () => {
    fc.assert(
      fc.property(
        fc.array(arbitraryCall, { maxLength: 5 }),
        arbitraryLedger,
        state,
        (raw, ledger, s) => {
          const calls = raw.map((c) => call(c.id, c.name, c.args));
          const ctx = context({ ledger, stateOf: () => s });
          const out = decideToolCalls(policy, calls, ctx);
          expect(decideToolCalls(policy, calls, ctx)).toEqual(out);
          if (out.verdict.kind === 'allow') {
            const ids = out.verdict.calls.map((c) => c.id);
            for (const id of out.verdict.dropped) expect(ids).not.toContain(id);
            expect([...ids, ...out.verdict.dropped].sort()).toEqual(calls.map((c) => c.id).sort());
            // Kept calls are in the order the model emitted them.
            expect(ids).toEqual(calls.map((c) => c.id).filter((id) => ids.includes(id)));
          }
        },
      ),
    );
  });

  it('a retry never exceeds the total budget or a rule’s own', () => {
    fc.assert(
      fc.property(fc.array(arbitraryCall, { maxLength: 5 }), arbitraryLedger, (raw, ledger) => {
        const calls = raw.map((c) => call(c.id, c.name, c.args));
        const out = decideToolCalls(policy, calls, context({ ledger }));
        if (out.verdict.kind !== 'retry') return;
        expect(ledger.total).toBeLessThan(policy.max_retries_total);
        expect(out.verdict.ledger.total).toBe(ledger.total + 1);
        for (const [rule, spent] of Object.entries(out.verdict.ledger.by_rule)) {
          const before = ledger.by_rule[rule] ?? 0;
          expect(spent).toBeGreaterThanOrEqual(before);
          // A rule that asked for this retry had one left: both rules here allow one.
          if (spent > before) expect(spent).toBeLessThanOrEqual(1);
        }
      }),
    );
  });

  it('a call that a block rule fires on always blocks the answer', () => {
    fc.assert(
      fc.property(fc.array(arbitraryCall, { maxLength: 4 }), arbitraryLedger, (raw, ledger) => {
        const calls = [
          ...raw.map((c) => call(c.id, c.name, c.args)),
          call('sudo', 'shell.exec', { command: 'sudo x' }),
        ];
        const out = decideToolCalls(policy, calls, context({ ledger }));
        expect(out.verdict.kind).toBe('block');
      }),
    );
  });
});
