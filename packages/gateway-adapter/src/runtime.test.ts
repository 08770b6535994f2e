import type { AlertSink } from '@wardwright/core';
import { describe, expect, it } from 'vitest';
import { GatewayError } from './errors.ts';
import { MAX_TRACKED_SESSIONS, observedSink, SessionTracker } from './runtime.ts';

describe('SessionTracker', () => {
  it('forgets the least recently seen session past the bound, and still counts it as seen', () => {
    const tracker = new SessionTracker();
    tracker.touch('first', 'm', 0);
    for (let i = 1; i < MAX_TRACKED_SESSIONS; i++) tracker.touch(`s${i}`, 'm', i);
    tracker.touch('first', 'm2', MAX_TRACKED_SESSIONS); // seen again: now the newest
    tracker.touch('new', 'm', MAX_TRACKED_SESSIONS + 1);
    const snapshot = tracker.snapshot();
    expect(snapshot.seen).toBe(MAX_TRACKED_SESSIONS + 1);
    expect(snapshot.tracked).toBe(MAX_TRACKED_SESSIONS);
    expect(snapshot.recent.slice(0, 2).map((s) => s.session_id)).toEqual(['new', 'first']);
    expect(snapshot.recent[1]).toMatchObject({ requests: 2, model: 'm2' });
    expect(snapshot.recent).toHaveLength(50);
    expect(snapshot.recent.some((s) => s.session_id === 's1')).toBe(false);
  });
});

describe('GatewayError', () => {
  it('is recognised by its marker, also across copies of the class', () => {
    const error = new GatewayError('invalid_option', 'bad', { cause: new Error('root') });
    expect(GatewayError.isInstance(error)).toBe(true);
    expect(error.code).toBe('invalid_option');
    expect((error.cause as Error).message).toBe('root');
    const foreign = Object.assign(new Error('x'), {
      [Symbol.for('wardwright.gateway.error')]: true,
    });
    expect(GatewayError.isInstance(foreign)).toBe(true);
    expect(GatewayError.isInstance(new Error('x'))).toBe(false);
    expect(GatewayError.isInstance(null)).toBe(false);
  });
});

describe('observedSink', () => {
  it('keeps a batching sink batching, and reports each alert of a batch', async () => {
    const batches: string[][] = [];
    const sink: AlertSink = {
      name: 'batcher',
      deliver: async () => {},
      deliverBatch: async (ds) => {
        batches.push(ds.map((d) => d.alert.idempotency_key));
      },
    };
    const reports: string[] = [];
    const observed = observedSink(sink, (phase, _rule, key) => reports.push(`${phase} ${key}`));
    const delivery = (key: string) => ({
      alert: { idempotency_key: key, rule_id: 'r', severity: 'info' as const, message: '' },
      model_id: 'm',
      model_version: '1',
      attempt: 1,
      signal: new AbortController().signal,
    });
    await observed.deliverBatch!([delivery('a'), delivery('b')]);
    expect(batches).toEqual([['a', 'b']]);
    expect(reports).toEqual(['delivered a', 'delivered b']);
    expect(observedSink({ name: 'one', deliver: async () => {} }, () => {}).deliverBatch).toBe(
      undefined,
    );
  });
});
