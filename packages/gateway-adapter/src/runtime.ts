import type {
  AlertDelivery,
  AlertQueue,
  AlertSink,
  Engine,
  FinalStatus,
  Plan,
  Receipt,
} from '@wardwright/core';

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
  /** Requests answered (`completed`, `completed_after_guard`). */
  completed: number;
  /** Requests a rule decided against: blocked, a budget exhausted, a stream or tool-call rule. */
  policy_outcomes: PolicyOutcomes;
  /**
   * Requests that failed: the upstream, the alert sink, a script or its sandbox, or the engine
   * itself. Never a rule's decision, the client's input or the client leaving.
   */
  failures: number;
  /** The client's input, refused: a body the engine rejected, a bad key (401), a prompt too long. */
  rejected: number;
  /** Requests whose client went away before the answer (`client_disconnected`). */
  disconnected: number;
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
    }
  | {
      /** The gateway itself: it was stopping and the request's grace period ran out. */
      scope: 'gateway';
      cause: 'shutdown';
      model: { id: string; version: string };
      session_id: string | null;
    };

export type ModelFailureCause = 'sandbox' | 'plan' | 'alert_sink' | 'provider' | 'store';
export type SessionFailureCause = 'script' | 'client';

export interface FailureDomainCounts {
  model: Record<ModelFailureCause, number>;
  session: Record<SessionFailureCause, number>;
  gateway: { shutdown: number };
}

export type LastFailure = FailureDomain & { at_ms: number; receipt_id: string | null };

export interface PolicyOutcomes {
  total: number;
  by_status: Partial<Record<FinalStatus, number>>;
}

// ---------------------------------------------------------------------------------------------
// Outcomes: what a finished request counts as
// ---------------------------------------------------------------------------------------------

/**
 * How a finished request counts on `/runtime`. `policy` is a rule's decision (the gateway did
 * its job), `failure` is something broken, `rejected` is the client's input, `disconnected` the
 * client leaving. Each request counts as exactly one.
 */
export type Outcome = 'completed' | 'policy' | 'failure' | 'rejected' | 'disconnected';

/**
 * The outcome a final status stands for: the one place statuses are classified. A status added
 * to the core fails the typecheck here until it is given an outcome.
 */
export function outcomeOf(status: FinalStatus): Outcome {
  switch (status) {
    case 'completed':
    case 'completed_after_guard':
    case 'simulated':
      return 'completed';
    case 'policy_blocked':
    case 'route_blocked':
    case 'exhausted_guard_budget':
    case 'exhausted_rule_budget':
    case 'stream_policy_blocked':
    case 'stream_policy_latency_exceeded':
    case 'stream_policy_retry_required':
    case 'stream_policy_retry_skipped_after_release':
    case 'stream_policy_retry_context_exceeded':
    case 'tool_call_blocked':
    case 'tool_call_retry_exhausted':
    case 'tool_call_retry_skipped_after_release':
      return 'policy';
    case 'provider_error':
    case 'provider_rate_limited':
    case 'deadline_exceeded':
    case 'alert_failed_closed':
      return 'failure';
    case 'context_length_exceeded':
      return 'rejected';
    case 'client_disconnected':
    case 'gateway_shutdown':
      return 'disconnected';
    default:
      return unclassified(status);
  }
}

/**
 * A status without an outcome: the typecheck fails at the call (`status` is not `never`) until
 * `outcomeOf` gives it one. At run time only a newer core than this gateway was built against
 * gets here; such a status counts as a failure, to be looked at.
 */
function unclassified(_status: never): Outcome {
  return 'failure';
}

/**
 * Whether a failure domain is a failure of the gateway's side (the model, its upstream, its
 * sinks, its scripts) rather than the client leaving.
 */
function isFailure(domain: FailureDomain | Receipt['final']['failure_domain']): boolean {
  if (domain === null) return false;
  switch (domain.cause) {
    case 'sandbox':
    case 'plan':
    case 'alert_sink':
    case 'provider':
    case 'store':
    case 'script':
      return true;
    case 'client':
    case 'shutdown':
      return false;
  }
}

/**
 * What a finished request counts as: a failure when anything failed on the gateway's side (a
 * script that failed counts even when its rule failed closed into a block, or open into an
 * answer: the policy did not run), else its final status's outcome.
 */
export function outcomeOfReceipt(receipt: Receipt): Outcome {
  return isFailure(receipt.final.failure_domain) ? 'failure' : outcomeOf(receipt.final.status);
}

/**
 * The failure domain of a finished request (the engine attributes it in the receipt's
 * `final.failure_domain`), with the model and session it belongs to; null when nothing failed.
 */
export function failureDomainOf(receipt: Receipt): FailureDomain | null {
  const domain = receipt.final.failure_domain;
  if (domain === null) return null;
  return { ...domain, model: receipt.model, session_id: receipt.session_id } as FailureDomain;
}

/**
 * Counts a failure domain against its model (and a session failure against its session), and
 * keeps it as `last_failure`, unless it is the client leaving (counted as `disconnected` by
 * `countResult`). A request with a receipt is counted in `failures` by `countResult`; one
 * without (`receipt_id` null: the engine threw) never reaches it, so it is counted here.
 */
export function countFailure(
  counters: ModelCounters,
  sessions: SessionTracker,
  domain: FailureDomain,
  at_ms: number,
  receipt_id: string | null,
): void {
  switch (domain.scope) {
    case 'model':
      counters.failure_domains.model[domain.cause]++;
      break;
    case 'session':
      counters.failure_domains.session[domain.cause]++;
      break;
    case 'gateway':
      counters.failure_domains.gateway[domain.cause]++;
      break;
  }
  if (!isFailure(domain)) return;
  if (domain.scope === 'session' && domain.session_id !== null) sessions.fail(domain.session_id);
  if (receipt_id === null) counters.failures++;
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
  /**
   * Requests of this session that failed in the session's own domain (see `FailureDomain`): a
   * script failing on its input. The client leaving is not counted.
   */
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
  alert_queues: AlertQueueSnapshot[];
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
    completed: number;
    policy_outcomes: PolicyOutcomes;
    failures: number;
    rejected: number;
    disconnected: number;
    /** Every final status, whatever its outcome. */
    by_status: Partial<Record<FinalStatus, number>>;
    /** The serving version's queues. */
    alert_queues: AlertQueueSnapshot[];
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
    completed: 0,
    policy_outcomes: { total: 0, by_status: {} },
    failures: 0,
    rejected: 0,
    disconnected: 0,
    by_status: {},
    restarts: 0,
    failure_domains: {
      model: { sandbox: 0, plan: 0, alert_sink: 0, provider: 0, store: 0 },
      session: { script: 0, client: 0 },
      gateway: { shutdown: 0 },
    },
    last_failure: null,
  };
}

/** Counts a request the engine finished, once, under its outcome and its final status. */
export function countResult(counters: ModelCounters, receipt: Receipt): void {
  const status = receipt.final.status;
  counters.by_status[status] = (counters.by_status[status] ?? 0) + 1;
  switch (outcomeOfReceipt(receipt)) {
    case 'completed':
      counters.completed++;
      break;
    case 'policy': {
      const policy = counters.policy_outcomes;
      policy.total++;
      policy.by_status[status] = (policy.by_status[status] ?? 0) + 1;
      break;
    }
    case 'failure':
      counters.failures++;
      break;
    case 'rejected':
      counters.rejected++;
      break;
    case 'disconnected':
      counters.disconnected++;
      break;
  }
}

export interface AlertQueueSnapshot {
  sink: string;
  /** Alerts waiting for delivery (retries included). */
  depth: number;
  /** The queue's capacity: at this depth new alerts meet `on_full`. */
  capacity: number;
  /** Delivery lag: how long the oldest waiting alert has waited; null when none waits. */
  oldest_queued_age_ms: number | null;
  /** Accepted by the queue since this version started. */
  queued: number;
  delivered: number;
  retried: number;
  /** Since this version started: refused by a full queue, or given up on after retries. */
  dead_lettered: number;
  dropped: number;
  /** Refused at a full queue whose `on_full` is `fail_closed` (the request was answered 503). */
  failed_closed: number;
  /** Taken back from the durable outbox, a replaced version, or a redrive. */
  restored: number;
}

function queueSnapshots(
  queues: ReadonlyMap<string, AlertQueue>,
  now_ms: number,
): AlertQueueSnapshot[] {
  const snapshots: AlertQueueSnapshot[] = [];
  for (const [sink, queue] of queues) {
    const state = queue.snapshot();
    let oldest = Number.POSITIVE_INFINITY;
    for (const item of state.queue) oldest = Math.min(oldest, item.enqueued_at_ms);
    const c = state.counters;
    snapshots.push({
      sink,
      depth: state.queue.length,
      capacity: queue.capacity,
      oldest_queued_age_ms: state.queue.length === 0 ? null : Math.max(0, now_ms - oldest),
      queued: c.queued,
      delivered: c.delivered,
      retried: c.retried,
      dead_lettered: c.dead_lettered,
      dropped: c.dropped,
      failed_closed: c.failed_closed,
      restored: c.restored,
    });
  }
  return snapshots;
}

function versionSnapshot(runtime: ModelRuntime, now_ms: number): VersionSnapshot {
  return {
    version: runtime.version,
    generation: runtime.generation,
    artifact_hash: runtime.plan.artifact_hash,
    state: runtime.state,
    loaded_at_ms: runtime.loaded_at_ms,
    requests: runtime.requests,
    in_flight: runtime.in_flight,
    alert_queues: queueSnapshots(runtime.engine.alert_queues, now_ms),
  };
}

export function modelSnapshot(
  runtime: ModelRuntime,
  draining: Iterable<ModelRuntime>,
  now_ms: number,
): RuntimeSnapshot['models'][number] {
  const c = runtime.counters;
  const versions = [versionSnapshot(runtime, now_ms)];
  for (const old of draining) versions.push(versionSnapshot(old, now_ms));
  return {
    id: runtime.id,
    version: runtime.version,
    artifact_hash: runtime.plan.artifact_hash,
    requests: c.requests,
    in_flight: c.in_flight,
    completed: c.completed,
    policy_outcomes: {
      total: c.policy_outcomes.total,
      by_status: { ...c.policy_outcomes.by_status },
    },
    failures: c.failures,
    rejected: c.rejected,
    disconnected: c.disconnected,
    by_status: { ...c.by_status },
    alert_queues: versions[0]!.alert_queues,
    restarts: c.restarts,
    versions,
    failure_domains: {
      model: { ...c.failure_domains.model },
      session: { ...c.failure_domains.session },
      gateway: { ...c.failure_domains.gateway },
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
  const observed = async (
    deliveries: readonly AlertDelivery[],
    send: () => Promise<void>,
  ): Promise<void> => {
    try {
      await send();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      for (const d of deliveries) {
        report('delivery_failed', d.alert.rule_id, d.alert.idempotency_key, message);
      }
      throw error;
    }
    for (const d of deliveries) report('delivered', d.alert.rule_id, d.alert.idempotency_key);
  };
  const wrapped: AlertSink = {
    name: sink.name,
    deliver: (delivery) => observed([delivery], () => sink.deliver(delivery)),
  };
  // A sink that takes batches keeps taking them: the wrapper must not turn it into one per call.
  const batch = sink.deliverBatch?.bind(sink);
  if (batch !== undefined) {
    wrapped.deliverBatch = (deliveries) => observed(deliveries, () => batch(deliveries));
  }
  return wrapped;
}
