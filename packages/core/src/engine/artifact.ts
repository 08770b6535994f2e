import Type, { type Static, type TSchema } from 'typebox';
import { RuleActionSchema } from '../decisions/actions.ts';
import { AlertQueueConfigSchema } from '../decisions/alert-backpressure.ts';
import { HistoryStoreConfigSchema } from '../decisions/cache-eviction.ts';
import { GuardLoopConfigSchema } from '../decisions/guard-loop-config.ts';
import { RouteTargetSchema } from '../decisions/routes.ts';
import { StateMachineSchema } from '../decisions/state-machine.ts';
import { StreamRuleSchema } from '../decisions/stream-rules.ts';
import { ToolCallPolicyConfigSchema, ToolNameSelectors } from '../decisions/tool-call-policy.ts';
import { SandboxLimitsSchema } from '../sandbox/contract.ts';
import { StringEnum, TaggedUnion } from '../schema/types.ts';

/**
 * Artifact v1: the reviewed JSON description of one governed model version. Every section
 * reuses the schema of the decision core that runs it, so the artifact, the cores and the
 * exported JSON Schema file can never disagree. Unknown keys are errors everywhere.
 */

export const ARTIFACT_SCHEMA_ID = 'wardwright.artifact.v1';

const RuleId = Type.String({
  minLength: 1,
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]*$',
  description: 'Unique across the artifact (request, stream and script rules); named in receipts.',
});

const Description = Type.Optional(
  Type.String({ description: 'What the rule is for, for reviewers.' }),
);

const RuleActions = Type.Array(RuleActionSchema, {
  minItems: 1,
  description: 'Actions applied when the rule matches (the rule id is filled in).',
});

const When = Type.Optional(
  Type.Object(
    {
      state: Type.Object(
        {
          machine: Type.String({ minLength: 1, description: 'A `state_machines[].id`.' }),
          in: Type.Array(Type.String({ minLength: 1 }), {
            minItems: 1,
            description: 'The rule runs only while the machine is in one of these states.',
          }),
        },
        { additionalProperties: false },
      ),
    },
    {
      additionalProperties: false,
      description: 'Gate: the rule is skipped (and says so in the receipt) unless this holds.',
    },
  ),
);

function rule<K extends string, P extends Record<string, TSchema>>(
  kind: K,
  extra: P,
  options: Record<string, unknown> = {},
) {
  return Type.Object(
    { kind: Type.Literal(kind), id: RuleId, description: Description, when: When, ...extra },
    { additionalProperties: false, ...options },
  );
}

export const MatchTargetSchema = StringEnum(['request_text', 'last_user_message'], {
  default: 'request_text',
  description:
    '`request_text`: every message as `role\\ncontent`, joined by newlines (after prompt transforms); `last_user_message`: the newest user message only.',
});
export type MatchTarget = Static<typeof MatchTargetSchema>;

const MatchRuleSchema = rule(
  'match',
  {
    contains: Type.Optional(Type.String({ minLength: 1, description: 'Literal text to find.' })),
    regex: Type.Optional(
      Type.String({ minLength: 1, description: 'RE2 regex (linear time, no lookaround).' }),
    ),
    target: Type.Optional(MatchTargetSchema),
    case_sensitive: Type.Optional(
      Type.Boolean({ description: 'Default false: text and `contains` are compared lowercased.' }),
    ),
    actions: RuleActions,
  },
  {
    anyOf: [{ required: ['contains'] }, { required: ['regex'] }],
    not: { required: ['contains', 'regex'] },
    errorMessage: 'needs exactly one matcher: `contains` or `regex`',
  },
);

const HistoryRuleSchema = rule('history', {
  scope: Type.String({
    minLength: 1,
    description: 'Caller scope key whose history is counted, e.g. `session_id`.',
  }),
  threshold: Type.Integer({ minimum: 1, description: 'Matches when count >= threshold.' }),
  filter: Type.Optional(
    Type.Object(
      {
        kind: Type.Optional(
          Type.String({
            minLength: 1,
            description: 'Entry kind: `request_text`, `tool_call` or `response_text`.',
          }),
        ),
        key: Type.Optional(Type.String({ description: 'Entry key, e.g. a tool name.' })),
      },
      { additionalProperties: false },
    ),
  ),
  window: Type.Optional(
    Type.Object(
      {
        last: Type.Optional(Type.Integer({ minimum: 1, description: 'Newest entries only.' })),
        within_ms: Type.Optional(Type.Integer({ minimum: 1, description: 'Recent entries only.' })),
      },
      { additionalProperties: false },
    ),
  ),
  pattern: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'RE2 regex: count only entries whose text matches. Omit to count all.',
    }),
  ),
  actions: RuleActions,
});

export const ToolPhaseSchema = StringEnum(['planning', 'result_interpretation'], {
  description:
    '`planning`: the request offers tools; `result_interpretation`: it carries a tool result.',
});
export type ToolPhase = Static<typeof ToolPhaseSchema>;

const ToolRuleSchema = rule('tool', {
  tool: Type.Object(
    {
      ...ToolNameSelectors,
      phases: Type.Optional(Type.Array(ToolPhaseSchema, { minItems: 1 })),
    },
    {
      additionalProperties: false,
      description: 'Every list given must match (an omitted list matches anything).',
    },
  ),
  actions: RuleActions,
});

const ScriptRuleSchema = rule('script', {
  script: Type.String({ minLength: 1, description: 'A key of `scripts`.' }),
  entry: Type.Optional(
    Type.String({ minLength: 1, description: 'Function to call. Default `decide`.' }),
  ),
  history: Type.Optional(
    Type.Object(
      {
        scope: Type.String({ minLength: 1, description: 'Caller scope key, e.g. `session_id`.' }),
        kind: Type.Optional(Type.String({ minLength: 1 })),
        last: Type.Optional(
          Type.Integer({ minimum: 1, maximum: 64, description: 'Newest entries. Default 64.' }),
        ),
        within_ms: Type.Optional(Type.Integer({ minimum: 1 })),
      },
      {
        additionalProperties: false,
        description: 'History the script receives as `input.history` (newest last, at most 64).',
      },
    ),
  ),
  on_failure: Type.Optional(
    StringEnum(['fail_closed', 'fail_open'], {
      default: 'fail_closed',
      description:
        'When the script fails (timeout, limit, error, invalid output): `fail_closed` blocks the request; `fail_open` ignores the rule. Either way the receipt names the failure.',
    }),
  ),
});

export const RequestRuleSchema = TaggedUnion('kind', [
  MatchRuleSchema,
  HistoryRuleSchema,
  ToolRuleSchema,
  ScriptRuleSchema,
]);
export type RequestRule = Static<typeof RequestRuleSchema>;
export type RequestRuleKind = RequestRule['kind'];

export const ScriptSchema = Type.Object(
  {
    language: StringEnum(['javascript', 'starlark']),
    source: Type.Optional(Type.String({ minLength: 1, description: 'The code, inline.' })),
    path: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'File with the code, relative to the artifact file (read by the loader).',
      }),
    ),
    backend: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Name of a sandbox backend passed to `compileArtifact`. Default: the first one for the language.',
      }),
    ),
    limits: Type.Optional(Type.Partial(SandboxLimitsSchema)),
  },
  {
    additionalProperties: false,
    anyOf: [{ required: ['source'] }, { required: ['path'] }],
    not: { required: ['source', 'path'] },
    errorMessage: 'needs exactly one of `source` or `path`',
  },
);
export type Script = Static<typeof ScriptSchema>;

export const ArtifactStateMachineSchema = Type.Object(
  {
    ...StateMachineSchema.properties,
    scope: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Caller scope key that owns one machine instance. Default `session_id`.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ArtifactStateMachine = Static<typeof ArtifactStateMachineSchema>;

export const ArtifactSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String({ description: 'For editors; ignored by the engine.' })),
    schema: Type.Literal(ARTIFACT_SCHEMA_ID),
    model: Type.Object(
      {
        id: Type.String({
          minLength: 1,
          pattern: '^[A-Za-z0-9][A-Za-z0-9_.:/-]*$',
          description: 'The governed model name clients ask for.',
        }),
        version: Type.String({ minLength: 1, description: 'This artifact’s version.' }),
        description: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    ),
    targets: Type.Array(RouteTargetSchema, {
      minItems: 1,
      description: 'Provider models, in preference order: the first whose context fits is used.',
    }),
    routing: Type.Optional(
      Type.Object(
        {
          fallback_model: Type.Optional(
            Type.String({
              minLength: 1,
              description: 'A target used when none fits the prompt.',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    prompt_transforms: Type.Optional(
      Type.Object(
        {
          preamble: Type.Optional(
            Type.String({ description: 'System message added before the conversation.' }),
          ),
          postscript: Type.Optional(
            Type.String({ description: 'System message added after the conversation.' }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    request_rules: Type.Optional(
      Type.Array(RequestRuleSchema, { description: 'Evaluated in declaration order.' }),
    ),
    stream_rules: Type.Optional(
      Type.Array(StreamRuleSchema, {
        description: 'TTSR rules on the answer: applied while streaming, and to whole answers too.',
      }),
    ),
    stream: Type.Optional(
      Type.Object(
        {
          max_retries_total: Type.Optional(
            Type.Integer({ minimum: 0, description: 'Stream retries per request. Default 2.' }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    structured_output: Type.Optional(GuardLoopConfigSchema),
    tool_calls: Type.Optional(
      Type.Object(ToolCallPolicyConfigSchema.properties, {
        additionalProperties: false,
        description:
          'Policy over the tool calls the model emits, decided before the client receives them.',
      }),
    ),
    history: Type.Optional(HistoryStoreConfigSchema),
    alerts: Type.Optional(
      Type.Object(
        {
          queue: Type.Optional(AlertQueueConfigSchema),
          sinks: Type.Optional(
            Type.Array(Type.String({ minLength: 1 }), {
              minItems: 1,
              uniqueItems: true,
              description: 'Names of sinks given to the engine. Default `["memory"]`.',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    state_machines: Type.Optional(Type.Array(ArtifactStateMachineSchema)),
    scripts: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]*$' }), ScriptSchema, {
        additionalProperties: false,
        description: 'Policy scripts by id, used by `script` request rules.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type Artifact = Static<typeof ArtifactSchema>;
