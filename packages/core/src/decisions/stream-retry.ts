import Type, { type Static } from 'typebox';
import { StringEnum, TaggedUnion } from '../schema/types.ts';
import { assertNever } from '../util/assert-never.ts';
import {
  type CompiledRouting,
  estimatePromptTokens,
  type RouteConstraints,
  RouteSkipSchema,
  selectRoute,
} from './routes.ts';
import { StreamStatusSchema, TerminalRuleSchema } from './stream-governor.ts';
import type { CompiledStreamPolicy } from './stream-rules.ts';

/**
 * What happens after a streamed attempt ends: finish, fail, or travel back and try again with a
 * reminder — on the same model, or on a larger one when the reminder no longer fits.
 *
 * Retries are budgeted twice: per rule id (`max_retries` of the rule that fired) and per
 * request (`max_retries_total`), so a rule that allows three retries cannot be starved by, nor
 * starve, another. A retry is only possible while nothing has been released: once the client
 * has bytes, the stream cannot be rewound.
 */

export const StreamRetryLedgerSchema = Type.Object(
  {
    retries_total: Type.Integer({ minimum: 0 }),
    retries_by_rule: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
    reminders: Type.Array(Type.String(), {
      description: 'Reminders injected so far, de-duplicated, in the order first triggered.',
    }),
  },
  {
    additionalProperties: false,
    description: 'What a request has spent on retries so far; carried between attempts.',
  },
);
export type StreamRetryLedger = Static<typeof StreamRetryLedgerSchema>;

export const AttemptEndSchema = Type.Object(
  {
    status: Type.Union([StreamStatusSchema, Type.Literal('provider_error')]),
    released_bytes: Type.Integer({ minimum: 0 }),
    terminal_rule: Type.Union([TerminalRuleSchema, Type.Null()]),
  },
  { description: 'The end of an attempt; a final `StreamState` satisfies this.' },
);
export type AttemptEnd = Static<typeof AttemptEndSchema>;

/** Where the request is routed, to check that the retried prompt still fits. */
export interface RetryRouteContext {
  routing: CompiledRouting;
  current_model: string;
  /** Estimated tokens of the request as first sent (without stream reminders). */
  prompt_tokens: number;
  constraints?: RouteConstraints;
}

export const RetryRerouteSchema = Type.Object(
  {
    reason: Type.Literal('retry_prompt_exceeded_context'),
    from_model: Type.String(),
    from_context_window: Type.Integer({ minimum: 1 }),
    to_model: Type.String(),
    to_context_window: Type.Integer({ minimum: 1 }),
    estimated_prompt_tokens: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type RetryReroute = Static<typeof RetryRerouteSchema>;

export const StreamRetryDecisionSchema = TaggedUnion('kind', [
  Type.Object(
    { kind: Type.Literal('complete'), status: Type.Literal('completed') },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('fail'),
      status: StringEnum([
        'stream_policy_blocked',
        'stream_policy_latency_exceeded',
        'provider_error',
      ]),
      rule_id: Type.Union([Type.String(), Type.Null()]),
      released_to_consumer: Type.Boolean({
        description: 'The client already has part of the answer: send a terminal event.',
      }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('retry'),
      rule_id: Type.String(),
      reminders: Type.Array(Type.String(), {
        description: 'System messages to add to the original request for the next attempt.',
      }),
      retry_number: Type.Integer({ minimum: 1 }),
      ledger: StreamRetryLedgerSchema,
      reroute: Type.Union([RetryRerouteSchema, Type.Null()], {
        description: 'Set when the retry moves to a model the reminders fit.',
      }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('skip_after_release'),
      status: Type.Literal('stream_policy_retry_skipped_after_release'),
      rule_id: Type.String(),
      released_bytes: Type.Integer({ minimum: 1 }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('exhausted'),
      status: Type.Literal('stream_policy_retry_required'),
      rule_id: Type.String(),
      budget: StringEnum(['rule', 'request']),
      retries_used: Type.Integer({ minimum: 0 }),
      max_retries: Type.Integer({ minimum: 0 }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('context_exceeded'),
      status: Type.Literal('stream_policy_retry_context_exceeded'),
      rule_id: Type.String(),
      estimated_prompt_tokens: Type.Integer({ minimum: 0 }),
      context_window: Type.Integer({ minimum: 1 }),
      skipped: Type.Array(RouteSkipSchema),
    },
    { additionalProperties: false },
  ),
]);
export type StreamRetryDecision = Static<typeof StreamRetryDecisionSchema>;

export function startRetryLedger(): StreamRetryLedger {
  return { retries_total: 0, retries_by_rule: {}, reminders: [] };
}

/** Decide what follows an attempt. Pure: the ledger in the decision replaces the old one. */
export function decideStreamRetry(
  policy: CompiledStreamPolicy,
  ledger: StreamRetryLedger,
  attempt: AttemptEnd,
  route?: RetryRouteContext,
): StreamRetryDecision {
  const released = attempt.released_bytes > 0;
  const ruleId = attempt.terminal_rule?.rule_id ?? null;
  switch (attempt.status) {
    case 'completed':
      return { kind: 'complete', status: 'completed' };
    case 'provider_error':
      return {
        kind: 'fail',
        status: 'provider_error',
        rule_id: null,
        released_to_consumer: released,
      };
    case 'blocked':
      return {
        kind: 'fail',
        status: 'stream_policy_blocked',
        rule_id: ruleId,
        released_to_consumer: released,
      };
    case 'latency_exceeded':
      return {
        kind: 'fail',
        status: 'stream_policy_latency_exceeded',
        rule_id: null,
        released_to_consumer: released,
      };
    case 'streaming':
      throw new Error('decideStreamRetry: the attempt has not ended (status "streaming")');
    case 'retry_required':
      return decideRetry(policy, ledger, attempt, route);
    default:
      return assertNever(attempt.status, 'attempt status');
  }
}

function decideRetry(
  policy: CompiledStreamPolicy,
  ledger: StreamRetryLedger,
  attempt: AttemptEnd,
  route: RetryRouteContext | undefined,
): StreamRetryDecision {
  const rule = attempt.terminal_rule;
  if (rule === null || rule.action !== 'retry_with_reminder') {
    throw new Error('decideStreamRetry: status "retry_required" needs the retry rule that fired');
  }
  if (attempt.released_bytes > 0) {
    return {
      kind: 'skip_after_release',
      status: 'stream_policy_retry_skipped_after_release',
      rule_id: rule.rule_id,
      released_bytes: attempt.released_bytes,
    };
  }
  const usedByRule = ledger.retries_by_rule[rule.rule_id] ?? 0;
  if (usedByRule >= rule.max_retries) {
    return exhausted(rule.rule_id, 'rule', usedByRule, rule.max_retries);
  }
  if (ledger.retries_total >= policy.max_retries_total) {
    return exhausted(rule.rule_id, 'request', ledger.retries_total, policy.max_retries_total);
  }
  const reminders = ledger.reminders.includes(rule.reminder)
    ? ledger.reminders
    : [...ledger.reminders, rule.reminder];
  const next: StreamRetryLedger = {
    retries_total: ledger.retries_total + 1,
    retries_by_rule: { ...ledger.retries_by_rule, [rule.rule_id]: usedByRule + 1 },
    reminders,
  };
  const retry = {
    kind: 'retry' as const,
    rule_id: rule.rule_id,
    reminders,
    retry_number: next.retries_total,
    ledger: next,
    reroute: null,
  };
  if (route === undefined) return retry;

  const current = route.routing.targets.find((t) => t.model === route.current_model);
  const tokens =
    route.prompt_tokens +
    estimatePromptTokens(reminders.map((content) => ({ role: 'system', content })));
  if (current === undefined || current.context_window >= tokens) return retry;

  const choice = selectRoute(route.routing, {
    estimated_prompt_tokens: tokens,
    ...(route.constraints === undefined ? {} : { constraints: route.constraints }),
    exclude_models: [route.current_model],
  });
  // Only a model that really fits is worth a retry; an explicit fallback that does not fit
  // would fail the same way.
  if (choice.kind === 'selected' && choice.context_window >= tokens) {
    return {
      ...retry,
      reroute: {
        reason: 'retry_prompt_exceeded_context',
        from_model: current.model,
        from_context_window: current.context_window,
        to_model: choice.model,
        to_context_window: choice.context_window,
        estimated_prompt_tokens: tokens,
      },
    };
  }
  return {
    kind: 'context_exceeded',
    status: 'stream_policy_retry_context_exceeded',
    rule_id: rule.rule_id,
    estimated_prompt_tokens: tokens,
    context_window: current.context_window,
    skipped: choice.skipped,
  };
}

function exhausted(
  rule_id: string,
  budget: 'rule' | 'request',
  retries_used: number,
  max_retries: number,
): StreamRetryDecision {
  return {
    kind: 'exhausted',
    status: 'stream_policy_retry_required',
    rule_id,
    budget,
    retries_used,
    max_retries,
  };
}
