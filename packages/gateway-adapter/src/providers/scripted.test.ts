import type { ProviderCall, ProviderReply } from '@wardwright/core';
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

async function text(reply: ProviderReply): Promise<string> {
  if (reply.kind === 'text') return reply.text;
  if (reply.kind === 'error') return `error:${reply.status}`;
  let out = '';
  for await (const chunk of reply.chunks) out += `[${chunk}]`;
  return out;
}

describe('scriptedProvider', () => {
  it('indexes a list by attempt and repeats the last reply', async () => {
    const provider = scriptedProvider([{ error: { status: 'x', message: 'm' } }, { text: 'ok' }]);
    expect(await provider(call(0, false))).toEqual({ kind: 'error', status: 'x', message: 'm' });
    expect(await text(await provider(call(1, false)))).toBe('ok');
    expect(await text(await provider(call(5, false)))).toBe('ok');
  });

  it('streams text as one chunk and joins chunks for whole answers', async () => {
    expect(await text(await scriptedProvider({ text: 'all' })(call(0, true)))).toBe('[all]');
    const chunks = scriptedProvider({ chunks: ['a', 'b'] });
    expect(await text(await chunks(call(0, true)))).toBe('[a][b]');
    expect(await text(await chunks(call(0, false)))).toBe('ab');
    expect(await scriptedProvider({ error: { status: 'down' } })(call(0, false))).toEqual({
      kind: 'error',
      status: 'down',
    });
  });

  it('accepts a function of the call, and refuses an empty script', async () => {
    const provider = scriptedProvider(async (c) => ({ text: `attempt ${c.attempt_index}` }));
    expect(await text(await provider(call(2, false)))).toBe('attempt 2');
    expect(() => scriptedProvider([])).toThrow(/no replies/);
  });
});
