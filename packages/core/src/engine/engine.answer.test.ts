import { describe, expect, it } from 'vitest';
import { schemaIssues } from '../schema/validator.ts';
import { sha256 } from '../util/hash.ts';
import { planOf, userRequest } from './engine.fixtures.ts';
import { createEngine } from './engine.ts';
import type { ModelReply, ReplyEvent } from './model-reply.ts';
import type { ModelProvider, Provider } from './provider.ts';
import { ReceiptSchema } from './receipt.ts';

/** A v2 provider that answers each attempt from a list. */
function v2(...replies: ModelReply[]): ModelProvider {
  return {
    specificationVersion: 'v2',
    async call(call) {
      return replies[call.attempt_index] ?? { kind: 'error', status: 'no_more_replies' };
    },
  };
}

function stream(events: ReplyEvent[]): ModelReply {
  return {
    kind: 'stream',
    events: (async function* () {
      for (const event of events) yield event;
    })(),
  };
}

const usage = { prompt_tokens: 120, completion_tokens: 31, total_tokens: 151 };
const weather = { id: 'call_a', name: 'weather', arguments: '{"city":"Oslo"}' };
const time = { id: 'call_b', name: 'time', arguments: '{"tz":"Europe/Oslo"}' };

describe('engine: the whole answer (provider contract v2)', () => {
  it('hands back parallel tool calls with the upstream usage, and records them by digest', async () => {
    const plan = await planOf();
    const provider = v2({
      kind: 'message',
      parts: [
        { type: 'text', text: 'Checking.' },
        { type: 'tool_call', ...weather },
        { type: 'tool_call', ...time },
      ],
      finish_reason: 'tool_calls',
      usage,
    });
    const result = await createEngine({ plan, provider }).handle(userRequest('weather?'));
    expect(result.status).toBe('completed');
    expect(result.text).toBe('Checking.');
    expect(result.answer).toEqual({
      tool_calls: [weather, time],
      refusal: null,
      finish_reason: 'tool_calls',
      usage: { ...usage, estimated: false },
    });
    expect(schemaIssues(ReceiptSchema, result.receipt)).toEqual([]);
    expect(result.receipt.response).toEqual({
      finish_reason: 'tool_calls',
      tool_calls: [
        {
          id: 'call_a',
          name: 'weather',
          arguments_bytes: weather.arguments.length,
          arguments_digest: sha256(weather.arguments),
        },
        {
          id: 'call_b',
          name: 'time',
          arguments_bytes: time.arguments.length,
          arguments_digest: sha256(time.arguments),
        },
      ],
      refusal: false,
      usage: { ...usage, estimated: false },
    });
    // Arguments may be private: the receipt holds their size and digest, never the text.
    expect(JSON.stringify(result.receipt)).not.toContain('Oslo');
  });

  it('assembles a streamed answer whose calls arrive in interleaved fragments', async () => {
    const plan = await planOf();
    const provider = v2(
      stream([
        { type: 'tool_call', index: 0, id: 'call_a', name: 'weather', arguments: '' },
        { type: 'tool_call', index: 1, id: 'call_b', name: 'time', arguments: '{"tz":' },
        { type: 'tool_call', index: 0, arguments: '{"city":' },
        { type: 'tool_call', index: 0, arguments: '"Oslo"}' },
        { type: 'tool_call', index: 1, arguments: '"Europe/Oslo"}' },
        { type: 'finish', reason: 'tool_calls' },
        { type: 'usage', usage },
      ]),
    );
    const released: string[] = [];
    const result = await createEngine({ plan, provider }).handle(
      userRequest('weather?', { stream: true }),
      {
        onRelease: (text) => {
          released.push(text);
        },
      },
    );
    expect(result.status).toBe('completed');
    expect(result.text).toBe('');
    expect(released).toEqual([]);
    expect(result.answer?.tool_calls).toEqual([weather, time]);
    expect(result.answer?.usage).toEqual({ ...usage, estimated: false });
    expect(result.receipt.response?.finish_reason).toBe('tool_calls');
  });

  it('estimates usage only when the upstream reports none, and says so', async () => {
    const plan = await planOf();
    const text: Provider = async () => ({ kind: 'text', text: 'twelve bytes' });
    const result = await createEngine({ plan, provider: text }).handle(userRequest('hi'));
    const prompt = result.receipt.request.estimated_prompt_tokens;
    expect(result.answer).toEqual({
      tool_calls: [],
      refusal: null,
      finish_reason: 'stop',
      usage: {
        prompt_tokens: prompt,
        completion_tokens: 3,
        total_tokens: prompt + 3,
        estimated: true,
      },
    });
    // Tool-call arguments are completion tokens too.
    const calls = v2({
      kind: 'message',
      parts: [{ type: 'tool_call', ...weather }],
      finish_reason: 'tool_calls',
    });
    const called = await createEngine({ plan, provider: calls }).handle(userRequest('hi'));
    expect(called.answer?.usage.completion_tokens).toBe(Math.ceil(weather.arguments.length / 4));
  });

  it('passes a refusal and the finish reason the upstream gave', async () => {
    const plan = await planOf();
    const provider = v2({
      kind: 'message',
      parts: [{ type: 'refusal', text: 'I cannot help with that.' }],
      finish_reason: 'content_filter',
    });
    const result = await createEngine({ plan, provider }).handle(userRequest('hi'));
    expect(result.answer).toMatchObject({
      refusal: 'I cannot help with that.',
      finish_reason: 'content_filter',
    });
    expect(result.receipt.response).toMatchObject({
      refusal: true,
      finish_reason: 'content_filter',
    });
  });

  it('has no answer when the request fails', async () => {
    const plan = await planOf({
      request_rules: [
        { kind: 'match', id: 'deny', contains: 'no', actions: [{ action: 'block' }] },
      ],
    });
    const provider = v2({
      kind: 'message',
      parts: [{ type: 'tool_call', ...weather }],
      finish_reason: 'tool_calls',
    });
    const blocked = await createEngine({ plan, provider }).handle(userRequest('no'));
    expect(blocked.answer).toBeNull();
    expect(blocked.receipt.response).toBeNull();
    const failed = await createEngine({ plan, provider: v2() }).handle(userRequest('yes'));
    expect(failed.status).toBe('provider_error');
    expect(failed.answer).toBeNull();
  });

  it('lets a turn of tool calls through a structured-output guard: the calls are not the answer yet', async () => {
    const plan = await planOf({
      structured_output: {
        schemas: [{ id: 'answer', schema: { type: 'object', required: ['answer'] } }],
        guard_loop: { max_attempts: 2 },
      },
    });
    const provider = v2({
      kind: 'message',
      parts: [{ type: 'tool_call', ...weather }],
      finish_reason: 'tool_calls',
    });
    const result = await createEngine({ plan, provider }).handle(userRequest('weather?'));
    expect(result.status).toBe('completed');
    expect(result.receipt.attempts).toHaveLength(1);
    expect(result.answer?.tool_calls).toEqual([weather]);
  });
});
