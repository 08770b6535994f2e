import type { Action } from '../decisions/actions.ts';
import { type CompiledAlertQueue, compileAlertQueue } from '../decisions/alert-backpressure.ts';
import { type CompiledHistoryStore, compileHistoryStore } from '../decisions/cache-eviction.ts';
import { type CompiledGuardLoop, compileGuardLoop } from '../decisions/guard-loop-config.ts';
import type { CompiledHistoryRule } from '../decisions/history-threshold.ts';
import { type CompiledRouting, compileRouting } from '../decisions/routes.ts';
import {
  type CompiledStateMachine,
  compileStateMachine,
  type StateMachineFinding,
} from '../decisions/state-machine.ts';
import { type CompiledStreamPolicy, compileStreamPolicy } from '../decisions/stream-rules.ts';
import {
  type CompiledToolCallPolicy,
  compileToolCallPolicy,
} from '../decisions/tool-call-policy.ts';
import { ConfigError, type ConfigIssue } from '../errors/config-error.ts';
import {
  type LoadedPolicy,
  type PolicyLanguage,
  resolveLimits,
  type SandboxBackend,
  type SandboxLimits,
  SandboxLoadError,
} from '../sandbox/contract.ts';
import { joinPath, nearest, schemaIssues } from '../schema/validator.ts';
import { compileRegex, literalPattern, type TextPattern } from '../text/pattern.ts';
import { assertNever } from '../util/assert-never.ts';
import { digestJson } from '../util/hash.ts';
import {
  type Artifact,
  ArtifactSchema,
  type MatchTarget,
  type RequestRule,
  type ToolPhase,
} from './artifact.ts';
import { buildProjection, type Projection } from './projection.ts';

/**
 * `compileArtifact`: validate an artifact, compile every section with its decision core, load
 * its scripts into their sandboxes, hash it, and project it for review. The plan is immutable
 * and is all the engine needs; compiling is the only place an artifact can be rejected.
 */

export interface CompileOptions {
  /** Sandbox backends scripts may run in, by name. */
  backends?: Readonly<Record<string, SandboxBackend>>;
  /** Reads a script `path` (relative to the artifact); the file loader passes one. */
  readSource?: (path: string) => Promise<string>;
  /** Treat state-machine findings (unreachable states, …) as errors. Default false. */
  strict?: boolean;
}

interface RuleCommon {
  readonly id: string;
  readonly index: number;
  readonly gate: { readonly machine: string; readonly states: ReadonlySet<string> } | null;
  /** The rule's `actions`, with its id filled in; empty for script rules (they return theirs). */
  readonly actions: readonly Action[];
}

export type CompiledRequestRule =
  | (RuleCommon & {
      readonly kind: 'match';
      readonly target: MatchTarget;
      readonly matcher: 'contains' | 'regex';
      readonly case_sensitive: boolean;
      readonly pattern: TextPattern;
    })
  | (RuleCommon & { readonly kind: 'history'; readonly rule: CompiledHistoryRule })
  | (RuleCommon & {
      readonly kind: 'tool';
      readonly names: ReadonlySet<string> | null;
      readonly namespaces: ReadonlySet<string> | null;
      readonly phases: readonly ToolPhase[] | undefined;
    })
  | (RuleCommon & {
      readonly kind: 'script';
      readonly script: string;
      readonly entry: string;
      readonly on_failure: 'fail_closed' | 'fail_open';
      readonly history: {
        readonly scope: string;
        readonly kind: string | null;
        readonly last: number;
        readonly within_ms: number | null;
      } | null;
    });

export interface CompiledScript {
  readonly id: string;
  readonly language: PolicyLanguage;
  readonly backend: string;
  readonly limits: Readonly<SandboxLimits>;
  readonly policy: LoadedPolicy;
}

export interface CompiledMachine {
  readonly machine: CompiledStateMachine;
  readonly scope_key: string;
}

export interface Plan {
  readonly artifact: Readonly<Artifact>;
  /** `sha256:` of the canonical JSON of the artifact and its scripts' code. */
  readonly artifact_hash: string;
  readonly model: Readonly<{ id: string; version: string }>;
  readonly routing: CompiledRouting;
  readonly prompt_transforms: Readonly<{ preamble: string | null; postscript: string | null }>;
  readonly request_rules: readonly CompiledRequestRule[];
  /** null when the artifact has no stream rules. */
  readonly stream: CompiledStreamPolicy | null;
  /** null when the artifact has no structured output. */
  readonly guard: CompiledGuardLoop | null;
  /** Policy over emitted tool calls; null without a `tool_calls` section. */
  readonly tool_calls: CompiledToolCallPolicy | null;
  readonly history: CompiledHistoryStore;
  readonly alerts: Readonly<{ queue: CompiledAlertQueue; sinks: readonly string[] }>;
  readonly state_machines: ReadonlyMap<string, CompiledMachine>;
  readonly scripts: ReadonlyMap<string, CompiledScript>;
  /** Graph findings of the state machines (warnings unless `strict`). */
  readonly findings: readonly (StateMachineFinding & { machine_id: string })[];
  readonly projection: Projection;
  /** Dispose every loaded script. The plan must not be used afterwards. */
  dispose(): Promise<void>;
}

const SUBJECT = 'artifact';
const DEFAULT_SINKS = Object.freeze(['memory']);

/**
 * Validate an artifact (shape first, then meaning) and compile it. Throws one `ConfigError`
 * listing every issue with its `$.path`.
 */
export async function compileArtifact(
  artifact: unknown,
  options: CompileOptions = {},
): Promise<Plan> {
  const shape = schemaIssues(ArtifactSchema, artifact);
  if (typeof artifact !== 'object' || artifact === null || Array.isArray(artifact)) {
    throw new ConfigError(SUBJECT, shape);
  }
  // Meaning is checked in every section whose shape is right, so one run reports a misspelt key
  // in one rule and an unknown model in another. A section with shape issues is skipped.
  const broken = (path: string) =>
    shape.some(
      (issue) =>
        issue.path === path ||
        issue.path.startsWith(`${path}.`) ||
        issue.path.startsWith(`${path}[`),
    );
  // A private deep copy: the caller may change their object, the plan must not change.
  const a = structuredClone(artifact) as Artifact;
  const issues: ConfigIssue[] = [];

  const routing =
    broken('$.targets') || broken('$.routing')
      ? undefined
      : section(issues, '$', () =>
          compileRouting(
            a.routing?.fallback_model === undefined
              ? { targets: a.targets }
              : { targets: a.targets, fallback_model: a.routing.fallback_model },
          ),
        );
  // compileRouting reports the fallback at `$.fallback_model`; it lives under `routing`.
  for (const issue of issues) {
    if (issue.path === '$.fallback_model') issue.path = '$.routing.fallback_model';
  }
  const stream =
    a.stream_rules === undefined ||
    broken('$.stream_rules') ||
    broken('$.stream') ||
    a.stream_rules.length === 0
      ? null
      : section(issues, '$', () =>
          compileStreamPolicy({
            rules: a.stream_rules,
            ...(a.stream?.max_retries_total === undefined
              ? {}
              : { max_retries_total: a.stream.max_retries_total }),
          }),
        );
  for (const issue of issues) {
    if (issue.path.startsWith('$.rules')) issue.path = `$.stream_rules${issue.path.slice(7)}`;
  }
  const guard =
    a.structured_output === undefined || broken('$.structured_output')
      ? null
      : section(issues, '$.structured_output', () => compileGuardLoop(a.structured_output));
  const toolCalls =
    a.tool_calls === undefined || broken('$.tool_calls')
      ? null
      : section(issues, '$.tool_calls', () => compileToolCallPolicy(a.tool_calls));
  const history = broken('$.history')
    ? undefined
    : section(issues, '$.history', () => compileHistoryStore(a.history ?? {}));
  const queue = broken('$.alerts')
    ? undefined
    : section(issues, '$.alerts.queue', () => compileAlertQueue(a.alerts?.queue ?? {}));

  const machines = new Map<string, CompiledMachine>();
  const findings: (StateMachineFinding & { machine_id: string })[] = [];
  const machineList =
    broken('$.state_machines') && !Array.isArray(a.state_machines) ? [] : (a.state_machines ?? []);
  machineList.forEach((config, index) => {
    const at = joinPath('$.state_machines', index);
    if (broken(at)) return;
    if (machines.has(config.id)) {
      issues.push({ path: joinPath(at, 'id'), message: `repeats the machine id ${config.id}` });
      return;
    }
    const { scope, ...table } = config;
    const compiled = section(issues, at, () =>
      compileStateMachine(table, { strict: options.strict === true }),
    );
    if (compiled === undefined) return;
    machines.set(config.id, { machine: compiled.machine, scope_key: scope ?? 'session_id' });
    for (const finding of compiled.findings) findings.push({ ...finding, machine_id: config.id });
  });
  // A reference to a machine that is broken itself is not reported twice.
  const machinesComplete = !broken('$.state_machines');
  if (!broken('$.scripts') && toolCalls !== null && toolCalls !== undefined) {
    const known = Object.keys(a.scripts ?? {});
    toolCalls.script_rules.forEach((rule, i) => {
      if (known.includes(rule.script)) return;
      issues.push({
        path: `$.tool_calls.script_rules[${i}].script`,
        message: `names the script ${JSON.stringify(rule.script)}, which scripts does not define${known.length === 0 ? '' : ` (known: ${known.join(', ')})`}`,
      });
    });
  }
  if (machinesComplete && toolCalls !== null && toolCalls !== undefined) {
    for (const ref of toolCalls.machines) {
      const machine = machines.get(ref.machine);
      if (machine === undefined) {
        issues.push({
          path: `$.tool_calls${ref.path.slice(1)}`,
          message: `names the machine ${JSON.stringify(ref.machine)}, which state_machines does not define`,
        });
      } else if (
        ref.event !== undefined &&
        !machine.machine.transitions.some((t) => t.event === ref.event)
      ) {
        issues.push({
          path: `$.tool_calls${ref.path.slice(1)}.event`,
          message: `sends the event ${JSON.stringify(ref.event)}, which no transition of ${ref.machine} takes`,
        });
      }
    }
  }

  const targetNames = broken('$.targets') ? null : a.targets.map((t) => t.model);
  const requestRules =
    broken('$.request_rules') && !Array.isArray(a.request_rules)
      ? []
      : compileRequestRules(a, targetNames, machines, machinesComplete, broken, issues);
  checkRuleIds(a, broken, issues);

  // Scripts load even when other sections are wrong, so their errors come in the same report.
  const sources = broken('$.scripts')
    ? new Map<string, string>()
    : await readSources(a, options, broken, issues);
  const scripts = broken('$.scripts')
    ? new Map<string, CompiledScript>()
    : await loadScripts(a, sources, options, broken, issues);
  if (shape.length > 0 || issues.length > 0) {
    await Promise.all([...scripts.values()].map((s) => s.policy.dispose()));
    throw new ConfigError(SUBJECT, [...shape, ...issues]);
  }

  const artifact_hash = digestJson({ artifact: a, script_sources: Object.fromEntries(sources) });
  const plan: Plan = {
    artifact: deepFreeze(a),
    artifact_hash,
    model: Object.freeze({ id: a.model.id, version: a.model.version }),
    routing: routing!,
    prompt_transforms: Object.freeze({
      preamble: nonBlank(a.prompt_transforms?.preamble),
      postscript: nonBlank(a.prompt_transforms?.postscript),
    }),
    request_rules: Object.freeze(requestRules),
    stream: stream ?? null,
    guard: guard ?? null,
    tool_calls: toolCalls ?? null,
    history: history!,
    alerts: Object.freeze({
      queue: queue!,
      sinks: Object.freeze(a.alerts?.sinks ?? DEFAULT_SINKS),
    }),
    state_machines: machines,
    scripts,
    findings: Object.freeze(findings),
    projection: undefined as unknown as Projection,
    async dispose() {
      await Promise.all([...scripts.values()].map((s) => s.policy.dispose()));
    },
  };
  try {
    (plan as { projection: Projection }).projection = buildProjection(plan);
  } catch (error) {
    await plan.dispose();
    throw error;
  }
  return Object.freeze(plan);
}

/** Run one core's compiler; its issues are re-rooted under `at` and collected. */
function section<T>(issues: ConfigIssue[], at: string, compile: () => T): T | undefined {
  try {
    return compile();
  } catch (error) {
    if (!ConfigError.isInstance(error)) throw error;
    for (const issue of error.issues) issues.push({ ...issue, path: at + issue.path.slice(1) });
    return undefined;
  }
}

function nonBlank(text: string | undefined): string | null {
  return text === undefined || text.trim() === '' ? null : text;
}

function compileRequestRules(
  a: Artifact,
  /** null when `targets` itself is invalid: references to targets are not checked then. */
  targets: readonly string[] | null,
  machines: ReadonlyMap<string, CompiledMachine>,
  machinesComplete: boolean,
  broken: (path: string) => boolean,
  issues: ConfigIssue[],
): CompiledRequestRule[] {
  const compiled: CompiledRequestRule[] = [];
  const scriptsKnown = !broken('$.scripts');
  const scriptIds = scriptsKnown ? Object.keys(a.scripts ?? {}) : [];
  (a.request_rules ?? []).forEach((rule, index) => {
    const at = joinPath('$.request_rules', index);
    if (broken(at)) {
      // The rule is not compiled, but its well-formed actions are still checked.
      const declared = (rule as { actions?: unknown }).actions;
      if (machinesComplete && Array.isArray(declared)) {
        declared.forEach((action: Omit<Action, 'rule_id'>, i) => {
          const path = joinPath(joinPath(at, 'actions'), i);
          if (!broken(path)) checkAction(action, path, targets, machines, issues);
        });
      }
      return;
    }
    const gate = machinesComplete ? compileGate(rule, at, machines, issues) : null;
    const actions: Action[] = [];
    if (rule.kind !== 'script') {
      rule.actions.forEach((declared, actionIndex) => {
        if (machinesComplete) {
          checkAction(
            declared,
            joinPath(joinPath(at, 'actions'), actionIndex),
            targets,
            machines,
            issues,
          );
        }
        actions.push({ ...declared, rule_id: rule.id } as Action);
      });
    }
    const common = { id: rule.id, index, gate, actions: Object.freeze(actions) };
    switch (rule.kind) {
      case 'match': {
        const caseSensitive = rule.case_sensitive === true;
        let pattern: TextPattern | undefined;
        if (rule.contains !== undefined) {
          pattern = literalPattern(caseSensitive ? rule.contains : rule.contains.toLowerCase());
        } else {
          // Case folding for a regex is RE2's own `(?i)`, so `Deploy` or `[A-Z]` still match.
          const regex = compileRegex(
            caseSensitive ? rule.regex! : `(?i)${rule.regex!}`,
            joinPath(at, 'regex'),
          );
          if (regex.ok) pattern = regex.pattern;
          else issues.push(regex.issue);
        }
        if (pattern === undefined) return;
        compiled.push({
          ...common,
          kind: 'match',
          target: rule.target ?? 'request_text',
          matcher: rule.contains !== undefined ? 'contains' : 'regex',
          case_sensitive: caseSensitive,
          pattern,
        });
        return;
      }
      case 'history': {
        const fields = {
          id: rule.id,
          scope: rule.scope,
          filter_kind: rule.filter?.kind ?? null,
          filter_key: rule.filter?.key ?? null,
          threshold: rule.threshold,
          last: rule.window?.last ?? null,
          within_ms: rule.window?.within_ms ?? null,
        };
        if (rule.pattern === undefined) {
          compiled.push({ ...common, kind: 'history', rule: { ...fields, kind: 'count' } });
          return;
        }
        const regex = compileRegex(rule.pattern, joinPath(at, 'pattern'));
        if (!regex.ok) {
          issues.push(regex.issue);
          return;
        }
        compiled.push({
          ...common,
          kind: 'history',
          rule: { ...fields, kind: 'regex_count', pattern: regex.pattern },
        });
        return;
      }
      case 'tool':
        compiled.push({
          ...common,
          kind: 'tool',
          names: rule.tool.names === undefined ? null : new Set(rule.tool.names),
          namespaces: rule.tool.namespaces === undefined ? null : new Set(rule.tool.namespaces),
          phases: rule.tool.phases,
        });
        return;
      case 'script': {
        if (scriptsKnown && !scriptIds.includes(rule.script)) {
          const issue: ConfigIssue = {
            path: joinPath(at, 'script'),
            message: `names ${JSON.stringify(rule.script)}, which is not a key of \`scripts\``,
          };
          if (scriptIds.length > 0) issue.expected = `one of ${scriptIds.join(', ')}`;
          const near = nearest(rule.script, scriptIds);
          if (near !== undefined) issue.hint = `did you mean \`${near}\`?`;
          issues.push(issue);
          return;
        }
        compiled.push({
          ...common,
          kind: 'script',
          script: rule.script,
          entry: rule.entry ?? 'decide',
          on_failure: rule.on_failure ?? 'fail_closed',
          history:
            rule.history === undefined
              ? null
              : {
                  scope: rule.history.scope,
                  kind: rule.history.kind ?? null,
                  last: rule.history.last ?? 64,
                  within_ms: rule.history.within_ms ?? null,
                },
        });
        return;
      }
      default:
        assertNever(rule, 'request rule');
    }
  });
  return compiled;
}

function compileGate(
  rule: RequestRule,
  at: string,
  machines: ReadonlyMap<string, CompiledMachine>,
  issues: ConfigIssue[],
): RuleCommon['gate'] {
  const state = rule.when?.state;
  if (state === undefined) return null;
  const path = joinPath(joinPath(at, 'when'), 'state');
  const machine = machines.get(state.machine);
  if (machine === undefined) {
    issues.push(
      unknownName(joinPath(path, 'machine'), state.machine, 'state machine', [...machines.keys()]),
    );
    return null;
  }
  state.in.forEach((name, i) => {
    if (!machine.machine.state_set.has(name)) {
      issues.push(
        unknownName(
          joinPath(joinPath(path, 'in'), i),
          name,
          `state of ${state.machine}`,
          machine.machine.states,
        ),
      );
    }
  });
  return Object.freeze({ machine: state.machine, states: new Set(state.in) });
}

function checkAction(
  action: Omit<Action, 'rule_id'>,
  at: string,
  targets: readonly string[] | null,
  machines: ReadonlyMap<string, CompiledMachine>,
  issues: ConfigIssue[],
): void {
  switch (action.action) {
    case 'switch_model': {
      const a = action as Extract<Action, { action: 'switch_model' }>;
      if (targets !== null && !targets.includes(a.target_model)) {
        issues.push(unknownName(joinPath(at, 'target_model'), a.target_model, 'target', targets));
      }
      return;
    }
    case 'restrict_routes': {
      const a = action as Extract<Action, { action: 'restrict_routes' }>;
      a.allowed_targets.forEach((model, i) => {
        if (targets !== null && !targets.includes(model)) {
          issues.push(
            unknownName(joinPath(joinPath(at, 'allowed_targets'), i), model, 'target', targets),
          );
        }
      });
      return;
    }
    case 'transition_state': {
      const a = action as Extract<Action, { action: 'transition_state' }>;
      const machine = machines.get(a.machine_id);
      if (machine === undefined) {
        issues.push(
          unknownName(joinPath(at, 'machine_id'), a.machine_id, 'state machine', [
            ...machines.keys(),
          ]),
        );
        return;
      }
      const events = [...new Set(machine.machine.transitions.map((t) => t.event))];
      if (!events.includes(a.event)) {
        issues.push(
          unknownName(joinPath(at, 'event'), a.event, `event of ${a.machine_id}`, events),
        );
      }
      return;
    }
    default:
      return;
  }
}

function unknownName(
  path: string,
  value: string,
  what: string,
  known: readonly string[],
): ConfigIssue {
  const issue: ConfigIssue = {
    path,
    message: `names ${JSON.stringify(value)}, which is not a known ${what}`,
  };
  if (known.length > 0) issue.expected = `one of ${known.map((k) => `\`${k}\``).join(', ')}`;
  const near = nearest(value, known);
  if (near !== undefined) issue.hint = `did you mean \`${near}\`?`;
  return issue;
}

/** Receipts name rules by id, so an id means one rule across every section. */
const within = (section: string, a: string, b: string) =>
  a.startsWith(section) && b.startsWith(section);

function checkRuleIds(a: Artifact, broken: (path: string) => boolean, issues: ConfigIssue[]): void {
  const seen = new Map<string, string>();
  const visit = (id: string, path: string) => {
    const first = seen.get(id);
    if (first === undefined) seen.set(id, path);
    else if (!within('$.stream_rules', first, path) && !within('$.tool_calls', first, path)) {
      // Duplicates within stream or tool-call rules are already reported by their cores.
      issues.push({ path, message: `repeats the rule id ${JSON.stringify(id)} of ${first}` });
    }
  };
  const each = (list: unknown, at: string) => {
    if (!Array.isArray(list)) return;
    list.forEach((rule: { id?: unknown }, i) => {
      const path = joinPath(at, i);
      if (!broken(path) && typeof rule?.id === 'string') visit(rule.id, joinPath(path, 'id'));
    });
  };
  each(a.request_rules, '$.request_rules');
  each(a.stream_rules, '$.stream_rules');
  each(a.tool_calls?.rules, '$.tool_calls.rules');
  each(a.tool_calls?.script_rules, '$.tool_calls.script_rules');
}

async function readSources(
  a: Artifact,
  options: CompileOptions,
  broken: (path: string) => boolean,
  issues: ConfigIssue[],
): Promise<Map<string, string>> {
  const sources = new Map<string, string>();
  for (const [id, script] of Object.entries(a.scripts ?? {})) {
    const at = joinPath('$.scripts', id);
    if (broken(at)) continue;
    if (script.source !== undefined) {
      sources.set(id, script.source);
      continue;
    }
    if (options.readSource === undefined) {
      issues.push({
        path: joinPath(at, 'path'),
        message: 'cannot be read: no `readSource` was given to compileArtifact',
        hint: 'load the artifact with `loadArtifactFile` from `@wardwright/core/node`, or inline the code as `source`',
      });
      continue;
    }
    try {
      sources.set(id, await options.readSource(script.path!));
    } catch (error) {
      issues.push({
        path: joinPath(at, 'path'),
        message: `cannot be read: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
  }
  return sources;
}

async function loadScripts(
  a: Artifact,
  sources: ReadonlyMap<string, string>,
  options: CompileOptions,
  broken: (path: string) => boolean,
  issues: ConfigIssue[],
): Promise<Map<string, CompiledScript>> {
  const scripts = new Map<string, CompiledScript>();
  const backends = options.backends ?? {};
  for (const [id, script] of Object.entries(a.scripts ?? {})) {
    const at = joinPath('$.scripts', id);
    const named = script.backend;
    const backendName =
      named ?? Object.keys(backends).find((name) => backends[name]!.language === script.language);
    const backend = backendName === undefined ? undefined : backends[backendName];
    if (backend === undefined) {
      const known = Object.keys(backends);
      issues.push(
        named === undefined
          ? {
              path: joinPath(at, 'language'),
              message: `has no sandbox backend for ${script.language}`,
              hint: BACKEND_HINTS[script.language],
            }
          : unknownName(joinPath(at, 'backend'), named, 'sandbox backend', known),
      );
      continue;
    }
    if (backend.language !== script.language) {
      issues.push({
        path: joinPath(at, 'backend'),
        message: `names ${backendName}, which runs ${backend.language}, not ${script.language}`,
      });
      continue;
    }
    const limits = resolveLimits(script.limits);
    const code = sources.get(id);
    if (code === undefined) continue;
    try {
      const policy = await backend.load(
        {
          name: id,
          language: script.language,
          code,
          ...(script.path === undefined ? {} : { filename: script.path }),
        },
        limits,
      );
      scripts.set(
        id,
        Object.freeze({ id, language: script.language, backend: backendName!, limits, policy }),
      );
    } catch (error) {
      if (!SandboxLoadError.isInstance(error)) {
        // A backend fault, not a policy problem: release what loaded, then let it surface.
        await Promise.all([...scripts.values()].map((loaded) => loaded.policy.dispose()));
        throw error;
      }
      const where = error.failure.location;
      issues.push({
        path: joinPath(at, script.source === undefined ? 'path' : 'source'),
        message: `does not load (${error.failure.kind}): ${error.failure.message}${where === undefined ? '' : ` at line ${where.line}${where.column === undefined ? '' : `:${where.column}`}`}`,
      });
    }
  }
  // Entries are checked after loading: a rule may name a function the script lacks.
  (Array.isArray(a.request_rules) ? a.request_rules : []).forEach((rule, index) => {
    if (broken(joinPath('$.request_rules', index)) || rule.kind !== 'script') return;
    const script = scripts.get(rule.script);
    const entry = rule.entry ?? 'decide';
    if (script !== undefined && !script.policy.entries.includes(entry)) {
      issues.push(
        unknownName(
          joinPath(joinPath('$.request_rules', index), 'entry'),
          entry,
          `function of script ${rule.script}`,
          script.policy.entries,
        ),
      );
    }
  });
  return scripts;
}

// Which package serves each language, so the hint names what to install, not only where to pass it.
const BACKEND_HINTS: Record<PolicyLanguage, string> = {
  javascript:
    'install @wardwright/sandbox-quickjs and pass `{ backends: { quickjs: quickjsSandbox() } }` to compileArtifact (the CLI and gateway register it themselves)',
  starlark:
    'install @wardwright/starlark and pass `{ backends: { starlark: starlarkSandbox() } }` to compileArtifact (the CLI and gateway use it when it is installed)',
};

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}
