import {
  type CompiledToolCallPolicy,
  type ScriptedAction,
  type ToolCallAction,
  ToolCallActionSchema,
  ToolCallScriptOutputSchema,
} from '../decisions/tool-call-policy.ts';
import {
  type JsonValue,
  type SandboxFailure,
  sanitizeFailureMessage,
} from '../sandbox/contract.ts';
import { schemaIssues } from '../schema/validator.ts';
import type { Plan } from './plan.ts';
import type { SandboxRecord } from './receipt.ts';
import { type Caller, type ChatRequest, contentText } from './request.ts';

/**
 * Script rules over the calls a model emitted (`tool_calls.script_rules`): each script gets the
 * calls (arguments parsed when they are JSON), the request, the caller and the machines' states,
 * and returns `{ decisions: [{ call_id, action, … }] }` with the actions tool-call rules have.
 * A script that fails is a decision too: `fail_closed` blocks the answer.
 */

export interface ToolCallScriptContext {
  request: ChatRequest;
  caller: Caller;
  /** Each machine's state for the caller (null when it has none). */
  states: Record<string, string | null>;
  now_ms: number;
}

export async function runToolCallScripts(
  plan: Plan,
  policy: CompiledToolCallPolicy,
  calls: readonly { id: string; name: string; arguments: string }[],
  context: ToolCallScriptContext,
): Promise<{ scripted: Map<string, ScriptedAction[]>; sandbox: SandboxRecord[] }> {
  const scripted = new Map<string, ScriptedAction[]>();
  const sandbox: SandboxRecord[] = [];
  const input: Record<string, JsonValue> = {
    calls: calls.map((c) => ({
      id: c.id,
      name: c.name,
      arguments: parsedOrNull(c.arguments),
      arguments_text: c.arguments,
    })),
    request: {
      model: context.request.model ?? null,
      stream: context.request.stream === true,
      messages: context.request.messages.map((m) => ({
        role: m.role,
        content: contentText(m.content),
      })),
      tools: (context.request.tools ?? []).map((t) => t.function.name),
    },
    caller: { ...context.caller },
    states: { ...context.states },
    now_ms: context.now_ms,
  };
  const add = (callId: string, decided: ScriptedAction) => {
    const list = scripted.get(callId);
    if (list === undefined) scripted.set(callId, [decided]);
    else list.push(decided);
  };

  for (const rule of policy.script_rules) {
    const script = plan.scripts.get(rule.script)!;
    const base = {
      rule_id: rule.id,
      script: rule.script,
      backend: script.backend,
      entry: rule.entry,
    };
    const outcome = await invoke(plan, script, rule.entry, input, calls);
    if (outcome.ok) {
      sandbox.push({ ...base, ok: true, usage: outcome.usage });
      for (const [callId, action] of outcome.decisions) add(callId, { rule_id: rule.id, action });
      continue;
    }
    sandbox.push({ ...base, ok: false, usage: outcome.usage, failure: outcome.failure });
    const first = calls[0];
    if (rule.on_failure === 'fail_closed' && first !== undefined) {
      add(first.id, {
        rule_id: rule.id,
        action: { action: 'block', reason: `script failed (${outcome.failure.kind})` },
      });
    }
  }
  return { scripted, sandbox };
}

type Invoked =
  | { ok: true; usage: SandboxRecord['usage']; decisions: [string, ToolCallAction][] }
  | { ok: false; usage: SandboxRecord['usage']; failure: SandboxFailure };

async function invoke(
  plan: Plan,
  script: NonNullable<ReturnType<Plan['scripts']['get']>>,
  entry: string,
  input: Record<string, JsonValue>,
  calls: readonly { id: string }[],
): Promise<Invoked> {
  let result: Awaited<ReturnType<typeof script.policy.invoke>>;
  try {
    result = await script.policy.invoke(entry, input);
  } catch (error) {
    // The contract says invoke never throws; a backend that does still fails only this rule.
    const message = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      usage: { wall_ms: 0 },
      failure: {
        kind: 'backend_failure',
        message: sanitizeFailureMessage(`the backend threw: ${message}`),
      },
    };
  }
  if (!result.ok) return { ok: false, usage: result.usage, failure: result.failure };
  const invalid = (message: string): Invoked => ({
    ok: false,
    usage: result.usage,
    failure: { kind: 'invalid_output', message: sanitizeFailureMessage(message) },
  });
  const issues = schemaIssues(ToolCallScriptOutputSchema, result.value);
  if (issues.length > 0) {
    const first = issues[0]!;
    return invalid(
      `the result ${first.path.replace(/^\$/, '')} ${first.message}; a tool-call policy returns {decisions: [{call_id, action, ...}]}`,
    );
  }
  const ids = new Set(calls.map((c) => c.id));
  const decisions: [string, ToolCallAction][] = [];
  const list = (result.value as { decisions: Record<string, unknown>[] }).decisions;
  for (const [i, item] of list.entries()) {
    const { call_id, ...action } = item as { call_id: string } & Record<string, unknown>;
    if (!ids.has(call_id)) {
      return invalid(`decisions[${i}].call_id names no emitted call (${JSON.stringify(call_id)})`);
    }
    const problems = schemaIssues(ToolCallActionSchema, action);
    if (problems.length > 0) {
      const first = problems[0]!;
      return invalid(`decisions[${i}]${first.path.replace(/^\$/, '')} ${first.message}`);
    }
    const checked = action as ToolCallAction;
    if (checked.action === 'transition_state') {
      const machine = plan.state_machines.get(checked.machine_id);
      if (
        machine === undefined ||
        !machine.machine.transitions.some((t) => t.event === checked.event)
      ) {
        return invalid(
          `decisions[${i}] sends ${JSON.stringify(checked.event)} to ${JSON.stringify(checked.machine_id)}, which takes no such event`,
        );
      }
    }
    decisions.push([call_id, checked]);
  }
  return { ok: true, usage: result.usage, decisions };
}

function parsedOrNull(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return null;
  }
}
