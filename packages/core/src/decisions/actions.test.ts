import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/config-error.ts';
import { schemaIssues } from '../schema/validator.ts';
import {
  type Action,
  ActionArbitrationSchema,
  ActionConflictSchema,
  ActionPhaseSchema,
  ActionSchema,
  ArbitratedRouteConstraintsSchema,
  arbitrateActions,
  ConflictPolicySchema,
  DEFAULT_PRIORITY,
  EffectTypeSchema,
  type NormalizedAction,
  NormalizedActionSchema,
  normalizeAction,
  parseActions,
} from './actions.ts';
import { compileRouting, RouteConstraintsSchema, selectRoute } from './routes.ts';

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

describe('action vectors (§6.4, renamed actions)', () => {
  it('V1 normalises a route restriction: routing phase, ordered route conflict key, explicit priority', () => {
    const action: Action = {
      rule_id: 'private-local-only',
      action: 'restrict_routes',
      allowed_targets: ['local/model'],
      priority: 25,
    };
    expect(normalizeAction(action, 0)).toEqual({
      ...action,
      phase: 'request.routing',
      effect_type: 'route_constraint',
      conflict_key: 'route_constraints',
      conflict_policy: 'ordered',
      priority: 25,
      declaration_index: 0,
    });
  });

  it('V2 a restriction and a model switch conflict on route_constraints (differs from the original: the resolution names priority order, not declaration order)', () => {
    const result = arbitrateActions([
      { rule_id: 'local-only', action: 'restrict_routes', allowed_targets: ['local/model'] },
      { rule_id: 'strong-model', action: 'switch_model', target_model: 'strong/model' },
    ]);
    expect(result.conflicts).toEqual([
      {
        key: 'route_constraints',
        class: 'ordered',
        rule_ids: ['local-only', 'strong-model'],
        resolution:
          'allow-lists intersect; the first switch_model in application order sets the forced model',
        winner_rule_id: 'strong-model',
      },
    ]);
  });

  it('V3 a block is a terminal effect and blocks', () => {
    const result = arbitrateActions([{ rule_id: 'deny', action: 'block' }]);
    expect(result.applied[0]).toMatchObject({
      effect_type: 'terminal',
      phase: 'request.terminal',
      conflict_key: 'terminal_decision',
    });
    expect(result.blocked).toBe(true);
    expect(result.blocking_rule_ids).toEqual(['deny']);
  });

  it('V4 an annotation is reviewed in request.review with the default priority 90 and no conflict key', () => {
    const normalized = normalizeAction({ rule_id: 'note', action: 'annotate' }, 3);
    expect(normalized).toEqual({
      rule_id: 'note',
      action: 'annotate',
      phase: 'request.review',
      effect_type: 'annotation',
      conflict_policy: 'parallel_safe',
      priority: 90,
      declaration_index: 3,
    });
    expect('conflict_key' in normalized).toBe(false);
  });

  it('V5 phases and default priorities of every action', () => {
    const actions: Action[] = [
      { rule_id: 'a', action: 'block', reason: 'no' },
      { rule_id: 'b', action: 'restrict_routes', allowed_targets: ['m'] },
      { rule_id: 'c', action: 'switch_model', target_model: 'm' },
      { rule_id: 'd', action: 'inject_reminder', reminder: 'be brief' },
      { rule_id: 'e', action: 'alert' },
      { rule_id: 'f', action: 'transition_state', machine_id: 'review', event: 'submit' },
      { rule_id: 'g', action: 'annotate' },
    ];
    expect(
      actions.map((a, i) => {
        const n = normalizeAction(a, i);
        return [n.action, n.phase, n.effect_type, n.conflict_key, n.conflict_policy, n.priority];
      }),
    ).toEqual([
      ['block', 'request.terminal', 'terminal', 'terminal_decision', 'terminal', 10],
      [
        'restrict_routes',
        'request.routing',
        'route_constraint',
        'route_constraints',
        'ordered',
        30,
      ],
      ['switch_model', 'request.routing', 'route_constraint', 'route_constraints', 'ordered', 30],
      ['inject_reminder', 'request.rewrite', 'request_transform', 'request_rewrite', 'ordered', 50],
      ['alert', 'request.alert', 'alert', undefined, 'parallel_safe', 70],
      ['transition_state', 'request.state', 'state', 'state:review', 'ordered', 80],
      ['annotate', 'request.review', 'annotation', undefined, 'parallel_safe', 90],
    ]);
    expect(normalizeAction(actions[4]!, 4)).toMatchObject({ severity: 'info' });
    expect(DEFAULT_PRIORITY.annotate).toBe(90);
  });
});

describe('parsing actions', () => {
  it('accepts valid records and returns them unchanged', () => {
    const list = [
      { rule_id: 'r', action: 'alert', severity: 'critical', idempotency_key: 'k', priority: 1 },
      { rule_id: 's', action: 'switch_model', target_model: 'big', allow_fallback: true },
    ];
    expect(parseActions(list)).toBe(list);
  });

  it('reports every invalid record with its path', () => {
    let caught: unknown;
    try {
      parseActions([
        { rule_id: 'a', action: 'restrict_routes', allowed_targets: [] },
        { rule_id: 'b', action: 'inject_reminder' },
        { rule_id: 'c', action: 'escalate' },
        { rule_id: 'd', action: 'alert', severity: 'loud' },
        { rule_id: 'e', action: 'block', priority: 1.5 },
      ]);
    } catch (error) {
      caught = error;
    }
    expect(ConfigError.isInstance(caught)).toBe(true);
    expect((caught as ConfigError).issues).toEqual([
      { path: '$[0].allowed_targets', message: 'must NOT have fewer than 1 items' },
      { path: '$[1].reminder', message: 'is required' },
      {
        path: '$[2].action',
        message: 'is not a known action, got "escalate"',
        expected:
          'one of `annotate`, `alert`, `block`, `restrict_routes`, `switch_model`, `inject_reminder`, `transition_state`',
      },
      {
        path: '$[3].severity',
        message: 'must be one of the allowed values, got "loud"',
        expected: 'one of `info`, `warning`, `critical`',
      },
      { path: '$[4].priority', message: 'must be an integer, got 1.5' },
    ]);
    expect(ActionSchema).toMatchObject({ discriminator: { propertyName: 'action' } });
  });
});

describe('arbitration', () => {
  it('a block wins whatever its priority; every blocking rule is listed in application order', () => {
    const result = arbitrateActions([
      { rule_id: 'route', action: 'switch_model', target_model: 'big', priority: 1 },
      { rule_id: 'late-deny', action: 'block', priority: 99 },
      { rule_id: 'deny', action: 'block', reason: 'secret' },
    ]);
    expect(result.blocked).toBe(true);
    expect(result.blocking_rule_ids).toEqual(['deny', 'late-deny']);
    expect(result.route_constraints).toEqual({ forced_model: 'big', allow_fallback: false });
    expect(result.conflicts).toEqual([
      {
        key: 'terminal_decision',
        class: 'terminal',
        rule_ids: ['late-deny', 'deny'],
        resolution: 'a block always wins: the request fails closed, whatever the order',
        winner_rule_id: 'deny',
      },
    ]);
  });

  it('differs from the original: effects apply by (priority, declaration index), not declaration order alone', () => {
    const result = arbitrateActions([
      { rule_id: 'note', action: 'annotate', message: 'seen' },
      { rule_id: 'remind-late', action: 'inject_reminder', reminder: 'cite sources', priority: 60 },
      { rule_id: 'remind-early', action: 'inject_reminder', reminder: 'be brief', priority: 40 },
      { rule_id: 'remind-again', action: 'inject_reminder', reminder: 'be brief' },
    ]);
    expect(result.applied.map((a) => [a.rule_id, a.priority, a.declaration_index])).toEqual([
      ['remind-early', 40, 2],
      ['remind-again', 50, 3],
      ['remind-late', 60, 1],
      ['note', 90, 0],
    ]);
    expect(result.reminders).toEqual(['be brief', 'cite sources']);
    expect(result.annotations).toEqual([{ rule_id: 'note', message: 'seen' }]);
    expect(result.conflicts).toEqual([
      {
        key: 'request_rewrite',
        class: 'ordered',
        rule_ids: ['remind-late', 'remind-early', 'remind-again'],
        resolution: 'each distinct reminder is injected once, in application order',
      },
    ]);
  });

  it('differs from the original: the first applied switch_model wins and the later ones are reported as overridden', () => {
    const result = arbitrateActions([
      { rule_id: 'cheap', action: 'switch_model', target_model: 'small', allow_fallback: true },
      { rule_id: 'strong', action: 'switch_model', target_model: 'large', priority: 20 },
      { rule_id: 'other', action: 'switch_model', target_model: 'medium', allow_fallback: true },
    ]);
    expect(result.route_constraints).toEqual({ forced_model: 'large', allow_fallback: false });
    expect(result.conflicts).toEqual([
      {
        key: 'route_constraints',
        class: 'ordered',
        rule_ids: ['cheap', 'strong', 'other'],
        resolution: expect.any(String),
        winner_rule_id: 'strong',
        overridden_rule_ids: ['cheap', 'other'],
      },
    ]);
    expect(
      arbitrateActions([
        { rule_id: 'cheap', action: 'switch_model', target_model: 'small', allow_fallback: true },
      ]).route_constraints,
    ).toEqual({ forced_model: 'small', allow_fallback: true });
  });

  it('intersects allow-lists in the order of the first applied list, dropping duplicates', () => {
    const result = arbitrateActions([
      { rule_id: 'b', action: 'restrict_routes', allowed_targets: ['z', 'y', 'x', 'w'] },
      {
        rule_id: 'a',
        action: 'restrict_routes',
        allowed_targets: ['x', 'y', 'x', 'q'],
        priority: 5,
      },
    ]);
    expect(result.route_constraints).toEqual({
      allowed_targets: ['x', 'y'],
      allow_fallback: false,
    });
    expect(result.conflicts[0]).not.toHaveProperty('empty_intersection');
    expect(result.conflicts[0]).not.toHaveProperty('winner_rule_id');
  });

  it('keeps an empty intersection as [] and reports it', () => {
    const result = arbitrateActions([
      { rule_id: 'local', action: 'restrict_routes', allowed_targets: ['local'] },
      { rule_id: 'cloud', action: 'restrict_routes', allowed_targets: ['cloud'] },
    ]);
    expect(result.route_constraints).toEqual({ allowed_targets: [], allow_fallback: false });
    expect(result.conflicts).toEqual([
      {
        key: 'route_constraints',
        class: 'ordered',
        rule_ids: ['local', 'cloud'],
        resolution: expect.any(String),
        empty_intersection: true,
      },
    ]);
  });

  it('an empty intersection makes routing block', () => {
    const { route_constraints } = arbitrateActions([
      { rule_id: 'local', action: 'restrict_routes', allowed_targets: ['local'] },
      { rule_id: 'cloud', action: 'restrict_routes', allowed_targets: ['cloud'] },
    ]);
    const routing = compileRouting({
      targets: [
        { model: 'local', context_window: 100 },
        { model: 'cloud', context_window: 100 },
      ],
    });
    expect(
      selectRoute(routing, { estimated_prompt_tokens: 1, constraints: route_constraints }),
    ).toMatchObject({ kind: 'blocked', reason: 'no_allowed_target' });
  });

  it('collects alerts, annotations and state events in application order', () => {
    const result = arbitrateActions([
      { rule_id: 'n', action: 'annotate' },
      { rule_id: 'a1', action: 'alert', message: 'm', severity: 'warning', idempotency_key: 'k' },
      { rule_id: 'a2', action: 'alert', priority: 5 },
      { rule_id: 's1', action: 'transition_state', machine_id: 'review', event: 'flag' },
      { rule_id: 's2', action: 'transition_state', machine_id: 'other', event: 'go' },
      { rule_id: 's3', action: 'transition_state', machine_id: 'review', event: 'escalate' },
    ]);
    expect(result.blocked).toBe(false);
    expect(result.alerts).toEqual([
      { rule_id: 'a2', severity: 'info' },
      { rule_id: 'a1', severity: 'warning', message: 'm', idempotency_key: 'k' },
    ]);
    expect(result.annotations).toEqual([{ rule_id: 'n' }]);
    expect(result.state_events).toEqual([
      { rule_id: 's1', machine_id: 'review', event: 'flag' },
      { rule_id: 's2', machine_id: 'other', event: 'go' },
      { rule_id: 's3', machine_id: 'review', event: 'escalate' },
    ]);
    expect(result.conflicts).toEqual([
      {
        key: 'state:review',
        class: 'ordered',
        rule_ids: ['s1', 's3'],
        resolution: 'events reach the state machine in application order',
      },
    ]);
    expect(result.route_constraints).toEqual({ allow_fallback: false });
  });

  it('differs from the original: conflicts are listed in order of first appearance, not by key', () => {
    const result = arbitrateActions([
      { rule_id: 'd1', action: 'block' },
      { rule_id: 'r1', action: 'restrict_routes', allowed_targets: ['m'] },
      { rule_id: 'd2', action: 'block' },
      { rule_id: 'r2', action: 'restrict_routes', allowed_targets: ['m'] },
    ]);
    expect(result.conflicts.map((c) => c.key)).toEqual(['terminal_decision', 'route_constraints']);
  });

  it('returns an empty decision for no actions', () => {
    expect(arbitrateActions([])).toEqual({
      blocked: false,
      blocking_rule_ids: [],
      route_constraints: { allow_fallback: false },
      reminders: [],
      alerts: [],
      annotations: [],
      state_events: [],
      applied: [],
      conflicts: [],
    });
  });
});

const models = fc.constantFrom('a', 'b', 'c', 'd');
const ruleId = fc.constantFrom('r1', 'r2', 'r3', 'r4', 'r5');
const priority = fc.option(fc.integer({ min: -5, max: 100 }), { nil: undefined });
const withPriority = <T extends object>(base: T, p: number | undefined) =>
  p === undefined ? base : { ...base, priority: p };

const arbitraryBareAction: fc.Arbitrary<Action> = fc.oneof(
  fc
    .tuple(ruleId, priority)
    .map(([rule_id, p]) => withPriority({ rule_id, action: 'annotate' as const }, p)),
  fc
    .tuple(
      ruleId,
      priority,
      fc.option(fc.constantFrom('info' as const, 'warning' as const, 'critical' as const), {
        nil: undefined,
      }),
      fc.option(fc.constantFrom('k1', 'k2'), { nil: undefined }),
    )
    .map(([rule_id, p, severity, idempotency_key]) =>
      withPriority(
        {
          rule_id,
          action: 'alert' as const,
          ...(severity === undefined ? {} : { severity }),
          ...(idempotency_key === undefined ? {} : { idempotency_key }),
        },
        p,
      ),
    ),
  fc
    .tuple(ruleId, priority, fc.option(fc.constantFrom('secret', ''), { nil: undefined }))
    .map(([rule_id, p, reason]) =>
      withPriority(
        { rule_id, action: 'block' as const, ...(reason === undefined ? {} : { reason }) },
        p,
      ),
    ),
  fc
    .tuple(ruleId, priority, fc.array(models, { minLength: 1, maxLength: 4 }))
    .map(([rule_id, p, allowed_targets]) =>
      withPriority({ rule_id, action: 'restrict_routes' as const, allowed_targets }, p),
    ),
  fc
    .tuple(ruleId, priority, models, fc.boolean())
    .map(([rule_id, p, target_model, allow_fallback]) =>
      withPriority({ rule_id, action: 'switch_model' as const, target_model, allow_fallback }, p),
    ),
  fc
    .tuple(ruleId, priority, fc.constantFrom('x', 'y'))
    .map(([rule_id, p, reminder]) =>
      withPriority({ rule_id, action: 'inject_reminder' as const, reminder }, p),
    ),
  fc
    .tuple(ruleId, priority, fc.constantFrom('m1', 'm2'))
    .map(([rule_id, p, machine_id]) =>
      withPriority({ rule_id, action: 'transition_state' as const, machine_id, event: 'e' }, p),
    ),
);

/** Any action, with or without a `message`. */
const arbitraryAction: fc.Arbitrary<Action> = fc
  .tuple(arbitraryBareAction, fc.option(fc.constantFrom('seen', ''), { nil: undefined }))
  .map(([action, message]) => (message === undefined ? action : { ...action, message }));

describe('arbitration properties', () => {
  it('is pure, ordered, and honours every combination rule', () => {
    fc.assert(
      fc.property(fc.array(arbitraryAction, { maxLength: 12 }), (list) => {
        const copy = structuredClone(list);
        const result = arbitrateActions(deepFreeze(list));
        expect(arbitrateActions(copy)).toEqual(result);
        expect(copy).toEqual(list);

        expect(parseActions(copy)).toBe(copy);
        expect(result.blocked).toBe(list.some((a) => a.action === 'block'));

        const applied = result.applied;
        expect(applied.map((a) => a.declaration_index).sort((x, y) => x - y)).toEqual(
          list.map((_, i) => i),
        );
        for (let i = 1; i < applied.length; i++) {
          const [p, q] = [applied[i - 1]!, applied[i]!];
          expect(
            p.priority < q.priority ||
              (p.priority === q.priority && p.declaration_index < q.declaration_index),
          ).toBe(true);
        }

        const restricts = list.filter((a) => a.action === 'restrict_routes');
        const allowed = result.route_constraints.allowed_targets;
        expect(allowed === undefined).toBe(restricts.length === 0);
        for (const model of allowed ?? []) {
          for (const r of restricts) expect(r.allowed_targets).toContain(model);
        }
        expect(new Set(allowed).size).toBe(allowed?.length ?? 0);

        const firstSwitch = applied.find((a) => a.action === 'switch_model');
        expect(result.route_constraints.forced_model).toBe(
          firstSwitch?.action === 'switch_model' ? firstSwitch.target_model : undefined,
        );
        expect(new Set(result.reminders).size).toBe(result.reminders.length);

        const keys = result.conflicts.map((c) => c.key);
        expect(new Set(keys).size).toBe(keys.length);
        for (const conflict of result.conflicts) {
          expect(conflict.rule_ids.length).toBeGreaterThanOrEqual(2);
        }
      }),
    );
  });

  it('what is blocked and what is allowed does not depend on declaration order', () => {
    fc.assert(
      fc.property(
        fc
          .array(arbitraryAction, { maxLength: 10 })
          .chain((list) =>
            fc.tuple(
              fc.constant(list),
              fc.shuffledSubarray(list, { minLength: list.length, maxLength: list.length }),
            ),
          ),
        ([list, shuffled]) => {
          const a = arbitrateActions(list);
          const b = arbitrateActions(shuffled);
          expect(b.blocked).toBe(a.blocked);
          expect(new Set(b.blocking_rule_ids)).toEqual(new Set(a.blocking_rule_ids));
          expect(new Set(b.route_constraints.allowed_targets)).toEqual(
            new Set(a.route_constraints.allowed_targets),
          );
          expect(new Set(b.reminders)).toEqual(new Set(a.reminders));
        },
      ),
    );
  });
});

describe('arbitration output schemas', () => {
  it('every arbitration, normalised action and conflict over generated actions matches its schema', () => {
    fc.assert(
      fc.property(fc.array(arbitraryAction, { maxLength: 12 }), (list) => {
        const result = arbitrateActions(list);
        expect(schemaIssues(ActionArbitrationSchema, result)).toEqual([]);
        expect(schemaIssues(ArbitratedRouteConstraintsSchema, result.route_constraints)).toEqual(
          [],
        );
        // What arbitration allows is a valid routing input as it is.
        expect(schemaIssues(RouteConstraintsSchema, result.route_constraints)).toEqual([]);
        for (const conflict of result.conflicts) {
          expect(schemaIssues(ActionConflictSchema, conflict)).toEqual([]);
        }
        list.forEach((action, index) => {
          const normalized = normalizeAction(action, index);
          expect(schemaIssues(NormalizedActionSchema, normalized)).toEqual([]);
          expect(schemaIssues(ActionPhaseSchema, normalized.phase)).toEqual([]);
          expect(schemaIssues(EffectTypeSchema, normalized.effect_type)).toEqual([]);
          expect(schemaIssues(ConflictPolicySchema, normalized.conflict_policy)).toEqual([]);
        });
      }),
    );
  });

  it('the schemas reject what the core never returns', () => {
    const block = normalizeAction({ rule_id: 'deny', action: 'block' }, 0);
    expect(schemaIssues(NormalizedActionSchema, block)).toEqual([]);
    expect(schemaIssues(NormalizedActionSchema, { ...block, phase: 'request.review' })).toEqual([
      { path: '$.phase', message: 'must be "request.terminal", got "request.review"' },
    ]);
    const note = normalizeAction({ rule_id: 'note', action: 'annotate' }, 1);
    expect(schemaIssues(NormalizedActionSchema, { ...note, conflict_key: 'x' })).not.toEqual([]);
    const alert = normalizeAction({ rule_id: 'a', action: 'alert' }, 2) as Extract<
      NormalizedAction,
      { action: 'alert' }
    >;
    const { severity: _, ...unresolved } = alert;
    expect(schemaIssues(NormalizedActionSchema, unresolved)).toEqual([
      { path: '$.severity', message: 'is required' },
    ]);
    const state = normalizeAction(
      { rule_id: 's', action: 'transition_state', machine_id: 'm', event: 'e' },
      3,
    );
    expect(schemaIssues(NormalizedActionSchema, state)).toEqual([]);
    expect(schemaIssues(NormalizedActionSchema, { ...state, conflict_key: 'm' })).not.toEqual([]);

    const conflict = arbitrateActions([
      { rule_id: 'd1', action: 'block' },
      { rule_id: 'd2', action: 'block' },
    ]).conflicts[0]!;
    expect(schemaIssues(ActionConflictSchema, conflict)).toEqual([]);
    expect(schemaIssues(ActionConflictSchema, { ...conflict, rule_ids: ['d1'] })).not.toEqual([]);
    expect(schemaIssues(ActionConflictSchema, { ...conflict, key: 'state:' })).not.toEqual([]);
    expect(
      schemaIssues(ActionConflictSchema, { ...conflict, empty_intersection: false }),
    ).not.toEqual([]);
    expect(
      schemaIssues(ArbitratedRouteConstraintsSchema, {
        allowed_targets: ['a', 'a'],
        allow_fallback: false,
      }),
    ).not.toEqual([]);
    expect(schemaIssues(ActionArbitrationSchema, arbitrateActions([]))).toEqual([]);
    expect(
      schemaIssues(ActionArbitrationSchema, { ...arbitrateActions([]), blocked: 'no' }),
    ).toEqual([{ path: '$.blocked', message: 'must be a boolean, got the string "no"' }]);
  });
});
