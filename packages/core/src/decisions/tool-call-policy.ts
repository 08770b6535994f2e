import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { RegExpEngine } from 'ajv/dist/types/index.js';
import { RE2JS } from 're2js';
import Type, { type Static } from 'typebox';
import { ConfigError, type ConfigIssue } from '../errors/config-error.ts';
import { StringEnum, TaggedUnion } from '../schema/types.ts';
import { schemaIssues } from '../schema/validator.ts';
import { compileRegex, literalPattern, type TextPattern } from '../text/pattern.ts';
import { canonicalJson } from '../util/hash.ts';
import { type AlertSeverity, AlertSeveritySchema } from './actions.ts';
import { lookupJsonPointer, MISSING, parseJsonPointer } from './json-pointer.ts';

/**
 * Policy over the tool calls a model emits, decided before the client can act on them.
 *
 * Each call of an answer is checked — its arguments against the parameters schema the request
 * declared for the tool (when `validate_arguments` is on), then every rule in declaration
 * order — and the answer's verdict follows from the calls': a blocked call blocks the answer,
 * else a call whose rule asks for a retry re-asks the model (with every reminder, within the
 * budgets), else dropped calls are removed and the rest go out. Pure: the same calls, context
 * and ledger give the same decisions.
 */

const SUBJECT = 'tool-call policy';

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

const RuleId = Type.String({
  minLength: 1,
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]*$',
  description: 'Unique across the artifact; named in receipts.',
});

export const ArgumentMatcherSchema = Type.Object(
  {
    pointer: Type.String({
      description: 'JSON Pointer into the parsed arguments, e.g. `/command` (`""`: the whole).',
    }),
    contains: Type.Optional(Type.String({ minLength: 1, description: 'A literal substring.' })),
    regex: Type.Optional(
      Type.String({ minLength: 1, description: 'RE2 regex; `(?i)` for case-insensitive.' }),
    ),
    equals: Type.Optional(Type.Unknown({ description: 'A JSON value, compared exactly.' })),
    schema: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: 'A JSON Schema (2020-12) the value must satisfy.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Holds when the value at `pointer` exists and matches. Strings are matched as they are; other values as their JSON text.',
    anyOf: [
      { required: ['contains'] },
      { required: ['regex'] },
      { required: ['equals'] },
      { required: ['schema'] },
    ],
    errorMessage: 'needs exactly one matcher: `contains`, `regex`, `equals` or `schema`',
  },
);
export type ArgumentMatcher = Static<typeof ArgumentMatcherSchema>;

/** The actions a tool-call rule or script can take, by name (receipts record them so). */
export const ToolCallActionNameSchema = StringEnum([
  'block',
  'drop_call',
  'retry_with_reminder',
  'annotate',
  'alert',
  'transition_state',
]);

export const ToolCallActionSchema = TaggedUnion('action', [
  Type.Object(
    { action: Type.Literal('block'), reason: Type.Optional(Type.String({ minLength: 1 })) },
    {
      additionalProperties: false,
      description: 'Fail the answer closed: no call reaches the client.',
    },
  ),
  Type.Object(
    { action: Type.Literal('drop_call'), reason: Type.Optional(Type.String({ minLength: 1 })) },
    { additionalProperties: false, description: 'Remove this call; the others go out.' },
  ),
  Type.Object(
    {
      action: Type.Literal('retry_with_reminder'),
      reminder: Type.String({ minLength: 1, description: 'Told to the model on the retry.' }),
      max_retries: Type.Optional(
        Type.Integer({ minimum: 1, description: 'Retries this rule may cause. Default 1.' }),
      ),
    },
    {
      additionalProperties: false,
      description: 'Ask the model again with the reminder; when no retry is left, block.',
    },
  ),
  Type.Object(
    { action: Type.Literal('annotate'), message: Type.String({ minLength: 1 }) },
    { additionalProperties: false, description: 'Record the decision in the receipt only.' },
  ),
  Type.Object(
    {
      action: Type.Literal('transition_state'),
      machine_id: Type.String({ minLength: 1, description: 'A `state_machines[].id`.' }),
      event: Type.String({ minLength: 1, description: 'An event of that machine.' }),
    },
    {
      additionalProperties: false,
      description:
        'Send an event to the caller’s machine once the answer is decided (also when it is blocked).',
    },
  ),
  Type.Object(
    {
      action: Type.Literal('alert'),
      severity: Type.Optional(AlertSeveritySchema),
      message: Type.String({ minLength: 1 }),
    },
    {
      additionalProperties: false,
      description:
        'Queue an alert on every sink (one per rule and message in a request); the call itself is not changed by it.',
    },
  ),
]);
export type ToolCallAction = Static<typeof ToolCallActionSchema>;

/** Which tools a rule is about: shared by request `tool` rules and tool-call rules. */
export const ToolNameSelectors = {
  names: Type.Optional(
    Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description: 'Exact tool names, e.g. `shell.exec`.',
    }),
  ),
  namespaces: Type.Optional(
    Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description: 'Name prefixes before the first `.` (or `__`), e.g. `shell`.',
    }),
  ),
};

const ToolSelectorSchema = Type.Object(ToolNameSelectors, {
  additionalProperties: false,
  description: 'Which calls the rule looks at; every list given must hold. Omit: every call.',
});

export const ToolCallRuleSchema = Type.Object(
  {
    id: RuleId,
    description: Type.Optional(
      Type.String({ description: 'What the rule is for, for reviewers.' }),
    ),
    tool: Type.Optional(ToolSelectorSchema),
    arguments: Type.Optional(
      Type.Array(ArgumentMatcherSchema, {
        minItems: 1,
        description: 'The rule fires only when every matcher holds (a pattern to forbid).',
      }),
    ),
    require: Type.Optional(
      Type.Object(
        {
          arguments: Type.Optional(
            Type.Array(ArgumentMatcherSchema, {
              minItems: 1,
              description: 'Matchers every call must satisfy.',
            }),
          ),
          state: Type.Optional(
            Type.Object(
              {
                machine: Type.String({ minLength: 1, description: 'A `state_machines[].id`.' }),
                in: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
              },
              { additionalProperties: false },
            ),
          ),
        },
        {
          additionalProperties: false,
          minProperties: 1,
          description:
            'What a call must satisfy: the rule fires when any requirement fails (a caller with no machine state fails a state requirement).',
        },
      ),
    ),
    actions: Type.Array(ToolCallActionSchema, {
      minItems: 1,
      description: 'What happens to a call the rule fires on.',
    }),
  },
  { additionalProperties: false },
);
export type ToolCallRule = Static<typeof ToolCallRuleSchema>;

const ToolCallScriptRuleSchema = Type.Object(
  {
    id: RuleId,
    description: Type.Optional(Type.String()),
    script: Type.String({ minLength: 1, description: 'A key of `scripts`.' }),
    entry: Type.Optional(
      Type.String({ minLength: 1, description: 'Function to call. Default `decide_tool_calls`.' }),
    ),
    on_failure: Type.Optional(
      StringEnum(['fail_closed', 'fail_open'], {
        description:
          'When the script fails: `fail_closed` (default) blocks the answer; `fail_open` ignores it. The receipt names the failure either way.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const ToolCallPolicyConfigSchema = Type.Object(
  {
    validate_arguments: Type.Optional(
      Type.Object(
        {
          rule_id: Type.Optional(RuleId),
          on_invalid: Type.Optional(
            StringEnum(['retry', 'block', 'drop_call'], {
              description:
                'A call whose arguments are not JSON or break its declared parameters schema. Default `retry` (with feedback naming the path).',
            }),
          ),
          max_retries: Type.Optional(
            Type.Integer({ minimum: 1, description: 'Retries for invalid arguments. Default 1.' }),
          ),
        },
        {
          additionalProperties: false,
          description:
            'Check each call against the tool the request declared (`tools[].function.parameters`). Rule id default `tool-arguments`.',
        },
      ),
    ),
    max_retries_total: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'Retries tool-call decisions may cause per request. Default 2.',
      }),
    ),
    rules: Type.Optional(Type.Array(ToolCallRuleSchema, { description: 'In declaration order.' })),
    script_rules: Type.Optional(
      Type.Array(ToolCallScriptRuleSchema, {
        description: 'Scripts that receive the emitted calls and decide on them, after the rules.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ToolCallPolicyConfig = Static<typeof ToolCallPolicyConfigSchema>;

/** What a tool-call script returns: decisions on calls by id (at most 64). */
export const ToolCallScriptOutputSchema = Type.Object(
  {
    decisions: Type.Array(
      Type.Object(
        {
          call_id: Type.String({ minLength: 1 }),
          action: ToolCallActionNameSchema,
        },
        { additionalProperties: true },
      ),
      { maxItems: 64 },
    ),
    note: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

interface CompiledMatcher {
  readonly pointer: string;
  readonly tokens: readonly string[];
  readonly test: (value: unknown) => boolean;
  /** How it matches, for evidence: `regex rm\s+-rf`. */
  readonly describe: string;
}

export interface CompiledToolCallRule {
  readonly id: string;
  readonly names: ReadonlySet<string> | null;
  readonly namespaces: ReadonlySet<string> | null;
  readonly match: readonly CompiledMatcher[];
  readonly require_arguments: readonly CompiledMatcher[];
  readonly require_state: { machine: string; in: ReadonlySet<string> } | null;
  readonly actions: readonly ToolCallAction[];
}

export interface CompiledToolCallPolicy {
  readonly validate: {
    rule_id: string;
    on_invalid: 'retry' | 'block' | 'drop_call';
    max_retries: number;
  } | null;
  readonly max_retries_total: number;
  readonly rules: readonly CompiledToolCallRule[];
  readonly script_rules: readonly {
    id: string;
    script: string;
    entry: string;
    on_failure: 'fail_closed' | 'fail_open';
  }[];
  /** The machines (and events) the rules name, for the artifact to check. */
  readonly machines: readonly { rule_id: string; machine: string; event?: string; path: string }[];
}

export const DEFAULT_ARGUMENTS_RULE_ID = 'tool-arguments';

/** Validate a `tool_calls` section and compile it: every regex, pointer and schema once. */
export function compileToolCallPolicy(config: unknown): CompiledToolCallPolicy {
  const shape = schemaIssues(ToolCallPolicyConfigSchema, config);
  if (shape.length > 0) throw new ConfigError(SUBJECT, shape);
  const parsed = config as ToolCallPolicyConfig;
  const issues: ConfigIssue[] = [];
  const ajv = schemaCompiler();
  const machines: { rule_id: string; machine: string; event?: string; path: string }[] = [];
  const rules = (parsed.rules ?? []).map((rule, i): CompiledToolCallRule => {
    const at = `$.rules[${i}]`;
    const matchers = (list: ArgumentMatcher[] | undefined, path: string) =>
      (list ?? []).flatMap((m, j) => {
        const compiled = compileMatcher(m, `${path}[${j}]`, ajv, issues);
        return compiled === null ? [] : [compiled];
      });
    rule.actions.forEach((action, j) => {
      if (action.action !== 'transition_state') return;
      machines.push({
        rule_id: rule.id,
        machine: action.machine_id,
        event: action.event,
        path: `${at}.actions[${j}]`,
      });
    });
    if (rule.require?.state !== undefined) {
      machines.push({
        rule_id: rule.id,
        machine: rule.require.state.machine,
        path: `${at}.require.state.machine`,
      });
    }
    return {
      id: rule.id,
      names: rule.tool?.names === undefined ? null : new Set(rule.tool.names),
      namespaces: rule.tool?.namespaces === undefined ? null : new Set(rule.tool.namespaces),
      match: matchers(rule.arguments, `${at}.arguments`),
      require_arguments: matchers(rule.require?.arguments, `${at}.require.arguments`),
      require_state:
        rule.require?.state === undefined
          ? null
          : { machine: rule.require.state.machine, in: new Set(rule.require.state.in) },
      actions: rule.actions,
    };
  });
  const seen = new Map<string, string>();
  const ids = [
    ...rules.map((rule, i) => [rule.id, `$.rules[${i}]`] as const),
    ...(parsed.script_rules ?? []).map((rule, i) => [rule.id, `$.script_rules[${i}]`] as const),
  ];
  for (const [id, at] of ids) {
    const first = seen.get(id);
    if (first === undefined) seen.set(id, at);
    else issues.push({ path: `${at}.id`, message: `repeats the rule id of ${first}` });
  }
  if (issues.length > 0) throw new ConfigError(SUBJECT, issues);
  const v = parsed.validate_arguments;
  return {
    validate:
      v === undefined
        ? null
        : {
            rule_id: v.rule_id ?? DEFAULT_ARGUMENTS_RULE_ID,
            on_invalid: v.on_invalid ?? 'retry',
            max_retries: v.max_retries ?? 1,
          },
    max_retries_total: parsed.max_retries_total ?? 2,
    rules,
    script_rules: (parsed.script_rules ?? []).map((r) => ({
      id: r.id,
      script: r.script,
      entry: r.entry ?? 'decide_tool_calls',
      on_failure: r.on_failure ?? 'fail_closed',
    })),
    machines,
  };
}

/**
 * `pattern` through RE2, as every regex here: the parameters schemas come from the client's
 * request, and a backtracking pattern such as `^(a+)+$` must not stall the host on an argument
 * the model wrote. A pattern RE2 cannot compile makes its schema check nothing.
 */
const re2: RegExpEngine = Object.assign(
  (pattern: string) => {
    const compiled = RE2JS.compile(pattern);
    return {
      test: (text: string) => compiled.test(text),
      // ajv keys compiled patterns by their text: without it, every pattern is the first one.
      toString: () => `/${pattern}/`,
    };
  },
  { code: 'RE2' },
);

function schemaCompiler(): Ajv2020 {
  return new Ajv2020({ strict: false, allErrors: false, logger: false, code: { regExp: re2 } });
}

function compileMatcher(
  m: ArgumentMatcher,
  path: string,
  ajv: Ajv2020,
  issues: ConfigIssue[],
): CompiledMatcher | null {
  const pointer = parseJsonPointer(m.pointer, `${path}.pointer`);
  if (!pointer.ok) {
    issues.push(pointer.issue);
    return null;
  }
  const count = [m.contains, m.regex, m.equals, m.schema].filter((x) => x !== undefined).length;
  if (count !== 1) {
    issues.push({
      path,
      message: 'needs exactly one matcher: `contains`, `regex`, `equals` or `schema`',
    });
    return null;
  }
  const tokens = pointer.tokens;
  const textual = (pattern: TextPattern, describe: string): CompiledMatcher => ({
    pointer: m.pointer,
    tokens,
    describe,
    test: (value) => pattern.test(typeof value === 'string' ? value : JSON.stringify(value)),
  });
  if (m.contains !== undefined)
    return textual(literalPattern(m.contains), `contains ${m.contains}`);
  if (m.regex !== undefined) {
    const compiled = compileRegex(m.regex, `${path}.regex`);
    if (!compiled.ok) {
      issues.push(compiled.issue);
      return null;
    }
    return textual(compiled.pattern, `regex ${m.regex}`);
  }
  if (m.equals !== undefined) {
    const expected = canonicalJson(m.equals);
    return {
      pointer: m.pointer,
      tokens,
      describe: `equals ${expected}`,
      test: (value) => canonicalJson(value) === expected,
    };
  }
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(structuredClone(m.schema as object));
  } catch (error) {
    issues.push({
      path: `${path}.schema`,
      message: `is not a valid JSON Schema: ${error instanceof Error ? error.message : String(error)}`,
    });
    return null;
  }
  return {
    pointer: m.pointer,
    tokens,
    describe: 'schema',
    test: (value) => validate(value) === true,
  };
}

// ---------------------------------------------------------------------------------------------
// Deciding
// ---------------------------------------------------------------------------------------------

/** A call as the model emitted it. */
export interface EmittedCall {
  id: string;
  name: string;
  /** The arguments' JSON text. */
  arguments: string;
}

/** What a decision rests on: where in the arguments, and what was there. */
export interface ToolCallEvidence {
  /** The JSON Pointer looked at; absent for a decision on the whole call. */
  pointer?: string;
  /** Up to 120 characters of what was found there (or of the arguments). */
  excerpt?: string;
  /** Why, in words: `regex rm\s+-rf matched`, `at /city: must be string`. */
  reason: string;
}

export interface ToolCallDecision {
  call_id: string;
  tool: string;
  rule_id: string;
  action: ToolCallAction['action'];
  evidence: ToolCallEvidence;
}

/** Retries spent so far in this request, in total and by rule. */
export interface ToolCallLedger {
  readonly total: number;
  readonly by_rule: Readonly<Record<string, number>>;
}

export const EMPTY_TOOL_CALL_LEDGER: ToolCallLedger = Object.freeze({ total: 0, by_rule: {} });

/** A tool's declared parameters, compiled: what the request offered under that name. */
export type DeclaredTools = ReadonlyMap<string, { validate: ValidateFunction | null }>;

export interface ToolCallContext {
  /** The tools the request declared; `validate_arguments` checks calls against them. */
  readonly declared: DeclaredTools;
  /** A machine's state for the caller; null when it has none. */
  readonly stateOf: (machine: string) => string | null;
  readonly ledger: ToolCallLedger;
  /** What script rules decided, by call id: applied after the declared rules. */
  readonly scripted?: ReadonlyMap<string, readonly ScriptedAction[]>;
}

/** An action a script rule took on one call. */
export interface ScriptedAction {
  rule_id: string;
  action: ToolCallAction;
}

export type ToolCallVerdict =
  /** The calls that go out (in order), and the ones removed. */
  | { kind: 'allow'; calls: EmittedCall[]; dropped: string[] }
  | { kind: 'block'; call_id: string; rule_id: string; reason: string }
  | { kind: 'retry'; reminders: string[]; ledger: ToolCallLedger }
  /** A rule asked for a retry with none left: fail closed. */
  | { kind: 'exhausted'; call_id: string; rule_id: string };

/** An alert a rule raised on a call. */
export interface ToolCallAlert {
  rule_id: string;
  call_id: string;
  severity: AlertSeverity;
  message: string;
}

/** A state event a rule sent on a call. */
export interface ToolCallStateEvent {
  rule_id: string;
  call_id: string;
  machine_id: string;
  event: string;
}

export interface ToolCallOutcome {
  decisions: ToolCallDecision[];
  verdict: ToolCallVerdict;
  alerts: ToolCallAlert[];
  state_events: ToolCallStateEvent[];
}

/** Decide every call of one answer. */
export function decideToolCalls(
  policy: CompiledToolCallPolicy,
  calls: readonly EmittedCall[],
  context: ToolCallContext,
): ToolCallOutcome {
  const decisions: ToolCallDecision[] = [];
  let block: Extract<ToolCallVerdict, { kind: 'block' }> | null = null;
  let exhausted: Extract<ToolCallVerdict, { kind: 'exhausted' }> | null = null;
  const reminders: string[] = [];
  const asked = new Map<string, number>(); // retries asked for, by rule, in this answer
  const dropped: string[] = [];
  const kept: EmittedCall[] = [];
  const alerts: ToolCallAlert[] = [];
  const state_events: ToolCallStateEvent[] = [];

  for (const call of calls) {
    const parsed = parseArguments(call.arguments);
    let callDropped = false;
    const apply = (
      ruleId: string,
      action: ToolCallAction,
      evidence: ToolCallEvidence,
      limit: number,
    ) => {
      decisions.push({
        call_id: call.id,
        tool: call.name,
        rule_id: ruleId,
        action: action.action,
        evidence,
      });
      switch (action.action) {
        case 'block':
          block ??= {
            kind: 'block',
            call_id: call.id,
            rule_id: ruleId,
            reason: action.reason ?? evidence.reason,
          };
          return;
        case 'drop_call':
          callDropped = true;
          return;
        case 'retry_with_reminder': {
          // One retry re-asks for the whole answer, however many rules asked for it.
          const spent = (context.ledger.by_rule[ruleId] ?? 0) + (asked.get(ruleId) ?? 0);
          if (spent >= limit || context.ledger.total >= policy.max_retries_total) {
            exhausted ??= { kind: 'exhausted', call_id: call.id, rule_id: ruleId };
            return;
          }
          asked.set(ruleId, (asked.get(ruleId) ?? 0) + 1);
          if (!reminders.includes(action.reminder)) reminders.push(action.reminder);
          return;
        }
        case 'annotate':
          return;
        case 'transition_state':
          state_events.push({
            rule_id: ruleId,
            call_id: call.id,
            machine_id: action.machine_id,
            event: action.event,
          });
          return;
        case 'alert':
          alerts.push({
            rule_id: ruleId,
            call_id: call.id,
            severity: action.severity ?? 'info',
            message: action.message,
          });
          return;
      }
    };

    if (policy.validate !== null) {
      const problem = argumentProblem(call, parsed, context.declared);
      if (problem !== null) {
        const v = policy.validate;
        const action: ToolCallAction =
          v.on_invalid === 'retry'
            ? {
                action: 'retry_with_reminder',
                reminder: feedbackFor(call, problem),
                max_retries: v.max_retries,
              }
            : v.on_invalid === 'block'
              ? { action: 'block', reason: problem.reason }
              : { action: 'drop_call', reason: problem.reason };
        apply(v.rule_id, action, problem, v.max_retries);
      }
    }
    for (const rule of policy.rules) {
      if (!selects(rule, call.name)) continue;
      const evidence = fires(rule, call, parsed, context);
      if (evidence === null) continue;
      for (const action of rule.actions) {
        const limit = action.action === 'retry_with_reminder' ? (action.max_retries ?? 1) : 0;
        apply(rule.id, action, evidence, limit);
      }
    }
    for (const decided of context.scripted?.get(call.id) ?? []) {
      const action = decided.action;
      const said =
        action.action === 'annotate' || action.action === 'alert'
          ? action.message
          : action.action === 'block' || action.action === 'drop_call'
            ? action.reason
            : undefined;
      const limit = action.action === 'retry_with_reminder' ? (action.max_retries ?? 1) : 0;
      const reason = `decided by script${said === undefined ? '' : `: ${said}`}`;
      apply(decided.rule_id, action, { reason }, limit);
    }
    if (callDropped) dropped.push(call.id);
    else kept.push(call);
  }

  if (block !== null) return { decisions, verdict: block, alerts, state_events };
  if (exhausted !== null) return { decisions, verdict: exhausted, alerts, state_events };
  if (reminders.length > 0) {
    const by_rule: Record<string, number> = { ...context.ledger.by_rule };
    for (const [rule, n] of asked) by_rule[rule] = (by_rule[rule] ?? 0) + n;
    return {
      decisions,
      verdict: { kind: 'retry', reminders, ledger: { total: context.ledger.total + 1, by_rule } },
      alerts,
      state_events,
    };
  }
  return { decisions, verdict: { kind: 'allow', calls: kept, dropped }, alerts, state_events };
}

type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

function parseArguments(text: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(text === '' ? '{}' : text) };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/** `shell.exec` → `shell`; `github__create_issue` → `github`; a bare name is its own namespace. */
export function toolNamespace(name: string): string {
  const dot = name.indexOf('.');
  const dunder = name.indexOf('__');
  const cut = dot === -1 ? dunder : dunder === -1 ? dot : Math.min(dot, dunder);
  return cut > 0 ? name.slice(0, cut) : name;
}

function selects(rule: CompiledToolCallRule, name: string): boolean {
  if (rule.names !== null && !rule.names.has(name)) return false;
  if (rule.namespaces !== null && !rule.namespaces.has(toolNamespace(name))) return false;
  return true;
}

/** Why the rule fires on this call, or null when it does not. */
function fires(
  rule: CompiledToolCallRule,
  call: EmittedCall,
  parsed: Parsed,
  context: ToolCallContext,
): ToolCallEvidence | null {
  let evidence: ToolCallEvidence | null = null;
  for (const m of rule.match) {
    if (!parsed.ok) return null;
    const value = lookupJsonPointer(parsed.value, m.tokens);
    if (value === MISSING || !m.test(value)) return null;
    evidence ??= { pointer: m.pointer, excerpt: excerpt(value), reason: `${m.describe} matched` };
  }
  const noRequirement = rule.require_arguments.length === 0 && rule.require_state === null;
  if (noRequirement) {
    return evidence ?? { excerpt: excerpt(call.arguments), reason: `a call to ${call.name}` };
  }
  for (const m of rule.require_arguments) {
    const value = parsed.ok ? lookupJsonPointer(parsed.value, m.tokens) : MISSING;
    if (value === MISSING) {
      return { pointer: m.pointer, reason: `${m.pointer} is missing (required: ${m.describe})` };
    }
    if (!m.test(value)) {
      return {
        pointer: m.pointer,
        excerpt: excerpt(value),
        reason: `${m.pointer} does not satisfy ${m.describe}`,
      };
    }
  }
  if (rule.require_state !== null) {
    const state = context.stateOf(rule.require_state.machine);
    if (state === null || !rule.require_state.in.has(state)) {
      return {
        reason: `machine ${rule.require_state.machine} is ${state === null ? 'not started' : `in ${state}`}, not in ${[...rule.require_state.in].join(', ')}`,
      };
    }
  }
  return null;
}

/** What is wrong with a call's arguments, or null when they are valid. */
function argumentProblem(
  call: EmittedCall,
  parsed: Parsed,
  declared: DeclaredTools,
): ToolCallEvidence | null {
  if (!parsed.ok) {
    return {
      excerpt: excerpt(call.arguments),
      reason: `arguments are not valid JSON (${parsed.error})`,
    };
  }
  const tool = declared.get(call.name);
  if (tool === undefined) {
    return { reason: `the request offered no tool named ${call.name}` };
  }
  if (tool.validate === null || tool.validate(parsed.value) === true) return null;
  const error = (tool.validate.errors ?? [])[0] as ErrorObject | undefined;
  const pointer = error?.instancePath ?? '';
  const value = lookupJsonPointer(parsed.value, parseTokens(pointer));
  return {
    pointer,
    ...(value === MISSING ? {} : { excerpt: excerpt(value) }),
    reason: `at ${pointer === '' ? '/' : pointer}: ${error?.message ?? 'does not match the parameters schema'}`,
  };
}

function parseTokens(pointer: string): readonly string[] {
  const parsed = parseJsonPointer(pointer);
  return parsed.ok ? parsed.tokens : [];
}

function feedbackFor(call: EmittedCall, problem: ToolCallEvidence): string {
  return `Your call to the tool ${call.name} had invalid arguments: ${problem.reason}. Call it again with arguments that match its parameters.`;
}

function excerpt(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length <= 120 ? text : `${text.slice(0, 119)}…`;
}

// ---------------------------------------------------------------------------------------------
// Declared tools
// ---------------------------------------------------------------------------------------------

const declaredCache = new Map<string, ValidateFunction | null>();
const DECLARED_CACHE_LIMIT = 256;
let declaredAjv: Ajv2020 | null = null;

/**
 * The tools a request declares (OpenAI's `tools: [{ type: "function", function: { name,
 * parameters } }]`), their parameters compiled once per distinct schema (a bounded cache: agents
 * send the same tools on every turn). A schema that does not compile checks nothing.
 */
export function declaredTools(tools: unknown): DeclaredTools {
  const out = new Map<string, { validate: ValidateFunction | null }>();
  if (!Array.isArray(tools)) return out;
  for (const tool of tools) {
    const fn = (tool as { function?: { name?: unknown; parameters?: unknown } } | null)?.function;
    if (fn === undefined || typeof fn.name !== 'string') continue;
    out.set(fn.name, { validate: compileParameters(fn.parameters) });
  }
  return out;
}

function compileParameters(parameters: unknown): ValidateFunction | null {
  if (typeof parameters !== 'object' || parameters === null) return null;
  const key = canonicalJson(parameters);
  const cached = declaredCache.get(key);
  if (cached !== undefined) return cached;
  if (declaredCache.size >= DECLARED_CACHE_LIMIT) {
    // ajv keeps every schema it compiled: start both afresh rather than grow without bound.
    declaredCache.clear();
    declaredAjv = null;
  }
  declaredAjv ??= schemaCompiler();
  let validate: ValidateFunction | null;
  try {
    validate = declaredAjv.compile(structuredClone(parameters));
  } catch {
    validate = null;
  }
  declaredCache.set(key, validate);
  return validate;
}
