import type { Receipt } from '@wardwright/core';
import type { FailureDomain } from './runtime.ts';

/**
 * The visibility bus behind `GET /v1/wardwright/events`: receipt, alert and runtime events, fanned out
 * to subscribers. With nobody subscribed an event costs one size check — nothing is serialised.
 */

export type GatewayEvent =
  | { type: 'receipt'; data: ReceiptEvent }
  | { type: 'alert'; data: AlertEvent }
  | { type: 'runtime'; data: RuntimeEvent };

export interface ReceiptEvent {
  receipt_id: string;
  model: { id: string; version: string };
  session_id: string | null;
  status: string;
  http_status: number;
  created_at_ms: number;
  duration_ms: number;
  /** Where the failure belongs, or null when nothing failed. */
  failure_domain: FailureDomain | null;
}

/** A model version was loaded, started draining (replaced) or closed. */
export interface RuntimeEvent {
  phase: 'loaded' | 'draining' | 'closed';
  model: { id: string; version: string };
  generation: number;
  artifact_hash: string;
  in_flight: number;
}

export interface AlertEvent {
  /**
   * The enqueue outcome (`queued`, `duplicate_suppressed`, `dropped`, …), then each attempt's
   * `delivered` / `delivery_failed`, and `dead_lettered` when the queue gives up on it.
   */
  phase: string;
  model: { id: string; version: string };
  sink: string;
  rule_id: string;
  idempotency_key: string;
  receipt_id?: string;
  message?: string;
  /** `dead_lettered`: why (`delivery_failed` after the last retry) and after how many attempts. */
  reason?: string;
  attempts?: number;
}

export type Listener = (frame: string) => void;

export class EventBus {
  readonly #listeners = new Set<Listener>();

  get size(): number {
    return this.#listeners.size;
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  emit(event: GatewayEvent): void {
    if (this.#listeners.size === 0) return;
    const frame = `event: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`;
    for (const listener of this.#listeners) {
      try {
        listener(frame);
      } catch {
        // A subscriber whose stream broke is removed by its own cancel handler.
      }
    }
  }
}

/** Deliveries held for receipts not published yet, across sinks and keys, at most. */
export const MAX_HELD_ALERTS = 1000;
/** Alerts published and not yet delivered whose deliveries go out at once, at most. */
export const MAX_ANNOUNCED_ALERTS = 10_000;

/**
 * One model version's receipt and alert events, in request order: for each request, its
 * `receipt`, then each alert's enqueue outcome (`queued`, …), then that alert's deliveries.
 *
 * A sink can deliver before the request that raised the alert has finished: the memory sink
 * does so at once, a webhook may during a long stream. So a delivery of an alert whose receipt
 * is not out yet is held (by sink and idempotency key) and published right after the alert's
 * `queued` event. Once that is out, deliveries of the alert (retries included) are published as
 * they happen, until one succeeds. Both tables are bounded: past {@link MAX_HELD_ALERTS} the
 * oldest held deliveries are published as they are (a request that never wrote its receipt,
 * e.g. the engine threw, holds nothing for long), past {@link MAX_ANNOUNCED_ALERTS} the oldest
 * announced alert is forgotten (a later retry of it then waits for the overflow).
 */
export class ModelEvents {
  readonly #bus: EventBus;
  readonly #model: { id: string; version: string };
  /** Deliveries whose receipt is not out yet, by `sink\nkey`, oldest first. */
  readonly #held = new Map<string, AlertEvent[]>();
  /** Alerts whose receipt is out and that are not delivered yet, by `sink\nkey`, oldest first. */
  readonly #announced = new Set<string>();

  constructor(bus: EventBus, model: { id: string; version: string }) {
    this.#bus = bus;
    this.#model = model;
  }

  /** The queue gave up on an alert after its last retry: an event, like a delivery's. */
  deadLettered(
    sink: string,
    decision: { key: string; rule_id: string; attempts: number; error?: string },
  ): void {
    this.delivery(sink, 'dead_lettered', decision.rule_id, decision.key, decision.error, {
      reason: 'delivery_failed',
      attempts: decision.attempts,
    });
  }

  /** A sink's delivery attempt ended (reported by `observedSink`), or the queue gave up. */
  delivery(
    sink: string,
    phase: 'delivered' | 'delivery_failed' | 'dead_lettered',
    rule_id: string,
    idempotency_key: string,
    message?: string,
    extra: { reason?: string; attempts?: number } = {},
  ): void {
    const id = `${sink}\n${idempotency_key}`;
    const announced = this.#announced.has(id);
    if (announced && phase !== 'delivery_failed') this.#announced.delete(id);
    // Nobody listening: nothing to publish or hold (a subscriber arriving later starts fresh).
    if (this.#bus.size === 0) return;
    const event: AlertEvent = {
      phase,
      model: this.#model,
      sink,
      rule_id,
      idempotency_key,
      ...(message === undefined ? {} : { message }),
      ...extra,
    };
    if (announced) {
      this.#bus.emit({ type: 'alert', data: event });
      return;
    }
    const held = this.#held.get(id);
    if (held !== undefined) {
      held.push(event);
      return;
    }
    this.#held.set(id, [event]);
    if (this.#held.size > MAX_HELD_ALERTS) {
      const [oldest, events] = this.#held.entries().next().value!;
      this.#held.delete(oldest);
      for (const data of events) this.#bus.emit({ type: 'alert', data });
    }
  }

  /** The engine decided a request: its receipt, its alerts' enqueue outcomes, held deliveries. */
  decided(receipt: Receipt, failure_domain: FailureDomain | null): void {
    const listening = this.#bus.size > 0;
    if (listening) {
      this.#bus.emit({
        type: 'receipt',
        data: {
          receipt_id: receipt.receipt_id,
          model: receipt.model,
          session_id: receipt.session_id,
          status: receipt.final.status,
          http_status: receipt.final.http_status,
          created_at_ms: receipt.created_at_ms,
          duration_ms: receipt.timings.duration_ms,
          failure_domain,
        },
      });
    }
    for (const alert of receipt.alerts) {
      if (listening) {
        this.#bus.emit({
          type: 'alert',
          data: {
            phase: alert.decision.outcome,
            model: receipt.model,
            sink: alert.sink,
            rule_id: alert.rule_id,
            idempotency_key: alert.idempotency_key,
            receipt_id: receipt.receipt_id,
          },
        });
      }
      // Only a queued alert is delivered; a duplicate's deliveries belong to the request that
      // queued it.
      if (alert.decision.outcome !== 'queued') continue;
      const id = `${alert.sink}\n${alert.idempotency_key}`;
      const held = this.#held.get(id);
      this.#held.delete(id);
      let delivered = false;
      for (const data of held ?? []) {
        if (listening) this.#bus.emit({ type: 'alert', data });
        if (data.phase === 'delivered' || data.phase === 'dead_lettered') delivered = true;
      }
      if (delivered) continue;
      this.#announced.add(id);
      if (this.#announced.size > MAX_ANNOUNCED_ALERTS) {
        this.#announced.delete(this.#announced.values().next().value!);
      }
    }
  }
}
