import Type, { type Static, type TSchema } from 'typebox';
import {
  ActionConflictSchema,
  ArbitratedRouteConstraintsSchema,
  NormalizedActionSchema,
} from '../decisions/actions.ts';
import { EnqueueDecisionSchema } from '../decisions/alert-backpressure.ts';
import { GuardEventSchema, GuardLoopFinalDecisionSchema } from '../decisions/guard-loop.ts';
import { HistoryRuleOutcomeSchema } from '../decisions/history-threshold.ts';
import { RouteDecisionSchema } from '../decisions/routes.ts';
import { TransitionDecisionSchema } from '../decisions/state-machine.ts';
import { StreamEventSchema, StreamStatusSchema } from '../decisions/stream-governor.ts';
import { StreamRetryDecisionSchema } from '../decisions/stream-retry.ts';
import { ReleaseModeSchema } from '../decisions/stream-rules.ts';
import { ToolCallActionNameSchema } from '../decisions/tool-call-policy.ts';
import { SandboxFailureSchema, SandboxUsageSchema } from '../sandbox/contract.ts';
import { StringEnum, TaggedUnion } from '../schema/types.ts';
import { CallerSchema, ToolContextSchema } from './request.ts';

/**
 * `wardwright.receipt.v1`: the decision log of one request, built only from the plan, the
 * request, the injected clock and the provider's replies, so the same inputs give a
 * byte-identical receipt. Every nested decision uses the schema of the core that made it.
 */

export const RECEIPT_SCHEMA_ID = 'wardwright.receipt.v1';

export const FinalStatusSchema = StringEnum(
  [
    'completed',
    'completed_after_guard',
    'simulated',
    'policy_blocked',
    'route_blocked',
    'context_length_exceeded',
    'alert_failed_closed',
    'exhausted_guard_budget',
    'exhausted_rule_budget',
    'provider_error',
    'provider_rate_limited',
    'stream_policy_blocked',
    'stream_policy_latency_exceeded',
    'stream_policy_retry_required',
    'stream_policy_retry_skipped_after_release',
    'stream_policy_retry_context_exceeded',
    'tool_call_blocked',
    'tool_call_retry_exhausted',
    'tool_call_retry_skipped_after_release',
    'client_disconnected',
    'gateway_shutdown',
    'deadline_exceeded',
  ],
  { description: 'How the request ended; see the HTTP status mapping in the docs.' },
);
export type FinalStatus = Static<typeof FinalStatusSchema>;

const Text = (maxLength: number, description: string) => Type.String({ maxLength, description });

const ruleBase = {
  rule_id: Type.String({ minLength: 1 }),
  action_count: Type.Integer({ minimum: 0, description: 'Actions the rule asked for.' }),
};

const Skipped = Type.Object(
  {
    outcome: Type.Literal('skipped'),
    reason: Type.Literal('state_gate'),
    machine: Type.String(),
    state: Type.Union([Type.String(), Type.Null()], {
      description: 'The machine’s state for this caller; null when the caller has no scope.',
    }),
    required: Type.Array(Type.String()),
  },
  { additionalProperties: false },
);

function ruleOutcome<K extends string, E extends TSchema>(kind: K, evidence: E) {
  return Type.Object(
    {
      kind: Type.Literal(kind),
      ...ruleBase,
      outcome: StringEnum(['matched', 'not_matched', 'skipped', 'failed']),
      evidence: Type.Union([evidence, Skipped]),
    },
    { additionalProperties: false },
  );
}

export const RuleOutcomeSchema = TaggedUnion('kind', [
  ruleOutcome(
    'match',
    Type.Object(
      {
        outcome: StringEnum(['matched', 'not_matched']),
        target: StringEnum(['request_text', 'last_user_message']),
        matcher: StringEnum(['contains', 'regex']),
        match_index: Type.Optional(
          Type.Integer({ minimum: 0, description: 'UTF-16 index of the first match.' }),
        ),
        excerpt: Type.Optional(Text(80, 'The matched text, at most 80 characters.')),
      },
      { additionalProperties: false },
    ),
  ),
  ruleOutcome(
    'history',
    Type.Object(
      { outcome: StringEnum(['matched', 'not_matched']), result: HistoryRuleOutcomeSchema },
      { additionalProperties: false },
    ),
  ),
  ruleOutcome(
    'tool',
    Type.Object(
      { outcome: StringEnum(['matched', 'not_matched']), tool_context: ToolContextSchema },
      { additionalProperties: false },
    ),
  ),
  ruleOutcome(
    'script',
    Type.Object(
      {
        outcome: StringEnum(['matched', 'not_matched', 'failed']),
        script: Type.String(),
        backend: Type.String(),
        entry: Type.String(),
        on_failure: StringEnum(['fail_closed', 'fail_open']),
        failure: Type.Optional(SandboxFailureSchema),
      },
      { additionalProperties: false },
    ),
  ),
]);
export type RuleOutcome = Static<typeof RuleOutcomeSchema>;

export const StateTransitionRecordSchema = Type.Object(
  {
    machine_id: Type.String(),
    scope_key: Type.String(),
    scope_value: Type.Union([Type.String(), Type.Null()]),
    rule_id: Type.String({ description: 'The request rule that sent the event.' }),
    event: Type.String(),
    decision: Type.Union([TransitionDecisionSchema, Type.Null()], {
      description: 'null when the caller has no value for the machine’s scope: nothing changes.',
    }),
  },
  { additionalProperties: false },
);
export type StateTransitionRecord = Static<typeof StateTransitionRecordSchema>;

export const AlertRecordSchema = Type.Object(
  {
    sink: Type.String(),
    rule_id: Type.String(),
    idempotency_key: Type.String(),
    decision: EnqueueDecisionSchema,
  },
  { additionalProperties: false },
);
export type AlertRecord = Static<typeof AlertRecordSchema>;

export const AttemptRecordSchema = Type.Object(
  {
    index: Type.Integer({ minimum: 0 }),
    model: Type.String(),
    status: StringEnum(
      [
        'completed',
        'provider_error',
        'stream_halted',
        'client_disconnected',
        'gateway_shutdown',
        'deadline_exceeded',
      ],
      {
        description:
          '`stream_halted`: the governor stopped the stream (see `stream`); `gateway_shutdown`: cut by a shutdown past its grace period.',
      },
    ),
    reminders: Type.Array(Type.String(), { description: 'System reminders sent with it.' }),
    guard_feedback: Type.Boolean({ description: 'Guard feedback was appended to the request.' }),
    started_at_ms: Type.Integer({ minimum: 0 }),
    duration_ms: Type.Integer({ minimum: 0 }),
    output_bytes: Type.Integer({ minimum: 0, description: 'Bytes the provider produced.' }),
    error: Type.Optional(
      Type.Object(
        {
          status: Type.String(),
          message: Type.Optional(Text(500, 'One line.')),
          retry_after_ms: Type.Optional(
            Type.Number({
              minimum: 0,
              description: 'How long the upstream asked to wait (its Retry-After).',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    upstream_retries: Type.Optional(
      Type.Array(
        Type.Object(
          {
            status: Type.String(),
            delay_ms: Type.Number({ minimum: 0 }),
          },
          { additionalProperties: false },
        ),
        {
          description:
            'Upstream answers the provider retried on its own within this attempt, in order: with the final answer, every upstream try.',
        },
      ),
    ),
  },
  { additionalProperties: false },
);
export type AttemptRecord = Static<typeof AttemptRecordSchema>;

const Bytes = Type.Integer({ minimum: 0 });

export const StreamAttemptRecordSchema = Type.Object(
  {
    attempt_index: Type.Integer({ minimum: 0 }),
    status: StreamStatusSchema,
    events: Type.Array(StreamEventSchema),
    generated_bytes: Bytes,
    released_bytes: Bytes,
    rewritten_bytes: Bytes,
    dropped_bytes: Bytes,
    blocked_bytes: Bytes,
    max_held_bytes: Bytes,
    max_observed_hold_ms: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type StreamAttemptRecord = Static<typeof StreamAttemptRecordSchema>;

export const SandboxRecordSchema = Type.Object(
  {
    rule_id: Type.String(),
    script: Type.String(),
    backend: Type.String(),
    entry: Type.String(),
    ok: Type.Boolean(),
    usage: SandboxUsageSchema,
    failure: Type.Optional(SandboxFailureSchema),
  },
  { additionalProperties: false },
);
export type SandboxRecord = Static<typeof SandboxRecordSchema>;

export const ShadowDifferenceSchema = Type.Object(
  {
    label: Type.String({ description: 'Which decision differs, e.g. `route.model`.' }),
    active: Type.Unknown(),
    candidate: Type.Unknown(),
  },
  { additionalProperties: false },
);
export type ShadowDifference = Static<typeof ShadowDifferenceSchema>;

export const ShadowRecordSchema = Type.Object(
  {
    candidate: Type.Object(
      { artifact_hash: Type.String(), model_version: Type.String() },
      { additionalProperties: false },
    ),
    diverged: Type.Boolean(),
    differences: Type.Array(ShadowDifferenceSchema),
  },
  { additionalProperties: false },
);
export type ShadowRecord = Static<typeof ShadowRecordSchema>;

const Ms = Type.Integer({ minimum: 0 });

/**
 * Whose failure a request's failure was: the model's (its sandbox died, its plan or policy is
 * broken, its alert sink is backed up, its upstream failed) or the session's own (this input made
 * its script fail; its client went away). A gateway uses it to keep failures in their domain.
 */
export const FailureDomainSchema = TaggedUnion('scope', [
  Type.Object(
    {
      scope: Type.Literal('model'),
      cause: StringEnum(['sandbox', 'plan', 'alert_sink', 'provider']),
      detail: Type.Optional(Text(200, 'The rule and failure kind, for a script failure.')),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      scope: Type.Literal('session'),
      cause: StringEnum(['script', 'client']),
      detail: Type.Optional(Text(200, 'The rule and failure kind, for a script failure.')),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      scope: Type.Literal('gateway'),
      cause: StringEnum(['shutdown'], {
        description: 'The gateway was stopping and its grace period ran out.',
      }),
    },
    { additionalProperties: false },
  ),
]);
export type FailureDomain = Static<typeof FailureDomainSchema>;

/** Script failures the request's own input caused; the rest are the model's. */
const SESSION_SCRIPT_FAILURES: ReadonlySet<string> = new Set([
  'timeout',
  'step_limit',
  'memory_limit',
  'stack_overflow',
  'output_limit',
  'input_limit',
  'runtime_error',
  'invalid_output',
]);

/**
 * The failure domain of a finished request. A failed script is attributed even when its rule
 * failed open, since the policy did not run.
 */
export function failureDomainOf(
  sandbox: readonly { rule_id: string; ok: boolean; failure?: { kind: string } }[],
  status: FinalStatus,
): FailureDomain | null {
  for (const record of sandbox) {
    if (record.ok || record.failure === undefined) continue;
    const detail = `${record.rule_id}: ${record.failure.kind}`;
    if (SESSION_SCRIPT_FAILURES.has(record.failure.kind)) {
      return { scope: 'session', cause: 'script', detail };
    }
    return {
      scope: 'model',
      cause: record.failure.kind === 'backend_failure' ? 'sandbox' : 'plan',
      detail,
    };
  }
  switch (status) {
    case 'alert_failed_closed':
      return { scope: 'model', cause: 'alert_sink' };
    case 'provider_error':
    case 'provider_rate_limited':
    case 'deadline_exceeded':
      return { scope: 'model', cause: 'provider' };
    case 'client_disconnected':
      return { scope: 'session', cause: 'client' };
    case 'gateway_shutdown':
      return { scope: 'gateway', cause: 'shutdown' };
    default:
      return null;
  }
}

export const ToolPolicyRecordSchema = Type.Object(
  {
    emitted: Type.Array(
      Type.Object(
        {
          attempt_index: Type.Integer({ minimum: 0 }),
          id: Type.String(),
          name: Type.String(),
          arguments_bytes: Type.Integer({ minimum: 0 }),
          arguments_digest: Type.String({ description: '`sha256:` of the arguments text.' }),
        },
        { additionalProperties: false },
      ),
      { description: 'Every call the model emitted, attempt after attempt, decided or not.' },
    ),
    decisions: Type.Array(
      Type.Object(
        {
          attempt_index: Type.Integer({ minimum: 0 }),
          call_id: Type.String(),
          tool: Type.String(),
          rule_id: Type.String(),
          action: ToolCallActionNameSchema,
          evidence: Type.Object(
            {
              pointer: Type.Optional(Type.String({ description: 'Where in the arguments.' })),
              excerpt: Type.Optional(Text(120, 'What was there, at most 120 characters.')),
              reason: Type.String(),
            },
            { additionalProperties: false },
          ),
        },
        { additionalProperties: false },
      ),
      { description: 'Every decision on an emitted call, attempt after attempt.' },
    ),
    dropped: Type.Array(Type.String(), {
      description: 'Ids of calls removed (`drop_call`) from the answer the client received.',
    }),
    retries: Type.Integer({ minimum: 0, description: 'Retries tool-call decisions caused.' }),
  },
  { additionalProperties: false },
);
export type ToolPolicyRecord = Static<typeof ToolPolicyRecordSchema>;

export const FinishReasonSchema = StringEnum(
  ['stop', 'length', 'tool_calls', 'content_filter', 'other'],
  { description: 'Why the model stopped, as the upstream said (or as its message implies).' },
);

export const ResponseRecordSchema = Type.Object(
  {
    finish_reason: FinishReasonSchema,
    tool_calls: Type.Array(
      Type.Object(
        {
          id: Type.String(),
          name: Type.String(),
          arguments_bytes: Bytes,
          arguments_digest: Type.String({ pattern: '^sha256:[0-9a-f]{64}$' }),
        },
        { additionalProperties: false },
      ),
      {
        description:
          'The calls the model asked for, in order: returned to the client as they came.',
      },
    ),
    refusal: Type.Boolean({
      description: 'The model refused (its refusal text went to the client).',
    }),
    usage: Type.Object(
      {
        prompt_tokens: Type.Integer({ minimum: 0 }),
        completion_tokens: Type.Integer({ minimum: 0 }),
        total_tokens: Type.Integer({ minimum: 0 }),
        estimated: Type.Boolean({
          description:
            'The upstream reported no usage: estimated as ⌈bytes / 4⌉ of prompt and answer.',
        }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type ResponseRecord = Static<typeof ResponseRecordSchema>;

export const ReceiptSchema = Type.Object(
  {
    receipt_schema: Type.Literal(RECEIPT_SCHEMA_ID),
    receipt_id: Type.String({ pattern: '^rcpt_[0-9a-f]{16}$' }),
    created_at_ms: Ms,
    simulation: Type.Boolean(),
    artifact_hash: Type.String({ pattern: '^sha256:[0-9a-f]{64}$' }),
    model: Type.Object(
      { id: Type.String(), version: Type.String() },
      { additionalProperties: false },
    ),
    session_id: Type.Union([Type.String(), Type.Null()]),
    run_id: Type.Union([Type.String(), Type.Null()]),
    caller: CallerSchema,
    input_digest: Type.String({
      pattern: '^sha256:[0-9a-f]{64}$',
      description: 'Digest of the canonical JSON of `{request, caller}`.',
    }),
    request: Type.Object(
      {
        requested_model: Type.Union([Type.String(), Type.Null()]),
        stream: Type.Boolean(),
        message_count: Type.Integer({ minimum: 1 }),
        estimated_prompt_tokens: Type.Integer({ minimum: 0 }),
        prompt_transforms: Type.Array(StringEnum(['preamble', 'postscript'])),
        tool_context: ToolContextSchema,
      },
      { additionalProperties: false },
    ),
    rules: Type.Array(RuleOutcomeSchema, {
      description: 'Every request rule, in declaration order.',
    }),
    decision: Type.Object(
      {
        blocked: Type.Boolean(),
        determining_rule_ids: Type.Array(Type.String(), {
          description:
            'Rules that decided the outcome: the blocking rules when blocked, else every rule whose action changed the request, its route, alerts or state (annotations only are not counted).',
        }),
        actions: Type.Array(NormalizedActionSchema, { description: 'In application order.' }),
        conflicts: Type.Array(ActionConflictSchema),
        reminders: Type.Array(Type.String()),
        route_constraints: ArbitratedRouteConstraintsSchema,
        route: Type.Union([RouteDecisionSchema, Type.Null()], {
          description: 'null when the request was blocked before routing.',
        }),
        state_transitions: Type.Array(StateTransitionRecordSchema),
      },
      { additionalProperties: false },
    ),
    alerts: Type.Array(AlertRecordSchema),
    attempts: Type.Array(AttemptRecordSchema),
    guard: Type.Union([
      Type.Object(
        {
          events: Type.Array(GuardEventSchema),
          decision: GuardLoopFinalDecisionSchema,
        },
        { additionalProperties: false },
      ),
      Type.Null(),
    ]),
    stream: Type.Union([
      Type.Object(
        {
          mode: ReleaseModeSchema,
          attempts: Type.Array(StreamAttemptRecordSchema),
          retries: Type.Array(StreamRetryDecisionSchema),
          released_bytes: Bytes,
        },
        { additionalProperties: false },
      ),
      Type.Null(),
    ]),
    sandbox: Type.Array(SandboxRecordSchema),
    shadow: Type.Union([ShadowRecordSchema, Type.Null()]),
    response: Type.Union([ResponseRecordSchema, Type.Null()], {
      description:
        'What the model answered in the attempt that decided the request; null when no attempt did.',
    }),
    tool_policy: Type.Optional(
      Type.Union([ToolPolicyRecordSchema, Type.Null()], {
        description: 'Decisions on emitted tool calls; null (or absent) without `tool_calls`.',
      }),
    ),
    final: Type.Object(
      {
        status: FinalStatusSchema,
        http_status: Type.Integer({ minimum: 100, maximum: 599 }),
        selected_model: Type.Union([Type.String(), Type.Null()]),
        released_bytes: Bytes,
        output_digest: Type.Union([Type.String(), Type.Null()], {
          description: 'Digest of the text returned to the client; null when none.',
        }),
        message: Type.Optional(Text(500, 'Why the request failed, for the client.')),
        failure_domain: Type.Union([FailureDomainSchema, Type.Null()], {
          description:
            'Whose failure this was, or null when nothing failed (a rule blocking is a decision, not a failure).',
        }),
      },
      { additionalProperties: false },
    ),
    timings: Type.Object(
      {
        started_at_ms: Ms,
        finished_at_ms: Ms,
        duration_ms: Ms,
        request_phase_ms: Ms,
        response_phase_ms: Ms,
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type Receipt = Static<typeof ReceiptSchema>;

/** The HTTP status a gateway answers with for a final status (before any byte was streamed). */
export function httpStatusOf(status: FinalStatus, onExhausted: 'block' | 'allow_last'): number {
  switch (status) {
    case 'completed':
    case 'completed_after_guard':
    case 'simulated':
      return 200;
    case 'policy_blocked':
    case 'route_blocked':
      return 403;
    case 'context_length_exceeded':
      // The client's prompt is too long for every allowed target: its error, as OpenAI says it.
      return 400;
    case 'alert_failed_closed':
      return 503;
    case 'exhausted_guard_budget':
    case 'exhausted_rule_budget':
      return onExhausted === 'allow_last' ? 200 : 422;
    case 'provider_error':
      return 502;
    case 'provider_rate_limited':
      // The upstream's 429, passed on (with its Retry-After) once retries are spent.
      return 429;
    case 'stream_policy_blocked':
    case 'stream_policy_latency_exceeded':
    case 'stream_policy_retry_context_exceeded':
      return 422;
    case 'stream_policy_retry_required':
    case 'stream_policy_retry_skipped_after_release':
    case 'tool_call_retry_skipped_after_release':
      return 409;
    case 'tool_call_blocked':
    case 'tool_call_retry_exhausted':
      return 422;
    case 'client_disconnected':
      // nginx's "client closed request": nobody reads it, but logs and metrics do.
      return 499;
    case 'gateway_shutdown':
      // Unavailable, for now: a client may retry elsewhere (or here, once restarted).
      return 503;
    case 'deadline_exceeded':
      // A gateway timeout: the upstream (with its retries) did not answer within the deadline.
      return 504;
  }
}
