import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { schemaIssues } from '../schema/validator.ts';
import { GuardFeedbackSchema } from './guard-feedback.ts';
import {
  answerNotDraft,
  completed,
  configA,
  deepFreeze,
  invalidText,
  loopSettings,
  minimumConfidence,
  NOT_JSON,
  outputConfigs,
  outputText,
  planA,
  runTexts,
  VALID,
  validText,
} from './guard-loop.fixtures.ts';
import {
  BudgetOutcomeSchema,
  budgetOutcome,
  type GuardAttempt,
  GuardAttemptSchema,
  GuardBudgetSchema,
  GuardEventSchema,
  GuardLoopDecisionSchema,
  GuardLoopFinalDecisionSchema,
  type GuardLoopState,
  GuardLoopStateSchema,
  runGuardLoop,
  SuccessStatusSchema,
  startGuardLoop,
  stepGuardLoop,
  successStatus,
} from './guard-loop.ts';
import { compileGuardLoop } from './guard-loop-config.ts';
import { validateOutput } from './guard-validation.ts';

describe('successStatus and budgetOutcome (the original loop core)', () => {
  it('successStatus: zero guard events is completed, any more is completed_after_guard', () => {
    expect(successStatus(0)).toBe('completed');
    expect(successStatus(1)).toBe('completed_after_guard');
    expect(successStatus(2)).toBe('completed_after_guard');
  });

  it('loopOutcome vectors: per-rule budget first, then the global budget', () => {
    expect(budgetOutcome(2, 2, 2, 4)).toBe('exhausted_rule_budget');
    expect(budgetOutcome(1, 2, 4, 4)).toBe('exhausted_guard_budget');
    expect(budgetOutcome(1, 2, 3, 4)).toBe('continue');
    expect(budgetOutcome(3, 2, 1, 4)).toBe('exhausted_rule_budget');
    expect(budgetOutcome(1, 3, 1, 2)).toBe('continue');
  });

  it('the per-rule check wins a tie with the global budget', () => {
    expect(budgetOutcome(4, 4, 4, 4)).toBe('exhausted_rule_budget');
  });

  it('differs from the original: with no per-rule budget only the global budget applies', () => {
    expect(budgetOutcome(100, null, 3, 4)).toBe('continue');
    expect(budgetOutcome(4, null, 4, 4)).toBe('exhausted_guard_budget');
  });
});

describe('guard loop vectors (§1.7)', () => {
  it('L1 syntax then schema failure, then a valid answer: completed_after_guard', () => {
    const plan = compileGuardLoop(
      configA({ guard_loop: { max_attempts: 4, max_failures_per_rule: 3 } }),
    );
    const run = runTexts(plan, [
      NOT_JSON,
      '{"answer":"missing confidence"}',
      '{"answer":"final","confidence":0.91}',
    ]);
    expect(run.decision).toEqual({
      kind: 'accept',
      status: 'completed_after_guard',
      schema_id: 'answer_v1',
      value: { answer: 'final', confidence: 0.91 },
      attempt_count: 3,
    });
    expect(run.state.events.map((e) => [e.attempt_index, e.guard_type, e.rule_id])).toEqual([
      [0, 'json_syntax', 'structured-json'],
      [1, 'schema_validation', 'structured-json'],
    ]);
    expect(run.state.rule_failures).toEqual({ 'structured-json': 2 });
  });

  it('L2 the same semantic rule failing twice spends its budget of 2; the third output is never read', async () => {
    const plan = compileGuardLoop(
      configA({ guard_loop: { max_attempts: 4, max_failures_per_rule: 2 } }),
    );
    const outputs = [
      '{"answer":"a","confidence":0.1}',
      '{"answer":"a","confidence":0.2}',
      '{"answer":"a","confidence":0.95}',
    ];
    const calls: number[] = [];
    const { decision, state } = await runGuardLoop(plan, async (index) => {
      calls.push(index);
      return completed(outputs[index]!);
    });
    expect(calls).toEqual([0, 1]);
    expect(decision).toMatchObject({
      kind: 'exhausted',
      status: 'exhausted_rule_budget',
      rule_id: 'minimum-confidence',
      on_exhausted: 'block',
      attempt_count: 2,
      budget: {
        rule_id: 'minimum-confidence',
        rule_failures: 2,
        rule_budget: 2,
        attempt_count: 2,
        max_attempts: 4,
      },
    });
    expect(decision).not.toHaveProperty('last_text');
    expect(state.events).toHaveLength(2);
    expect(state.finished).toBe(true);
  });

  it('L3 malformed output forever with max_attempts 2: exhausted_guard_budget after 2 events', () => {
    const plan = compileGuardLoop(
      configA({ guard_loop: { max_attempts: 2, max_failures_per_rule: 5 } }),
    );
    const run = runTexts(plan, [NOT_JSON, NOT_JSON, NOT_JSON]);
    expect(run.consumed).toBe(2);
    expect(run.decision).toMatchObject({
      kind: 'exhausted',
      status: 'exhausted_guard_budget',
      attempt_count: 2,
      event: { attempt_index: 1, guard_type: 'json_syntax', rule_id: 'structured-json' },
    });
    expect(run.decision).not.toHaveProperty('rule_id');
    expect(run.state.events).toHaveLength(2);
  });

  it('L4 syntax, schema, semantic failures then success, with schema_rule_id answer-json honoured (differs from the original, which always says structured-json)', () => {
    const plan = compileGuardLoop(
      configA({
        schema_rule_id: 'answer-json',
        guard_loop: { max_attempts: 4, max_failures_per_rule: 4 },
      }),
    );
    const run = runTexts(plan, [
      NOT_JSON,
      '{"answer":"missing confidence"}',
      '{"answer":"a","confidence":0.4}',
      '{"answer":"final","confidence":0.91}',
    ]);
    expect(run.decision).toMatchObject({
      kind: 'accept',
      status: 'completed_after_guard',
      attempt_count: 4,
    });
    expect(run.state.events.map((e) => [e.guard_type, e.rule_id])).toEqual([
      ['json_syntax', 'answer-json'],
      ['schema_validation', 'answer-json'],
      ['semantic_validation', 'minimum-confidence'],
    ]);
    expect(run.state.events[2]?.evidence).toEqual({
      kind: 'json_path_number',
      path: '/confidence',
      found: 'number',
      value: 0.4,
      violated: { bound: 'gte', limit: 0.7 },
    });
  });

  it('L5 differs from the original: with no per-rule budget configured, three syntax failures end as exhausted_guard_budget', () => {
    const run = runTexts(planA, [NOT_JSON, NOT_JSON, NOT_JSON]);
    expect(run.decision).toMatchObject({
      kind: 'exhausted',
      status: 'exhausted_guard_budget',
      attempt_count: 3,
      budget: { rule_id: 'structured-json', rule_failures: 3, rule_budget: null, max_attempts: 3 },
    });
    // The original's outcome is one setting away.
    const budgeted = compileGuardLoop(configA({ guard_loop: { max_failures_per_rule: 3 } }));
    expect(runTexts(budgeted, [NOT_JSON, NOT_JSON, NOT_JSON]).decision).toMatchObject({
      status: 'exhausted_rule_budget',
      rule_id: 'structured-json',
    });
  });

  it('L6 a provider failure passes its status through with no guard events', () => {
    const { state, decision } = stepGuardLoop(planA, startGuardLoop(planA), {
      kind: 'provider_failed',
      status: 'provider_error',
    });
    expect(decision).toEqual({
      kind: 'provider_failed',
      status: 'provider_error',
      attempt_count: 0,
    });
    expect(state).toEqual({ attempt_count: 0, rule_failures: {}, events: [], finished: true });
  });

  it('L6 after a guard event, the provider failure counts the guard events and keeps its message', async () => {
    const { decision, state } = await runGuardLoop(planA, async (index) =>
      index === 0
        ? completed(NOT_JSON)
        : { kind: 'provider_failed', status: 'provider_timeout', message: 'upstream took 30s' },
    );
    expect(decision).toEqual({
      kind: 'provider_failed',
      status: 'provider_timeout',
      message: 'upstream took 30s',
      attempt_count: 1,
    });
    expect(state.events).toHaveLength(1);
  });

  it('L7 a valid first output completes with no events', () => {
    const run = runTexts(planA, [VALID]);
    expect(run.decision).toMatchObject({ kind: 'accept', status: 'completed', attempt_count: 1 });
    expect(run.state).toEqual({ attempt_count: 1, rule_failures: {}, events: [], finished: true });
  });
});

describe('the loop reducer', () => {
  it('a retry names the next attempt, the guard event and the budgets compared', () => {
    const { decision } = stepGuardLoop(planA, startGuardLoop(planA), completed('{"answer":"a"}'));
    expect(decision).toMatchObject({
      kind: 'retry',
      attempt_index: 1,
      event: {
        type: 'structured_output.guard',
        attempt_index: 0,
        rule_id: 'structured-json',
        guard_type: 'schema_validation',
        errors: [{ path: '/confidence', message: 'answer_v1: is required' }],
        error_count: 1,
      },
      budget: {
        rule_id: 'structured-json',
        rule_failures: 1,
        rule_budget: null,
        attempt_count: 1,
        max_attempts: 3,
      },
    });
    if (decision.kind === 'retry') expect(decision.event).not.toHaveProperty('evidence');
  });

  it('refuses to step a loop that already decided', () => {
    const { state } = stepGuardLoop(planA, startGuardLoop(planA), completed(VALID));
    expect(() => stepGuardLoop(planA, state, completed(VALID))).toThrow(
      /already made its final decision/,
    );
  });

  it('refuses an attempt of a kind it does not know (a JavaScript caller’s mistake)', () => {
    const attempt = { kind: 'timed_out' } as unknown as GuardAttempt;
    expect(() => stepGuardLoop(planA, startGuardLoop(planA), attempt)).toThrow(
      'unhandled guard attempt: {"kind":"timed_out"}',
    );
  });

  it('on_exhausted allow_last hands back the last output', () => {
    const plan = compileGuardLoop(
      configA({ guard_loop: { max_attempts: 1, on_exhausted: 'allow_last' } }),
    );
    expect(runTexts(plan, ['{"answer":"a","confidence":0.2}']).decision).toMatchObject({
      kind: 'exhausted',
      status: 'exhausted_guard_budget',
      on_exhausted: 'allow_last',
      last_text: '{"answer":"a","confidence":0.2}',
    });
  });

  it('counts failures per rule id as own properties, even for an id like __proto__', () => {
    const plan = compileGuardLoop({
      schemas: [{ id: 'any', schema: {} }],
      semantic_rules: [{ id: '__proto__', kind: 'json_path_number', path: '/n', max_failures: 2 }],
      guard_loop: { max_attempts: 5 },
    });
    expect(plan.rule_budgets).toHaveProperty(['__proto__'], 2);
    const run = runTexts(plan, ['{}', '{}', '{}']);
    expect(run.decision).toMatchObject({ status: 'exhausted_rule_budget', rule_id: '__proto__' });
    expect(Object.hasOwn(run.state.rule_failures, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(run.state.rule_failures)).toBe(Object.prototype);
    expect(run.consumed).toBe(2);
  });
});

describe('guard loop properties', () => {
  it('valid outputs are accepted on the first attempt with no events', () => {
    fc.assert(
      fc.property(validText, (text) => {
        expect(validateOutput(planA, text)).toMatchObject({ ok: true, schema_id: 'answer_v1' });
        const run = runTexts(planA, [text]);
        expect(run.decision).toMatchObject({
          kind: 'accept',
          status: 'completed',
          attempt_count: 1,
        });
        expect(run.state.events).toEqual([]);
      }),
    );
  });

  it('invalid then valid gives exactly one guard event, at attempt_index 0', () => {
    fc.assert(
      fc.property(invalidText, validText, (bad, good) => {
        const run = runTexts(planA, [bad, good]);
        expect(run.decision).toMatchObject({ kind: 'accept', status: 'completed_after_guard' });
        expect(run.state.events.map((e) => e.attempt_index)).toEqual([0]);
      }),
    );
  });

  it('max_attempts invalid outputs with no per-rule budget end exhausted with max_attempts events', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.array(invalidText, { minLength: 6 }),
        (max, texts) => {
          const plan = compileGuardLoop(configA({ guard_loop: { max_attempts: max } }));
          const run = runTexts(plan, texts);
          expect(run.decision).toMatchObject({
            kind: 'exhausted',
            status: 'exhausted_guard_budget',
          });
          expect(run.state.events).toHaveLength(max);
          expect(run.consumed).toBe(max);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('repeated failures of one rule stop at that rule’s budget (the rule wins a tie)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), (budget, max) => {
        const plan = compileGuardLoop(
          configA({ guard_loop: { max_attempts: max, max_failures_per_rule: budget } }),
        );
        const run = runTexts(plan, Array(8).fill('{"answer":"a","confidence":0.1}'));
        expect(run.state.events).toHaveLength(Math.min(budget, max));
        expect(run.decision).toMatchObject(
          budget <= max
            ? { status: 'exhausted_rule_budget', rule_id: 'minimum-confidence' }
            : { status: 'exhausted_guard_budget' },
        );
      }),
      { numRuns: 40 },
    );
  });

  it('never mutates its inputs, and the same inputs give deep-equal outputs', () => {
    fc.assert(
      fc.property(
        loopSettings,
        fc.array(fc.oneof(validText, invalidText), { minLength: 1, maxLength: 6 }),
        (guard_loop, texts) => {
          const config = deepFreeze(
            configA({ semantic_rules: [minimumConfidence, answerNotDraft], guard_loop }),
          );
          const snapshot = structuredClone(config);
          const planOne = compileGuardLoop(config);
          const planTwo = compileGuardLoop(config);
          expect(config).toEqual(snapshot);
          let stateOne: GuardLoopState = deepFreeze(startGuardLoop(planOne));
          let stateTwo: GuardLoopState = startGuardLoop(planTwo);
          for (const text of texts) {
            const attempt = deepFreeze(completed(text));
            const before = structuredClone(stateOne);
            const one = stepGuardLoop(planOne, stateOne, attempt);
            const two = stepGuardLoop(planTwo, stateTwo, completed(text));
            expect(stateOne).toEqual(before);
            expect(one).toEqual(two);
            expect(validateOutput(planOne, text)).toEqual(validateOutput(planTwo, text));
            stateOne = deepFreeze(one.state);
            stateTwo = two.state;
            if (one.decision.kind !== 'retry') break;
          }
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('guard loop output schemas', () => {
  const providerFailure = fc
    .tuple(fc.string(), fc.option(fc.string(), { nil: undefined }))
    .map(([status, message]): GuardAttempt => {
      const attempt: GuardAttempt = { kind: 'provider_failed', status };
      if (message !== undefined) attempt.message = message;
      return attempt;
    });
  const attempt = fc.oneof(
    { weight: 8, arbitrary: outputText.map(completed) },
    { weight: 1, arbitrary: providerFailure },
  );

  it('every state, decision, event, budget and feedback the reducer produces fits its schema', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(
        fc.constantFrom(...outputConfigs),
        loopSettings,
        fc.array(attempt, { minLength: 1, maxLength: 7 }),
        (config, guard_loop, attempts) => {
          const plan = compileGuardLoop({ ...config, guard_loop });
          let state = startGuardLoop(plan);
          expect(schemaIssues(GuardLoopStateSchema, state)).toEqual([]);
          for (const next of attempts) {
            expect(schemaIssues(GuardAttemptSchema, next)).toEqual([]);
            const step = stepGuardLoop(plan, state, next);
            state = step.state;
            const decision = step.decision;
            expect(schemaIssues(GuardLoopStateSchema, state)).toEqual([]);
            expect(schemaIssues(GuardLoopDecisionSchema, decision)).toEqual([]);
            seen.add(
              decision.kind === 'accept' || decision.kind === 'exhausted'
                ? `${decision.kind}:${decision.status}`
                : decision.kind,
            );
            if (decision.kind === 'retry' || decision.kind === 'exhausted') {
              expect(schemaIssues(GuardEventSchema, decision.event)).toEqual([]);
              expect(schemaIssues(GuardBudgetSchema, decision.budget)).toEqual([]);
            }
            if (decision.kind !== 'retry') {
              expect(schemaIssues(GuardLoopFinalDecisionSchema, decision)).toEqual([]);
              break;
            }
            if (decision.feedback !== null) {
              expect(schemaIssues(GuardFeedbackSchema, decision.feedback)).toEqual([]);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
    // The property reached every decision variant.
    expect([...seen].sort()).toEqual([
      'accept:completed',
      'accept:completed_after_guard',
      'exhausted:exhausted_guard_budget',
      'exhausted:exhausted_rule_budget',
      'provider_failed',
      'retry',
    ]);
  });

  it('budgetOutcome and successStatus return values of their schemas', () => {
    const budget = fc.option(fc.integer({ min: 1, max: 8 }), { nil: null });
    fc.assert(
      fc.property(fc.nat(8), budget, fc.nat(8), fc.integer({ min: 1, max: 8 }), (f, b, a, m) => {
        expect(schemaIssues(BudgetOutcomeSchema, budgetOutcome(f, b, a, m))).toEqual([]);
        expect(schemaIssues(SuccessStatusSchema, successStatus(f))).toEqual([]);
      }),
    );
  });

  it('the schemas reject shapes the reducer never returns', () => {
    const retry = stepGuardLoop(planA, startGuardLoop(planA), completed(NOT_JSON));
    const budgeted = compileGuardLoop(
      configA({ guard_loop: { max_failures_per_rule: 1, on_exhausted: 'allow_last' } }),
    );
    const semantic = runTexts(budgeted, ['{"answer":"a","confidence":0.1}']).decision;
    const guard = runTexts(compileGuardLoop(configA({ guard_loop: { max_attempts: 1 } })), [
      NOT_JSON,
    ]).decision;
    expect(retry.decision.kind).toBe('retry');
    expect(semantic).toMatchObject({
      status: 'exhausted_rule_budget',
      last_text: expect.any(String),
    });
    expect(guard).toMatchObject({ status: 'exhausted_guard_budget', on_exhausted: 'block' });
    const event = (retry.decision as { event: Record<string, unknown> }).event;
    const semanticEvent = (semantic as { event: Record<string, unknown> }).event;
    const rejected: [typeof GuardLoopDecisionSchema | typeof GuardEventSchema, unknown][] = [
      [GuardLoopDecisionSchema, { ...semantic, rule_id: undefined }],
      [GuardLoopDecisionSchema, { ...semantic, last_text: undefined }],
      [GuardLoopDecisionSchema, { ...guard, rule_id: 'structured-json' }],
      [GuardLoopDecisionSchema, { ...guard, last_text: NOT_JSON }],
      [GuardLoopDecisionSchema, { ...guard, status: 'exhausted' }],
      [GuardLoopDecisionSchema, { ...retry.decision, attempt_index: 0 }],
      [GuardLoopDecisionSchema, { ...retry.decision, kind: 'retry_later' }],
      [GuardLoopFinalDecisionSchema, retry.decision],
      [GuardEventSchema, { ...event, evidence: semanticEvent.evidence }],
      [GuardEventSchema, { ...semanticEvent, evidence: undefined }],
      [GuardEventSchema, { ...event, errors: [] }],
    ];
    for (const [schema, value] of rejected) {
      expect(schemaIssues(schema, value), JSON.stringify(value)).not.toEqual([]);
    }
    expect(
      schemaIssues(GuardLoopStateSchema, { ...retry.state, rule_failures: { x: 0 } }),
    ).not.toEqual([]);
    expect(schemaIssues(GuardFeedbackSchema, { role: 'user', name: 'x', content: '' })).not.toEqual(
      [],
    );
    expect(schemaIssues(GuardAttemptSchema, { kind: 'completed' })).not.toEqual([]);
  });
});
