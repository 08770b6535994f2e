import Type, { type Static } from 'typebox';
import { WardwrightError } from '../errors/wardwright-error.ts';
import { StringEnum, TaggedUnion } from '../schema/types.ts';
import { assertNever } from '../util/assert-never.ts';
import { feedbackFor, type GuardFeedback, GuardFeedbackSchema } from './guard-feedback.ts';
import {
  type CompiledGuardLoop,
  GuardOnExhaustedSchema,
  type Internals,
  internalsOf,
} from './guard-loop-config.ts';
import { validate } from './guard-validation.ts';
import {
  GuardTypeSchema,
  MAX_ERRORS,
  SemanticEvidenceSchema,
  ValidationErrorSchema,
} from './guard-validation-result.ts';

/**
 * The structured-output guard loop: after each provider attempt, accept the output, retry with
 * feedback, or fail closed when the global or a per-rule failure budget is spent. A provider
 * failure passes straight through. A pure reducer (`startGuardLoop`, `stepGuardLoop`) and a thin
 * async driver (`runGuardLoop`) over it; validation lives in guard-validation.ts.
 */

export const SuccessStatusSchema = StringEnum(['completed', 'completed_after_guard'], {
  description: '`completed` when no attempt failed before, else `completed_after_guard`.',
});
export type SuccessStatus = Static<typeof SuccessStatusSchema>;

export const BudgetOutcomeSchema = StringEnum([
  'continue',
  'exhausted_rule_budget',
  'exhausted_guard_budget',
]);
export type BudgetOutcome = Static<typeof BudgetOutcomeSchema>;

const RuleId = Type.String({ minLength: 1 });

export const GuardEventSchema = Type.Object(
  {
    type: Type.Literal('structured_output.guard'),
    attempt_index: Type.Integer({ minimum: 0, description: 'The failed attempt, from 0.' }),
    rule_id: RuleId,
    guard_type: GuardTypeSchema,
    errors: Type.Array(ValidationErrorSchema, {
      minItems: 1,
      maxItems: MAX_ERRORS,
      description: 'At most 8; `error_count` says how many there were.',
    }),
    error_count: Type.Integer({ minimum: 1 }),
    evidence: Type.Optional(SemanticEvidenceSchema),
  },
  {
    additionalProperties: false,
    description:
      'One failed attempt; `evidence` is present iff `guard_type` is `semantic_validation`.',
    if: { properties: { guard_type: { const: 'semantic_validation' } } },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else, never awaited
    then: { required: ['evidence'] },
    else: { not: { required: ['evidence'] } },
  },
);
export type GuardEvent = Static<typeof GuardEventSchema>;

export const GuardAttemptSchema = TaggedUnion(
  'kind',
  [
    Type.Object(
      {
        kind: Type.Literal('completed'),
        text: Type.String({ description: 'The provider’s output text.' }),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        kind: Type.Literal('provider_failed'),
        status: Type.String({ description: 'The provider’s failure status, passed through.' }),
        message: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    ),
  ],
  { description: 'One provider attempt, folded into the loop by `stepGuardLoop`.' },
);
export type GuardAttempt = Static<typeof GuardAttemptSchema>;

export const GuardLoopStateSchema = Type.Object(
  {
    attempt_count: Type.Integer({
      minimum: 0,
      description: 'Completed attempts consumed so far; the next attempt’s index.',
    }),
    rule_failures: Type.Record(Type.String(), Type.Integer({ minimum: 1 }), {
      description: 'Failures per rule id; a rule that never failed has no key.',
    }),
    events: Type.Array(GuardEventSchema),
    finished: Type.Boolean({
      description: 'True once a terminal decision was made; stepping further is a caller bug.',
    }),
  },
  { additionalProperties: false },
);
export type GuardLoopState = Static<typeof GuardLoopStateSchema>;

export const GuardBudgetSchema = Type.Object(
  {
    rule_id: RuleId,
    rule_failures: Type.Integer({
      minimum: 1,
      description: 'Failures of `rule_id`, this one included.',
    }),
    rule_budget: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
      description: 'The rule’s failure budget; null when only the global budget applies.',
    }),
    attempt_count: Type.Integer({ minimum: 1 }),
    max_attempts: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false, description: 'The counts a budget decision compared.' },
);
export type GuardBudget = Static<typeof GuardBudgetSchema>;

const AcceptDecisionSchema = Type.Object(
  {
    kind: Type.Literal('accept'),
    status: SuccessStatusSchema,
    schema_id: Type.String({ description: 'The schema alternative that validated.' }),
    value: Type.Unknown({ description: 'The parsed output, any JSON value.' }),
    attempt_count: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);

const RetryDecisionSchema = Type.Object(
  {
    kind: Type.Literal('retry'),
    attempt_index: Type.Integer({ minimum: 1, description: 'Index of the next attempt.' }),
    event: GuardEventSchema,
    feedback: Type.Union([GuardFeedbackSchema, Type.Null()], {
      description: 'To append to the original request; null when `feedback` is `none`.',
    }),
    budget: GuardBudgetSchema,
  },
  { additionalProperties: false },
);

const LastText = Type.Optional(
  Type.String({ description: 'The last output, only when `on_exhausted` is `allow_last`.' }),
);
// `last_text` is there exactly when the plan allows the last output.
const lastTextIffAllowLast = {
  if: { properties: { on_exhausted: { const: 'allow_last' } } },
  // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else, never awaited
  then: { required: ['last_text'] },
  else: { not: { required: ['last_text'] } },
};

const ExhaustedRuleBudgetSchema = Type.Object(
  {
    kind: Type.Literal('exhausted'),
    status: Type.Literal('exhausted_rule_budget'),
    rule_id: Type.String({ minLength: 1, description: 'The rule that spent its budget.' }),
    on_exhausted: GuardOnExhaustedSchema,
    attempt_count: Type.Integer({ minimum: 1 }),
    event: GuardEventSchema,
    budget: GuardBudgetSchema,
    last_text: LastText,
  },
  { additionalProperties: false, ...lastTextIffAllowLast },
);

const ExhaustedGuardBudgetSchema = Type.Object(
  {
    kind: Type.Literal('exhausted'),
    status: Type.Literal('exhausted_guard_budget'),
    on_exhausted: GuardOnExhaustedSchema,
    attempt_count: Type.Integer({ minimum: 1 }),
    event: GuardEventSchema,
    budget: GuardBudgetSchema,
    last_text: LastText,
  },
  { additionalProperties: false, ...lastTextIffAllowLast },
);

// Two variants share `kind: 'exhausted'`, so they are told apart by `status` one level down;
// the outer `kind` discriminator needs the tag declared at this level too.
const ExhaustedVariants = TaggedUnion('status', [
  ExhaustedRuleBudgetSchema,
  ExhaustedGuardBudgetSchema,
]);
const ExhaustedDecisionSchema = Type.Unsafe<Static<typeof ExhaustedVariants>>({
  ...ExhaustedVariants,
  properties: { kind: { const: 'exhausted' } },
  required: ['kind'],
});

const ProviderFailedDecisionSchema = Type.Object(
  {
    kind: Type.Literal('provider_failed'),
    status: Type.String({ description: 'The provider’s failure status, passed through.' }),
    message: Type.Optional(Type.String()),
    attempt_count: Type.Integer({
      minimum: 0,
      description: 'Guard events before the failure, as in the original.',
    }),
  },
  { additionalProperties: false },
);

export const GuardLoopDecisionSchema = TaggedUnion(
  'kind',
  [
    AcceptDecisionSchema,
    RetryDecisionSchema,
    ExhaustedDecisionSchema,
    ProviderFailedDecisionSchema,
  ],
  { description: 'What the guard loop decided after one provider attempt.' },
);
export type GuardLoopDecision = Static<typeof GuardLoopDecisionSchema>;

export const GuardLoopFinalDecisionSchema = TaggedUnion(
  'kind',
  [AcceptDecisionSchema, ExhaustedDecisionSchema, ProviderFailedDecisionSchema],
  { description: 'A decision that ends the loop: every kind but `retry`.' },
);
export type GuardLoopFinalDecision = Static<typeof GuardLoopFinalDecisionSchema>;

export function successStatus(guardEventCount: number): SuccessStatus {
  return guardEventCount === 0 ? 'completed' : 'completed_after_guard';
}

/**
 * After a failed attempt: does the loop go on? The rule's own budget is checked first, so when
 * both budgets run out on the same attempt the rule that spent its budget is named.
 */
export function budgetOutcome(
  ruleFailures: number,
  ruleBudget: number | null,
  attemptCount: number,
  maxAttempts: number,
): BudgetOutcome {
  if (ruleBudget !== null && ruleFailures >= ruleBudget) return 'exhausted_rule_budget';
  if (attemptCount >= maxAttempts) return 'exhausted_guard_budget';
  return 'continue';
}

export function startGuardLoop(plan: CompiledGuardLoop): GuardLoopState {
  internalsOf(plan);
  return { attempt_count: 0, rule_failures: {}, events: [], finished: false };
}

/** Fold one provider attempt into the loop. Never mutates `state`. */
export function stepGuardLoop(
  plan: CompiledGuardLoop,
  state: GuardLoopState,
  attempt: GuardAttempt,
): { state: GuardLoopState; decision: GuardLoopDecision } {
  const internals = internalsOf(plan);
  if (state.finished) {
    throw new WardwrightError({
      code: 'invalid_argument',
      message: 'this guard loop already made its final decision; start a new one',
    });
  }
  switch (attempt.kind) {
    case 'provider_failed': {
      const decision: GuardLoopDecision = {
        kind: 'provider_failed',
        status: attempt.status,
        attempt_count: state.events.length,
      };
      if (attempt.message !== undefined) decision.message = attempt.message;
      return { state: { ...state, finished: true }, decision };
    }
    case 'completed':
      return stepCompleted(plan, internals, state, attempt.text);
    default:
      return assertNever(attempt, 'guard attempt');
  }
}

function stepCompleted(
  plan: CompiledGuardLoop,
  internals: Internals,
  state: GuardLoopState,
  text: string,
): { state: GuardLoopState; decision: GuardLoopDecision } {
  const attemptIndex = state.attempt_count;
  const attemptCount = attemptIndex + 1;
  const result = validate(internals, text);
  if (result.ok) {
    return {
      state: { ...state, attempt_count: attemptCount, finished: true },
      decision: {
        kind: 'accept',
        status: successStatus(state.events.length),
        schema_id: result.schema_id,
        value: result.value,
        attempt_count: attemptCount,
      },
    };
  }
  const ruleId = result.rule_id;
  const failures =
    (Object.hasOwn(state.rule_failures, ruleId) ? state.rule_failures[ruleId]! : 0) + 1;
  const event: GuardEvent = {
    type: 'structured_output.guard',
    attempt_index: attemptIndex,
    rule_id: ruleId,
    guard_type: result.guard_type,
    errors: result.errors,
    error_count: result.error_count,
  };
  if (result.guard_type === 'semantic_validation') event.evidence = result.evidence;
  const budget: GuardBudget = {
    rule_id: ruleId,
    rule_failures: failures,
    rule_budget: internals.budgets.get(ruleId) ?? null,
    attempt_count: attemptCount,
    max_attempts: plan.max_attempts,
  };
  const next: GuardLoopState = {
    attempt_count: attemptCount,
    // A computed key defines an own property even for an id like `__proto__`.
    rule_failures: { ...state.rule_failures, [ruleId]: failures },
    events: [...state.events, event],
    finished: false,
  };
  const outcome = budgetOutcome(failures, budget.rule_budget, attemptCount, plan.max_attempts);
  switch (outcome) {
    case 'continue':
      return {
        state: next,
        decision: {
          kind: 'retry',
          attempt_index: attemptCount,
          event,
          feedback: feedbackFor(internals.feedback, result),
          budget,
        },
      };
    case 'exhausted_rule_budget':
    case 'exhausted_guard_budget': {
      const common = {
        kind: 'exhausted' as const,
        on_exhausted: plan.on_exhausted,
        attempt_count: attemptCount,
        event,
        budget,
      };
      const decision: GuardLoopDecision =
        outcome === 'exhausted_rule_budget'
          ? { ...common, status: outcome, rule_id: ruleId }
          : { ...common, status: outcome };
      if (plan.on_exhausted === 'allow_last') decision.last_text = text;
      return { state: { ...next, finished: true }, decision };
    }
    default:
      return assertNever(outcome, 'budget outcome');
  }
}

/**
 * Drive the loop with an async provider until a final decision. The provider gets the attempt
 * index and the feedback to append to the ORIGINAL request (one message, never accumulated).
 * A provider that throws rejects the returned promise; map transport errors to
 * `{kind: 'provider_failed'}` attempts to get a decision instead.
 */
export async function runGuardLoop(
  plan: CompiledGuardLoop,
  provider: (attemptIndex: number, feedback: GuardFeedback | null) => Promise<GuardAttempt>,
): Promise<{ decision: GuardLoopFinalDecision; state: GuardLoopState }> {
  let state = startGuardLoop(plan);
  let feedback: GuardFeedback | null = null;
  for (;;) {
    const step = stepGuardLoop(plan, state, await provider(state.attempt_count, feedback));
    state = step.state;
    if (step.decision.kind !== 'retry') return { decision: step.decision, state };
    feedback = step.decision.feedback;
  }
}
