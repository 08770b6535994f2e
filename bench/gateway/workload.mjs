// The gateway benchmark's workload, shared by the bench process (run.mjs) and the target
// processes (target.mjs): the request every target gets, the answer the scripted upstream
// sends, and the Wardwright artifacts (no rules, typical rules, streaming TTSR, isolation).

/** The model name: the governed model's id AND its target, so every target gets one body. */
export const MODEL = 'gpt-bench';

/** The upstream's answer: ~330 bytes, streamed as 16 content deltas (~21 bytes each). */
export const ANSWER =
  'Wrap the read loop in try/catch and listen for the error event on the file stream: ' +
  'createReadStream emits "error" when the file is missing, and readline forwards nothing of ' +
  'it. Close the interface in a finally block so the descriptor is released, and prefer ' +
  'for await (const line of rl) over the line event when you need backpressure.';
export const CHUNKS = ANSWER.match(/[\s\S]{1,21}/g) ?? [ANSWER];

/** @param {boolean} stream */
export function requestBody(stream) {
  return JSON.stringify({
    model: MODEL,
    ...(stream ? { stream: true } : {}),
    messages: [
      { role: 'system', content: 'You help engineers write TypeScript.' },
      {
        role: 'user',
        content: `How do I read a file line by line in Node? ${'Some context. '.repeat(20)}`,
      },
      { role: 'assistant', content: 'Use readline with a file stream.' },
      { role: 'user', content: 'And how do I handle errors while doing so?' },
    ],
    tools: [
      {
        type: 'function',
        function: {
          name: 'read_file',
          description: 'Read a file from the workspace',
          parameters: { type: 'object', properties: { path: { type: 'string' } } },
        },
      },
    ],
  });
}

/** Sessions the load rotates through (one per request object, cycled by every connection). */
export const SESSIONS = 8;

// ---------------------------------------------------------------------------------------------
// Artifacts
// ---------------------------------------------------------------------------------------------

const base = {
  schema: 'wardwright.artifact.v1',
  model: { id: MODEL, version: '1' },
  targets: [{ model: MODEL, context_window: 128_000 }],
};

/** (a) no rules: the gateway, the engine, routing, history recording and the receipt. */
export const noRules = { ...base };

/**
 * (b) typical rules: 10 request rules of the kinds people write — 4 literal and 3 regex
 * `match` rules, 1 `tool` rule, 2 `history` thresholds — none of which fires on the benchmark
 * request (a governed request that passes is the common case), plus the history the engine
 * records for every request (request text, tool calls, response text).
 */
export const typicalRules = {
  ...base,
  request_rules: [
    ...['drop table', 'ignore previous instructions', 'begin private key', 'jailbreak'].map(
      (contains, i) => ({
        kind: 'match',
        id: `literal-${i}`,
        contains,
        actions: [i % 2 === 0 ? { action: 'block' } : { action: 'alert', severity: 'warning' }],
      }),
    ),
    ...['sk-[A-Za-z0-9]{20,}', 'AKIA[0-9A-Z]{16}', '\\b\\d{3}-\\d{2}-\\d{4}\\b'].map(
      (regex, i) => ({
        kind: 'match',
        id: `regex-${i}`,
        regex,
        actions: [{ action: 'block' }],
      }),
    ),
    {
      kind: 'tool',
      id: 'no-shell',
      tool: { namespaces: ['shell'], phases: ['planning'] },
      actions: [{ action: 'block' }],
    },
    {
      kind: 'history',
      id: 'busy-session',
      scope: 'session_id',
      threshold: 1000,
      window: { last: 64, within_ms: 600_000 },
      actions: [{ action: 'alert', severity: 'warning' }],
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
  ],
};

/** (c) streaming: 5 TTSR rules (literal and regex) watching every delta; none fires. */
export const streamRules = {
  ...base,
  stream_rules: [
    { id: 'mask-key', action: 'rewrite_window', regex: 'sk-[A-Za-z0-9]{16}', horizon_bytes: 32 },
    {
      id: 'no-old-client',
      action: 'retry_with_reminder',
      contains: 'OldClient(',
      reminder: 'Use NewClient.',
      horizon_bytes: 32,
    },
    { id: 'no-private-key', action: 'block', contains: 'BEGIN PRIVATE KEY', horizon_bytes: 32 },
    { id: 'mask-password', action: 'rewrite_window', regex: 'password=\\S+', horizon_bytes: 32 },
    { id: 'todo', action: 'annotate', contains: 'TODO(', horizon_bytes: 32 },
  ],
};

/** Isolation: model A's policy script loops forever; its 50 ms limit stops it, fail closed. */
export const LOOPING_MODEL = 'looping';
export const loopingArtifact = {
  ...base,
  model: { id: LOOPING_MODEL, version: '1' },
  request_rules: [{ kind: 'script', id: 'spin', script: 'spin' }],
  scripts: {
    spin: {
      language: 'javascript',
      source: 'function decide() { for (;;) {} }',
      limits: { timeout_ms: 50 },
    },
  },
};

/**
 * (d) alerts: the typical rules plus one that raises an alert on every request, toward a file
 * sink (one JSON line per alert, fsync'd) with the default queue (DEFAULT_CAPACITY): does delivery
 * keep up with the gateway at its maximum rate, or do alerts queue, lag and drop?
 */
export const ALERT_SINK = 'pager';
export const alertsArtifact = {
  ...typicalRules,
  alerts: { sinks: [ALERT_SINK] },
  request_rules: [
    ...typicalRules.request_rules,
    {
      kind: 'match',
      id: 'page-on-every-request',
      contains: 'read a file',
      actions: [{ action: 'alert', severity: 'info', message: 'a file question' }],
    },
  ],
};
