import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import Type, { type Static } from 'typebox';
import { ConfigError, type ConfigIssue } from '../errors/config-error.ts';
import { WardwrightError } from '../errors/wardwright-error.ts';
import { StringEnum, TaggedUnion } from '../schema/types.ts';
import { joinPath, pointerToPath, schemaIssues } from '../schema/validator.ts';
import { assertNever } from '../util/assert-never.ts';
import {
  type CompiledFeedback,
  compileFeedback,
  FEEDBACK_MODES,
  type GuardFeedbackMode,
} from './guard-feedback.ts';
import type { NumberBoundKind } from './guard-validation-result.ts';
import { parseJsonPointer } from './json-pointer.ts';

/**
 * The guard loop's configuration (the artifact's `structured_output`) and its compilation into
 * a plan: defaults resolved, every JSON Schema compiled once, every pointer parsed once. The
 * plan is plain frozen JSON for receipts; what the validator and the loop need besides lives
 * in the plan's private internals.
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

const Description = Type.Optional(
  Type.String({ description: 'What the rule is for, for reviewers.' }),
);

const NumberRuleSchema = Type.Object(
  {
    id: RuleId,
    description: Description,
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
    description: Description,
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

const ON_EXHAUSTED = ['block', 'allow_last'] as const;

export const GuardOnExhaustedSchema = StringEnum(ON_EXHAUSTED, {
  description:
    'The configured `guard_loop.on_exhausted`: `block` fails closed, `allow_last` hands back the last output.',
});
export type GuardOnExhausted = Static<typeof GuardOnExhaustedSchema>;

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

export const DEFAULT_SCHEMA_RULE_ID = 'structured-json';

const SUBJECT = 'structured output config';

/** A semantic rule with its pointer parsed and its needle prepared. */
export type CompiledRule =
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

/** What validation and the loop need from a plan, beside its public JSON. */
export interface Internals {
  schemas: readonly { id: string; validate: ValidateFunction }[];
  rules: readonly CompiledRule[];
  schemaRuleId: string;
  budgets: ReadonlyMap<string, number>;
  feedback: CompiledFeedback;
}

// Plans are plain frozen JSON for receipts; the compiled validators live beside them.
const internalsByPlan = new WeakMap<CompiledGuardLoop, Internals>();

/** The internals of a plan `compileGuardLoop` made; throws for any other object. */
export function internalsOf(plan: CompiledGuardLoop): Internals {
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
  internalsByPlan.set(plan, {
    schemas,
    rules,
    schemaRuleId,
    budgets,
    feedback: compileFeedback(plan.feedback, plan.max_feedback_chars, plan.schema_ids),
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

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
