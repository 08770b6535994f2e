import Type, { type Static } from 'typebox';
import type { Action } from '../decisions/actions.ts';
import { StateMachineFindingSchema } from '../decisions/state-machine.ts';
import { StringEnum } from '../schema/types.ts';
import { assertNever } from '../util/assert-never.ts';
import type { Plan } from './plan.ts';

/**
 * The projection of a plan for review: which rules run in which phase, what each rule can do
 * (rule × effect), the state-machine graphs, and conflicts visible before any traffic flows.
 */

export const PhaseSchema = StringEnum([
  'request.transform',
  'request.rules',
  'request.scripts',
  'route.select',
  'response.stream',
  'response.tool_calls',
  'response.guard',
  'output.record',
]);
export type Phase = Static<typeof PhaseSchema>;

/** In the order the effect matrix shows them. */
const EFFECTS = [
  'terminal',
  'route',
  'rewrite',
  'retry',
  'alert',
  'annotate',
  'state',
  'opaque',
] as const;
export const EffectSchema = StringEnum(EFFECTS);
export type Effect = Static<typeof EffectSchema>;

export const ProjectionSchema = Type.Object(
  {
    model: Type.Object(
      { id: Type.String(), version: Type.String() },
      { additionalProperties: false },
    ),
    artifact_hash: Type.String(),
    phases: Type.Array(
      Type.Object(
        {
          phase: PhaseSchema,
          rule_ids: Type.Array(Type.String()),
          holds_stream: Type.Optional(
            Type.Literal(true, {
              description:
                'The phase holds a streamed answer until it decides: nothing is released before.',
            }),
          ),
        },
        { additionalProperties: false },
      ),
      { description: 'Every phase in execution order, with the rules that run in it.' },
    ),
    effects: Type.Array(
      Type.Object(
        {
          rule_id: Type.String(),
          source: StringEnum([
            'request_rule',
            'stream_rule',
            'tool_call_rule',
            'structured_output',
          ]),
          kind: Type.String({ description: 'The rule kind or stream action.' }),
          phase: PhaseSchema,
          gated_by: Type.Optional(Type.String({ description: '`machine in [states]`.' })),
          effects: Type.Array(EffectSchema, {
            description: '`opaque`: a script, which may ask for any request action.',
          }),
        },
        { additionalProperties: false },
      ),
      { description: 'The effect matrix: one row per rule, in declaration order.' },
    ),
    state_machines: Type.Array(
      Type.Object(
        {
          id: Type.String(),
          scope: Type.String(),
          initial: Type.String(),
          states: Type.Array(
            Type.Object(
              { name: Type.String(), terminal: Type.Boolean() },
              { additionalProperties: false },
            ),
          ),
          transitions: Type.Array(
            Type.Object(
              {
                from: Type.String(),
                event: Type.String(),
                to: Type.String(),
                rule_id: Type.String(),
                max_taken: Type.Union([Type.Integer(), Type.Null()]),
                sent_by: Type.Array(Type.String(), {
                  description: 'Request rules whose actions send this event.',
                }),
              },
              { additionalProperties: false },
            ),
          ),
          findings: Type.Array(StateMachineFindingSchema),
        },
        { additionalProperties: false },
      ),
    ),
    conflicts: Type.Array(
      Type.Object(
        {
          kind: StringEnum([
            'forced_model_conflict',
            'disjoint_route_restrictions',
            'block_shadows_route',
          ]),
          phase: PhaseSchema,
          rule_ids: Type.Array(Type.String(), { minItems: 2 }),
          message: Type.String(),
        },
        { additionalProperties: false },
      ),
      { description: 'Pairs of rules that may disagree on one request, found statically.' },
    ),
  },
  { additionalProperties: false },
);
export type Projection = Static<typeof ProjectionSchema>;

function actionEffect(action: Action): Effect {
  switch (action.action) {
    case 'block':
      return 'terminal';
    case 'restrict_routes':
    case 'switch_model':
      return 'route';
    case 'inject_reminder':
      return 'rewrite';
    case 'alert':
      return 'alert';
    case 'annotate':
      return 'annotate';
    case 'transition_state':
      return 'state';
    default:
      return assertNever(action, 'action');
  }
}

export function buildProjection(plan: Omit<Plan, 'projection'>): Projection {
  const a = plan.artifact;
  const effects: Projection['effects'] = [];
  const requestRuleIds: string[] = [];
  const scriptRuleIds: string[] = [];

  for (const rule of plan.request_rules) {
    const row: Projection['effects'][number] = {
      rule_id: rule.id,
      source: 'request_rule',
      kind: rule.kind,
      phase: rule.kind === 'script' ? 'request.scripts' : 'request.rules',
      effects: rule.kind === 'script' ? ['opaque'] : unique(rule.actions.map(actionEffect)),
    };
    if (rule.gate !== null)
      row.gated_by = `${rule.gate.machine} in [${[...rule.gate.states].join(', ')}]`;
    effects.push(row);
    (rule.kind === 'script' ? scriptRuleIds : requestRuleIds).push(rule.id);
  }
  const streamRuleIds: string[] = [];
  for (const rule of a.stream_rules ?? []) {
    streamRuleIds.push(rule.id);
    effects.push({
      rule_id: rule.id,
      source: 'stream_rule',
      kind: rule.action,
      phase: 'response.stream',
      effects: streamEffects(rule.action),
    });
  }
  const toolCallRuleIds: string[] = [];
  if (plan.tool_calls !== null) {
    const validate = plan.tool_calls.validate;
    if (validate !== null) {
      toolCallRuleIds.push(validate.rule_id);
      effects.push({
        rule_id: validate.rule_id,
        source: 'tool_call_rule',
        kind: 'validate_arguments',
        phase: 'response.tool_calls',
        effects:
          validate.on_invalid === 'retry'
            ? ['terminal', 'retry']
            : validate.on_invalid === 'block'
              ? ['terminal']
              : ['rewrite'],
      });
    }
    for (const rule of plan.tool_calls.rules) {
      toolCallRuleIds.push(rule.id);
      const kinds = new Set<Effect>();
      for (const action of rule.actions) {
        switch (action.action) {
          case 'block':
            kinds.add('terminal');
            break;
          case 'drop_call':
            kinds.add('rewrite');
            break;
          case 'retry_with_reminder':
            // When its retries are spent, the call is blocked.
            kinds.add('retry').add('terminal');
            break;
          case 'annotate':
            kinds.add('annotate');
            break;
          case 'alert':
            kinds.add('alert');
            break;
          case 'transition_state':
            kinds.add('state');
            break;
          default:
            assertNever(action);
        }
      }
      effects.push({
        rule_id: rule.id,
        source: 'tool_call_rule',
        kind: rule.actions.map((a) => a.action).join('+'),
        phase: 'response.tool_calls',
        ...(rule.require_state === null
          ? {}
          : {
              gated_by: `requires ${rule.require_state.machine} in [${[...rule.require_state.in].join(', ')}]`,
            }),
        effects: EFFECTS.filter((e) => kinds.has(e)),
      });
    }
  }
  for (const rule of plan.tool_calls?.script_rules ?? []) {
    toolCallRuleIds.push(rule.id);
    effects.push({
      rule_id: rule.id,
      source: 'tool_call_rule',
      kind: 'script',
      phase: 'response.tool_calls',
      // A script may take any tool-call action.
      effects: ['opaque'],
    });
  }
  const guardRuleIds: string[] = [];
  if (plan.guard !== null) {
    for (const id of [plan.guard.schema_rule_id, ...plan.guard.semantic_rule_ids]) {
      guardRuleIds.push(id);
      effects.push({
        rule_id: id,
        source: 'structured_output',
        kind: id === plan.guard.schema_rule_id ? 'schema' : 'semantic',
        phase: 'response.guard',
        effects: ['retry', 'terminal'],
      });
    }
  }

  const transforms: string[] = [];
  if (plan.prompt_transforms.preamble !== null) transforms.push('preamble');
  if (plan.prompt_transforms.postscript !== null) transforms.push('postscript');

  return {
    model: { ...plan.model },
    artifact_hash: plan.artifact_hash,
    phases: [
      { phase: 'request.transform', rule_ids: transforms },
      { phase: 'request.rules', rule_ids: requestRuleIds },
      { phase: 'request.scripts', rule_ids: scriptRuleIds },
      { phase: 'route.select', rule_ids: [] },
      { phase: 'response.stream', rule_ids: streamRuleIds },
      { phase: 'response.tool_calls', rule_ids: toolCallRuleIds },
      // The guard validates whole answers: a client that streams receives the validated one.
      guardRuleIds.length === 0
        ? { phase: 'response.guard', rule_ids: guardRuleIds }
        : { phase: 'response.guard', rule_ids: guardRuleIds, holds_stream: true },
      { phase: 'output.record', rule_ids: [] },
    ],
    effects,
    state_machines: [...plan.state_machines.values()].map(({ machine, scope_key }) => ({
      id: machine.id,
      scope: scope_key,
      initial: machine.initial,
      states: machine.states.map((name) => ({ name, terminal: machine.terminal_states.has(name) })),
      transitions: machine.transitions.map((t) => ({
        from: t.from,
        event: t.event,
        to: t.to,
        rule_id: t.rule_id,
        max_taken: t.max_taken,
        sent_by: plan.request_rules
          .filter((rule) =>
            rule.actions.some(
              (action) =>
                action.action === 'transition_state' &&
                action.machine_id === machine.id &&
                action.event === t.event,
            ),
          )
          .map((rule) => rule.id),
      })),
      findings: plan.findings
        .filter((finding) => finding.machine_id === machine.id)
        .map(({ machine_id: _id, ...finding }) => finding),
    })),
    conflicts: staticConflicts(plan),
  };
}

function streamEffects(action: string): Effect[] {
  switch (action) {
    case 'pass':
      return [];
    case 'annotate':
      return ['annotate'];
    case 'rewrite_chunk':
    case 'rewrite_window':
    case 'drop_chunk':
      return ['rewrite'];
    case 'block':
      return ['terminal'];
    case 'retry_with_reminder':
      return ['retry'];
    default:
      return ['opaque'];
  }
}

/** Conflicts between rules that could fire on the same request (ungated, or gated alike). */
function staticConflicts(plan: Omit<Plan, 'projection'>): Projection['conflicts'] {
  const conflicts: Projection['conflicts'] = [];
  const switches: { rule: string; model: string }[] = [];
  const restricts: { rule: string; models: readonly string[] }[] = [];
  const blocks: string[] = [];
  for (const rule of plan.request_rules) {
    for (const action of rule.actions) {
      if (action.action === 'switch_model')
        switches.push({ rule: rule.id, model: action.target_model });
      if (action.action === 'restrict_routes')
        restricts.push({ rule: rule.id, models: action.allowed_targets });
      if (action.action === 'block') blocks.push(rule.id);
    }
  }
  for (let i = 0; i < switches.length; i++) {
    for (let j = i + 1; j < switches.length; j++) {
      const x = switches[i]!;
      const y = switches[j]!;
      if (x.model === y.model || x.rule === y.rule) continue;
      conflicts.push({
        kind: 'forced_model_conflict',
        phase: 'route.select',
        rule_ids: [x.rule, y.rule],
        message: `both force a model (${x.model} vs ${y.model}); when both match, the first in (priority, declaration) order wins`,
      });
    }
  }
  for (let i = 0; i < restricts.length; i++) {
    for (let j = i + 1; j < restricts.length; j++) {
      const x = restricts[i]!;
      const y = restricts[j]!;
      if (x.rule === y.rule || x.models.some((m) => y.models.includes(m))) continue;
      conflicts.push({
        kind: 'disjoint_route_restrictions',
        phase: 'route.select',
        rule_ids: [x.rule, y.rule],
        message: 'their allow-lists share no model: when both match, routing blocks the request',
      });
    }
  }
  for (const block of blocks) {
    for (const s of switches) {
      if (s.rule === block) continue;
      conflicts.push({
        kind: 'block_shadows_route',
        phase: 'route.select',
        rule_ids: [block, s.rule],
        message: `when both match, the block wins and ${s.rule}'s switch to ${s.model} never applies`,
      });
    }
  }
  return conflicts;
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}
