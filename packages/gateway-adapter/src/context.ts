import type { Clock, Receipt, ReceiptStore } from '@wardwright/core';
import type { Authenticator } from './auth.ts';
import type { GatewayAlertStore, PendingReceipts } from './durable/alert-records.ts';
import type { EventBus } from './events.ts';
import type { ModelRegistry } from './registry.ts';
import type { ModelRuntime, SessionTracker } from './runtime.ts';

/** What every route handler reads: built once by `createGateway`, never per request. */
export interface GatewayContext {
  /** The serving runtime of each model (`registry.serving`). */
  readonly models: ReadonlyMap<string, ModelRuntime>;
  readonly registry: ModelRegistry;
  /** Governed model ids, comma-separated, for the 404 message. */
  readonly modelList: string;
  readonly auth: Authenticator;
  /** Lower-cased header name. */
  readonly sessionHeader: string;
  readonly maxBodyBytes: number;
  readonly clock: Clock;
  readonly sessions: SessionTracker;
  readonly receipts: ReceiptStore<Receipt>;
  /** The durable alert records, when the store keeps them. */
  readonly alerts: GatewayAlertStore | undefined;
  /** The journal of receipts promised before they are written, when the store keeps one. */
  readonly pending: PendingReceipts | undefined;
  readonly events: EventBus;
  /** `Retry-After` seconds on a 503. */
  readonly retryAfter: string;
  readonly heartbeatMs: number;
  /** The longest a chat request may take in all (a client may ask for less). */
  readonly deadlineMs: number;
  readonly startedAt: number;
  readonly onError: (error: unknown, where: string) => void;
  /** Engine calls not settled yet (a stream outlives its Response): `close()` waits for them. */
  readonly inflight: Set<Promise<unknown>>;
  /** Aborted when the gateway closes: long-lived streams end then. */
  readonly closing: AbortSignal;
  /** Set by `drain` and `close`: new requests are refused with 503 `shutting_down`. */
  draining: boolean;
  /** Aborted when a drain's grace period is over: the engines end what is still running. */
  readonly shutdown: AbortController;
}

export const RECEIPT_HEADER = 'x-wardwright-receipt-id';
