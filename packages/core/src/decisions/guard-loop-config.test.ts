import { describe, expect, it } from 'vitest';
import {
  answerNotDraft,
  answerV1,
  configA,
  deepFreeze,
  issuesOf,
  minimumConfidence,
} from './guard-loop.fixtures.ts';
import { compileGuardLoop } from './guard-loop-config.ts';
import { validateOutput } from './guard-validation.ts';

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
