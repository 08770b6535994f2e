import fc from 'fast-check';
import { expect } from 'vitest';
import { ConfigError, type ConfigIssue } from '../errors/config-error.ts';
import {
  type GuardAttempt,
  type GuardLoopDecision,
  startGuardLoop,
  stepGuardLoop,
} from './guard-loop.ts';
import { type CompiledGuardLoop, compileGuardLoop } from './guard-loop-config.ts';

// Shared by the guard-loop test files: the reference vectors' configuration A, helpers that
// drive the reducer, and the arbitraries of the properties.

// Config A of the reference vectors, as a real JSON Schema.
export const answerV1 = {
  type: 'object',
  required: ['answer', 'confidence'],
  properties: {
    answer: { type: 'string', minLength: 1 },
    confidence: { type: 'number', minimum: 0, maximum: 1 },
    citations: { type: 'array', items: { type: 'string' } },
  },
  additionalProperties: false,
};
export const minimumConfidence = {
  id: 'minimum-confidence',
  kind: 'json_path_number',
  path: '/confidence',
  gte: 0.7,
};
export const answerNotDraft = {
  id: 'answer-not-draft',
  kind: 'json_path_string_not_contains',
  path: '/answer',
  pattern: 'draft',
};

export function configA(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemas: [{ id: 'answer_v1', schema: answerV1 }],
    semantic_rules: [minimumConfidence],
    ...extra,
  };
}

export const planA = compileGuardLoop(configA());
export const VALID = '{"answer":"final","confidence":0.91,"citations":["one"]}';
export const NOT_JSON = '{not json';

export function issuesOf(config: unknown): readonly ConfigIssue[] {
  let caught: unknown;
  try {
    compileGuardLoop(config);
  } catch (error) {
    caught = error;
  }
  expect(ConfigError.isInstance(caught), 'expected a ConfigError').toBe(true);
  return (caught as ConfigError).issues;
}

export function completed(text: string): GuardAttempt {
  return { kind: 'completed', text };
}

/** Step through `texts` until a final decision; also returns how many texts were consumed. */
export function runTexts(plan: CompiledGuardLoop, texts: readonly string[]) {
  let state = startGuardLoop(plan);
  const decisions: GuardLoopDecision[] = [];
  for (const text of texts) {
    const step = stepGuardLoop(plan, state, completed(text));
    state = step.state;
    decisions.push(step.decision);
    if (step.decision.kind !== 'retry') break;
  }
  expect(decisions.length, 'no attempts').toBeGreaterThan(0);
  const decision = decisions[decisions.length - 1]!;
  return { state, decision, decisions, consumed: decisions.length };
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export const validAnswer = fc.record(
  {
    answer: fc.string({ minLength: 1 }),
    confidence: fc.double({ min: 0.7, max: 1, noNaN: true }),
    citations: fc.array(fc.string(), { maxLength: 3 }),
  },
  { requiredKeys: ['answer', 'confidence'] },
);
export const validText = validAnswer.map((v) => JSON.stringify(v));
export const invalidText = fc.oneof(
  fc.constantFrom(NOT_JSON, '', '```json\n{}\n```', '[1,2]', '{"answer":"a"}', 'null'),
  fc.string().filter((s) => {
    try {
      JSON.parse(s);
      return false;
    } catch {
      return true;
    }
  }),
  fc
    .double({ min: 0, max: 0.69, noNaN: true })
    .map((c) => JSON.stringify({ answer: 'a', confidence: c })),
  fc
    .double({ min: 1.01, max: 1e6, noNaN: true })
    .map((c) => JSON.stringify({ answer: 'a', confidence: c })),
  validAnswer.map((v) => JSON.stringify({ ...v, extra: 1 })),
);
export const loopSettings = fc.record(
  {
    max_attempts: fc.integer({ min: 1, max: 6 }),
    max_failures_per_rule: fc.integer({ min: 1, max: 6 }),
    feedback: fc.constantFrom('detailed', 'generic', 'none'),
    max_feedback_chars: fc.integer({ min: 64, max: 400 }),
    on_exhausted: fc.constantFrom('block', 'allow_last'),
  },
  { requiredKeys: [] },
);

/**
 * Plans that between them produce every shape of output: both evidence kinds, every found
 * kind, error lists cut at `MAX_ERRORS`, a custom `schema_rule_id`.
 */
export const outputConfigs: readonly Record<string, unknown>[] = [
  configA({ semantic_rules: [minimumConfidence, answerNotDraft] }),
  {
    schemas: [
      { id: 'answer_v1', schema: answerV1 },
      {
        id: 'many',
        schema: { type: 'object', required: Array.from({ length: 10 }, (_, i) => `k${i}`) },
      },
    ],
    semantic_rules: [answerNotDraft],
    schema_rule_id: 'answer-json',
  },
  {
    schemas: [{ id: 'any', schema: {} }],
    semantic_rules: [{ id: 'score', kind: 'json_path_number', path: '/s', gt: 0, lte: 5 }],
  },
];

/** Output texts for `outputConfigs`: valid, invalid, drafts, and arbitrary JSON. */
export const outputText = fc.oneof(
  validText,
  invalidText,
  fc.string().map((s) => JSON.stringify({ answer: `${s} Draft`, confidence: 0.9 })),
  fc
    .oneof(
      fc.constant(null),
      fc.boolean(),
      fc.double({ min: -10, max: 10, noNaN: true }),
      fc.string(),
      fc.array(fc.jsonValue(), { maxLength: 3 }),
      fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 }),
    )
    .map((s) => JSON.stringify({ s })),
  fc.jsonValue().map((v) => JSON.stringify(v)),
);
