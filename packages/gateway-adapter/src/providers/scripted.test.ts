import type { ModelReply, ProviderCall } from '@wardwright/core';
import { describe, expect, it } from 'vitest';
import { scriptedProvider } from './scripted.ts';

const call = (attempt_index: number, stream: boolean): ProviderCall => ({
  model: 'm',
  messages: [{ role: 'user', content: 'hi' }],
  stream,
  attempt_index,
  request: { messages: [{ role: 'user', content: 'hi' }] },
  signal: new AbortController().signal,
});

/** A reply as a string: a whole answer's text, `[chunk]` per streamed text event, `<name>` per call. */
async function text(reply: ModelReply): Promise<string> {
  if (reply.kind === 'error') return `error:${reply.status}`;
  if (reply.kind === 'message') {
    return reply.parts
      .map((p) => (p.type === 'text' ? p.text : p.type === 'tool_call' ? `<${p.name}>` : ''))
      .join('');
  }
  let out = '';
  for await (const event of reply.events) {
    if (event.type === 'text') out += `[${event.text}]`;
    if (event.type === 'tool_call') out += `<${event.name}>`;
  }
  return out;
}

describe('scriptedProvider', () => {
  it('indexes a list by attempt and repeats the last reply', async () => {
    const provider = scriptedProvider([{ error: { status: 'x', message: 'm' } }, { text: 'ok' }]);
    expect(await provider.call(call(0, false))).toEqual({
      kind: 'error',
      status: 'x',
      message: 'm',
    });
    expect(await text(await provider.call(call(1, false)))).toBe('ok');
    expect(await text(await provider.call(call(5, false)))).toBe('ok');
  });

  it('streams text as one chunk and joins chunks for whole answers', async () => {
    expect(await text(await scriptedProvider({ text: 'all' }).call(call(0, true)))).toBe('[all]');
    const chunks = scriptedProvider({ chunks: ['a', 'b'] });
    expect(await text(await chunks.call(call(0, true)))).toBe('[a][b]');
    expect(await text(await chunks.call(call(0, false)))).toBe('ab');
    expect(await scriptedProvider({ error: { status: 'down' } }).call(call(0, false))).toEqual({
      kind: 'error',
      status: 'down',
    });
  });

  it('answers with tool calls and usage, whole or streamed', async () => {
    const provider = scriptedProvider({
      text: 'On it.',
      tool_calls: [{ id: 'c1', name: 'weather', arguments: '{}' }],
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
    });
    expect(await provider.call(call(0, false))).toEqual({
      kind: 'message',
      parts: [
        { type: 'text', text: 'On it.' },
        { type: 'tool_call', id: 'c1', name: 'weather', arguments: '{}' },
      ],
      finish_reason: 'tool_calls',
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
    });
    expect(await text(await provider.call(call(0, true)))).toBe('[On it.]<weather>');
    const fragments = scriptedProvider({
      chunks: [
        { tool_call: { index: 0, id: 'c1', name: 'weather', arguments: '{"a"' } },
        { tool_call: { index: 0, arguments: ':1}' } },
      ],
    });
    expect(await fragments.call(call(0, false))).toEqual({
      kind: 'message',
      parts: [{ type: 'tool_call', id: 'c1', name: 'weather', arguments: '{"a":1}' }],
      finish_reason: 'tool_calls',
    });
  });

  it('accepts a function of the call, and refuses an empty script', async () => {
    const provider = scriptedProvider(async (c) => ({ text: `attempt ${c.attempt_index}` }));
    expect(await text(await provider.call(call(2, false)))).toBe('attempt 2');
    expect(() => scriptedProvider([])).toThrow(/no replies/);
  });
});
