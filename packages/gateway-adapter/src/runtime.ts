import type { AlertQueue, AlertSink, Engine, FinalStatus, Plan, Receipt } from '@wardwright/core';

/**
 * What `/v1/wardwright/runtime` shows: each governed model's runtimes (one per loaded artifact
 * version: the one serving and any still draining), their alert queues, counters and failure
 * domains, and the sessions seen. Counters are plain integers updated once per request; the
 * snapshot is built only when asked for.
 */

/** One loaded version of a model: its plan and engine. */
export interface ModelRuntime {
  readonly id: string;
  readonly version: string;
  readonly plan: Plan;
  readonly engine: Engine;
  /** Whether the gateway compiled the plan (and so disposes it once this runtime closes). */
  readonly owned: boolean;
  /** The model's totals, shared by every version of it. */
  readonly counters: ModelCounters;
  /** 0 for the version the gateway started with, then 1, 2, … per `runtime.load`. */
  readonly generation: number;
  readonly loaded_at_ms: number;
  /** `serving` takes new requests; `draining` finishes its in-flight ones, then `closed`. */
  state: 'serving' | 'draining' | 'closed';
  /** Chat completions (and simulations) that started on this version and have not ended. */
  in_flight: number;
  /** Chat completions this version took. */
  requests: number;
}

export interface ModelCounters {
  requests: number;
  in_flight: number;
  /** Requests that ended with an HTTP status of 400 or above (client disconnects included). */
  failures: number;
  /** Requests rejected before the engine (400 bad body, 401). */
  rejected: number;
  by_status: Partial<Record<FinalStatus, number>>;
  /** Versions loaded after the first (`runtime.load`). */
  restarts: number;
  failure_domains: FailureDomainCounts;
  last_failure: LastFailure | null;
}

// ---------------------------------------------------------------------------------------------
// Failure domains
// ---------------------------------------------------------------------------------------------

/**
 * Where a failure belongs. `model`: the model version is broken for every caller (its sandbox
 * died, its plan cannot run, its alert sink is backed up, its upstream fails). `session`: this
 * request failed on its own input or its own client (a script that timed out or threw on it, a
 * client that went away); the model's other sessions are unaffected.
 */
export type FailureDomain =
  | {
      scope: 'model';
      cause: ModelFailureCause;
      model: { id: string; version: string };
      session_id: string | null;
      detail?: string;
    }
  | {
      scope: 'session';
      cause: SessionFailureCause;
      model: { id: string; version: string };
      session_id: string | null;
      detail?: string;
    };

export type ModelFailureCause = 'sandbox' | 'plan' | 'alert_sink' | 'provider';
export type SessionFailureCause = 'script' | 'client';

export interface FailureDomainCounts {
  model: Record<ModelFailureCause, number>;
  session: Record<SessionFailureCause, number>;
}

export type LastFailure = FailureDomain & { at_ms: number; receipt_id: string | null };

/**
 * The failure domain of a finished request (the engine attributes it in the receipt's
 * `final.failure_domain`), with the model and session it belongs to; null when nothing failed.
 */
export function failureDomainOf(receipt: Receipt): FailureDomain | null {
  const domain = receipt.final.failure_domain;
  if (domain === null) return null;
  return { ...domain, model: receipt.model, session_id: receipt.session_id } as FailureDomain;
}

/** Counts a failure against its model (and, for a session failure, its session). */
export function countFailure(
  counters: ModelCounters,
  sessions: SessionTracker,
  domain: FailureDomain,
  at_ms: number,
  receipt_id: string | null,
): void {
  if (domain.scope === 'model') counters.failure_domains.model[domain.cause]++;
  else {
    counters.failure_domains.session[domain.cause]++;
    if (domain.session_id !== null) sessions.fail(domain.session_id);
  }
  counters.last_failure = { ...domain, at_ms, receipt_id };
}

/** `x-wardwright-failure-domain` on failed answers, e.g. `model:alert_sink`. */
export const FAILURE_DOMAIN_HEADER = 'x-wardwright-failure-domain';

export function failureDomainHeader(domain: FailureDomain): string {
  return `${domain.scope}:${domain.cause}`;
}

// ---------------------------------------------------------------------------------------------
// Snapshot
// ---------------------------------------------------------------------------------------------

export interface SessionSnapshot {
  session_id: string;
  model: string;
  requests: number;
  /** Requests of this session that failed in the session's own domain (see `FailureDomain`). */
  failures: number;
  last_seen_ms: number;
}

export interface VersionSnapshot {
  version: string;
  generation: number;
  artifact_hash: string;
  state: ModelRuntime['state'];
  loaded_at_ms: number;
  requests: number;
  in_flight: number;
  alert_queues: { sink: string; depth: number }[];
}

export interface RuntimeSnapshot {
  started_at_ms: number;
  uptime_ms: number;
  models: {
    id: string;
    /** The serving version. */
    version: string;
    artifact_hash: string;
    requests: number;
    in_flight: number;
    failures: number;
    rejected: number;
    by_status: Partial<Record<FinalStatus, number>>;
    /** The serving version's queues. */
    alert_queues: { sink: string; depth: number }[];
    restarts: number;
    /** The serving version first, then those still draining. */
    versions: VersionSnapshot[];
    failure_domains: FailureDomainCounts;
    last_failure: LastFailure | null;
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
    this.#sessions.set(session_id, {
      session_id,
      model,
      requests: 1,
      failures: 0,
      last_seen_ms: now_ms,
    });
    if (this.#sessions.size > MAX_TRACKED_SESSIONS) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
  }

  /** A failure in the session's own domain; a session no longer tracked is not brought back. */
  fail(session_id: string): void {
    const known = this.#sessions.get(session_id);
    if (known !== undefined) known.failures++;
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
  return {
    requests: 0,
    in_flight: 0,
    failures: 0,
    rejected: 0,
    by_status: {},
    restarts: 0,
    failure_domains: {
      model: { sandbox: 0, plan: 0, alert_sink: 0, provider: 0 },
      session: { script: 0, client: 0 },
    },
    last_failure: null,
  };
}

export function countResult(counters: ModelCounters, receipt: Receipt): void {
  const status = receipt.final.status;
  counters.by_status[status] = (counters.by_status[status] ?? 0) + 1;
  if (receipt.final.http_status >= 400) counters.failures++;
}

function queueDepths(queues: ReadonlyMap<string, AlertQueue>): { sink: string; depth: number }[] {
  const depths: { sink: string; depth: number }[] = [];
  for (const [sink, queue] of queues) depths.push({ sink, depth: queue.depth() });
  return depths;
}

function versionSnapshot(runtime: ModelRuntime): VersionSnapshot {
  return {
    version: runtime.version,
    generation: runtime.generation,
    artifact_hash: runtime.plan.artifact_hash,
    state: runtime.state,
    loaded_at_ms: runtime.loaded_at_ms,
    requests: runtime.requests,
    in_flight: runtime.in_flight,
    alert_queues: queueDepths(runtime.engine.alert_queues),
  };
}

export function modelSnapshot(
  runtime: ModelRuntime,
  draining: Iterable<ModelRuntime>,
): RuntimeSnapshot['models'][number] {
  const c = runtime.counters;
  const versions = [versionSnapshot(runtime)];
  for (const old of draining) versions.push(versionSnapshot(old));
  return {
    id: runtime.id,
    version: runtime.version,
    artifact_hash: runtime.plan.artifact_hash,
    requests: c.requests,
    in_flight: c.in_flight,
    failures: c.failures,
    rejected: c.rejected,
    by_status: { ...c.by_status },
    alert_queues: versions[0]!.alert_queues,
    restarts: c.restarts,
    versions,
    failure_domains: {
      model: { ...c.failure_domains.model },
      session: { ...c.failure_domains.session },
    },
    last_failure: c.last_failure === null ? null : { ...c.last_failure },
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
