import { type Receipt, type SimulationResult, simulate } from '@wardwright/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  goodArtifact,
  guardArtifact,
  request,
  richArtifact,
  runMain,
  TempDir,
} from './cli.fixtures.ts';
import { makeStyle } from './output.ts';
import { formatTrace } from './trace.ts';

const plain = makeStyle(false);
let dir: TempDir;
let rich: string;

beforeAll(async () => {
  dir = await TempDir.create();
  rich = await dir.write('rich.json', richArtifact());
});
afterAll(async () => {
  await dir.remove();
});

let fixtures = 0;

async function trace(artifact: string, fixture: unknown, ...flags: string[]): Promise<string> {
  const file = await dir.write(`fixture-${++fixtures}.json`, fixture);
  const run = await runMain(['simulate', artifact, file, ...flags]);
  expect(run.code).toBe(0);
  return run.stdout;
}

function section(out: string, title: string): string[] {
  const lines = out.split('\n');
  const start = lines.indexOf(title);
  expect(start, `section ${title}`).toBeGreaterThanOrEqual(0);
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

describe('simulate trace, from real runs', () => {
  it('request phase: rules with evidence, actions in order, conflicts, route, state, alerts', async () => {
    const out = await trace(rich, {
      caller: { session_id: 's' },
      states: { review: 'draft' },
      history: [{ kind: 'request_text', text: 'earlier', age_ms: 5 }],
      request: request('big submit remind'),
    });
    expect(section(out, 'rules')).toEqual([
      '  go-large    matched      contains in request_text at 5: "big"',
      '  go-small    matched      contains in request_text at 5: "big"',
      '  only-small  not matched  contains in request_text',
      '  only-large  not matched  contains in request_text',
      '  remind      matched      regex in request_text at 16: "remind"',
      '  loop        matched      count 2 >= threshold 2 (session_id=s, 2 in window)',
      '  no-shell    not matched  tool phase -',
      '  submit      matched      contains in request_text at 9: "submit"',
      '  finish      not matched  contains in request_text',
      '  scripted    not matched  script policy.decide on quickjs, fail_open',
    ]);
    const actions = section(out, 'actions (application order)');
    expect(actions[0]).toBe('  1. go-large  switch_model -> large (fallback allowed)');
    expect(actions[2]).toMatch(
      /^ {2}3\. remind {4}inject_reminder "be kind (and patient )+and pat…"$/,
    );
    expect(actions.slice(3)).toEqual([
      '  4. remind    alert warning "reminded"',
      '  5. loop      alert info',
      '  6. submit    transition_state review: submit',
      '  7. remind    annotate "noted"',
    ]);
    expect(section(out, 'conflicts')).toEqual([
      '  ! route_constraints (ordered): go-large, go-small; winner go-large; overridden go-small',
      '    allow-lists intersect; the first switch_model in application order sets the forced model',
    ]);
    expect(section(out, 'route')).toEqual([
      '  constraints: forced large (fallback allowed)',
      '  selected large (forced_model, context window 100000)',
    ]);
    expect(section(out, 'state')).toEqual([
      '  review  draft --submit--> pending  (sent by submit)',
    ]);
    expect(section(out, 'alerts')).toEqual([
      '  remind -> memory: queued (queue 1/1024)',
      '  loop -> memory: queued (queue 2/1024)',
    ]);
    expect(section(out, 'attempts')).toEqual(['  none (no attempts scripted: request phase only)']);
    expect(section(out, 'scripts')).toEqual(['  scripted  policy.decide on quickjs  ok']);
    expect(section(out, 'final')).toEqual(['  simulated  HTTP 200  model large  0 bytes released']);
    expect(section(out, 'released text')).toEqual(['  none']);
  });

  it('gates, missing scopes, tools, failing scripts, blocks', async () => {
    const out = await trace(rich, {
      request: request('finish boom submit narrow', {
        tools: [{ type: 'function', function: { name: 'shell.exec' } }],
      }),
    });
    const rules = section(out, 'rules');
    expect(rules).toContain(
      '  loop        not matched  the caller has no session_id: nothing counted',
    );
    expect(rules).toContain('  no-shell    matched      tool phase planning, shell.exec');
    expect(rules).toContain(
      '  submit      skipped      gate review in [draft]; the caller has no scope for it',
    );
    expect(rules).toContain(
      '  scripted    failed       script policy.decide on quickjs, fail_open: runtime_error: Error: boom',
    );
    expect(out).toContain('  tool context: planning (shell.exec)\n');
    expect(out).toContain('  1. no-shell    block (no shell) "shell is off"\n');
    expect(section(out, 'route')).toEqual([
      '  constraints: allowed []',
      '  not routed: the request was blocked first',
    ]);
    expect(section(out, 'state')).toEqual([
      '  review  finish: ignored, the caller has no session_id  (sent by finish)',
    ]);
    expect(section(out, 'final')).toEqual([
      '  policy_blocked  HTTP 403  model -  0 bytes released',
      '  message: blocked by policy: no-shell',
    ]);
  });

  it('state: a gate that skips, a missing transition, a terminal state', async () => {
    const pending = await trace(rich, {
      caller: { session_id: 's' },
      states: { review: 'pending' },
      request: request('submit'),
    });
    expect(section(pending, 'rules')).toContain(
      '  submit      skipped      gate review in [draft]; state is pending',
    );
    const noRow = await trace(rich, {
      caller: { session_id: 's' },
      request: request('finish'),
    });
    expect(section(noRow, 'state')).toEqual([
      '  review  draft --finish--> (no such transition: unchanged)  (sent by finish)',
    ]);
    const done = await trace(rich, {
      caller: { session_id: 's' },
      states: { review: 'done' },
      request: request('finish'),
    });
    expect(section(done, 'state')).toEqual([
      '  review  done --finish--> (terminal state: unchanged)  (sent by finish)',
    ]);
  });

  it('route blocked by disjoint restrictions', async () => {
    const out = await trace(rich, { request: request('narrow') });
    expect(section(out, 'route')).toEqual([
      '  constraints: allowed []',
      '  blocked: no_allowed_target',
      '  skipped: small (not_allowed), large (not_allowed)',
    ]);
  });

  it('stream: retries with reminders, rewrites, blocks, byte offsets', async () => {
    const out = await trace(rich, {
      request: request('hi', { stream: true }),
      attempts: [
        { chunks: [{ text: 'OLD ' }, { text: 'x' }] },
        { chunks: [{ text: 'sk-abcd fine\n' }, { text: 'BAD' }] },
      ],
    });
    expect(section(out, 'attempts')).toEqual([
      '  #0  small  stream_halted  4 bytes in 10 ms',
      '  #1  small  stream_halted  16 bytes in 20 ms',
      '      reminder: "use NEW"',
    ]);
    expect(section(out, 'stream (release: horizon 16 bytes)')).toEqual([
      '  attempt #0  retry_required  generated 4 B, released 0 B',
      '    no-old  retry_with_reminder  chunk 0 (raw bytes 0-4), match bytes 0-3; reminder "use NEW"',
      '  attempt #1  blocked  generated 16 B, released 0 B',
      '    mask-keys  rewrite_window  chunk 0 (raw bytes 0-13), match bytes 0-7',
      '    no-bad  block  chunk 1 (raw bytes 13-16), match bytes 13-16; message "bad word"',
      '  then: retry 1 for no-old with "use NEW"',
      '  then: stream_policy_blocked by no-bad',
    ]);
    expect(section(out, 'final')).toEqual([
      '  stream_policy_blocked  HTTP 422  model small  0 bytes released',
      '  message: stream stopped by rule no-bad',
    ]);
  });

  it('--trace adds ids, priorities, fallbacks, counters, timings and released pieces', async () => {
    const out = await trace(
      rich,
      {
        request: request('big', { stream: true }),
        attempts: [{ chunks: [{ text: `${'a'.repeat(20)}\n` }, { text: 'b'.repeat(20) }] }],
      },
      '--trace',
    );
    expect(out).toMatch(/^request {2}coder@1\.2\.0 {2}sha256:[0-9a-f]{64}\n/);
    expect(out).toMatch(/^ {2}receipt rcpt_[0-9a-f]{16}, input sha256:[0-9a-f]{64}$/m);
    expect(out).toContain(
      '  1. go-large  switch_model -> large (fallback allowed)  (request.routing, priority 30, route_constraint)\n',
    );
    expect(out).toContain('  fallbacks: small\n');
    expect(out).toContain(
      '    rewritten 0 B, dropped 0 B, blocked 0 B, held at most 16 B for 10 ms\n',
    );
    expect(out).toMatch(
      /^ {2}output sha256:[0-9a-f]{64}; 20 ms \(request 0 ms, response 20 ms\)$/m,
    );
    expect(out).toMatch(/^ {2}scripted {2}policy\.decide on quickjs {2}ok \(\d+(\.\d+)? ms\)$/m);
    const released = section(out, 'released text');
    expect(released[0]).toMatch(/^ {2}piece 0 \(bytes 0-\d+\):$/);
    expect(released.filter((l) => l.startsWith('  piece')).length).toBeGreaterThan(1);
    expect(
      released
        .filter((l) => l.startsWith('  |'))
        .join('')
        .replaceAll('  | ', ''),
    ).toBe('a'.repeat(20) + 'b'.repeat(20));
  });

  it('a long reminder is cut in the trace, whole with --trace', async () => {
    const fixture = { request: request('remind') };
    expect(await trace(rich, fixture)).toContain('and pat…"');
    expect(await trace(rich, fixture, '--trace')).not.toContain('…"');
  });

  it('guard: schema then semantic failures, exhausted, feedback', async () => {
    const guarded = await dir.write('guard.json', guardArtifact());
    const out = await trace(guarded, {
      request: request('hello'),
      attempts: [{ text: '{"a": "x"}' }, { text: '{"a": 50}' }],
    });
    expect(section(out, 'attempts')).toEqual([
      '  #0  small  completed  10 bytes in 0 ms',
      '  #1  small  completed  9 bytes in 0 ms',
      '      guard feedback appended',
    ]);
    expect(section(out, 'guard')).toEqual([
      '  attempt #0  structured-json  schema_validation  1 error',
      '      /a: answer: must be number',
      '  attempt #1  a-small  semantic_validation  1 error',
      '      /a: must be <= 10, got 50',
      '  decision: exhausted_guard_budget after 2 attempts, on_exhausted block',
    ]);
  });

  it('guard: accepted after a retry; a root error; released text', async () => {
    const guarded = await dir.write('guard-ok.json', guardArtifact());
    const out = await trace(guarded, {
      request: request('hello'),
      attempts: [{ text: '[]' }, { text: '{"a": 1}' }],
    });
    expect(section(out, 'guard')).toEqual([
      '  attempt #0  structured-json  schema_validation  1 error',
      '      (root): answer: must be object',
      '  decision: accept (completed_after_guard) with schema answer after 2 attempts',
    ]);
    expect(section(out, 'released text')).toEqual(['  | {"a": 1}']);
  });

  it('provider errors', async () => {
    const guarded = await dir.write('guard-err.json', guardArtifact());
    const out = await trace(guarded, {
      request: request('hello'),
      attempts: [{ error: { status: 'rate_limited', message: 'slow down' } }],
    });
    expect(section(out, 'attempts')).toEqual([
      '  #0  small  provider_error  0 bytes in 0 ms',
      '      error: rate_limited: slow down',
    ]);
    expect(section(out, 'guard')).toEqual([
      '  decision: provider failed (rate_limited: slow down)',
    ]);
  });
});

describe('formatTrace, for outcomes a fixture cannot easily produce', () => {
  let base: SimulationResult;

  beforeAll(async () => {
    base = await simulate(goodArtifact({ request_rules: [], stream_rules: [] }), {
      request: request('hi'),
      attempts: [{ text: 'ok' }],
    });
  });

  function withReceipt(patch: (r: Receipt) => void, text: string | null = 'ok'): SimulationResult {
    const result = structuredClone(base);
    patch(result.receipt);
    result.text = text;
    return result;
  }

  const lines = (result: SimulationResult, detailed = false) =>
    formatTrace(result, plain, detailed);

  it('empty caller, no rules, no actions, plain text release', () => {
    const out = lines(base);
    expect(out).toContain('  caller: -');
    expect(out.slice(out.indexOf('rules'), out.indexOf('rules') + 2)).toEqual(['rules', '  none']);
    expect(out).toContain('  | ok');
  });

  it('prompt transforms, tool context without names, a requested model', () => {
    const out = lines(
      withReceipt((r) => {
        r.request.prompt_transforms = ['preamble', 'postscript'];
        r.request.tool_context = { phase: 'result_interpretation', names: [] };
        r.request.requested_model = 'coder';
        r.request.stream = true;
        r.request.estimated_prompt_tokens = 1;
      }),
    );
    expect(out).toContain('  prompt transforms: preamble, postscript');
    expect(out).toContain('  tool context: result_interpretation');
    expect(out[1]).toBe('  1 message, ~1 token, streamed, requested model coder');
  });

  it('a forced model without fallback; errors without messages', () => {
    const out = lines(
      withReceipt((r) => {
        r.decision.route_constraints = { forced_model: 'small', allow_fallback: false };
        r.attempts = [{ ...r.attempts[0]!, status: 'provider_error', error: { status: 'down' } }];
        r.guard = {
          events: [],
          decision: { kind: 'provider_failed', status: 'down', attempt_count: 0 },
        };
      }, null),
    );
    expect(out).toContain('  constraints: forced small');
    expect(out).toContain('      error: down');
    expect(out).toContain('  decision: provider failed (down)');
    expect(out.at(-1)).toBe('  none');
  });

  it('a transition refused by its budget', () => {
    const out = lines(
      withReceipt((r) => {
        r.decision.state_transitions = [
          {
            machine_id: 'm',
            scope_key: 'session_id',
            scope_value: 's',
            rule_id: 'r',
            event: 'go',
            decision: {
              kind: 'budget_exhausted',
              from: 'a',
              event: 'go',
              to: 'b',
              rule_id: 't',
              max_taken: 2,
            },
          },
        ];
      }),
    );
    expect(out).toContain('  m  a --go--> b refused: t already taken 2x  (sent by r)');
  });

  it('an alert decision with a reason; a conflict without a winner', () => {
    const out = lines(
      withReceipt((r) => {
        r.alerts = [
          {
            sink: 'pager',
            rule_id: 'r',
            idempotency_key: 'k',
            decision: {
              key: 'k',
              rule_id: 'r',
              outcome: 'dead_lettered',
              queue_depth: 4,
              capacity: 4,
              reason: 'queue_full',
            } as Receipt['alerts'][number]['decision'],
          },
        ];
        r.decision.conflicts = [
          {
            key: 'terminal_decision',
            class: 'terminal',
            rule_ids: ['a', 'b'],
            resolution: 'a block wins',
          },
        ];
      }),
    );
    expect(out).toContain('  r -> pager: dead_lettered (queue 4/4, queue_full)');
    expect(out).toContain('  ! terminal_decision (terminal): a, b');
  });

  it('every stream retry decision, latency, release-gate triggers, full buffering', () => {
    const trigger = {
      type: 'stream_policy.triggered' as const,
      rule_id: 'r',
      action: 'block' as const,
      stage: 'release_gate' as const,
      scope: 'window' as const,
      match_kind: 'literal' as const,
      chunk_index: 2,
      chunk_raw_start_byte: 10,
      chunk_raw_end_byte: 20,
      window_start_byte: 0,
      window_end_byte: 20,
      match_start_byte: 12,
      match_end_byte: 14,
      match_count: 3,
    };
    const out = lines(
      withReceipt((r) => {
        r.stream = {
          mode: { kind: 'full_buffer', reason: 'rule_without_horizon', rule_id: 'r' },
          attempts: [
            {
              attempt_index: 0,
              status: 'latency_exceeded',
              events: [
                trigger,
                {
                  type: 'stream_policy.latency_exceeded',
                  chunk_index: 3,
                  max_hold_ms: 50,
                  observed_hold_ms: 70,
                  held_bytes: 12,
                },
              ],
              generated_bytes: 20,
              released_bytes: 0,
              rewritten_bytes: 0,
              dropped_bytes: 0,
              blocked_bytes: 0,
              max_held_bytes: 20,
              max_observed_hold_ms: 70,
            },
          ],
          retries: [
            { kind: 'complete', status: 'completed' },
            {
              kind: 'retry',
              rule_id: 'r',
              reminders: ['x'],
              retry_number: 1,
              ledger: { retries_total: 1, retries_by_rule: { r: 1 }, reminders: ['x'] },
              reroute: {
                reason: 'retry_prompt_exceeded_context',
                from_model: 'small',
                from_context_window: 10,
                to_model: 'large',
                to_context_window: 100,
                estimated_prompt_tokens: 20,
              },
            },
            { kind: 'fail', status: 'provider_error', rule_id: null, released_to_consumer: true },
            {
              kind: 'skip_after_release',
              status: 'stream_policy_retry_skipped_after_release',
              rule_id: 'r',
              released_bytes: 5,
            },
            {
              kind: 'exhausted',
              status: 'stream_policy_retry_required',
              rule_id: 'r',
              budget: 'rule',
              retries_used: 1,
              max_retries: 1,
            },
            {
              kind: 'context_exceeded',
              status: 'stream_policy_retry_context_exceeded',
              rule_id: 'r',
              estimated_prompt_tokens: 200,
              context_window: 100,
              skipped: [],
            },
          ],
          released_bytes: 0,
        };
      }),
    );
    expect(out).toContain('stream (release: full buffer, because r has no horizon)');
    expect(out).toContain(
      '    r  block  chunk 2 (raw bytes 10-20), match bytes 12-14 (3 matches), at the release gate',
    );
    expect(out).toContain('    latency exceeded at chunk 3: 12 B held 70 ms (max 50 ms)');
    expect(out).toContain('  then: completed');
    expect(out).toContain('  then: retry 1 for r, rerouted small -> large with "x"');
    expect(out).toContain('  then: provider_error (after text was released)');
    expect(out).toContain(
      '  then: stream_policy_retry_skipped_after_release: r wants a retry but 5 B were already released',
    );
    expect(out).toContain('  then: stream_policy_retry_required: r spent the rule budget (1/1)');
    expect(out).toContain(
      '  then: stream_policy_retry_context_exceeded: a retry for r does not fit 100 tokens (~200)',
    );
  });

  it('a guard that spent one rule’s budget', () => {
    const out = lines(
      withReceipt((r) => {
        r.guard = {
          events: [],
          decision: {
            kind: 'exhausted',
            status: 'exhausted_rule_budget',
            rule_id: 'a-small',
            on_exhausted: 'allow_last',
            attempt_count: 1,
            event: {
              type: 'structured_output.guard',
              attempt_index: 0,
              rule_id: 'a-small',
              guard_type: 'schema_validation',
              errors: [{ path: '', message: 'm' }],
              error_count: 1,
            },
            budget: {
              rule_id: 'a-small',
              rule_failures: 1,
              rule_budget: 1,
              attempt_count: 1,
              max_attempts: 3,
            },
            last_text: 'x',
          },
        };
      }),
    );
    expect(out).toContain(
      '  decision: exhausted_rule_budget (a-small) after 1 attempt, on_exhausted allow_last',
    );
  });

  it('a block without a reason, an action it does not know by name', () => {
    const out = lines(
      withReceipt((r) => {
        const common = {
          rule_id: 'r',
          phase: 'request.terminal',
          effect_type: 'terminal',
          conflict_policy: 'terminal',
          conflict_key: 'terminal_decision',
          priority: 10,
          declaration_index: 0,
        };
        r.decision.actions = [
          { action: 'block', ...common },
          { action: 'teleport', ...common },
        ] as unknown as Receipt['decision']['actions'];
      }),
    );
    expect(out).toContain('  1. r  block');
    expect(out).toContain('  2. r  teleport');
  });

  it('a multi-line answer released in one piece, with --trace', () => {
    const result = structuredClone(base);
    result.text = 'line 1\nline 2';
    result.released = ['line 1\nline 2'];
    expect(lines(result, true).slice(-2)).toEqual(['  | line 1', '  | line 2']);
  });
});
