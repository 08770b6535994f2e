import type { Alert } from '../decisions/alert-backpressure.ts';

/**
 * A durable outbox for the alert queues of one model: what a queue accepted is written down
 * before the receipt that says `queued` is, every delivery result updates it, and a restarted
 * gateway takes back what is still owed. In-memory queues stay the deciders (the backpressure
 * core decides every step); the outbox only makes their promises survive the process.
 *
 * The contract, for any backing store (SQLite here, Redis Streams later):
 * - `record` is durable when it returns, or when its promise resolves; changes of one alert
 *   arrive in order (queued, then retries, then delivered or dead-lettered).
 * - `pending(sink)` lists the alerts of that sink still queued or retrying, oldest first, with
 *   their attempts, so a restart neither loses them nor resets their backoff.
 * - Delivery is at least once: an alert whose delivery succeeded just before a crash may be
 *   delivered again; sinks de-duplicate with `alert.idempotency_key`.
 * - Dead letters are kept as records (the reason, the attempts, the last error) until redriven.
 */

export interface OutboxEntry {
  readonly sink: string;
  readonly key: string;
  readonly alert: Alert;
  /** The receipt of the request that raised it; null when queued outside a request. */
  readonly receipt_id: string | null;
  readonly enqueued_at_ms: number;
  /** Failed delivery attempts so far. */
  readonly attempts: number;
  readonly next_attempt_at_ms: number;
}

export type OutboxChange =
  | { readonly kind: 'queued'; readonly entry: OutboxEntry }
  | {
      readonly kind: 'retry_scheduled';
      readonly sink: string;
      readonly key: string;
      readonly attempts: number;
      readonly next_attempt_at_ms: number;
      readonly error?: string;
      readonly at_ms: number;
    }
  | {
      readonly kind: 'delivered';
      readonly sink: string;
      readonly key: string;
      readonly attempts: number;
      readonly at_ms: number;
    }
  | {
      readonly kind: 'dead_lettered';
      /** Refused by a full queue, or given up on after the last retry. */
      readonly reason: 'queue_full' | 'delivery_failed';
      readonly entry: OutboxEntry;
      readonly error?: string;
      readonly at_ms: number;
    };

export interface AlertOutbox {
  record(change: OutboxChange): void | Promise<void>;
  pending(sink: string): readonly OutboxEntry[] | Promise<readonly OutboxEntry[]>;
}
