import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openAICompatible } from './providers/openai-compatible.ts';
import { type ScriptedUpstream, startScriptedUpstream } from './providers/scripted.ts';
import { type Served, serveGateway, sseData } from './testing/fixtures.ts';

/**
 * Tool-call policy through the real gateway: a scripted upstream over HTTP streams a
 * destructive `shell.exec` call in fragments; the client must never see a byte of it.
 */

const DESTRUCTIVE = '{"command":"rm -rf / --no-preserve-root"}';
const FRAGMENTS = ['rm -rf', 'no-preserve-root', '"command"'];

const artifact = {
  schema: 'wardwright.artifact.v1',
  model: { id: 'ops', version: '1' },
  targets: [{ model: 'upstream-ops', context_window: 100_000 }],
  tool_calls: {
    rules: [
      {
        id: 'no-recursive-delete',
        tool: { names: ['shell.exec'] },
        arguments: [{ pointer: '/command', regex: 'rm\\s+-rf' }],
        actions: [{ action: 'block', reason: 'recursive delete' }],
      },
      {
        id: 'no-weather',
        tool: { names: ['weather'] },
        actions: [{ action: 'drop_call', reason: 'weather is off' }],
      },
    ],
  },
};

const tools = [
  {
    type: 'function',
    function: { name: 'shell.exec', parameters: { type: 'object' } },
  },
  { type: 'function', function: { name: 'weather', parameters: { type: 'object' } } },
];

let upstream: ScriptedUpstream;
let served: Served;
let reply: 'destructive' | 'text-then-destructive' | 'weather';

beforeAll(async () => {
  upstream = await startScriptedUpstream({
    replies: () => {
      switch (reply) {
        case 'destructive':
          return {
            kind: 'stream',
            chunks: [],
            tool_calls: [{ id: 'call_rm', name: 'shell.exec', arguments: DESTRUCTIVE }],
          };
        case 'text-then-destructive':
          return {
            kind: 'stream',
            chunks: ['Cleaning up ', 'the disk now.'],
            tool_calls: [{ id: 'call_rm', name: 'shell.exec', arguments: DESTRUCTIVE }],
          };
        case 'weather':
          return {
            kind: 'text',
            text: '',
            tool_calls: [{ id: 'call_w', name: 'weather', arguments: '{"city":"Oslo"}' }],
          };
      }
    },
  });
  served = await serveGateway({
    models: [{ artifact, provider: openAICompatible({ baseURL: upstream.url }) }],
  });
});

afterAll(async () => {
  await served?.close();
  await upstream?.close();
});

beforeEach(() => {
  upstream.requests.length = 0;
});

async function raw(stream: boolean) {
  const response = await fetch(`${served.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'ops',
      messages: [{ role: 'user', content: 'free some space' }],
      tools,
      stream,
    }),
  });
  return { response, body: await response.text() };
}

async function receiptOf(response: Response) {
  const id = response.headers.get('x-wardwright-receipt-id') ?? '';
  const receipt = await served.gateway.runtime.receipts.get(id);
  if (receipt === undefined) throw new Error(`no receipt ${id}`);
  return receipt;
}

describe('tool-call policy through the gateway', () => {
  it.each([true, false])(
    'a blocked destructive call never reaches the client (stream: %s)',
    async (stream) => {
      reply = 'destructive';
      const { response, body } = await raw(stream);
      // The upstream streamed the call to the gateway in fragments…
      expect(upstream.requests).toHaveLength(1);
      // …and not one of its bytes went on to the client.
      for (const fragment of FRAGMENTS) expect(body).not.toContain(fragment);
      expect(response.status).toBe(422);
      expect(JSON.parse(body)).toMatchObject({
        error: { type: 'policy_error', code: 'tool_call_blocked' },
      });
      const receipt = await receiptOf(response);
      expect(receipt.final.status).toBe('tool_call_blocked');
      expect(receipt.tool_policy?.decisions).toEqual([
        {
          attempt_index: 0,
          call_id: 'call_rm',
          tool: 'shell.exec',
          rule_id: 'no-recursive-delete',
          action: 'block',
          evidence: {
            pointer: '/command',
            excerpt: 'rm -rf / --no-preserve-root',
            reason: 'regex rm\\s+-rf matched',
          },
        },
      ]);
    },
  );

  it('after text was released, a blocked call ends the stream with an error frame and no call', async () => {
    reply = 'text-then-destructive';
    const { response, body } = await raw(true);
    expect(response.status).toBe(200);
    for (const fragment of FRAGMENTS) expect(body).not.toContain(fragment);
    const frames = sseData(body);
    const content = frames
      .filter((f) => f !== '[DONE]')
      .map((f) => JSON.parse(f) as { choices?: { delta?: { content?: string } }[] })
      .map((f) => f.choices?.[0]?.delta?.content ?? '')
      .join('');
    expect(content).toBe('Cleaning up the disk now.');
    expect(body).toContain('tool_call_blocked');
    expect(body).not.toContain('"tool_calls"');
  });

  it('a dropped only call leaves an answer the client can show: a refusal naming the rule', async () => {
    reply = 'weather';
    const { response, body } = await raw(false);
    expect(response.status).toBe(200);
    const completion = JSON.parse(body) as {
      choices: { message: Record<string, unknown>; finish_reason: string }[];
    };
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(completion.choices[0]?.message.tool_calls).toBeUndefined();
    expect(completion.choices[0]?.message.refusal).toBe(
      'The requested tool call was removed by policy (no-weather).',
    );
    expect((await receiptOf(response)).tool_policy?.dropped).toEqual(['call_w']);
  });
});
