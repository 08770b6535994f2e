import type { AlertSink, Engine, FinalStatus, Plan, Receipt } from '@wardwright/core';

/**
 * What `/v1/wardwright/runtime` shows: each governed model's runtime (its plan, engine, alert
 * queues and counters) and the sessions seen. Counters are plain integers updated once per
 * request; the snapshot is built only when asked for.
 */

export interface ModelRuntime {
  readonly id: string;
  readonly version: string;
  readonly plan: Plan;
  readonly engine: Engine;
  /** Whether the gateway compiled the plan (and so disposes it on close). */
  readonly owned: boolean;
  readonly counters: ModelCounters;
}

export interface ModelCounters {
  requests: number;
  in_flight: number;
  /** Requests that ended with an HTTP status of 400 or above (client disconnects included). */
  failures: number;
  /** Requests rejected before the engine (400 bad body, 401). */
  rejected: number;
  by_status: Partial<Record<FinalStatus, number>>;
}

export interface SessionSnapshot {
  session_id: string;
  model: string;
  requests: number;
  last_seen_ms: number;
}

export interface RuntimeSnapshot {
  started_at_ms: number;
  uptime_ms: number;
  models: {
    id: string;
    version: string;
    artifact_hash: string;
    requests: number;
    in_flight: number;
    failures: number;
    rejected: number;
    by_status: Partial<Record<FinalStatus, number>>;
    alert_queues: { sink: string; depth: number }[];
  }[];
  sessions: { seen: number; tracked: number; recent: SessionSnapshot[] };
  events: { subscribers: number };
}

/** Sessions tracked at most; the least recently seen is forgotten first (`seen` still counts). */
export const MAX_TRACKED_SESSIONS = 10_000;
const RECENT_SESSIONS = 50;

export class SessionTracker {
  // A Map keeps insertion order: deleting and re-inserting on each request makes it an LRU.
  readonly #sessions = new Map<string, SessionSnapshot>();
  #seen = 0;

  touch(session_id: string, model: string, now_ms: number): void {
    const known = this.#sessions.get(session_id);
    if (known !== undefined) {
      this.#sessions.delete(session_id);
      known.requests++;
      known.last_seen_ms = now_ms;
      known.model = model;
      this.#sessions.set(session_id, known);
      return;
    }
    this.#seen++;
    this.#sessions.set(session_id, { session_id, model, requests: 1, last_seen_ms: now_ms });
    if (this.#sessions.size > MAX_TRACKED_SESSIONS) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
  }

  snapshot(): RuntimeSnapshot['sessions'] {
    const recent: SessionSnapshot[] = [];
    const all = [...this.#sessions.values()];
    for (let i = all.length - 1; i >= 0 && recent.length < RECENT_SESSIONS; i--) {
      recent.push({ ...all[i]! });
    }
    return { seen: this.#seen, tracked: this.#sessions.size, recent };
  }
}

export function newCounters(): ModelCounters {
  return { requests: 0, in_flight: 0, failures: 0, rejected: 0, by_status: {} };
}

export function countResult(counters: ModelCounters, receipt: Receipt): void {
  const status = receipt.final.status;
  counters.by_status[status] = (counters.by_status[status] ?? 0) + 1;
  if (receipt.final.http_status >= 400) counters.failures++;
}

export function modelSnapshot(runtime: ModelRuntime): RuntimeSnapshot['models'][number] {
  const c = runtime.counters;
  const alert_queues: { sink: string; depth: number }[] = [];
  for (const [sink, queue] of runtime.engine.alert_queues) {
    alert_queues.push({ sink, depth: queue.depth() });
  }
  return {
    id: runtime.id,
    version: runtime.version,
    artifact_hash: runtime.plan.artifact_hash,
    requests: c.requests,
    in_flight: c.in_flight,
    failures: c.failures,
    rejected: c.rejected,
    by_status: { ...c.by_status },
    alert_queues,
  };
}

/** Wrap a sink so its deliveries are reported; the wrapped sink decides everything. */
export function observedSink(
  sink: AlertSink,
  report: (
    phase: 'delivered' | 'delivery_failed',
    rule_id: string,
    key: string,
    message?: string,
  ) => void,
): AlertSink {
  return {
    name: sink.name,
    async deliver(delivery) {
      try {
        await sink.deliver(delivery);
      } catch (error) {
        report(
          'delivery_failed',
          delivery.alert.rule_id,
          delivery.alert.idempotency_key,
          error instanceof Error ? error.message : String(error),
        );
        throw error;
      }
      report('delivered', delivery.alert.rule_id, delivery.alert.idempotency_key);
    },
  };
}
