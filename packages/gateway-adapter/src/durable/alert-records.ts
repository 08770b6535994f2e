import type { Alert, AlertOutbox, OutboxEntry } from '@wardwright/core';

/**
 * The durable side of a gateway's alerts: the outbox each model's queues write through, and
 * the records an operator reads and acts on (dead letters, redrive, an alert's fate by its
 * receipt). A store that has it makes queued alerts survive a restart; one that does not (the
 * memory default) keeps today's in-memory queues.
 */

export type AlertRecordStatus = 'queued' | 'retry_scheduled' | 'delivered' | 'dead_lettered';

export interface AlertRecord {
  model_id: string;
  sink: string;
  idempotency_key: string;
  status: AlertRecordStatus;
  /** The request that raised it. */
  receipt_id: string | null;
  alert: Alert;
  enqueued_at_ms: number;
  /** Failed delivery attempts so far (all of them, for a delivered alert). */
  attempts: number;
  next_attempt_at_ms: number;
  /** Dead letters: refused by a full queue, or given up on after the last retry. */
  reason: 'queue_full' | 'delivery_failed' | null;
  /** The last delivery error. */
  error: string | null;
  updated_at_ms: number;
}

export interface AlertRecordQuery {
  model_id?: string | undefined;
  sink?: string | undefined;
  /** Only these idempotency keys. */
  keys?: readonly string[] | undefined;
  /** At most this many, newest first; default 100, at most 1000. */
  limit?: number | undefined;
}

export interface GatewayAlertStore {
  /** The outbox the alert queues of one model write through. */
  outboxFor(model_id: string): AlertOutbox;
  /** Dead letters, newest first. */
  deadLetters(query?: AlertRecordQuery): Promise<AlertRecord[]>;
  /** Dead letters matching the query become queued again (attempts reset); returns them. */
  redrive(query: AlertRecordQuery, now_ms: number): Promise<AlertRecord[]>;
  /** Every alert a request raised, with its current status. */
  ofReceipt(receipt_id: string): Promise<AlertRecord[]>;
}

/** A record as the outbox entry a queue restores. */
export function outboxEntryOf(record: AlertRecord): OutboxEntry {
  return {
    sink: record.sink,
    key: record.idempotency_key,
    alert: record.alert,
    receipt_id: record.receipt_id,
    enqueued_at_ms: record.enqueued_at_ms,
    attempts: record.attempts,
    next_attempt_at_ms: record.next_attempt_at_ms,
  };
}

export const DEFAULT_ALERT_LIST_LIMIT = 100;
export const MAX_ALERT_LIST_LIMIT = 1000;

/**
 * A receipt promised but not written yet: a stream's first byte (and its receipt id) went out
 * before the request was decided. `interrupted`: the process that promised it died first.
 */
export interface PendingReceipt {
  receipt_id: string;
  model: { id: string; version: string };
  session_id: string | null;
  created_at_ms: number;
  status: 'pending' | 'interrupted';
}

/** The journal of promised receipts: written before a stream's first byte, cleared by its receipt. */
export interface PendingReceipts {
  begin(pending: Omit<PendingReceipt, 'status'>): void;
  get(receipt_id: string): PendingReceipt | undefined;
}
