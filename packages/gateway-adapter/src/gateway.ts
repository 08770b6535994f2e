import {
  type AlertSink,
  type Clock,
  type CompileOptions,
  compileArtifact,
  createEngine,
  type HistoryStore,
  memoryAlertSink,
  memoryReceiptStore,
  type Plan,
  type Provider,
  providerProblem,
  type Receipt,
  type ReceiptStore,
  type StateStore,
  systemClock,
} from '@wardwright/core';
import {
  eventStream,
  getReceipt,
  listModels,
  listReceipts,
  runtimeSnapshot,
  simulateRoute,
} from './admin.ts';
import { handOver, listDeadLetters, receiptAlerts, redrive, restoreOwed } from './alerts.ts';
import { type AuthOptions, createAuthenticator } from './auth.ts';
import { DEFAULT_MAX_BODY_BYTES, newRequestId, REQUEST_ID_HEADER } from './bridge/errors.ts';
import { type GatewayContext, RECEIPT_HEADER } from './context.ts';
import { DEADLINE_HEADER, DEFAULT_DEADLINE_MS } from './deadline.ts';
import type { GatewayAlertStore, PendingReceipts } from './durable/alert-records.ts';
import { GatewayError } from './errors.ts';
import { EventBus, ModelEvents } from './events.ts';
import { chatCompletions, unauthorized } from './openai/chat.ts';
import { errorResponse, jsonResponse } from './openai/errors.ts';
import { ModelRegistry } from './registry.ts';
import {
  countFailure,
  failureDomainOf,
  type ModelCounters,
  type ModelRuntime,
  newCounters,
  observedSink,
  type RuntimeSnapshot,
  SessionTracker,
} from './runtime.ts';

/**
 * `createGateway(options)`: compile every governed model, start one engine per model, and answer
 * the OpenAI-compatible and Wardwright routes through one WHATWG `fetch(Request) → Response`
 * handler that any server (node:http, Express, Fastify, Hono, Bun, Deno) can sit in front of.
 */

interface ModelCommon {
  /** The upstream: a provider, or the name of one in `providers`. */
  provider: Provider | string;
  /** Sandbox backends for script rules (compileArtifact's `backends`). */
  backends?: CompileOptions['backends'];
  /** Reads script `path`s (compileArtifact's `readSource`). */
  readSource?: CompileOptions['readSource'];
  /** Alert sinks by name (the artifact's `alerts.sinks` picks). Default: a memory sink. */
  alertSinks?: Readonly<Record<string, AlertSink>>;
}

export type GatewayModel =
  | (ModelCommon & { artifact: unknown; plan?: never })
  | (ModelCommon & { plan: Plan; artifact?: never });

export interface GatewayOptions {
  models: readonly GatewayModel[];
  /** Providers by name, for models that name theirs. */
  providers?: Readonly<Record<string, Provider>>;
  /** Where receipts go; default an in-memory store (newest 10 000). */
  receipts?: ReceiptStore<Receipt>;
  /**
   * A durable store (e.g. `openSqliteStore`) for receipts, and for each model's history and
   * state-machine records, so a restart forgets nothing. Not closed by `close()`. Exclusive
   * with `receipts`.
   */
  store?: GatewayStore;
  clock?: Clock;
  /** A path prefix every route lives under, e.g. `/llm`. Default `''`. */
  basePath?: string;
  /**
   * Request bodies over this many bytes are refused with 413 `request_too_large`. Default
   * 10 MiB. The adapters (`/node`, `/express`, `/fastify`, `/hono`) take it as their limit too.
   */
  maxBodyBytes?: number;
  /** Default `x-wardwright-session-id`. */
  sessionHeader?: string;
  auth?: AuthOptions;
  /** Internal errors and failing hooks. Default `console.error`. */
  onError?: (error: unknown, where: string) => void;
  /** `Retry-After` (seconds) on 503 alert-backpressure answers. Default 1. */
  retryAfterSeconds?: number;
  /** Heartbeat comment interval on `/v1/wardwright/events`. Default 15 000 ms. */
  heartbeatMs?: number;
  /**
   * The longest a chat request may take in all, upstream retries and guard attempts included;
   * past it, 504 `deadline_exceeded` (a stream: a terminal error frame). A client may ask for
   * less with the `x-wardwright-deadline-ms` header, never more. Default 600 000 (10 minutes).
   */
  deadlineMs?: number;
}

export { DEADLINE_HEADER, DEFAULT_DEADLINE_MS };

/** What a durable store gives the gateway; `SqliteStore` is one. */
export interface GatewayStore {
  readonly receipts: ReceiptStore<Receipt>;
  historyFor(model_id: string, config: Plan['history']): HistoryStore;
  statesFor(model_id: string): StateStore;
  /**
   * A durable alert outbox and its records: queued alerts survive a restart, dead letters are
   * listed and redriven. Without it alert queues live in memory.
   */
  readonly alerts?: GatewayAlertStore;
  /** The journal of receipts promised before they are written (a stream's first byte). */
  readonly pending?: PendingReceipts;
}

export interface GatewayRuntime {
  /** Each governed model's serving runtime, by model id. */
  readonly models: ReadonlyMap<string, ModelRuntime>;
  readonly receipts: ReceiptStore<Receipt>;
  /** What `GET /v1/wardwright/runtime` answers. */
  snapshot(): RuntimeSnapshot;
  /**
   * Load a new artifact version of a governed model while the gateway serves. The new plan is
   * compiled (and its engine started) first: if that fails, this rejects and the old version
   * keeps serving. Then new requests go to the new version, requests in flight finish on the
   * old one, and the old engine is closed (its plan disposed, if the gateway compiled it) when
   * its last request ends. The model keeps its history and state-machine records and its
   * totals; `restarts` counts the loads. Loads are applied one at a time, in call order.
   * Resolves with the new runtime once it serves.
   */
  load(model: GatewayModel): Promise<ModelRuntime>;
  /** Resolves once every replaced version has finished draining and closed. */
  drained(): Promise<void>;
}

export interface Gateway {
  fetch(request: Request): Promise<Response>;
  /** The request body limit; the adapters serving this gateway use it as theirs. */
  readonly maxBodyBytes: number;
  readonly runtime: GatewayRuntime;
  /**
   * Stop taking requests (new ones are answered 503 `shutting_down`, a retry elsewhere can help)
   * and let those in flight finish, streams included, for up to `graceMs` (default 10 000).
   * Past it, the rest end where they are: a stream gets a terminal error frame, and every one a
   * receipt with status `gateway_shutdown` (503, failure domain `gateway:shutdown`), never
   * blamed on its client. Resolves when no request is in flight; `close()` after it.
   */
  drain(options?: { graceMs?: number }): Promise<{ finished: number; cut: number }>;
  /** Stop alert workers, end event streams, dispose plans the gateway compiled. */
  close(): Promise<void>;
}

/** How long `drain` lets requests in flight finish, by default. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

export const DEFAULT_SESSION_HEADER = 'x-wardwright-session-id';

const OPTION_KEYS = [
  'models',
  'providers',
  'receipts',
  'store',
  'clock',
  'basePath',
  'maxBodyBytes',
  'sessionHeader',
  'auth',
  'onError',
  'retryAfterSeconds',
  'heartbeatMs',
  'deadlineMs',
];

/** Async because artifacts compile (and scripts load) before the first request is served. */
export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key)) {
      throw new GatewayError(
        'invalid_option',
        `createGateway: unknown option \`${key}\` (known: ${OPTION_KEYS.join(', ')})`,
      );
    }
  }
  if (!Array.isArray(options.models) || options.models.length === 0) {
    throw new GatewayError(
      'invalid_option',
      'createGateway: `models` must list at least one model',
    );
  }
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  if (basePath !== '' && !basePath.startsWith('/')) {
    throw new GatewayError('invalid_option', 'createGateway: basePath must start with `/`');
  }
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new GatewayError(
      'invalid_option',
      'createGateway: maxBodyBytes must be a positive integer',
    );
  }
  const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  if (!Number.isSafeInteger(deadlineMs) || deadlineMs < 1) {
    throw new GatewayError(
      'invalid_option',
      'createGateway: deadlineMs must be a positive integer of milliseconds',
    );
  }
  const clock = options.clock ?? systemClock;
  const onError =
    options.onError ?? ((error, where) => console.error(`wardwright gateway: ${where}:`, error));
  if (options.store !== undefined && options.receipts !== undefined) {
    throw new GatewayError(
      'invalid_option',
      'createGateway: pass `store` or `receipts`, not both (a store brings its receipts)',
    );
  }
  const ownsReceipts = options.receipts === undefined && options.store === undefined;
  const receipts = options.store?.receipts ?? options.receipts ?? memoryReceiptStore<Receipt>();
  const auth = createAuthenticator(options.auth);
  const events = new EventBus();
  const sessions = new SessionTracker();
  const shared: Shared = {
    clock,
    receipts,
    store: options.store,
    events,
    sessions,
    onError,
    providers: options.providers ?? {},
  };
  const registry = new ModelRegistry(async (runtime) => {
    try {
      await closeRuntime(runtime);
    } catch (error) {
      onError(error, `closing model ${runtime.id} version ${runtime.version}`);
    }
    // Alerts the replaced version still held go on with the serving one.
    const serving = models.get(runtime.id);
    if (serving !== undefined && serving !== runtime) handOver(runtime, serving, clock.now());
    emitRuntime(events, 'closed', runtime);
  });
  const models = registry.serving;
  try {
    for (const [index, model] of options.models.entries()) {
      const runtime = await startModel(model, `createGateway: models[${index}]`, shared, {
        generation: 0,
        counters: newCounters(),
        previous: undefined,
      });
      if (models.has(runtime.id)) {
        await closeRuntime(runtime);
        throw new GatewayError(
          'duplicate_model',
          `createGateway: models[${index}] repeats the model id \`${runtime.id}\``,
        );
      }
      registry.swap(runtime);
    }
    // What a previous process acknowledged and did not deliver is owed still.
    const alertStore = options.store?.alerts;
    if (alertStore !== undefined) {
      for (const runtime of models.values()) await restoreOwed(runtime, alertStore, clock.now());
    }
  } catch (error) {
    await registry.closeAll();
    throw error;
  }

  const closing = new AbortController();
  const ctx: GatewayContext = {
    models,
    modelList: [...models.keys()].join(', '),
    auth,
    sessionHeader: (options.sessionHeader ?? DEFAULT_SESSION_HEADER).toLowerCase(),
    maxBodyBytes,
    clock,
    registry,
    sessions,
    receipts,
    alerts: options.store?.alerts,
    pending: options.store?.pending,
    events,
    retryAfter: String(options.retryAfterSeconds ?? 1),
    heartbeatMs: options.heartbeatMs ?? 15_000,
    deadlineMs,
    startedAt: clock.now(),
    onError,
    inflight: new Set(),
    closing: closing.signal,
    draining: false,
    shutdown: new AbortController(),
  };

  let closed: Promise<void> | undefined;
  // Loads are chained so two loads of one model cannot both replace the same version.
  let loading: Promise<unknown> = Promise.resolve();
  const load = async (model: GatewayModel): Promise<ModelRuntime> => {
    if (closed !== undefined) {
      throw new GatewayError('closed', 'runtime.load: the gateway is closed');
    }
    const at = 'runtime.load';
    const next = await startModel(model, at, shared, (plan) => {
      const current = models.get(plan.model.id);
      if (current === undefined) {
        throw new GatewayError(
          'unknown_model',
          `${at}: the model \`${plan.model.id}\` is not governed by this gateway (governed: ${ctx.modelList}); load replaces a version, it does not add a model`,
        );
      }
      return {
        generation: current.generation + 1,
        counters: current.counters,
        previous: current,
      };
    });
    if (closed !== undefined) {
      await closeRuntime(next);
      throw new GatewayError('closed', 'runtime.load: the gateway closed while loading');
    }
    next.counters.restarts++;
    const old = registry.swap(next);
    emitRuntime(events, 'loaded', next);
    if (old !== undefined && old.state === 'draining') emitRuntime(events, 'draining', old);
    return next;
  };

  const runtime: GatewayRuntime = {
    models,
    receipts,
    snapshot: () => runtimeSnapshot(ctx),
    load(model) {
      const run = loading.then(() => load(model));
      loading = run.catch(() => {});
      return run;
    },
    drained: () => registry.settled(),
  };

  return {
    runtime,
    maxBodyBytes,
    async fetch(request) {
      let response: Response;
      try {
        response = await route(ctx, basePath, request);
      } catch (error) {
        onError(error, `${request.method} ${pathOf(request.url)}`);
        response = errorResponse(500, 'internal gateway error', 'internal_error');
      }
      return withRequestId(response);
    },
    async drain(drainOptions = {}) {
      const graceMs = drainOptions.graceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
      if (!Number.isSafeInteger(graceMs) || graceMs < 0) {
        throw new GatewayError(
          'invalid_option',
          `drain: graceMs must be a non-negative integer of milliseconds, not ${String(graceMs)}`,
        );
      }
      ctx.draining = true;
      const inFlight = ctx.inflight.size;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const graceOver = new Promise<'grace_over'>((resolve) => {
        timer = setTimeout(() => resolve('grace_over'), graceMs);
      });
      const outcome = await Promise.race([
        settled(ctx.inflight).then(() => 'done' as const),
        graceOver,
      ]);
      clearTimeout(timer);
      let cut = 0;
      if (outcome === 'grace_over') {
        cut = ctx.inflight.size;
        // The engines end the rest where they are, each with its receipt.
        ctx.shutdown.abort();
        await settled(ctx.inflight);
      }
      return { finished: inFlight - cut, cut };
    },
    close() {
      closed ??= (async () => {
        ctx.draining = true;
        closing.abort();
        // In-flight requests finish on their engines (and write their receipts) first.
        await loading;
        await Promise.allSettled([...ctx.inflight]);
        await registry.closeAll();
        if (ownsReceipts) await receipts.close();
      })();
      return closed;
    },
  };
}

interface Shared {
  clock: Clock;
  receipts: ReceiptStore<Receipt>;
  store: GatewayStore | undefined;
  events: EventBus;
  sessions: SessionTracker;
  onError: (error: unknown, where: string) => void;
  providers: Readonly<Record<string, Provider>>;
}

interface Lineage {
  generation: number;
  counters: ModelCounters;
  /** The version being replaced: the new one keeps its history and state records. */
  previous: ModelRuntime | undefined;
}

/**
 * Compile (unless given a plan) and start one model version. `lineage` is asked once the plan
 * is known (a load only learns which model it replaces from the compiled artifact); if it
 * throws, the new plan is disposed and nothing else changes.
 */
async function startModel(
  model: GatewayModel,
  at: string,
  shared: Shared,
  lineage: Lineage | ((plan: Plan) => Lineage),
): Promise<ModelRuntime> {
  if (typeof model !== 'object' || model === null) {
    throw new GatewayError('invalid_option', `${at} must be an object`);
  }
  if ((model.plan === undefined) === (model.artifact === undefined)) {
    throw new GatewayError('invalid_option', `${at} needs exactly one of \`artifact\` or \`plan\``);
  }
  const { providers } = shared;
  const provider = typeof model.provider === 'string' ? providers[model.provider] : model.provider;
  if (typeof model.provider === 'string' && provider === undefined) {
    throw new GatewayError(
      'unknown_provider',
      `${at}.provider names \`${model.provider}\`, which is not in \`providers\` (known: ${Object.keys(providers).join(', ') || 'none'})`,
    );
  }
  const problem = providerProblem(provider);
  if (problem !== null) {
    throw new GatewayError(
      'unknown_provider',
      typeof model.provider === 'string'
        ? `providers.${model.provider} ${problem}`
        : `${at}.provider ${problem}, or the name of one in \`providers\``,
    );
  }
  const owned = model.plan === undefined;
  const plan =
    model.plan ??
    (await compileArtifact(model.artifact, {
      ...(model.backends === undefined ? {} : { backends: model.backends }),
      ...(model.readSource === undefined ? {} : { readSource: model.readSource }),
    }));
  let line: Lineage;
  try {
    line = typeof lineage === 'function' ? lineage(plan) : lineage;
  } catch (error) {
    if (owned) await plan.dispose();
    throw error;
  }
  const { generation, counters, previous } = line;
  const { id, version } = plan.model;
  const { sessions, clock } = shared;
  // Receipt and alert events in request order (a sink may deliver before the receipt is out).
  const published = new ModelEvents(shared.events, { id, version });
  const sinks: Record<string, AlertSink> = {};
  for (const [name, sink] of Object.entries(model.alertSinks ?? { memory: memoryAlertSink() })) {
    sinks[name] = observedSink(sink, (phase, rule_id, key, message) =>
      published.delivery(name, phase, rule_id, key, message),
    );
  }
  let engine: ModelRuntime['engine'];
  try {
    engine = createEngine({
      plan,
      provider: provider as Provider,
      clock,
      receipts: shared.receipts,
      ...(shared.store !== undefined
        ? {
            history: shared.store.historyFor(plan.model.id, plan.history),
            states: shared.store.statesFor(plan.model.id),
          }
        : previous !== undefined
          ? { history: previous.engine.history, states: previous.engine.states }
          : {}),
      // Versions of one model share the receipt store: distinct instances keep ids distinct.
      ...(generation === 0 ? {} : { instance: `g${generation}` }),
      alert_sinks: sinks,
      ...(shared.store?.alerts === undefined
        ? {}
        : { alert_outbox: shared.store.alerts.outboxFor(plan.model.id) }),
      onAlertDecision: (sink, decision) => {
        if (decision.kind === 'delivery_result' && decision.outcome === 'dead_lettered') {
          published.deadLettered(sink, decision);
        }
      },
      onError: shared.onError,
      onDecision: (receipt) => {
        const domain = failureDomainOf(receipt);
        if (domain !== null) {
          countFailure(counters, sessions, domain, receipt.created_at_ms, receipt.receipt_id);
        }
        published.decided(receipt, domain);
      },
    });
  } catch (error) {
    if (owned) await plan.dispose();
    throw error;
  }
  return {
    id,
    version,
    plan,
    engine,
    owned,
    counters,
    generation,
    loaded_at_ms: clock.now(),
    state: 'serving',
    in_flight: 0,
    requests: 0,
  };
}

async function closeRuntime(runtime: ModelRuntime): Promise<void> {
  try {
    await runtime.engine.close();
  } finally {
    if (runtime.owned) await runtime.plan.dispose();
  }
}

function emitRuntime(
  events: EventBus,
  phase: 'loaded' | 'draining' | 'closed',
  runtime: ModelRuntime,
): void {
  events.emit({
    type: 'runtime',
    data: {
      phase,
      model: { id: runtime.id, version: runtime.version },
      generation: runtime.generation,
      artifact_hash: runtime.plan.artifact_hash,
      in_flight: runtime.in_flight,
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Routing: an explicit table, looked up by exact path (no per-request regex)
// ---------------------------------------------------------------------------------------------

type Handler = (ctx: GatewayContext, request: Request) => Response | Promise<Response>;

const RECEIPTS_PREFIX = '/v1/wardwright/receipts/';

const ROUTES: ReadonlyMap<string, Readonly<Partial<Record<string, Handler>>>> = new Map<
  string,
  Partial<Record<string, Handler>>
>([
  ['/v1/chat/completions', { POST: chatCompletions }],
  ['/v1/models', { GET: listModels }],
  ['/v1/wardwright/simulate', { POST: admin(simulateRoute) }],
  ['/v1/wardwright/receipts', { GET: admin((ctx, r) => listReceipts(ctx, new URL(r.url))) }],
  ['/v1/wardwright/runtime', { GET: admin((ctx) => jsonResponse(runtimeSnapshot(ctx))) }],
  ['/v1/wardwright/events', { GET: admin(eventStream) }],
  [
    '/v1/wardwright/alerts/dead-letters',
    { GET: admin((ctx, r) => listDeadLetters(ctx, new URL(r.url))) },
  ],
  ['/v1/wardwright/alerts/redrive', { POST: admin(redrive) }],
]);

function admin(handler: Handler): Handler {
  return (ctx, request) =>
    ctx.auth.admin(request.headers.get('authorization')) ? handler(ctx, request) : unauthorized();
}

const receiptById = admin((ctx, request) => {
  const path = pathOf(request.url);
  return getReceipt(ctx, path.slice(path.indexOf(RECEIPTS_PREFIX) + RECEIPTS_PREFIX.length));
});

const ALERTS_SUFFIX = '/alerts';

const alertsByReceipt = admin((ctx, request) => {
  const path = pathOf(request.url);
  const id = path.slice(
    path.indexOf(RECEIPTS_PREFIX) + RECEIPTS_PREFIX.length,
    path.length - ALERTS_SUFFIX.length,
  );
  let decoded: string;
  try {
    decoded = decodeURIComponent(id);
  } catch {
    return errorResponse(400, 'the receipt id is not a valid URL path segment', 'invalid_request');
  }
  return receiptAlerts(ctx, decoded);
});

function route(
  ctx: GatewayContext,
  basePath: string,
  request: Request,
): Promise<Response> | Response {
  let path = pathOf(request.url);
  if (basePath !== '') {
    if (path !== basePath && !path.startsWith(`${basePath}/`)) return notFound(path);
    path = path.slice(basePath.length);
  }
  const methods = ROUTES.get(path);
  if (methods !== undefined) {
    const handler = methods[request.method];
    return handler === undefined ? methodNotAllowed(methods) : handler(ctx, request);
  }
  if (path.startsWith(RECEIPTS_PREFIX) && path.length > RECEIPTS_PREFIX.length) {
    const slash = path.indexOf('/', RECEIPTS_PREFIX.length);
    if (slash !== -1 && slash > RECEIPTS_PREFIX.length && path.slice(slash) === ALERTS_SUFFIX) {
      return request.method === 'GET'
        ? alertsByReceipt(ctx, request)
        : methodNotAllowed({ GET: alertsByReceipt });
    }
    if (slash !== -1) return notFound(path);
    return request.method === 'GET'
      ? receiptById(ctx, request)
      : methodNotAllowed({ GET: receiptById });
  }
  return notFound(path);
}

function notFound(path: string): Response {
  return errorResponse(404, `no route for ${path}`, 'not_found');
}

function methodNotAllowed(methods: Readonly<Partial<Record<string, Handler>>>): Response {
  const allow = Object.keys(methods).join(', ');
  return errorResponse(405, `method not allowed; use ${allow}`, 'method_not_allowed', {
    headers: { allow },
  });
}

/** The path of an absolute URL without building a `URL` (the hot path needs only this). */
export function pathOf(url: string): string {
  const scheme = url.indexOf('://');
  const start = scheme === -1 ? 0 : url.indexOf('/', scheme + 3);
  if (start === -1) return '/';
  let end = url.length;
  const query = url.indexOf('?', start);
  if (query !== -1) end = query;
  const hash = url.indexOf('#', start);
  if (hash !== -1 && hash < end) end = hash;
  return url.slice(start, end);
}

export { RECEIPT_HEADER };

/** Resolves once the set is empty, including what joins it while waiting. */
async function settled(set: ReadonlySet<Promise<unknown>>): Promise<void> {
  while (set.size > 0) await Promise.allSettled([...set]);
}

/** Every answer names itself, errors included: by its receipt id where it has one. */
function withRequestId(response: Response): Response {
  const headers = response.headers;
  if (!headers.has(REQUEST_ID_HEADER)) {
    headers.set(REQUEST_ID_HEADER, headers.get(RECEIPT_HEADER) ?? newRequestId());
  }
  return response;
}
