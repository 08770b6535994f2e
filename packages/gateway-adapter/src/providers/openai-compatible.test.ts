import {
  MessageAssembler,
  type ModelReply,
  type ProviderCall,
  type ReplyEvent,
} from '@wardwright/core';
import { afterEach, describe, expect, it } from 'vitest';
import { openAICompatible, redactToken, retryDelay } from './openai-compatible.ts';
import { type ScriptedUpstream, startScriptedUpstream, type UpstreamReply } from './scripted.ts';

const KEY = 'sk-very-secret-key-42';
let upstream: ScriptedUpstream | undefined;

afterEach(async () => {
  await upstream?.close();
  upstream = undefined;
});

function call(stream: boolean, signal = new AbortController().signal): ProviderCall {
  return {
    model: 'm',
    messages: [{ role: 'user', content: 'hi' }],
    stream,
    attempt_index: 0,
    request: {
      model: 'governed',
      messages: [{ role: 'user', content: 'hi' }],
      stream_options: {},
    } as ProviderCall['request'],
    signal,
  };
}

async function events(reply: ModelReply): Promise<ReplyEvent[]> {
  if (reply.kind !== 'stream') throw new Error(`expected a stream, got ${JSON.stringify(reply)}`);
  const out: ReplyEvent[] = [];
  for await (const event of reply.events) out.push(event);
  return out;
}

/** The text of a stream, chunk by chunk. */
async function collect(reply: ModelReply): Promise<string[]> {
  return (await events(reply)).flatMap((e) => (e.type === 'text' ? [e.text] : []));
}

const message = (text: string, usage?: unknown) => ({
  kind: 'message',
  parts: text === '' ? [] : [{ type: 'text', text }],
  finish_reason: 'stop',
  ...(usage === undefined ? {} : { usage }),
});

/** The usage the scripted upstream reports for one answer to `call()`'s message. */
function usageOf(_u: ScriptedUpstream, text: string) {
  const prompt_tokens = Math.ceil(JSON.stringify(call(false).messages).length / 4);
  const completion_tokens = Math.ceil(Buffer.byteLength(text) / 4);
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

async function up(replies: readonly UpstreamReply[]) {
  upstream = await startScriptedUpstream({ replies });
  return upstream;
}

describe('openAICompatible', () => {
  it('sends the routed model and messages, drops stream_options from whole-answer calls', async () => {
    const u = await up([{ kind: 'text', text: 'whole' }]);
    const provider = openAICompatible({ baseURL: `${u.url}/`, headers: { 'x-team': 'a' } });
    expect(await provider.call(call(false))).toEqual(message('whole', usageOf(u, 'whole')));
    expect(u.requests[0]?.body).toEqual({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      stream: false,
    });
    expect(u.requests[0]?.headers['x-team']).toBe('a');
    expect(u.requests[0]?.headers.authorization).toBeUndefined();
  });

  it('parses an SSE stream into content chunks', async () => {
    const u = await up([{ kind: 'stream', chunks: ['a', '', 'b'] }]);
    const provider = openAICompatible({ baseURL: u.url, apiKey: KEY });
    expect(await collect(await provider.call(call(true)))).toEqual(['a', 'b']);
    // A stream asks for the usage (a client's own stream_options are kept beside it).
    expect(u.requests[0]?.body.stream_options).toEqual({ include_usage: true });
  });

  it('never puts the api key in an error message, even when the upstream echoes it', async () => {
    const u = await up([{ kind: 'status', status: 401, message: `bad key ${KEY}` }]);
    const reply = await openAICompatible({ baseURL: u.url, apiKey: KEY }).call(call(false));
    expect(reply.kind).toBe('error');
    expect(JSON.stringify(reply)).not.toContain(KEY);
    expect(JSON.stringify(reply)).toContain('[redacted]');
    expect(reply).toMatchObject({ status: 'upstream_401' });
  });

  it('scrubs the key only where it stands as a whole token, and refuses a key too short to be real', async () => {
    const key = 'sk-abc12345';
    const u = await up([
      {
        kind: 'status',
        status: 401,
        message: `bad key ${key}; "${key}" (${key}x is not it, nor x${key}) exploded`,
      },
    ]);
    const reply = await openAICompatible({ baseURL: u.url, apiKey: key }).call(call(false));
    expect(reply).toMatchObject({
      kind: 'error',
      status: 'upstream_401',
      message: `the upstream answered 401: bad key [redacted]; "[redacted]" (${key}x is not it, nor x${key}) exploded`,
    });
    expect(redactToken('exploded', 'x')).toBe('exploded');
    expect(redactToken('x x-x', 'x')).toBe('[redacted] x-x');
    expect(() => openAICompatible({ baseURL: u.url, apiKey: 'x' })).toThrow(
      'openAICompatible: apiKey must be a string of at least 8 characters, not 1 (is it the real key?); leave it out for an upstream that needs none',
    );
  });

  it('does not retry a 4xx other than 429', async () => {
    const u = await up([{ kind: 'status', status: 400 }]);
    await openAICompatible({ baseURL: u.url, maxRetries: 3 }).call(call(false));
    expect(u.requests).toHaveLength(1);
  });

  it('reports an unreachable upstream', async () => {
    const u = await up([{ kind: 'text', text: '' }]);
    const url = u.url;
    await u.close();
    upstream = undefined;
    const reply = await openAICompatible({ baseURL: url }).call(call(false));
    expect(reply).toMatchObject({ kind: 'error', status: 'upstream_unreachable' });
  });

  it('reports an answer without choices as malformed', async () => {
    const fake = (async () =>
      new Response('{"nothing":1}', { status: 200 })) as unknown as typeof fetch;
    const reply = await openAICompatible({ baseURL: 'http://x', fetch: fake }).call(call(false));
    expect(reply).toMatchObject({ kind: 'error', status: 'upstream_malformed' });
    const notJson = (async () =>
      new Response('<html>', { status: 200 })) as unknown as typeof fetch;
    expect(
      await openAICompatible({ baseURL: 'http://x', fetch: notJson }).call(call(false)),
    ).toMatchObject({ kind: 'error', status: 'upstream_malformed' });
  });

  it('treats an upstream error event and a stream cut before [DONE] as stream errors', async () => {
    const errorEvent = (async () =>
      new Response('data: {"error":{"message":"overloaded"}}\n\n', {
        status: 200,
      })) as unknown as typeof fetch;
    const reply = await openAICompatible({ baseURL: 'http://x', fetch: errorEvent }).call(
      call(true),
    );
    await expect(collect(reply)).rejects.toThrow(/error event: overloaded/);
    const cut = (async () =>
      new Response('data: {"choices":[{"delta":{"content":"a"}}]}\n\n', {
        status: 200,
      })) as unknown as typeof fetch;
    await expect(
      collect(await openAICompatible({ baseURL: 'http://x', fetch: cut }).call(call(true))),
    ).rejects.toThrow(/ended before \[DONE\]/);
    const finished = (async () =>
      new Response('data: {"choices":[{"delta":{"content":"a"},"finish_reason":"stop"}]}', {
        status: 200,
      })) as unknown as typeof fetch;
    expect(
      await collect(
        await openAICompatible({ baseURL: 'http://x', fetch: finished }).call(call(true)),
      ),
    ).toEqual(['a']);
  });

  it('does not call the upstream once the call is aborted, and stops waiting to retry', async () => {
    const u = await up([{ kind: 'status', status: 429, retryAfter: 30 }]);
    const controller = new AbortController();
    controller.abort('gone');
    expect(
      await openAICompatible({ baseURL: u.url }).call(call(false, controller.signal)),
    ).toMatchObject({ status: 'aborted' });
    expect(u.requests).toHaveLength(0);
    const later = new AbortController();
    const pending = openAICompatible({ baseURL: u.url, maxRetryDelayMs: 60_000 }).call(
      call(false, later.signal),
    );
    await expect.poll(() => u.requests.length).toBe(1);
    later.abort('gone');
    expect(await pending).toMatchObject({ kind: 'error', status: 'aborted' });
  });

  describe('tool calls, refusals and usage (contract v2)', () => {
    const calls = [
      { id: 'call_1', name: 'weather', arguments: '{"city":"Oslo"}' },
      { id: 'call_2', name: 'clock', arguments: '{"tz":"Europe/Oslo"}' },
    ];
    const usage = { prompt_tokens: 40, completion_tokens: 12, total_tokens: 52 };
    const withTools = (stream: boolean): ProviderCall => {
      const base = call(stream);
      return {
        ...base,
        request: {
          ...base.request,
          tools: [{ type: 'function', function: { name: 'weather' } }],
          tool_choice: 'auto',
        } as ProviderCall['request'],
      };
    };

    it('reads parallel tool calls and usage from a whole answer, and passes tools through', async () => {
      const u = await up([{ kind: 'text', text: '', tool_calls: calls, usage }]);
      const reply = await openAICompatible({ baseURL: u.url }).call(withTools(false));
      expect(reply).toEqual({
        kind: 'message',
        parts: calls.map((c) => ({ type: 'tool_call', ...c })),
        finish_reason: 'tool_calls',
        usage,
      });
      expect(u.requests[0]?.body).toMatchObject({
        tools: [{ type: 'function', function: { name: 'weather' } }],
        tool_choice: 'auto',
      });
    });

    it('streams tool calls as fragments that assemble to the calls, then usage', async () => {
      const u = await up([{ kind: 'stream', chunks: ['Checking.'], tool_calls: calls, usage }]);
      const seen = await events(await openAICompatible({ baseURL: u.url }).call(withTools(true)));
      const assembler = new MessageAssembler();
      for (const event of seen) assembler.add(event);
      expect(assembler.parts).toEqual([
        { type: 'text', text: 'Checking.' },
        ...calls.map((c) => ({ type: 'tool_call', ...c })),
      ]);
      expect(assembler.finish_reason).toBe('tool_calls');
      expect(assembler.usage).toEqual(usage);
      expect(seen.filter((e) => e.type === 'tool_call').length).toBeGreaterThan(calls.length);
    });

    it('takes interleaved fragments, fills in a missing id, and reads refusal and reasoning', async () => {
      const frames = [
        { choices: [{ delta: { reasoning_content: 'think' } }] },
        {
          choices: [
            { delta: { tool_calls: [{ index: 0, function: { name: 'a', arguments: '{"x"' } }] } },
          ],
        },
        {
          choices: [
            {
              delta: {
                tool_calls: [{ index: 1, id: 'b1', function: { name: 'b', arguments: '{' } }],
              },
            },
          ],
        },
        { choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: ':1}' } }] } }] },
        { choices: [{ delta: { tool_calls: [{ index: 1, function: { arguments: '}' } }] } }] },
        { choices: [{ delta: { refusal: 'no more' }, finish_reason: 'tool_calls' }] },
      ];
      const body = `${frames.map((f) => `data: ${JSON.stringify(f)}\n\n`).join('')}data: [DONE]\n\n`;
      const fake = (async () => new Response(body, { status: 200 })) as unknown as typeof fetch;
      const assembler = new MessageAssembler();
      for (const event of await events(
        await openAICompatible({ baseURL: 'http://x', fetch: fake }).call(call(true)),
      )) {
        assembler.add(event);
      }
      expect(assembler.parts).toEqual([
        { type: 'reasoning', text: 'think' },
        { type: 'tool_call', id: 'call_0', name: 'a', arguments: '{"x":1}' },
        { type: 'tool_call', id: 'b1', name: 'b', arguments: '{}' },
        { type: 'refusal', text: 'no more' },
      ]);
      expect(assembler.usage).toBeNull();
    });

    it('reports a tool call without a name as malformed, whole or streamed, naming the field', async () => {
      const whole = (async () =>
        new Response(
          JSON.stringify({
            choices: [{ message: { content: null, tool_calls: [{ id: 'c', function: {} }] } }],
          }),
          { status: 200 },
        )) as unknown as typeof fetch;
      const reply = await openAICompatible({ baseURL: 'http://x', fetch: whole }).call(call(false));
      expect(reply).toMatchObject({ kind: 'error', status: 'upstream_malformed' });
      expect((reply as { message: string }).message).toContain(
        'choices[0].message.tool_calls[0].function.name',
      );
      const streamed = (async () =>
        new Response(
          'data: {"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c","function":{"arguments":"{}"}}]},"finish_reason":"tool_calls"}]}\n\ndata: [DONE]\n\n',
          { status: 200 },
        )) as unknown as typeof fetch;
      await expect(
        events(await openAICompatible({ baseURL: 'http://x', fetch: streamed }).call(call(true))),
      ).rejects.toThrow(/tool call 0 has no name/);
    });

    it('does not ask for stream usage when told not to', async () => {
      const u = await up([{ kind: 'stream', chunks: ['a'] }]);
      const seen = await events(
        await openAICompatible({ baseURL: u.url, streamUsage: false }).call(call(true)),
      );
      expect(u.requests[0]?.body.stream_options).toEqual({});
      expect(seen.some((e) => e.type === 'usage')).toBe(false);
      expect(() =>
        openAICompatible({ baseURL: u.url, streamUsage: 'yes' as unknown as boolean }),
      ).toThrow(/streamUsage must be a boolean/);
    });
  });

  describe('the built-in node:http client', () => {
    it('reuses one kept-alive connection across calls', async () => {
      const u = await up([{ kind: 'text', text: 'one' }]);
      const provider = openAICompatible({ baseURL: u.url });
      expect(await provider.call(call(false))).toEqual(message('one', usageOf(u, 'one')));
      expect(await provider.call(call(false))).toEqual(message('one', usageOf(u, 'one')));
      expect(u.requests[0]?.headers.connection).toBe('keep-alive');
      expect(u.requests[0]?.headers['content-length']).toBe(
        String(Buffer.byteLength(JSON.stringify(u.requests[0]?.body))),
      );
    });

    it('times out an upstream that never answers', async () => {
      await up([{ kind: 'hang' }]);
      const reply = await openAICompatible({ baseURL: upstream!.url, timeoutMs: 50 }).call(
        call(false),
      );
      expect(reply).toMatchObject({ kind: 'error', status: 'upstream_timeout' });
      await upstream!.requests[0]?.closed;
    });

    it('times out a stream that goes silent, and closes the upstream socket', async () => {
      const u = await up([{ kind: 'stall', chunks: ['first'] }]);
      const reply = await openAICompatible({ baseURL: u.url, timeoutMs: 50 }).call(call(true));
      if (reply.kind !== 'stream') throw new Error('expected a stream');
      const seen: string[] = [];
      await expect(
        (async () => {
          for await (const event of reply.events) if (event.type === 'text') seen.push(event.text);
        })(),
      ).rejects.toThrow(/sent nothing for 50 ms/);
      expect(seen).toEqual(['first']);
      await u.requests[0]?.closed;
      expect(u.requests[0]?.completed()).toBe(false);
    });

    it('an abort mid-stream closes the upstream socket', async () => {
      const u = await up([{ kind: 'stall', chunks: ['first'] }]);
      const controller = new AbortController();
      const reply = await openAICompatible({ baseURL: u.url }).call(call(true, controller.signal));
      if (reply.kind !== 'stream') throw new Error('expected a stream');
      const chunks = reply.events[Symbol.asyncIterator]();
      expect(await chunks.next()).toEqual({ done: false, value: { type: 'text', text: 'first' } });
      const next = chunks.next();
      controller.abort('gone');
      // The engine gets control back once (to record the departure), then an error.
      expect(await next).toEqual({ done: false, value: { type: 'text', text: '' } });
      await expect(chunks.next()).rejects.toThrow(/aborted: gone/);
      await u.requests[0]?.closed;
      expect(u.requests[0]?.completed()).toBe(false);
    });

    it('an abort while waiting for headers ends the call as aborted', async () => {
      const u = await up([{ kind: 'hang' }]);
      const controller = new AbortController();
      const pending = openAICompatible({ baseURL: u.url }).call(call(false, controller.signal));
      await expect.poll(() => u.requests.length).toBe(1);
      controller.abort('gone');
      expect(await pending).toMatchObject({ kind: 'error', status: 'aborted' });
      await u.requests[0]?.closed;
    });

    it('retries a 429 after its Retry-After, then reports the last status', async () => {
      const u = await up([
        { kind: 'status', status: 429, retryAfter: 0 },
        { kind: 'text', text: 'after' },
      ]);
      // The reply lists the try it retried, so the receipt shows every upstream attempt.
      expect(await openAICompatible({ baseURL: u.url }).call(call(false))).toEqual({
        ...message('after', usageOf(u, 'after')),
        upstream_retries: [{ status: 'upstream_429', delay_ms: 0 }],
      });
      expect(u.requests).toHaveLength(2);
      await u.close();
      const v = await up([{ kind: 'status', status: 503, retryAfter: 0, message: 'busy' }]);
      const reply = await openAICompatible({ baseURL: v.url, maxRetries: 1 }).call(call(false));
      expect(reply).toMatchObject({
        kind: 'error',
        status: 'upstream_503',
        retry_after_ms: 0,
        upstream_retries: [{ status: 'upstream_503', delay_ms: 0 }],
      });
      expect((reply as { message: string }).message).toContain('after 1 retry: busy');
    });

    it('reports a malformed frame and a disconnect mid-stream as stream errors', async () => {
      const u = await up([
        { kind: 'malformed', chunks: ['a'] },
        { kind: 'disconnect', chunks: ['b'] },
      ]);
      const provider = openAICompatible({ baseURL: u.url });
      await expect(collect(await provider.call(call(true)))).rejects.toThrow(/malformed SSE frame/);
      await expect(collect(await provider.call(call(true)))).rejects.toThrow();
    });
  });

  it('validates its options', () => {
    expect(() => openAICompatible({ baseURL: 'ftp://x' })).toThrow(/http/);
    expect(() => openAICompatible({ baseURL: 'http://x', timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => openAICompatible({ baseURL: 'http://x', maxRetries: -1 })).toThrow(/maxRetries/);
    expect(() =>
      openAICompatible({ baseURL: 'http://x', retries: 1 } as unknown as { baseURL: string }),
    ).toThrow(/unknown option `retries`/);
  });
});

describe('retryDelay', () => {
  const h = (init: Record<string, string>) => new Headers(init);
  it('prefers retry-after-ms, then Retry-After seconds or date, then backoff', () => {
    expect(retryDelay(h({ 'retry-after-ms': '250', 'retry-after': '9' }), 0)).toBe(250);
    expect(retryDelay(h({ 'retry-after': '2' }), 0)).toBe(2000);
    expect(retryDelay(h({ 'retry-after': new Date(10_000).toUTCString() }), 0, 7_000)).toBe(3000);
    expect(retryDelay(h({ 'retry-after': 'soon' }), 2)).toBe(800);
    expect(retryDelay(h({}), 0)).toBe(200);
  });
});
