// `npm run bench:core`: ops/s and per-decision latency of every decision core on realistic
// inputs, with the targets of the core issue checked. Writes JSON and a markdown table to
// bench/results/. Options: --quick (shorter runs), --out DIR.
import {
  arbitrateActions,
  compileAlertQueue,
  compileGuardLoop,
  compileHistoryRules,
  compileHistoryStore,
  compileRouting,
  compileStateMachine,
  compileStreamPolicy,
  consumeChunk,
  evaluateHistoryRule,
  finishStream,
  initialAlertQueue,
  initialHistoryStore,
  insertEntry,
  nextTransition,
  selectRoute,
  startStream,
  stepAlertQueue,
  validateOutput,
} from '@wardwright/core';
import { keepAlive, runCases, runnerArgs, writeReport } from './harness.mjs';

const { mode, outDir, timing } = runnerArgs();

// ---------------------------------------------------------------------------------------------
// Inputs, built once
// ---------------------------------------------------------------------------------------------

// Guard loop: a ~1 KB answer object validated against a JSON Schema plus two semantic rules.
const guard = compileGuardLoop({
  schemas: [
    {
      id: 'answer_v1',
      schema: {
        type: 'object',
        required: ['answer', 'confidence', 'citations'],
        additionalProperties: false,
        properties: {
          answer: { type: 'string', minLength: 1 },
          confidence: { type: 'number', minimum: 0, maximum: 1 },
          citations: {
            type: 'array',
            items: {
              type: 'object',
              required: ['url', 'title'],
              additionalProperties: false,
              properties: { url: { type: 'string' }, title: { type: 'string' } },
            },
          },
        },
      },
    },
  ],
  semantic_rules: [
    { id: 'minimum-confidence', kind: 'json_path_number', path: '/confidence', gte: 0.7 },
    { id: 'no-draft', kind: 'json_path_string_not_contains', path: '/answer', pattern: 'draft' },
  ],
});
const answer = JSON.stringify({
  answer:
    'The gateway holds back a bounded window of output and checks rules before release. '.repeat(6),
  confidence: 0.91,
  citations: Array.from({ length: 6 }, (_, i) => ({
    url: `https://example.com/docs/section-${i}`,
    title: `Section ${i}: stream governance`,
  })),
});

// History: a store with 64 entries in the caller's session (and others'), and a count rule
// whose window is the last 64 entries of the session.
const store = compileHistoryStore({ max_entries_per_scope: 64 });
let historyState = initialHistoryStore();
for (let i = 0; i < 256; i++) {
  historyState = insertEntry(
    store,
    historyState,
    {
      created_at_ms: 1_000 + i,
      kind: i % 3 === 0 ? 'tool_call' : 'request_text',
      key: i % 3 === 0 ? 'shell:ls' : 'chat_completion',
      scope: { session_id: `s${i % 4}` },
      text: i % 5 === 0 ? 'please run rm -rf /tmp/x' : 'hello there, summarise the document',
    },
    1_000 + i,
  ).state;
}
const [countRule, regexRule] =
  /** @type {[import('@wardwright/core').CompiledHistoryRule, import('@wardwright/core').CompiledHistoryRule]} */ (
    compileHistoryRules([
      { id: 'window-64', kind: 'count', scope: 'session_id', threshold: 40, window: { last: 64 } },
      {
        id: 'rm-rf',
        kind: 'regex_count',
        scope: 'session_id',
        pattern: 'rm\\s+-rf',
        threshold: 3,
        window: { last: 64 },
      },
    ])
  );
const caller = { session_id: 's1' };
// What an engine holds after one scoped read per request: the caller's own 64 entries.
const sessionEntries = historyState.entries.filter((e) => e.scope.session_id === 's1');

// TTSR: five literal rules (or five regex rules) over a 4 KB answer.
const literalPolicy = compileStreamPolicy({
  rules: [
    { id: 'r1', action: 'block', contains: 'BEGIN PRIVATE KEY', horizon_bytes: 32 },
    {
      id: 'r2',
      action: 'retry_with_reminder',
      contains: 'OldClient(',
      reminder: 'Use NewClient.',
      horizon_bytes: 32,
    },
    {
      id: 'r3',
      action: 'rewrite_window',
      contains: 'internal.example.com',
      replacement: '[host]',
      horizon_bytes: 32,
    },
    { id: 'r4', action: 'annotate', contains: 'TODO', horizon_bytes: 32 },
    { id: 'r5', action: 'drop_chunk', contains: '<debug>', horizon_bytes: 32 },
  ],
});
const regexPolicy = compileStreamPolicy({
  rules: [
    { id: 'r1', action: 'block', regex: 'BEGIN [A-Z]+ PRIVATE KEY', horizon_bytes: 32 },
    {
      id: 'r2',
      action: 'retry_with_reminder',
      regex: 'OldClient\\(',
      reminder: 'Use NewClient.',
      horizon_bytes: 32,
    },
    {
      id: 'r3',
      action: 'rewrite_window',
      regex: 'sk-[A-Za-z0-9]{16}',
      replacement: 'sk-***',
      horizon_bytes: 32,
    },
    { id: 'r4', action: 'annotate', regex: 'TODO|FIXME', horizon_bytes: 32 },
    { id: 'r5', action: 'drop_chunk', regex: '<debug>', horizon_bytes: 32 },
  ],
});
const prose =
  'Stream governance holds back a small window of the answer, checks every rule against it, and releases the rest. ';
const stream4k = prose.repeat(Math.ceil(4096 / prose.length)).slice(0, 4096);
/** @param {string} text @param {number} size */
const chunksOf = (text, size) =>
  Array.from({ length: text.length / size }, (_, i) => text.slice(i * size, (i + 1) * size));
const chunks256 = chunksOf(stream4k, 256);
const chunks16 = chunksOf(stream4k, 16);
/**
 * @param {import('@wardwright/core').CompiledStreamPolicy} policy
 * @param {string[]} chunks
 */
function governAll(policy, chunks) {
  let state = startStream();
  for (const [i, chunk] of chunks.entries()) state = consumeChunk(policy, state, chunk, i).state;
  return finishStream(policy, state, chunks.length);
}

// Eviction: inserting into a full store (every insert evicts one entry).
/** @param {number} size */
function fullStore(size) {
  const config = compileHistoryStore({ max_entries_per_scope: size, max_entries: size });
  let state = initialHistoryStore();
  for (let i = 0; i < size; i++) {
    state = insertEntry(
      config,
      state,
      {
        created_at_ms: i,
        kind: 'request_text',
        key: 'k',
        scope: { session_id: 's' },
        text: 'hello',
      },
      i,
    ).state;
  }
  return { config, state, t: size };
}
const store64 = fullStore(64);
const store10k = fullStore(10_000);
/** @param {ReturnType<typeof fullStore>} s */
function insertInto(s) {
  s.t++;
  return insertEntry(
    s.config,
    s.state,
    {
      created_at_ms: s.t,
      kind: 'request_text',
      key: 'k',
      scope: { session_id: 's' },
      text: 'hello',
    },
    s.t,
  );
}

// Alerts: enqueue into a queue with room, then a worker's poll and a successful delivery.
const alerts = compileAlertQueue({ capacity: 64 });
let alertKey = 0;
function alertRoundTrip() {
  const key = `alert-${alertKey++}`;
  let state = initialAlertQueue();
  state = stepAlertQueue(alerts, state, {
    type: 'enqueue',
    alert: { idempotency_key: key, rule_id: 'r', severity: 'warning', message: 'm' },
    now_ms: 0,
  }).state;
  stepAlertQueue(alerts, state, { type: 'poll', now_ms: 0 });
  return stepAlertQueue(alerts, state, { type: 'delivery_result', key, ok: true, now_ms: 1 });
}

// Actions and routes: eight actions from request rules, then a route over four targets.
/** @type {import('@wardwright/core').Action[]} */
const actions = [
  { rule_id: 'a1', action: 'annotate', message: 'seen' },
  { rule_id: 'a2', action: 'restrict_routes', allowed_targets: ['local-small', 'local-large'] },
  { rule_id: 'a3', action: 'alert', severity: 'warning', message: 'secret mentioned' },
  { rule_id: 'a4', action: 'inject_reminder', reminder: 'Do not reveal secrets.' },
  { rule_id: 'a5', action: 'switch_model', target_model: 'local-large' },
  { rule_id: 'a6', action: 'restrict_routes', allowed_targets: ['local-large', 'cloud'] },
  { rule_id: 'a7', action: 'annotate' },
  { rule_id: 'a8', action: 'transition_state', machine_id: 'review', event: 'flag' },
];
const routing = compileRouting({
  targets: [
    { model: 'local-small', context_window: 8_192 },
    { model: 'local-large', context_window: 32_768 },
    { model: 'cloud', context_window: 200_000 },
    { model: 'cloud-long', context_window: 1_000_000 },
  ],
});
const { machine } = compileStateMachine({
  id: 'review',
  initial: 'draft',
  states: { draft: {}, reviewing: {}, approved: { terminal: true } },
  transitions: [
    { from: 'draft', event: 'submit', to: 'reviewing', rule_id: 'submit' },
    { from: 'reviewing', event: 'approve', to: 'approved', rule_id: 'approve' },
    { from: 'reviewing', event: 'reject', to: 'draft', rule_id: 'reject', max_taken: 3 },
  ],
});

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

const noop = () => 1;
/** @type {import('./harness.mjs').Case[]} */
const cases = [
  {
    group: 'baseline',
    name: 'harness floor: an empty call, inlined into the batch loop',
    unit_ops: 1,
    batch: 10_000,
    fn: noop,
  },
  {
    group: 'guard loop',
    name: 'validate a valid 1 KB answer (parse, schema, 2 semantic rules)',
    unit_ops: 1,
    batch: 50,
    fn: () => validateOutput(guard, answer),
    target: { max_ns_per_unit: 5_000, label: '≤ 5 µs' },
  },
  {
    group: 'history',
    name: 'count rule over a 64-entry window (the session’s entries)',
    unit_ops: 1,
    batch: 200,
    fn: () => evaluateHistoryRule(countRule, sessionEntries, caller, 2_000),
    target: { min_ops_per_s: 1_000_000, label: '≥ 1M decisions/s' },
  },
  {
    group: 'history',
    name: 'count rule, 64-entry window found in a 4-session store (256 entries)',
    unit_ops: 1,
    batch: 50,
    fn: () => evaluateHistoryRule(countRule, historyState.entries, caller, 2_000),
  },
  {
    group: 'history',
    name: 'regex_count rule over a 64-entry window, entries seen before (memoised)',
    unit_ops: 1,
    batch: 20,
    fn: () => evaluateHistoryRule(regexRule, sessionEntries, caller, 2_000),
  },
  {
    group: 'history',
    name: 'regex_count rule over a 64-entry window, every entry new (incl. 64 copies)',
    unit_ops: 1,
    batch: 5,
    // Fresh entry objects defeat the per-entry memo: the cost of a window seen for the first time.
    fn: () =>
      evaluateHistoryRule(
        regexRule,
        sessionEntries.map((e) => ({ ...e })),
        caller,
        2_000,
      ),
  },
  {
    group: 'ttsr',
    name: '5 literal rules, 4 KB in 256-byte chunks (per chunk)',
    unit_ops: chunks256.length,
    batch: 5,
    fn: () => governAll(literalPolicy, chunks256),
    target: { max_ns_per_unit: 2_000, label: '≤ 2 µs per chunk' },
  },
  {
    group: 'ttsr',
    name: '5 literal rules, 4 KB in 16-byte chunks (per chunk)',
    unit_ops: chunks16.length,
    batch: 1,
    fn: () => governAll(literalPolicy, chunks16),
  },
  {
    group: 'ttsr',
    name: '5 regex rules, 4 KB in 256-byte chunks (per chunk)',
    unit_ops: chunks256.length,
    batch: 1,
    fn: () => governAll(regexPolicy, chunks256),
  },
  {
    group: 'eviction',
    name: 'insert into a full store of 64 entries (evicts one)',
    unit_ops: 1,
    batch: 50,
    fn: () => insertInto(store64),
  },
  {
    group: 'eviction',
    name: 'insert into a full store of 10 000 entries (evicts one)',
    unit_ops: 1,
    batch: 5,
    fn: () => insertInto(store10k),
  },
  {
    group: 'alerts',
    name: 'enqueue, poll and deliver one alert',
    unit_ops: 1,
    batch: 50,
    fn: alertRoundTrip,
  },
  {
    group: 'actions',
    name: 'arbitrate 8 actions (normalise, order, conflicts)',
    unit_ops: 1,
    batch: 50,
    fn: () => arbitrateActions(actions),
  },
  {
    group: 'routes',
    name: 'first-fit over 4 targets with constraints',
    unit_ops: 1,
    batch: 200,
    fn: () =>
      selectRoute(routing, {
        estimated_prompt_tokens: 20_000,
        constraints: { allowed_targets: ['local-large', 'cloud'] },
      }),
  },
  {
    group: 'state machines',
    name: 'select the next transition',
    unit_ops: 1,
    batch: 500,
    fn: () => nextTransition(machine, 'reviewing', 'reject', { reject: 1 }),
  },
];

// ---------------------------------------------------------------------------------------------
// Run and report
// ---------------------------------------------------------------------------------------------

const started = Date.now();
const results = await runCases(cases, timing);
keepAlive();
writeReport({
  suite: 'core',
  title: 'Core decision benchmarks',
  column: 'core',
  note: 'ops/s is 1 / p50. Each sample times a batch of calls; p50/p99 are per call (per chunk for TTSR).',
  mode,
  outDir,
  started,
  results,
});
