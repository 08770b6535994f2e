import Type, { type Static } from 'typebox';
import { ConfigError, type ConfigIssue } from '../errors/config-error.ts';
import { WardwrightError } from '../errors/wardwright-error.ts';
import { StringEnum, TaggedUnion } from '../schema/types.ts';
import { joinPath, parseWithSchema } from '../schema/validator.ts';
import { utf8Length } from '../text/utf8.ts';

/**
 * Route selection: which configured target model serves a request, given its estimated prompt
 * size and the constraints request rules put on routing. First fit by context window in
 * declaration order, with an explicit fallback model.
 */

export const RouteTargetSchema = Type.Object(
  {
    model: Type.String({ minLength: 1, description: 'Unique model name.' }),
    context_window: Type.Integer({ minimum: 1, description: 'Largest prompt, in tokens.' }),
  },
  { additionalProperties: false },
);
export type RouteTarget = Static<typeof RouteTargetSchema>;

export const RoutingConfigSchema = Type.Object(
  {
    targets: Type.Array(RouteTargetSchema, {
      minItems: 1,
      description: 'Candidates in preference order: the first that fits is chosen.',
    }),
    fallback_model: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Target used when none fits, even if its context window is smaller.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type RoutingConfig = Static<typeof RoutingConfigSchema>;

export interface CompiledRouting {
  /** In declaration (preference) order. */
  readonly targets: readonly Readonly<RouteTarget>[];
  readonly fallback_model: string | null;
  readonly by_model: ReadonlyMap<string, Readonly<RouteTarget>>;
}

const modelList = (description: string) =>
  Type.Immutable(Type.Array(Type.String(), { description }));

/** What request rules allow for routing (see `arbitrateActions`). */
export const RouteConstraintsSchema = Type.Object(
  {
    allowed_targets: Type.Optional(
      modelList('Only these models; absent = every target, empty = none.'),
    ),
    forced_model: Type.Optional(
      Type.String({ description: 'This model and no other (unless `allow_fallback`).' }),
    ),
    allow_fallback: Type.Optional(
      Type.Boolean({
        description: 'When the forced model cannot be used, route normally instead of blocking.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type RouteConstraints = Static<typeof RouteConstraintsSchema>;

export const RouteRequestSchema = Type.Object(
  {
    estimated_prompt_tokens: Type.Number({
      minimum: 0,
      description: 'Prompt size in tokens, compared with each context window.',
    }),
    constraints: Type.Optional(RouteConstraintsSchema),
    exclude_models: Type.Optional(
      modelList('Models that must not be chosen, e.g. the one whose retry no longer fits.'),
    ),
  },
  { additionalProperties: false },
);
export type RouteRequest = Static<typeof RouteRequestSchema>;

export const RouteSkipReasonSchema = StringEnum([
  'unknown_model',
  'not_allowed',
  'excluded',
  'context_window_too_small',
]);
export type RouteSkipReason = Static<typeof RouteSkipReasonSchema>;

/** A model that was not chosen, and why. */
export const RouteSkipSchema = Type.Object(
  {
    model: Type.String({ description: 'A target, or a forced model that is not one.' }),
    reason: RouteSkipReasonSchema,
  },
  { additionalProperties: false },
);
export type RouteSkip = Static<typeof RouteSkipSchema>;

const skippedList = Type.Array(RouteSkipSchema, {
  description:
    'Targets rejected, and why, in the order they were considered; the forced model first.',
});

export const RouteDecisionSchema = TaggedUnion('kind', [
  Type.Object(
    {
      kind: Type.Literal('selected'),
      model: Type.String({ minLength: 1, description: 'The target chosen.' }),
      context_window: Type.Integer({ minimum: 1, description: 'Its context window, in tokens.' }),
      reason: StringEnum(['first_fit', 'forced_model', 'forced_model_fallback', 'fallback_model'], {
        description:
          'Which rule chose it; only `fallback_model` may have a context window below the estimate.',
      }),
      skipped: skippedList,
      fallback_models: Type.Array(Type.String({ minLength: 1 }), {
        uniqueItems: true,
        description: 'Other eligible models, in preference order, for a caller that fails over.',
      }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('blocked'),
      reason: StringEnum([
        'no_allowed_target',
        'forced_model_not_allowed',
        'forced_model_excluded',
        'forced_model_too_small',
        'no_target_fits',
      ]),
      skipped: skippedList,
    },
    { additionalProperties: false },
  ),
]);
export type RouteDecision = Static<typeof RouteDecisionSchema>;

const SUBJECT = 'routing';

const FORCED_BLOCK = {
  unknown_model: 'forced_model_not_allowed',
  not_allowed: 'forced_model_not_allowed',
  excluded: 'forced_model_excluded',
  context_window_too_small: 'forced_model_too_small',
} as const satisfies Record<RouteSkipReason, string>;

export function compileRouting(config: unknown): CompiledRouting {
  const parsed = parseWithSchema(RoutingConfigSchema, config, SUBJECT);
  const issues: ConfigIssue[] = [];
  const byModel = new Map<string, Readonly<RouteTarget>>();
  const firstIndex = new Map<string, number>();
  parsed.targets.forEach((target, index) => {
    const first = firstIndex.get(target.model);
    if (first !== undefined) {
      issues.push({
        path: joinPath(joinPath('$.targets', index), 'model'),
        message: `repeats the model ${JSON.stringify(target.model)} of ${joinPath('$.targets', first)}`,
      });
      return;
    }
    firstIndex.set(target.model, index);
    byModel.set(target.model, Object.freeze({ ...target }));
  });
  if (parsed.fallback_model !== undefined && !byModel.has(parsed.fallback_model)) {
    issues.push({
      path: '$.fallback_model',
      message: `names ${JSON.stringify(parsed.fallback_model)}, which is not a target`,
      expected: `one of ${[...byModel.keys()].map((m) => `\`${m}\``).join(', ')}`,
    });
  }
  if (issues.length > 0) throw new ConfigError(SUBJECT, issues);
  return Object.freeze({
    targets: Object.freeze([...byModel.values()]),
    fallback_model: parsed.fallback_model ?? null,
    by_model: byModel,
  });
}

/**
 * Pick a target for a prompt of `estimated_prompt_tokens` under `constraints`, never one of
 * `exclude_models`. Every rejected target is listed in `skipped` with its reason.
 */
export function selectRoute(routing: CompiledRouting, request: RouteRequest): RouteDecision {
  const tokens = request.estimated_prompt_tokens;
  if (!Number.isFinite(tokens) || tokens < 0) {
    throw new WardwrightError({
      code: 'invalid_argument',
      message: `estimated_prompt_tokens must be a finite number >= 0, got ${tokens}`,
    });
  }
  const allowed = request.constraints?.allowed_targets;
  const excluded = request.exclude_models ?? [];
  const forced = request.constraints?.forced_model;
  const allowFallback = request.constraints?.allow_fallback === true;
  const skipped: RouteSkip[] = [];

  if (forced !== undefined) {
    const target = routing.by_model.get(forced);
    let reason: RouteSkipReason = 'unknown_model';
    if (target !== undefined) {
      const rejection = skipReason(target, allowed, excluded, tokens);
      if (rejection === undefined) {
        return {
          kind: 'selected',
          model: target.model,
          context_window: target.context_window,
          reason: 'forced_model',
          skipped,
          fallback_models: allowFallback
            ? firstFit(routing, allowed, excluded, tokens, forced).eligible
            : [],
        };
      }
      reason = rejection;
    }
    skipped.push({ model: forced, reason });
    if (!allowFallback) return { kind: 'blocked', reason: FORCED_BLOCK[reason], skipped };
  }

  const scan = firstFit(routing, allowed, excluded, tokens, forced);
  for (const skip of scan.skipped) skipped.push(skip);
  const [chosen, ...rest] = scan.eligible;
  if (chosen !== undefined) {
    const target = routing.by_model.get(chosen)!;
    return {
      kind: 'selected',
      model: target.model,
      context_window: target.context_window,
      reason: forced === undefined ? 'first_fit' : 'forced_model_fallback',
      skipped,
      fallback_models: rest,
    };
  }
  if (!scan.any_candidate) return { kind: 'blocked', reason: 'no_allowed_target', skipped };
  const fallback = routing.fallback_model;
  if (fallback !== null && isAllowed(fallback, allowed) && !excluded.includes(fallback)) {
    const target = routing.by_model.get(fallback)!;
    return {
      kind: 'selected',
      model: target.model,
      context_window: target.context_window,
      reason: 'fallback_model',
      skipped,
      fallback_models: [],
    };
  }
  return { kind: 'blocked', reason: 'no_target_fits', skipped };
}

/**
 * A deterministic, tokenizer-free prompt size: one token per 4 UTF-8 bytes of every role and
 * content (rounded up), plus 4 tokens of framing per message. It is an estimate, not a count;
 * leave headroom in `context_window` for the difference.
 */
export function estimatePromptTokens(
  messages: readonly { role: string; content: string }[],
): number {
  let bytes = 0;
  for (const message of messages) bytes += utf8Length(message.role) + utf8Length(message.content);
  return Math.ceil(bytes / 4) + 4 * messages.length;
}

function firstFit(
  routing: CompiledRouting,
  allowed: readonly string[] | undefined,
  excluded: readonly string[],
  tokens: number,
  /** Already reported by the forced-model check; not listed twice. */
  forced: string | undefined,
): { eligible: string[]; skipped: RouteSkip[]; any_candidate: boolean } {
  const eligible: string[] = [];
  const skipped: RouteSkip[] = [];
  let any_candidate = false;
  for (const target of routing.targets) {
    const reason = skipReason(target, allowed, excluded, tokens);
    if (reason !== 'not_allowed' && reason !== 'excluded') any_candidate = true;
    if (target.model === forced) continue;
    if (reason === undefined) eligible.push(target.model);
    else skipped.push({ model: target.model, reason });
  }
  return { eligible, skipped, any_candidate };
}

function skipReason(
  target: Readonly<RouteTarget>,
  allowed: readonly string[] | undefined,
  excluded: readonly string[],
  tokens: number,
): Exclude<RouteSkipReason, 'unknown_model'> | undefined {
  if (!isAllowed(target.model, allowed)) return 'not_allowed';
  if (excluded.includes(target.model)) return 'excluded';
  if (target.context_window < tokens) return 'context_window_too_small';
  return undefined;
}

function isAllowed(model: string, allowed: readonly string[] | undefined): boolean {
  return allowed === undefined || allowed.includes(model);
}
