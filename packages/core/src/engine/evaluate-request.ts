import Type from 'typebox';
import {
  type Action,
  type ActionArbitration,
  arbitrateActions,
  RuleActionSchema,
} from '../decisions/actions.ts';
import type { HistoryEntry } from '../decisions/history-entry.ts';
import { evaluateHistoryRule } from '../decisions/history-threshold.ts';
import { estimatePromptTokens, type RouteDecision, selectRoute } from '../decisions/routes.ts';
import { nextTransition } from '../decisions/state-machine.ts';
import {
  type JsonValue,
  type SandboxFailure,
  sanitizeFailureMessage,
} from '../sandbox/contract.ts';
import { schemaIssues } from '../schema/validator.ts';
import { assertNever } from '../util/assert-never.ts';
import type { CompiledRequestRule, Plan } from './plan.ts';
import type { RuleOutcome, SandboxRecord, StateTransitionRecord } from './receipt.ts';
import {
  type Caller,
  type ChatMessage,
  type ChatRequest,
  contentText,
  lastUserMessage,
  renderRequestText,
  type ToolContext,
  toolContextOf,
  toolNamespace,
} from './request.ts';

/**
 * The request phase on its own: prompt transforms, every request rule in declaration order
 * (match, history, tool, script), action arbitration, and the state transitions the actions
 * ask for (computed, not applied: the caller owns state). Then `routeRequest` picks a target.
 */

/** A machine's state for the caller: `null` when the caller has no value for its scope. */
export interface MachineState {
  readonly scope_value: string;
  readonly state: string;
  readonly taken: Readonly<Record<string, number>>;
}

export interface RequestPhaseInput {
  request: ChatRequest;
  caller: Caller;
  now_ms: number;
  /** History ascending by `(created_at_ms, sequence)`, this request's entries included. */
  history: readonly HistoryEntry[];
  /** The entries of one scope value, when the store indexes that key (see `HistoryStore`). */
  scoped?: (scope_key: string, value: string) => readonly HistoryEntry[] | undefined;
  /** The caller's current state of a machine, or null when it has no scope value. */
  stateOf: (machine_id: string) => MachineState | null;
}

export interface RequestEvaluation {
  /** The messages to send: prompt transforms and reminders applied. */
  messages: ChatMessage[];
  request_text: string;
  estimated_prompt_tokens: number;
  prompt_transforms: ('preamble' | 'postscript')[];
  tool_context: ToolContext;
  rules: RuleOutcome[];
  arbitration: ActionArbitration;
  sandbox: SandboxRecord[];
  transitions: StateTransitionRecord[];
  determining_rule_ids: string[];
}

const PREAMBLE_NAME = 'wardwright_preamble';
const POSTSCRIPT_NAME = 'wardwright_postscript';
export const REMINDER_NAME = 'wardwright_policy_reminder';

export async function evaluateRequest(
  plan: Plan,
  input: RequestPhaseInput,
): Promise<RequestEvaluation> {
  const transformed: ChatMessage[] = [];
  const prompt_transforms: RequestEvaluation['prompt_transforms'] = [];
  const { preamble, postscript } = plan.prompt_transforms;
  if (preamble !== null) {
    transformed.push({ role: 'system', name: PREAMBLE_NAME, content: preamble });
    prompt_transforms.push('preamble');
  }
  for (const message of input.request.messages) transformed.push(message);
  if (postscript !== null) {
    transformed.push({ role: 'system', name: POSTSCRIPT_NAME, content: postscript });
    prompt_transforms.push('postscript');
  }

  const texts = new TextCache(transformed);
  const tool_context = toolContextOf(input.request);
  const rules: RuleOutcome[] = [];
  const actions: Action[] = [];
  const sandbox: SandboxRecord[] = [];
  const promptTokens = estimateTokens(transformed);

  for (const rule of plan.request_rules) {
    if (rule.gate !== null) {
      const current = input.stateOf(rule.gate.machine);
      const state = current === null ? null : current.state;
      if (state === null || !rule.gate.states.has(state)) {
        rules.push(skipped(rule, state));
        continue;
      }
    }
    switch (rule.kind) {
      case 'match': {
        // Literals compare lowercased text; a regex folds case itself (compiled with `(?i)`).
        const text = texts.get(rule.target, rule.case_sensitive || rule.matcher === 'regex');
        const match = rule.pattern.find(text);
        const evidence =
          match === undefined
            ? { outcome: 'not_matched' as const, target: rule.target, matcher: rule.matcher }
            : {
                outcome: 'matched' as const,
                target: rule.target,
                matcher: rule.matcher,
                match_index: match.start,
                excerpt: excerpt(texts.original(rule.target), text, match.start, match.end),
              };
        rules.push(
          outcome(rule, evidence.outcome, evidence, match === undefined ? 0 : rule.actions.length),
        );
        if (match !== undefined) pushAll(actions, rule.actions);
        break;
      }
      case 'history': {
        const result = evaluateHistoryRule(
          rule.rule,
          historyOf(input, rule.rule.scope),
          input.caller,
          input.now_ms,
        );
        const matched = result.kind === 'triggered';
        rules.push(
          outcome(
            rule,
            matched ? 'matched' : 'not_matched',
            {
              outcome: matched ? 'matched' : 'not_matched',
              result,
            },
            matched ? rule.actions.length : 0,
          ),
        );
        if (matched) pushAll(actions, rule.actions);
        break;
      }
      case 'tool': {
        const matched = toolMatches(rule, tool_context);
        rules.push(
          outcome(
            rule,
            matched ? 'matched' : 'not_matched',
            {
              outcome: matched ? 'matched' : 'not_matched',
              tool_context,
            },
            matched ? rule.actions.length : 0,
          ),
        );
        if (matched) pushAll(actions, rule.actions);
        break;
      }
      case 'script': {
        const result = await runScript(plan, rule, input, texts, tool_context, promptTokens);
        sandbox.push(result.record);
        const script = plan.scripts.get(rule.script)!;
        const base = {
          script: rule.script,
          backend: script.backend,
          entry: rule.entry,
          on_failure: rule.on_failure,
        };
        if (result.failure !== undefined) {
          // An input too large for the script is the client's doing: failing open on it would
          // let any client switch a `fail_open` rule off by padding its request.
          const failClosed =
            rule.on_failure === 'fail_closed' || result.failure.kind === 'input_limit';
          const block: Action[] = failClosed
            ? [
                {
                  action: 'block',
                  rule_id: rule.id,
                  reason: `script failed (${result.failure.kind})`,
                },
              ]
            : [];
          rules.push(
            outcome(
              rule,
              'failed',
              { outcome: 'failed', ...base, failure: result.failure },
              block.length,
            ),
          );
          pushAll(actions, block);
        } else {
          const matched = result.actions.length > 0;
          rules.push(
            outcome(
              rule,
              matched ? 'matched' : 'not_matched',
              {
                outcome: matched ? 'matched' : 'not_matched',
                ...base,
              },
              result.actions.length,
            ),
          );
          pushAll(actions, result.actions);
        }
        break;
      }
      default:
        assertNever(rule, 'request rule');
    }
  }

  const arbitration = arbitrateActions(actions);
  const transitions: StateTransitionRecord[] = [];
  // Events to one machine chain within the request: the second sees the first's result.
  const pending = new Map<string, MachineState | null>();
  for (const event of arbitration.state_events) {
    const compiled = plan.state_machines.get(event.machine_id)!;
    let current = pending.has(event.machine_id)
      ? pending.get(event.machine_id)!
      : input.stateOf(event.machine_id);
    if (current === null) {
      transitions.push({
        machine_id: event.machine_id,
        scope_key: compiled.scope_key,
        scope_value: null,
        rule_id: event.rule_id,
        event: event.event,
        decision: null,
      });
      continue;
    }
    const decision = nextTransition(compiled.machine, current.state, event.event, current.taken);
    if (decision.kind === 'transition') {
      current = {
        scope_value: current.scope_value,
        state: decision.to,
        taken: { ...current.taken, [decision.rule_id]: (current.taken[decision.rule_id] ?? 0) + 1 },
      };
    }
    pending.set(event.machine_id, current);
    transitions.push({
      machine_id: event.machine_id,
      scope_key: compiled.scope_key,
      scope_value: current.scope_value,
      rule_id: event.rule_id,
      event: event.event,
      decision,
    });
  }

  const messages =
    arbitration.reminders.length === 0
      ? transformed
      : [
          ...transformed,
          ...arbitration.reminders.map(
            (reminder): ChatMessage => ({ role: 'system', name: REMINDER_NAME, content: reminder }),
          ),
        ];

  return {
    messages,
    request_text: texts.original('request_text'),
    estimated_prompt_tokens: messages === transformed ? promptTokens : estimateTokens(messages),
    prompt_transforms,
    tool_context,
    rules,
    arbitration,
    sandbox,
    transitions,
    determining_rule_ids: determiningRules(arbitration),
  };
}

/** Pick a target for an evaluated request; `null` when the request is already blocked. */
export function routeRequest(plan: Plan, evaluation: RequestEvaluation): RouteDecision | null {
  if (evaluation.arbitration.blocked) return null;
  const c = evaluation.arbitration.route_constraints;
  return selectRoute(plan.routing, {
    estimated_prompt_tokens: evaluation.estimated_prompt_tokens,
    constraints: {
      ...(c.allowed_targets === undefined ? {} : { allowed_targets: c.allowed_targets }),
      ...(c.forced_model === undefined ? {} : { forced_model: c.forced_model }),
      allow_fallback: c.allow_fallback,
    },
  });
}

export function estimateTokens(messages: readonly ChatMessage[]): number {
  const parts: { role: string; content: string }[] = [];
  for (const m of messages) parts.push({ role: m.role, content: contentText(m.content) });
  return estimatePromptTokens(parts);
}

/** Lowercasing and rendering happen at most once per request and target. */
class TextCache {
  readonly #messages: readonly ChatMessage[];
  #request: string | undefined;
  #requestLower: string | undefined;
  #user: string | undefined;
  #userLower: string | undefined;

  constructor(messages: readonly ChatMessage[]) {
    this.#messages = messages;
  }

  original(target: 'request_text' | 'last_user_message'): string {
    if (target === 'request_text') {
      this.#request ??= renderRequestText(this.#messages);
      return this.#request;
    }
    this.#user ??= lastUserMessage(this.#messages);
    return this.#user;
  }

  get(target: 'request_text' | 'last_user_message', caseSensitive: boolean): string {
    if (caseSensitive) return this.original(target);
    if (target === 'request_text') {
      this.#requestLower ??= this.original(target).toLowerCase();
      return this.#requestLower;
    }
    this.#userLower ??= this.original(target).toLowerCase();
    return this.#userLower;
  }
}

function excerpt(original: string, searched: string, start: number, end: number): string {
  // Indices are into the searched text. Lowercasing keeps lengths for almost every character
  // (not `İ`): when it did not, the excerpt comes from the lowercased text itself.
  const source = original.length === searched.length ? original : searched;
  return source.slice(start, Math.min(end, start + 80));
}

function pushAll(target: Action[], items: readonly Action[]): void {
  for (const item of items) target.push(item);
}

function outcome(
  rule: CompiledRequestRule,
  result: RuleOutcome['outcome'],
  evidence: unknown,
  action_count: number,
): RuleOutcome {
  return {
    kind: rule.kind,
    rule_id: rule.id,
    action_count,
    outcome: result,
    evidence,
  } as RuleOutcome;
}

function skipped(rule: CompiledRequestRule, state: string | null): RuleOutcome {
  return outcome(
    rule,
    'skipped',
    {
      outcome: 'skipped',
      reason: 'state_gate',
      machine: rule.gate!.machine,
      state,
      required: [...rule.gate!.states],
    },
    0,
  );
}

function toolMatches(rule: Extract<CompiledRequestRule, { kind: 'tool' }>, context: ToolContext) {
  if (context.phase === null) return false;
  if (rule.phases !== undefined && !rule.phases.includes(context.phase)) return false;
  if (context.names.length === 0) return rule.names === null && rule.namespaces === null;
  return context.names.some(
    (name) =>
      (rule.names === null || rule.names.has(name)) &&
      (rule.namespaces === null || rule.namespaces.has(toolNamespace(name))),
  );
}

function determiningRules(arbitration: ActionArbitration): string[] {
  if (arbitration.blocked) return [...arbitration.blocking_rule_ids];
  const ids = new Set<string>();
  for (const action of arbitration.applied) {
    if (action.action !== 'annotate') ids.add(action.rule_id);
  }
  return [...ids];
}

const ScriptOutputSchema = Type.Object(
  {
    actions: Type.Array(RuleActionSchema, { maxItems: 64 }),
    note: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

type ScriptResult =
  | { record: SandboxRecord; actions: Action[]; failure?: undefined }
  | { record: SandboxRecord; failure: SandboxFailure };

async function runScript(
  plan: Plan,
  rule: Extract<CompiledRequestRule, { kind: 'script' }>,
  input: RequestPhaseInput,
  texts: TextCache,
  tool_context: ToolContext,
  estimated_prompt_tokens: number,
): Promise<ScriptResult> {
  const script = plan.scripts.get(rule.script)!;
  const states: Record<string, JsonValue> = {};
  for (const id of plan.state_machines.keys()) states[id] = input.stateOf(id)?.state ?? null;
  const scriptInput: Record<string, JsonValue> = {
    request: {
      model: input.request.model ?? null,
      stream: input.request.stream === true,
      messages: input.request.messages.map((m) => ({
        role: m.role,
        content: contentText(m.content),
      })),
      tools: (input.request.tools ?? []).map((t) => t.function.name),
    },
    request_text: texts.original('request_text'),
    last_user_message: texts.original('last_user_message'),
    caller: { ...input.caller },
    estimated_prompt_tokens,
    tool_context: tool_context as unknown as JsonValue,
    states,
    now_ms: input.now_ms,
  };
  if (rule.history !== null) scriptInput.history = historyFor(rule.history, input);

  const base = {
    rule_id: rule.id,
    script: rule.script,
    backend: script.backend,
    entry: rule.entry,
  };
  let result: Awaited<ReturnType<typeof script.policy.invoke>>;
  try {
    result = await script.policy.invoke(rule.entry, scriptInput);
  } catch (error) {
    // The contract says invoke never throws; a backend that does still fails only this rule.
    const failure: SandboxFailure = {
      kind: 'backend_failure',
      message: sanitizeFailureMessage(
        `the backend threw: ${error instanceof Error ? error.message : String(error)}`,
      ),
    };
    return { record: { ...base, ok: false, usage: { wall_ms: 0 }, failure }, failure };
  }
  if (!result.ok) {
    return {
      record: { ...base, ok: false, usage: result.usage, failure: result.failure },
      failure: result.failure,
    };
  }
  const issues = schemaIssues(ScriptOutputSchema, result.value);
  if (issues.length > 0) {
    const first = issues[0]!;
    const failure: SandboxFailure = {
      kind: 'invalid_output',
      message: sanitizeFailureMessage(
        `the result ${first.path.replace(/^\$/, '')} ${first.message}${first.expected === undefined ? '' : ` (expected ${first.expected})`}${issues.length > 1 ? ` and ${issues.length - 1} more` : ''}; a policy returns {actions: [...]}`,
      ),
    };
    return { record: { ...base, ok: false, usage: result.usage, failure }, failure };
  }
  const value = result.value as { actions: Omit<Action, 'rule_id'>[] };
  const actions = value.actions.map((a) => ({ ...a, rule_id: rule.id }) as Action);
  // Script actions name models and machines too: the same cross-checks as declared actions.
  for (const action of actions) {
    const problem = invalidReference(plan, action);
    if (problem !== null) {
      const failure: SandboxFailure = { kind: 'invalid_output', message: problem };
      return { record: { ...base, ok: false, usage: result.usage, failure }, failure };
    }
  }
  return { record: { ...base, ok: true, usage: result.usage }, actions };
}

function invalidReference(plan: Plan, action: Action): string | null {
  switch (action.action) {
    case 'switch_model':
      return plan.routing.by_model.has(action.target_model)
        ? null
        : `switch_model names ${JSON.stringify(action.target_model)}, which is not a target`;
    case 'restrict_routes': {
      const unknown = action.allowed_targets.find((m) => !plan.routing.by_model.has(m));
      return unknown === undefined
        ? null
        : `restrict_routes names ${JSON.stringify(unknown)}, which is not a target`;
    }
    case 'transition_state': {
      const machine = plan.state_machines.get(action.machine_id);
      if (machine === undefined)
        return `transition_state names unknown machine ${JSON.stringify(action.machine_id)}`;
      return machine.machine.transitions.some((t) => t.event === action.event)
        ? null
        : `transition_state sends unknown event ${JSON.stringify(action.event)} to ${action.machine_id}`;
    }
    default:
      return null;
  }
}

function historyFor(
  query: NonNullable<Extract<CompiledRequestRule, { kind: 'script' }>['history']>,
  input: RequestPhaseInput,
): JsonValue {
  const value = (input.caller as Record<string, string | undefined>)[query.scope];
  if (typeof value !== 'string') return [];
  const oldest =
    query.within_ms === null ? Number.NEGATIVE_INFINITY : input.now_ms - query.within_ms;
  const picked: JsonValue[] = [];
  const history = historyOf(input, query.scope);
  for (let i = history.length - 1; i >= 0 && picked.length < Math.min(query.last, 64); i--) {
    const entry = history[i]!;
    if (entry.created_at_ms > input.now_ms) continue;
    if (entry.created_at_ms <= oldest) break;
    if (entry.scope[query.scope] !== value) continue;
    if (query.kind !== null && entry.kind !== query.kind) continue;
    picked.push({
      kind: entry.kind,
      key: entry.key,
      text: entry.text,
      created_at_ms: entry.created_at_ms,
    });
  }
  return picked.reverse();
}

/** The smallest list that holds the caller's entries for `scope_key`. */
function historyOf(input: RequestPhaseInput, scope_key: string): readonly HistoryEntry[] {
  const value = (input.caller as Record<string, string | undefined>)[scope_key];
  if (typeof value !== 'string' || input.scoped === undefined) return input.history;
  return input.scoped(scope_key, value) ?? input.history;
}
