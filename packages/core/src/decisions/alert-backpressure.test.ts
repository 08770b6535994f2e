import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/config-error.ts';
import { schemaIssues } from '../schema/validator.ts';
import { utf8Length } from '../text/utf8.ts';
import {
  type Alert,
  AlertQueueCountersSchema,
  type AlertQueueDecision,
  AlertQueueDecisionSchema,
  type AlertQueueEvent,
  AlertQueueEventSchema,
  AlertQueueItemSchema,
  type AlertQueueState,
  AlertQueueStateSchema,
  type AlertStatus,
  AlertStatusSchema,
  type CompiledAlertQueue,
  compileAlertQueue,
  DeadLetterSchema,
  DeliveryDecisionSchema,
  decideEnqueue,
  defaultIdempotencyKey,
  EnqueueDecisionSchema,
  type EnqueueInput,
  EnqueueInputSchema,
  type EnqueueOutcome,
  initialAlertQueue,
  isTerminal,
  MAX_ERROR_BYTES,
  RememberedEntrySchema,
  RememberedKeysSchema,
  RememberedStatusSchema,
  retryDelayMs,
  stepAlertQueue,
} from './alert-backpressure.ts';

const alert = (key: string, over: Partial<Alert> = {}): Alert => ({
  idempotency_key: key,
  rule_id: `rule-${key}`,
  severity: 'warning',
  message: `message ${key}`,
  ...over,
});

function configError(config: unknown): ConfigError {
  try {
    compileAlertQueue(config);
  } catch (error) {
    if (ConfigError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

/** Apply events in order, returning every decision and the final state. */
function apply(
  config: CompiledAlertQueue,
  events: readonly AlertQueueEvent[],
  state: AlertQueueState = initialAlertQueue(),
): { state: AlertQueueState; decisions: AlertQueueDecision[] } {
  const decisions: AlertQueueDecision[] = [];
  for (const event of events) {
    const result = stepAlertQueue(config, state, event);
    state = result.state;
    decisions.push(result.decision);
  }
  return { state, decisions };
}

const enq = (key: string, now_ms = 0): AlertQueueEvent => ({
  type: 'enqueue',
  alert: alert(key),
  now_ms,
});
const poll = (now_ms: number): AlertQueueEvent => ({ type: 'poll', now_ms });
const result = (key: string, ok: boolean, now_ms: number, error?: string): AlertQueueEvent =>
  error === undefined
    ? { type: 'delivery_result', key, ok, now_ms }
    : { type: 'delivery_result', key, ok, now_ms, error };

function outcomes(decisions: readonly AlertQueueDecision[]): string[] {
  return decisions.map((d) => ('outcome' in d ? d.outcome : d.kind));
}

function rememberedKeys(state: AlertQueueState): string[] {
  return state.remembered.order.flat();
}

describe('alert queue config', () => {
  it('resolves every default without touching the input', () => {
    const input = Object.freeze({});
    expect(compileAlertQueue(input)).toEqual({
      capacity: 1024,
      on_full: 'dead_letter',
      dedupe_capacity: 1024,
      dead_letter_capacity: 1024,
      retry: { max_attempts: 5, base_delay_ms: 1000, multiplier: 2, max_delay_ms: 60000 },
    });
    expect(input).toEqual({});
  });

  it('keeps explicit values and returns a frozen config', () => {
    const compiled = compileAlertQueue({
      capacity: 0,
      on_full: 'fail_closed',
      dedupe_capacity: 3,
      retry: { max_attempts: 1, base_delay_ms: 0, multiplier: 1.5, max_delay_ms: 0 },
    });
    expect(compiled).toEqual({
      capacity: 0,
      on_full: 'fail_closed',
      dedupe_capacity: 3,
      dead_letter_capacity: 1,
      retry: { max_attempts: 1, base_delay_ms: 0, multiplier: 1.5, max_delay_ms: 0 },
    });
    expect(Object.isFrozen(compiled)).toBe(true);
    expect(Object.isFrozen(compiled.retry)).toBe(true);
  });

  it('lists every schema issue with its path, unknown keys included', () => {
    const error = configError({
      capacity: -1,
      on_full: 'explode',
      dedupe_capacity: 0,
      retry: { max_attempts: 0, multiplier: 0.5, base_delay_ms: 1.5, jitter: true },
      extra: 1,
    });
    expect(error.subject).toBe('alert queue config');
    expect(error.issues.map((i) => i.path).sort()).toEqual(
      [
        '$.extra',
        '$.capacity',
        '$.on_full',
        '$.dedupe_capacity',
        '$.retry.jitter',
        '$.retry.max_attempts',
        '$.retry.multiplier',
        '$.retry.base_delay_ms',
      ].sort(),
    );
    expect(configError('16').issues).toEqual([
      { path: '$', message: 'must be an object, got the string "16"' },
    ]);
  });

  it('rejects a delay cap below the base delay, naming both paths', () => {
    expect(configError({ retry: { base_delay_ms: 5000, max_delay_ms: 1000 } }).issues).toEqual([
      {
        path: '$.retry.max_delay_ms',
        message: 'must be >= `$.retry.base_delay_ms` (5000), got 1000',
        expected: 'a cap no smaller than the first retry delay',
      },
    ]);
    // The default cap (60 s) applies to the comparison too, and the message says so.
    expect(configError({ retry: { base_delay_ms: 100_000 } }).issues[0]?.message).toBe(
      'must be >= `$.retry.base_delay_ms` (100000), got 60000 (the default)',
    );
    expect(compileAlertQueue({ retry: { base_delay_ms: 7, max_delay_ms: 7 } }).retry).toEqual({
      max_attempts: 5,
      base_delay_ms: 7,
      multiplier: 2,
      max_delay_ms: 7,
    });
  });

  it('differs from the original: a missing capacity means 1024 (a drained queue), not 16 or 0', () => {
    expect(compileAlertQueue({}).capacity).toBe(1024);
  });
});

describe('§3.4 core vectors (decideEnqueue)', () => {
  const deadLetter1 = compileAlertQueue({ capacity: 1, on_full: 'dead_letter' });
  const a = alert('alert-a');

  it('§3.4 core #1: cap 1, dead_letter, depth 0, unseen → queued, depth 1', () => {
    expect(decideEnqueue(deadLetter1, { queue_depth: 0, already_seen: false }, a)).toEqual({
      key: 'alert-a',
      rule_id: 'rule-alert-a',
      outcome: 'queued',
      queue_depth: 1,
      capacity: 1,
    });
  });

  it('§3.4 core #2: cap 1, dead_letter, depth 1, seen → duplicate_suppressed, depth 1', () => {
    expect(decideEnqueue(deadLetter1, { queue_depth: 1, already_seen: true }, a)).toEqual({
      key: 'alert-a',
      rule_id: 'rule-alert-a',
      outcome: 'duplicate_suppressed',
      queue_depth: 1,
      capacity: 1,
      existing: null,
    });
  });

  it('§3.4 core #3: cap 1, dead_letter, depth 1, unseen → dead_lettered, depth 1', () => {
    expect(decideEnqueue(deadLetter1, { queue_depth: 1, already_seen: false }, a)).toEqual({
      key: 'alert-a',
      rule_id: 'rule-alert-a',
      outcome: 'dead_lettered',
      queue_depth: 1,
      capacity: 1,
      reason: 'queue_full',
    });
  });

  it('§3.4 core #4: cap 1, fail_closed, depth 1, unseen → failed_closed, depth 1', () => {
    const config = compileAlertQueue({ capacity: 1, on_full: 'fail_closed' });
    const decision = decideEnqueue(config, { queue_depth: 1, already_seen: false }, a);
    expect(decision).toMatchObject({ outcome: 'failed_closed', queue_depth: 1 });
  });

  it('§3.4 core #5: cap 0, drop, depth 0, unseen → dropped, depth 0', () => {
    const config = compileAlertQueue({ capacity: 0, on_full: 'drop' });
    const decision = decideEnqueue(config, { queue_depth: 0, already_seen: false }, a);
    expect(decision).toMatchObject({ outcome: 'dropped', queue_depth: 0, capacity: 0 });
  });

  it('§3.4 core #6: cap 2, any on_full, depth 5, seen → duplicate_suppressed (duplicate beats full)', () => {
    for (const on_full of ['dead_letter', 'drop', 'fail_closed'] as const) {
      const config = compileAlertQueue({ capacity: 2, on_full });
      const decision = decideEnqueue(
        config,
        { queue_depth: 5, already_seen: true, existing: 'queued' },
        a,
      );
      expect(decision).toMatchObject({
        outcome: 'duplicate_suppressed',
        queue_depth: 5,
        existing: 'queued',
      });
    }
  });
});

describe('§3.4 terminal()', () => {
  it('§3.4 terminal: queued false, dead_lettered true, retry_scheduled false, duplicate true', () => {
    expect(isTerminal('queued')).toBe(false);
    expect(isTerminal('dead_lettered')).toBe(true);
    expect(isTerminal('retry_scheduled')).toBe(false);
    expect(isTerminal('duplicate_suppressed')).toBe(true);
  });

  it('treats every other status as final', () => {
    const final: AlertStatus[] = ['delivered', 'dropped', 'failed_closed'];
    for (const status of final) expect(isTerminal(status)).toBe(true);
    expect(() => isTerminal('bogus' as never)).toThrow('unhandled alert status: "bogus"');
  });
});

describe('§3.4 sequence oracle (stepAlertQueue)', () => {
  const cases: [string, { capacity: number; on_full: string }, string[], EnqueueOutcome[]][] = [
    ['#1 one alert', { capacity: 4, on_full: 'dead_letter' }, ['alert-a'], ['queued']],
    [
      '#2 same alert twice',
      { capacity: 4, on_full: 'dead_letter' },
      ['alert-a', 'alert-a'],
      ['queued', 'duplicate_suppressed'],
    ],
    [
      '#3 two alerts, cap 1, dead_letter',
      { capacity: 1, on_full: 'dead_letter' },
      ['a', 'b'],
      ['queued', 'dead_lettered'],
    ],
    [
      '#4 two alerts, cap 1, drop',
      { capacity: 1, on_full: 'drop' },
      ['a', 'b'],
      ['queued', 'dropped'],
    ],
    ['#5 cap 0, fail_closed', { capacity: 0, on_full: 'fail_closed' }, ['a'], ['failed_closed']],
  ];
  for (const [name, config, keys, expected] of cases) {
    it(`§3.4 sequence ${name}`, () => {
      const { decisions } = apply(
        compileAlertQueue(config),
        keys.map((k) => enq(k)),
      );
      expect(outcomes(decisions)).toEqual(expected);
    });
  }

  it('§3.4 sink status: cap 1, dead_letter, two different alerts', () => {
    const { state, decisions } = apply(compileAlertQueue({ capacity: 1, on_full: 'dead_letter' }), [
      enq('a', 10),
      enq('b', 20),
    ]);
    expect(outcomes(decisions)).toEqual(['queued', 'dead_lettered']);
    expect(state.counters.dead_lettered).toBe(1);
    expect(state.queue.length).toBe(1);
    expect(state.counters.queued).toBe(1);
    expect(decisions.at(-1)).toMatchObject({ outcome: 'dead_lettered' });
    expect(state.dead_letters).toEqual([
      { key: 'b', alert: alert('b'), reason: 'queue_full', dead_lettered_at_ms: 20, attempts: 0 },
    ]);
  });

  it('differs from the original: an alert that failed closed is not remembered, so a retried request fails closed again', () => {
    const config = compileAlertQueue({ capacity: 0, on_full: 'fail_closed' });
    const { state, decisions } = apply(config, [enq('a'), enq('a')]);
    expect(decisions.map((d) => 'outcome' in d && d.outcome)).toEqual([
      'failed_closed',
      'failed_closed',
    ]);
    expect(rememberedKeys(state)).toEqual([]);
    expect(state.counters.failed_closed).toBe(2);
  });

  it('§3.3 side effects: a dead-lettered or dropped alert is remembered, so its retry is a duplicate', () => {
    for (const on_full of ['dead_letter', 'drop'] as const) {
      const config = compileAlertQueue({ capacity: 0, on_full });
      const { state, decisions } = apply(config, [enq('a'), enq('a')]);
      expect(decisions[1]).toMatchObject({
        outcome: 'duplicate_suppressed',
        existing: decisions[0] !== undefined && 'outcome' in decisions[0] && decisions[0].outcome,
      });
      expect(rememberedKeys(state)).toEqual(['a']);
      expect(state.queue).toEqual([]);
    }
  });
});

describe('§3.3 idempotency key', () => {
  it('§3.3 key example: no receipt id → ":always-alert:operator review requested:warning"', () => {
    expect(
      defaultIdempotencyKey({
        rule_id: 'always-alert',
        message: 'operator review requested',
        severity: 'warning',
      }),
    ).toBe(':always-alert:operator review requested:warning');
  });

  it('joins all four values, null as empty', () => {
    expect(
      defaultIdempotencyKey({ receipt_id: 'r1', rule_id: 'x', message: null, severity: 'info' }),
    ).toBe('r1:x::info');
    expect(
      defaultIdempotencyKey({ receipt_id: null, rule_id: undefined, message: 'm', severity: null }),
    ).toBe('::m:');
  });
});

describe('delivery worker', () => {
  const config = compileAlertQueue({
    capacity: 2,
    retry: { max_attempts: 5, base_delay_ms: 1000, multiplier: 2, max_delay_ms: 5000 },
  });

  it('differs from the original: a worker drains the queue, so depth goes down', () => {
    const cap1 = compileAlertQueue({ capacity: 1 });
    const { state, decisions } = apply(cap1, [
      enq('a', 0),
      enq('b', 1),
      poll(2),
      result('a', true, 3),
      enq('c', 4),
    ]);
    expect(outcomes(decisions)).toEqual([
      'queued',
      'dead_lettered',
      'deliver',
      'delivered',
      'queued',
    ]);
    expect(decisions[2]).toEqual({ kind: 'deliver', key: 'a', alert: alert('a'), attempt: 1 });
    expect(decisions[3]).toEqual({
      kind: 'delivery_result',
      key: 'a',
      rule_id: 'rule-a',
      attempts: 1,
      queue_depth: 0,
      outcome: 'delivered',
    });
    expect(state.queue.map((i) => i.key)).toEqual(['c']);
    expect(state.counters).toEqual({
      queued: 2,
      delivered: 1,
      duplicate_suppressed: 0,
      dead_lettered: 1,
      dropped: 0,
      failed_closed: 0,
      retried: 0,
      restored: 0,
    });
  });

  it('is idle when empty, and polling never changes the state', () => {
    const empty = initialAlertQueue();
    const idle = stepAlertQueue(config, empty, poll(0));
    expect(idle.decision).toEqual({ kind: 'idle' });
    expect(idle.state).toBe(empty);
    const { state } = apply(config, [enq('a', 0)]);
    const deliver = stepAlertQueue(config, state, poll(0));
    expect(deliver.state).toBe(state);
    expect(stepAlertQueue(config, deliver.state, poll(0)).decision).toEqual(deliver.decision);
  });

  it('differs from the original: retries follow a capped exponential schedule, then dead-letter', () => {
    let { state } = apply(config, [enq('a', 0)]);
    let now = 0;
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      const due = stepAlertQueue(config, state, poll(now));
      expect(due.decision).toEqual({ kind: 'deliver', key: 'a', alert: alert('a'), attempt });
      const failed = stepAlertQueue(config, state, result('a', false, now, 'HTTP 503'));
      const d = failed.decision;
      if (d.kind !== 'delivery_result' || d.outcome !== 'retry_scheduled') throw new Error('retry');
      expect(d).toMatchObject({ attempts: attempt, max_attempts: 5, error: 'HTTP 503' });
      expect(d.next_attempt_at_ms).toBe(now + d.delay_ms);
      delays.push(d.delay_ms);
      state = failed.state;
      expect(stepAlertQueue(config, state, poll(d.next_attempt_at_ms - 1)).decision).toEqual({
        kind: 'wait',
        until_ms: d.next_attempt_at_ms,
        queue_depth: 1,
      });
      now = d.next_attempt_at_ms;
    }
    expect(delays).toEqual([1000, 2000, 4000, 5000]);
    expect(state.counters.retried).toBe(4);

    const last = stepAlertQueue(config, state, result('a', false, now, 'timeout'));
    expect(last.decision).toEqual({
      kind: 'delivery_result',
      key: 'a',
      rule_id: 'rule-a',
      attempts: 5,
      queue_depth: 0,
      outcome: 'dead_lettered',
      reason: 'delivery_failed',
      max_attempts: 5,
      error: 'timeout',
    });
    expect(last.state.queue).toEqual([]);
    expect(last.state.dead_letters).toEqual([
      {
        key: 'a',
        alert: alert('a'),
        reason: 'delivery_failed',
        dead_lettered_at_ms: now,
        attempts: 5,
        error: 'timeout',
      },
    ]);
    expect(last.state.counters.dead_lettered).toBe(1);
  });

  it('with max_attempts 1, one failure dead-letters without a retry and without an error', () => {
    const once = compileAlertQueue({ retry: { max_attempts: 1 } });
    const { state, decisions } = apply(once, [enq('a'), result('a', false, 5)]);
    expect(decisions[1]).toEqual({
      kind: 'delivery_result',
      key: 'a',
      rule_id: 'rule-a',
      attempts: 1,
      queue_depth: 0,
      outcome: 'dead_lettered',
      reason: 'delivery_failed',
      max_attempts: 1,
    });
    expect(state.dead_letters[0]).not.toHaveProperty('error');
  });

  it('hands out the first due item in arrival order, skipping one that waits', () => {
    const { state } = apply(config, [enq('a', 0), enq('b', 0), result('a', false, 0)]);
    expect(stepAlertQueue(config, state, poll(10)).decision).toMatchObject({
      kind: 'deliver',
      key: 'b',
      attempt: 1,
    });
    expect(stepAlertQueue(config, state, poll(1000)).decision).toMatchObject({
      kind: 'deliver',
      key: 'a',
      attempt: 2,
    });
    const afterB = stepAlertQueue(config, state, result('b', true, 10)).state;
    expect(stepAlertQueue(config, afterB, poll(10)).decision).toEqual({
      kind: 'wait',
      until_ms: 1000,
      queue_depth: 1,
    });
  });

  it('waits for the earliest next attempt, not the first item’s', () => {
    const { state } = apply(config, [
      enq('a', 0),
      enq('b', 0),
      result('a', false, 500), // a: attempt 2 at 1500
      result('b', false, 0), // b: attempt 2 at 1000
    ]);
    expect(stepAlertQueue(config, state, poll(600)).decision).toEqual({
      kind: 'wait',
      until_ms: 1000,
      queue_depth: 2,
    });
  });

  it('reports a result for a key not in the queue as unknown and changes nothing', () => {
    const { state } = apply(config, [enq('a'), result('a', true, 1)]);
    const known = stepAlertQueue(config, state, result('a', true, 2));
    expect(known.decision).toEqual({ kind: 'unknown_key', key: 'a', status: 'delivered' });
    expect(known.state).toBe(state);
    const never = stepAlertQueue(config, state, result('zzz', false, 2));
    expect(never.decision).toEqual({ kind: 'unknown_key', key: 'zzz', status: null });
    expect(never.state).toBe(state);
  });

  it('reports what became of the earlier alert when suppressing a duplicate', () => {
    const existing = (events: AlertQueueEvent[]) => {
      const { decisions } = apply(config, [...events, enq('a', 9)]);
      return decisions.at(-1);
    };
    expect(existing([enq('a')])).toMatchObject({ existing: 'queued' });
    expect(existing([enq('a'), result('a', false, 1)])).toMatchObject({
      existing: 'retry_scheduled',
    });
    expect(existing([enq('a'), result('a', true, 1)])).toMatchObject({ existing: 'delivered' });
    const once = compileAlertQueue({ retry: { max_attempts: 1 } });
    const { decisions } = apply(once, [enq('a'), result('a', false, 1), enq('a', 2)]);
    expect(decisions.at(-1)).toMatchObject({
      kind: 'enqueue',
      outcome: 'duplicate_suppressed',
      existing: 'dead_lettered',
    });
  });

  it('truncates a long delivery error to MAX_ERROR_BYTES without splitting a character', () => {
    const error = `a${'😀'.repeat(300)}`;
    const once = compileAlertQueue({ retry: { max_attempts: 1 } });
    const { state, decisions } = apply(once, [enq('a'), result('a', false, 1, error)]);
    const kept = state.dead_letters[0]?.error ?? '';
    expect(utf8Length(kept)).toBeLessThanOrEqual(MAX_ERROR_BYTES);
    expect(kept).toBe(`a${'😀'.repeat(255)}`);
    expect(decisions[1]).toMatchObject({ error: kept });
  });

  it('keeps only the last capacity dead letters, and at least one', () => {
    const cap2 = compileAlertQueue({ capacity: 2 });
    const { state } = apply(
      cap2,
      ['a', 'b', 'c', 'd', 'e'].map((k) => enq(k)),
    );
    expect(state.dead_letters.map((d) => d.key)).toEqual(['d', 'e']);
    expect(state.counters.dead_lettered).toBe(3);
    const cap0 = compileAlertQueue({ capacity: 0 });
    const zero = apply(cap0, [enq('a'), enq('b')]).state;
    expect(zero.dead_letters.map((d) => d.key)).toEqual(['b']);
  });
});

describe('remembered keys', () => {
  it('forgets the oldest key first once dedupe_capacity is reached', () => {
    const config = compileAlertQueue({ capacity: 0, on_full: 'drop', dedupe_capacity: 2 });
    const { state, decisions } = apply(config, [enq('a'), enq('b'), enq('c'), enq('b'), enq('a')]);
    expect(outcomes(decisions)).toEqual([
      'dropped',
      'dropped',
      'dropped',
      'duplicate_suppressed',
      'dropped',
    ]);
    expect(rememberedKeys(state)).toEqual(['c', 'a']);
    expect(state.remembered.count).toBe(2);
  });

  it('still suppresses a key that is queued after the memory forgot it', () => {
    const config = compileAlertQueue({ capacity: 4, dedupe_capacity: 1 });
    const { state, decisions } = apply(config, [
      enq('a'),
      enq('b'),
      enq('a'),
      result('a', false, 1),
      enq('a'),
    ]);
    expect(rememberedKeys(state)).toEqual(['b']);
    expect(decisions[2]).toMatchObject({ outcome: 'duplicate_suppressed', existing: 'queued' });
    expect(decisions[4]).toMatchObject({
      outcome: 'duplicate_suppressed',
      existing: 'retry_scheduled',
    });
    expect(state.queue.map((i) => i.key)).toEqual(['a', 'b']);
  });

  it('spans many chunks and buckets and stays exact', () => {
    const config = compileAlertQueue({ capacity: 0, on_full: 'drop', dedupe_capacity: 100 });
    const keys = Array.from({ length: 250 }, (_, i) => `k${i}`);
    const { state } = apply(
      config,
      keys.map((k) => enq(k)),
    );
    expect(rememberedKeys(state)).toEqual(keys.slice(150));
    expect(state.remembered.order.every((chunk) => chunk.length > 0)).toBe(true);
    const again = apply(config, [enq('k150'), enq('k149')], state).decisions;
    expect(outcomes(again)).toEqual(['duplicate_suppressed', 'dropped']);
  });

  it('treats keys named like Object.prototype members as ordinary keys, also after JSON', () => {
    const config = compileAlertQueue({ capacity: 8 });
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];
    const { state, decisions } = apply(
      config,
      names.map((k) => enq(k)),
    );
    expect(outcomes(decisions)).toEqual(names.map(() => 'queued'));
    const persisted = JSON.parse(JSON.stringify(state)) as AlertQueueState;
    const again = apply(
      config,
      names.map((k) => enq(k)),
      persisted,
    );
    expect(outcomes(again.decisions)).toEqual(names.map(() => 'duplicate_suppressed'));
    const forgetting = compileAlertQueue({ capacity: 0, on_full: 'drop', dedupe_capacity: 1 });
    const churn = apply(forgetting, [enq('__proto__'), enq('x'), enq('__proto__')]);
    expect(outcomes(churn.decisions)).toEqual(['dropped', 'dropped', 'dropped']);
  });
});

describe('retryDelayMs', () => {
  const config = compileAlertQueue({
    retry: { base_delay_ms: 1000, multiplier: 1.5, max_delay_ms: 10_000 },
  });

  it('is base × multiplier^(attempts − 1), rounded down and capped', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => retryDelayMs(config, n))).toEqual([
      1000, 1500, 2250, 3375, 5062, 7593, 10000,
    ]);
    expect(retryDelayMs(config, 10_000)).toBe(10_000);
  });

  it('treats fewer than one attempt as the first', () => {
    expect(retryDelayMs(config, 0)).toBe(1000);
    expect(retryDelayMs(config, Number.NaN)).toBe(1000);
  });

  it('stays 0 with a zero base even when the power overflows', () => {
    const zero = compileAlertQueue({ retry: { base_delay_ms: 0, multiplier: 10 } });
    expect(retryDelayMs(zero, 1000)).toBe(0);
  });
});

describe('exhaustiveness', () => {
  it('throws on an event or on_full the types do not allow', () => {
    const config = compileAlertQueue({});
    expect(() =>
      stepAlertQueue(config, initialAlertQueue(), { type: 'flush', now_ms: 0 } as never),
    ).toThrow('unhandled alert queue event');
    const bogus = { ...compileAlertQueue({ capacity: 0 }), on_full: 'explode' } as never;
    expect(() => decideEnqueue(bogus, { queue_depth: 0, already_seen: false }, alert('a'))).toThrow(
      'unhandled on_full',
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

const keyArb = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', '__proto__', 'constructor', '');

type Step =
  | { op: 'enqueue'; key: string; severity: Alert['severity']; dt: number }
  /** `max` > 1: a worker whose sink takes batches. */
  | { op: 'poll'; max: number; dt: number }
  /** `key: null` reports on the key the last `deliver` handed out, as a worker would. */
  | { op: 'result'; key: string | null; ok: boolean; error: string | null; dt: number }
  /** An alert a durable outbox still owes, with the attempts it already made. */
  | { op: 'restore'; key: string; attempts: number; dt: number };

const dtArb = fc.integer({ min: 0, max: 3000 });
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constant('enqueue' as const),
    key: keyArb,
    severity: fc.constantFrom('info', 'warning', 'critical') as fc.Arbitrary<Alert['severity']>,
    dt: dtArb,
  }),
  fc.record({ op: fc.constant('poll' as const), max: fc.integer({ min: 1, max: 3 }), dt: dtArb }),
  fc.record({
    op: fc.constant('result' as const),
    key: fc.option(keyArb),
    ok: fc.boolean(),
    error: fc.option(fc.string({ maxLength: 4 })),
    dt: dtArb,
  }),
  fc.record({
    op: fc.constant('restore' as const),
    key: keyArb,
    attempts: fc.integer({ min: 0, max: 3 }),
    dt: dtArb,
  }),
);
const stepsArb = fc.array(stepArb, { maxLength: 60 });

const configArb = fc
  .record({
    capacity: fc.integer({ min: 0, max: 4 }),
    on_full: fc.constantFrom('dead_letter', 'drop', 'fail_closed'),
    dedupe_capacity: fc.integer({ min: 1, max: 6 }),
    max_attempts: fc.integer({ min: 1, max: 4 }),
    base_delay_ms: fc.integer({ min: 0, max: 500 }),
    multiplier: fc.constantFrom(1, 1.5, 2, 3),
    extra_delay_ms: fc.integer({ min: 0, max: 2000 }),
  })
  .map((r) =>
    compileAlertQueue({
      capacity: r.capacity,
      on_full: r.on_full,
      dedupe_capacity: r.dedupe_capacity,
      retry: {
        max_attempts: r.max_attempts,
        base_delay_ms: r.base_delay_ms,
        multiplier: r.multiplier,
        max_delay_ms: r.base_delay_ms + r.extra_delay_ms,
      },
    }),
  );

interface Transition {
  before: AlertQueueState;
  event: AlertQueueEvent;
  after: AlertQueueState;
  decision: AlertQueueDecision;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function run(
  config: CompiledAlertQueue,
  steps: readonly Step[],
  options: { freeze?: boolean; persist?: boolean } = {},
): { trace: Transition[]; state: AlertQueueState; now: number } {
  let state = initialAlertQueue();
  let now = 0;
  let handedOut: string | null = null;
  const trace: Transition[] = [];
  for (const step of steps) {
    now += step.dt;
    let event: AlertQueueEvent;
    switch (step.op) {
      case 'enqueue':
        event = {
          type: 'enqueue',
          alert: alert(step.key, { severity: step.severity }),
          now_ms: now,
        };
        break;
      case 'poll':
        event =
          step.max === 1
            ? { type: 'poll', now_ms: now }
            : { type: 'poll', now_ms: now, max: step.max };
        break;
      case 'restore':
        event = {
          type: 'restore',
          item: {
            key: step.key,
            alert: alert(step.key),
            enqueued_at_ms: Math.max(0, now - 100),
            attempts: step.attempts,
            next_attempt_at_ms: now,
          },
          now_ms: now,
        };
        break;
      case 'result': {
        const key = step.key ?? handedOut ?? 'a';
        event =
          step.error === null
            ? { type: 'delivery_result', key, ok: step.ok, now_ms: now }
            : { type: 'delivery_result', key, ok: step.ok, now_ms: now, error: step.error };
        break;
      }
    }
    const before = options.persist ? (JSON.parse(JSON.stringify(state)) as AlertQueueState) : state;
    if (options.freeze) {
      deepFreeze(before);
      deepFreeze(event);
    }
    const out = stepAlertQueue(config, before, event);
    if (out.decision.kind === 'deliver') handedOut = out.decision.key;
    if (out.decision.kind === 'deliver_batch') handedOut = out.decision.deliveries[0]!.key;
    trace.push({ before, event, after: out.state, decision: out.decision });
    state = out.state;
  }
  return { trace, state, now };
}

/** An obviously correct model of the queue: flat lists and linear scans. */
function model(config: CompiledAlertQueue, events: readonly AlertQueueEvent[]): string[] {
  const queue: { key: string; attempts: number; next: number }[] = [];
  const remembered: string[] = [];
  /** Remembered keys whose last status is dead-lettered: a redrive may restore them. */
  const dead = new Set<string>();
  const summaries: string[] = [];
  const remember = (key: string) => {
    remembered.push(key);
    if (remembered.length > config.dedupe_capacity) dead.delete(remembered.shift()!);
  };
  for (const event of events) {
    if (event.type === 'enqueue') {
      const key = event.alert.idempotency_key;
      if (remembered.includes(key) || queue.some((i) => i.key === key)) {
        summaries.push('duplicate_suppressed');
      } else if (queue.length >= config.capacity) {
        if (config.on_full !== 'fail_closed') remember(key);
        if (config.on_full === 'dead_letter') dead.add(key);
        summaries.push(
          { dead_letter: 'dead_lettered', drop: 'dropped', fail_closed: 'failed_closed' }[
            config.on_full
          ],
        );
      } else {
        remember(key);
        queue.push({ key, attempts: 0, next: event.now_ms });
        summaries.push('queued');
      }
    } else if (event.type === 'restore') {
      const key = event.item.key;
      if ((remembered.includes(key) && !dead.has(key)) || queue.some((i) => i.key === key)) {
        summaries.push('restore already_known');
      } else {
        if (!remembered.includes(key)) remember(key);
        dead.delete(key);
        queue.push({ key, attempts: event.item.attempts, next: event.item.next_attempt_at_ms });
        summaries.push('restore restored');
      }
    } else if (event.type === 'poll') {
      const due = queue.filter((i) => i.next <= event.now_ms).slice(0, event.max ?? 1);
      if (due.length > 0) {
        summaries.push(`deliver ${due.map((i) => `${i.key} ${i.attempts + 1}`).join(', ')}`);
      } else if (queue.length === 0) summaries.push('idle');
      else summaries.push(`wait ${Math.min(...queue.map((i) => i.next))}`);
    } else {
      const at = queue.findIndex((i) => i.key === event.key);
      const item = queue[at];
      if (item === undefined) summaries.push('unknown_key');
      else if (event.ok) {
        queue.splice(at, 1);
        summaries.push('delivered');
      } else if (item.attempts + 1 < config.retry.max_attempts) {
        item.attempts++;
        const { base_delay_ms, multiplier, max_delay_ms } = config.retry;
        const raw = Math.floor(base_delay_ms * multiplier ** (item.attempts - 1));
        item.next = event.now_ms + Math.min(max_delay_ms, raw);
        summaries.push(`retry_scheduled ${item.next}`);
      } else {
        queue.splice(at, 1);
        if (remembered.includes(event.key)) dead.add(event.key);
        summaries.push('dead_lettered');
      }
    }
  }
  return summaries;
}

function summary(decision: AlertQueueDecision): string {
  switch (decision.kind) {
    case 'enqueue':
      return decision.outcome;
    case 'deliver':
      return `deliver ${decision.key} ${decision.attempt}`;
    case 'deliver_batch':
      return `deliver ${decision.deliveries.map((d) => `${d.key} ${d.attempt}`).join(', ')}`;
    case 'wait':
      return `wait ${decision.until_ms}`;
    case 'idle':
    case 'unknown_key':
      return decision.kind;
    case 'restore':
      return `restore ${decision.outcome}`;
    case 'delivery_result':
      return decision.outcome === 'retry_scheduled'
        ? `retry_scheduled ${decision.next_attempt_at_ms}`
        : decision.outcome;
  }
}

describe('alert queue properties', () => {
  it('agrees with a flat-list model of the queue on every decision', () => {
    fc.assert(
      fc.property(configArb, stepsArb, (config, steps) => {
        const { trace } = run(config, steps);
        expect(trace.map((t) => summary(t.decision))).toEqual(
          model(
            config,
            trace.map((t) => t.event),
          ),
        );
      }),
      { numRuns: 500 },
    );
  });

  it('keeps depth within capacity, no key queued twice, and the key memory bounded and exact', () => {
    fc.assert(
      fc.property(configArb, stepsArb, (config, steps) => {
        for (const { before, event, after } of run(config, steps).trace) {
          // Restored alerts were acknowledged before: they join whatever the depth.
          expect(after.queue.length).toBeLessThanOrEqual(
            Math.max(config.capacity, before.queue.length + 1),
          );
          if (event.type !== 'restore' && after.queue.length > before.queue.length) {
            expect(after.queue.length).toBeLessThanOrEqual(config.capacity);
          }
          const keys = after.queue.map((i) => i.key);
          expect(new Set(keys).size).toBe(keys.length);
          const remembered = rememberedKeys(after);
          expect(after.remembered.count).toBe(remembered.length);
          expect(remembered.length).toBeLessThanOrEqual(config.dedupe_capacity);
          expect(new Set(remembered).size).toBe(remembered.length);
          const indexed = after.remembered.index.flatMap((bucket) => bucket.map(([key]) => key));
          expect(indexed.sort()).toEqual([...remembered].sort());
          expect(after.dead_letters.length).toBeLessThanOrEqual(config.dead_letter_capacity);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reports a duplicate only for a key remembered earlier', () => {
    fc.assert(
      fc.property(configArb, stepsArb, (config, steps) => {
        const ever = new Set<string>();
        for (const { decision, after } of run(config, steps).trace) {
          if (decision.kind === 'enqueue' && decision.outcome === 'duplicate_suppressed') {
            expect(ever.has(decision.key)).toBe(true);
          }
          for (const key of rememberedKeys(after)) ever.add(key);
        }
      }),
    );
  });

  it('lowers depth by exactly one on each successful delivery', () => {
    fc.assert(
      fc.property(configArb, stepsArb, (config, steps) => {
        for (const { before, after, decision } of run(config, steps).trace) {
          if (decision.kind === 'delivery_result' && decision.outcome === 'delivered') {
            expect(after.queue.length).toBe(before.queue.length - 1);
            expect(decision.queue_depth).toBe(after.queue.length);
          }
        }
      }),
    );
  });

  it('delivers or dead-letters every queued alert once a worker keeps polling', () => {
    fc.assert(
      fc.property(
        configArb,
        stepsArb,
        fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
        (config, steps, failures) => {
          const { trace, state: start, now: t0 } = run(config, steps);
          const queued = new Set(
            trace.flatMap((t) =>
              (t.decision.kind === 'enqueue' && t.decision.outcome === 'queued') ||
              (t.decision.kind === 'restore' && t.decision.outcome === 'restored')
                ? [t.decision.key]
                : [],
            ),
          );
          const decisions = trace.map((t) => t.decision);
          const settled = new Set<string>();
          let state = start;
          let now = t0;
          let i = 0;
          const budget = start.queue.length * config.retry.max_attempts * 2 + 1;
          for (let guard = 0; guard <= budget; guard++) {
            const { decision } = stepAlertQueue(config, state, { type: 'poll', now_ms: now });
            if (decision.kind === 'idle') break;
            if (decision.kind === 'wait') {
              expect(decision.until_ms).toBeGreaterThan(now);
              now = decision.until_ms;
              continue;
            }
            if (decision.kind !== 'deliver') throw new Error(`unexpected ${decision.kind}`);
            const ok = failures[i++ % failures.length]!;
            const out = stepAlertQueue(config, state, result(decision.key, ok, now));
            decisions.push(out.decision);
            state = out.state;
          }
          expect(state.queue).toEqual([]);
          const count = (what: string) => outcomes(decisions).filter((o) => o === what).length;
          for (const d of decisions) {
            if (d.kind === 'delivery_result' && d.outcome !== 'retry_scheduled') settled.add(d.key);
          }
          for (const key of queued) expect(settled.has(key)).toBe(true);
          // Every alert ever queued or restored left the queue exactly once, delivered or given up on.
          const gaveUp = decisions.filter(
            (d) => d.kind === 'delivery_result' && d.outcome === 'dead_lettered',
          ).length;
          const restored = decisions.filter(
            (d) => d.kind === 'restore' && d.outcome === 'restored',
          ).length;
          expect(count('queued') + restored).toBe(count('delivered') + gaveUp);
        },
      ),
    );
  });

  it('backs off non-decreasingly in attempts, never above max_delay_ms', () => {
    fc.assert(
      fc.property(configArb, fc.integer({ min: 1, max: 200 }), (config, n) => {
        const d = retryDelayMs(config, n);
        expect(Number.isInteger(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(config.retry.max_delay_ms);
        expect(retryDelayMs(config, n + 1)).toBeGreaterThanOrEqual(d);
      }),
    );
  });

  it('never mutates its inputs', () => {
    fc.assert(
      fc.property(configArb, stepsArb, (config, steps) => {
        const plain = run(config, steps);
        for (const { before, event } of plain.trace) {
          const snapshot = structuredClone({ before, event });
          stepAlertQueue(config, before, event);
          expect({ before, event }).toEqual(snapshot);
        }
        // Frozen inputs make any write throw, even one that restores the old value.
        const frozen = run(config, steps, { freeze: true });
        expect(frozen.trace.map((t) => t.decision)).toEqual(plain.trace.map((t) => t.decision));
      }),
    );
  });

  it('is deterministic, also when the state is persisted as JSON between steps', () => {
    fc.assert(
      fc.property(configArb, stepsArb, (config, steps) => {
        const a = run(config, steps);
        const b = run(config, steps);
        const persisted = run(config, steps, { persist: true });
        const json = (r: { trace: Transition[] }) =>
          JSON.stringify(r.trace.map((t) => [t.decision, t.after]));
        expect(json(b)).toBe(json(a));
        expect(json(persisted)).toBe(json(a));
      }),
    );
  });
});

/** A worker that polls until the queue is empty, sleeping through waits; `oks` cycle. */
function drain(
  config: CompiledAlertQueue,
  start: AlertQueueState,
  t0: number,
  oks: readonly boolean[],
): Transition[] {
  const trace: Transition[] = [];
  let state = start;
  let now = t0;
  let i = 0;
  const step = (event: AlertQueueEvent) => {
    const out = stepAlertQueue(config, state, event);
    trace.push({ before: state, event, after: out.state, decision: out.decision });
    state = out.state;
    return out.decision;
  };
  for (let guard = start.queue.length * config.retry.max_attempts * 2 + 1; guard > 0; guard--) {
    const decision = step({ type: 'poll', now_ms: now });
    if (decision.kind === 'idle') break;
    if (decision.kind === 'wait') now = decision.until_ms;
    else if (decision.kind === 'deliver') step(result(decision.key, oks[i++ % oks.length]!, now));
  }
  return trace;
}

describe('output schemas', () => {
  const statuses: AlertStatus[] = [
    'queued',
    'retry_scheduled',
    'delivered',
    'duplicate_suppressed',
    'dead_lettered',
    'dropped',
    'failed_closed',
  ];
  const rememberedStatusArb = fc.constantFrom(
    ...statuses.filter((status) => status !== 'duplicate_suppressed'),
  ) as fc.Arbitrary<NonNullable<EnqueueInput['existing']>>;
  const enqueueInputArb: fc.Arbitrary<EnqueueInput> = fc
    .record({
      queue_depth: fc.integer({ min: 0, max: 6 }),
      already_seen: fc.boolean(),
      existing: fc.option(rememberedStatusArb, { nil: undefined }),
    })
    .map(({ existing, ...rest }) => (existing === undefined ? rest : { ...rest, existing }));

  it('describes every enqueue input and decision of decideEnqueue', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(configArb, enqueueInputArb, keyArb, (config, input, key) => {
        expect(schemaIssues(EnqueueInputSchema, input)).toEqual([]);
        const decision = decideEnqueue(config, input, alert(key));
        expect(schemaIssues(EnqueueDecisionSchema, decision)).toEqual([]);
        expect(schemaIssues(AlertStatusSchema, decision.outcome)).toEqual([]);
        seen.add(decision.outcome);
      }),
      { numRuns: 300 },
    );
    expect([...seen].sort()).toEqual(
      ['dead_lettered', 'dropped', 'duplicate_suppressed', 'failed_closed', 'queued'].sort(),
    );
  });

  it('describes every event, decision and state of stepAlertQueue', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(
        configArb,
        stepsArb,
        fc.array(fc.boolean(), { minLength: 1 }),
        (config, steps, oks) => {
          const { trace, state, now } = run(config, steps);
          for (const { event, decision, after } of [...trace, ...drain(config, state, now, oks)]) {
            expect(schemaIssues(AlertQueueEventSchema, event)).toEqual([]);
            expect(schemaIssues(AlertQueueDecisionSchema, decision)).toEqual([]);
            expect(schemaIssues(AlertQueueStateSchema, after)).toEqual([]);
            seen.add(
              'outcome' in decision ? `${decision.kind} ${decision.outcome}` : decision.kind,
            );
            if (decision.kind === 'delivery_result') {
              expect(schemaIssues(DeliveryDecisionSchema, decision)).toEqual([]);
              expect(schemaIssues(AlertStatusSchema, decision.outcome)).toEqual([]);
            }
            expect(schemaIssues(RememberedKeysSchema, after.remembered)).toEqual([]);
            expect(schemaIssues(AlertQueueCountersSchema, after.counters)).toEqual([]);
            for (const item of after.queue) {
              expect(schemaIssues(AlertQueueItemSchema, item)).toEqual([]);
            }
            for (const letter of after.dead_letters) {
              expect(schemaIssues(DeadLetterSchema, letter)).toEqual([]);
            }
            for (const entry of after.remembered.index.flat()) {
              expect(schemaIssues(RememberedEntrySchema, entry)).toEqual([]);
              expect(schemaIssues(RememberedStatusSchema, entry[1])).toEqual([]);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
    // Every shape of decision was produced, so every branch of the union was checked.
    expect([...seen].sort()).toEqual(
      [
        'deliver',
        'deliver_batch',
        'delivery_result dead_lettered',
        'delivery_result delivered',
        'delivery_result retry_scheduled',
        'enqueue dead_lettered',
        'enqueue dropped',
        'enqueue duplicate_suppressed',
        'enqueue failed_closed',
        'enqueue queued',
        'idle',
        'restore already_known',
        'restore restored',
        'unknown_key',
        'wait',
      ].sort(),
    );
  });

  it('describes a delivery error truncated to MAX_ERROR_BYTES, and the initial state', () => {
    const once = compileAlertQueue({ retry: { max_attempts: 1 } });
    const { state, decisions } = apply(once, [
      enq('a'),
      result('a', false, 1, 'x'.repeat(MAX_ERROR_BYTES * 3)),
    ]);
    expect(schemaIssues(AlertQueueDecisionSchema, decisions[1])).toEqual([]);
    expect(schemaIssues(AlertQueueStateSchema, state)).toEqual([]);
    expect(schemaIssues(AlertQueueStateSchema, initialAlertQueue())).toEqual([]);
  });

  it('is tight: rejects unknown keys, missing evidence, mixed variants and malformed memory', () => {
    const queued = { kind: 'enqueue', key: 'a', rule_id: 'r', outcome: 'queued' };
    const full = { ...queued, queue_depth: 1, capacity: 1 };
    const paths = (schema: Parameters<typeof schemaIssues>[0], value: unknown) =>
      schemaIssues(schema, value).map((issue) => issue.path);
    expect(schemaIssues(AlertQueueDecisionSchema, full)).toEqual([]);
    expect(paths(AlertQueueDecisionSchema, { ...full, extra: 1 })).toEqual(['$.extra']);
    expect(paths(AlertQueueDecisionSchema, { ...full, outcome: 'dropped' })).toEqual(['$.reason']);
    expect(paths(AlertQueueDecisionSchema, { ...full, kind: 'deliver' })).not.toEqual([]);
    expect(paths(AlertQueueDecisionSchema, { kind: 'bogus' })).toEqual(['$.kind']);
    expect(paths(AlertQueueDecisionSchema, { ...full, outcome: 'delivered' })).toEqual([
      '$.outcome',
    ]);
    expect(
      paths(DeliveryDecisionSchema, {
        kind: 'delivery_result',
        key: 'a',
        rule_id: 'r',
        attempts: 0,
        queue_depth: 0,
        outcome: 'delivered',
      }),
    ).toEqual(['$.attempts']);
    expect(paths(EnqueueDecisionSchema, full)).toEqual(['$.kind']);
    expect(paths(RememberedEntrySchema, ['a'])).not.toEqual([]);
    expect(paths(RememberedEntrySchema, ['a', 'queued', 'x'])).not.toEqual([]);
    expect(paths(RememberedEntrySchema, ['a', 'duplicate_suppressed'])).toEqual(['$[1]']);
    const empty = initialAlertQueue();
    expect(
      paths(AlertQueueStateSchema, { ...empty, remembered: { ...empty.remembered, order: [[]] } }),
    ).toEqual(['$.remembered.order[0]']);
    expect(
      paths(AlertQueueStateSchema, { ...empty, remembered: { ...empty.remembered, index: [] } }),
    ).toEqual(['$.remembered.index']);
    expect(paths(AlertQueueEventSchema, { type: 'delivery_result', key: 'a', now_ms: 0 })).toEqual([
      '$.ok',
    ]);
  });
});
