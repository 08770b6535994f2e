import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type Alert,
  type AlertQueueDecision,
  compileAlertQueue,
  retryDelayMs,
} from '../decisions/alert-backpressure.ts';
import { WardwrightError } from '../errors/wardwright-error.ts';
import type { AlertOutbox, OutboxChange } from './alert-outbox.ts';
import { type AlertQueueOptions, createAlertQueue } from './alert-queue.ts';
import { type AlertDelivery, type AlertSink, memoryAlertSink } from './alert-sinks.ts';

function alert(key: string): Alert {
  return { idempotency_key: key, rule_id: `rule-${key}`, severity: 'warning', message: key };
}

function queueWith(
  config: unknown,
  sink: AlertSink = memoryAlertSink(),
  extra: Partial<AlertQueueOptions> = {},
) {
  const decisions: AlertQueueDecision[] = [];
  const queue = createAlertQueue({
    config: compileAlertQueue(config),
    sink,
    model_id: 'm',
    model_version: '7',
    now: () => Date.now(),
    onDecision: (d) => decisions.push(d),
    ...extra,
  });
  return { queue, decisions };
}

/** A sink whose deliveries stay pending until the test settles them. */
function manualSink(name = 'manual') {
  const calls: { delivery: AlertDelivery; resolve: () => void; reject: (e: Error) => void }[] = [];
  const sink: AlertSink = {
    name,
    deliver: (delivery) =>
      new Promise<void>((resolve, reject) => calls.push({ delivery, resolve, reject })),
  };
  return { sink, calls };
}

const kinds = (decisions: AlertQueueDecision[]) =>
  decisions.map((d) => ('outcome' in d ? `${d.kind}:${d.outcome}` : d.kind));

afterEach(() => {
  vi.useRealTimers();
});

describe('createAlertQueue: enqueue and drain', () => {
  it('delivers queued alerts in order and reports every decision', async () => {
    const sink = memoryAlertSink();
    const { queue, decisions } = queueWith({}, sink);
    expect(queue.sink_name).toBe('memory');
    const first = queue.enqueue(alert('a'), 100);
    expect(first).toMatchObject({ kind: 'enqueue', outcome: 'queued', key: 'a', queue_depth: 1 });
    queue.enqueue(alert('b'), 101);
    expect(queue.depth()).toBe(2);

    const drained = await queue.drain(200);
    expect(kinds(drained)).toEqual([
      'deliver',
      'delivery_result:delivered',
      'deliver',
      'delivery_result:delivered',
      'idle',
    ]);
    expect(queue.depth()).toBe(0);
    expect(sink.delivered.map((d) => [d.alert.idempotency_key, d.attempt])).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
    expect(sink.delivered[0]).toMatchObject({ model_id: 'm', model_version: '7' });
    expect(sink.delivered[0]!.signal.aborted).toBe(false);
    expect(decisions).toEqual([
      expect.objectContaining({ kind: 'enqueue', key: 'a' }),
      expect.objectContaining({ kind: 'enqueue', key: 'b' }),
      ...drained,
    ]);
    expect(queue.snapshot().counters).toMatchObject({ queued: 2, delivered: 2 });
    expect(await queue.drain(300)).toEqual([{ kind: 'idle' }]);
  });

  it('retries a failed delivery at the core delay: nothing is delivered before it', async () => {
    const config = { retry: { base_delay_ms: 100, multiplier: 3, max_delay_ms: 1000 } };
    const sink = memoryAlertSink();
    const { queue } = queueWith(config, sink);
    queue.enqueue(alert('a'), 1000);
    sink.failNext(2, 'receiver down');

    const first = await queue.drain(1000);
    const delay1 = retryDelayMs(compileAlertQueue(config), 1);
    expect(delay1).toBe(100);
    expect(first).toEqual([
      { kind: 'deliver', key: 'a', alert: alert('a'), attempt: 1 },
      expect.objectContaining({
        kind: 'delivery_result',
        outcome: 'retry_scheduled',
        attempts: 1,
        delay_ms: delay1,
        next_attempt_at_ms: 1000 + delay1,
        error: 'receiver down',
      }),
      { kind: 'wait', until_ms: 1100, queue_depth: 1 },
    ]);
    expect(await queue.drain(1099)).toEqual([{ kind: 'wait', until_ms: 1100, queue_depth: 1 }]);
    expect(sink.delivered).toHaveLength(0);

    const second = await queue.drain(1100);
    expect(second[1]).toMatchObject({ outcome: 'retry_scheduled', delay_ms: 300 });
    expect(second[2]).toEqual({ kind: 'wait', until_ms: 1400, queue_depth: 1 });
    expect(kinds(await queue.drain(1400))).toEqual([
      'deliver',
      'delivery_result:delivered',
      'idle',
    ]);
    expect(sink.delivered.map((d) => d.attempt)).toEqual([3]);
  });

  it('dead-letters an alert after max_attempts failed deliveries', async () => {
    const sink = memoryAlertSink();
    const { queue } = queueWith({ retry: { max_attempts: 2, base_delay_ms: 0 } }, sink);
    queue.enqueue(alert('a'), 0);
    sink.failNext(5, 'still down');
    const drained = await queue.drain(0);
    expect(kinds(drained)).toEqual([
      'deliver',
      'delivery_result:retry_scheduled',
      'deliver',
      'delivery_result:dead_lettered',
      'idle',
    ]);
    expect(drained[3]).toMatchObject({
      reason: 'delivery_failed',
      attempts: 2,
      max_attempts: 2,
      error: 'still down',
    });
    expect(queue.snapshot().dead_letters).toEqual([
      expect.objectContaining({ key: 'a', reason: 'delivery_failed', attempts: 2 }),
    ]);
    expect(queue.depth()).toBe(0);
  });

  it.each([
    ['dead_letter', 'dead_lettered'],
    ['drop', 'dropped'],
    ['fail_closed', 'failed_closed'],
  ] as const)('applies on_full %s when the queue is full', async (on_full, outcome) => {
    const { queue } = queueWith({ capacity: 1, on_full });
    expect(queue.enqueue(alert('a'), 0).outcome).toBe('queued');
    expect(queue.enqueue(alert('b'), 1)).toMatchObject({
      kind: 'enqueue',
      outcome,
      reason: 'queue_full',
      queue_depth: 1,
      capacity: 1,
    });
    expect(queue.enqueue(alert('a'), 2).outcome).toBe('duplicate_suppressed');
    expect(queue.depth()).toBe(1);
    await queue.drain(3);
    expect(queue.enqueue(alert('c'), 4).outcome).toBe('queued'); // the drain made room
  });

  it('counts a sink that throws synchronously, or rejects with a non-Error, as a failed attempt', async () => {
    let calls = 0;
    const sink: AlertSink = {
      name: 'odd',
      deliver() {
        calls++;
        if (calls === 1) throw new Error('sync boom');
        if (calls === 2) return Promise.reject('just a string');
        if (calls === 3) return Promise.reject(new TypeError(''));
        return Promise.resolve();
      },
    };
    const { queue } = queueWith({ retry: { base_delay_ms: 0 } }, sink);
    queue.enqueue(alert('a'), 0);
    const drained = await queue.drain(0);
    const errors = drained.flatMap((d) =>
      d.kind === 'delivery_result' && d.outcome === 'retry_scheduled' ? [d.error] : [],
    );
    expect(errors).toEqual(['sync boom', 'just a string', 'TypeError']);
    expect(drained.at(-2)).toMatchObject({ outcome: 'delivered', attempts: 4 });
  });

  it('ignores an onDecision that throws', async () => {
    const sink = memoryAlertSink();
    const { queue } = queueWith({}, sink, {
      onDecision: () => {
        throw new Error('observer bug');
      },
    });
    expect(queue.enqueue(alert('a'), 0).outcome).toBe('queued');
    await queue.drain(0);
    expect(sink.delivered).toHaveLength(1);
  });

  it('serialises concurrent drains, so an alert is handed out once', async () => {
    const { sink, calls } = manualSink();
    const { queue } = queueWith({}, sink);
    queue.enqueue(alert('a'), 0);
    const one = queue.drain(0);
    const two = queue.drain(0);
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    calls[0]!.resolve();
    expect(kinds(await one)).toEqual(['deliver', 'delivery_result:delivered', 'idle']);
    expect(await two).toEqual([{ kind: 'idle' }]);
    expect(calls).toHaveLength(1);
  });

  it('validates its options and times with invalid_argument', () => {
    const base: AlertQueueOptions = {
      config: compileAlertQueue({}),
      sink: memoryAlertSink(),
      model_id: 'm',
      model_version: '1',
      now: () => 0,
    };
    const make = (patch: Record<string, unknown>) => () =>
      createAlertQueue({ ...base, ...patch } as AlertQueueOptions);
    expect(make({ config: {} })).toThrow(/config must be the result of compileAlertQueue/);
    expect(make({ config: null })).toThrow(/config/);
    expect(make({ sink: { name: 'x' } })).toThrow(/sink must be an AlertSink/);
    expect(make({ sink: null })).toThrow(/sink must be an AlertSink/);
    expect(make({ model_id: 1 })).toThrow(/model_id must be a string, got 1/);
    expect(make({ model_version: null })).toThrow(/model_version must be a string, got null/);
    expect(make({ now: 5 })).toThrow(/now must be a function/);
    expect(make({ onDecision: 'x' })).toThrow(/onDecision must be a function/);
    expect(make({ stop_grace_ms: -1 })).toThrow(/stop_grace_ms must be an integer/);
    expect(make({ extra: 1 })).toThrow(/unknown option `extra`/);
    const queue = createAlertQueue(base);
    expect(() => queue.enqueue(alert('a'), Number.NaN)).toThrow(
      /enqueue: now_ms must be a finite number, got NaN/,
    );
    expect(() => queue.drain('1' as unknown as number)).toThrow(
      /drain: now_ms must be a finite number, got "1"/,
    );
    try {
      make({ now: undefined })();
      expect.unreachable();
    } catch (error) {
      expect(WardwrightError.isInstance(error)).toBe(true);
      expect((error as WardwrightError).code).toBe('invalid_argument');
    }
  });
});

describe('createAlertQueue: background worker', () => {
  it('delivers an alert enqueued while idle, and one enqueued mid-delivery', async () => {
    const { sink, calls } = manualSink();
    const { queue } = queueWith({}, sink);
    queue.start();
    queue.start(); // already running: no second worker
    queue.enqueue(alert('a'), Date.now());
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    queue.enqueue(alert('b'), Date.now());
    calls[0]!.resolve();
    await vi.waitFor(() => expect(calls).toHaveLength(2));
    calls[1]!.resolve();
    await vi.waitFor(() => expect(queue.depth()).toBe(0));
    expect(calls.map((c) => c.delivery.alert.idempotency_key)).toEqual(['a', 'b']);
    await queue.stop();
  });

  it('waits on a real timer for a retry, then delivers', async () => {
    const sink = memoryAlertSink();
    const { queue, decisions } = queueWith({ retry: { base_delay_ms: 30 } }, sink);
    sink.failNext(1, 'flaky');
    queue.start();
    queue.enqueue(alert('a'), Date.now());
    await vi.waitFor(() => expect(sink.delivered).toHaveLength(1), { timeout: 2000 });
    expect(sink.delivered[0]!.attempt).toBe(2);
    const retry = decisions.find((d) => d.kind === 'delivery_result');
    expect(retry).toMatchObject({ outcome: 'retry_scheduled', delay_ms: 30 });
    expect(decisions.some((d) => d.kind === 'wait')).toBe(true);
    await queue.stop();
  });

  it('stops promptly when idle, and a restarted worker picks up where it left off', async () => {
    const sink = memoryAlertSink();
    const { queue } = queueWith({}, sink);
    queue.start();
    await queue.stop();
    queue.enqueue(alert('a'), Date.now());
    await new Promise((resolve) => setImmediate(resolve));
    expect(sink.delivered).toHaveLength(0); // stopped: nothing delivers
    queue.start();
    await vi.waitFor(() => expect(sink.delivered).toHaveLength(1));
    await queue.stop();
    await queue.stop();
  });

  it('lets an in-flight delivery finish within the grace period on stop', async () => {
    const { sink, calls } = manualSink();
    const { queue } = queueWith({}, sink, { stop_grace_ms: 5000 });
    queue.start();
    queue.enqueue(alert('a'), Date.now());
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    const stopped = queue.stop();
    calls[0]!.resolve();
    await stopped;
    expect(calls[0]!.delivery.signal.aborted).toBe(false);
    expect(queue.snapshot().counters.delivered).toBe(1);
  });

  it('aborts a hanging delivery on stop after the grace period (default 1 s)', async () => {
    vi.useFakeTimers();
    const { sink, calls } = manualSink('hang');
    const { queue } = queueWith({}, sink);
    queue.enqueue(alert('a'), 0);
    const drained = queue.drain(0);
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    let stopped = false;
    const stopping = queue.stop().then(() => {
      stopped = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(calls[0]!.delivery.signal.aborted).toBe(false);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls[0]!.delivery.signal.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(1); // the queue gives a sink one macrotask to react
    await stopping;
    // This sink ignores its signal; the queue ends the attempt anyway, as a failure.
    expect(kinds(await drained)).toEqual(['deliver', 'delivery_result:retry_scheduled', 'wait']);
    expect((await drained)[1]).toMatchObject({ error: 'hang: delivery aborted' });
  });

  it('aborts a hanging worker delivery through its signal', async () => {
    let started = 0;
    const sink: AlertSink = {
      name: 'slow',
      deliver: ({ signal }) => {
        started++;
        return new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(new Error('gave up on abort'))),
        );
      },
    };
    const { queue, decisions } = queueWith({}, sink, { stop_grace_ms: 10 });
    queue.start();
    queue.enqueue(alert('a'), Date.now());
    await vi.waitFor(() => expect(started).toBe(1));
    await queue.stop();
    expect(decisions.at(-1)).toMatchObject({
      kind: 'delivery_result',
      outcome: 'retry_scheduled',
      error: 'gave up on abort',
    });
    expect(queue.snapshot().queue).toEqual([expect.objectContaining({ key: 'a', attempts: 1 })]);
    expect(started).toBe(1); // the stopped worker made no further attempt
  });

  it('survives a clock that throws: backs off and carries on', async () => {
    vi.useFakeTimers();
    let broken = true;
    const sink = memoryAlertSink();
    const { queue } = queueWith({}, sink, {
      now: () => {
        if (broken) throw new Error('clock broken');
        return 0;
      },
    });
    queue.start();
    await vi.advanceTimersByTimeAsync(0);
    broken = false;
    await vi.advanceTimersByTimeAsync(1000);
    queue.enqueue(alert('a'), 0);
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.delivered).toHaveLength(1);
    await queue.stop();
  });
});

describe('createAlertQueue: a durable outbox', () => {
  /** An outbox that keeps every change in order: what a durable store would be told. */
  function recordingOutbox(options: { async?: boolean; failOn?: OutboxChange['kind'] } = {}) {
    const changes: OutboxChange[] = [];
    let settle: (() => void) | undefined;
    const outbox: AlertOutbox = {
      record(change) {
        if (change.kind === options.failOn) throw new Error('disk full');
        if (!options.async) {
          changes.push(change);
          return;
        }
        return new Promise<void>((resolve) => {
          settle = () => {
            changes.push(change);
            resolve();
          };
        });
      },
      pending: () => [],
    };
    return { outbox, changes, settle: () => settle?.() };
  }

  it('writes what it accepts with its receipt, then each result: retry, delivered, dead letter', async () => {
    const { outbox, changes } = recordingOutbox();
    const sink = memoryAlertSink();
    const { queue } = queueWith(
      { capacity: 1, retry: { max_attempts: 2, base_delay_ms: 10 } },
      sink,
      { outbox },
    );
    queue.enqueue(alert('a'), 100, 'rcpt_1');
    // The queue is full: the refused alert is a dead letter on record too.
    queue.enqueue(alert('b'), 100, 'rcpt_2');
    sink.failNext(1, 'sink down');
    await queue.drain(100);
    await queue.drain(110);
    expect(changes).toEqual([
      {
        kind: 'queued',
        entry: {
          sink: 'memory',
          key: 'a',
          alert: alert('a'),
          receipt_id: 'rcpt_1',
          enqueued_at_ms: 100,
          attempts: 0,
          next_attempt_at_ms: 100,
        },
      },
      {
        kind: 'dead_lettered',
        reason: 'queue_full',
        entry: expect.objectContaining({ key: 'b', receipt_id: 'rcpt_2', attempts: 0 }),
        at_ms: 100,
      },
      expect.objectContaining({
        kind: 'retry_scheduled',
        key: 'a',
        attempts: 1,
        next_attempt_at_ms: 110,
        error: 'sink down',
      }),
      expect.objectContaining({ kind: 'delivered', key: 'a', attempts: 2 }),
    ]);
  });

  it('records a dead letter after the last retry, with its request, attempts and error', async () => {
    const { outbox, changes } = recordingOutbox();
    const sink = memoryAlertSink();
    const { queue } = queueWith({ retry: { max_attempts: 1 } }, sink, { outbox });
    queue.enqueue(alert('a'), 5, 'rcpt_9');
    sink.failNext(1, 'gone');
    await queue.drain(5);
    expect(changes.at(-1)).toMatchObject({
      kind: 'dead_lettered',
      reason: 'delivery_failed',
      entry: { key: 'a', receipt_id: 'rcpt_9', attempts: 1, alert: alert('a') },
      error: 'gone',
    });
  });

  it('restores owed alerts over capacity, keeps their attempts, and never takes a key twice', async () => {
    const sink = memoryAlertSink();
    const { queue, decisions } = queueWith({ capacity: 1, retry: { max_attempts: 3 } }, sink);
    queue.enqueue(alert('live'), 0);
    const owed = (key: string, attempts: number) => ({
      sink: 'memory',
      key,
      alert: alert(key),
      receipt_id: `rcpt_${key}`,
      enqueued_at_ms: 0,
      attempts,
      next_attempt_at_ms: 50,
    });
    const restored = queue.restore([owed('x', 0), owed('y', 2), owed('live', 0)], 60);
    expect(kinds(restored)).toEqual([
      'restore:restored',
      'restore:restored',
      'restore:already_known',
    ]);
    expect(queue.depth()).toBe(3);
    await queue.drain(60);
    // The restored alert that had failed twice makes its third attempt, not its first.
    expect(sink.delivered.map((d) => [d.alert.idempotency_key, d.attempt])).toEqual([
      ['live', 1],
      ['x', 1],
      ['y', 3],
    ]);
    expect(queue.snapshot().counters.restored).toBe(2);
    expect(kinds(decisions).filter((k) => k.startsWith('restore'))).toHaveLength(3);
  });

  it('takes a dead letter back on a redrive: it leaves the dead letters and is delivered', async () => {
    const sink = memoryAlertSink();
    const { queue } = queueWith({ retry: { max_attempts: 1 } }, sink);
    queue.enqueue(alert('a'), 0);
    sink.failNext(1, 'down');
    await queue.drain(0);
    expect(queue.snapshot().dead_letters.map((l) => l.key)).toEqual(['a']);
    const [decision] = queue.restore(
      [
        {
          sink: 'memory',
          key: 'a',
          alert: alert('a'),
          receipt_id: null,
          enqueued_at_ms: 0,
          attempts: 0,
          next_attempt_at_ms: 10,
        },
      ],
      10,
    );
    expect(decision).toMatchObject({ kind: 'restore', outcome: 'restored', queue_depth: 1 });
    expect(queue.snapshot().dead_letters).toEqual([]);
    await queue.drain(10);
    expect(sink.delivered.map((d) => [d.alert.idempotency_key, d.attempt])).toEqual([['a', 1]]);
  });

  it('flush waits for an asynchronous outbox; a failed write is reported and delivery goes on', async () => {
    const slow = recordingOutbox({ async: true });
    const { queue } = queueWith({}, memoryAlertSink(), { outbox: slow.outbox });
    queue.enqueue(alert('a'), 0, 'rcpt_1');
    let flushed = false;
    const flushing = queue.flush().then(() => {
      flushed = true;
    });
    await Promise.resolve();
    expect(flushed).toBe(false);
    slow.settle();
    await flushing;
    expect(slow.changes.map((c) => c.kind)).toEqual(['queued']);

    const errors: unknown[] = [];
    const broken = recordingOutbox({ failOn: 'queued' });
    const sink = memoryAlertSink();
    const { queue: second } = queueWith({}, sink, {
      outbox: broken.outbox,
      onOutboxError: (error) => errors.push(error),
    });
    second.enqueue(alert('b'), 0);
    await second.drain(0);
    expect(errors).toEqual([new Error('disk full')]);
    expect(sink.delivered).toHaveLength(1);
    expect(broken.changes.map((c) => c.kind)).toEqual(['delivered']);
  });
});

describe('createAlertQueue: a sink that takes batches', () => {
  function batchingSink() {
    const batches: string[][] = [];
    let failures = 0;
    const sink: AlertSink = {
      name: 'batcher',
      deliver: async (d) => {
        batches.push([d.alert.idempotency_key]);
      },
      deliverBatch: async (ds) => {
        if (failures > 0) {
          failures--;
          throw new Error('batch refused');
        }
        batches.push(ds.map((d) => d.alert.idempotency_key));
      },
    };
    return { sink, batches, failNext: () => failures++ };
  }

  it('gets every due alert at once, up to batch_max, and each gets its own result', async () => {
    const { sink, batches } = batchingSink();
    const { queue, decisions } = queueWith({ capacity: 10 }, sink, { batch_max: 3 });
    for (const key of ['a', 'b', 'c', 'd', 'e']) queue.enqueue(alert(key), 0);
    await queue.drain(0);
    expect(batches).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e'],
    ]);
    expect(kinds(decisions).filter((k) => k === 'delivery_result:delivered')).toHaveLength(5);
    expect(queue.depth()).toBe(0);
  });

  it('retries every alert of a failed batch on the schedule, as one attempt each', async () => {
    const { sink, batches, failNext } = batchingSink();
    const { queue } = queueWith({ retry: { max_attempts: 2, base_delay_ms: 100 } }, sink);
    queue.enqueue(alert('a'), 0);
    queue.enqueue(alert('b'), 0);
    failNext();
    const first = await queue.drain(0);
    expect(kinds(first)).toEqual([
      'deliver_batch',
      'delivery_result:retry_scheduled',
      'delivery_result:retry_scheduled',
      'wait',
    ]);
    await queue.drain(100);
    expect(batches).toEqual([['a', 'b']]);
  });

  it('refuses a batch_max that is not a positive integer', () => {
    expect(() => queueWith({}, memoryAlertSink(), { batch_max: 0 })).toThrow(
      'createAlertQueue: batch_max must be a positive integer, got 0',
    );
  });
});
