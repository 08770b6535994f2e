import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { planOf } from './engine.fixtures.ts';
import type { ReplyEvent } from './model-reply.ts';
import type { Plan } from './plan.ts';
import {
  type ResponseCommand,
  type ResponseEvent,
  type ResponseLoopConfig,
  type ResponseOutcome,
  runResponse,
  startResponse,
  stepResponse,
} from './response-loop.ts';

/**
 * The response core: vectors that spell out what it commands for a given sequence of events,
 * and properties over generated conversations between it and a driver.
 */

const SCHEMA = {
  schemas: [
    {
      id: 'answer_v1',
      schema: {
        type: 'object',
        required: ['answer'],
        additionalProperties: false,
        properties: { answer: { type: 'string' } },
      },
    },
  ],
  guard_loop: { max_attempts: 3 },
};

const STREAM_RULES = {
  stream_rules: [
    { id: 'mask', action: 'rewrite_window', regex: 'sk-[a-z]{4}', horizon_bytes: 8 },
    {
      id: 'old-api',
      action: 'retry_with_reminder',
      contains: 'OLD',
      reminder: 'Do not use OLD.',
      max_retries: 1,
      horizon_bytes: 8,
    },
    { id: 'no-drop', action: 'block', contains: 'DROP', horizon_bytes: 8 },
    { id: 'slow', action: 'annotate', contains: 'zzz', horizon_bytes: 8, max_hold_ms: 1000 },
  ],
};

const TOOL_CALLS = {
  rules: [
    { id: 'drop-clock', tool: { names: ['clock'] }, actions: [{ action: 'drop_call' }] },
    {
      id: 'weather-a',
      tool: { names: ['weather'] },
      arguments: [{ pointer: '/a', equals: 1 }],
      actions: [{ action: 'retry_with_reminder', reminder: 'No a.' }],
    },
    {
      id: 'no-braces',
      arguments: [{ pointer: '', schema: { type: 'object', maxProperties: 0 } }],
      actions: [{ action: 'block' }],
    },
  ],
};

const plans: Record<'plain' | 'stream' | 'guard' | 'both' | 'tools', Plan> = {} as never;
beforeAll(async () => {
  plans.tools = await planOf({ ...STREAM_RULES, tool_calls: TOOL_CALLS });
  plans.plain = await planOf();
  plans.stream = await planOf(STREAM_RULES);
  plans.guard = await planOf({ structured_output: SCHEMA });
  plans.both = await planOf({ ...STREAM_RULES, structured_output: SCHEMA });
});

function config(kind: keyof typeof plans, streaming: boolean): ResponseLoopConfig {
  const plan = plans[kind];
  return {
    streaming,
    stream: plan.stream,
    guard: plan.guard,
    routing: plan.routing,
    prompt_tokens: 10,
    constraints: { allow_fallback: true },
    tool_calls:
      plan.tool_calls === null
        ? null
        : { policy: plan.tool_calls, declared: new Map(), stateOf: () => null },
  };
}

const text = (t: string, now_ms = 0): ResponseEvent => ({
  type: 'reply',
  event: { type: 'text', text: t },
  now_ms,
});
const end = (now_ms = 0): ResponseEvent => ({ type: 'reply_end', now_ms });
const delivered = (now_ms = 0): ResponseEvent => ({ type: 'delivered', now_ms });

/** The commands of a run, flattened, without the outcome's detail. */
function shapes(commands: ResponseCommand[][]): string[] {
  return commands.flat().map((c) => {
    switch (c.type) {
      case 'call_provider':
        return `call#${c.attempt_index}:${c.model}${c.reminders.length > 0 ? '+reminder' : ''}${c.feedback !== null ? '+feedback' : ''}`;
      case 'release':
        return `release:${c.text}`;
      case 'abort_provider':
        return 'abort';
      case 'finish':
        return `finish:${c.outcome.status}`;
      case 'decide_calls':
        return `decide:${c.calls.map((call) => call.id).join(',')}`;
      default:
        throw new Error(`unknown command ${JSON.stringify(c satisfies never)}`);
    }
  });
}

function outcomeOf(commands: ResponseCommand[][]): ResponseOutcome {
  const found = commands.flat().find((c) => c.type === 'finish');
  if (found === undefined || found.type !== 'finish') throw new Error('no finish');
  return found.outcome;
}

describe('response core: vectors', () => {
  it('asks the driver to run tool-call scripts, waits, then decides with what they said', async () => {
    const plan = await planOf({
      scripts: { s: { language: 'javascript', source: 'function decide_tool_calls() {}' } },
      tool_calls: { script_rules: [{ id: 'by-script', script: 's' }] },
    });
    const c: ResponseLoopConfig = {
      ...config('plain', false),
      tool_calls: { policy: plan.tool_calls!, declared: new Map(), stateOf: () => null },
    };
    const call: ResponseEvent = {
      type: 'reply',
      event: { type: 'tool_call', index: 0, id: 'c1', name: 'shell.exec', arguments: '{}' },
      now_ms: 0,
    };
    const waiting = runResponse(c, 'small', 0, [call, end()]);
    expect(shapes(waiting.commands)).toEqual(['call#0:small', 'decide:c1']);
    expect(waiting.state.phase).toBe('deciding');
    // Nothing but the scripts' answer (or the client leaving) moves it on.
    expect(stepResponse(c, waiting.state, text('late')).commands).toEqual([]);
    const decided = stepResponse(c, waiting.state, {
      type: 'calls_decided',
      scripted: new Map([['c1', [{ rule_id: 'by-script', action: { action: 'drop_call' } }]]]),
      sandbox: [],
      now_ms: 1,
    });
    expect(shapes([decided.commands])).toEqual(['finish:completed']);
    const finished = decided.commands[0];
    expect(finished?.type === 'finish' && finished.outcome.answer).toMatchObject({
      tool_calls: [],
      refusal: 'The requested tool call was removed by policy (by-script).',
    });
    const gone = stepResponse(c, waiting.state, { type: 'client_gone', now_ms: 2 });
    expect(shapes([gone.commands])).toEqual(['finish:client_disconnected']);
  });

  it('a whole answer without rules: one call, then finish with its text', () => {
    const run = runResponse(config('plain', false), 'small', 0, [text('hel'), text('lo'), end(5)]);
    expect(shapes(run.commands)).toEqual(['call#0:small', 'finish:completed']);
    const outcome = outcomeOf(run.commands);
    expect(outcome.text).toBe('hello');
    expect(outcome.attempts).toMatchObject([{ index: 0, duration_ms: 5, output_bytes: 5 }]);
    expect(run.state.phase).toBe('done');
  });

  it('a stream without rules: each chunk is released, and waits for its delivery', () => {
    const run = runResponse(config('plain', true), 'small', 0, [
      text('a'),
      delivered(),
      text('b'),
      delivered(),
      end(),
    ]);
    expect(shapes(run.commands)).toEqual([
      'call#0:small',
      'release:a',
      'release:b',
      'finish:completed',
    ]);
    expect(outcomeOf(run.commands).text).toBe('ab');
  });

  it('a provider event while a release is in flight changes nothing', () => {
    const c = config('plain', true);
    const first = runResponse(c, 'small', 0, [text('a')]);
    expect(first.state.phase).toBe('delivering');
    expect(stepResponse(c, first.state, text('b'))).toEqual({ state: first.state, commands: [] });
  });

  it('a held stream: the fenced attempt is retried with feedback, the valid one released once', () => {
    const run = runResponse(config('guard', true), 'small', 0, [
      text('```json\n{"answer":'),
      text('"x"}\n```'),
      end(),
      text('{"answer":'),
      text('"x"}'),
      end(),
      delivered(),
    ]);
    expect(shapes(run.commands)).toEqual([
      'call#0:small',
      'call#1:small+feedback',
      'release:{"answer":"x"}',
      'finish:completed_after_guard',
    ]);
    expect(outcomeOf(run.commands).guard?.events.map((e) => e.rule_id)).toEqual([
      'structured-json',
    ]);
  });

  it('a stream rule asks for a retry before anything is released: the retry carries the reminder', () => {
    const run = runResponse(config('stream', true), 'small', 0, [
      text('use OLD api'),
      text('use NEW api'),
      delivered(),
      end(),
      delivered(),
    ]);
    expect(shapes(run.commands)).toEqual([
      'call#0:small',
      'abort',
      'call#1:small+reminder',
      'release:use', // the horizon holds the last 8 bytes back
      'release: NEW api',
      'finish:completed',
    ]);
    const outcome = outcomeOf(run.commands);
    expect(outcome.text).toBe('use NEW api');
    expect(outcome.attempts.map((a) => a.status)).toEqual(['stream_halted', 'completed']);
  });

  it('a block mid-stream aborts the call and fails closed; what was released stays released', () => {
    const run = runResponse(config('stream', true), 'small', 0, [
      text('first part, '),
      delivered(),
      text('then DROP'),
    ]);
    expect(shapes(run.commands)).toEqual([
      'call#0:small',
      'release:firs',
      'abort',
      'finish:stream_policy_blocked',
    ]);
    expect(outcomeOf(run.commands).text).toBe('firs');
  });

  it('a client gone during a release: abort, finish, and only what was delivered counts', () => {
    const run = runResponse(config('plain', true), 'small', 0, [
      text('a'),
      delivered(),
      text('b'),
      { type: 'client_gone', now_ms: 7 },
    ]);
    expect(shapes(run.commands)).toEqual([
      'call#0:small',
      'release:a',
      'release:b',
      'abort',
      'finish:client_disconnected',
    ]);
    const outcome = outcomeOf(run.commands);
    expect(outcome.text).toBe('a');
    expect(outcome.attempts).toMatchObject([{ status: 'client_disconnected', duration_ms: 7 }]);
  });

  it('a turn of tool calls completes without the guard and hands the calls back', () => {
    const calls: ReplyEvent[] = [
      { type: 'tool_call', index: 0, id: 'c0', name: 'weather', arguments: '{"ci' },
      { type: 'tool_call', index: 1, id: 'c1', name: 'clock', arguments: '{}' },
      { type: 'tool_call', index: 0, arguments: 'ty":"Oslo"}' },
      { type: 'finish', reason: 'tool_calls' },
      { type: 'usage', usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } },
    ];
    const run = runResponse(config('guard', true), 'small', 0, [
      ...calls.map((event) => ({ type: 'reply' as const, event, now_ms: 0 })),
      end(),
    ]);
    expect(shapes(run.commands)).toEqual(['call#0:small', 'finish:completed']);
    expect(outcomeOf(run.commands).answer).toEqual({
      tool_calls: [
        { id: 'c0', name: 'weather', arguments: '{"city":"Oslo"}' },
        { id: 'c1', name: 'clock', arguments: '{}' },
      ],
      refusal: null,
      finish_reason: 'tool_calls',
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
    });
  });

  it('a provider failure ends the request with its status, without an answer', () => {
    const run = runResponse(config('plain', false), 'small', 0, [
      { type: 'reply_failed', status: 'rate_limited', message: 'slow down\nmore', now_ms: 3 },
    ]);
    const outcome = outcomeOf(run.commands);
    expect(outcome).toMatchObject({
      status: 'provider_error',
      text: null,
      answer: null,
      message: 'the provider failed (rate_limited): slow down',
    });
    expect(outcome.attempts[0]?.error).toEqual({ status: 'rate_limited', message: 'slow down' });
  });

  it('a tick past max_hold_ms while text is held fails closed', () => {
    const run = runResponse(config('stream', true), 'small', 0, [
      text('zz', 0),
      { type: 'tick', now_ms: 500 },
      { type: 'tick', now_ms: 1500 },
    ]);
    expect(shapes(run.commands)).toEqual([
      'call#0:small',
      'abort',
      'finish:stream_policy_latency_exceeded',
    ]);
  });

  it('the guard exhausted on a held stream fails closed without releasing anything', () => {
    const events = [text('no'), end(), text('nope'), end(), text('never'), end()];
    const run = runResponse(config('guard', true), 'small', 0, events);
    const all = shapes(run.commands);
    expect(all.filter((s) => s.startsWith('release'))).toEqual([]);
    expect(all.at(-1)).toBe('finish:exhausted_guard_budget');
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over conversations: a driver that answers the core's commands from a script.
// ---------------------------------------------------------------------------------------------

type Piece =
  | { kind: 'text'; text: string }
  | { kind: 'call'; index: number; name?: string | undefined; arguments: string }
  | { kind: 'tick' };

interface Script {
  plan: keyof typeof plans;
  streaming: boolean;
  /** One list of pieces per attempt, then how it ends. */
  attempts: { pieces: Piece[]; ends: 'end' | 'fail' }[];
  /** After this many events the client goes away (never when larger than the run). */
  goneAfter: number;
}

const WORDS = ['OLD', 'DROP', 'sk-abcd', '{"answer":"x"}', '```', 'zzz', 'ok ', 'é', '😀', ' '];
const piece: fc.Arbitrary<Piece> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(...WORDS).map((t) => ({ kind: 'text' as const, text: t })),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('call' as const),
      index: fc.integer({ min: 0, max: 1 }),
      name: fc.option(fc.constantFrom('weather', 'clock'), { nil: undefined }),
      arguments: fc.constantFrom('{', '}', '"a":1'),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'tick' as const }) },
);
const script: fc.Arbitrary<Script> = fc.record({
  plan: fc.constantFrom('plain', 'stream', 'guard', 'both', 'tools'),
  streaming: fc.boolean(),
  attempts: fc.array(
    fc.record({
      pieces: fc.array(piece, { maxLength: 6 }),
      ends: fc.constantFrom('end', 'end', 'end', 'fail'),
    }),
    { minLength: 1, maxLength: 6 },
  ),
  goneAfter: fc.integer({ min: 0, max: 40 }),
});

/** Plays the driver: answers each command from the script, records every event it sends. */
function converse(s: Script) {
  const c = config(s.plan, s.streaming);
  let step = startResponse(c, 'small', 0);
  const events: ResponseEvent[] = [];
  const commands: ResponseCommand[][] = [step.commands];
  let now = 0;
  let queue: ResponseEvent[] = [];
  let attempt = -1;
  const send = (event: ResponseEvent) => {
    events.push(event);
    step = stepResponse(c, step.state, event);
    commands.push(step.commands);
  };
  for (let guard = 0; guard < 200; guard++) {
    let reply: ResponseEvent | null = null;
    let finished = false;
    for (const command of step.commands) {
      if (command.type === 'finish') finished = true;
      if (command.type === 'call_provider') {
        attempt++;
        const planned = s.attempts[Math.min(attempt, s.attempts.length - 1)]!;
        queue = planned.pieces.map((p): ResponseEvent => {
          now += 10;
          if (p.kind === 'tick') return { type: 'tick', now_ms: now + 2000 };
          if (p.kind === 'text')
            return { type: 'reply', event: { type: 'text', text: p.text }, now_ms: now };
          return {
            type: 'reply',
            event: {
              type: 'tool_call',
              index: p.index,
              // Upstreams give every call an id (the gateway fills in a missing one).
              id: `call_${attempt}_${p.index}`,
              ...(p.name === undefined ? {} : { name: p.name }),
              arguments: p.arguments,
            },
            now_ms: now,
          };
        });
        queue.push(
          planned.ends === 'end'
            ? { type: 'reply_end', now_ms: now + 1 }
            : { type: 'reply_failed', status: 'stream_error', now_ms: now + 1 },
        );
      } else if (command.type === 'abort_provider') {
        queue = [];
      } else if (command.type === 'release') {
        reply = { type: 'delivered', now_ms: now };
      }
    }
    if (finished) break;
    if (events.length >= s.goneAfter) reply = { type: 'client_gone', now_ms: now };
    const next = reply ?? queue.shift();
    if (next === undefined) throw new Error('the core waits for nothing');
    send(next);
  }
  return { config: c, events, commands };
}

describe('response core: properties', () => {
  it('every conversation finishes exactly once, and nothing follows the finish', () => {
    fc.assert(
      fc.property(script, (s) => {
        const { commands } = converse(s);
        const flat = commands.flat();
        const finishes = flat.filter((c) => c.type === 'finish');
        expect(finishes).toHaveLength(1);
        expect(flat.at(-1)?.type).toBe('finish');
      }),
    );
  });

  it('the same events give the same commands', () => {
    fc.assert(
      fc.property(script, (s) => {
        const { config: c, events, commands } = converse(s);
        const replay = runResponse(c, 'small', 0, events);
        expect(replay.commands).toEqual(commands);
      }),
    );
  });

  it('what was delivered is a prefix of the final text; all of it when the answer succeeds', () => {
    fc.assert(
      fc.property(script, (s) => {
        const { events, commands } = converse(s);
        // A release counts once the driver answered it with `delivered`.
        // The event after a step (events[i] follows commands[i]) answers its release.
        let sent = '';
        commands.forEach((step, i) => {
          for (const c of step) {
            if (c.type === 'release' && events[i]?.type === 'delivered') sent += c.text;
          }
        });
        const outcome = outcomeOf(commands);
        if (outcome.text !== null) expect(outcome.text.startsWith(sent)).toBe(true);
        else expect(sent).toBe('');
        if (s.streaming && outcome.text !== null && outcome.status !== 'client_disconnected') {
          expect(sent).toBe(outcome.text);
        }
        if (!s.streaming) expect(sent).toBe('');
        if (outcome.stream !== null) {
          expect(outcome.stream.released_bytes).toBe(Buffer.byteLength(sent));
        }
      }),
    );
  });

  it('a held stream releases at most once, and only an answer the guard let through', () => {
    fc.assert(
      fc.property(script, (s) => {
        fc.pre(s.streaming && (s.plan === 'guard' || s.plan === 'both'));
        const { commands } = converse(s);
        const releases = commands.flat().filter((c) => c.type === 'release');
        expect(releases.length).toBeLessThanOrEqual(1);
        const outcome = outcomeOf(commands);
        if (releases.length === 1) {
          expect(['completed', 'completed_after_guard', 'client_disconnected']).toContain(
            outcome.status,
          );
        }
      }),
    );
  });

  it('tool calls leave whole or not at all: a dropped call is never handed out, a blocked answer hands out none', () => {
    fc.assert(
      fc.property(script, (raw) => {
        const s = { ...raw, plan: 'tools' as const };
        const { commands } = converse(s);
        const outcome = outcomeOf(commands);
        const policy = outcome.tool_policy;
        expect(policy).not.toBeNull();
        const handed = (outcome.answer?.tool_calls ?? []).map((c) => c.id);
        for (const id of policy?.dropped ?? []) expect(handed).not.toContain(id);
        if (outcome.status.startsWith('tool_call_')) expect(outcome.answer).toBeNull();
        // A call handed out was not dropped by any decision.
        for (const call of outcome.answer?.tool_calls ?? []) {
          expect(
            policy?.decisions.some((d) => d.call_id === call.id && d.action === 'drop_call'),
          ).toBe(false);
        }
      }),
    );
  });

  it('events after the finish change nothing', () => {
    fc.assert(
      fc.property(
        script,
        fc.constantFrom<ResponseEvent>(
          text('late'),
          end(),
          delivered(),
          { type: 'client_gone', now_ms: 0 },
          { type: 'tick', now_ms: 9e9 },
        ),
        (s, late) => {
          const { config: c, events } = converse(s);
          const done = runResponse(c, 'small', 0, events).state;
          expect(stepResponse(c, done, late)).toEqual({ state: done, commands: [] });
        },
      ),
    );
  });
});
