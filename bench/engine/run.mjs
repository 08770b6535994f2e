// `npm run bench:engine`: what the engine adds per request, on top of the decision cores:
// the request phase alone (10 literal rules + 2 history rules), and a whole simulated request
// through `engine.handle` (provider answering at once) including the receipt. Writes JSON and
// a markdown table to bench/results/. Options: --quick, --smoke, --out DIR.
import {
  compileArtifact,
  createEngine,
  evaluateRequest,
  initialHistoryStore,
  insertEntry,
  ManualClock,
  memoryHistoryStore,
  memoryReceiptStore,
} from '@wardwright/core';
import { keepAlive, runCases, runnerArgs, writeReport } from '../core/harness.mjs';

const { mode, outDir, timing } = runnerArgs();

// ---------------------------------------------------------------------------------------------
// Inputs, built once
// ---------------------------------------------------------------------------------------------

const literalRules = [
  'drop table',
  'rm -rf /',
  'ignore previous instructions',
  'begin private key',
  'aws_secret_access_key',
  'password:',
  'ssn:',
  'credit card number',
  'jailbreak',
  'confidential',
].map((needle, i) => ({
  kind: 'match',
  id: `literal-${i}`,
  contains: needle,
  actions: [i % 2 === 0 ? { action: 'block' } : { action: 'alert', severity: 'warning' }],
}));
const historyRules = [
  {
    kind: 'history',
    id: 'busy-session',
    scope: 'session_id',
    threshold: 50,
    window: { last: 64, within_ms: 600_000 },
    actions: [{ action: 'switch_model', target_model: 'large' }],
  },
  {
    kind: 'history',
    id: 'repeated-secret',
    scope: 'session_id',
    threshold: 3,
    pattern: 'api[_ -]?key',
    filter: { kind: 'request_text' },
    actions: [{ action: 'block' }],
  },
];
const artifact = {
  schema: 'wardwright.artifact.v1',
  model: { id: 'bench', version: '1' },
  targets: [
    { model: 'small', context_window: 8_192 },
    { model: 'large', context_window: 200_000 },
  ],
  prompt_transforms: { preamble: 'You are a careful assistant.' },
  request_rules: [...literalRules, ...historyRules],
};
const plan = await compileArtifact(artifact);
const streamPlan = await compileArtifact({
  ...artifact,
  stream_rules: [
    { id: 'mask-key', action: 'rewrite_window', regex: 'sk-[A-Za-z0-9]{16}', horizon_bytes: 32 },
    {
      id: 'no-old',
      action: 'retry_with_reminder',
      contains: 'OldClient(',
      reminder: 'Use NewClient.',
      horizon_bytes: 32,
    },
  ],
});
const guardPlan = await compileArtifact({
  ...artifact,
  structured_output: {
    schemas: [
      {
        id: 'answer',
        schema: {
          type: 'object',
          required: ['answer', 'confidence'],
          properties: { answer: { type: 'string' }, confidence: { type: 'number' } },
        },
      },
    ],
    semantic_rules: [
      { kind: 'json_path_number', id: 'confidence', path: '/confidence', gte: 0, lte: 1 },
    ],
  },
});

const caller = { session_id: 'session-1', tenant_id: 'acme' };
/** @type {import('@wardwright/core').ChatRequest} */
const request = {
  model: 'bench',
  messages: [
    { role: 'system', content: 'You help engineers write TypeScript.' },
    {
      role: 'user',
      content: `How do I read a file line by line in Node? ${'Some context. '.repeat(20)}`,
    },
    { role: 'assistant', content: 'Use readline with a file stream.' },
    { role: 'user', content: 'And how do I handle errors while doing so?' },
  ],
};
// 64 entries of this session's history plus three other sessions: what a busy store holds.
let history = initialHistoryStore();
const config = plan.history;
for (let i = 0; i < 256; i++) {
  history = insertEntry(
    config,
    history,
    {
      created_at_ms: 1_000 + i,
      kind: i % 3 === 0 ? 'tool_call' : 'request_text',
      key: '',
      scope: { session_id: `session-${i % 4}` },
      // Secrets in the other sessions, and two in session-1: below repeated-secret's threshold,
      // so its regex count runs on every request and the request still reaches the provider.
      text:
        i % 7 === 0 && (i % 4 !== 1 || i < 60) ? 'my api key is ...' : 'some earlier request text',
    },
    1_000 + i,
  ).state;
}
// The engine reads history through its store's per-session index; the bench does the same.
const phaseStore = memoryHistoryStore(plan.history, history);
/** @type {import('@wardwright/core').RequestPhaseInput} */
const phaseInput = {
  request,
  caller,
  now_ms: 2_000,
  history: phaseStore.entries(),
  scoped: (/** @type {string} */ key, /** @type {string} */ value) =>
    phaseStore.scoped?.(key, value),
  stateOf: () => null,
};

/**
 * An engine whose provider answers at once; the history store starts as above.
 * @param {import('@wardwright/core').Plan} p
 * @param {() => import('@wardwright/core').ProviderReply} reply
 */
function engineFor(p, reply) {
  const clock = new ManualClock(2_000);
  return createEngine({
    plan: p,
    provider: async () => reply(),
    clock,
    history: memoryHistoryStore(p.history, history),
    receipts: memoryReceiptStore({ max_receipts: 1_000 }),
  });
}
const answer = 'Wrap the stream in try/catch and listen for the error event on the file stream.';
const plainEngine = engineFor(plan, () => ({ kind: 'text', text: answer }));
const wholeGovernedEngine = engineFor(streamPlan, () => ({ kind: 'text', text: answer }));
const guardEngine = engineFor(guardPlan, () => ({
  kind: 'text',
  text: '{"answer":"Use try/catch.","confidence":0.9}',
}));
const pieces = answer.match(/.{1,16}/g) ?? [];
const streamEngine = engineFor(streamPlan, () => ({
  kind: 'stream',
  chunks: (async function* () {
    yield* pieces;
  })(),
}));
const streamRequest = { ...request, stream: true };

// Agent traffic: the same streamed text, alone and followed by two tool calls (each as OpenAI
// streams it: a head with id and name, then the arguments in two fragments), with usage.
const usage = { prompt_tokens: 120, completion_tokens: 40, total_tokens: 160 };
/** @type {import('@wardwright/core').ReplyEvent[]} */
const textEvents = [
  ...pieces.map((text) => /** @type {const} */ ({ type: 'text', text })),
  { type: 'finish', reason: 'stop' },
  { type: 'usage', usage },
];
/** @type {import('@wardwright/core').ReplyEvent[]} */
const toolEvents = [
  ...pieces.map((text) => /** @type {const} */ ({ type: 'text', text })),
  { type: 'tool_call', index: 0, id: 'call_read', name: 'read_file', arguments: '' },
  { type: 'tool_call', index: 0, arguments: '{"path":"src/' },
  { type: 'tool_call', index: 0, arguments: 'lines.ts"}' },
  { type: 'tool_call', index: 1, id: 'call_grep', name: 'grep', arguments: '' },
  { type: 'tool_call', index: 1, arguments: '{"pattern":"on(\'error' },
  { type: 'tool_call', index: 1, arguments: '\'","path":"src"}' },
  { type: 'finish', reason: 'tool_calls' },
  { type: 'usage', usage },
];
/**
 * A v2 provider that streams these events at once.
 * @param {import('@wardwright/core').ReplyEvent[]} events
 * @returns {import('@wardwright/core').ModelProvider}
 */
const eventProvider = (events) => ({
  specificationVersion: 'v2',
  call: async () => ({
    kind: 'stream',
    events: (async function* () {
      yield* events;
    })(),
  }),
});
// Five tool-call rules over those two calls, none of which fires: the common case, where every
// call is decided and goes out.
const toolPolicyPlan = await compileArtifact({
  ...artifact,
  tool_calls: {
    rules: [
      {
        id: 'no-recursive-delete',
        tool: { names: ['shell.exec'] },
        arguments: [{ pointer: '/command', regex: 'rm\\s+-rf' }],
        actions: [{ action: 'block' }],
      },
      {
        id: 'no-secrets-path',
        tool: { names: ['read_file'] },
        arguments: [{ pointer: '/path', regex: '(^|/)\\.env$|id_rsa' }],
        actions: [{ action: 'block' }],
      },
      {
        id: 'source-only',
        tool: { names: ['read_file', 'grep'] },
        require: { arguments: [{ pointer: '/path', regex: '^src(/|$)' }] },
        actions: [{ action: 'drop_call' }],
      },
      {
        id: 'no-live-keys',
        arguments: [{ pointer: '', regex: 'sk-live-[A-Za-z0-9]{24}' }],
        actions: [{ action: 'block' }],
      },
      {
        id: 'grep-pattern-is-text',
        tool: { names: ['grep'] },
        require: {
          arguments: [{ pointer: '/pattern', schema: { type: 'string', maxLength: 200 } }],
        },
        actions: [{ action: 'retry_with_reminder', reminder: 'Give grep a pattern string.' }],
      },
    ],
  },
});

/**
 * @param {import('@wardwright/core').ModelProvider} provider
 * @param {import('@wardwright/core').Plan} [p]
 */
function agentEngine(provider, p = plan) {
  return createEngine({
    plan: p,
    provider,
    clock: new ManualClock(2_000),
    history: memoryHistoryStore(p.history, history),
    receipts: memoryReceiptStore({ max_receipts: 1_000 }),
  });
}
// The same text cut finer, so the stream has as many events as the one with tool calls.
const finePieces = answer.match(/.{1,7}/g) ?? [];
/** @type {import('@wardwright/core').ReplyEvent[]} */
const fineTextEvents = [
  ...finePieces.map((text) => /** @type {const} */ ({ type: 'text', text })),
  { type: 'finish', reason: 'stop' },
  { type: 'usage', usage },
];
const textStreamEngine = agentEngine(eventProvider(textEvents));
const fineTextStreamEngine = agentEngine(eventProvider(fineTextEvents));
const toolStreamEngine = agentEngine(eventProvider(toolEvents));
const decidedToolStreamEngine = agentEngine(eventProvider(toolEvents), toolPolicyPlan);
// The rows measure what they say only if every request reaches the provider and completes,
// and the tool-call answers carry both calls, whole and valid.
for (const [engine, req, calls] of /** @type {const} */ ([
  [plainEngine, request, 0],
  [wholeGovernedEngine, request, 0],
  [guardEngine, request, 0],
  [streamEngine, streamRequest, 0],
  [textStreamEngine, streamRequest, 0],
  [fineTextStreamEngine, streamRequest, 0],
  [toolStreamEngine, streamRequest, 2],
  [decidedToolStreamEngine, streamRequest, 2],
])) {
  const { status, answer } = await engine.handle(req, { caller, onRelease: () => {} });
  const args = (answer?.tool_calls ?? []).map((c) => JSON.parse(c.arguments));
  if (!status.startsWith('completed') || args.length !== calls) {
    throw new Error(`bench:engine: a case ended ${status} with ${args.length} tool calls`);
  }
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

/** @type {import('../core/harness.mjs').Case[]} */
const cases = [
  {
    group: 'request phase',
    name: 'evaluateRequest: 10 literal + 2 history rules, 4 messages, 256-entry store',
    unit_ops: 1,
    batch: 20,
    async: true,
    fn: () => evaluateRequest(plan, phaseInput),
    target: { max_ns_per_unit: 10_000, label: '≤ 10 µs' },
  },
  {
    group: 'full request',
    name: 'engine.handle, non-streaming, same rules, receipt built and stored',
    unit_ops: 1,
    batch: 10,
    async: true,
    fn: () => plainEngine.handle(request, { caller }),
    target: { max_ns_per_unit: 50_000, label: '≤ 50 µs' },
  },
  {
    group: 'full request',
    name: 'engine.handle, non-streaming, + 2 stream rules on the whole answer',
    unit_ops: 1,
    batch: 10,
    async: true,
    fn: () => wholeGovernedEngine.handle(request, { caller }),
  },
  {
    group: 'full request',
    name: 'engine.handle, non-streaming, + structured output (schema + semantic rule)',
    unit_ops: 1,
    batch: 10,
    async: true,
    fn: () => guardEngine.handle(request, { caller }),
  },
  {
    group: 'full request',
    name: 'engine.handle, streaming 16-byte chunks through 2 stream rules',
    unit_ops: 1,
    batch: 5,
    async: true,
    fn: () => streamEngine.handle(streamRequest, { caller, onRelease: () => {} }),
  },
  {
    group: 'agent traffic',
    name: 'engine.handle, streaming 16-byte chunks, text only (usage reported)',
    unit_ops: 1,
    batch: 5,
    async: true,
    fn: () => textStreamEngine.handle(streamRequest, { caller, onRelease: () => {} }),
  },
  {
    group: 'agent traffic',
    name: `engine.handle, streaming the same text in ${finePieces.length} chunks (as many events as below)`,
    unit_ops: 1,
    batch: 5,
    async: true,
    fn: () => fineTextStreamEngine.handle(streamRequest, { caller, onRelease: () => {} }),
  },
  {
    group: 'agent traffic',
    name: 'engine.handle, streaming the same text + 2 tool calls in 6 fragments',
    unit_ops: 1,
    batch: 5,
    async: true,
    fn: () => toolStreamEngine.handle(streamRequest, { caller, onRelease: () => {} }),
  },
  {
    group: 'agent traffic',
    name: 'engine.handle, the same, both calls decided under 5 tool-call rules',
    unit_ops: 1,
    batch: 5,
    async: true,
    fn: () => decidedToolStreamEngine.handle(streamRequest, { caller, onRelease: () => {} }),
  },
  {
    group: 'compile',
    name: 'compileArtifact: 12 request rules, 2 stream rules',
    unit_ops: 1,
    batch: 1,
    async: true,
    fn: () =>
      compileArtifact({
        ...artifact,
        stream_rules: streamPlan.artifact.stream_rules,
      }),
  },
];

const started = Date.now();
// Rows are compared with each other (the agent-traffic ratios): measure them in rounds.
const results = await runCases(cases, { ...timing, rounds: mode === 'full' ? 6 : 2 });
keepAlive();
writeReport({
  suite: 'engine',
  title: 'Engine overhead benchmarks',
  column: 'phase',
  note: 'ops/s is 1 / p50. The provider answers at once, so these are the engine’s own costs; each sample awaits a batch of calls.',
  mode,
  outDir,
  started,
  results,
});
