import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import Type, { type Static } from 'typebox';
import { ConfigError, type ConfigIssue } from '../errors/config-error.ts';
import { WardwrightError } from '../errors/wardwright-error.ts';
import { StringEnum, TaggedUnion } from '../schema/types.ts';
import { joinPath, pointerToPath, schemaIssues } from '../schema/validator.ts';
import { assertNever } from '../util/assert-never.ts';
import { lookupJsonPointer, parseJsonPointer } from './json-pointer.ts';

/**
 * The structured-output guard loop: after each provider attempt, accept the output, retry with
 * feedback, or fail closed when the global or a per-rule failure budget is spent. A provider
 * failure passes straight through. Validation is strict JSON → JSON Schema 2020-12 alternatives
 * (ajv, compiled once per plan) → semantic rules on JSON Pointers.
 */

const MaxFailures = Type.Optional(
  Type.Integer({
    minimum: 1,
    description:
      'Failures of this rule that end the loop (`exhausted_rule_budget`). Overrides `guard_loop.max_failures_per_rule`.',
  }),
);
const RuleId = Type.String({
  minLength: 1,
  description: 'Names the rule in guard events, budgets and feedback.',
});
const RulePath = Type.String({
  description: 'RFC 6901 JSON Pointer into the parsed output, e.g. `/confidence` or `/items/0`.',
});

const NumberRuleSchema = Type.Object(
  {
    id: RuleId,
    kind: Type.Literal('json_path_number'),
    path: RulePath,
    gte: Type.Optional(Type.Number()),
    gt: Type.Optional(Type.Number()),
    lte: Type.Optional(Type.Number()),
    lt: Type.Optional(Type.Number()),
    max_failures: MaxFailures,
  },
  {
    additionalProperties: false,
    description: 'Passes iff the value at `path` is a number and every given bound holds.',
  },
);

const NotContainsRuleSchema = Type.Object(
  {
    id: RuleId,
    kind: Type.Literal('json_path_string_not_contains'),
    path: RulePath,
    pattern: Type.String({
      minLength: 1,
      description: 'Literal text the string must not contain.',
    }),
    case_sensitive: Type.Optional(Type.Boolean({ description: 'Default false.' })),
    max_failures: MaxFailures,
  },
  {
    additionalProperties: false,
    description:
      'Fails iff the value at `path` is a string containing `pattern`; a missing or non-string value passes.',
  },
);

const SemanticRuleSchema = TaggedUnion('kind', [NumberRuleSchema, NotContainsRuleSchema]);

const FEEDBACK_MODES = ['detailed', 'generic', 'none'] as const;
const ON_EXHAUSTED = ['block', 'allow_last'] as const;

export const GuardLoopConfigSchema = Type.Object(
  {
    schemas: Type.Array(
      Type.Object(
        {
          id: Type.String({ minLength: 1, description: 'Unique; reported as `schema_id`.' }),
          schema: Type.Record(Type.String(), Type.Unknown(), {
            description: 'A JSON Schema 2020-12 document.',
          }),
        },
        { additionalProperties: false },
      ),
      {
        minItems: 1,
        description: 'Alternatives, tried in declaration order; the first that validates wins.',
      },
    ),
    semantic_rules: Type.Optional(
      Type.Array(SemanticRuleSchema, {
        description: 'Checked in order after a schema matched; the first failure is reported.',
      }),
    ),
    schema_rule_id: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Rule id for syntax and schema failures. Default `structured-json`.',
      }),
    ),
    guard_loop: Type.Optional(
      Type.Object(
        {
          max_attempts: Type.Optional(
            Type.Integer({ minimum: 1, description: 'Total provider attempts. Default 3.' }),
          ),
          max_failures_per_rule: Type.Optional(
            Type.Integer({
              minimum: 1,
              description:
                'Failure budget of every rule without its own `max_failures`. No default.',
            }),
          ),
          feedback: Type.Optional(
            StringEnum(FEEDBACK_MODES, { description: 'Retry feedback. Default `detailed`.' }),
          ),
          max_feedback_chars: Type.Optional(
            Type.Integer({
              minimum: 64,
              description: 'Upper bound on feedback length (UTF-16 units). Default 1000.',
            }),
          ),
          on_exhausted: Type.Optional(
            StringEnum(ON_EXHAUSTED, {
              description: 'What the caller should do once a budget is spent. Default `block`.',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type GuardLoopConfig = Static<typeof GuardLoopConfigSchema>;
export type SemanticRuleConfig = Static<typeof SemanticRuleSchema>;

export type GuardType = 'json_syntax' | 'schema_validation' | 'semantic_validation';
export type GuardFeedbackMode = (typeof FEEDBACK_MODES)[number];
export type GuardOnExhausted = (typeof ON_EXHAUSTED)[number];
export type SuccessStatus = 'completed' | 'completed_after_guard';
export type BudgetOutcome = 'continue' | 'exhausted_rule_budget' | 'exhausted_guard_budget';

/** The resolved, frozen settings of a plan (defaults applied), for receipts and review. */
export interface CompiledGuardLoop {
  readonly schema_ids: readonly string[];
  readonly schema_rule_id: string;
  readonly semantic_rule_ids: readonly string[];
  readonly max_attempts: number;
  readonly max_failures_per_rule: number | null;
  /** Every rule id → its failure budget, or null when only the global budget applies. */
  readonly rule_budgets: Readonly<Record<string, number | null>>;
  readonly feedback: GuardFeedbackMode;
  readonly max_feedback_chars: number;
  readonly on_exhausted: GuardOnExhausted;
}

/** One validation error: `path` is a JSON Pointer into the output (`""` = the whole output). */
export interface ValidationError {
  path: string;
  message: string;
}

export type NumberBoundKind = 'gte' | 'gt' | 'lte' | 'lt';
export type FoundKind = 'missing' | 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object';

/** What a failing semantic rule saw. */
export type SemanticEvidence =
  | {
      kind: 'json_path_number';
      path: string;
      found: FoundKind;
      /** The number found, when one was. */
      value?: number;
      /** The first bound it violated, when it was a number. */
      violated?: { bound: NumberBoundKind; limit: number };
    }
  | {
      kind: 'json_path_string_not_contains';
      path: string;
      pattern: string;
      case_sensitive: boolean;
    };

export type ValidationResult =
  | { ok: true; schema_id: string; value: unknown }
  | {
      ok: false;
      guard_type: 'json_syntax' | 'schema_validation';
      rule_id: string;
      /** At most `MAX_ERRORS`; `error_count` says how many there were. */
      errors: ValidationError[];
      error_count: number;
    }
  | {
      ok: false;
      guard_type: 'semantic_validation';
      rule_id: string;
      errors: ValidationError[];
      error_count: number;
      evidence: SemanticEvidence;
    };
export type ValidationFailure = Extract<ValidationResult, { ok: false }>;

export interface GuardEvent {
  type: 'structured_output.guard';
  attempt_index: number;
  rule_id: string;
  guard_type: GuardType;
  errors: ValidationError[];
  error_count: number;
  evidence?: SemanticEvidence;
}

export interface GuardFeedback {
  readonly role: 'system';
  readonly name: 'wardwright_structured_output_guard';
  readonly content: string;
}

export type GuardAttempt =
  | { kind: 'completed'; text: string }
  | { kind: 'provider_failed'; status: string; message?: string };

export interface GuardLoopState {
  /** Completed attempts consumed so far; the next attempt's index. */
  attempt_count: number;
  /** Failures per rule id. */
  rule_failures: Record<string, number>;
  events: GuardEvent[];
  /** True once a terminal decision was made; stepping further is a caller bug. */
  finished: boolean;
}

/** The counts a budget decision compared. */
export interface GuardBudget {
  rule_id: string;
  rule_failures: number;
  rule_budget: number | null;
  attempt_count: number;
  max_attempts: number;
}

export type GuardLoopDecision =
  | {
      kind: 'accept';
      status: SuccessStatus;
      schema_id: string;
      value: unknown;
      attempt_count: number;
    }
  | {
      kind: 'retry';
      /** Index of the next attempt. */
      attempt_index: number;
      event: GuardEvent;
      feedback: GuardFeedback | null;
      budget: GuardBudget;
    }
  | {
      kind: 'exhausted';
      status: 'exhausted_rule_budget';
      rule_id: string;
      on_exhausted: GuardOnExhausted;
      attempt_count: number;
      event: GuardEvent;
      budget: GuardBudget;
      /** The last output, only when `on_exhausted` is `allow_last`. */
      last_text?: string;
    }
  | {
      kind: 'exhausted';
      status: 'exhausted_guard_budget';
      on_exhausted: GuardOnExhausted;
      attempt_count: number;
      event: GuardEvent;
      budget: GuardBudget;
      last_text?: string;
    }
  | {
      kind: 'provider_failed';
      status: string;
      message?: string;
      /** Guard events before the failure, as in the original. */
      attempt_count: number;
    };

export type GuardLoopFinalDecision = Exclude<GuardLoopDecision, { kind: 'retry' }>;

export const DEFAULT_SCHEMA_RULE_ID = 'structured-json';
export const GUARD_FEEDBACK_NAME = 'wardwright_structured_output_guard';
/** Errors kept per validation result and guard event. */
export const MAX_ERRORS = 8;

const SUBJECT = 'structured output config';

type CompiledRule =
  | {
      kind: 'json_path_number';
      id: string;
      path: string;
      tokens: readonly string[];
      bounds: readonly { bound: NumberBoundKind; limit: number }[];
    }
  | {
      kind: 'json_path_string_not_contains';
      id: string;
      path: string;
      tokens: readonly string[];
      pattern: string;
      needle: string;
      case_sensitive: boolean;
    };

interface Internals {
  schemas: readonly { id: string; validate: ValidateFunction }[];
  rules: readonly CompiledRule[];
  schemaRuleId: string;
  budgets: ReadonlyMap<string, number>;
  genericFeedback: GuardFeedback;
  schemaList: string;
}

// Plans are plain frozen JSON for receipts; the compiled validators live beside them.
const internalsByPlan = new WeakMap<CompiledGuardLoop, Internals>();

function internalsOf(plan: CompiledGuardLoop): Internals {
  const internals = internalsByPlan.get(plan);
  if (internals === undefined) {
    throw new WardwrightError({
      code: 'invalid_argument',
      message: 'expected a guard-loop plan returned by compileGuardLoop',
    });
  }
  return internals;
}

/**
 * Validate a `structured_output` section and compile it: every JSON Schema once (one ajv
 * instance per plan), every pointer once. Throws one `ConfigError` listing every issue.
 */
export function compileGuardLoop(config: unknown): CompiledGuardLoop {
  const shapeIssues = schemaIssues(GuardLoopConfigSchema, config);
  if (shapeIssues.length > 0) throw new ConfigError(SUBJECT, withHints(config, shapeIssues));
  const parsed = config as GuardLoopConfig;
  const issues: ConfigIssue[] = [];

  const warnings: string[] = [];
  const ajv = new Ajv2020({
    strict: false,
    allErrors: true,
    // ajv reports unknown formats through its logger; collect them instead of printing.
    logger: {
      log: ignore,
      warn: (...args: unknown[]) => warnings.push(args.join(' ')),
      error: ignore,
    },
  });
  addFormats(ajv);

  const schemas: { id: string; validate: ValidateFunction }[] = [];
  const schemaIndex = new Map<string, number>();
  parsed.schemas.forEach((entry, i) => {
    const at = joinPath(joinPath('$.schemas', i), 'id');
    const first = schemaIndex.get(entry.id);
    if (first === undefined) schemaIndex.set(entry.id, i);
    else
      issues.push({
        path: at,
        message: `duplicates the schema id "${entry.id}" of $.schemas[${first}]`,
      });
    const schemaPath = joinPath(joinPath('$.schemas', i), 'schema');
    warnings.length = 0;
    try {
      // A private copy: later edits to the caller's object cannot change the compiled plan.
      const validate = ajv.compile(structuredClone(entry.schema));
      schemas.push({ id: entry.id, validate });
    } catch (error) {
      issues.push(schemaCompileIssue(schemaPath, error));
    }
    issues.push(...unknownFormatIssues(schemaPath, warnings));
  });

  const schemaRuleId = parsed.schema_rule_id ?? DEFAULT_SCHEMA_RULE_ID;
  const loop = parsed.guard_loop ?? {};
  const perRule = loop.max_failures_per_rule ?? null;
  const budgets = new Map<string, number>();
  if (perRule !== null) budgets.set(schemaRuleId, perRule);

  const rules: CompiledRule[] = [];
  const ruleIndex = new Map<string, number>();
  (parsed.semantic_rules ?? []).forEach((rule, i) => {
    const at = joinPath('$.semantic_rules', i);
    const first = ruleIndex.get(rule.id);
    if (rule.id === schemaRuleId) {
      issues.push({
        path: joinPath(at, 'id'),
        message: `is the schema rule id "${schemaRuleId}"; semantic rule ids must differ from it`,
        hint: 'rename the rule, or set `schema_rule_id` to another id',
      });
    } else if (first !== undefined) {
      issues.push({
        path: joinPath(at, 'id'),
        message: `duplicates the rule id "${rule.id}" of $.semantic_rules[${first}]`,
      });
    } else {
      ruleIndex.set(rule.id, i);
    }
    const budget = rule.max_failures ?? perRule;
    if (budget !== null) budgets.set(rule.id, budget);
    const pointer = parseJsonPointer(rule.path, joinPath(at, 'path'));
    if (!pointer.ok) {
      issues.push(pointer.issue);
      return;
    }
    switch (rule.kind) {
      case 'json_path_number': {
        const bounds: { bound: NumberBoundKind; limit: number }[] = [];
        for (const bound of ['gte', 'gt', 'lte', 'lt'] as const) {
          const limit = rule[bound];
          if (limit !== undefined) bounds.push({ bound, limit });
        }
        const empty = emptyRange(rule);
        if (empty !== undefined) issues.push({ path: at, message: empty });
        rules.push({
          kind: rule.kind,
          id: rule.id,
          path: rule.path,
          tokens: pointer.tokens,
          bounds,
        });
        break;
      }
      case 'json_path_string_not_contains': {
        const caseSensitive = rule.case_sensitive ?? false;
        rules.push({
          kind: rule.kind,
          id: rule.id,
          path: rule.path,
          tokens: pointer.tokens,
          pattern: rule.pattern,
          needle: caseSensitive ? rule.pattern : rule.pattern.toLowerCase(),
          case_sensitive: caseSensitive,
        });
        break;
      }
      default:
        assertNever(rule, 'semantic rule');
    }
  });
  if (issues.length > 0) throw new ConfigError(SUBJECT, issues);

  const ruleIds = [schemaRuleId, ...rules.map((r) => r.id)];
  const plan: CompiledGuardLoop = Object.freeze({
    schema_ids: Object.freeze(schemas.map((s) => s.id)),
    schema_rule_id: schemaRuleId,
    semantic_rule_ids: Object.freeze(rules.map((r) => r.id)),
    max_attempts: loop.max_attempts ?? 3,
    max_failures_per_rule: perRule,
    rule_budgets: Object.freeze(
      Object.fromEntries(ruleIds.map((id) => [id, budgets.get(id) ?? null])),
    ),
    feedback: loop.feedback ?? 'detailed',
    max_feedback_chars: loop.max_feedback_chars ?? 1000,
    on_exhausted: loop.on_exhausted ?? 'block',
  });
  const schemaList = plan.schema_ids.join(', ');
  internalsByPlan.set(plan, {
    schemas,
    rules,
    schemaRuleId,
    budgets,
    schemaList,
    genericFeedback: feedbackMessage(
      `${GENERIC_INSTRUCTION} Available schemas: ${schemaList}.`,
      plan.max_feedback_chars,
    ),
  });
  return plan;
}

function ignore(): void {}

function withHints(config: unknown, issues: ConfigIssue[]): ConfigIssue[] {
  const record = isObject(config) ? config : {};
  return issues.map((issue) => {
    if (issue.path === '$.schemas' && isObject(record.schemas)) {
      return {
        ...issue,
        hint: 'list alternatives in the order to try them: `[{ "id": "answer_v1", "schema": { … } }]`',
      };
    }
    if (issue.path === '$.guard_loop.on_violation') {
      return {
        ...issue,
        hint: '`on_violation` became `feedback`: `detailed`, `generic` or `none`',
      };
    }
    return issue;
  });
}

function schemaCompileIssue(path: string, error: unknown): ConfigIssue {
  // ajv throws Errors; structuredClone throws a DOMException, also an Error.
  const detail = (error as Error).message;
  const issue: ConfigIssue = { path, message: `is not a usable JSON Schema 2020-12: ${detail}` };
  if (/no schema with key or ref "http:\/\/json-schema\.org\/draft/.test(detail)) {
    issue.hint =
      'schemas are JSON Schema 2020-12: drop `$schema` or set it to https://json-schema.org/draft/2020-12/schema';
  }
  return issue;
}

function unknownFormatIssues(schemaPath: string, warnings: readonly string[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const warning of warnings) {
    const match = /^unknown format "(.*)" ignored in schema at path "#(.*)"$/.exec(warning);
    if (match === null || seen.has(warning)) continue;
    seen.add(warning);
    issues.push({
      path: schemaPath + pointerToPath(match[2]!).slice(1),
      message: `uses the unknown format "${match[1]}", which would never be checked`,
      hint: 'known formats include date-time, date, time, duration, email, hostname, ipv4, ipv6, uri, uuid, regex',
    });
  }
  return issues;
}

function emptyRange(rule: Static<typeof NumberRuleSchema>): string | undefined {
  const { gte, gt, lte, lt } = rule;
  const clash = (a: string, x: number, b: string, y: number, strict: boolean) =>
    (strict ? x >= y : x > y) ? `no number satisfies \`${a}\` ${x} and \`${b}\` ${y}` : undefined;
  return (
    (gte !== undefined && lte !== undefined ? clash('gte', gte, 'lte', lte, false) : undefined) ??
    (gte !== undefined && lt !== undefined ? clash('gte', gte, 'lt', lt, true) : undefined) ??
    (gt !== undefined && lte !== undefined ? clash('gt', gt, 'lte', lte, true) : undefined) ??
    (gt !== undefined && lt !== undefined ? clash('gt', gt, 'lt', lt, true) : undefined)
  );
}

// ---------------------------------------------------------------------------------------------
// Validation of one output

/** Validate one output: strict JSON → first matching schema alternative → semantic rules. */
export function validateOutput(plan: CompiledGuardLoop, text: string): ValidationResult {
  return validate(internalsOf(plan), text);
}

function validate(internals: Internals, text: string): ValidationResult {
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
            { kind: rule.kind, path: rule.path, found: 'number', value: found, violated },
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

// ---------------------------------------------------------------------------------------------
// The loop

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
          feedback: feedbackFor(plan, internals, event),
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

// ---------------------------------------------------------------------------------------------
// Feedback

const GENERIC_INSTRUCTION =
  'Your previous output failed Wardwright structured-output validation. Return only one JSON value that matches the configured schema, with no markdown fences and no surrounding prose.';

const STAGE: Record<GuardType, string> = {
  json_syntax: 'JSON syntax',
  schema_validation: 'schema',
  semantic_validation: 'semantic rule',
};

function feedbackFor(
  plan: CompiledGuardLoop,
  internals: Internals,
  event: GuardEvent,
): GuardFeedback | null {
  switch (plan.feedback) {
    case 'none':
      return null;
    case 'generic':
      return internals.genericFeedback;
    case 'detailed': {
      // The instruction comes first so that truncation only ever cuts the error list.
      let content =
        `Your previous output failed Wardwright structured-output validation at the ${STAGE[event.guard_type]} stage (rule \`${event.rule_id}\`). ` +
        `Return only one JSON value that matches one of these schemas: ${internals.schemaList}; no markdown fences and no surrounding prose.\nErrors:`;
      for (const error of event.errors) {
        content += `\n- ${error.path === '' ? '(the whole output)' : error.path}: ${error.message}`;
      }
      const more = event.error_count - event.errors.length;
      if (more > 0) content += `\n- … and ${more} more`;
      return feedbackMessage(content, plan.max_feedback_chars);
    }
    default:
      return assertNever(plan.feedback, 'feedback mode');
  }
}

function feedbackMessage(content: string, maxChars: number): GuardFeedback {
  return Object.freeze({
    role: 'system',
    name: GUARD_FEEDBACK_NAME,
    content: truncate(content, maxChars),
  });
}

function truncate(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  let cut = maxChars - 1;
  // Never leave half of a surrogate pair before the ellipsis.
  const last = text.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--;
  return `${text.slice(0, cut)}…`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
