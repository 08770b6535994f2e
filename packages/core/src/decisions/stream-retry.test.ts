import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { schemaIssues } from '../schema/validator.ts';
import { compileRouting } from './routes.ts';
import { governStream, type StreamState } from './stream-governor.ts';
import {
  type AttemptEnd,
  decideStreamRetry,
  StreamRetryDecisionSchema,
  type StreamRetryLedger,
  startRetryLedger,
} from './stream-retry.ts';
import { compileStreamPolicy } from './stream-rules.ts';

const oldClient = compileStreamPolicy({
  rules: [
    {
      id: 'no-old-client',
      action: 'retry_with_reminder',
      contains: 'OldClient(',
      reminder: 'Use NewClient, not OldClient.',
      max_retries: 1,
    },
  ],
});

function attempt(policy: typeof oldClient, chunks: string[]): StreamState {
  return governStream(
    policy,
    chunks.map((text, i) => ({ text, at_ms: i })),
    chunks.length,
  ).state;
}

function retryEnd(
  rule_id: string,
  reminder: string,
  max_retries: number,
  released_bytes = 0,
): AttemptEnd {
  return {
    status: 'retry_required',
    released_bytes,
    terminal_rule: { action: 'retry_with_reminder', rule_id, reminder, max_retries },
  };
}

describe('stream retry arbiter (wardwright-semantics §4.7 vectors)', () => {
  it('T12 a retry rule that fires before any release retries once with its reminder, then completes', () => {
    const first = attempt(oldClient, ['use OldClient(', 'arg) now']);
    const decision = decideStreamRetry(oldClient, startRetryLedger(), first);
    expect(decision).toEqual({
      kind: 'retry',
      rule_id: 'no-old-client',
      reminders: ['Use NewClient, not OldClient.'],
      retry_number: 1,
      ledger: {
        retries_total: 1,
        retries_by_rule: { 'no-old-client': 1 },
        reminders: ['Use NewClient, not OldClient.'],
      },
      reroute: null,
    });
    if (decision.kind !== 'retry') throw new Error('expected a retry');
    const second = attempt(oldClient, ['use NewClient(', 'arg) now']);
    expect(decideStreamRetry(oldClient, decision.ledger, second)).toEqual({
      kind: 'complete',
      status: 'completed',
    });
  });

  it('T13 when the retry violates again, the rule budget is exhausted (409 retry required)', () => {
    const ledger: StreamRetryLedger = {
      retries_total: 1,
      retries_by_rule: { 'no-old-client': 1 },
      reminders: ['Use NewClient, not OldClient.'],
    };
    const second = attempt(oldClient, ['use OldClient(', 'arg) now']);
    expect(decideStreamRetry(oldClient, ledger, second)).toEqual({
      kind: 'exhausted',
      status: 'stream_policy_retry_required',
      rule_id: 'no-old-client',
      budget: 'rule',
      retries_used: 1,
      max_retries: 1,
    });
  });

  it('T14 a rule with max_retries 0 stops at once', () => {
    const policy = compileStreamPolicy({
      rules: [
        {
          id: 'a',
          action: 'retry_with_reminder',
          contains: 'OldClient',
          reminder: 'r',
          max_retries: 0,
        },
        {
          id: 'b',
          action: 'retry_with_reminder',
          contains: 'OtherClient',
          reminder: 'r',
          max_retries: 3,
        },
      ],
    });
    expect(
      decideStreamRetry(policy, startRetryLedger(), attempt(policy, ['OldClient'])),
    ).toMatchObject({
      kind: 'exhausted',
      budget: 'rule',
      retries_used: 0,
      max_retries: 0,
    });
  });

  it('T15 a retry rule that fires after bytes were released cannot rewind the stream', () => {
    const policy = compileStreamPolicy({
      rules: [
        {
          id: 'r',
          action: 'retry_with_reminder',
          contains: 'OldClient(',
          reminder: 'r',
          horizon_bytes: 10,
        },
      ],
    });
    const state = attempt(policy, ['a safe prefix that is long enough ', 'OldClient(']);
    expect(state.released_bytes).toBeGreaterThan(0);
    expect(decideStreamRetry(policy, startRetryLedger(), state)).toEqual({
      kind: 'skip_after_release',
      status: 'stream_policy_retry_skipped_after_release',
      rule_id: 'r',
      released_bytes: state.released_bytes,
    });
  });

  it('T16 the reminder does not fit the only target: context exceeded (422)', () => {
    const routing = compileRouting({ targets: [{ model: 'tiny', context_window: 8 }] });
    const policy = compileStreamPolicy({
      rules: [
        { id: 'r', action: 'retry_with_reminder', contains: 'x', reminder: 'remember '.repeat(20) },
      ],
    });
    const decision = decideStreamRetry(policy, startRetryLedger(), attempt(policy, ['x']), {
      routing,
      current_model: 'tiny',
      prompt_tokens: 4,
    });
    expect(decision).toMatchObject({
      kind: 'context_exceeded',
      status: 'stream_policy_retry_context_exceeded',
      rule_id: 'r',
      context_window: 8,
    });
    if (decision.kind !== 'context_exceeded') throw new Error('expected context_exceeded');
    expect(decision.estimated_prompt_tokens).toBeGreaterThan(8);
    expect(decision.skipped).toEqual([{ model: 'tiny', reason: 'excluded' }]);
  });

  it('T17 a retry whose prompt outgrows a small model is rerouted to one that fits', () => {
    const routing = compileRouting({
      targets: [
        { model: 'tiny', context_window: 8 },
        { model: 'large', context_window: 256 },
      ],
    });
    const policy = compileStreamPolicy({
      rules: [
        { id: 'r', action: 'retry_with_reminder', contains: 'x', reminder: 'remember '.repeat(4) },
      ],
    });
    const decision = decideStreamRetry(policy, startRetryLedger(), attempt(policy, ['x']), {
      routing,
      current_model: 'tiny',
      prompt_tokens: 4,
    });
    expect(decision).toMatchObject({
      kind: 'retry',
      reroute: {
        reason: 'retry_prompt_exceeded_context',
        from_model: 'tiny',
        from_context_window: 8,
        to_model: 'large',
        to_context_window: 256,
      },
    });
  });
});

describe('stream retry budgets', () => {
  const twoRules = compileStreamPolicy({
    rules: [
      { id: 'a', action: 'retry_with_reminder', contains: 'A', reminder: 'no A', max_retries: 1 },
      { id: 'b', action: 'retry_with_reminder', contains: 'B', reminder: 'no B', max_retries: 3 },
    ],
    max_retries_total: 2,
  });

  it('differs from the original: budgets are per rule id, so one rule cannot spend another’s', () => {
    let ledger = startRetryLedger();
    const first = decideStreamRetry(twoRules, ledger, retryEnd('a', 'no A', 1));
    if (first.kind !== 'retry') throw new Error('expected a retry');
    ledger = first.ledger;
    // Rule a has used its one retry; rule b still has its own.
    expect(decideStreamRetry(twoRules, ledger, retryEnd('a', 'no A', 1))).toMatchObject({
      kind: 'exhausted',
      budget: 'rule',
    });
    const second = decideStreamRetry(twoRules, ledger, retryEnd('b', 'no B', 3));
    expect(second).toMatchObject({
      kind: 'retry',
      rule_id: 'b',
      reminders: ['no A', 'no B'],
      retry_number: 2,
    });
  });

  it('the request-wide cap stops retries even when the rule allows more', () => {
    const ledger: StreamRetryLedger = {
      retries_total: 2,
      retries_by_rule: { b: 2 },
      reminders: ['no B'],
    };
    expect(decideStreamRetry(twoRules, ledger, retryEnd('b', 'no B', 3))).toEqual({
      kind: 'exhausted',
      status: 'stream_policy_retry_required',
      rule_id: 'b',
      budget: 'request',
      retries_used: 2,
      max_retries: 2,
    });
  });

  it('differs from the original: a reminder is injected once however often its rule fires', () => {
    const ledger: StreamRetryLedger = {
      retries_total: 1,
      retries_by_rule: { b: 1 },
      reminders: ['no B'],
    };
    const decision = decideStreamRetry(twoRules, ledger, retryEnd('b', 'no B', 3));
    expect(decision).toMatchObject({ kind: 'retry', reminders: ['no B'] });
  });

  it('a retry that still fits stays on the current model', () => {
    const routing = compileRouting({ targets: [{ model: 'big', context_window: 1000 }] });
    expect(
      decideStreamRetry(twoRules, startRetryLedger(), retryEnd('a', 'no A', 1), {
        routing,
        current_model: 'big',
        prompt_tokens: 10,
      }),
    ).toMatchObject({ kind: 'retry', reroute: null });
  });

  it('an explicit fallback that is too small does not count as a place to retry', () => {
    const routing = compileRouting({
      targets: [
        { model: 'tiny', context_window: 8 },
        { model: 'also-tiny', context_window: 9 },
      ],
      fallback_model: 'also-tiny',
    });
    expect(
      decideStreamRetry(
        twoRules,
        startRetryLedger(),
        retryEnd('a', 'a long reminder '.repeat(5), 1),
        {
          routing,
          current_model: 'tiny',
          prompt_tokens: 4,
          constraints: {},
        },
      ),
    ).toMatchObject({ kind: 'context_exceeded', context_window: 8 });
  });
});

describe('stream retry decision schema', () => {
  it('describes every kind of decision the arbiter returns', () => {
    const routing = compileRouting({
      targets: [
        { model: 'tiny', context_window: 8 },
        { model: 'large', context_window: 256 },
      ],
    });
    const policy = compileStreamPolicy({
      rules: [
        { id: 'r', action: 'retry_with_reminder', contains: 'x', reminder: 'remember '.repeat(4) },
      ],
    });
    const route = { routing, current_model: 'tiny', prompt_tokens: 4 };
    const decisions = [
      decideStreamRetry(policy, startRetryLedger(), attempt(policy, ['done'])),
      decideStreamRetry(policy, startRetryLedger(), {
        status: 'provider_error',
        released_bytes: 0,
        terminal_rule: null,
      }),
      decideStreamRetry(policy, startRetryLedger(), retryEnd('r', 'x', 1, 5)),
      decideStreamRetry(policy, startRetryLedger(), retryEnd('r', 'x', 0)),
      decideStreamRetry(policy, startRetryLedger(), attempt(policy, ['x']), route),
      decideStreamRetry(policy, startRetryLedger(), attempt(policy, ['x']), {
        ...route,
        constraints: { allowed_targets: ['tiny'] },
      }),
    ];
    expect(decisions.map((d) => d.kind)).toEqual([
      'complete',
      'fail',
      'skip_after_release',
      'exhausted',
      'retry',
      'context_exceeded',
    ]);
    for (const decision of decisions) {
      expect(schemaIssues(StreamRetryDecisionSchema, decision)).toEqual([]);
    }
  });
});

describe('stream retry outcomes other than retry', () => {
  it('passes provider errors, blocks and hold-time failures through, saying whether bytes went out', () => {
    const end = (status: AttemptEnd['status'], released_bytes: number): AttemptEnd => ({
      status,
      released_bytes,
      terminal_rule: status === 'blocked' ? { action: 'block', rule_id: 'b', message: null } : null,
    });
    const ledger = startRetryLedger();
    expect(decideStreamRetry(oldClient, ledger, end('provider_error', 3))).toEqual({
      kind: 'fail',
      status: 'provider_error',
      rule_id: null,
      released_to_consumer: true,
    });
    expect(decideStreamRetry(oldClient, ledger, end('blocked', 0))).toEqual({
      kind: 'fail',
      status: 'stream_policy_blocked',
      rule_id: 'b',
      released_to_consumer: false,
    });
    expect(decideStreamRetry(oldClient, ledger, end('latency_exceeded', 0))).toMatchObject({
      kind: 'fail',
      status: 'stream_policy_latency_exceeded',
    });
  });

  it('refuses to judge an attempt that has not ended, or a retry without its rule', () => {
    expect(() =>
      decideStreamRetry(oldClient, startRetryLedger(), {
        status: 'streaming',
        released_bytes: 0,
        terminal_rule: null,
      }),
    ).toThrow(/has not ended/);
    expect(() =>
      decideStreamRetry(oldClient, startRetryLedger(), {
        status: 'retry_required',
        released_bytes: 0,
        terminal_rule: null,
      }),
    ).toThrow(/needs the retry rule/);
  });

  it('never exceeds either budget over any sequence of retry triggers, and never mutates the ledger', () => {
    const policy = compileStreamPolicy({
      rules: [
        { id: 'a', action: 'retry_with_reminder', contains: 'A', reminder: 'ra', max_retries: 2 },
        { id: 'b', action: 'retry_with_reminder', contains: 'B', reminder: 'rb', max_retries: 1 },
      ],
      max_retries_total: 3,
    });
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b'), { maxLength: 10 }), (fired) => {
        let ledger = startRetryLedger();
        for (const id of fired) {
          const before = structuredClone(ledger);
          const decision = decideStreamRetry(
            policy,
            ledger,
            retryEnd(id, `r${id}`, id === 'a' ? 2 : 1),
          );
          expect(ledger).toEqual(before);
          expect(schemaIssues(StreamRetryDecisionSchema, decision)).toEqual([]);
          if (decision.kind !== 'retry') {
            expect(decision.kind).toBe('exhausted');
            continue;
          }
          ledger = decision.ledger;
        }
        expect(ledger.retries_total).toBeLessThanOrEqual(3);
        expect(ledger.retries_by_rule.a ?? 0).toBeLessThanOrEqual(2);
        expect(ledger.retries_by_rule.b ?? 0).toBeLessThanOrEqual(1);
        expect(new Set(ledger.reminders).size).toBe(ledger.reminders.length);
      }),
    );
  });
});
