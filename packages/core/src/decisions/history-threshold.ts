import Type, { type Static } from 'typebox';
import { ConfigError, type ConfigIssue } from '../errors/config-error.ts';
import { WardwrightError } from '../errors/wardwright-error.ts';
import { StringEnum, TaggedUnion } from '../schema/types.ts';
import { joinPath, schemaIssues } from '../schema/validator.ts';
import { compileRegex, type TextPattern } from '../text/pattern.ts';
import { assertNever } from '../util/assert-never.ts';
import type { HistoryEntry } from './history-entry.ts';

/**
 * History thresholds: count the caller's recent history entries (all of them, or those whose
 * text matches a regex) in a window and decide whether a rule is triggered. A rule only ever
 * sees the history of the caller's own scope value; when the caller has none, it sees nothing.
 */

const ruleFields = {
  id: Type.String({ minLength: 1, description: 'Unique among the rules; names the outcome.' }),
  scope: Type.String({
    minLength: 1,
    description:
      'Caller scope key whose value selects the history, e.g. `session_id`. Required: a rule never counts other scopes.',
  }),
  filter: Type.Optional(
    Type.Object(
      {
        kind: Type.Optional(Type.String({ minLength: 1, description: 'Exact entry kind.' })),
        key: Type.Optional(Type.String({ description: 'Exact entry key.' })),
      },
      { additionalProperties: false },
    ),
  ),
  threshold: Type.Integer({ minimum: 1, description: 'Triggered when count >= threshold.' }),
  window: Type.Optional(
    Type.Object(
      {
        last: Type.Optional(
          Type.Integer({ minimum: 1, description: 'Only the newest `last` entries in scope.' }),
        ),
        within_ms: Type.Optional(
          Type.Integer({
            minimum: 1,
            description: 'Only entries with created_at_ms in (now_ms - within_ms, now_ms].',
          }),
        ),
      },
      { additionalProperties: false },
    ),
  ),
};

export const HistoryCountRuleSchema = Type.Object(
  { ...ruleFields, kind: Type.Literal('count') },
  { additionalProperties: false },
);

export const HistoryRegexCountRuleSchema = Type.Object(
  {
    ...ruleFields,
    kind: Type.Literal('regex_count'),
    pattern: Type.String({
      minLength: 1,
      description: 'RE2 regex; counts the entries whose text contains a non-empty match.',
    }),
  },
  { additionalProperties: false },
);

export const HistoryRuleSchema = TaggedUnion('kind', [
  HistoryCountRuleSchema,
  HistoryRegexCountRuleSchema,
]);
export type HistoryRule = Static<typeof HistoryRuleSchema>;

const HistoryRulesSchema = Type.Array(HistoryRuleSchema);

interface CompiledRuleFields {
  readonly id: string;
  readonly scope: string;
  /** `null`: any kind. */
  readonly filter_kind: string | null;
  /** `null`: any key. */
  readonly filter_key: string | null;
  readonly threshold: number;
  /** `null`: no count limit. */
  readonly last: number | null;
  /** `null`: no time limit. */
  readonly within_ms: number | null;
}

export type CompiledHistoryRule =
  | (CompiledRuleFields & { readonly kind: 'count' })
  | (CompiledRuleFields & { readonly kind: 'regex_count'; readonly pattern: TextPattern });

export const MAX_MATCHED_SEQUENCES = 16;

export const HistoryRuleOutcomeKindSchema = StringEnum(['triggered', 'not_triggered'], {
  description: '`triggered` iff `count >= threshold`.',
});
export type HistoryRuleOutcomeKind = Static<typeof HistoryRuleOutcomeKindSchema>;

export const HistoryRuleEvidenceSchema = Type.Object(
  {
    scope_key: Type.String({
      minLength: 1,
      description: 'The rule’s `scope`: the caller scope key it reads.',
    }),
    scope_value: Type.Union([Type.String(), Type.Null()], {
      description: 'The caller’s value for `scope_key`; null when it has none.',
    }),
    reason: Type.Optional(
      StringEnum(['missing_scope'], {
        description: 'Present when the caller has no value for `scope_key`.',
      }),
    ),
    window: Type.Object(
      {
        last: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
        within_ms: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
      },
      { additionalProperties: false, description: 'The rule’s window; null: no such limit.' },
    ),
    considered: Type.Integer({
      minimum: 0,
      description: 'Entries in the window (in scope, matching the filter).',
    }),
    matched_sequences: Type.Array(Type.Integer({ minimum: 1 }), {
      maxItems: MAX_MATCHED_SEQUENCES,
      description: 'Sequences of the counted entries, newest first, at most 16.',
    }),
  },
  { additionalProperties: false },
);
export type HistoryRuleEvidence = Static<typeof HistoryRuleEvidenceSchema>;

export const HistoryRuleOutcomeSchema = Type.Object(
  {
    rule_id: Type.String({ minLength: 1, description: 'The `id` of the rule evaluated.' }),
    kind: HistoryRuleOutcomeKindSchema,
    count: Type.Integer({
      minimum: 0,
      description: 'Entries counted in the window (all of them, or those whose text matched).',
    }),
    threshold: Type.Integer({ minimum: 1 }),
    evidence: HistoryRuleEvidenceSchema,
  },
  { additionalProperties: false },
);
export type HistoryRuleOutcome = Static<typeof HistoryRuleOutcomeSchema>;

/**
 * Validate and compile history rules. Issue paths start at `path` (default `$.rules`, the
 * rules' place in a policy), so the same compiler serves a standalone list and an artifact.
 */
export function compileHistoryRules(
  rules: unknown,
  path = '$.rules',
): readonly CompiledHistoryRule[] {
  const reroot = (issue: ConfigIssue): ConfigIssue => ({
    ...issue,
    path: path + issue.path.slice(1),
  });
  const issues = schemaIssues(HistoryRulesSchema, rules).map(reroot);
  // Semantic checks run on every rule whose fields have the right type, so one error lists
  // schema and regex problems together.
  const list: unknown[] = Array.isArray(rules) ? rules : [];
  const firstIndexOfId = new Map<string, number>();
  const patterns = new Map<number, TextPattern>();
  list.forEach((raw, index) => {
    if (typeof raw !== 'object' || raw === null) return;
    const rule = raw as Record<string, unknown>;
    const at = joinPath(path, index);
    if (typeof rule.id === 'string' && rule.id !== '') {
      const first = firstIndexOfId.get(rule.id);
      if (first === undefined) firstIndexOfId.set(rule.id, index);
      else
        issues.push({
          path: joinPath(at, 'id'),
          message: `duplicates the id of ${joinPath(path, first)}`,
          expected: 'a unique rule id',
        });
    }
    if (rule.kind === 'regex_count' && typeof rule.pattern === 'string' && rule.pattern !== '') {
      const compiled = compileRegex(rule.pattern, joinPath(at, 'pattern'));
      if (compiled.ok) patterns.set(index, compiled.pattern);
      else issues.push(compiled.issue);
    }
  });
  if (issues.length > 0) throw new ConfigError('history rules', issues);

  return Object.freeze(
    (rules as HistoryRule[]).map((rule, index): CompiledHistoryRule => {
      const fields: CompiledRuleFields = {
        id: rule.id,
        scope: rule.scope,
        filter_kind: rule.filter?.kind ?? null,
        filter_key: rule.filter?.key ?? null,
        threshold: rule.threshold,
        last: rule.window?.last ?? null,
        within_ms: rule.window?.within_ms ?? null,
      };
      switch (rule.kind) {
        case 'count':
          return Object.freeze({ ...fields, kind: 'count' });
        case 'regex_count':
          return Object.freeze({ ...fields, kind: 'regex_count', pattern: patterns.get(index)! });
        default:
          return assertNever(rule, 'history rule');
      }
    }),
  );
}

/** `triggered` iff `count >= threshold`: the one comparison every history rule makes. */
export function classifyCount(count: number, threshold: number): HistoryRuleOutcomeKind {
  if (!(Number.isSafeInteger(count) && count >= 0)) {
    throw new WardwrightError({
      code: 'invalid_argument',
      message: `count must be a non-negative integer, got ${String(count)}`,
    });
  }
  if (!(Number.isSafeInteger(threshold) && threshold >= 1)) {
    throw new WardwrightError({
      code: 'invalid_argument',
      message: `threshold must be an integer >= 1, got ${String(threshold)}`,
    });
  }
  return count >= threshold ? 'triggered' : 'not_triggered';
}

/**
 * Evaluate one rule for a caller at `now_ms`.
 *
 * `entries` must be ascending by `(created_at_ms, sequence)` — a history store's
 * `state.entries` as is. The window is read by walking from the newest end and stopping as soon
 * as `last` entries were taken or the entries leave `within_ms`, so a decision costs the window,
 * not the store, and never sorts. Entries created after `now_ms` are ignored.
 */
export function evaluateHistoryRule(
  rule: CompiledHistoryRule,
  entries: readonly HistoryEntry[],
  caller_scope: Readonly<Record<string, string | undefined>>,
  now_ms: number,
): HistoryRuleOutcome {
  // `typeof` also rejects inherited members for an odd scope key such as `constructor`.
  const value = caller_scope[rule.scope];
  if (typeof value !== 'string' || value.trim() === '') {
    return {
      rule_id: rule.id,
      kind: 'not_triggered',
      count: 0,
      threshold: rule.threshold,
      evidence: {
        scope_key: rule.scope,
        scope_value: null,
        reason: 'missing_scope',
        window: { last: rule.last, within_ms: rule.within_ms },
        considered: 0,
        matched_sequences: [],
      },
    };
  }

  const scopeKey = rule.scope;
  const { filter_kind, filter_key } = rule;
  const last = rule.last ?? Number.POSITIVE_INFINITY;
  // Window is (now_ms - within_ms, now_ms]: an entry exactly within_ms old has left it.
  const oldest = rule.within_ms === null ? Number.NEGATIVE_INFINITY : now_ms - rule.within_ms;
  const pattern = patternOf(rule);
  const memo = pattern === null ? undefined : memoOf(pattern);
  const matched: number[] = [];
  let considered = 0;
  let count = 0;
  for (let i = entries.length - 1; i >= 0 && considered < last; i--) {
    const entry = entries[i]!;
    const t = entry.created_at_ms;
    if (t > now_ms) continue;
    if (t <= oldest) break;
    if (entry.scope[scopeKey] !== value) continue;
    if (filter_kind !== null && entry.kind !== filter_kind) continue;
    if (filter_key !== null && entry.key !== filter_key) continue;
    considered++;
    if (pattern === null || matches(pattern, memo!, entry)) {
      count++;
      if (matched.length < MAX_MATCHED_SEQUENCES) matched.push(entry.sequence);
    }
  }
  return {
    rule_id: rule.id,
    kind: count >= rule.threshold ? 'triggered' : 'not_triggered',
    count,
    threshold: rule.threshold,
    evidence: {
      scope_key: scopeKey,
      scope_value: value,
      window: { last: rule.last, within_ms: rule.within_ms },
      considered,
      matched_sequences: matched,
    },
  };
}

/**
 * Each request re-reads the same history, and an entry never changes once stored, so whether a
 * pattern matches an entry is computed once and remembered for as long as the entry lives.
 * Purely a cache: the outcome is the same with or without it.
 */
const matchMemo = new WeakMap<TextPattern, WeakMap<HistoryEntry, boolean>>();

function memoOf(pattern: TextPattern): WeakMap<HistoryEntry, boolean> {
  let memo = matchMemo.get(pattern);
  if (memo === undefined) {
    memo = new WeakMap();
    matchMemo.set(pattern, memo);
  }
  return memo;
}

function matches(
  pattern: TextPattern,
  memo: WeakMap<HistoryEntry, boolean>,
  entry: HistoryEntry,
): boolean {
  let hit = memo.get(entry);
  if (hit === undefined) {
    hit = pattern.test(entry.text);
    memo.set(entry, hit);
  }
  return hit;
}

/** The regex a rule counts with; `null` counts every entry in the window. */
function patternOf(rule: CompiledHistoryRule): TextPattern | null {
  switch (rule.kind) {
    case 'count':
      return null;
    case 'regex_count':
      return rule.pattern;
    default:
      return assertNever(rule, 'history rule');
  }
}

/** Every rule's outcome, in declaration order. */
export function evaluateHistoryRules(
  rules: readonly CompiledHistoryRule[],
  entries: readonly HistoryEntry[],
  caller_scope: Readonly<Record<string, string | undefined>>,
  now_ms: number,
): HistoryRuleOutcome[] {
  return rules.map((rule) => evaluateHistoryRule(rule, entries, caller_scope, now_ms));
}
