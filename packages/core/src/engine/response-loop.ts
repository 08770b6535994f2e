import type { GuardFeedback } from '../decisions/guard-feedback.ts';
import {
  type GuardLoopFinalDecision,
  type GuardLoopState,
  startGuardLoop,
  stepGuardLoop,
} from '../decisions/guard-loop.ts';
import type { CompiledGuardLoop } from '../decisions/guard-loop-config.ts';
import type { CompiledRouting, RouteConstraints } from '../decisions/routes.ts';
import {
  consumeChunk,
  finishStream,
  type StreamState,
  type StreamStep,
  startStream,
  tickStream,
} from '../decisions/stream-governor.ts';
import {
  decideStreamRetry,
  type StreamRetryDecision,
  type StreamRetryLedger,
  startRetryLedger,
} from '../decisions/stream-retry.ts';
import type { CompiledStreamPolicy } from '../decisions/stream-rules.ts';
import {
  type CompiledToolCallPolicy,
  type DeclaredTools,
  decideToolCalls,
  EMPTY_TOOL_CALL_LEDGER,
  type ScriptedAction,
  type ToolCallAlert,
  type ToolCallLedger,
  type ToolCallStateEvent,
} from '../decisions/tool-call-policy.ts';
import { utf8Length } from '../text/utf8.ts';
import { sha256 } from '../util/hash.ts';
import {
  type AssembledMessage,
  assembleEvent,
  EMPTY_MESSAGE,
  type FinishReason,
  impliedFinish,
  type ReplyEvent,
  type TokenUsage,
  toolCallsOf,
  type UpstreamRetry,
} from './model-reply.ts';
import type {
  AttemptRecord,
  FinalStatus,
  Receipt,
  SandboxRecord,
  StreamAttemptRecord,
  ToolPolicyRecord,
} from './receipt.ts';

/**
 * The response phase as a pure core: `stepResponse(config, state, event) → { state, commands }`.
 *
 * It decides what the engine used to decide inside its provider loop — when to call the
 * provider again (a stream rule's retry with reminders, possibly on a larger model; the
 * structured-output guard's retry with feedback), what to release to the client and when (as
 * the stream governor releases it, or held until the guard accepts), and how the request ends.
 * The guard, the stream governor and the retry arbiter meet here, in one place, in this order:
 *
 * 1. the client is gone → `client_disconnected`, whatever else happened;
 * 2. the stream governor (its rules run on every chunk, whole answers included) and the
 *    stream-retry arbiter decide the attempt's fate first: retry, reroute or fail;
 * 3. a provider failure the stream arbiter did not retry ends the request;
 * 4. a turn of tool calls is not the structured answer: it completes without the guard;
 * 5. the guard accepts, retries with feedback, or is exhausted.
 *
 * The engine is the driver: it runs the commands (call the provider, release text, abort a
 * call, finish) and turns what happens into events (provider output, its end or failure,
 * delivery, the client leaving, the clock). Time comes in with the events.
 */

export interface ResponseLoopConfig {
  /** The client streams: governed text goes out as it is released (unless held). */
  readonly streaming: boolean;
  readonly stream: CompiledStreamPolicy | null;
  readonly guard: CompiledGuardLoop | null;
  readonly routing: CompiledRouting;
  /** Estimated tokens of the request as first sent. */
  readonly prompt_tokens: number;
  readonly constraints: RouteConstraints;
  /** Policy over emitted tool calls, and what it decides with; null without one. */
  readonly tool_calls: {
    readonly policy: CompiledToolCallPolicy;
    readonly declared: DeclaredTools;
    readonly stateOf: (machine: string) => string | null;
  } | null;
}

/** A tool call of the answer, as the model wrote it. */
export interface AnswerToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** What an attempt's message held besides its text, as the provider said it. */
export interface AttemptAnswer {
  tool_calls: AnswerToolCall[];
  refusal: string | null;
  finish_reason: FinishReason;
  /** null: the upstream reported none. */
  usage: TokenUsage | null;
}

/** How the response phase ended: what the receipt and the client are told. */
export interface ResponseOutcome {
  status: FinalStatus;
  /** What the client received (a stream cut short: what it had received). */
  text: string | null;
  message?: string;
  attempts: AttemptRecord[];
  guard: Receipt['guard'];
  stream: Receipt['stream'];
  model: string | null;
  /** The non-text parts of the deciding attempt's message; null when no attempt decided. */
  answer: AttemptAnswer | null;
  /** Decisions on emitted tool calls; null without a tool-call policy. */
  tool_policy: ToolPolicyRecord | null;
  /** Alerts tool-call rules raised, for the engine to queue. */
  tool_alerts: ToolCallAlert[];
  /** State events tool-call rules sent, for the engine to apply. */
  tool_state_events: ToolCallStateEvent[];
  /** Tool-call script runs, for the receipt's `sandbox`. */
  tool_sandbox: SandboxRecord[];
  /**
   * With a tool-call policy: every call the model emitted, attempt after attempt — refused ones
   * included — for history, where a tool-loop rule counts what the model tried.
   */
  emitted_calls: AnswerToolCall[];
}

export type ResponseEvent =
  /** A piece of the current attempt's answer (a whole answer arrives as its events). */
  | { type: 'reply'; event: ReplyEvent; now_ms: number }
  /** The current attempt's answer ended normally. */
  | { type: 'reply_end'; now_ms: number }
  /** The current call failed: an error answer, a broken stream, a thrown provider. */
  | {
      type: 'reply_failed';
      status: string;
      message?: string;
      retry_after_ms?: number;
      now_ms: number;
    }
  /** The provider retried the upstream on its own before its reply: recorded on the attempt. */
  | { type: 'upstream_retried'; retries: readonly UpstreamRetry[]; now_ms: number }
  /** The last `release` reached the client. */
  | { type: 'delivered'; now_ms: number }
  /** The client went away (its signal aborted, or a release could not reach it). */
  | { type: 'client_gone'; now_ms: number }
  /** The gateway is stopping and this request's grace period is over. */
  | { type: 'shutdown'; now_ms: number }
  /** The request's total deadline passed (retries and guard attempts included). */
  | { type: 'deadline'; now_ms: number }
  /** Time passed without output: the stream governor's hold limit may expire. */
  | { type: 'tick'; now_ms: number }
  /** The tool-call scripts ran on the calls `decide_calls` named. */
  | {
      type: 'calls_decided';
      scripted: ReadonlyMap<string, readonly ScriptedAction[]>;
      sandbox: readonly SandboxRecord[];
      now_ms: number;
    };

export type ResponseCommand =
  /** Call the provider for the next attempt, with these system messages after the request's. */
  | {
      type: 'call_provider';
      attempt_index: number;
      model: string;
      reminders: readonly string[];
      feedback: GuardFeedback | null;
    }
  /** Send text to the client now, then report `delivered` (or `client_gone`). */
  | { type: 'release'; text: string }
  /** Stop reading the current call and abort it. */
  | { type: 'abort_provider'; reason: string }
  /** Run the tool-call scripts on these calls, then report `calls_decided`. */
  | { type: 'decide_calls'; attempt_index: number; calls: readonly AnswerToolCall[] }
  /** The response phase is over. Nothing follows. */
  | { type: 'finish'; outcome: ResponseOutcome };

/** What runs after a `release` is delivered. */
type AfterDelivery = 'read' | 'end_attempt' | 'finish';

interface Attempt {
  readonly record: AttemptRecord;
  readonly governor: StreamState | null;
  readonly message: AssembledMessage;
  /** Text the provider produced. */
  readonly produced: string;
  /** Governed text of this attempt that went to the client (or is held for the end). */
  readonly released: string;
  readonly error: ProviderFailure | null;
}

export interface ResponseLoopState {
  readonly phase: 'reading' | 'delivering' | 'deciding' | 'done';
  readonly model: string;
  /** Records of the attempts so far; the current one is last. */
  readonly attempts: readonly AttemptRecord[];
  readonly current: Attempt | null;
  readonly guard: GuardLoopState | null;
  readonly ledger: StreamRetryLedger;
  readonly stream_attempts: readonly StreamAttemptRecord[];
  readonly retries: readonly StreamRetryDecision[];
  readonly feedback: GuardFeedback | null;
  readonly reminders: readonly string[];
  /** Everything the client has received. */
  readonly released_total: string;
  /** The release in flight and what follows its delivery. */
  readonly pending: { text: string; after: AfterDelivery; outcome: ResponseOutcome | null } | null;
  /** The latest attempt's message besides its text. */
  readonly answer: AttemptAnswer | null;
  readonly tool_ledger: ToolCallLedger;
  readonly tool_alerts: readonly ToolCallAlert[];
  readonly tool_state_events: readonly ToolCallStateEvent[];
  readonly tool_sandbox: readonly SandboxRecord[];
  /** Every call emitted, attempt after attempt: history's and the receipt's one source. */
  readonly emitted_calls: readonly { attempt_index: number; call: AnswerToolCall }[];
  /** An answer whose calls wait for the tool-call scripts. */
  readonly deciding: { answer: AttemptAnswer; released: string; attempt_index: number } | null;
  readonly tool_decisions: ToolPolicyRecord['decisions'];
  readonly dropped: readonly string[];
}

export interface ResponseStep {
  state: ResponseLoopState;
  commands: ResponseCommand[];
}

/**
 * Every attempt after the first spends a guard attempt or a stream retry, so this bound is
 * never the reason a loop ends; it is the proof that it does.
 */
export function maxAttempts(config: ResponseLoopConfig): number {
  return (config.guard?.max_attempts ?? 1) + (config.stream?.max_retries_total ?? 0) + 1;
}

/** A held answer is released only once the guard accepts it. */
export function holdsStream(config: ResponseLoopConfig): boolean {
  return config.streaming && config.guard !== null;
}

/** The first step: call the provider on the routed model. */
export function startResponse(
  config: ResponseLoopConfig,
  model: string,
  now_ms: number,
): ResponseStep {
  const state: ResponseLoopState = {
    phase: 'reading',
    model,
    attempts: [],
    current: null,
    guard: config.guard === null ? null : startGuardLoop(config.guard),
    ledger: startRetryLedger(),
    stream_attempts: [],
    retries: [],
    feedback: null,
    reminders: [],
    released_total: '',
    pending: null,
    answer: null,
    tool_ledger: EMPTY_TOOL_CALL_LEDGER,
    tool_alerts: [],
    tool_state_events: [],
    tool_sandbox: [],
    emitted_calls: [],
    deciding: null,
    tool_decisions: [],
    dropped: [],
  };
  return nextAttempt(config, state, now_ms);
}

/** One event in, the next state and what to do now out. An event the phase does not expect
 * changes nothing; after `finish`, nothing changes. */
export function stepResponse(
  config: ResponseLoopConfig,
  state: ResponseLoopState,
  event: ResponseEvent,
): ResponseStep {
  if (state.phase === 'done') return { state, commands: [] };
  if (event.type === 'client_gone') {
    return endedEarly(
      config,
      state,
      event.now_ms,
      'client_disconnected',
      'the client disconnected',
    );
  }
  if (event.type === 'deadline') {
    return endedEarly(
      config,
      state,
      event.now_ms,
      'deadline_exceeded',
      'the request ran past its deadline',
    );
  }
  if (event.type === 'shutdown') {
    return endedEarly(
      config,
      state,
      event.now_ms,
      'gateway_shutdown',
      'the gateway is shutting down',
    );
  }
  if (state.phase === 'delivering') {
    return event.type === 'delivered' ? delivered(config, state, event.now_ms) : idle(state);
  }
  if (state.phase === 'deciding') {
    return event.type === 'calls_decided' ? callsDecided(config, state, event) : idle(state);
  }
  const attempt = state.current;
  if (attempt === null) return idle(state);
  switch (event.type) {
    case 'reply':
      return reply(config, state, attempt, event.event, event.now_ms);
    case 'reply_end':
      return replyEnd(config, state, attempt, event.now_ms);
    case 'upstream_retried':
      return idle(
        withState(state, {
          current: withAttempt(attempt, {
            record: { ...attempt.record, upstream_retries: [...event.retries] },
          }),
        }),
      );
    case 'reply_failed': {
      const error: ProviderFailure = { status: event.status };
      if (event.message !== undefined) error.message = event.message;
      if (event.retry_after_ms !== undefined) error.retry_after_ms = event.retry_after_ms;
      return endAttempt(
        config,
        withState(state, { current: withAttempt(attempt, { error }) }),
        event.now_ms,
      );
    }
    case 'tick': {
      if (config.stream === null || attempt.governor === null) return idle(state);
      if (attempt.governor.status !== 'streaming') return idle(state);
      return governed(
        config,
        state,
        attempt,
        tickStream(config.stream, attempt.governor, event.now_ms),
        event.now_ms,
      );
    }
    case 'delivered':
    case 'calls_decided':
      return idle(state);
  }
}

/** Drives the core over a list of events: for tests, vectors and replays. */
export function runResponse(
  config: ResponseLoopConfig,
  model: string,
  start_ms: number,
  events: readonly ResponseEvent[],
): { state: ResponseLoopState; commands: ResponseCommand[][] } {
  let step = startResponse(config, model, start_ms);
  const commands = [step.commands];
  for (const event of events) {
    step = stepResponse(config, step.state, event);
    commands.push(step.commands);
  }
  return { state: step.state, commands };
}

// ---------------------------------------------------------------------------------------------

const idle = (state: ResponseLoopState): ResponseStep => ({ state, commands: [] });

// Every field spelled out: `{ ...state, field: … }` overriding existing keys is a slow path in
// V8 (about 25 times slower here), and these run for every chunk of every answer.

function withState(s: ResponseLoopState, p: Partial<ResponseLoopState>): ResponseLoopState {
  return {
    phase: p.phase ?? s.phase,
    model: p.model ?? s.model,
    attempts: p.attempts ?? s.attempts,
    current: p.current === undefined ? s.current : p.current,
    guard: p.guard === undefined ? s.guard : p.guard,
    ledger: p.ledger ?? s.ledger,
    stream_attempts: p.stream_attempts ?? s.stream_attempts,
    retries: p.retries ?? s.retries,
    feedback: p.feedback === undefined ? s.feedback : p.feedback,
    reminders: p.reminders ?? s.reminders,
    released_total: p.released_total ?? s.released_total,
    pending: p.pending === undefined ? s.pending : p.pending,
    answer: p.answer === undefined ? s.answer : p.answer,
    tool_ledger: p.tool_ledger ?? s.tool_ledger,
    tool_alerts: p.tool_alerts ?? s.tool_alerts,
    tool_state_events: p.tool_state_events ?? s.tool_state_events,
    tool_sandbox: p.tool_sandbox ?? s.tool_sandbox,
    emitted_calls: p.emitted_calls ?? s.emitted_calls,
    deciding: p.deciding === undefined ? s.deciding : p.deciding,
    tool_decisions: p.tool_decisions ?? s.tool_decisions,
    dropped: p.dropped ?? s.dropped,
  };
}

function withAttempt(a: Attempt, p: Partial<Attempt>): Attempt {
  return {
    record: p.record ?? a.record,
    governor: p.governor === undefined ? a.governor : p.governor,
    message: p.message ?? a.message,
    produced: p.produced ?? a.produced,
    released: p.released ?? a.released,
    error: p.error === undefined ? a.error : p.error,
  };
}

function nextAttempt(
  config: ResponseLoopConfig,
  state: ResponseLoopState,
  now_ms: number,
): ResponseStep {
  const index = state.attempts.length;
  const limit = maxAttempts(config);
  if (index >= limit) {
    return finish(config, state, 'provider_error', null, null, `gave up after ${limit} attempts`);
  }
  const record: AttemptRecord = {
    index,
    model: state.model,
    status: 'completed',
    reminders: [...state.reminders],
    guard_feedback: state.feedback !== null,
    started_at_ms: now_ms,
    duration_ms: 0,
    output_bytes: 0,
  };
  const current: Attempt = {
    record,
    governor: config.stream === null ? null : startStream({ attempt_index: index }),
    message: EMPTY_MESSAGE,
    produced: '',
    released: '',
    error: null,
  };
  return {
    state: withState(state, { phase: 'reading', attempts: [...state.attempts, record], current }),
    commands: [
      {
        type: 'call_provider',
        attempt_index: index,
        model: state.model,
        reminders: state.reminders,
        feedback: state.feedback,
      },
    ],
  };
}

function reply(
  config: ResponseLoopConfig,
  state: ResponseLoopState,
  attempt: Attempt,
  event: ReplyEvent,
  now_ms: number,
): ResponseStep {
  if (event.type !== 'text') {
    // Tool calls, a refusal, reasoning, finish and usage go out with the decided answer.
    return idle(
      withState(state, {
        current: withAttempt(attempt, { message: assembleEvent(attempt.message, event) }),
      }),
    );
  }
  const produced = attempt.produced + event.text;
  if (config.stream === null || attempt.governor === null) {
    return release(config, state, withAttempt(attempt, { produced }), event.text, 'read', now_ms);
  }
  if (attempt.governor.status !== 'streaming') return idle(state);
  const step = consumeChunk(config.stream, attempt.governor, event.text, now_ms);
  return governed(config, state, withAttempt(attempt, { produced }), step, now_ms);
}

/** The governor decided on a chunk (or a tick): release what it let go, stop when it halts. */
function governed(
  config: ResponseLoopConfig,
  state: ResponseLoopState,
  attempt: Attempt,
  step: StreamStep,
  now_ms: number,
): ResponseStep {
  const next = withAttempt(attempt, { governor: step.state });
  if (step.control === 'continue') {
    return release(config, state, next, step.released, 'read', now_ms);
  }
  const halted = release(config, state, next, step.released, 'end_attempt', now_ms);
  return {
    state: halted.state,
    commands: [
      { type: 'abort_provider', reason: 'stream policy halted the attempt' },
      ...halted.commands,
    ],
  };
}

function replyEnd(
  config: ResponseLoopConfig,
  state: ResponseLoopState,
  attempt: Attempt,
  now_ms: number,
): ResponseStep {
  if (config.stream === null || attempt.governor === null) {
    return endAttempt(config, state, now_ms);
  }
  if (attempt.governor.status !== 'streaming') return endAttempt(config, state, now_ms);
  const end = finishStream(config.stream, attempt.governor, now_ms);
  return release(
    config,
    state,
    withAttempt(attempt, { governor: end.state }),
    end.released,
    'end_attempt',
    now_ms,
  );
}

/**
 * Governed text of the current attempt: to the client now when it streams and nothing holds
 * it; otherwise kept with the attempt, for the answer at the end.
 */
function release(
  config: ResponseLoopConfig,
  state: ResponseLoopState,
  attempt: Attempt,
  text: string,
  after: AfterDelivery,
  now_ms: number,
): ResponseStep {
  if (text === '' || !config.streaming || holdsStream(config)) {
    const next = withState(state, {
      current: withAttempt(attempt, { released: attempt.released + text }),
    });
    return after === 'end_attempt' ? endAttempt(config, next, now_ms) : idle(next);
  }
  return {
    state: withState(state, {
      phase: 'delivering',
      current: attempt,
      pending: { text, after, outcome: null },
    }),
    commands: [{ type: 'release', text }],
  };
}

function delivered(
  config: ResponseLoopConfig,
  state: ResponseLoopState,
  now_ms: number,
): ResponseStep {
  const pending = state.pending;
  if (pending === null) return idle(state);
  const released_total = state.released_total + pending.text;
  if (pending.after === 'finish' && pending.outcome !== null) {
    // A held answer went out in one piece: it is everything the client received.
    const outcome = withReleased(pending.outcome, pending.text);
    return {
      state: withState(state, { phase: 'done', pending: null, released_total: pending.text }),
      commands: [{ type: 'finish', outcome }],
    };
  }
  const attempt = state.current;
  const next = withState(state, {
    phase: 'reading',
    pending: null,
    released_total,
    current:
      attempt === null ? null : withAttempt(attempt, { released: attempt.released + pending.text }),
  });
  return pending.after === 'end_attempt' ? endAttempt(config, next, now_ms) : idle(next);
}

/** The client went away, or the gateway is shutting down: the request ends where it is. */
function endedEarly(
  config: ResponseLoopConfig,
  state: ResponseLoopState,
  now_ms: number,
  status: 'client_disconnected' | 'gateway_shutdown' | 'deadline_exceeded',
  why: string,
): ResponseStep {
  const attempt = state.current;
  const commands: ResponseCommand[] = [];
  let attempts = state.attempts;
  const last = attempts[attempts.length - 1];
  if (last !== undefined) {
    const record: AttemptRecord = { ...last, status };
    // An attempt still in progress (reading, or releasing its text) is cut short here.
    if (attempt !== null) {
      record.duration_ms = now_ms - record.started_at_ms;
      record.output_bytes = utf8Length(attempt.produced);
      commands.push({ type: 'abort_provider', reason: why });
    }
    attempts = [...attempts.slice(0, -1), record];
  }
  // A release in flight did not arrive: the client has what it had before.
  const ended = finish(
    config,
    withState(state, { attempts, pending: null }),
    status,
    null,
    null,
    why,
  );
  return { state: ended.state, commands: [...commands, ...ended.commands] };
}

/** The current attempt is over (ended, failed or halted): decide what follows. */
function endAttempt(
  config: ResponseLoopConfig,
  state: ResponseLoopState,
  now_ms: number,
): ResponseStep {
  const attempt = state.current;
  if (attempt === null) return idle(state);
  const parts = attempt.message.parts;
  const toolCalls = toolCallsOf(parts).map(({ id, name, arguments: args }) => ({
    id,
    name,
    arguments: args,
  }));
  const refusals = parts.flatMap((part) => (part.type === 'refusal' ? [part.text] : []));
  const answer: AttemptAnswer = {
    tool_calls: toolCalls,
    refusal: refusals.length === 0 ? null : refusals.join(''),
    // The text went through the governor, not the assembler: it counts for the implied reason.
    finish_reason:
      attempt.message.finish_reason ??
      impliedFinish(
        attempt.produced === '' ? parts : [{ type: 'text', text: attempt.produced }, ...parts],
      ),
    usage: attempt.message.usage,
  };
  const error = attempt.error;
  const record: AttemptRecord = {
    ...attempt.record,
    duration_ms: now_ms - attempt.record.started_at_ms,
    output_bytes: utf8Length(attempt.produced),
  };
  if (error !== null) {
    record.status = 'provider_error';
    record.error = { status: error.status };
    if (error.message !== undefined) record.error.message = firstLine(error.message, 500);
    if (error.retry_after_ms !== undefined) record.error.retry_after_ms = error.retry_after_ms;
  }
  const governor = attempt.governor;
  if (
    governor !== null &&
    config.stream !== null &&
    error === null &&
    governor.status !== 'completed'
  ) {
    record.status = 'stream_halted';
  }
  let next = withState(state, {
    attempts: [...state.attempts.slice(0, -1), record],
    current: null,
    answer,
  });
  const released = attempt.released;

  if (governor !== null && config.stream !== null) {
    next = withState(next, {
      stream_attempts: [
        ...next.stream_attempts,
        {
          attempt_index: record.index,
          status: governor.status,
          events: governor.events,
          generated_bytes: governor.generated_bytes,
          released_bytes: governor.released_bytes,
          rewritten_bytes: governor.rewritten_bytes,
          dropped_bytes: governor.dropped_bytes,
          blocked_bytes: governor.blocked_bytes,
          max_held_bytes: governor.max_held_bytes,
          max_observed_hold_ms: governor.max_observed_hold_ms,
        },
      ],
    });
    // Bytes of a whole or held answer were released to the engine, not to the client.
    const toClient = config.streaming && !holdsStream(config);
    const decision = decideStreamRetry(
      config.stream,
      next.ledger,
      error === null
        ? {
            status: governor.status,
            released_bytes: toClient ? governor.released_bytes : 0,
            terminal_rule: governor.terminal_rule,
          }
        : {
            status: 'provider_error',
            released_bytes: toClient ? governor.released_bytes : 0,
            terminal_rule: null,
          },
      {
        routing: config.routing,
        current_model: next.model,
        prompt_tokens: config.prompt_tokens,
        constraints: config.constraints,
      },
    );
    if (decision.kind !== 'complete')
      next = withState(next, { retries: [...next.retries, decision] });
    switch (decision.kind) {
      case 'complete':
        break;
      case 'retry':
        return nextAttempt(
          config,
          withState(next, {
            ledger: decision.ledger,
            reminders: decision.reminders,
            model: decision.reroute === null ? next.model : decision.reroute.to_model,
          }),
          now_ms,
        );
      case 'fail':
        if (decision.status === 'provider_error') {
          return finish(config, next, providerStatus(error), null, null, providerMessage(error));
        }
        return finish(
          config,
          next,
          decision.status,
          null,
          null,
          `stream stopped by rule ${decision.rule_id ?? 'unknown'}`,
        );
      case 'skip_after_release':
      case 'exhausted':
      case 'context_exceeded':
        return finish(
          config,
          next,
          decision.status,
          null,
          null,
          `stream retry not possible (rule ${decision.rule_id})`,
        );
      default:
        return unreachable(decision);
    }
  } else if (error !== null) {
    if (config.guard !== null && next.guard !== null) {
      const step = stepGuardLoop(config.guard, next.guard, {
        kind: 'provider_failed',
        status: error.status,
        ...(error.message === undefined ? {} : { message: error.message }),
      });
      return finish(
        config,
        withState(next, { guard: step.state }),
        providerStatus(error),
        null,
        step.decision.kind === 'retry' ? null : step.decision,
        providerMessage(error),
      );
    }
    return finish(config, next, providerStatus(error), null, null, providerMessage(error));
  }

  if (toolCalls.length > 0 && config.tool_calls !== null) {
    if (config.tool_calls.policy.script_rules.length > 0) {
      // Scripts run in a sandbox, outside this core: ask for them and wait.
      return {
        state: withState(next, {
          phase: 'deciding',
          deciding: { answer, released, attempt_index: record.index },
        }),
        commands: [{ type: 'decide_calls', attempt_index: record.index, calls: answer.tool_calls }],
      };
    }
    const decided = decideCalls(config, next, answer, released, record.index, now_ms);
    return decided.kind === 'step'
      ? decided.step
      : deliverAndFinish(config, decided.state, 'completed', released, null);
  }
  // A turn that asks for tool calls is not the structured answer yet: the guard waits for it.
  if (config.guard === null || next.guard === null || toolCalls.length > 0) {
    return deliverAndFinish(config, next, 'completed', released, null);
  }
  const step = stepGuardLoop(config.guard, next.guard, { kind: 'completed', text: released });
  next = withState(next, { guard: step.state });
  const decision = step.decision;
  switch (decision.kind) {
    case 'accept':
      return deliverAndFinish(config, next, decision.status, released, decision);
    case 'retry':
      return nextAttempt(
        config,
        withState(next, { feedback: decision.feedback, reminders: [] }),
        now_ms,
      );
    case 'exhausted':
      if (decision.on_exhausted !== 'allow_last') {
        return finish(
          config,
          next,
          decision.status,
          null,
          decision,
          `structured output failed ${decision.status === 'exhausted_rule_budget' ? `rule ${decision.rule_id}` : 'every attempt'}`,
        );
      }
      return deliverAndFinish(
        config,
        next,
        decision.status,
        decision.last_text ?? released,
        decision,
      );
    case 'provider_failed':
      return finish(
        config,
        next,
        providerStatus({ status: decision.status }),
        null,
        decision,
        decision.message ?? decision.status,
      );
    default:
      return unreachable(decision);
  }
}

/** The scripts decided: the rules and their decisions meet in one verdict. */
function callsDecided(
  config: ResponseLoopConfig,
  state: ResponseLoopState,
  event: Extract<ResponseEvent, { type: 'calls_decided' }>,
): ResponseStep {
  const deciding = state.deciding;
  if (deciding === null) return idle(state);
  const next = withState(state, {
    phase: 'reading',
    deciding: null,
    tool_sandbox: [...state.tool_sandbox, ...event.sandbox],
  });
  const { answer, released, attempt_index } = deciding;
  const decided = decideCalls(
    config,
    next,
    answer,
    released,
    attempt_index,
    event.now_ms,
    event.scripted,
  );
  return decided.kind === 'step'
    ? decided.step
    : deliverAndFinish(config, decided.state, 'completed', released, null);
}

/**
 * The tool-call policy on an attempt's calls: a block or a spent retry budget ends the request;
 * a retry asks again with the reminders (impossible once text reached the client); otherwise
 * the dropped calls leave the answer, and an answer left with nothing to show says why.
 */
function decideCalls(
  config: ResponseLoopConfig,
  state: ResponseLoopState,
  answer: AttemptAnswer,
  released: string,
  attempt_index: number,
  now_ms: number,
  scripted?: ReadonlyMap<string, readonly ScriptedAction[]>,
): { kind: 'step'; step: ResponseStep } | { kind: 'go'; state: ResponseLoopState; calls: number } {
  const tools = config.tool_calls!;
  const out = decideToolCalls(tools.policy, answer.tool_calls, {
    declared: tools.declared,
    stateOf: tools.stateOf,
    ledger: state.tool_ledger,
    ...(scripted === undefined ? {} : { scripted }),
  });
  let next = withState(state, {
    emitted_calls: [
      ...state.emitted_calls,
      ...answer.tool_calls.map((call) => ({ attempt_index, call })),
    ],
    tool_alerts: [...state.tool_alerts, ...out.alerts],
    tool_state_events: [...state.tool_state_events, ...out.state_events],
    tool_decisions: [
      ...state.tool_decisions,
      ...out.decisions.map((d) => ({ attempt_index, ...d })),
    ],
  });
  const verdict = out.verdict;
  const call = (id: string) => answer.tool_calls.find((c) => c.id === id)?.name ?? id;
  switch (verdict.kind) {
    case 'block':
      return {
        kind: 'step',
        step: finish(
          config,
          next,
          'tool_call_blocked',
          null,
          null,
          `the call to ${call(verdict.call_id)} was blocked by rule ${verdict.rule_id}: ${verdict.reason}`,
        ),
      };
    case 'exhausted':
      return {
        kind: 'step',
        step: finish(
          config,
          next,
          'tool_call_retry_exhausted',
          null,
          null,
          `the call to ${call(verdict.call_id)} was blocked: rule ${verdict.rule_id} has no retry left`,
        ),
      };
    case 'retry':
      if (next.released_total !== '') {
        return {
          kind: 'step',
          step: finish(
            config,
            next,
            'tool_call_retry_skipped_after_release',
            null,
            null,
            'a tool-call rule asked for a retry after text was released; a stream cannot rewind',
          ),
        };
      }
      return {
        kind: 'step',
        step: nextAttempt(
          config,
          withState(next, { tool_ledger: verdict.ledger, reminders: verdict.reminders }),
          now_ms,
        ),
      };
    case 'allow': {
      if (verdict.dropped.length === 0)
        return { kind: 'go', state: next, calls: verdict.calls.length };
      const rules = [
        ...new Set(out.decisions.filter((d) => d.action === 'drop_call').map((d) => d.rule_id)),
      ];
      const left = verdict.calls.length;
      const refusal =
        left === 0 && released === '' && answer.refusal === null
          ? `The requested tool call was removed by policy (${rules.join(', ')}).`
          : answer.refusal;
      next = withState(next, {
        dropped: [...next.dropped, ...verdict.dropped],
        answer: {
          tool_calls: verdict.calls,
          refusal,
          finish_reason: left === 0 ? 'stop' : answer.finish_reason,
          usage: answer.usage,
        },
      });
      return { kind: 'go', state: next, calls: left };
    }
    default:
      return unreachable(verdict);
  }
}

/** A decided answer: a held stream's goes out now, in one piece; then the phase is over. */
function deliverAndFinish(
  config: ResponseLoopConfig,
  state: ResponseLoopState,
  status: FinalStatus,
  text: string,
  guardDecision: GuardLoopFinalDecision | null,
): ResponseStep {
  const ended = finish(config, state, status, text, guardDecision);
  if (!holdsStream(config) || text === '') return ended;
  const finishCommand = ended.commands[0];
  if (finishCommand === undefined || finishCommand.type !== 'finish') return ended;
  return {
    state: withState(state, {
      phase: 'delivering',
      pending: { text, after: 'finish', outcome: finishCommand.outcome },
    }),
    commands: [{ type: 'release', text }],
  };
}

function finish(
  config: ResponseLoopConfig,
  state: ResponseLoopState,
  status: FinalStatus,
  text: string | null,
  guardDecision: GuardLoopFinalDecision | null,
  message?: string,
): ResponseStep {
  // A stream that failed after releasing bytes: the client has them, and the receipt says so.
  const delivered =
    text ?? (config.streaming && state.released_total !== '' ? state.released_total : null);
  const outcome: ResponseOutcome = {
    status,
    text: delivered,
    attempts: [...state.attempts],
    guard:
      config.guard === null || state.guard === null || guardDecision === null
        ? null
        : { events: state.guard.events, decision: guardDecision },
    stream:
      config.stream === null
        ? null
        : {
            mode: config.stream.mode,
            attempts: [...state.stream_attempts],
            retries: [...state.retries],
            released_bytes: utf8Length(state.released_total),
          },
    model: state.model,
    // Tool calls and a refusal go out with an answer, never with a failure.
    answer: text === null ? null : state.answer,
    tool_policy:
      config.tool_calls === null
        ? null
        : {
            emitted: state.emitted_calls.map(({ attempt_index, call }) => ({
              attempt_index,
              id: call.id,
              name: call.name,
              arguments_bytes: utf8Length(call.arguments),
              arguments_digest: sha256(call.arguments),
            })),
            decisions: [...state.tool_decisions],
            dropped: text === null ? [] : [...state.dropped],
            retries: state.tool_ledger.total,
          },
    tool_alerts: [...state.tool_alerts],
    tool_state_events: [...state.tool_state_events],
    tool_sandbox: [...state.tool_sandbox],
    emitted_calls: state.emitted_calls.map((e) => e.call),
  };
  if (message !== undefined) outcome.message = message;
  return {
    state: withState(state, { phase: 'done', current: null, pending: null }),
    commands: [{ type: 'finish', outcome }],
  };
}

/** The held answer reached the client: the receipt counts its bytes as released. */
function withReleased(outcome: ResponseOutcome, text: string): ResponseOutcome {
  if (outcome.stream === null) return outcome;
  return { ...outcome, stream: { ...outcome.stream, released_bytes: utf8Length(text) } };
}

/** What a provider's failed reply said. */
interface ProviderFailure {
  status: string;
  message?: string;
  retry_after_ms?: number;
}

/**
 * An upstream that still answers 429 once every retry is spent is rate limiting us: the client
 * gets that (429, with the upstream's Retry-After), not a generic bad gateway.
 */
function providerStatus(error: ProviderFailure | null): 'provider_error' | 'provider_rate_limited' {
  return error?.status === 'upstream_429' ? 'provider_rate_limited' : 'provider_error';
}

function providerMessage(error: ProviderFailure | null): string {
  if (error === null) return 'the provider failed';
  return `the provider failed (${error.status})${error.message === undefined ? '' : `: ${firstLine(error.message, 200)}`}`;
}

function firstLine(text: string, max: number): string {
  return text.split('\n', 1)[0]!.slice(0, max);
}

function unreachable(value: never): never {
  throw new Error(`unexpected decision ${JSON.stringify(value)}`);
}
