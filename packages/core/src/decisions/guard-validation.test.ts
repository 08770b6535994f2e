import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WardwrightError } from '../errors/wardwright-error.ts';
import { schemaIssues } from '../schema/validator.ts';
import {
  answerNotDraft,
  answerV1,
  configA,
  issuesOf,
  minimumConfidence,
  NOT_JSON,
  outputConfigs,
  outputText,
  planA,
  VALID,
} from './guard-loop.fixtures.ts';
import { compileGuardLoop } from './guard-loop-config.ts';
import { validateOutput } from './guard-validation.ts';
import {
  MAX_ERRORS,
  SemanticEvidenceSchema,
  ValidationErrorSchema,
  ValidationFailureSchema,
  type ValidationResult,
  ValidationResultSchema,
} from './guard-validation-result.ts';

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

describe('validation result schemas', () => {
  it('every result validateOutput returns fits ValidationResultSchema, and each part its own schema', () => {
    const plans = outputConfigs.map((config) => compileGuardLoop(config));
    const seen = new Set<string>();
    function check(result: ValidationResult): void {
      expect(schemaIssues(ValidationResultSchema, result)).toEqual([]);
      if (result.ok) {
        seen.add('ok');
        return;
      }
      expect(schemaIssues(ValidationFailureSchema, result)).toEqual([]);
      for (const error of result.errors) {
        expect(schemaIssues(ValidationErrorSchema, error)).toEqual([]);
      }
      seen.add(result.guard_type);
      if (result.error_count > result.errors.length) seen.add('cut');
      if (result.guard_type === 'semantic_validation') {
        expect(schemaIssues(SemanticEvidenceSchema, result.evidence)).toEqual([]);
        seen.add(
          result.evidence.kind === 'json_path_number'
            ? `found:${result.evidence.found}`
            : result.evidence.kind,
        );
      }
    }
    fc.assert(
      fc.property(outputText, (text) => {
        for (const plan of plans) check(validateOutput(plan, text));
      }),
      { numRuns: 300 },
    );
    // The property saw every shape the schemas describe.
    expect([...seen].sort()).toEqual([
      'cut',
      'found:array',
      'found:boolean',
      'found:missing',
      'found:null',
      'found:number',
      'found:object',
      'found:string',
      'json_path_string_not_contains',
      'json_syntax',
      'ok',
      'schema_validation',
      'semantic_validation',
    ]);
  });

  it('the schemas reject shapes validateOutput never returns', () => {
    const semantic = validateOutput(planA, '{"answer":"a","confidence":0.1}');
    const schema = validateOutput(planA, '{"answer":"a"}');
    const success = validateOutput(planA, VALID);
    expect(schemaIssues(ValidationFailureSchema, semantic)).toEqual([]);
    const rejected: unknown[] = [
      { ...semantic, evidence: undefined },
      { ...schema, evidence: (semantic as { evidence: unknown }).evidence },
      { ...schema, errors: [] },
      { ...schema, errors: Array(MAX_ERRORS + 1).fill({ path: '', message: 'x' }) },
      { ...schema, error_count: 0 },
      { ...schema, guard_type: 'semantic' },
      { ...success, ok: false },
      { ...success, schema_id: undefined },
      { ...success, extra: 1 },
    ];
    for (const value of rejected) {
      expect(schemaIssues(ValidationResultSchema, value), JSON.stringify(value)).not.toEqual([]);
    }
    expect(
      schemaIssues(SemanticEvidenceSchema, {
        kind: 'json_path_number',
        path: '/a',
        found: 'undefined',
      }),
    ).not.toEqual([]);
  });
});

describe('evidence ownership', () => {
  it('hands out evidence the caller may edit without changing the compiled plan', () => {
    const plan = compileGuardLoop({
      schemas: [{ id: 'any', schema: { type: 'object' } }],
      semantic_rules: [{ id: 'min', kind: 'json_path_number', path: '/n', gte: 0.5 }],
    });
    const first = validateOutput(plan, '{"n":0.1}');
    const snapshot = structuredClone(first);
    expect(first).toMatchObject({ evidence: { violated: { bound: 'gte', limit: 0.5 } } });
    // A receipt consumer "redacting" the evidence it was handed:
    Object.assign((first as unknown as { evidence: { violated: object } }).evidence.violated, {
      limit: 0,
    });
    expect(validateOutput(plan, '{"n":0.1}')).toEqual(snapshot);
  });
});
