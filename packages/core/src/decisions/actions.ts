import Type, { type Static, type TSchema } from 'typebox';
import { StringEnum, TaggedUnion } from '../schema/types.ts';
import { parseWithSchema } from '../schema/validator.ts';
import { assertNever } from '../util/assert-never.ts';

/**
 * Actions that request rules ask for, and how they combine: each action is normalised (phase,
 * effect, conflict key, priority), then all of them are applied in `(priority, declaration
 * index)` order into one arbitration: blocked or not, route constraints, reminders, alerts,
 * annotations and state events, with every conflict explained.
 */

/**
 * The longest message or reason an action may carry. A hostile policy script could otherwise
 * return megabytes per alert, and an alert queue holds up to its capacity of them (the default
 * idempotency key repeats the message too).
 */
export const MAX_ACTION_TEXT = 4096;

const common = {
  rule_id: Type.String({ minLength: 1, description: 'The rule that asked for the action.' }),
  priority: Type.Optional(
    Type.Integer({
      description: 'Lower applies first (is more important). Default depends on the action.',
    }),
  ),
  // Bounded: a policy script writes these, and alert queues, outboxes and receipts keep them.
  message: Type.Optional(
    Type.String({ maxLength: MAX_ACTION_TEXT, description: 'Shown in receipts.' }),
  ),
};

function variant<A extends string, P extends Record<string, TSchema>>(action: A, extra: P) {
  return Type.Object(
    { action: Type.Literal(action), ...common, ...extra },
    { additionalProperties: false },
  );
}

/** An action as a rule declares it: the rule's id is filled in by whoever applies it. */
function declared<A extends string, P extends Record<string, TSchema>>(action: A, extra: P) {
  const { rule_id: _ruleId, ...rest } = common;
  return Type.Object(
    { action: Type.Literal(action), ...rest, ...extra },
    { additionalProperties: false },
  );
}

export const AlertSeveritySchema = StringEnum(['info', 'warning', 'critical'], { default: 'info' });
export type AlertSeverity = Static<typeof AlertSeveritySchema>;

/** The keys of each action besides the common ones; shared by the action and its normal form. */
const own = {
  alert: {
    severity: Type.Optional(AlertSeveritySchema),
    idempotency_key: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 512,
        description: 'Alerts with the same key are delivered once.',
      }),
    ),
  },
  block: { reason: Type.Optional(Type.String({ maxLength: MAX_ACTION_TEXT })) },
  restrict_routes: {
    allowed_targets: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description: 'Models the request may be routed to; intersected with other restrictions.',
    }),
  },
  switch_model: {
    target_model: Type.String({ minLength: 1 }),
    allow_fallback: Type.Optional(
      Type.Boolean({
        description: 'When the model cannot be used, route normally instead of blocking.',
      }),
    ),
  },
  inject_reminder: {
    reminder: Type.String({ minLength: 1, description: 'System message added to the request.' }),
  },
  transition_state: {
    machine_id: Type.String({ minLength: 1 }),
    event: Type.String({ minLength: 1 }),
  },
};

export const ActionSchema = TaggedUnion('action', [
  variant('annotate', {}),
  variant('alert', own.alert),
  variant('block', own.block),
  variant('restrict_routes', own.restrict_routes),
  variant('switch_model', own.switch_model),
  variant('inject_reminder', own.inject_reminder),
  variant('transition_state', own.transition_state),
]);
export type Action = Static<typeof ActionSchema>;
export type ActionName = Action['action'];

/** `ActionSchema` without `rule_id`: what an artifact rule lists under `then`. */
export const RuleActionSchema = TaggedUnion('action', [
  declared('annotate', {}),
  declared('alert', own.alert),
  declared('block', own.block),
  declared('restrict_routes', own.restrict_routes),
  declared('switch_model', own.switch_model),
  declared('inject_reminder', own.inject_reminder),
  declared('transition_state', own.transition_state),
]);
export type RuleAction = Static<typeof RuleActionSchema>;

const ActionListSchema = Type.Array(ActionSchema);

/** Validate a list of action records (from rules or policy scripts); throws one `ConfigError`. */
export function parseActions(list: unknown): Action[] {
  return parseWithSchema(ActionListSchema, list, 'actions');
}

/** The stage of the request an action's effect belongs to. */
export const ActionPhaseSchema = StringEnum([
  'request.terminal',
  'request.routing',
  'request.rewrite',
  'request.alert',
  'request.state',
  'request.review',
]);
export type ActionPhase = Static<typeof ActionPhaseSchema>;

export const EffectTypeSchema = StringEnum([
  'terminal',
  'route_constraint',
  'request_transform',
  'alert',
  'state',
  'annotation',
]);
export type EffectType = Static<typeof EffectTypeSchema>;

/** How actions sharing a conflict key combine: a block wins, ordered ones apply in order. */
export const ConflictPolicySchema = StringEnum(['terminal', 'ordered', 'parallel_safe']);
export type ConflictPolicy = Static<typeof ConflictPolicySchema>;

const normalizedCommon = {
  rule_id: common.rule_id,
  priority: Type.Integer({
    description: 'The action’s own priority, else the default for its kind; lower applies first.',
  }),
  message: common.message,
};

function normalizedVariant<
  A extends string,
  P extends Record<string, TSchema>,
  E extends Record<string, TSchema>,
>(action: A, extra: P, effect: E) {
  return Type.Object(
    {
      action: Type.Literal(action),
      ...normalizedCommon,
      ...extra,
      ...effect,
      declaration_index: Type.Integer({
        minimum: 0,
        description: 'Position in the list the action came from.',
      }),
    },
    { additionalProperties: false },
  );
}

/**
 * The normalisation fields, fixed for each kind of action. They repeat `normalizeAction`'s
 * table on purpose (its literals stay on the hot path); the schema tests keep the two in step.
 */
function effect<
  P extends ActionPhase,
  T extends EffectType,
  C extends ConflictPolicy,
  K extends TSchema,
>(phase: P, effect_type: T, conflict_policy: C, conflict_key: K) {
  return {
    phase: Type.Literal(phase),
    effect_type: Type.Literal(effect_type),
    conflict_key,
    conflict_policy: Type.Literal(conflict_policy),
  };
}

// Declared on every variant so `conflict_key` reads the same on any normalised action, and
// `never` so a variant without a key rejects one.
const noConflictKey = Type.Optional(
  Type.Never({ description: 'Absent: the action conflicts with no other.' }),
);
const routing = effect(
  'request.routing',
  'route_constraint',
  'ordered',
  Type.Literal('route_constraints'),
);

/** An action as `normalizeAction` returns it: the action plus how and when it applies. */
export const NormalizedActionSchema = TaggedUnion('action', [
  normalizedVariant(
    'annotate',
    {},
    effect('request.review', 'annotation', 'parallel_safe', noConflictKey),
  ),
  normalizedVariant(
    'alert',
    {
      severity: AlertSeveritySchema,
      idempotency_key: own.alert.idempotency_key,
    },
    effect('request.alert', 'alert', 'parallel_safe', noConflictKey),
  ),
  normalizedVariant(
    'block',
    own.block,
    effect('request.terminal', 'terminal', 'terminal', Type.Literal('terminal_decision')),
  ),
  normalizedVariant('restrict_routes', own.restrict_routes, routing),
  normalizedVariant('switch_model', own.switch_model, routing),
  normalizedVariant(
    'inject_reminder',
    own.inject_reminder,
    effect('request.rewrite', 'request_transform', 'ordered', Type.Literal('request_rewrite')),
  ),
  normalizedVariant(
    'transition_state',
    own.transition_state,
    effect(
      'request.state',
      'state',
      'ordered',
      Type.String({
        pattern: '^state:[\\s\\S]+$',
        description: '`state:` and the machine id: events to one machine are ordered.',
      }),
    ),
  ),
]);
export type NormalizedAction = Static<typeof NormalizedActionSchema>;
type SwitchModel = Extract<NormalizedAction, { action: 'switch_model' }>;

export const DEFAULT_PRIORITY: Readonly<Record<ActionName, number>> = Object.freeze({
  block: 10,
  restrict_routes: 30,
  switch_model: 30,
  inject_reminder: 50,
  alert: 70,
  transition_state: 80,
  annotate: 90,
});

/**
 * `Object.assign` rather than `{ ...action, … }`: actions come in many shapes, and V8's object
 * spread over a megamorphic site is several times slower (about 1 µs per action on Node 20).
 */
function withEffect<A extends Action, const E extends object>(action: A, effect: E): A & E {
  return Object.assign({}, action, effect);
}

export function normalizeAction(action: Action, declaration_index: number): NormalizedAction {
  const priority = action.priority ?? DEFAULT_PRIORITY[action.action];
  switch (action.action) {
    case 'block':
      return withEffect(action, {
        phase: 'request.terminal',
        effect_type: 'terminal',
        conflict_key: 'terminal_decision',
        conflict_policy: 'terminal',
        priority,
        declaration_index,
      });
    case 'restrict_routes':
    case 'switch_model':
      return withEffect(action, {
        phase: 'request.routing',
        effect_type: 'route_constraint',
        conflict_key: 'route_constraints',
        conflict_policy: 'ordered',
        priority,
        declaration_index,
      });
    case 'inject_reminder':
      return withEffect(action, {
        phase: 'request.rewrite',
        effect_type: 'request_transform',
        conflict_key: 'request_rewrite',
        conflict_policy: 'ordered',
        priority,
        declaration_index,
      });
    case 'alert':
      return withEffect(action, {
        severity: action.severity ?? 'info',
        phase: 'request.alert',
        effect_type: 'alert',
        conflict_policy: 'parallel_safe',
        priority,
        declaration_index,
      });
    case 'transition_state':
      return withEffect(action, {
        phase: 'request.state',
        effect_type: 'state',
        conflict_key: `state:${action.machine_id}`,
        conflict_policy: 'ordered',
        priority,
        declaration_index,
      });
    case 'annotate':
      return withEffect(action, {
        phase: 'request.review',
        effect_type: 'annotation',
        conflict_policy: 'parallel_safe',
        priority,
        declaration_index,
      });
    default:
      return assertNever(action, 'action');
  }
}

export const ArbitratedRouteConstraintsSchema = Type.Object(
  {
    allowed_targets: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        uniqueItems: true,
        description:
          'Intersection of every `restrict_routes` list, in the order of the first applied; absent when no rule restricts routes, empty when the lists share no model.',
      }),
    ),
    forced_model: Type.Optional(
      Type.String({ minLength: 1, description: 'Target of the first applied `switch_model`.' }),
    ),
    allow_fallback: Type.Boolean({
      description: 'From the winning `switch_model`; false without one.',
    }),
  },
  { additionalProperties: false },
);
export type ArbitratedRouteConstraints = Static<typeof ArbitratedRouteConstraintsSchema>;

const ruleIdList = (options: { minItems: number; description: string }) =>
  Type.Array(Type.String({ minLength: 1 }), options);

/** Two or more actions that share a conflict key, and how they were resolved. */
export const ActionConflictSchema = Type.Object(
  {
    key: Type.String({
      pattern: '^(terminal_decision|route_constraints|request_rewrite|state:[\\s\\S]+)$',
      description: 'The conflict key the actions share.',
    }),
    class: StringEnum(['ordered', 'terminal'], {
      description: '`terminal` for blocks (a block wins), else `ordered` (application order).',
    }),
    rule_ids: ruleIdList({
      minItems: 2,
      description: 'Rules of the actions that share the key, in declaration order.',
    }),
    resolution: Type.String({
      minLength: 1,
      description: 'How actions with this key combine: a fixed sentence per key.',
    }),
    winner_rule_id: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'The rule whose action decided the outcome, when one did.',
      }),
    ),
    overridden_rule_ids: Type.Optional(
      ruleIdList({ minItems: 1, description: 'Rules whose `switch_model` lost to the winner.' }),
    ),
    empty_intersection: Type.Optional(
      Type.Literal(true, {
        description: 'The allow-lists have no model in common: routing will block.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ActionConflict = Static<typeof ActionConflictSchema>;

export const ActionArbitrationSchema = Type.Object(
  {
    blocked: Type.Boolean({ description: 'True when any action is a block, whatever its order.' }),
    blocking_rule_ids: ruleIdList({ minItems: 0, description: 'In application order.' }),
    route_constraints: ArbitratedRouteConstraintsSchema,
    reminders: Type.Array(Type.String({ minLength: 1 }), {
      uniqueItems: true,
      description: 'Distinct reminders, in application order.',
    }),
    alerts: Type.Array(
      Type.Object(
        {
          rule_id: common.rule_id,
          severity: AlertSeveritySchema,
          message: common.message,
          idempotency_key: own.alert.idempotency_key,
        },
        { additionalProperties: false },
      ),
      { description: 'In application order.' },
    ),
    annotations: Type.Array(
      Type.Object(
        { rule_id: common.rule_id, message: common.message },
        { additionalProperties: false },
      ),
      { description: 'In application order.' },
    ),
    state_events: Type.Array(
      Type.Object(
        { rule_id: common.rule_id, ...own.transition_state },
        { additionalProperties: false },
      ),
      { description: 'Events for state machines, in application order.' },
    ),
    applied: Type.Array(NormalizedActionSchema, {
      description: 'Every action, normalised, in application order.',
    }),
    conflicts: Type.Array(ActionConflictSchema, {
      description:
        'Groups of two or more actions sharing a conflict key, in order of first appearance.',
    }),
  },
  { additionalProperties: false },
);
export type ActionArbitration = Static<typeof ActionArbitrationSchema>;

const RESOLUTION = {
  terminal_decision: 'a block always wins: the request fails closed, whatever the order',
  route_constraints:
    'allow-lists intersect; the first switch_model in application order sets the forced model',
  request_rewrite: 'each distinct reminder is injected once, in application order',
  state: 'events reach the state machine in application order',
} as const;

/** Apply every action in `(priority, declaration index)` order into one decision. */
export function arbitrateActions(actions: readonly Action[]): ActionArbitration {
  const normalized = actions.map(normalizeAction);
  const applied = applicationOrder(normalized);

  const blocking_rule_ids: string[] = [];
  let allowed: string[] | undefined;
  const switches: SwitchModel[] = [];
  const reminders: string[] = [];
  const seenReminders = new Set<string>();
  const alerts: ActionArbitration['alerts'] = [];
  const annotations: ActionArbitration['annotations'] = [];
  const state_events: ActionArbitration['state_events'] = [];

  for (const action of applied) {
    switch (action.action) {
      case 'block':
        blocking_rule_ids.push(action.rule_id);
        break;
      case 'restrict_routes':
        allowed =
          allowed === undefined
            ? distinct(action.allowed_targets)
            : intersect(allowed, action.allowed_targets);
        break;
      case 'switch_model':
        switches.push(action);
        break;
      case 'inject_reminder':
        if (!seenReminders.has(action.reminder)) {
          seenReminders.add(action.reminder);
          reminders.push(action.reminder);
        }
        break;
      case 'alert': {
        const alert: ActionArbitration['alerts'][number] = {
          rule_id: action.rule_id,
          severity: action.severity,
        };
        if (action.message !== undefined) alert.message = action.message;
        if (action.idempotency_key !== undefined) alert.idempotency_key = action.idempotency_key;
        alerts.push(alert);
        break;
      }
      case 'annotate':
        annotations.push(
          action.message === undefined
            ? { rule_id: action.rule_id }
            : { rule_id: action.rule_id, message: action.message },
        );
        break;
      case 'transition_state':
        state_events.push({
          rule_id: action.rule_id,
          machine_id: action.machine_id,
          event: action.event,
        });
        break;
      default:
        assertNever(action, 'action');
    }
  }

  const route_constraints: ArbitratedRouteConstraints = { allow_fallback: false };
  if (allowed !== undefined) route_constraints.allowed_targets = allowed;
  const winner = switches[0];
  if (winner !== undefined) {
    route_constraints.forced_model = winner.target_model;
    route_constraints.allow_fallback = winner.allow_fallback === true;
  }

  return {
    blocked: blocking_rule_ids.length > 0,
    blocking_rule_ids,
    route_constraints,
    reminders,
    alerts,
    annotations,
    state_events,
    applied,
    conflicts: conflictsOf(normalized, blocking_rule_ids, switches, allowed),
  };
}

function conflictsOf(
  normalized: readonly NormalizedAction[],
  blocking_rule_ids: readonly string[],
  switches: readonly SwitchModel[],
  allowed: readonly string[] | undefined,
): ActionConflict[] {
  // A Map iterates in insertion order, so groups come out in order of first appearance.
  const groups = new Map<string, NormalizedAction[]>();
  for (const action of normalized) {
    if (action.conflict_key === undefined) continue;
    const group = groups.get(action.conflict_key);
    if (group === undefined) groups.set(action.conflict_key, [action]);
    else group.push(action);
  }
  const conflicts: ActionConflict[] = [];
  for (const [key, group] of groups) {
    if (group.length < 2) continue;
    const conflict: ActionConflict = {
      key,
      class: group[0]!.conflict_policy === 'terminal' ? 'terminal' : 'ordered',
      rule_ids: group.map((a) => a.rule_id),
      resolution: '',
    };
    if (key === 'terminal_decision') {
      conflict.resolution = RESOLUTION.terminal_decision;
      conflict.winner_rule_id = blocking_rule_ids[0]!;
    } else if (key === 'route_constraints') {
      conflict.resolution = RESOLUTION.route_constraints;
      const [winner, ...overridden] = switches;
      if (winner !== undefined) conflict.winner_rule_id = winner.rule_id;
      if (overridden.length > 0) conflict.overridden_rule_ids = overridden.map((a) => a.rule_id);
      if (allowed !== undefined && allowed.length === 0) conflict.empty_intersection = true;
    } else if (key === 'request_rewrite') {
      conflict.resolution = RESOLUTION.request_rewrite;
    } else {
      conflict.resolution = RESOLUTION.state;
    }
    conflicts.push(conflict);
  }
  return conflicts;
}

/** Stable order by `(priority, declaration_index)`; skips sorting when already in order. */
function applicationOrder(normalized: readonly NormalizedAction[]): NormalizedAction[] {
  const ordered = normalized.slice();
  for (let i = 1; i < ordered.length; i++) {
    if (ordered[i - 1]!.priority > ordered[i]!.priority) {
      return ordered.sort(
        (a, b) => a.priority - b.priority || a.declaration_index - b.declaration_index,
      );
    }
  }
  return ordered;
}

function distinct(list: readonly string[]): string[] {
  return [...new Set(list)];
}

/** Members of `kept` (in its order) that `other` also lists. */
function intersect(kept: readonly string[], other: readonly string[]): string[] {
  const set = new Set(other);
  return kept.filter((model) => set.has(model));
}
