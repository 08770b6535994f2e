import Type, { type Static } from 'typebox';
import { StringEnum, TaggedUnion } from '../schema/types.ts';

/**
 * What validating one structured output returns: success with the parsed value, or the failed
 * stage with its errors and, for a semantic rule, what the rule saw. Guard events and feedback
 * are built from these, so they live apart from the validator that produces them.
 */

/** Errors kept per validation result and guard event. */
export const MAX_ERRORS = 8;

export const GuardTypeSchema = StringEnum(
  ['json_syntax', 'schema_validation', 'semantic_validation'],
  { description: 'The validation stage that failed.' },
);
export type GuardType = Static<typeof GuardTypeSchema>;

export const NumberBoundKindSchema = StringEnum(['gte', 'gt', 'lte', 'lt']);
export type NumberBoundKind = Static<typeof NumberBoundKindSchema>;

export const FoundKindSchema = StringEnum(
  ['missing', 'null', 'boolean', 'number', 'string', 'array', 'object'],
  { description: 'The JSON type of the value at the rule’s path, or `missing`.' },
);
export type FoundKind = Static<typeof FoundKindSchema>;

/** One validation error: `path` is a JSON Pointer into the output (`""` = the whole output). */
export const ValidationErrorSchema = Type.Object(
  {
    path: Type.String({
      description: 'RFC 6901 JSON Pointer into the output; `""` is the whole output.',
    }),
    message: Type.String({
      description: 'Reads after the path; a schema error starts with the schema id.',
    }),
  },
  { additionalProperties: false },
);
export type ValidationError = Static<typeof ValidationErrorSchema>;

const RulePath = Type.String({ description: 'The rule’s JSON Pointer, as configured.' });

const NumberEvidenceSchema = Type.Object(
  {
    kind: Type.Literal('json_path_number'),
    path: RulePath,
    found: FoundKindSchema,
    value: Type.Optional(Type.Number({ description: 'The number found, when one was.' })),
    violated: Type.Optional(
      Type.Object(
        { bound: NumberBoundKindSchema, limit: Type.Number() },
        {
          additionalProperties: false,
          description: 'The first bound the number violated, in the order gte, gt, lte, lt.',
        },
      ),
    ),
  },
  { additionalProperties: false },
);

const NotContainsEvidenceSchema = Type.Object(
  {
    kind: Type.Literal('json_path_string_not_contains'),
    path: RulePath,
    pattern: Type.String({ description: 'The literal text the string contained.' }),
    case_sensitive: Type.Boolean(),
  },
  { additionalProperties: false },
);

/** What a failing semantic rule saw. */
export const SemanticEvidenceSchema = TaggedUnion(
  'kind',
  [NumberEvidenceSchema, NotContainsEvidenceSchema],
  { description: 'What the failing semantic rule saw.' },
);
export type SemanticEvidence = Static<typeof SemanticEvidenceSchema>;

const RuleId = Type.String({
  minLength: 1,
  description: 'The failing rule: `schema_rule_id` for syntax and schema failures.',
});
const Errors = Type.Array(ValidationErrorSchema, {
  minItems: 1,
  maxItems: MAX_ERRORS,
  description: 'At most 8, dealt round-robin across schema alternatives.',
});
const ErrorCount = Type.Integer({
  minimum: 1,
  description: 'Errors found, including those left out of `errors`.',
});

const ShapeFailureSchema = Type.Object(
  {
    ok: Type.Literal(false),
    guard_type: StringEnum(['json_syntax', 'schema_validation']),
    rule_id: RuleId,
    errors: Errors,
    error_count: ErrorCount,
  },
  { additionalProperties: false },
);

const SemanticFailureSchema = Type.Object(
  {
    ok: Type.Literal(false),
    guard_type: Type.Literal('semantic_validation'),
    rule_id: RuleId,
    errors: Errors,
    error_count: ErrorCount,
    evidence: SemanticEvidenceSchema,
  },
  { additionalProperties: false },
);

export const ValidationFailureSchema = TaggedUnion(
  'guard_type',
  [ShapeFailureSchema, SemanticFailureSchema],
  { description: 'An output that failed a validation stage.' },
);
export type ValidationFailure = Static<typeof ValidationFailureSchema>;

const ValidationSuccessSchema = Type.Object(
  {
    ok: Type.Literal(true),
    schema_id: Type.String({ description: 'The first schema alternative that validated.' }),
    value: Type.Unknown({ description: 'The parsed output, any JSON value.' }),
  },
  { additionalProperties: false },
);

// `ok` is a boolean, which a `discriminator` cannot tag on; the variants exclude each other
// through `ok`'s const anyway.
export const ValidationResultSchema = Type.Union([
  ValidationSuccessSchema,
  ValidationFailureSchema,
]);
export type ValidationResult = Static<typeof ValidationResultSchema>;
