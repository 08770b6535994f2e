import type { ErrorObject } from 'ajv/dist/2020.js';
import { assertNever } from '../util/assert-never.ts';
import {
  type CompiledGuardLoop,
  type CompiledRule,
  type Internals,
  internalsOf,
} from './guard-loop-config.ts';
import {
  type FoundKind,
  MAX_ERRORS,
  type NumberBoundKind,
  type SemanticEvidence,
  type ValidationError,
  type ValidationFailure,
  type ValidationResult,
} from './guard-validation-result.ts';
import { lookupJsonPointer } from './json-pointer.ts';

/**
 * Validation of one structured output, in three stages: strict JSON, then the first JSON
 * Schema alternative that validates (ajv, compiled once per plan), then the semantic rules on
 * JSON Pointers, in declaration order. Each failure is located by a JSON Pointer and bounded
 * to `MAX_ERRORS` errors.
 */

/** Validate one output: strict JSON → first matching schema alternative → semantic rules. */
export function validateOutput(plan: CompiledGuardLoop, text: string): ValidationResult {
  return validate(internalsOf(plan), text);
}

/** `validateOutput` without the plan lookup, for the loop that already holds the internals. */
export function validate(internals: Internals, text: string): ValidationResult {
  if (typeof text !== 'string') {
    return syntaxFailure(
      internals,
      `must be the output text, got ${text === null ? 'null' : typeof text}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return syntaxFailure(internals, describeSyntaxError(text, error));
  }
  const { schemas } = internals;
  let schemaId: string | undefined;
  // Only allocated when an alternative fails; a valid output on the first schema costs nothing.
  let failed: ErrorObject[][] | undefined;
  for (const schema of schemas) {
    if (schema.validate(value)) {
      schemaId = schema.id;
      break;
    }
    failed ??= [];
    failed.push(schema.validate.errors as ErrorObject[]);
  }
  if (schemaId === undefined) return schemaFailure(internals, failed as ErrorObject[][]);
  for (const rule of internals.rules) {
    const failure = checkRule(rule, value);
    if (failure !== undefined) return failure;
  }
  return { ok: true, schema_id: schemaId, value };
}

function syntaxFailure(internals: Internals, message: string): ValidationFailure {
  return {
    ok: false,
    guard_type: 'json_syntax',
    rule_id: internals.schemaRuleId,
    errors: [{ path: '', message }],
    error_count: 1,
  };
}

function describeSyntaxError(text: string, error: unknown): string {
  const trimmed = text.trim();
  if (trimmed === '') return 'is empty; expected exactly one JSON value';
  if (trimmed.startsWith('```')) {
    return 'is wrapped in a markdown code fence; expected bare JSON with no fence or prose';
  }
  return `is not valid JSON: ${(error as Error).message}`;
}

function schemaFailure(internals: Internals, failed: ErrorObject[][]): ValidationFailure {
  // Slots are dealt round-robin, so no alternative crowds out the others' errors.
  let count = 0;
  for (const schemaErrors of failed) count += schemaErrors.length;
  const take = failed.map(() => 0);
  let slots = Math.min(MAX_ERRORS, count);
  for (let round = 0; slots > 0; round++) {
    for (let i = 0; i < failed.length && slots > 0; i++) {
      if (round < failed[i]!.length) {
        take[i]!++;
        slots--;
      }
    }
  }
  const errors: ValidationError[] = [];
  failed.forEach((schemaErrors, i) => {
    const id = internals.schemas[i]!.id;
    for (let j = 0; j < take[i]!; j++) errors.push(describeSchemaError(id, schemaErrors[j]!));
  });
  return {
    ok: false,
    guard_type: 'schema_validation',
    rule_id: internals.schemaRuleId,
    errors,
    error_count: count,
  };
}

function describeSchemaError(schemaId: string, error: ErrorObject): ValidationError {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return {
        path: `${error.instancePath}/${escapeToken(String(params.missingProperty))}`,
        message: `${schemaId}: is required`,
      };
    case 'additionalProperties':
    case 'unevaluatedProperties': {
      const key = params.additionalProperty ?? params.unevaluatedProperty;
      return {
        path: `${error.instancePath}/${escapeToken(String(key))}`,
        message: `${schemaId}: is not an allowed property`,
      };
    }
    default:
      return { path: error.instancePath, message: `${schemaId}: ${error.message}` };
  }
}

function escapeToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

function checkRule(rule: CompiledRule, value: unknown): ValidationFailure | undefined {
  const found = lookupJsonPointer(value, rule.tokens);
  switch (rule.kind) {
    case 'json_path_number': {
      if (typeof found !== 'number') {
        const kind = foundKind(found);
        return semanticFailure(
          rule.id,
          rule.path,
          kind === 'missing'
            ? 'is missing; expected a number'
            : `must be a number, got ${article(kind)}`,
          { kind: rule.kind, path: rule.path, found: kind },
        );
      }
      for (const violated of rule.bounds) {
        if (!holds(found, violated.bound, violated.limit)) {
          return semanticFailure(
            rule.id,
            rule.path,
            `must be ${OPERATOR[violated.bound]} ${violated.limit}, got ${found}`,
            {
              kind: rule.kind,
              path: rule.path,
              found: 'number',
              value: found,
              // A copy: evidence travels into receipts, and editing it must not edit the plan.
              violated: { bound: violated.bound, limit: violated.limit },
            },
          );
        }
      }
      return undefined;
    }
    case 'json_path_string_not_contains': {
      if (typeof found !== 'string') return undefined;
      const haystack = rule.case_sensitive ? found : found.toLowerCase();
      if (!haystack.includes(rule.needle)) return undefined;
      return semanticFailure(
        rule.id,
        rule.path,
        `must not contain ${JSON.stringify(rule.pattern)}${rule.case_sensitive ? '' : ' (in any letter case)'}`,
        {
          kind: rule.kind,
          path: rule.path,
          pattern: rule.pattern,
          case_sensitive: rule.case_sensitive,
        },
      );
    }
    default:
      return assertNever(rule, 'semantic rule');
  }
}

const OPERATOR = { gte: '>=', gt: '>', lte: '<=', lt: '<' } as const;

function holds(value: number, bound: NumberBoundKind, limit: number): boolean {
  switch (bound) {
    case 'gte':
      return value >= limit;
    case 'gt':
      return value > limit;
    case 'lte':
      return value <= limit;
    case 'lt':
      return value < limit;
    default:
      return assertNever(bound, 'bound');
  }
}

function semanticFailure(
  ruleId: string,
  path: string,
  message: string,
  evidence: SemanticEvidence,
): ValidationFailure {
  return {
    ok: false,
    guard_type: 'semantic_validation',
    rule_id: ruleId,
    errors: [{ path, message }],
    error_count: 1,
    evidence,
  };
}

function foundKind(value: unknown): FoundKind {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  switch (typeof value) {
    case 'boolean':
    case 'number':
    case 'string':
    case 'object':
      return typeof value as FoundKind;
    default:
      // The lookup's MISSING sentinel.
      return 'missing';
  }
}

function article(kind: FoundKind): string {
  return kind === 'array' || kind === 'object'
    ? `an ${kind}`
    : kind === 'null'
      ? 'null'
      : `a ${kind}`;
}
