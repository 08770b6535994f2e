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
  /** The enqueue outcome (`queued`, `duplicate_suppressed`, `dropped`, …), then `delivered`/`delivery_failed`. */
  phase: string;
  model: { id: string; version: string };
  sink: string;
  rule_id: string;
  idempotency_key: string;
  receipt_id?: string;
  message?: string;
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
