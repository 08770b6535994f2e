import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { schemaIssues } from '../schema/validator.ts';
import {
  type CompiledFeedback,
  compileFeedback,
  feedbackFor,
  GUARD_FEEDBACK_NAME,
  type GuardFeedback,
  GuardFeedbackSchema,
} from './guard-feedback.ts';
import {
  answerV1,
  completed,
  configA,
  invalidText,
  loopSettings,
  minimumConfidence,
  NOT_JSON,
  planA,
  runTexts,
  VALID,
} from './guard-loop.fixtures.ts';
import { runGuardLoop, startGuardLoop, stepGuardLoop } from './guard-loop.ts';
import { compileGuardLoop } from './guard-loop-config.ts';
import type { ValidationFailure } from './guard-validation-result.ts';

describe('compileFeedback and feedbackFor', () => {
  const failure: ValidationFailure = {
    ok: false,
    guard_type: 'schema_validation',
    rule_id: 'answer-json',
    errors: [{ path: '/a', message: 'v1: is required' }],
    error_count: 3,
  };

  it('detailed feedback is made from the failure and the schema ids alone', () => {
    expect(feedbackFor(compileFeedback('detailed', 1000, ['v1', 'v2']), failure)).toEqual({
      role: 'system',
      name: GUARD_FEEDBACK_NAME,
      content: [
        'Your previous output failed Wardwright structured-output validation at the schema stage (rule `answer-json`). Return only one JSON value that matches one of these schemas: v1, v2; no markdown fences and no surrounding prose.',
        'Errors:',
        '- /a: v1: is required',
        '- … and 2 more',
      ].join('\n'),
    });
  });

  it('generic feedback is one frozen message, shared by every retry of the plan', () => {
    const compiled = compileFeedback('generic', 64, ['v1']);
    const first = feedbackFor(compiled, failure);
    expect(first).toBe(feedbackFor(compiled, { ...failure, guard_type: 'json_syntax' }));
    expect(Object.isFrozen(first)).toBe(true);
    expect(first?.content).toHaveLength(64);
    expect(feedbackFor(compileFeedback('none', 64, ['v1']), failure)).toBeNull();
  });

  it('refuses a mode it does not know', () => {
    const compiled = {
      ...compileFeedback('none', 64, ['v1']),
      mode: 'loud',
    } as unknown as CompiledFeedback;
    expect(() => feedbackFor(compiled, failure)).toThrow('unhandled feedback mode: "loud"');
  });
});

describe('retry feedback', () => {
  it('detailed: names the stage, the rule, the errors and the schema ids', () => {
    const plan = compileGuardLoop(
      configA({
        schemas: [
          { id: 'answer_v1', schema: answerV1 },
          { id: 'answer_v2', schema: { type: 'object', required: ['result'] } },
        ],
      }),
    );
    const { decision } = stepGuardLoop(plan, startGuardLoop(plan), completed('{"confidence":2}'));
    expect(decision.kind === 'retry' && decision.feedback).toEqual({
      role: 'system',
      name: 'wardwright_structured_output_guard',
      content: [
        'Your previous output failed Wardwright structured-output validation at the schema stage (rule `structured-json`). Return only one JSON value that matches one of these schemas: answer_v1, answer_v2; no markdown fences and no surrounding prose.',
        'Errors:',
        '- /answer: answer_v1: is required',
        '- /confidence: answer_v1: must be <= 1',
        '- /result: answer_v2: is required',
      ].join('\n'),
    });
  });

  it('detailed: a syntax failure points at the whole output; a semantic one at its path', () => {
    const first = stepGuardLoop(planA, startGuardLoop(planA), completed(''));
    expect(first.decision.kind === 'retry' && first.decision.feedback?.content).toContain(
      'at the JSON syntax stage (rule `structured-json`)',
    );
    expect(first.decision.kind === 'retry' && first.decision.feedback?.content).toContain(
      '\n- (the whole output): is empty; expected exactly one JSON value',
    );
    const second = stepGuardLoop(planA, first.state, completed('{"answer":"a","confidence":0.3}'));
    expect(second.decision.kind === 'retry' && second.decision.feedback?.content).toContain(
      'at the semantic rule stage (rule `minimum-confidence`)',
    );
    expect(second.decision.kind === 'retry' && second.decision.feedback?.content).toContain(
      '\n- /confidence: must be >= 0.7, got 0.3',
    );
  });

  it('detailed: says how many errors were left out', () => {
    const plan = compileGuardLoop({
      schemas: [
        {
          id: 'many',
          schema: { type: 'object', required: Array.from({ length: 10 }, (_, i) => `k${i}`) },
        },
      ],
    });
    const { decision } = stepGuardLoop(plan, startGuardLoop(plan), completed('{}'));
    expect(decision.kind === 'retry' && decision.feedback?.content).toMatch(/\n- … and 2 more$/);
  });

  it('generic: a fixed instruction and the schema ids, whatever failed', () => {
    const plan = compileGuardLoop(configA({ guard_loop: { feedback: 'generic' } }));
    const a = stepGuardLoop(plan, startGuardLoop(plan), completed(NOT_JSON));
    const b = stepGuardLoop(
      plan,
      startGuardLoop(plan),
      completed('{"answer":"a","confidence":0.1}'),
    );
    const expected = {
      role: 'system',
      name: 'wardwright_structured_output_guard',
      content:
        'Your previous output failed Wardwright structured-output validation. Return only one JSON value that matches the configured schema, with no markdown fences and no surrounding prose. Available schemas: answer_v1.',
    };
    expect(a.decision.kind === 'retry' && a.decision.feedback).toEqual(expected);
    expect(b.decision.kind === 'retry' && b.decision.feedback).toEqual(expected);
  });

  it('none: no feedback, and the loop still retries', () => {
    const plan = compileGuardLoop(configA({ guard_loop: { feedback: 'none' } }));
    const { decision } = stepGuardLoop(plan, startGuardLoop(plan), completed(NOT_JSON));
    expect(decision).toMatchObject({ kind: 'retry', feedback: null });
  });

  it('is truncated to max_feedback_chars with an ellipsis, never splitting a surrogate pair', () => {
    const emoji = '😀'.repeat(40);
    const wide = compileGuardLoop({
      schemas: [{ id: emoji, schema: { type: 'object' } }],
      guard_loop: { feedback: 'generic', max_feedback_chars: 10_000 },
    });
    const full = stepGuardLoop(wide, startGuardLoop(wide), completed('1'));
    const content = full.decision.kind === 'retry' ? (full.decision.feedback?.content ?? '') : '';
    const at = content.indexOf('😀');
    expect(at).toBeGreaterThan(64);
    // A limit that would cut between the two halves of the first emoji.
    const plan = compileGuardLoop({
      schemas: [{ id: emoji, schema: { type: 'object' } }],
      guard_loop: { feedback: 'generic', max_feedback_chars: at + 2 },
    });
    const { decision } = stepGuardLoop(plan, startGuardLoop(plan), completed('1'));
    expect(decision.kind === 'retry' && decision.feedback?.content).toBe(
      `${content.slice(0, at)}…`,
    );
    const plan2 = compileGuardLoop({
      schemas: [{ id: emoji, schema: { type: 'object' } }],
      guard_loop: { feedback: 'generic', max_feedback_chars: at + 3 },
    });
    const step2 = stepGuardLoop(plan2, startGuardLoop(plan2), completed('1'));
    expect(step2.decision.kind === 'retry' && step2.decision.feedback?.content).toBe(
      `${content.slice(0, at)}😀…`,
    );
  });

  it('runGuardLoop sends one feedback message for the original request each time, never a list', async () => {
    const plan = compileGuardLoop(configA({ guard_loop: { max_attempts: 4 } }));
    const seen: [number, GuardFeedback | null][] = [];
    const outputs = [NOT_JSON, '{"answer":"a","confidence":0.1}', VALID];
    const { decision } = await runGuardLoop(plan, async (index, feedback) => {
      seen.push([index, feedback]);
      return completed(outputs[index]!);
    });
    expect(decision).toMatchObject({
      kind: 'accept',
      status: 'completed_after_guard',
      attempt_count: 3,
    });
    expect(seen.map(([i]) => i)).toEqual([0, 1, 2]);
    expect(seen[0]?.[1]).toBeNull();
    expect(seen[1]?.[1]?.content).toContain('JSON syntax stage');
    expect(seen[2]?.[1]?.content).toContain('semantic rule stage');
    expect(seen[2]?.[1]?.content).not.toContain('JSON syntax');
  });
});

describe('feedback properties', () => {
  it('feedback never exceeds max_feedback_chars and always fits GuardFeedbackSchema', () => {
    fc.assert(
      fc.property(
        loopSettings,
        fc.array(fc.oneof(invalidText, fc.string({ unit: 'binary', maxLength: 2000 })), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }),
        (guard_loop, texts, schemaId) => {
          const plan = compileGuardLoop({
            schemas: [
              { id: schemaId, schema: answerV1 },
              { id: `${schemaId}-2`, schema: { type: 'object', required: ['x'] } },
            ],
            semantic_rules: [minimumConfidence],
            guard_loop,
          });
          for (const decision of runTexts(plan, texts).decisions) {
            if (decision.kind === 'retry' && decision.feedback !== null) {
              expect(decision.feedback.content.length).toBeLessThanOrEqual(plan.max_feedback_chars);
              expect(schemaIssues(GuardFeedbackSchema, decision.feedback)).toEqual([]);
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
