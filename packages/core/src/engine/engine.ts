import type { AlertSeverity } from '../decisions/actions.ts';
import { type AlertQueueDecision, defaultIdempotencyKey } from '../decisions/alert-backpressure.ts';
import type { RouteDecision } from '../decisions/routes.ts';
import { nextTransition } from '../decisions/state-machine.ts';
import { declaredTools } from '../decisions/tool-call-policy.ts';
import type { ConfigIssue } from '../errors/config-error.ts';
import { hasMarker, WardwrightError } from '../errors/wardwright-error.ts';
import { sanitizeFailureMessage } from '../sandbox/contract.ts';
import { checkJsonValue } from '../sandbox/json-value.ts';
import { schemaIssues } from '../schema/validator.ts';
import { utf8Length } from '../text/utf8.ts';
import { digestJson, hash64Hex, sha256 } from '../util/hash.ts';
import type { AlertOutbox } from './alert-outbox.ts';
import { type AlertQueue, createAlertQueue } from './alert-queue.ts';
import type { AlertSink } from './alert-sinks.ts';
import { memoryAlertSink } from './alert-sinks.ts';
import {
  evaluateRequest,
  type MachineState,
  REMINDER_NAME,
  type RequestEvaluation,
  type RequestPhaseInput,
  routeRequest,
} from './evaluate-request.ts';
import {
  type AssistantPart,
  type FinishReason,
  type ModelReply,
  messageEvents,
  type ReplyEvent,
  type TokenUsage,
  type UpstreamRetry,
} from './model-reply.ts';
import type { Plan } from './plan.ts';
import {
  type Clock,
  type ModelProvider,
  modelProvider,
  type Provider,
  type ProviderCall,
  systemClock,
} from './provider.ts';
import {
  type AlertRecord,
  type FinalStatus,
  failureDomainOf,
  httpStatusOf,
  RECEIPT_SCHEMA_ID,
  type Receipt,
  type ResponseRecord,
  type SandboxRecord,
  type ShadowDifference,
  type ShadowRecord,
  type StateTransitionRecord,
} from './receipt.ts';
import type { ReceiptStore } from './receipt-store.ts';
import {
  type Caller,
  CallerSchema,
  type ChatMessage,
  type ChatRequest,
  ChatRequestSchema,
  lastUserMessage,
  toolResultsOf,
} from './request.ts';
import {
  type ResponseEvent,
  type ResponseLoopConfig,
  type ResponseOutcome,
  startResponse,
  stepResponse,
} from './response-loop.ts';
import { guardedHistory, guardedStates, written } from './store-failure.ts';
import {
  type HistoryStore,
  memoryHistoryStore,
  memoryStateStore,
  type StateStore,
} from './stores.ts';
import { runToolCallScripts } from './tool-call-scripts.ts';

/**
 * The engine: one plan, its stores and sinks, and `handle(request)` running
 * request → route → response (stream governor and/or guard loop around the provider) → receipt.
 * Every decision it takes is made by a pure core; the engine only threads state, calls the
 * provider, and writes down what happened.
 */

export interface EngineOptions {
  plan: Plan;
  provider: Provider;
  clock?: Clock;
  history?: HistoryStore;
  states?: StateStore;
  receipts?: ReceiptStore<Receipt>;
  /** Sinks by name; the artifact's `alerts.sinks` picks among them. Default: a memory sink. */
  alert_sinks?: Readonly<Record<string, AlertSink>>;
  /**
   * Writes every alert the queues accept, and what became of it, before the receipt is stored,
   * so queued alerts survive the process (restore them with `alert_queues[…].restore`).
   * Default: none, the queues live in memory.
   */
  alert_outbox?: AlertOutbox;
  /** Every decision of every alert queue (queued, delivered, retried, dead-lettered…). */
  onAlertDecision?: (sink: string, decision: AlertQueueDecision) => void;
  /**
   * Called with every finalized receipt (the object the store holds: do not mutate it); a
   * throw or a rejected promise is reported to `onError`, never propagated.
   */
  onDecision?: (receipt: Receipt) => unknown;
  /** Evaluate another plan beside this one; its decisions are compared, never applied. */
  shadow?: { plan: Plan; strict?: boolean };
  /** Marks receipts as simulated. */
  simulation?: boolean;
  /**
   * Start a background delivery worker per alert sink. Default: true, except in simulation
   * (which delivers with `queue.drain(now)` for determinism). `close()` stops them.
   */
  alert_workers?: boolean;
  /**
   * Keep backend-measured CPU time and memory in receipts. They differ from run to run, so
   * simulation turns this off to keep receipts byte-identical. Default true.
   */
  record_resource_usage?: boolean;
  /**
   * Names this engine in receipt ids. Ids are derived from the artifact, the input, the time
   * and a per-engine counter; engines that share a receipt store (replicas, restarts within a
   * millisecond) need distinct instances. Default `''`.
   */
  instance?: string;
  /** Where hook failures go. Default `console.error`. */
  onError?: (error: unknown, where: string) => void;
}

export interface HandleOptions {
  caller?: Caller;
  /** The client's: aborted when it went away (status `client_disconnected`). */
  signal?: AbortSignal;
  /**
   * The gateway's: aborted when it is stopping and this request's grace period is over. The
   * request ends where it is, with status `gateway_shutdown` (503, its own failure domain).
   */
  shutdown?: AbortSignal;
  /**
   * When the whole request must be over, on the engine's clock: the upstream's retries and the
   * guard loop's attempts included. Past it the request ends where it is, with status
   * `deadline_exceeded` (504). Default: none.
   */
  deadline_at_ms?: number;
  /** Streaming: called with each piece of text as the governor releases it. */
  onRelease?: (text: string) => void | Promise<void>;
  /** Simulation of the request phase only: no provider call (status `simulated`). */
  dry_run?: boolean;
  /**
   * Called with the receipt id as soon as it is known (before any rule runs), so a streaming
   * gateway can send it as a response header before the first byte. A throw is reported to
   * `onError` and otherwise ignored.
   */
  onReceiptId?: (receipt_id: string) => void;
}

export interface EngineResult {
  receipt: Receipt;
  status: FinalStatus;
  http_status: number;
  /** The whole text returned to the client; null when none. */
  text: string | null;
  /**
   * The rest of the assistant message of the attempt that decided the request: its tool calls,
   * refusal, finish reason and usage (the upstream's, or estimated). null when no attempt did.
   */
  answer: EngineAnswer | null;
  /** For failures: a sentence the client can read. */
  message?: string;
}

export interface EngineAnswer {
  tool_calls: ToolCall[];
  refusal: string | null;
  finish_reason: FinishReason;
  usage: TokenUsage & { estimated: boolean };
}

/** A call the model asked for, as the client receives it. */
export type ToolCall = Omit<Extract<AssistantPart, { type: 'tool_call' }>, 'type'>;

export interface Engine {
  readonly plan: Plan;
  handle(request: unknown, options?: HandleOptions): Promise<EngineResult>;
  /** The alert queue of each sink, by sink name. */
  readonly alert_queues: ReadonlyMap<string, AlertQueue>;
  readonly history: HistoryStore;
  readonly states: StateStore;
  /** Stop alert workers; does not dispose the plan. */
  close(): Promise<void>;
}

const invalidMarker = Symbol.for('wardwright.error.invalid_request');

/** A request or caller that does not have the expected shape. Gateways answer 400. */
/** How deep a request's arrays and objects may nest (tool schemas nest; nothing needs more). */
export const MAX_REQUEST_DEPTH = 128;

export class InvalidRequestError extends WardwrightError {
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: read via the registry symbol in isInstance
  private readonly [invalidMarker] = true;
  readonly issues: readonly ConfigIssue[];

  constructor(subject: string, issues: readonly ConfigIssue[]) {
    const lines = issues.map(
      (i) =>
        `  - ${i.path.replace(/^\$/, subject)}: ${i.message}${i.expected === undefined ? '' : ` (expected ${i.expected})`}`,
    );
    super({ code: 'invalid_argument', message: [`invalid ${subject}:`, ...lines].join('\n') });
    this.name = 'InvalidRequestError';
    this.issues = issues.map((i) => ({ ...i, path: i.path.replace(/^\$/, subject) }));
  }

  static override isInstance(error: unknown): error is InvalidRequestError {
    return hasMarker(error, invalidMarker);
  }
}

const shadowMarker = Symbol.for('wardwright.error.shadow_diverged');

/** Strict shadow mode: the candidate plan decided differently. */
export class ShadowDivergenceError extends WardwrightError {
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: read via the registry symbol in isInstance
  private readonly [shadowMarker] = true;
  readonly differences: readonly ShadowDifference[];

  constructor(differences: readonly ShadowDifference[]) {
    const first = differences[0]!;
    super({
      code: 'shadow_diverged',
      message: `shadow plan diverged on ${first.label}: active=${JSON.stringify(first.active)} candidate=${JSON.stringify(first.candidate)}${differences.length > 1 ? ` (and ${differences.length - 1} more)` : ''}`,
    });
    this.name = 'ShadowDivergenceError';
    this.differences = differences;
  }

  static override isInstance(error: unknown): error is ShadowDivergenceError {
    return hasMarker(error, shadowMarker);
  }
}

export function createEngine(options: EngineOptions): Engine {
  const plan = options.plan;
  const provider = modelProvider(options.provider);
  const clock = options.clock ?? systemClock;
  // A store that fails a write fails the request closed (see store-failure.ts).
  const history = guardedHistory(options.history ?? memoryHistoryStore(plan.history));
  const states = guardedStates(options.states ?? memoryStateStore());
  const recordUsage = options.record_resource_usage ?? true;
  const onError =
    options.onError ?? ((error, where) => console.error(`wardwright: ${where}:`, error));
  const sinks = options.alert_sinks ?? { memory: memoryAlertSink() };
  const queues = new Map<string, AlertQueue>();
  for (const name of plan.alerts.sinks) {
    const sink = sinks[name];
    if (sink === undefined) {
      throw new WardwrightError({
        code: 'invalid_argument',
        message: `alert sink ${JSON.stringify(name)} (artifact alerts.sinks) was not given to createEngine; known sinks: ${Object.keys(sinks).join(', ') || 'none'}`,
      });
    }
    queues.set(
      name,
      createAlertQueue({
        config: plan.alerts.queue,
        sink,
        model_id: plan.model.id,
        model_version: plan.model.version,
        now: () => clock.now(),
        ...(options.alert_outbox === undefined
          ? {}
          : {
              outbox: options.alert_outbox,
              onOutboxError: (error: unknown) => onError(error, `alert outbox (sink ${name})`),
            }),
        ...(options.onAlertDecision === undefined
          ? {}
          : { onDecision: (decision) => options.onAlertDecision?.(name, decision) }),
      }),
    );
  }
  if (options.alert_workers ?? options.simulation !== true) {
    for (const queue of queues.values()) queue.start();
  }
  let sequence = 0;
  const instance = options.instance ?? '';

  // Each plan reads state through its own machines (a shadow plan may define others).
  const stateOf = (p: Plan, machine_id: string, caller: Caller): MachineState | null => {
    const compiled = p.state_machines.get(machine_id);
    if (compiled === undefined) return null;
    const value = (caller as Record<string, string | undefined>)[compiled.scope_key];
    if (typeof value !== 'string') return null;
    const record = states.get(machine_id, value);
    return {
      scope_value: value,
      state: record?.state ?? compiled.machine.initial,
      taken: record?.taken ?? {},
    };
  };
  // Request phases run one at a time: each reads history and state and writes them back, and
  // two interleaved at a script's await would both act on the state the other is changing.
  let phaseLock: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(phase: () => Promise<T>): Promise<T> => {
    const run = phaseLock.then(phase);
    phaseLock = run.catch(() => undefined);
    return run;
  };

  /** Store what decided transitions moved (records without a transition change nothing). */
  const applyTransitions = (records: readonly StateTransitionRecord[]) => {
    for (const t of records) {
      if (t.decision?.kind !== 'transition' || t.scope_value === null) continue;
      const before = states.get(t.machine_id, t.scope_value);
      states.set(t.machine_id, t.scope_value, {
        state: t.decision.to,
        taken: {
          ...(before?.taken ?? {}),
          [t.decision.rule_id]: (before?.taken[t.decision.rule_id] ?? 0) + 1,
        },
      });
    }
  };

  /**
   * The events tool-call rules sent, decided and stored at once (synchronously, so no other
   * request's phase reads the machine in between); each sees the previous one's result.
   */
  const sendStateEvents = (
    events: readonly { rule_id: string; machine_id: string; event: string }[],
    caller: Caller,
  ): StateTransitionRecord[] =>
    events.map((e) => {
      const compiled = plan.state_machines.get(e.machine_id)!;
      const current = stateOf(plan, e.machine_id, caller);
      const base = {
        machine_id: e.machine_id,
        scope_key: compiled.scope_key,
        rule_id: e.rule_id,
        event: e.event,
      };
      if (current === null) return { ...base, scope_value: null, decision: null };
      const decision = nextTransition(compiled.machine, current.state, e.event, current.taken);
      const record = { ...base, scope_value: current.scope_value, decision };
      applyTransitions([record]);
      return record;
    });

  async function handle(raw: unknown, handleOptions: HandleOptions = {}): Promise<EngineResult> {
    // Before anything walks or serialises it: a body nested thousands deep would overflow the
    // stack of the first recursive reader (JSON.stringify included) instead of being refused.
    const shape = checkJsonValue(raw, {
      maxBytes: Number.MAX_SAFE_INTEGER,
      maxDepth: MAX_REQUEST_DEPTH,
      // Programmatic callers build requests with optional fields left undefined.
      undefinedProperty: 'omit',
    });
    if (!shape.ok) {
      throw new InvalidRequestError('request', [
        shape.reason === 'not_json'
          ? { path: shape.path, message: `is not JSON data (found ${shape.found})` }
          : {
              path: '$',
              message: `nests arrays and objects deeper than ${MAX_REQUEST_DEPTH} levels`,
            },
      ]);
    }
    const requestIssues = schemaIssues(ChatRequestSchema, raw);
    if (requestIssues.length > 0) throw new InvalidRequestError('request', requestIssues);
    const caller = handleOptions.caller ?? {};
    const callerIssues = schemaIssues(CallerSchema, caller);
    if (callerIssues.length > 0) throw new InvalidRequestError('caller', callerIssues);
    const request = raw as ChatRequest;

    const started = clock.now();
    // The request as received (its key order included): what a replay must send again.
    const input_digest = sha256(JSON.stringify({ request, caller }));
    const receipt_id = `rcpt_${hash64Hex(`${plan.artifact_hash}|${instance}|${input_digest}|${started}|${sequence++}`)}`;
    /** Queue alerts on every sink (request rules' before routing, tool-call rules' after). */
    const enqueueAlerts = (
      list: readonly {
        rule_id: string;
        severity: AlertSeverity;
        message?: string;
        idempotency_key?: string;
      }[],
      at: number,
    ): AlertRecord[] => {
      const records: AlertRecord[] = [];
      for (const alert of list) {
        const idempotency_key =
          alert.idempotency_key ??
          defaultIdempotencyKey({
            receipt_id,
            rule_id: alert.rule_id,
            message: alert.message ?? '',
            severity: alert.severity,
          });
        for (const [sink, queue] of queues) {
          const { kind: _kind, ...decision } = queue.enqueue(
            {
              idempotency_key,
              rule_id: alert.rule_id,
              severity: alert.severity,
              message: alert.message ?? '',
              ...(caller.session_id === undefined ? {} : { session_id: caller.session_id }),
            },
            at,
            receipt_id,
          );
          records.push({ sink, rule_id: alert.rule_id, idempotency_key, decision });
        }
      }
      return records;
    };
    if (handleOptions.onReceiptId !== undefined) {
      try {
        handleOptions.onReceiptId(receipt_id);
      } catch (error) {
        onError(error, 'onReceiptId');
      }
    }

    const phase = await exclusive(async () => {
      // The request counts toward its own thresholds: it is recorded before rules run.
      const scope = callerScope(caller);
      const userText = lastUserMessage(request.messages);
      history.insert(
        { created_at_ms: started, kind: 'request_text', scope, text: userText },
        started,
      );
      // So are the tool results it carries back. The calls they answer were recorded when the
      // model emitted them (below, once the answer is decided).
      for (const result of toolResultsOf(request)) {
        history.insert(
          {
            created_at_ms: started,
            kind: 'tool_result',
            key: result.name,
            scope,
            text: result.content,
          },
          started,
        );
      }
      const evaluationInput = {
        request,
        caller,
        now_ms: started,
        history: history.entries(),
        ...(history.scoped === undefined
          ? {}
          : { scoped: (key: string, value: string) => history.scoped!(key, value) }),
        stateOf: (id: string) => stateOf(plan, id, caller),
      };
      const evaluation = await evaluateRequest(plan, evaluationInput);
      let shadow: ShadowRecord | null = null;
      if (options.shadow !== undefined) {
        const candidatePlan = options.shadow.plan;
        shadow = await shadowOf(plan, evaluation, candidatePlan, {
          ...evaluationInput,
          stateOf: (id: string) => stateOf(candidatePlan, id, caller),
        });
        if (shadow.diverged && options.shadow.strict === true) {
          throw new ShadowDivergenceError(shadow.differences);
        }
      }
      const alerts = enqueueAlerts(evaluation.arbitration.alerts, started);
      const alertFailedClosed = alerts.some((a) => a.decision.outcome === 'failed_closed');
      // A request refused for backpressure is retried by its client: moving state now would
      // move it twice. (It stays in history: it was asked.)
      if (!alertFailedClosed) applyTransitions(evaluation.transitions);
      const route =
        evaluation.arbitration.blocked || alertFailedClosed ? null : routeRequest(plan, evaluation);
      return { scope, evaluation, shadow, alerts, alertFailedClosed, route };
    });
    const { scope, evaluation, shadow, alerts, alertFailedClosed, route } = phase;
    const routed = clock.now();

    const usage = (records: SandboxRecord[]) =>
      // Measured usage differs run to run; without it a receipt depends only on its inputs.
      recordUsage ? records : records.map((r) => ({ ...r, usage: { wall_ms: 0 } }));

    let outcome: ResponseOutcome;
    if (evaluation.arbitration.blocked) {
      const reasons = evaluation.arbitration.applied.filter((a) => a.action === 'block');
      outcome = failure(
        'policy_blocked',
        `blocked by policy: ${reasons.map((r) => r.rule_id).join(', ')}`,
      );
    } else if (alertFailedClosed) {
      outcome = failure(
        'alert_failed_closed',
        'an alert could not be queued and its queue fails closed; retry later',
      );
    } else if (route?.kind === 'blocked' && route.reason === 'no_target_fits') {
      outcome = failure(
        'context_length_exceeded',
        `the prompt (about ${evaluation.estimated_prompt_tokens} tokens) is longer than the context window of every model allowed to serve it (largest: ${largestWindow(plan, route)} tokens)`,
      );
    } else if (route === null || route.kind === 'blocked') {
      outcome = failure(
        'route_blocked',
        `no target can serve the request (${route?.reason ?? 'blocked'})`,
      );
    } else if (handleOptions.dry_run === true) {
      outcome = {
        status: 'simulated',
        text: null,
        attempts: [],
        guard: null,
        stream: null,
        model: route.model,
        answer: null,
        tool_policy: null,
        tool_alerts: [],
        tool_state_events: [],
        tool_sandbox: [],
        emitted_calls: [],
      };
    } else {
      const machineState = (id: string) => stateOf(plan, id, caller)?.state ?? null;
      outcome = await respond(
        plan,
        provider,
        clock,
        request,
        evaluation,
        route,
        handleOptions,
        machineState,
        caller,
      );
    }

    const finished = clock.now();
    // Alerts a tool-call rule raised: queued before the calls are handed over, so a queue that
    // fails closed withholds them (text a stream already released stays released).
    const toolAlerts = enqueueAlerts(outcome.tool_alerts, finished);
    const toolFailedClosed = toolAlerts.some((a) => a.decision.outcome === 'failed_closed');
    // As in the request phase, a request refused for backpressure moves no machine; the phase
    // lock keeps the update from interleaving with another request's request phase.
    const toolTransitions =
      toolFailedClosed || outcome.tool_state_events.length === 0
        ? []
        : await exclusive(async () => sendStateEvents(outcome.tool_state_events, caller));
    if (toolFailedClosed) {
      outcome = {
        ...outcome,
        status: 'alert_failed_closed',
        text: request.stream === true ? outcome.text : null,
        answer: null,
        message:
          'an alert raised by a tool-call rule could not be queued and its queue fails closed; retry later',
      };
    }
    if (outcome.text !== null && outcome.text !== '') {
      history.insert(
        { created_at_ms: finished, kind: 'response_text', scope, text: outcome.text },
        finished,
      );
    }
    // A tool call is history once, when the model emits it: with a tool-call policy, every call
    // it emitted (a refused one too: a tool-loop rule counts what the model tried); without,
    // the calls the client received.
    const calls =
      outcome.tool_policy === null ? (outcome.answer?.tool_calls ?? []) : outcome.emitted_calls;
    for (const call of calls) {
      history.insert(
        { created_at_ms: finished, kind: 'tool_call', key: call.name, scope, text: call.arguments },
        finished,
      );
    }
    const status = outcome.status;
    const http_status = httpStatusOf(status, plan.guard?.on_exhausted ?? 'block');
    const sandboxRecords = usage(
      outcome.tool_sandbox.length === 0
        ? evaluation.sandbox
        : [...evaluation.sandbox, ...outcome.tool_sandbox],
    );
    const receipt: Receipt = {
      receipt_schema: RECEIPT_SCHEMA_ID,
      receipt_id,
      created_at_ms: started,
      simulation: options.simulation === true,
      artifact_hash: plan.artifact_hash,
      model: { id: plan.model.id, version: plan.model.version },
      session_id: caller.session_id ?? null,
      run_id: caller.run_id ?? null,
      caller: { ...caller },
      input_digest,
      request: {
        requested_model: request.model ?? null,
        stream: request.stream === true,
        message_count: request.messages.length,
        estimated_prompt_tokens: evaluation.estimated_prompt_tokens,
        prompt_transforms: evaluation.prompt_transforms,
        tool_context: evaluation.tool_context,
      },
      rules: evaluation.rules,
      decision: {
        blocked: evaluation.arbitration.blocked,
        determining_rule_ids: evaluation.determining_rule_ids,
        actions: evaluation.arbitration.applied,
        conflicts: evaluation.arbitration.conflicts,
        reminders: evaluation.arbitration.reminders,
        route_constraints: evaluation.arbitration.route_constraints,
        route,
        state_transitions:
          toolTransitions.length === 0
            ? evaluation.transitions
            : [...evaluation.transitions, ...toolTransitions],
      },
      alerts: toolAlerts.length === 0 ? alerts : [...alerts, ...toolAlerts],
      attempts: outcome.attempts,
      guard: outcome.guard,
      stream: outcome.stream,
      sandbox: sandboxRecords,
      shadow,
      response: responseRecord(outcome, evaluation.estimated_prompt_tokens),
      ...(outcome.tool_policy === null ? {} : { tool_policy: outcome.tool_policy }),
      final: {
        status,
        http_status,
        selected_model: outcome.model,
        released_bytes: outcome.text === null ? 0 : utf8Length(outcome.text),
        output_digest: outcome.text === null ? null : sha256(outcome.text),
        ...(outcome.message === undefined ? {} : { message: outcome.message }),
        failure_domain: failureDomainOf(sandboxRecords, status),
      },
      timings: {
        started_at_ms: started,
        finished_at_ms: finished,
        duration_ms: finished - started,
        request_phase_ms: routed - started,
        response_phase_ms: finished - routed,
      },
    };
    // What the receipt says was queued is durable first (at once for a synchronous outbox).
    if (options.alert_outbox !== undefined) {
      await Promise.all([...queues.values()].map((queue) => queue.flush()));
    }
    if (options.receipts !== undefined) {
      const store = options.receipts;
      await written('receipt', () => store.append(receipt));
    }
    if (options.onDecision !== undefined) {
      try {
        // A hook may be async; its rejection is reported like a throw, never left unhandled.
        Promise.resolve(options.onDecision(receipt)).catch((error: unknown) =>
          onError(error, 'onDecision hook'),
        );
      } catch (error) {
        onError(error, 'onDecision hook');
      }
    }
    const result: EngineResult = {
      receipt,
      status,
      http_status,
      text: outcome.text,
      answer: engineAnswer(outcome, receipt.response),
    };
    if (outcome.message !== undefined) result.message = outcome.message;
    return result;
  }

  return {
    plan,
    handle,
    alert_queues: queues,
    history,
    states,
    async close() {
      await Promise.all([...queues.values()].map((q) => q.stop()));
    },
  };
}

function callerScope(caller: Caller): Record<string, string> {
  const scope: Record<string, string> = {};
  for (const [key, value] of Object.entries(caller))
    if (typeof value === 'string') scope[key] = value;
  return scope;
}

/** The receipt's record of the answer: calls by size and digest (their arguments may be private). */
function responseRecord(
  outcome: ResponseOutcome,
  estimatedPromptTokens: number,
): ResponseRecord | null {
  const answer = outcome.answer;
  if (answer === null) return null;
  let usage: ResponseRecord['usage'];
  if (answer.usage === null) {
    let bytes = utf8Length(outcome.text ?? '') + utf8Length(answer.refusal ?? '');
    for (const call of answer.tool_calls) bytes += utf8Length(call.arguments);
    const completion = Math.ceil(bytes / 4);
    usage = {
      prompt_tokens: estimatedPromptTokens,
      completion_tokens: completion,
      total_tokens: estimatedPromptTokens + completion,
      estimated: true,
    };
  } else {
    usage = { ...answer.usage, estimated: false };
  }
  return {
    finish_reason: answer.finish_reason,
    tool_calls: answer.tool_calls.map((call) => ({
      id: call.id,
      name: call.name,
      arguments_bytes: utf8Length(call.arguments),
      arguments_digest: sha256(call.arguments),
    })),
    refusal: answer.refusal !== null,
    usage,
  };
}

function engineAnswer(
  outcome: ResponseOutcome,
  record: ResponseRecord | null,
): EngineAnswer | null {
  if (outcome.answer === null || record === null) return null;
  return {
    tool_calls: outcome.answer.tool_calls,
    refusal: outcome.answer.refusal,
    finish_reason: outcome.answer.finish_reason,
    usage: record.usage,
  };
}

/** The largest window among the targets skipped as too small: what the client must fit in. */
function largestWindow(plan: Plan, route: RouteDecision): number {
  let largest = 0;
  for (const skip of route.skipped) {
    if (skip.reason !== 'context_window_too_small') continue;
    largest = Math.max(largest, plan.routing.by_model.get(skip.model)?.context_window ?? 0);
  }
  return largest;
}

function failure(status: FinalStatus, message: string): ResponseOutcome {
  return {
    status,
    text: null,
    message,
    attempts: [],
    guard: null,
    stream: null,
    model: null,
    answer: null,
    tool_policy: null,
    tool_alerts: [],
    tool_state_events: [],
    tool_sandbox: [],
    emitted_calls: [],
  };
}

/**
 * The driver of the response core (`response-loop.ts`): it runs the core's commands — calls the
 * provider, releases text to the client, aborts a call, finishes — and turns what happens into
 * the core's events, each stamped with the clock.
 */
async function respond(
  plan: Plan,
  provider: ModelProvider,
  clock: Clock,
  request: ChatRequest,
  evaluation: RequestEvaluation,
  route: Extract<RouteDecision, { kind: 'selected' }>,
  options: HandleOptions,
  machineState: (machine_id: string) => string | null,
  caller: Caller,
): Promise<ResponseOutcome> {
  const config: ResponseLoopConfig = {
    streaming: request.stream === true,
    stream: plan.stream,
    guard: plan.guard,
    routing: plan.routing,
    prompt_tokens: evaluation.estimated_prompt_tokens,
    constraints: routeConstraints(evaluation),
    tool_calls:
      plan.tool_calls === null
        ? null
        : {
            policy: plan.tool_calls,
            declared: declaredTools(request.tools),
            stateOf: machineState,
          },
  };
  const signal = options.signal;
  const shutdown = options.shutdown;
  const deadlineAt = options.deadline_at_ms;
  // A real clock wakes the request at its deadline, whatever it waits for (a silent upstream);
  // a manual clock (simulation) checks it at each event, so receipts stay deterministic.
  const deadline = deadlineAt === undefined ? undefined : new AbortController();
  const deadlineTimer =
    deadline === undefined || clock.manual === true
      ? undefined
      : setTimeout(
          () => deadline.abort(new Error('deadline')),
          Math.max(0, (deadlineAt ?? 0) - clock.now()),
        );
  /** Why the request must end now, if it must: the gateway stopping, its deadline, the client gone. */
  const gone = (): ResponseEvent | null => {
    const now_ms = clock.now();
    if (shutdown?.aborted === true) return { type: 'shutdown', now_ms };
    if (deadlineAt !== undefined && (deadline?.signal.aborted === true || now_ms >= deadlineAt)) {
      return { type: 'deadline', now_ms };
    }
    if (signal?.aborted === true) return { type: 'client_gone', now_ms };
    return null;
  };
  // The upstream call is aborted by any of them.
  const endings = [signal, shutdown, deadline?.signal].filter(
    (s): s is AbortSignal => s !== undefined,
  );
  const ending = endings.length <= 1 ? endings[0] : AbortSignal.any(endings);
  // A provider that stalls while the governor holds text must not hold the client past
  // max_hold_ms: while it is silent, the clock ticks at half that interval (real clocks only).
  const holdLimit = plan.stream?.max_hold_ms ?? null;
  const tickEvery =
    holdLimit === null || clock.manual === true ? null : Math.max(5, Math.ceil(holdLimit / 2));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = (ms: number) =>
    new Promise<ResponseEvent>((resolve) => {
      clearTimeout(timer);
      timer = setTimeout(() => resolve({ type: 'tick', now_ms: clock.now() }), ms);
    });
  let step = startResponse(config, route.model, clock.now());
  let call: AttemptCall | null = null;
  try {
    for (;;) {
      let event: ResponseEvent | null = null;
      for (const command of step.commands) {
        switch (command.type) {
          case 'call_provider': {
            const messages: ChatMessage[] = [...evaluation.messages];
            for (const reminder of command.reminders)
              messages.push({ role: 'system', name: REMINDER_NAME, content: reminder });
            if (command.feedback !== null) {
              const { name, content } = command.feedback;
              messages.push({ role: 'system', name, content });
            }
            call = await AttemptCall.start(provider, ending, {
              model: command.model,
              messages,
              stream: config.streaming,
              attempt_index: command.attempt_index,
              request,
            });
            break;
          }
          case 'release':
            event = await deliver(command.text);
            break;
          case 'abort_provider':
            await call?.abort(command.reason);
            call = null;
            break;
          case 'decide_calls': {
            const states: Record<string, string | null> = {};
            for (const id of plan.state_machines.keys()) states[id] = machineState(id);
            const decided = await runToolCallScripts(plan, plan.tool_calls!, command.calls, {
              request,
              caller,
              states,
              now_ms: clock.now(),
            });
            event = { type: 'calls_decided', ...decided, now_ms: clock.now() };
            break;
          }
          case 'finish':
            return command.outcome;
          default:
            return assertUnreachable(command);
        }
      }
      if (event === null) {
        if (call === null) throw new Error('the response core is waiting for nothing');
        event = await (tickEvery === null
          ? call.pull(gone, clock)
          : Promise.race([call.next(gone, clock), tick(tickEvery)]));
        if (event.type === 'reply_end' || event.type === 'reply_failed') call = null;
      }
      step = stepResponse(config, step.state, event);
    }
  } finally {
    clearTimeout(timer);
    clearTimeout(deadlineTimer);
    await call?.abort('the response phase ended');
  }

  /** Sends text to the client; a client that cannot take it is gone. */
  async function deliver(text: string): Promise<ResponseEvent> {
    const ended = gone();
    if (ended !== null) return ended;
    if (options.onRelease !== undefined) {
      try {
        await options.onRelease(text);
      } catch {
        return { type: 'client_gone', now_ms: clock.now() };
      }
    }
    return { type: 'delivered', now_ms: clock.now() };
  }
}

/** One provider call in progress: its events, and the abort signal it may have asked for. */
class AttemptCall {
  // Created when the provider first reads `signal`: a provider that never listens (scripted
  // replies) costs no controller, and a halt or a client abort still reaches one that does.
  private controller: AbortController | undefined;
  private readonly fromClient = () => this.controller?.abort(this.client?.reason);
  private events: Iterator<ReplyEvent> | AsyncIterator<ReplyEvent> | null = null;
  private failed: { status: string; message?: string; retry_after_ms?: number } | null = null;
  /** Upstream answers the provider retried on its own: reported before the reply's events. */
  private retried: readonly UpstreamRetry[] | null = null;
  private inflight: Promise<ResponseEvent> | null = null;

  private constructor(private readonly client: AbortSignal | undefined) {}

  static async start(
    provider: ModelProvider,
    client: AbortSignal | undefined,
    input: Omit<ProviderCall, 'signal'>,
  ): Promise<AttemptCall> {
    const call = new AttemptCall(client);
    let reply: ModelReply;
    try {
      reply = await provider.call({
        ...input,
        get signal() {
          return call.signal();
        },
      });
    } catch (error) {
      reply = {
        kind: 'error',
        status: 'provider_exception',
        message: error instanceof Error ? error.message : String(error),
      };
    }
    if (reply.upstream_retries !== undefined && reply.upstream_retries.length > 0) {
      call.retried = reply.upstream_retries;
    }
    if (reply.kind === 'error') {
      const failed: { status: string; message?: string; retry_after_ms?: number } = {
        status: reply.status,
      };
      if (reply.message !== undefined) failed.message = reply.message;
      if (reply.retry_after_ms !== undefined) failed.retry_after_ms = reply.retry_after_ms;
      call.failed = failed;
    } else if (reply.kind === 'message') {
      call.events = messageEvents(reply.parts, reply.finish_reason, reply.usage);
    } else {
      call.events = reply.events[Symbol.asyncIterator]();
    }
    return call;
  }

  private signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.client?.aborted === true) this.controller.abort(this.client.reason);
      else this.client?.addEventListener('abort', this.fromClient, { once: true });
    }
    return this.controller.signal;
  }

  /**
   * `pull` for a driver that races it against a timer: a pull still waiting (a tick came
   * first) is the one the next call returns, so no event is read twice or lost.
   */
  next(gone: () => ResponseEvent | null, clock: Clock): Promise<ResponseEvent> {
    if (this.inflight === null) {
      this.inflight = this.pull(gone, clock).then((event) => {
        this.inflight = null;
        return event;
      });
    }
    return this.inflight;
  }

  /** The next event of the call; a request ended first (client gone, shutdown) ends it. */
  async pull(gone: () => ResponseEvent | null, clock: Clock): Promise<ResponseEvent> {
    const before = gone();
    if (before !== null) return before;
    if (this.retried !== null) {
      const retries = this.retried;
      this.retried = null;
      return { type: 'upstream_retried', retries, now_ms: clock.now() };
    }
    if (this.failed !== null || this.events === null) {
      this.release();
      const failed = this.failed ?? { status: 'provider_exception' };
      return { type: 'reply_failed', ...failed, now_ms: clock.now() };
    }
    let result: IteratorResult<ReplyEvent>;
    try {
      result = await this.events.next();
    } catch (error) {
      this.release();
      // A provider whose stream fails because the request was ended failed for that reason.
      const ended = gone();
      if (ended !== null) return ended;
      return {
        type: 'reply_failed',
        status: 'stream_error',
        message: error instanceof Error ? error.message : String(error),
        now_ms: clock.now(),
      };
    }
    const after = gone();
    if (after !== null) return after;
    if (result.done === true) {
      this.release();
      return { type: 'reply_end', now_ms: clock.now() };
    }
    return { type: 'reply', event: result.value, now_ms: clock.now() };
  }

  /** Stop the call: abort the upstream and close its stream. */
  async abort(reason: string): Promise<void> {
    this.controller?.abort(reason);
    const events = this.events;
    this.release();
    // The stream is being abandoned; how it ends is no longer anyone's business. A pull still
    // waiting on a stalled upstream would keep `return` waiting too: do not wait for it then.
    const closing = Promise.resolve()
      .then(() => events?.return?.())
      .catch(() => undefined);
    if (this.inflight === null) await closing;
  }

  private release(): void {
    this.events = null;
    this.client?.removeEventListener('abort', this.fromClient);
  }
}

function routeConstraints(evaluation: RequestEvaluation) {
  const c = evaluation.arbitration.route_constraints;
  return {
    ...(c.allowed_targets === undefined ? {} : { allowed_targets: c.allowed_targets }),
    ...(c.forced_model === undefined ? {} : { forced_model: c.forced_model }),
    allow_fallback: c.allow_fallback,
  };
}

function assertUnreachable(value: never): never {
  throw new Error(`unexpected decision ${JSON.stringify(value)}`);
}

/**
 * Evaluate the candidate beside the active plan. A candidate that fails (a broken script, a
 * backend that throws) is a divergence to record, never a reason for the request to fail.
 */
async function shadowOf(
  activePlan: Plan,
  active: RequestEvaluation,
  candidatePlan: Plan,
  input: RequestPhaseInput,
): Promise<ShadowRecord> {
  try {
    const candidate = await evaluateRequest(candidatePlan, input);
    return compareDecisions(activePlan, active, candidatePlan, candidate);
  } catch (error) {
    return {
      candidate: {
        artifact_hash: candidatePlan.artifact_hash,
        model_version: candidatePlan.model.version,
      },
      diverged: true,
      differences: [
        {
          label: 'candidate_error',
          active: null,
          candidate: sanitizeFailureMessage(error instanceof Error ? error.message : String(error)),
        },
      ],
    };
  }
}

/** What the shadow compares: the request-phase decisions both plans made on the same input. */
function compareDecisions(
  activePlan: Plan,
  active: RequestEvaluation,
  candidatePlan: Plan,
  candidate: RequestEvaluation,
): ShadowRecord {
  const differences: ShadowDifference[] = [];
  const compare = (label: string, a: unknown, b: unknown) => {
    if (digestJson(a) !== digestJson(b)) differences.push({ label, active: a, candidate: b });
  };
  compare('blocked', active.arbitration.blocked, candidate.arbitration.blocked);
  compare('determining_rule_ids', active.determining_rule_ids, candidate.determining_rule_ids);
  compare(
    'actions',
    active.arbitration.applied.map((a) => `${a.rule_id}:${a.action}`),
    candidate.arbitration.applied.map((a) => `${a.rule_id}:${a.action}`),
  );
  compare(
    'route_constraints',
    active.arbitration.route_constraints,
    candidate.arbitration.route_constraints,
  );
  compare('reminders', active.arbitration.reminders, candidate.arbitration.reminders);
  compare('state_events', active.arbitration.state_events, candidate.arbitration.state_events);
  const routeA = routeRequest(activePlan, active);
  const routeB = routeRequest(candidatePlan, candidate);
  compare('route', routeLabel(routeA), routeLabel(routeB));
  return {
    candidate: {
      artifact_hash: candidatePlan.artifact_hash,
      model_version: candidatePlan.model.version,
    },
    diverged: differences.length > 0,
    differences,
  };
}

function routeLabel(route: RouteDecision | null): string {
  if (route === null) return 'not routed (blocked)';
  return route.kind === 'selected' ? `selected ${route.model}` : `blocked ${route.reason}`;
}
