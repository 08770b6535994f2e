import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Alert,
  compileAlertQueue,
  createAlertQueue,
  memoryAlertSink,
  type OutboxEntry,
} from '@wardwright/core';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from './sqlite-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'wardwright-outbox-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `outbox-${n++}.db`);

const alert = (key: string): Alert => ({
  idempotency_key: key,
  rule_id: `rule-${key}`,
  severity: 'critical',
  message: `about ${key}`,
});

describe('the SQLite alert outbox', () => {
  it('keeps what a queue owes across a reopen, with its receipt and attempts', async () => {
    // The sink fails the first delivery, so that alert is owed with one attempt made.
    const path2 = freshPath();
    const store = await openSqliteStore({ path: path2 });
    const failing = memoryAlertSink({ name: 'pager' });
    const q2 = createAlertQueue({
      config: compileAlertQueue({ retry: { max_attempts: 3, base_delay_ms: 100 } }),
      sink: failing,
      model_id: 'm',
      model_version: '1',
      now: () => 0,
      outbox: store.alerts.outboxFor('m'),
    });
    q2.enqueue(alert('a'), 10, 'rcpt_a');
    q2.enqueue(alert('b'), 11, 'rcpt_b');
    q2.enqueue(alert('c'), 12, 'rcpt_c');
    failing.failNext(1, 'pager down');
    await q2.drain(20);
    // 'a' failed once (retry at 120); 'b' and 'c' were delivered. Then the process "dies".
    expect((await store.alerts.ofReceipt('rcpt_b')).map((r) => r.status)).toEqual(['delivered']);
    await store.close();
    const reopened = await openSqliteStore({ path: path2 });
    const owed = await reopened.alerts.outboxFor('m').pending('pager');
    expect(owed).toEqual<OutboxEntry[]>([
      {
        sink: 'pager',
        key: 'a',
        alert: alert('a'),
        receipt_id: 'rcpt_a',
        enqueued_at_ms: 10,
        attempts: 1,
        next_attempt_at_ms: 120,
      },
    ]);
    expect(await reopened.alerts.outboxFor('m').pending('other-sink')).toEqual([]);
    expect(await reopened.alerts.outboxFor('other-model').pending('pager')).toEqual([]);
    // A delivered alert is kept while its receipt is; these receipts were never stored.
    expect(await reopened.alerts.ofReceipt('rcpt_b')).toEqual([]);
    expect(await reopened.alerts.ofReceipt('rcpt_a')).toEqual([
      expect.objectContaining({
        status: 'retry_scheduled',
        attempts: 1,
        error: 'pager down',
        receipt_id: 'rcpt_a',
      }),
    ]);
    await reopened.close();
  });

  it('lists dead letters with reason and error, redrives them, and they are owed again', async () => {
    const store = await openSqliteStore({ path: freshPath() });
    const sink = memoryAlertSink({ name: 'pager' });
    const queue = createAlertQueue({
      config: compileAlertQueue({ capacity: 1, retry: { max_attempts: 1 } }),
      sink,
      model_id: 'm',
      model_version: '1',
      now: () => 50,
      outbox: store.alerts.outboxFor('m'),
    });
    queue.enqueue(alert('gave-up'), 10, 'rcpt_1');
    queue.enqueue(alert('full'), 11, 'rcpt_2'); // the queue is full: a dead letter at once
    sink.failNext(1, 'HTTP 503');
    await queue.drain(20);
    const letters = await store.alerts.deadLetters({ model_id: 'm' });
    expect(letters.map((l) => [l.idempotency_key, l.reason, l.attempts, l.error])).toEqual([
      ['gave-up', 'delivery_failed', 1, 'HTTP 503'],
      ['full', 'queue_full', 0, null],
    ]);
    expect(await store.alerts.deadLetters({ model_id: 'm', sink: 'other' })).toEqual([]);
    expect(await store.alerts.deadLetters({ keys: ['full'] })).toHaveLength(1);

    const redriven = await store.alerts.redrive({ model_id: 'm', keys: ['gave-up'] }, 100);
    expect(redriven).toEqual([
      expect.objectContaining({
        idempotency_key: 'gave-up',
        status: 'queued',
        attempts: 0,
        reason: null,
        next_attempt_at_ms: 100,
      }),
    ]);
    expect((await store.alerts.deadLetters()).map((l) => l.idempotency_key)).toEqual(['full']);
    expect(
      (await store.alerts.outboxFor('m').pending('pager')).map((e) => [e.key, e.receipt_id]),
    ).toEqual([['gave-up', 'rcpt_1']]);
    await store.close();
  });
});

describe('the pending-receipt journal', () => {
  it('a receipt clears its promise; a reopen marks what a dead process left interrupted', async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path });
    const promise = (receipt_id: string) =>
      store.pending.begin({
        receipt_id,
        model: { id: 'm', version: '1' },
        session_id: 's',
        created_at_ms: 5,
      });
    promise('rcpt_done');
    promise('rcpt_cut');
    expect(store.pending.get('rcpt_cut')).toMatchObject({ status: 'pending', session_id: 's' });
    await store.receipts.append({
      receipt_id: 'rcpt_done',
      created_at_ms: 5,
      model: { id: 'm', version: '1' },
      session_id: 's',
      final: { status: 'completed' },
    } as never);
    expect(store.pending.get('rcpt_done')).toBeUndefined();
    await store.close();
    const reopened = await openSqliteStore({ path });
    expect(reopened.pending.get('rcpt_cut')).toEqual({
      receipt_id: 'rcpt_cut',
      model: { id: 'm', version: '1' },
      session_id: 's',
      created_at_ms: 5,
      status: 'interrupted',
    });
    await reopened.close();
  });
});
