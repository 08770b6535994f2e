import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/config-error.ts';
import { WardwrightError } from '../errors/wardwright-error.ts';
import { schemaIssues } from '../schema/validator.ts';
import {
  compileRouting,
  estimatePromptTokens,
  type RouteConstraints,
  RouteConstraintsSchema,
  RouteDecisionSchema,
  RouteRequestSchema,
  RouteSkipReasonSchema,
  RouteSkipSchema,
  type RoutingConfig,
  RoutingConfigSchema,
  selectRoute,
} from './routes.ts';

const tiers: RoutingConfig = {
  targets: [
    { model: 'small/model', context_window: 16 },
    { model: 'medium/model', context_window: 64 },
    { model: 'large/model', context_window: 256 },
  ],
};
const routing = compileRouting(tiers);
const withFallback = compileRouting({ ...tiers, fallback_model: 'medium/model' });

function issuesOf(config: unknown) {
  try {
    compileRouting(config);
  } catch (error) {
    if (ConfigError.isInstance(error)) return error.issues;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('route vectors (§6.9)', () => {
  it('V1 estimate 32 picks medium (64) and skips small (16) as too small', () => {
    expect(selectRoute(routing, { estimated_prompt_tokens: 32 })).toEqual({
      kind: 'selected',
      model: 'medium/model',
      context_window: 64,
      reason: 'first_fit',
      skipped: [{ model: 'small/model', reason: 'context_window_too_small' }],
      fallback_models: ['large/model'],
    });
  });

  it('differs from the original: when nothing fits and no fallback_model is configured, routing blocks instead of taking the last target', () => {
    expect(selectRoute(routing, { estimated_prompt_tokens: 300 })).toEqual({
      kind: 'blocked',
      reason: 'no_target_fits',
      skipped: [
        { model: 'small/model', reason: 'context_window_too_small' },
        { model: 'medium/model', reason: 'context_window_too_small' },
        { model: 'large/model', reason: 'context_window_too_small' },
      ],
    });
  });

  it('differs from the original: when nothing fits, the explicit fallback_model is used even though it is too small', () => {
    expect(selectRoute(withFallback, { estimated_prompt_tokens: 300 })).toEqual({
      kind: 'selected',
      model: 'medium/model',
      context_window: 64,
      reason: 'fallback_model',
      skipped: [
        { model: 'small/model', reason: 'context_window_too_small' },
        { model: 'medium/model', reason: 'context_window_too_small' },
        { model: 'large/model', reason: 'context_window_too_small' },
      ],
      fallback_models: [],
    });
  });
});

describe('constraints', () => {
  it('takes only allowed targets; an empty allow-list allows none', () => {
    expect(
      selectRoute(routing, {
        estimated_prompt_tokens: 10,
        constraints: { allowed_targets: ['large/model', 'unknown/model'] },
      }),
    ).toEqual({
      kind: 'selected',
      model: 'large/model',
      context_window: 256,
      reason: 'first_fit',
      skipped: [
        { model: 'small/model', reason: 'not_allowed' },
        { model: 'medium/model', reason: 'not_allowed' },
      ],
      fallback_models: [],
    });
    expect(
      selectRoute(withFallback, {
        estimated_prompt_tokens: 10,
        constraints: { allowed_targets: [] },
      }),
    ).toEqual({
      kind: 'blocked',
      reason: 'no_allowed_target',
      skipped: [
        { model: 'small/model', reason: 'not_allowed' },
        { model: 'medium/model', reason: 'not_allowed' },
        { model: 'large/model', reason: 'not_allowed' },
      ],
    });
  });

  it('reroutes a retry away from the excluded current model', () => {
    expect(
      selectRoute(withFallback, { estimated_prompt_tokens: 50, exclude_models: ['medium/model'] }),
    ).toMatchObject({
      kind: 'selected',
      model: 'large/model',
      skipped: [
        { model: 'small/model', reason: 'context_window_too_small' },
        { model: 'medium/model', reason: 'excluded' },
      ],
    });
    expect(
      selectRoute(routing, {
        estimated_prompt_tokens: 1,
        exclude_models: ['small/model', 'medium/model', 'large/model'],
      }),
    ).toMatchObject({ kind: 'blocked', reason: 'no_allowed_target' });
  });

  it('never uses a fallback_model that is excluded or not allowed', () => {
    expect(
      selectRoute(withFallback, { estimated_prompt_tokens: 300, exclude_models: ['medium/model'] }),
    ).toMatchObject({ kind: 'blocked', reason: 'no_target_fits' });
    expect(
      selectRoute(withFallback, {
        estimated_prompt_tokens: 300,
        constraints: { allowed_targets: ['large/model'] },
      }),
    ).toMatchObject({ kind: 'blocked', reason: 'no_target_fits' });
  });
});

describe('forced model', () => {
  const force = (forced_model: string, extra: Partial<RouteConstraints> = {}) => ({
    forced_model,
    ...extra,
  });

  it('selects the forced model when it is allowed and fits, without fallbacks unless allowed', () => {
    expect(
      selectRoute(routing, { estimated_prompt_tokens: 10, constraints: force('large/model') }),
    ).toEqual({
      kind: 'selected',
      model: 'large/model',
      context_window: 256,
      reason: 'forced_model',
      skipped: [],
      fallback_models: [],
    });
    expect(
      selectRoute(routing, {
        estimated_prompt_tokens: 20,
        constraints: force('large/model', { allow_fallback: true }),
      }),
    ).toMatchObject({ reason: 'forced_model', fallback_models: ['medium/model'] });
  });

  it('blocks with the reason the forced model cannot be used', () => {
    const cases: [RouteConstraints, number, string, string][] = [
      [force('missing/model'), 10, 'unknown_model', 'forced_model_not_allowed'],
      [
        force('large/model', { allowed_targets: ['small/model'] }),
        10,
        'not_allowed',
        'forced_model_not_allowed',
      ],
      [force('small/model'), 32, 'context_window_too_small', 'forced_model_too_small'],
    ];
    for (const [constraints, tokens, skip, reason] of cases) {
      expect(selectRoute(withFallback, { estimated_prompt_tokens: tokens, constraints })).toEqual({
        kind: 'blocked',
        reason,
        skipped: [{ model: constraints.forced_model, reason: skip }],
      });
    }
    expect(
      selectRoute(routing, {
        estimated_prompt_tokens: 10,
        constraints: force('medium/model'),
        exclude_models: ['medium/model'],
      }),
    ).toEqual({
      kind: 'blocked',
      reason: 'forced_model_excluded',
      skipped: [{ model: 'medium/model', reason: 'excluded' }],
    });
  });

  it('with allow_fallback, routes normally and says why, without listing the forced model twice', () => {
    expect(
      selectRoute(routing, {
        estimated_prompt_tokens: 32,
        constraints: force('small/model', { allow_fallback: true }),
      }),
    ).toEqual({
      kind: 'selected',
      model: 'medium/model',
      context_window: 64,
      reason: 'forced_model_fallback',
      skipped: [{ model: 'small/model', reason: 'context_window_too_small' }],
      fallback_models: ['large/model'],
    });
    expect(
      selectRoute(routing, {
        estimated_prompt_tokens: 10,
        constraints: force('missing/model', { allow_fallback: true }),
      }),
    ).toMatchObject({
      model: 'small/model',
      reason: 'forced_model_fallback',
      skipped: [{ model: 'missing/model', reason: 'unknown_model' }],
    });
  });

  it('with allow_fallback, still blocks when normal routing finds nothing', () => {
    expect(
      selectRoute(routing, {
        estimated_prompt_tokens: 300,
        constraints: force('small/model', { allow_fallback: true }),
      }),
    ).toMatchObject({ kind: 'blocked', reason: 'no_target_fits' });
    expect(
      selectRoute(routing, {
        estimated_prompt_tokens: 10,
        constraints: force('small/model', { allow_fallback: true, allowed_targets: [] }),
      }),
    ).toMatchObject({ kind: 'blocked', reason: 'no_allowed_target' });
  });

  it('rejects an estimate that is negative or not a number', () => {
    for (const estimated_prompt_tokens of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      let caught: unknown;
      try {
        selectRoute(routing, { estimated_prompt_tokens });
      } catch (error) {
        caught = error;
      }
      expect(WardwrightError.isInstance(caught)).toBe(true);
      expect((caught as WardwrightError).code).toBe('invalid_argument');
    }
  });
});

describe('routing config', () => {
  it('rejects duplicate models and a fallback that is not a target', () => {
    expect(
      issuesOf({
        targets: [
          { model: 'a', context_window: 8 },
          { model: 'b', context_window: 8 },
          { model: 'a', context_window: 16 },
        ],
        fallback_model: 'c',
      }),
    ).toEqual([
      { path: '$.targets[2].model', message: 'repeats the model "a" of $.targets[0]' },
      {
        path: '$.fallback_model',
        message: 'names "c", which is not a target',
        expected: 'one of `a`, `b`',
      },
    ]);
  });

  it('rejects an empty target list and a zero context window', () => {
    expect(issuesOf({ targets: [] })).toEqual([
      { path: '$.targets', message: 'must NOT have fewer than 1 items' },
    ]);
    expect(issuesOf({ targets: [{ model: 'a', context_window: 0 }] })).toEqual([
      { path: '$.targets[0].context_window', message: 'must be >= 1, got 0' },
    ]);
  });

  it('compiles targets in declaration order with no fallback by default', () => {
    expect(routing.targets.map((t) => t.model)).toEqual([
      'small/model',
      'medium/model',
      'large/model',
    ]);
    expect(routing.fallback_model).toBeNull();
    expect(Object.isFrozen(routing)).toBe(true);
  });
});

describe('prompt token estimate', () => {
  it('counts UTF-8 bytes of role and content / 4, rounded up, plus 4 per message', () => {
    expect(estimatePromptTokens([])).toBe(0);
    // 'user' + 'hello' = 9 bytes → 3 tokens, + 4 framing.
    expect(estimatePromptTokens([{ role: 'user', content: 'hello' }])).toBe(7);
    // 'system' (6) + 'é' (2) + 'user' (4) + '😀' (4) = 16 bytes → 4 tokens, + 8 framing.
    expect(
      estimatePromptTokens([
        { role: 'system', content: 'é' },
        { role: 'user', content: '😀' },
      ]),
    ).toBe(12);
  });
});

const model: fc.Arbitrary<string> = fc.constantFrom('m0', 'm1', 'm2', 'm3', 'm4', 'ghost');
const arbitraryRouting = fc
  .uniqueArray(
    fc.record({
      model: fc.constantFrom('m0', 'm1', 'm2', 'm3', 'm4'),
      context_window: fc.integer({ min: 1, max: 100 }),
    }),
    { minLength: 1, maxLength: 5, selector: (t) => t.model },
  )
  .chain((targets) =>
    fc.record({
      targets: fc.constant(targets),
      fallback_model: fc.option(fc.constantFrom(...targets.map((t) => t.model)), {
        nil: undefined,
      }),
    }),
  )
  .map(
    ({ targets, fallback_model }): RoutingConfig =>
      fallback_model === undefined ? { targets } : { targets, fallback_model },
  );
const arbitraryConstraints = fc.record(
  {
    allowed_targets: fc.array(model, { maxLength: 4 }),
    forced_model: model,
    allow_fallback: fc.boolean(),
  },
  { requiredKeys: [] },
);

describe('route selection properties', () => {
  it('a selected model satisfies the constraints, or the reason says why not', () => {
    fc.assert(
      fc.property(
        arbitraryRouting,
        arbitraryConstraints,
        fc.array(model, { maxLength: 3 }),
        fc.integer({ min: 0, max: 120 }),
        (config, constraints, exclude_models, estimated_prompt_tokens) => {
          const compiled = compileRouting(config);
          const request = deepFreeze({ estimated_prompt_tokens, constraints, exclude_models });
          const before = structuredClone(request);
          const decision = selectRoute(compiled, request);
          expect(request).toEqual(before);
          expect(
            selectRoute(compileRouting(structuredClone(config)), structuredClone(request)),
          ).toEqual(decision);
          const allowed = (m: string) =>
            (constraints.allowed_targets === undefined ||
              constraints.allowed_targets.includes(m)) &&
            !exclude_models.includes(m);
          const fits = (m: string) =>
            config.targets.some(
              (t) => t.model === m && t.context_window >= estimated_prompt_tokens,
            );

          if (decision.kind === 'selected') {
            expect(allowed(decision.model)).toBe(true);
            if (decision.reason !== 'fallback_model') expect(fits(decision.model)).toBe(true);
            else expect(decision.model).toBe(config.fallback_model);
            if (decision.reason === 'forced_model')
              expect(decision.model).toBe(constraints.forced_model);
            expect(
              constraints.forced_model === undefined
                ? ['first_fit', 'fallback_model']
                : constraints.allow_fallback === true
                  ? ['forced_model', 'forced_model_fallback', 'fallback_model']
                  : ['forced_model'],
            ).toContain(decision.reason);
            if (decision.reason === 'first_fit') {
              // Nothing allowed and fitting comes before the chosen target.
              for (const target of config.targets) {
                if (target.model === decision.model) break;
                expect(allowed(target.model) && fits(target.model)).toBe(false);
              }
            }
            for (const m of decision.fallback_models) {
              expect(allowed(m) && fits(m) && m !== decision.model).toBe(true);
            }
          } else if (
            constraints.forced_model === undefined ||
            constraints.allow_fallback === true
          ) {
            // A block without a usable forced model means no target is both allowed and fitting.
            for (const target of config.targets) {
              expect(allowed(target.model) && fits(target.model)).toBe(false);
            }
          } else {
            expect(decision.reason.startsWith('forced_model_')).toBe(true);
          }
        },
      ),
    );
  });
});

describe('route output schemas', () => {
  it('every request and every decision over generated routings matches its schema', () => {
    fc.assert(
      fc.property(
        arbitraryRouting,
        arbitraryConstraints,
        fc.array(model, { maxLength: 3 }),
        fc.integer({ min: 0, max: 120 }),
        (config, constraints, exclude_models, estimated_prompt_tokens) => {
          expect(schemaIssues(RoutingConfigSchema, config)).toEqual([]);
          const request = { estimated_prompt_tokens, constraints, exclude_models };
          expect(schemaIssues(RouteRequestSchema, request)).toEqual([]);
          expect(schemaIssues(RouteConstraintsSchema, constraints)).toEqual([]);
          const decision = selectRoute(compileRouting(config), request);
          expect(schemaIssues(RouteDecisionSchema, decision)).toEqual([]);
          for (const skip of decision.skipped) {
            expect(schemaIssues(RouteSkipSchema, skip)).toEqual([]);
            expect(schemaIssues(RouteSkipReasonSchema, skip.reason)).toEqual([]);
          }
        },
      ),
    );
  });

  it('the schemas reject what the core never returns', () => {
    const selected = selectRoute(routing, { estimated_prompt_tokens: 32 });
    expect(schemaIssues(RouteDecisionSchema, selected)).toEqual([]);
    expect(schemaIssues(RouteDecisionSchema, { ...selected, reason: 'no_target_fits' })).toEqual([
      expect.objectContaining({ path: '$.reason' }),
    ]);
    expect(schemaIssues(RouteDecisionSchema, { ...selected, context_window: 0 })).toEqual([
      { path: '$.context_window', message: 'must be >= 1, got 0' },
    ]);
    const blocked = selectRoute(routing, { estimated_prompt_tokens: 300 });
    expect(schemaIssues(RouteDecisionSchema, blocked)).toEqual([]);
    expect(schemaIssues(RouteDecisionSchema, { ...blocked, model: 'small/model' })).toEqual([
      expect.objectContaining({ path: '$.model', message: 'is not a known key' }),
    ]);
    expect(schemaIssues(RouteSkipSchema, { model: 'small/model', reason: 'too_big' })).not.toEqual(
      [],
    );
    expect(schemaIssues(RouteRequestSchema, { estimated_prompt_tokens: -1 })).toEqual([
      { path: '$.estimated_prompt_tokens', message: 'must be >= 0, got -1' },
    ]);
    expect(schemaIssues(RouteRequestSchema, { estimated_prompt_tokens: 2.5 })).toEqual([]);
    expect(schemaIssues(RouteConstraintsSchema, { forced_model: 'm', allowed: ['m'] })).toEqual([
      expect.objectContaining({ path: '$.allowed', message: 'is not a known key' }),
    ]);
  });
});

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
