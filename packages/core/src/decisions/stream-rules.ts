import Type, { type Static, type TSchema } from 'typebox';
import { ConfigError, type ConfigIssue } from '../errors/config-error.ts';
import { TaggedUnion } from '../schema/types.ts';
import { joinPath, parseWithSchema } from '../schema/validator.ts';
import { compileRegex, literalPattern, type TextPattern } from '../text/pattern.ts';

/**
 * Configuration of TTSR (time-travel stream rewriting): the rules a stream governor applies to
 * a model's output while it streams, and how much output it may hold back to do so.
 */

const Id = Type.String({ minLength: 1, description: 'Unique rule id, reported in receipts.' });
const Contains = Type.String({ minLength: 1, description: 'Literal text to match.' });
const Regex = Type.String({
  minLength: 1,
  description: 'RE2 regex to match (linear time; no lookaround or backreferences).',
});
const HorizonBytes = Type.Integer({
  minimum: 0,
  description:
    'Bytes of output held back so a match that spans chunks is seen before any of it is ' +
    'released. Omit to hold the whole answer until the stream ends (full buffer).',
});
const MaxHoldMs = Type.Integer({
  minimum: 1,
  description: 'Fail closed when the oldest held byte has waited longer than this.',
});

/** Keys every rule may have, whatever its action. */
const common = {
  id: Id,
  description: Type.Optional(Type.String({ description: 'What the rule is for, for reviewers.' })),
  contains: Type.Optional(Contains),
  regex: Type.Optional(Regex),
  horizon_bytes: Type.Optional(HorizonBytes),
  max_hold_ms: Type.Optional(MaxHoldMs),
};

function rule<A extends string, P extends Record<string, TSchema>>(action: A, extra: P) {
  return Type.Object(
    { action: Type.Literal(action), ...common, ...extra },
    {
      additionalProperties: false,
      anyOf: [{ required: ['contains'] }, { required: ['regex'] }],
      not: { required: ['contains', 'regex'] },
      errorMessage: 'needs exactly one matcher: `contains` or `regex`',
    },
  );
}

const Replacement = Type.String({
  description: 'Text that replaces each match (taken literally). Default `[redacted]`.',
});

export const StreamRuleSchema = TaggedUnion('action', [
  rule('pass', {}),
  rule('annotate', { message: Type.Optional(Type.String()) }),
  rule('rewrite_chunk', { replacement: Type.Optional(Replacement) }),
  rule('rewrite_window', { replacement: Type.Optional(Replacement) }),
  rule('drop_chunk', {}),
  rule('block', { message: Type.Optional(Type.String()) }),
  rule('retry_with_reminder', {
    reminder: Type.String({
      minLength: 1,
      description: 'System message added to the prompt of the retried attempt.',
    }),
    max_retries: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Retries this rule may cause. Default 1.' }),
    ),
  }),
]);
export type StreamRule = Static<typeof StreamRuleSchema>;
export type StreamAction = StreamRule['action'];

export const StreamPolicyConfigSchema = Type.Object(
  {
    rules: Type.Array(StreamRuleSchema, { description: 'Applied in declaration order.' }),
    max_retries_total: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'Retries one request may make across all rules. Default 2.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type StreamPolicyConfig = Static<typeof StreamPolicyConfigSchema>;

export const DEFAULT_REPLACEMENT = '[redacted]';
export const DEFAULT_MAX_RETRIES = 1;
export const DEFAULT_MAX_RETRIES_TOTAL = 2;

/** How a rule's matches act on the stream; `pass` rules are kept only for review. */
export type CompiledStreamRule =
  | (RuleBase & { action: 'annotate'; message: string | null })
  | (RuleBase & { action: 'rewrite_chunk' | 'rewrite_window'; replacement: string })
  | (RuleBase & { action: 'drop_chunk' })
  | (RuleBase & { action: 'block'; message: string | null })
  | (RuleBase & { action: 'retry_with_reminder'; reminder: string; max_retries: number });

interface RuleBase {
  id: string;
  /** Position in the configured list, `pass` rules included. */
  index: number;
  pattern: TextPattern;
}

export const ReleaseModeSchema = TaggedUnion('kind', [
  Type.Object(
    { kind: Type.Literal('horizon'), horizon_bytes: Type.Integer({ minimum: 0 }) },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('full_buffer'),
      reason: Type.Literal('rule_without_horizon'),
      rule_id: Type.String({ description: 'The first active rule without a horizon.' }),
    },
    { additionalProperties: false },
  ),
]);
export type ReleaseMode = Static<typeof ReleaseModeSchema>;

export interface CompiledStreamPolicy {
  /** Active rules (every action but `pass`), in declaration order. */
  readonly rules: readonly CompiledStreamRule[];
  /** Ids of `pass` rules: configured but inert. */
  readonly inactive_rule_ids: readonly string[];
  readonly mode: ReleaseMode;
  /** The smallest `max_hold_ms` of any active rule, or null when none sets one. */
  readonly max_hold_ms: number | null;
  readonly max_retries_total: number;
  /** True when a rewrite or drop rule exists, so text may change between rule and release. */
  readonly transforms: boolean;
}

/**
 * Validate and compile a stream policy. Throws a `ConfigError` listing every problem: schema
 * violations, duplicate ids and regexes that RE2 cannot compile.
 */
export function compileStreamPolicy(config: unknown): CompiledStreamPolicy {
  const parsed = parseWithSchema(StreamPolicyConfigSchema, config, 'stream policy');
  const issues: ConfigIssue[] = [];
  const seen = new Map<string, number>();
  const rules: CompiledStreamRule[] = [];
  const inactive: string[] = [];
  let horizon = 0;
  let fullBufferRule: string | null = null;
  let maxHold: number | null = null;

  parsed.rules.forEach((raw, index) => {
    const path = joinPath(joinPath('$', 'rules'), index);
    const first = seen.get(raw.id);
    if (first !== undefined) {
      issues.push({
        path: joinPath(path, 'id'),
        message: `duplicates the id of rule ${first}`,
        expected: 'a unique rule id',
      });
    } else seen.set(raw.id, index);

    let pattern: TextPattern;
    if (raw.regex !== undefined) {
      const compiled = compileRegex(raw.regex, joinPath(path, 'regex'));
      if (!compiled.ok) {
        issues.push(compiled.issue);
        return;
      }
      pattern = compiled.pattern;
    } else pattern = literalPattern(raw.contains ?? '');

    if (raw.action === 'pass') {
      inactive.push(raw.id);
      return;
    }
    if (raw.horizon_bytes === undefined) fullBufferRule ??= raw.id;
    else horizon = Math.max(horizon, raw.horizon_bytes);
    if (raw.max_hold_ms !== undefined)
      maxHold = Math.min(maxHold ?? raw.max_hold_ms, raw.max_hold_ms);

    const base = { id: raw.id, index, pattern };
    switch (raw.action) {
      case 'annotate':
      case 'block':
        rules.push({ ...base, action: raw.action, message: raw.message ?? null });
        break;
      case 'rewrite_chunk':
      case 'rewrite_window':
        rules.push({
          ...base,
          action: raw.action,
          replacement: raw.replacement ?? DEFAULT_REPLACEMENT,
        });
        break;
      case 'drop_chunk':
        rules.push({ ...base, action: raw.action });
        break;
      case 'retry_with_reminder':
        rules.push({
          ...base,
          action: raw.action,
          reminder: raw.reminder,
          max_retries: raw.max_retries ?? DEFAULT_MAX_RETRIES,
        });
        break;
    }
  });
  if (issues.length > 0) throw new ConfigError('stream policy', issues);

  const mode: ReleaseMode =
    fullBufferRule === null
      ? { kind: 'horizon', horizon_bytes: horizon }
      : { kind: 'full_buffer', reason: 'rule_without_horizon', rule_id: fullBufferRule };
  return Object.freeze({
    rules: Object.freeze(rules),
    inactive_rule_ids: Object.freeze(inactive),
    mode,
    max_hold_ms: maxHold,
    max_retries_total: parsed.max_retries_total ?? DEFAULT_MAX_RETRIES_TOTAL,
    transforms: rules.some(
      (r) =>
        r.action === 'rewrite_chunk' || r.action === 'rewrite_window' || r.action === 'drop_chunk',
    ),
  });
}
