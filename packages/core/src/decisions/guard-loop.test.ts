import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, type ConfigIssue } from '../errors/config-error.ts';
import { WardwrightError } from '../errors/wardwright-error.ts';
import {
  budgetOutcome,
  type CompiledGuardLoop,
  compileGuardLoop,
  type GuardAttempt,
  type GuardFeedback,
  type GuardLoopDecision,
  type GuardLoopState,
  MAX_ERRORS,
  runGuardLoop,
  startGuardLoop,
  stepGuardLoop,
  successStatus,
  validateOutput,
} from './guard-loop.ts';

// Config A of the reference vectors, as a real JSON Schema.
const answerV1 = {
  type: 'object',
  required: ['answer', 'confidence'],
  properties: {
    answer: { type: 'string', minLength: 1 },
    confidence: { type: 'number', minimum: 0, maximum: 1 },
    citations: { type: 'array', items: { type: 'string' } },
  },
  additionalProperties: false,
};
const minimumConfidence = {
  id: 'minimum-confidence',
  kind: 'json_path_number',
  path: '/confidence',
  gte: 0.7,
};
const answerNotDraft = {
  id: 'answer-not-draft',
  kind: 'json_path_string_not_contains',
  path: '/answer',
  pattern: 'draft',
};

function configA(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemas: [{ id: 'answer_v1', schema: answerV1 }],
    semantic_rules: [minimumConfidence],
    ...extra,
  };
}

const planA = compileGuardLoop(configA());
const VALID = '{"answer":"final","confidence":0.91,"citations":["one"]}';
const NOT_JSON = '{not json';

function issuesOf(config: unknown): readonly ConfigIssue[] {
  try {
    compileGuardLoop(config);
  } catch (error) {
    if (ConfigError.isInstance(error)) return error.issues;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

function completed(text: string): GuardAttempt {
  return { kind: 'completed', text };
}

/** Step through `texts` until a final decision; also returns how many texts were consumed. */
function runTexts(plan: CompiledGuardLoop, texts: readonly string[]) {
  let state = startGuardLoop(plan);
  const decisions: GuardLoopDecision[] = [];
  for (const text of texts) {
    const step = stepGuardLoop(plan, state, completed(text));
    state = step.state;
    decisions.push(step.decision);
    if (step.decision.kind !== 'retry') break;
  }
  const last = decisions.at(-1);
  if (last === undefined) throw new Error('no attempts');
  return { state, decision: last, decisions, consumed: decisions.length };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

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

describe('validateOutput vectors (§1.7)', () => {
  it('V1 a valid answer matches answer_v1', () => {
    expect(validateOutput(planA, VALID)).toEqual({
      ok: true,
      schema_id: 'answer_v1',
      value: { answer: 'final', confidence: 0.91, citations: ['one'] },
    });
  });

  it('V2 a draft answer fails the not-contains rule, with its evidence', () => {
    const plan = compileGuardLoop(configA({ semantic_rules: [minimumConfidence, answerNotDraft] }));
    expect(validateOutput(plan, '{"answer":"draft answer","confidence":0.95}')).toEqual({
      ok: false,
      guard_type: 'semantic_validation',
      rule_id: 'answer-not-draft',
      errors: [{ path: '/answer', message: 'must not contain "draft" (in any letter case)' }],
      error_count: 1,
      evidence: {
        kind: 'json_path_string_not_contains',
        path: '/answer',
        pattern: 'draft',
        case_sensitive: false,
      },
    });
  });

  it('V3 confidence above the schema maximum is a schema failure of structured-json', () => {
    expect(validateOutput(planA, '{"answer":"final","confidence":1.2}')).toEqual({
      ok: false,
      guard_type: 'schema_validation',
      rule_id: 'structured-json',
      errors: [{ path: '/confidence', message: 'answer_v1: must be <= 1' }],
      error_count: 1,
    });
  });

  it('V4a–d extra key, confidence 1.01, empty answer, non-string citation: schema failures', () => {
    const cases: [string, { path: string; message: string }][] = [
      [
        '{"answer":"a","confidence":0.9,"debug":true}',
        { path: '/debug', message: 'answer_v1: is not an allowed property' },
      ],
      [
        '{"answer":"a","confidence":1.01}',
        { path: '/confidence', message: 'answer_v1: must be <= 1' },
      ],
      [
        '{"answer":"","confidence":0.9}',
        { path: '/answer', message: 'answer_v1: must NOT have fewer than 1 characters' },
      ],
      [
        '{"answer":"a","confidence":0.9,"citations":[123]}',
        { path: '/citations/0', message: 'answer_v1: must be string' },
      ],
    ];
    for (const [text, error] of cases) {
      const result = validateOutput(planA, text);
      expect(result, text).toMatchObject({
        ok: false,
        guard_type: 'schema_validation',
        rule_id: 'structured-json',
        errors: [error],
      });
    }
  });

  it('V5 differs from the original: a pointer without a leading slash is a config error, not a rule that always fails', () => {
    const issues = issuesOf({
      schemas: [{ id: 'answer_v1', schema: answerV1 }],
      semantic_rules: [
        {
          id: 'confidence-pointer-required',
          kind: 'json_path_number',
          path: 'confidence',
          gte: 0.7,
        },
      ],
    });
    expect(issues).toEqual([
      {
        path: '$.semantic_rules[0].path',
        message: 'must be a JSON Pointer (RFC 6901) starting with `/`, got "confidence"',
        hint: 'JSON Pointers start with `/`, e.g. `/confidence`',
      },
    ]);
  });

  it('V6 a nested pointer reaches into an object the schema leaves open', () => {
    const plan = compileGuardLoop({
      schemas: [
        {
          id: 'nested_answer_v1',
          schema: { type: 'object', required: ['answer'], additionalProperties: true },
        },
      ],
      semantic_rules: [{ ...minimumConfidence, path: '/answer/confidence' }],
    });
    expect(validateOutput(plan, '{"answer":{"text":"x","confidence":0.2}}')).toMatchObject({
      ok: false,
      guard_type: 'semantic_validation',
      rule_id: 'minimum-confidence',
      errors: [{ path: '/answer/confidence', message: 'must be >= 0.7, got 0.2' }],
    });
    expect(validateOutput(plan, '{"answer":{"text":"x","confidence":0.91}}')).toMatchObject({
      ok: true,
      schema_id: 'nested_answer_v1',
    });
  });

  it('V7 an output in a markdown code fence is a JSON syntax failure (no fence stripping)', () => {
    expect(validateOutput(planA, `\`\`\`json\n${VALID}\n\`\`\``)).toEqual({
      ok: false,
      guard_type: 'json_syntax',
      rule_id: 'structured-json',
      errors: [
        {
          path: '',
          message: 'is wrapped in a markdown code fence; expected bare JSON with no fence or prose',
        },
      ],
      error_count: 1,
    });
  });

  it('V8 an array where the schema wants an object is a schema failure', () => {
    expect(validateOutput(planA, '[1,2]')).toEqual({
      ok: false,
      guard_type: 'schema_validation',
      rule_id: 'structured-json',
      errors: [{ path: '', message: 'answer_v1: must be object' }],
      error_count: 1,
    });
  });

  it('V9 a numeric string is not a number', () => {
    expect(validateOutput(planA, '{"answer":"a","confidence":"0.9"}')).toMatchObject({
      ok: false,
      guard_type: 'schema_validation',
      errors: [{ path: '/confidence', message: 'answer_v1: must be number' }],
    });
  });

  it('V10 confidence below the semantic bound fails minimum-confidence with the bound as evidence', () => {
    expect(validateOutput(planA, '{"answer":"a","confidence":0.5}')).toEqual({
      ok: false,
      guard_type: 'semantic_validation',
      rule_id: 'minimum-confidence',
      errors: [{ path: '/confidence', message: 'must be >= 0.7, got 0.5' }],
      error_count: 1,
      evidence: {
        kind: 'json_path_number',
        path: '/confidence',
        found: 'number',
        value: 0.5,
        violated: { bound: 'gte', limit: 0.7 },
      },
    });
  });

  it('V11 not-contains compares case-insensitively by default, exactly when case_sensitive', () => {
    const text = '{"answer":"Draft","confidence":0.9}';
    const insensitive = compileGuardLoop(configA({ semantic_rules: [answerNotDraft] }));
    expect(validateOutput(insensitive, text)).toMatchObject({
      ok: false,
      guard_type: 'semantic_validation',
      rule_id: 'answer-not-draft',
    });
    const sensitive = compileGuardLoop(
      configA({ semantic_rules: [{ ...answerNotDraft, case_sensitive: true }] }),
    );
    expect(validateOutput(sensitive, text)).toMatchObject({ ok: true });
    expect(validateOutput(sensitive, '{"answer":"a draft","confidence":0.9}')).toMatchObject({
      ok: false,
      errors: [{ path: '/answer', message: 'must not contain "draft"' }],
      evidence: { case_sensitive: true },
    });
  });

  const answerV2 = {
    type: 'object',
    required: ['result', 'confidence', 'format_version'],
    properties: {
      result: { type: 'string', minLength: 1 },
      confidence: { type: 'number', minimum: 0, maximum: 1 },
      format_version: { const: 'v2' },
    },
    additionalProperties: false,
  };

  it('V12 the second alternative matches when the first does not', () => {
    const plan = compileGuardLoop({
      schemas: [
        { id: 'answer_v1', schema: answerV1 },
        { id: 'answer_v2', schema: answerV2 },
      ],
      semantic_rules: [minimumConfidence],
    });
    expect(
      validateOutput(plan, '{"result":"x","confidence":0.8,"format_version":"v2"}'),
    ).toMatchObject({ ok: true, schema_id: 'answer_v2' });
  });

  it('differs from the original: alternatives are tried in declaration order, not by ascending id', () => {
    const open = { type: 'object' };
    const plan = compileGuardLoop({
      schemas: [
        { id: 'zeta', schema: open },
        { id: 'alpha', schema: open },
      ],
    });
    expect(validateOutput(plan, '{}')).toMatchObject({ ok: true, schema_id: 'zeta' });
  });

  it('V13 arrays of objects validate recursively', () => {
    const plan = compileGuardLoop({
      schemas: [
        {
          id: 'tool_answer',
          schema: {
            type: 'object',
            required: ['answer', 'tool_calls'],
            additionalProperties: false,
            properties: {
              answer: { type: 'string', minLength: 1 },
              tool_calls: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['name', 'arguments'],
                  additionalProperties: false,
                  properties: {
                    name: { type: 'string', minLength: 1 },
                    arguments: { type: 'object', additionalProperties: true, properties: {} },
                  },
                },
              },
            },
          },
        },
      ],
    });
    expect(
      validateOutput(
        plan,
        '{"answer":"Drafted.","tool_calls":[{"name":"n","arguments":{"model_id":"cow"}}]}',
      ),
    ).toMatchObject({ ok: true, schema_id: 'tool_answer' });
    expect(validateOutput(plan, '{"answer":"Drafted.","tool_calls":[{"name":"n"}]}')).toMatchObject(
      {
        ok: false,
        guard_type: 'schema_validation',
        errors: [{ path: '/tool_calls/0/arguments', message: 'tool_answer: is required' }],
      },
    );
  });
});

describe('validateOutput details', () => {
  it('parses strictly: empty text, trailing text and non-strings fail JSON syntax', () => {
    expect(validateOutput(planA, '')).toMatchObject({
      guard_type: 'json_syntax',
      errors: [{ path: '', message: 'is empty; expected exactly one JSON value' }],
    });
    expect(validateOutput(planA, '  \n')).toMatchObject({ guard_type: 'json_syntax' });
    const trailing = validateOutput(planA, `${VALID} thanks!`);
    expect(trailing).toMatchObject({ guard_type: 'json_syntax', rule_id: 'structured-json' });
    expect(!trailing.ok && trailing.errors[0]?.message).toMatch(/^is not valid JSON: /);
    expect(validateOutput(planA, null as unknown as string)).toMatchObject({
      guard_type: 'json_syntax',
      errors: [{ path: '', message: 'must be the output text, got null' }],
    });
    expect(validateOutput(planA, 42 as unknown as string)).toMatchObject({
      errors: [{ path: '', message: 'must be the output text, got number' }],
    });
  });

  it('honours schema_rule_id for syntax and schema failures (differs from the original)', () => {
    const plan = compileGuardLoop(configA({ schema_rule_id: 'answer-json' }));
    expect(validateOutput(plan, NOT_JSON)).toMatchObject({ rule_id: 'answer-json' });
    expect(validateOutput(plan, '{}')).toMatchObject({ rule_id: 'answer-json' });
  });

  it('reports errors of every alternative, each prefixed with its schema id, and bounded', () => {
    const many = {
      type: 'object',
      required: Array.from({ length: 12 }, (_, i) => `k${i}`),
    };
    const plan = compileGuardLoop({
      schemas: [
        { id: 'many', schema: many },
        { id: 'answer_v1', schema: answerV1 },
      ],
    });
    const result = validateOutput(plan, '{"answer":"a","confidence":7}');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error_count).toBe(13);
    expect(result.errors).toHaveLength(MAX_ERRORS);
    // Round-robin: answer_v1's only error gets a slot, `many` takes the rest.
    expect(result.errors.slice(0, 7)).toEqual(
      Array.from({ length: 7 }, (_, i) => ({ path: `/k${i}`, message: 'many: is required' })),
    );
    expect(result.errors[7]).toEqual({ path: '/confidence', message: 'answer_v1: must be <= 1' });
  });

  it('gives every alternative at least one error when there are more alternatives than slots', () => {
    const schemas = Array.from({ length: MAX_ERRORS + 2 }, (_, i) => ({
      id: `s${i}`,
      schema: { type: 'object', required: ['a', 'b'] },
    }));
    const result = validateOutput(compileGuardLoop({ schemas }), '{}');
    expect(result).toMatchObject({ ok: false, error_count: 2 * (MAX_ERRORS + 2) });
    if (result.ok) return;
    expect(result.errors.map((e) => e.message.split(':')[0])).toEqual(
      schemas.slice(0, MAX_ERRORS).map((s) => s.id),
    );
  });

  it('escapes property names in error paths as JSON Pointer tokens', () => {
    const plan = compileGuardLoop({
      schemas: [
        {
          id: 'strict',
          schema: {
            type: 'object',
            required: ['m~n'],
            properties: { 'm~n': {} },
            unevaluatedProperties: false,
          },
        },
      ],
    });
    const result = validateOutput(plan, '{"a/b":1}');
    expect(result).toMatchObject({
      errors: [
        { path: '/m~0n', message: 'strict: is required' },
        { path: '/a~1b', message: 'strict: is not an allowed property' },
      ],
    });
  });

  it('differs from the original: string lengths count code points (JSON Schema), not graphemes', () => {
    const plan = compileGuardLoop({
      schemas: [
        {
          id: 's',
          schema: { type: 'object', properties: { a: { type: 'string', minLength: 2 } } },
        },
      ],
    });
    // One code point (two UTF-16 units): too short.
    expect(validateOutput(plan, '{"a":"😀"}')).toMatchObject({ ok: false });
    // One grapheme made of two code points: long enough.
    expect(validateOutput(plan, '{"a":"👍🏽"}')).toMatchObject({ ok: true });
  });

  it('checks formats through ajv-formats', () => {
    const plan = compileGuardLoop({
      schemas: [
        {
          id: 'contact',
          schema: {
            type: 'object',
            properties: { email: { type: 'string', format: 'email' } },
          },
        },
      ],
    });
    expect(validateOutput(plan, '{"email":"a@example.com"}')).toMatchObject({ ok: true });
    expect(validateOutput(plan, '{"email":"nope"}')).toMatchObject({
      errors: [{ path: '/email', message: 'contact: must match format "email"' }],
    });
  });

  it('json_path_number fails on a missing or non-number value and checks every bound', () => {
    const plan = compileGuardLoop({
      schemas: [{ id: 'any', schema: {} }],
      semantic_rules: [
        { id: 'score', kind: 'json_path_number', path: '/s', gt: 0, lt: 10, lte: 5 },
      ],
    });
    const cases: [string, string, Record<string, unknown>][] = [
      ['{}', 'is missing; expected a number', { found: 'missing' }],
      ['{"s":true}', 'must be a number, got a boolean', { found: 'boolean' }],
      ['{"s":"3"}', 'must be a number, got a string', { found: 'string' }],
      ['{"s":null}', 'must be a number, got null', { found: 'null' }],
      ['{"s":[3]}', 'must be a number, got an array', { found: 'array' }],
      ['{"s":{}}', 'must be a number, got an object', { found: 'object' }],
      ['{"s":0}', 'must be > 0, got 0', { violated: { bound: 'gt', limit: 0 } }],
      ['{"s":6}', 'must be <= 5, got 6', { violated: { bound: 'lte', limit: 5 } }],
    ];
    for (const [text, message, evidence] of cases) {
      expect(validateOutput(plan, text), text).toMatchObject({
        ok: false,
        rule_id: 'score',
        errors: [{ path: '/s', message }],
        evidence: { kind: 'json_path_number', path: '/s', ...evidence },
      });
    }
    expect(validateOutput(plan, '{"s":5}')).toMatchObject({ ok: true });
    const lt = compileGuardLoop({
      schemas: [{ id: 'any', schema: {} }],
      semantic_rules: [{ id: 'lt', kind: 'json_path_number', path: '', lt: 1 }],
    });
    expect(validateOutput(lt, '1')).toMatchObject({ errors: [{ message: 'must be < 1, got 1' }] });
    expect(validateOutput(lt, '0.5')).toMatchObject({ ok: true });
  });

  it('json_path_string_not_contains passes on a missing or non-string value (as the original)', () => {
    const plan = compileGuardLoop({
      schemas: [{ id: 'any', schema: {} }],
      semantic_rules: [answerNotDraft],
    });
    for (const text of ['{}', '{"answer":7}', '{"answer":["draft"]}', '"draft"']) {
      expect(validateOutput(plan, text), text).toMatchObject({ ok: true });
    }
  });

  it('reports the first failing semantic rule in declaration order', () => {
    const plan = compileGuardLoop(configA({ semantic_rules: [answerNotDraft, minimumConfidence] }));
    expect(validateOutput(plan, '{"answer":"draft","confidence":0.1}')).toMatchObject({
      rule_id: 'answer-not-draft',
    });
  });

  it('refuses a plan that compileGuardLoop did not make', () => {
    const fake = { ...planA };
    let caught: unknown;
    try {
      validateOutput(fake, VALID);
    } catch (error) {
      caught = error;
    }
    expect(WardwrightError.isInstance(caught)).toBe(true);
    expect((caught as WardwrightError).code).toBe('invalid_argument');
  });
});

describe('compileGuardLoop', () => {
  it('resolves defaults without touching the input', () => {
    const config = deepFreeze(configA());
    const plan = compileGuardLoop(config);
    expect(plan).toEqual({
      schema_ids: ['answer_v1'],
      schema_rule_id: 'structured-json',
      semantic_rule_ids: ['minimum-confidence'],
      max_attempts: 3,
      max_failures_per_rule: null,
      rule_budgets: { 'structured-json': null, 'minimum-confidence': null },
      feedback: 'detailed',
      max_feedback_chars: 1000,
      on_exhausted: 'block',
    });
    expect(Object.isFrozen(plan)).toBe(true);
    expect(Object.isFrozen(plan.rule_budgets)).toBe(true);
  });

  it('resolves per-rule budgets: a rule’s own max_failures overrides max_failures_per_rule', () => {
    const plan = compileGuardLoop(
      configA({
        semantic_rules: [{ ...minimumConfidence, max_failures: 1 }, answerNotDraft],
        guard_loop: {
          max_attempts: 5,
          max_failures_per_rule: 2,
          feedback: 'generic',
          max_feedback_chars: 64,
          on_exhausted: 'allow_last',
        },
      }),
    );
    expect(plan).toMatchObject({
      max_attempts: 5,
      max_failures_per_rule: 2,
      rule_budgets: { 'structured-json': 2, 'minimum-confidence': 1, 'answer-not-draft': 2 },
      feedback: 'generic',
      max_feedback_chars: 64,
      on_exhausted: 'allow_last',
    });
  });

  it('compiles a private copy of each schema', () => {
    const schema = structuredClone(answerV1);
    const plan = compileGuardLoop({ schemas: [{ id: 'answer_v1', schema }] });
    schema.properties.confidence.maximum = 100;
    expect(validateOutput(plan, '{"answer":"a","confidence":50}')).toMatchObject({ ok: false });
  });

  it('reports shape errors with the schema validator’s paths', () => {
    expect(issuesOf([])).toEqual([{ path: '$', message: 'must be an object, got an array' }]);
    expect(issuesOf({})).toEqual([{ path: '$.schemas', message: 'is required' }]);
    expect(issuesOf({ schemas: [] })).toEqual([
      { path: '$.schemas', message: 'must NOT have fewer than 1 items' },
    ]);
    expect(
      issuesOf(
        configA({
          semantic_rules: [
            { id: 'x', kind: 'json_path_regex', path: '/a' },
            { ...answerNotDraft, pattern: '' },
          ],
          guard_loop: { max_attempts: 0, max_feedback_chars: 63, feedback: 'loud' },
        }),
      ).map((issue) => issue.path),
    ).toEqual([
      '$.semantic_rules[0].kind',
      '$.semantic_rules[1].pattern',
      '$.guard_loop.max_attempts',
      '$.guard_loop.feedback',
      '$.guard_loop.max_feedback_chars',
    ]);
  });

  it('hints at the new shape for the original’s schema map and on_violation', () => {
    const issues = issuesOf({
      schemas: { answer_v1: answerV1 },
      guard_loop: { on_violation: 'retry_with_validation_feedback' },
    });
    expect(issues).toContainEqual(
      expect.objectContaining({
        path: '$.schemas',
        hint: 'list alternatives in the order to try them: `[{ "id": "answer_v1", "schema": { … } }]`',
      }),
    );
    expect(issues).toContainEqual(
      expect.objectContaining({
        path: '$.guard_loop.on_violation',
        message: 'is not a known key',
        hint: '`on_violation` became `feedback`: `detailed`, `generic` or `none`',
      }),
    );
  });

  it('rejects a schema ajv cannot compile, with ajv’s message', () => {
    expect(issuesOf({ schemas: [{ id: 'a', schema: { type: 'strin' } }] })).toEqual([
      {
        path: '$.schemas[0].schema',
        message:
          'is not a usable JSON Schema 2020-12: schema is invalid: data/type must be equal to one of the allowed values, data/type must be array, data/type must match a schema in anyOf',
      },
    ]);
    expect(
      issuesOf({
        schemas: [
          { id: 'a', schema: { type: 'object' } },
          { id: 'b', schema: { $schema: 'http://json-schema.org/draft-07/schema#' } },
        ],
      }),
    ).toEqual([
      {
        path: '$.schemas[1].schema',
        message:
          'is not a usable JSON Schema 2020-12: no schema with key or ref "http://json-schema.org/draft-07/schema#"',
        hint: 'schemas are JSON Schema 2020-12: drop `$schema` or set it to https://json-schema.org/draft/2020-12/schema',
      },
    ]);
    expect(issuesOf({ schemas: [{ id: 'a', schema: { $ref: '#/nope' } }] })).toEqual([
      {
        path: '$.schemas[0].schema',
        message: "is not a usable JSON Schema 2020-12: can't resolve reference #/nope from id #",
      },
    ]);
  });

  it('rejects a format ajv-formats does not know, instead of silently ignoring it', () => {
    expect(
      issuesOf({
        schemas: [
          {
            id: 'a',
            schema: {
              type: 'object',
              properties: { when: { type: 'string', format: 'date_time' } },
            },
          },
        ],
      }),
    ).toEqual([
      {
        path: '$.schemas[0].schema.properties.when',
        message: 'uses the unknown format "date_time", which would never be checked',
        hint: 'known formats include date-time, date, time, duration, email, hostname, ipv4, ipv6, uri, uuid, regex',
      },
    ]);
  });

  it('ignores unknown keywords (strict: false), so annotated schemas compile', () => {
    const plan = compileGuardLoop({
      schemas: [{ id: 'a', schema: { type: 'object', 'x-origin': 'openapi', nullable: false } }],
    });
    expect(validateOutput(plan, '{}')).toMatchObject({ ok: true });
  });

  it('lists duplicate ids, clashing rule ids, bad pointers and empty ranges in one error', () => {
    const issues = issuesOf({
      schemas: [
        { id: 'a', schema: {} },
        { id: 'a', schema: {} },
      ],
      semantic_rules: [
        { id: 'r', kind: 'json_path_number', path: '/x', gte: 2, lte: 1 },
        { id: 'r', kind: 'json_path_number', path: '/x', gte: 1, lt: 1 },
        { id: 'structured-json', kind: 'json_path_number', path: '/x', gt: 1, lte: 1 },
        { id: 's', kind: 'json_path_number', path: '/x', gt: 1, lt: 1 },
        { id: 't', kind: 'json_path_string_not_contains', path: '/a~2', pattern: 'x' },
      ],
    });
    expect(issues).toEqual([
      { path: '$.schemas[1].id', message: 'duplicates the schema id "a" of $.schemas[0]' },
      { path: '$.semantic_rules[0]', message: 'no number satisfies `gte` 2 and `lte` 1' },
      {
        path: '$.semantic_rules[1].id',
        message: 'duplicates the rule id "r" of $.semantic_rules[0]',
      },
      { path: '$.semantic_rules[1]', message: 'no number satisfies `gte` 1 and `lt` 1' },
      {
        path: '$.semantic_rules[2].id',
        message: 'is the schema rule id "structured-json"; semantic rule ids must differ from it',
        hint: 'rename the rule, or set `schema_rule_id` to another id',
      },
      { path: '$.semantic_rules[2]', message: 'no number satisfies `gt` 1 and `lte` 1' },
      { path: '$.semantic_rules[3]', message: 'no number satisfies `gt` 1 and `lt` 1' },
      {
        path: '$.semantic_rules[4].path',
        message: 'has `~` at offset 2 not followed by `0` or `1`, got "/a~2"',
        hint: 'write `~0` for a literal `~` and `~1` for a literal `/` inside a key',
      },
    ]);
  });

  it('accepts a single-point range and rules whose bounds leave room', () => {
    const plan = compileGuardLoop({
      schemas: [{ id: 'a', schema: {} }],
      semantic_rules: [
        { id: 'eq', kind: 'json_path_number', path: '', gte: 1, lte: 1 },
        { id: 'open', kind: 'json_path_number', path: '', gt: 0, lt: 2 },
      ],
    });
    expect(validateOutput(plan, '1')).toMatchObject({ ok: true });
    expect(validateOutput(plan, '1.5')).toMatchObject({ ok: false, rule_id: 'eq' });
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

// ---------------------------------------------------------------------------------------------
// Properties

const validAnswer = fc.record(
  {
    answer: fc.string({ minLength: 1 }),
    confidence: fc.double({ min: 0.7, max: 1, noNaN: true }),
    citations: fc.array(fc.string(), { maxLength: 3 }),
  },
  { requiredKeys: ['answer', 'confidence'] },
);
const validText = validAnswer.map((v) => JSON.stringify(v));
const invalidText = fc.oneof(
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
const loopSettings = fc.record(
  {
    max_attempts: fc.integer({ min: 1, max: 6 }),
    max_failures_per_rule: fc.integer({ min: 1, max: 6 }),
    feedback: fc.constantFrom('detailed', 'generic', 'none'),
    max_feedback_chars: fc.integer({ min: 64, max: 400 }),
    on_exhausted: fc.constantFrom('block', 'allow_last'),
  },
  { requiredKeys: [] },
);

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

  it('feedback never exceeds max_feedback_chars', () => {
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
            }
          }
        },
      ),
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
