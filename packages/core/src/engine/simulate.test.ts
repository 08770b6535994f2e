import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/config-error.ts';
import { baseArtifact, planOf } from './engine.fixtures.ts';
import { checkExpectation, runScenarios, simulate } from './simulate.ts';

const request = { messages: [{ role: 'user', content: 'hello' }] };

describe('simulate', () => {
  it('without scripted attempts runs the request phase only (status simulated)', async () => {
    const result = await simulate(baseArtifact(), { request });
    expect(result.receipt).toMatchObject({
      simulation: true,
      final: { status: 'simulated', http_status: 200, selected_model: 'small' },
      decision: { route: { kind: 'selected', model: 'small' } },
    });
    expect(result.text).toBeNull();
    expect(result.receipt.attempts).toEqual([]);
  });

  it('compiles an artifact itself, scripts running in the trusted backend', async () => {
    const artifact = baseArtifact({
      request_rules: [{ kind: 'script', id: 's', script: 'p' }],
      scripts: {
        p: {
          language: 'javascript',
          source: 'function decide() { return { actions: [{ action: "block" }] }; }',
        },
      },
    });
    const result = await simulate(artifact, { request, attempts: [{ text: 'x' }] });
    expect(result.receipt.final.status).toBe('policy_blocked');
    expect(result.receipt.sandbox[0]?.backend).toBe('trusted');
  });

  it('reports a fixture that scripts too few attempts as a provider error naming the fixture', async () => {
    const plan = await planOf({
      structured_output: { schemas: [{ id: 'o', schema: { type: 'object' } }] },
    });
    const result = await simulate(plan, { request, attempts: [{ text: 'nope' }] });
    expect(result.receipt.final.status).toBe('provider_error');
    expect(result.receipt.final.message).toMatch(/fixture_exhausted/);
  });

  it('seeds history oldest first and machine states for the caller', async () => {
    const plan = await planOf({
      state_machines: [
        {
          id: 'm',
          initial: 'a',
          states: { a: {}, b: {}, c: { terminal: true } },
          transitions: [
            { from: 'a', event: 'go', to: 'b', rule_id: 'ab' },
            { from: 'b', event: 'go', to: 'c', rule_id: 'bc' },
          ],
        },
      ],
      request_rules: [
        {
          kind: 'history',
          id: 'h',
          scope: 'session_id',
          threshold: 3,
          actions: [{ action: 'transition_state', machine_id: 'm', event: 'go' }],
        },
      ],
    });
    const fixture = {
      caller: { session_id: 's' },
      states: { m: 'b' },
      history: [
        { kind: 'request_text', text: 'newer', age_ms: 10 },
        { kind: 'request_text', text: 'older', age_ms: 1000 },
      ],
      request,
    };
    const result = await simulate(plan, fixture);
    expect(result.states).toEqual({ m: 'c' });
    expect(result.receipt.rules[0]?.evidence).toMatchObject({
      result: { count: 3, evidence: { matched_sequences: [3, 2, 1] } },
    });
  });

  it('rejects invalid fixtures with paths', async () => {
    const plan = await planOf({
      state_machines: [
        {
          id: 'm',
          initial: 'a',
          states: { a: {}, z: { terminal: true } },
          transitions: [{ from: 'a', event: 'go', to: 'z', rule_id: 'r' }],
        },
      ],
    });
    await expect(simulate(plan, { request: { messages: [] } })).rejects.toThrow(ConfigError);
    await expect(simulate(plan, { request, states: { nope: 'a' } })).rejects.toThrow(
      /\$\.states\.nope: is not a state machine/,
    );
    await expect(simulate(plan, { request, states: { m: 'q' } })).rejects.toThrow(
      /is not a state of m/,
    );
    await expect(simulate(plan, { request, states: { m: 'a' } })).rejects.toThrow(
      /needs the caller to have `session_id`/,
    );
  });

  it('delivers queued alerts to the memory sinks after the request', async () => {
    const plan = await planOf({
      request_rules: [
        {
          kind: 'match',
          id: 'hi',
          contains: 'hello',
          actions: [{ action: 'alert', idempotency_key: 'k' }],
        },
      ],
    });
    const result = await simulate(plan, {
      request,
      attempts: [{ chunks: [{ text: 'hi', delay_ms: 5 }] }, { error: { status: 'x' } }],
    });
    expect(result.deliveries).toEqual([{ sink: 'memory', rule_id: 'hi', idempotency_key: 'k' }]);
    expect(result.released).toEqual(['hi']);
  });
});

describe('scenarios', () => {
  it('checks every expectation field and names the ones that differ', async () => {
    const plan = await planOf({
      request_rules: [
        { kind: 'match', id: 'deny', contains: 'hello', actions: [{ action: 'block' }] },
      ],
    });
    const result = await simulate(plan, { request, attempts: [] });
    expect(
      checkExpectation(result, {
        status: 'policy_blocked',
        http_status: 403,
        text: null,
        matched_rules: ['deny'],
        determining_rules: ['deny'],
        actions: ['deny:block'],
        selected_model: null,
        attempts: 0,
        stream_triggers: [],
        guard_rules: [],
        alerts: [],
        states: {},
        sandbox_failures: [],
        text_excludes: ['anything'],
      }),
    ).toEqual([]);
    expect(
      checkExpectation(result, {
        status: 'completed',
        actions: ['deny:annotate'],
        text_contains: ['x'],
        text_excludes: [''],
      }).map((f) => f.field),
    ).toEqual(['status', 'text_contains', 'text_excludes', 'actions']);
  });

  it('runs cases, counts passes and failures, and reports errors without throwing', async () => {
    const plan = await planOf();
    const report = await runScenarios([
      {
        name: 'ok',
        plan,
        fixture: { request, attempts: [{ text: 'hi' }] },
        expect: { status: 'completed', text: 'hi' },
      },
      {
        name: 'wrong',
        plan,
        fixture: { request, attempts: [{ text: 'hi' }] },
        expect: { text: 'bye' },
      },
      { name: 'broken', plan, fixture: { request: 1 }, expect: {}, source: 'x.json' },
    ]);
    expect(report.passed).toBe(1);
    expect(report.failed).toBe(2);
    expect(report.results[1]?.failures).toEqual([{ field: 'text', expected: 'bye', actual: 'hi' }]);
    expect(report.results[2]).toMatchObject({
      ok: false,
      source: 'x.json',
      error: expect.stringMatching(/invalid fixture/),
    });
  });

  it('runs a candidate plan beside each case in strict compare mode', async () => {
    const plan = await planOf();
    const candidate = await planOf({
      request_rules: [
        { kind: 'match', id: 'x', contains: 'hello', actions: [{ action: 'block' }] },
      ],
    });
    const report = await runScenarios([{ name: 'c', plan, fixture: { request }, expect: {} }], {
      shadow: () => ({ plan: candidate, strict: true }),
    });
    expect(report.results[0]?.error).toMatch(/diverged on blocked/);
  });
});
