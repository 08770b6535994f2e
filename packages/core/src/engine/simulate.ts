import Type, { type Static } from 'typebox';
import { initialHistoryStore, insertEntry } from '../decisions/cache-eviction.ts';
import { ConfigError } from '../errors/config-error.ts';
import { trustedBackend } from '../sandbox/trusted-backend.ts';
import { StringEnum } from '../schema/types.ts';
import { schemaIssues } from '../schema/validator.ts';
import { canonicalJson } from '../util/hash.ts';
import { memoryAlertSink } from './alert-sinks.ts';
import { createEngine, type EngineAnswer } from './engine.ts';
import { type CompileOptions, compileArtifact, type Plan } from './plan.ts';
import { ManualClock, type ModelProvider } from './provider.ts';
import { FinalStatusSchema, type Receipt } from './receipt.ts';
import { CallerSchema, ChatRequestSchema } from './request.ts';
import { ScriptedFinishSchema, ScriptedReplySchema, scriptedReply } from './scripted-reply.ts';
import { memoryHistoryStore, memoryStateStore } from './stores.ts';

/**
 * Simulation: the real engine with a scripted provider, a manual clock and fresh in-memory
 * stores, so a fixture always produces the same receipt. Scenarios pin the outcome of a
 * fixture as a regression test, the way `opa test` pins Rego decisions.
 */

export const FIXTURE_SCHEMA_ID = 'wardwright.fixture.v1';
export const SCENARIO_SCHEMA_ID = 'wardwright.scenario.v1';

export const FixtureSchema = Type.Object(
  {
    schema: Type.Optional(Type.Literal(FIXTURE_SCHEMA_ID)),
    description: Type.Optional(Type.String()),
    start_ms: Type.Optional(
      Type.Integer({ minimum: 0, description: 'The clock at the request. Default 1700000000000.' }),
    ),
    caller: Type.Optional(CallerSchema),
    history: Type.Optional(
      Type.Array(
        Type.Object(
          {
            kind: Type.String({ minLength: 1 }),
            key: Type.Optional(Type.String()),
            text: Type.Optional(Type.String()),
            age_ms: Type.Integer({ minimum: 0, description: 'How long before the request.' }),
            scope: Type.Optional(
              Type.Record(Type.String(), Type.String(), {
                description: 'Default: the fixture caller’s scope.',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        { description: 'History recorded before the request.' },
      ),
    ),
    states: Type.Optional(
      Type.Record(Type.String(), Type.String(), {
        description: 'Machine id → the caller’s current state.',
      }),
    ),
    request: ChatRequestSchema,
    attempts: Type.Optional(
      Type.Array(ScriptedReplySchema, {
        description:
          'The provider’s replies, one per attempt. Omit to simulate the request phase only (status `simulated`).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type Fixture = Static<typeof FixtureSchema>;

const RuleIds = Type.Array(Type.String());

export const ExpectationSchema = Type.Object(
  {
    status: Type.Optional(FinalStatusSchema),
    http_status: Type.Optional(Type.Integer()),
    text: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Exact text.' })),
    text_contains: Type.Optional(Type.Array(Type.String())),
    text_excludes: Type.Optional(Type.Array(Type.String())),
    released: Type.Optional(
      Type.Array(Type.String(), {
        description:
          'What the client received, one string per release, in order (a whole answer is one).',
      }),
    ),
    matched_rules: Type.Optional(RuleIds),
    determining_rules: Type.Optional(RuleIds),
    actions: Type.Optional(
      Type.Array(Type.String({ pattern: '^[^:]+:[a-z_]+$' }), {
        description: '`rule_id:action`, in application order.',
      }),
    ),
    selected_model: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    tool_calls: Type.Optional(
      Type.Array(Type.String(), {
        description: 'Names of the tool calls the client received, in order.',
      }),
    ),
    finish_reason: Type.Optional(Type.Union([ScriptedFinishSchema, Type.Null()])),
    tool_decisions: Type.Optional(
      Type.Array(Type.String({ pattern: '^[^:]+:[a-z_]+$' }), {
        description: '`rule_id:action` of every tool-call decision, attempt after attempt.',
      }),
    ),
    attempts: Type.Optional(Type.Integer({ minimum: 0 })),
    stream_triggers: Type.Optional(
      Type.Array(Type.String(), { description: 'Rule ids of stream triggers, in order.' }),
    ),
    guard_rules: Type.Optional(
      Type.Array(Type.String(), { description: 'Rule ids of guard events, in order.' }),
    ),
    alerts: Type.Optional(
      Type.Array(
        Type.Object(
          { rule_id: Type.String(), outcome: Type.String() },
          { additionalProperties: false },
        ),
      ),
    ),
    states: Type.Optional(
      Type.Record(Type.String(), Type.String(), { description: 'Machine states after.' }),
    ),
    sandbox_failures: Type.Optional(
      Type.Array(
        Type.Object(
          { rule_id: Type.String(), kind: Type.String() },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);
export type Expectation = Static<typeof ExpectationSchema>;

export const ScenarioSchema = Type.Object(
  {
    schema: Type.Optional(Type.Literal(SCENARIO_SCHEMA_ID)),
    name: Type.String({ minLength: 1 }),
    description: Type.Optional(Type.String()),
    artifact: Type.String({ minLength: 1, description: 'Artifact file, relative to this file.' }),
    fixture: FixtureSchema,
    expect: ExpectationSchema,
    tags: Type.Optional(Type.Array(StringEnum(['regression', 'example', 'edge']))),
  },
  { additionalProperties: false },
);
export type Scenario = Static<typeof ScenarioSchema>;

export interface SimulationResult {
  receipt: Receipt;
  /** The text the client received (streamed pieces joined); null when none. */
  text: string | null;
  /** The rest of the answer: tool calls, refusal, finish reason and usage; null when none. */
  answer: EngineAnswer | null;
  /** Each piece released to the client, in order (one piece for a whole answer). */
  released: string[];
  /** Machine states for the fixture caller after the request. */
  states: Record<string, string>;
  /** Alerts handed to the (memory) sinks after the request, by sink. */
  deliveries: { sink: string; rule_id: string; idempotency_key: string }[];
}

export interface SimulateOptions extends CompileOptions {
  /** Run a candidate plan beside (compare mode); with `strict`, divergence throws. */
  shadow?: { plan: Plan; strict?: boolean };
}

const DEFAULT_START_MS = 1_700_000_000_000;

/**
 * Simulate one fixture against a plan (or an artifact, compiled first — with the in-process
 * trusted backend unless `backends` says otherwise). Deterministic: the same plan and fixture
 * give a byte-identical receipt.
 */
export async function simulate(
  target: Plan | unknown,
  fixture: unknown,
  options: SimulateOptions = {},
): Promise<SimulationResult> {
  const issues = schemaIssues(FixtureSchema, fixture);
  if (issues.length > 0) throw new ConfigError('fixture', issues);
  const f = fixture as Fixture;
  const owned = !isPlan(target);
  const plan = isPlan(target)
    ? target
    : await compileArtifact(target, { backends: { trusted: trustedBackend() }, ...options });
  try {
    return await simulateWithPlan(plan, f, options);
  } finally {
    if (owned) await plan.dispose();
  }
}

function isPlan(value: unknown): value is Plan {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Plan).artifact_hash === 'string' &&
    typeof (value as Plan).dispose === 'function'
  );
}

async function simulateWithPlan(plan: Plan, f: Fixture, options: SimulateOptions) {
  const start = f.start_ms ?? DEFAULT_START_MS;
  const clock = new ManualClock(start);
  const caller = f.caller ?? {};
  const scope: Record<string, string> = {};
  for (const [k, v] of Object.entries(caller)) if (typeof v === 'string') scope[k] = v;

  // Seed history oldest first, so sequences follow time as they would have live.
  let seeded = initialHistoryStore();
  const seeds = [...(f.history ?? [])].sort((a, b) => b.age_ms - a.age_ms);
  for (const seed of seeds) {
    const at = start - seed.age_ms;
    seeded = insertEntry(
      plan.history,
      seeded,
      {
        created_at_ms: at,
        kind: seed.kind,
        key: seed.key ?? '',
        text: seed.text ?? '',
        scope: seed.scope ?? scope,
      },
      at,
    ).state;
  }
  const history = memoryHistoryStore(plan.history, seeded);
  const states = memoryStateStore();
  for (const [machineId, state] of Object.entries(f.states ?? {})) {
    const compiled = plan.state_machines.get(machineId);
    if (compiled === undefined) {
      throw new ConfigError('fixture', [
        { path: `$.states.${machineId}`, message: 'is not a state machine of the artifact' },
      ]);
    }
    if (!compiled.machine.state_set.has(state)) {
      throw new ConfigError('fixture', [
        {
          path: `$.states.${machineId}`,
          message: `is not a state of ${machineId}, got ${JSON.stringify(state)}`,
        },
      ]);
    }
    const value = scope[compiled.scope_key];
    if (value === undefined) {
      throw new ConfigError('fixture', [
        {
          path: `$.states.${machineId}`,
          message: `needs the caller to have \`${compiled.scope_key}\`, the machine's scope`,
        },
      ]);
    }
    states.set(machineId, value, { state, taken: {} });
  }

  const sinks = Object.fromEntries(
    plan.alerts.sinks.map((name) => [name, memoryAlertSink({ name })]),
  );
  const attempts = f.attempts;
  const provider: ModelProvider = {
    specificationVersion: 'v2',
    async call(call) {
      const scripted = attempts?.[call.attempt_index];
      if (scripted === undefined) {
        return {
          kind: 'error',
          status: 'fixture_exhausted',
          message: `the fixture scripts ${attempts?.length ?? 0} attempt(s); attempt ${call.attempt_index + 1} was requested`,
        };
      }
      return scriptedReply(scripted, { advance: (ms) => clock.advance(ms) });
    },
  };
  const engine = createEngine({
    plan,
    provider,
    clock,
    history,
    states,
    alert_sinks: sinks,
    simulation: true,
    record_resource_usage: false,
    ...(options.shadow === undefined ? {} : { shadow: options.shadow }),
  });
  const released: string[] = [];
  const result = await engine.handle(f.request, {
    caller,
    dry_run: attempts === undefined,
    onRelease: (text) => {
      released.push(text);
    },
  });
  // A whole answer goes out in one piece; an empty one (tool calls only) releases nothing.
  if (result.text !== null && result.text !== '' && released.length === 0) {
    released.push(result.text);
  }
  const deliveries: SimulationResult['deliveries'] = [];
  for (const [sink, queue] of engine.alert_queues) {
    for (const decision of await queue.drain(clock.now())) {
      if (decision.kind === 'deliver') {
        deliveries.push({ sink, rule_id: decision.alert.rule_id, idempotency_key: decision.key });
      }
    }
  }
  await engine.close();
  const after: Record<string, string> = {};
  for (const [id, compiled] of plan.state_machines) {
    const value = scope[compiled.scope_key];
    if (value === undefined) continue;
    after[id] = states.get(id, value)?.state ?? compiled.machine.initial;
  }
  return {
    receipt: result.receipt,
    text: result.text,
    answer: result.answer,
    released,
    states: after,
    deliveries,
  };
}

export interface ExpectationFailure {
  field: string;
  expected: unknown;
  actual: unknown;
}

/** Compare a simulation with what a scenario expects: one failure per field that differs. */
export function checkExpectation(
  result: SimulationResult,
  expect: Expectation,
): ExpectationFailure[] {
  const failures: ExpectationFailure[] = [];
  const r = result.receipt;
  const check = (field: string, expected: unknown, actual: unknown) => {
    if (expected === undefined) return;
    if (canonicalJson(expected) !== canonicalJson(actual))
      failures.push({ field, expected, actual });
  };
  check('status', expect.status, r.final.status);
  check('http_status', expect.http_status, r.final.http_status);
  check('text', expect.text, result.text);
  for (const needle of expect.text_contains ?? []) {
    if (!(result.text ?? '').includes(needle)) {
      failures.push({ field: 'text_contains', expected: needle, actual: result.text });
    }
  }
  for (const needle of expect.text_excludes ?? []) {
    if ((result.text ?? '').includes(needle)) {
      failures.push({
        field: 'text_excludes',
        expected: `no ${JSON.stringify(needle)}`,
        actual: result.text,
      });
    }
  }
  check('released', expect.released, result.released);
  check(
    'matched_rules',
    expect.matched_rules,
    r.rules.filter((x) => x.outcome === 'matched').map((x) => x.rule_id),
  );
  check('determining_rules', expect.determining_rules, r.decision.determining_rule_ids);
  check(
    'actions',
    expect.actions,
    r.decision.actions.map((a) => `${a.rule_id}:${a.action}`),
  );
  check('selected_model', expect.selected_model, r.final.selected_model);
  check(
    'tool_calls',
    expect.tool_calls,
    (result.answer?.tool_calls ?? []).map((call) => call.name),
  );
  check('finish_reason', expect.finish_reason, result.answer?.finish_reason ?? null);
  check(
    'tool_decisions',
    expect.tool_decisions,
    (r.tool_policy?.decisions ?? []).map((d) => `${d.rule_id}:${d.action}`),
  );
  check('attempts', expect.attempts, r.attempts.length);
  check(
    'stream_triggers',
    expect.stream_triggers,
    (r.stream?.attempts ?? []).flatMap((a) =>
      a.events.flatMap((e) => (e.type === 'stream_policy.triggered' ? [e.rule_id] : [])),
    ),
  );
  check(
    'guard_rules',
    expect.guard_rules,
    (r.guard?.events ?? []).map((e) => e.rule_id),
  );
  check(
    'alerts',
    expect.alerts,
    r.alerts.map((a) => ({ rule_id: a.rule_id, outcome: a.decision.outcome })),
  );
  check(
    'states',
    expect.states,
    expect.states === undefined ? undefined : pick(result.states, Object.keys(expect.states)),
  );
  check(
    'sandbox_failures',
    expect.sandbox_failures,
    r.sandbox.flatMap((s) =>
      s.failure === undefined ? [] : [{ rule_id: s.rule_id, kind: s.failure.kind }],
    ),
  );
  return failures;
}

function pick(record: Record<string, string>, keys: string[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const key of keys) out[key] = record[key] ?? null;
  return out;
}

export interface ScenarioCase {
  name: string;
  /** A compiled plan, shared by the scenarios of one artifact. */
  plan: Plan;
  fixture: unknown;
  expect: Expectation;
  /** Where the scenario came from, for reports. */
  source?: string;
}

export interface ScenarioResult {
  name: string;
  source?: string;
  ok: boolean;
  failures: ExpectationFailure[];
  /** Set when the scenario could not run (an invalid fixture, a strict shadow divergence…). */
  error?: string;
  receipt?: Receipt;
}

export interface ScenarioReport {
  passed: number;
  failed: number;
  results: ScenarioResult[];
}

/** Run every scenario; never throws for a failing one, reports it. */
export async function runScenarios(
  cases: readonly ScenarioCase[],
  options: { shadow?: (c: ScenarioCase) => SimulateOptions['shadow'] } = {},
): Promise<ScenarioReport> {
  const results: ScenarioResult[] = [];
  for (const c of cases) {
    const base = c.source === undefined ? { name: c.name } : { name: c.name, source: c.source };
    try {
      const shadow = options.shadow?.(c);
      const result = await simulate(c.plan, c.fixture, shadow === undefined ? {} : { shadow });
      const failures = checkExpectation(result, c.expect);
      results.push({ ...base, ok: failures.length === 0, failures, receipt: result.receipt });
    } catch (error) {
      results.push({
        ...base,
        ok: false,
        failures: [],
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  const passed = results.filter((r) => r.ok).length;
  return { passed, failed: results.length - passed, results };
}
