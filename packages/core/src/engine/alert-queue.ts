import {
  type Alert,
  type AlertQueueDecision,
  type AlertQueueEvent,
  type AlertQueueItem,
  type AlertQueueState,
  type CompiledAlertQueue,
  initialAlertQueue,
  stepAlertQueue,
} from '../decisions/alert-backpressure.ts';
import { WardwrightError } from '../errors/wardwright-error.ts';
import type { AlertOutbox, OutboxChange, OutboxEntry } from './alert-outbox.ts';
import { type AlertSink, abortedError } from './alert-sinks.ts';
import { checkOptions, describeValue } from './receipt-store.ts';

/**
 * The stateful shell around the alert backpressure core: it holds the queue state of one sink,
 * hands due alerts to that sink and feeds the results back, so retries, backoff and dead
 * letters are exactly what `stepAlertQueue` decides. One queue per sink, so a slow or failing
 * sink never delays another.
 */

export interface AlertQueueOptions {
  config: CompiledAlertQueue;
  sink: AlertSink;
  model_id: string;
  model_version: string;
  /** The worker's clock (`drain` takes its time as an argument instead). */
  now: () => number;
  /** Every decision, as it is made; an exception it throws is ignored. */
  onDecision?: (decision: AlertQueueDecision) => void;
  /** How long `stop` lets an in-flight delivery finish before aborting it; default 1000. */
  stop_grace_ms?: number;
  /**
   * Where accepted alerts and their fates are written down, so they survive the process
   * (see `AlertOutbox`). Without one the queue lives in memory only.
   */
  outbox?: AlertOutbox;
  /** A failed outbox write (the alert stays queued in memory); default: ignored. */
  onOutboxError?: (error: unknown) => void;
  /**
   * A sink with `deliverBatch` gets up to this many due alerts per attempt; default
   * `DEFAULT_BATCH_MAX` (1024: everything due, at the default capacity). 1 turns batching off.
   */
  batch_max?: number;
}

export type AlertEnqueueDecision = Extract<AlertQueueDecision, { kind: 'enqueue' }>;

export interface AlertQueue {
  readonly sink_name: string;
  /** Alerts waiting at most (the config's `capacity`); restored alerts may exceed it. */
  readonly capacity: number;
  /**
   * Decide on one alert now (never waits for delivery). `receipt_id` names the request that
   * raised it, for the outbox.
   */
  enqueue(alert: Alert, now_ms: number, receipt_id?: string | null): AlertEnqueueDecision;
  /**
   * Take back alerts an outbox still owes (after a restart, or redriven dead letters): each
   * joins the queue whatever its depth, unless the queue holds or remembers its key.
   */
  restore(entries: readonly OutboxEntry[], now_ms: number): AlertQueueDecision[];
  /** Resolves when every outbox write so far is durable (at once for a synchronous outbox). */
  flush(): Promise<void>;
  depth(): number;
  /** The current core state; immutable, so it is returned as is. */
  snapshot(): AlertQueueState;
  /**
   * Deliver everything due at `now_ms`, one at a time in queue order, and return every
   * decision made, ending with the `wait` or `idle` that stopped it. Deterministic given the
   * sink's answers; delivery results are stamped `now_ms` too.
   */
  drain(now_ms: number): Promise<AlertQueueDecision[]>;
  /** Run a background worker on `now` until `stop`. */
  start(): void;
  /** Stop the worker; resolves once no delivery is in flight (aborting one after the grace). */
  stop(): Promise<void>;
}

export const DEFAULT_STOP_GRACE_MS = 1000;
// setTimeout fires at once for longer delays; a longer wait is slept in several steps.
const MAX_TIMER_MS = 2_147_483_647;
/** After an unexpected error (a clock that throws), the worker retries this much later. */
const WORKER_BACKOFF_MS = 1000;

type DeliverDecision = Extract<AlertQueueDecision, { kind: 'deliver' }>;
type DeliverBatchDecision = Extract<AlertQueueDecision, { kind: 'deliver_batch' }>;

/** One turn of the event loop (setImmediate where it exists: Node, Bun; else a timer). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof setImmediate === 'function') setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}

/** Alerts handed to a batching sink at once, at most, by default. */
export const DEFAULT_BATCH_MAX = 1024;

export function createAlertQueue(options: AlertQueueOptions): AlertQueue {
  checkOptions(
    options,
    [
      'config',
      'sink',
      'model_id',
      'model_version',
      'now',
      'onDecision',
      'stop_grace_ms',
      'outbox',
      'onOutboxError',
      'batch_max',
    ],
    'createAlertQueue',
  );
  const { config, sink, model_id, model_version, now, onDecision, outbox } = options;
  const onOutboxError = options.onOutboxError ?? (() => {});
  const batch_max = options.batch_max ?? DEFAULT_BATCH_MAX;
  if (!Number.isSafeInteger(batch_max) || batch_max < 1) {
    throw invalid(
      `createAlertQueue: batch_max must be a positive integer, got ${describeValue(batch_max)}`,
    );
  }
  const stop_grace_ms = options.stop_grace_ms ?? DEFAULT_STOP_GRACE_MS;
  validate(options, stop_grace_ms);

  let state = initialAlertQueue();
  /** Serialises deliveries (worker and `drain`), so an alert is never handed out twice. */
  let lock: Promise<unknown> = Promise.resolve();
  let inFlight: { controller: AbortController; done: Promise<unknown> } | undefined;
  /** The running worker's identity: a stopped worker notices it is no longer the one. */
  let worker: object | undefined;
  let workerDone: Promise<void> = Promise.resolve();
  /** Bumped by every queued alert, so a worker about to sleep sees what it just missed. */
  let generation = 0;
  let wake: (() => void) | undefined;

  /** Outbox writes still in flight (an asynchronous outbox); `flush` waits for them. */
  const writing = new Set<Promise<void>>();
  /** The request of each alert still queued, for the outbox's dead letters. */
  const receipts = new Map<string, string | null>();

  function write(change: OutboxChange): void {
    if (outbox === undefined) return;
    try {
      const done = outbox.record(change);
      if (done !== undefined) {
        const tracked: Promise<void> = Promise.resolve(done).then(
          () => {
            writing.delete(tracked);
          },
          (error: unknown) => {
            writing.delete(tracked);
            onOutboxError(error);
          },
        );
        writing.add(tracked);
      }
    } catch (error) {
      onOutboxError(error);
    }
  }

  function entryOf(item: AlertQueueItem): OutboxEntry {
    return {
      sink: sink.name,
      key: item.key,
      alert: item.alert,
      receipt_id: receipts.get(item.key) ?? null,
      enqueued_at_ms: item.enqueued_at_ms,
      attempts: item.attempts,
      next_attempt_at_ms: item.next_attempt_at_ms,
    };
  }

  /** What the outbox must know of a delivery result, from the item before and the decision. */
  function recordResult(item: AlertQueueItem | undefined, decision: AlertQueueDecision): void {
    if (decision.kind !== 'delivery_result' || item === undefined) return;
    const at_ms = now();
    switch (decision.outcome) {
      case 'delivered':
        receipts.delete(decision.key);
        write({
          kind: 'delivered',
          sink: sink.name,
          key: decision.key,
          attempts: decision.attempts,
          at_ms,
        });
        return;
      case 'retry_scheduled':
        write({
          kind: 'retry_scheduled',
          sink: sink.name,
          key: decision.key,
          attempts: decision.attempts,
          next_attempt_at_ms: decision.next_attempt_at_ms,
          ...(decision.error === undefined ? {} : { error: decision.error }),
          at_ms,
        });
        return;
      case 'dead_lettered':
        write({
          kind: 'dead_lettered',
          reason: 'delivery_failed',
          entry: { ...entryOf(item), attempts: decision.attempts },
          ...(decision.error === undefined ? {} : { error: decision.error }),
          at_ms,
        });
        receipts.delete(decision.key);
        return;
      default:
        assertNeverOutcome(decision);
    }
  }

  function step(event: AlertQueueEvent): AlertQueueDecision {
    const result = stepAlertQueue(config, state, event);
    state = result.state;
    if (onDecision !== undefined) {
      try {
        onDecision(result.decision);
      } catch {
        // An observer must not break delivery.
      }
    }
    return result.decision;
  }

  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = lock.then(fn);
    lock = run.catch(() => {});
    return run;
  }

  /** One attempt (one alert, or a batch); resolves to the error text of a failure, never rejects. */
  async function attempt(
    deliveries: readonly { alert: Alert; attempt: number }[],
  ): Promise<string | undefined> {
    const controller = new AbortController();
    const signal = controller.signal;
    let onAbort: (() => void) | undefined;
    const run = (async () => {
      try {
        const of = (d: { alert: Alert; attempt: number }) => ({
          alert: d.alert,
          model_id,
          model_version,
          attempt: d.attempt,
          signal,
        });
        const delivered =
          deliveries.length === 1 || sink.deliverBatch === undefined
            ? sink.deliver(of(deliveries[0]!))
            : sink.deliverBatch(deliveries.map(of));
        // Stop must not wait on a sink that ignores its signal: an abort ends the attempt here,
        // one macrotask later, so a sink that does honour it reports its own error first.
        const aborted = new Promise<never>((_, reject) => {
          onAbort = () => setTimeout(() => reject(abortedError(sink.name, signal)), 0);
          signal.addEventListener('abort', onAbort, { once: true });
        });
        await Promise.race([delivered, aborted]);
        return undefined;
      } catch (error) {
        return errorText(error);
      } finally {
        if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
      }
    })();
    inFlight = { controller, done: run };
    try {
      return await run;
    } finally {
      inFlight = undefined;
    }
  }

  /** Deliver one alert or a batch (one attempt for all), and feed back a result for each. */
  async function deliverAndRecord(
    decision: DeliverDecision | DeliverBatchDecision,
    resultAt: () => number,
  ): Promise<AlertQueueDecision[]> {
    const deliveries = decision.kind === 'deliver' ? [decision] : decision.deliveries;
    const error = await attempt(deliveries);
    const results: AlertQueueDecision[] = [];
    for (const delivery of deliveries) {
      const item = state.queue.find((queued) => queued.key === delivery.key);
      const result = step(
        error === undefined
          ? { type: 'delivery_result', key: delivery.key, ok: true, now_ms: resultAt() }
          : { type: 'delivery_result', key: delivery.key, ok: false, now_ms: resultAt(), error },
      );
      recordResult(item, result);
      results.push(result);
    }
    return results;
  }

  /** A sink that takes batches gets up to `batch_max` due alerts per attempt. */
  const pollMax = sink.deliverBatch === undefined ? 1 : batch_max;
  const poll = (now_ms: number): AlertQueueDecision =>
    step(pollMax === 1 ? { type: 'poll', now_ms } : { type: 'poll', now_ms, max: pollMax });

  function sleep(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        wake = undefined;
        resolve();
      };
      wake = done;
      if (ms !== undefined) {
        timer = setTimeout(done, Math.min(Math.max(0, ms), MAX_TIMER_MS));
        // A queue waiting to retry must not keep the process alive on its own.
        (timer as { unref?: () => void }).unref?.();
      }
    });
  }

  async function work(self: object): Promise<void> {
    while (worker === self) {
      try {
        const seen = generation;
        const next = await exclusive(async () => {
          if (worker !== self) return undefined;
          const decision = poll(now());
          if (decision.kind === 'deliver' || decision.kind === 'deliver_batch') {
            await deliverAndRecord(decision, now);
          }
          return decision;
        });
        if (next === undefined || worker !== self) continue;
        if (next.kind === 'deliver' || next.kind === 'deliver_batch') {
          // A sink that answers at once must not keep the event loop from requests and I/O:
          // one turn per attempt (a batch makes up for it under load).
          await nextTurn();
          continue;
        }
        if (generation !== seen) continue;
        if (next.kind === 'wait') await sleep(next.until_ms - now());
        else if (next.kind === 'idle') await sleep(undefined);
      } catch {
        if (worker === self) await sleep(WORKER_BACKOFF_MS);
      }
    }
  }

  return {
    sink_name: sink.name,
    capacity: config.capacity,

    enqueue(alert, now_ms, receipt_id = null) {
      checkTime(now_ms, 'enqueue');
      const decision = step({ type: 'enqueue', alert, now_ms }) as AlertEnqueueDecision;
      if (decision.outcome === 'queued') {
        if (outbox !== undefined) {
          receipts.set(decision.key, receipt_id);
          const item = state.queue[state.queue.length - 1]!;
          write({ kind: 'queued', entry: entryOf(item) });
        }
        generation++;
        wake?.();
      } else if (decision.outcome === 'dead_lettered') {
        write({
          kind: 'dead_lettered',
          reason: 'queue_full',
          entry: {
            sink: sink.name,
            key: decision.key,
            alert,
            receipt_id,
            enqueued_at_ms: now_ms,
            attempts: 0,
            next_attempt_at_ms: now_ms,
          },
          at_ms: now_ms,
        });
      }
      return decision;
    },

    restore(entries, now_ms) {
      checkTime(now_ms, 'restore');
      const decisions: AlertQueueDecision[] = [];
      for (const entry of entries) {
        const decision = step({
          type: 'restore',
          item: {
            key: entry.key,
            alert: entry.alert,
            enqueued_at_ms: entry.enqueued_at_ms,
            attempts: entry.attempts,
            next_attempt_at_ms: entry.next_attempt_at_ms,
          },
          now_ms,
        });
        if (decision.kind === 'restore' && decision.outcome === 'restored') {
          receipts.set(entry.key, entry.receipt_id);
        }
        decisions.push(decision);
      }
      generation++;
      wake?.();
      return decisions;
    },

    async flush() {
      while (writing.size > 0) await Promise.all(writing);
    },

    depth: () => state.queue.length,

    snapshot: () => state,

    drain(now_ms) {
      checkTime(now_ms, 'drain');
      return exclusive(async () => {
        const decisions: AlertQueueDecision[] = [];
        for (;;) {
          const decision = poll(now_ms);
          decisions.push(decision);
          if (decision.kind !== 'deliver' && decision.kind !== 'deliver_batch') return decisions;
          decisions.push(...(await deliverAndRecord(decision, () => now_ms)));
        }
      });
    },

    start() {
      if (worker !== undefined) return;
      const self = {};
      worker = self;
      const previous = workerDone;
      workerDone = previous.then(() => work(self));
    },

    async stop() {
      worker = undefined;
      wake?.();
      const current = inFlight;
      // Not unref'd: the caller is waiting for this stop, at most the grace period.
      const grace =
        current === undefined
          ? undefined
          : setTimeout(
              () => current.controller.abort(new Error('alert queue stopped')),
              stop_grace_ms,
            );
      try {
        await current?.done;
        await workerDone;
      } finally {
        if (grace !== undefined) clearTimeout(grace);
      }
    },
  };
}

function validate(options: AlertQueueOptions, stop_grace_ms: number): void {
  const { config, sink, model_id, model_version, now, onDecision } = options;
  if (typeof config !== 'object' || config === null || typeof config.retry !== 'object') {
    throw invalid('createAlertQueue: config must be the result of compileAlertQueue');
  }
  if (
    typeof sink !== 'object' ||
    sink === null ||
    typeof sink.name !== 'string' ||
    typeof sink.deliver !== 'function'
  ) {
    throw invalid('createAlertQueue: sink must be an AlertSink (a name and a deliver function)');
  }
  for (const [key, value] of [
    ['model_id', model_id],
    ['model_version', model_version],
  ] as const) {
    if (typeof value !== 'string') {
      throw invalid(`createAlertQueue: ${key} must be a string, got ${describeValue(value)}`);
    }
  }
  if (typeof now !== 'function') throw invalid('createAlertQueue: now must be a function');
  const outbox = options.outbox as Partial<AlertOutbox> | undefined;
  if (
    outbox !== undefined &&
    (typeof outbox !== 'object' ||
      outbox === null ||
      typeof outbox.record !== 'function' ||
      typeof outbox.pending !== 'function')
  ) {
    throw invalid('createAlertQueue: outbox must be an AlertOutbox (record and pending functions)');
  }
  if (onDecision !== undefined && typeof onDecision !== 'function') {
    throw invalid('createAlertQueue: onDecision must be a function');
  }
  if (!Number.isInteger(stop_grace_ms) || stop_grace_ms < 0 || stop_grace_ms > MAX_TIMER_MS) {
    throw invalid(
      `createAlertQueue: stop_grace_ms must be an integer from 0 to ${MAX_TIMER_MS}, got ${describeValue(stop_grace_ms)}`,
    );
  }
}

function assertNeverOutcome(decision: never): never {
  throw new Error(`unhandled delivery outcome ${JSON.stringify(decision)}`);
}

function checkTime(now_ms: unknown, method: string): void {
  if (typeof now_ms !== 'number' || !Number.isFinite(now_ms)) {
    throw invalid(`${method}: now_ms must be a finite number, got ${describeValue(now_ms)}`);
  }
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.message === '' ? error.name : error.message;
  return String(error);
}

function invalid(message: string): WardwrightError {
  return new WardwrightError({ code: 'invalid_argument', message });
}
