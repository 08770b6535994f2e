import { readFileSync } from 'node:fs';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { streamObject } from 'ai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openAICompatible } from './providers/openai-compatible.ts';
import { type ScriptedUpstream, startScriptedUpstream } from './providers/scripted.ts';
import { type Served, serveGateway, sseData } from './testing/fixtures.ts';

/**
 * Structured output when the client streams: the guard holds the stream, retries the fenced
 * first attempt with feedback, and releases only the accepted answer. The artifact is the
 * `support-answer` example as users read it; the upstream is a real HTTP server that streams
 * its answers and wraps them in a markdown fence until it is told not to.
 */

const artifact: unknown = JSON.parse(
  readFileSync(new URL('../../../examples/artifacts/support-answer.json', import.meta.url), 'utf8'),
);

const ANSWER = {
  answer: 'Open Settings › Security and choose Reset password.',
  confidence: 0.92,
  citations: ['https://help.acme.example/reset-password'],
  handoff: false,
};
const BARE = JSON.stringify(ANSWER);
const FENCED = `\`\`\`json\n${BARE}\n\`\`\``;

/** Splits text into `n` chunks, as a model streams it. */
const chunked = (text: string, n: number): string[] => {
  const size = Math.ceil(text.length / n);
  return Array.from({ length: n }, (_, i) => text.slice(i * size, (i + 1) * size));
};

let upstream: ScriptedUpstream;
let served: Served;

beforeAll(async () => {
  upstream = await startScriptedUpstream({
    // A model that fences its JSON unless the guard's feedback tells it not to.
    replies: (body) => {
      const messages = body.messages as { role: string; name?: string }[];
      const told = messages.some((m) => m.name === 'wardwright_structured_output_guard');
      return { kind: 'stream', chunks: chunked(told ? BARE : FENCED, 5) };
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

const question = [{ role: 'user' as const, content: 'How do I reset my password?' }];

describe('structured output on a stream (support-answer)', () => {
  it('retries the fenced attempt and streams only the bare JSON (official openai client)', async () => {
    const stream = await served.client.chat.completions
      .create({ model: 'support-answer', messages: question, stream: true })
      .withResponse();
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream.data) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(BARE);
    expect(finish).toBe('stop');
    // The upstream streamed twice; the first attempt never reached the client.
    expect(upstream.requests).toHaveLength(2);
    const receiptId = stream.response.headers.get('x-wardwright-receipt-id') ?? '';
    const receipt = await served.gateway.runtime.receipts.get(receiptId);
    expect(receipt?.final.status).toBe('completed_after_guard');
    expect(receipt?.guard?.events.map((e) => e.rule_id)).toEqual(['answer-shape']);
    expect(receipt?.attempts.map((a) => a.status)).toEqual(['completed', 'completed']);
  });

  it('sends the held answer as one well-formed SSE stream', async () => {
    const response = await fetch(`${served.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'support-answer', messages: question, stream: true }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const frames = sseData(await response.text());
    expect(frames.at(-1)).toBe('[DONE]');
    const content = frames
      .slice(0, -1)
      .map((f) => (JSON.parse(f) as { choices: { delta: { content?: string } }[] }).choices[0])
      .map((choice) => choice?.delta.content ?? '');
    expect(content.join('')).toBe(BARE);
    // Nothing of the fenced attempt, not even its first chunk, went out.
    expect(content.some((piece) => piece.includes('```'))).toBe(false);
  });

  it('lets the Vercel AI SDK’s streamObject succeed', async () => {
    const provider = createOpenAICompatible({
      name: 'wardwright',
      baseURL: `${served.url}/v1`,
      apiKey: 'unused',
      // The gateway's guard enforces the schema; say so, and the SDK sends it as json_schema.
      supportsStructuredOutputs: true,
    });
    const result = streamObject({
      model: provider('support-answer'),
      schema: z.object({
        answer: z.string(),
        confidence: z.number(),
        citations: z.array(z.string()),
        handoff: z.boolean(),
      }),
      prompt: 'How do I reset my password?',
    });
    const partials: unknown[] = [];
    for await (const partial of result.partialObjectStream) partials.push(partial);
    expect(await result.object).toEqual(ANSWER);
    expect(partials.at(-1)).toEqual(ANSWER);
    expect(upstream.requests).toHaveLength(2);
  });
});
