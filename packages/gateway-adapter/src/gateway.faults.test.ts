import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { type OpenAICompatibleOptions, openAICompatible } from './providers/openai-compatible.ts';
import {
  type ScriptedUpstream,
  startScriptedUpstream,
  type UpstreamReply,
} from './providers/scripted.ts';
import { type Served, serveGateway, sseData } from './testing/fixtures.ts';

/**
 * Faults of a real upstream over HTTP, through the gateway: each ends with the documented status
 * (or, once text went out, the terminal stream event) and a receipt that says what happened.
 */

const SECRET = 'sk-test-do-not-leak-0123456789';
const artifact = {
  schema: 'wardwright.artifact.v1',
  model: { id: 'proxied', version: '1' },
  targets: [{ model: 'upstream-model', context_window: 100_000 }],
};

let upstream: ScriptedUpstream | undefined;
let served: Served | undefined;

afterEach(async () => {
  await served?.close();
  await upstream?.close();
  served = undefined;
  upstream = undefined;
});

async function setup(
  replies: readonly UpstreamReply[],
  provider: Omit<OpenAICompatibleOptions, 'baseURL'> = {},
): Promise<{ served: Served; upstream: ScriptedUpstream }> {
  upstream = await startScriptedUpstream({ replies });
  served = await serveGateway({
    models: [
      {
        artifact,
        provider: openAICompatible({
          baseURL: upstream.url,
          apiKey: SECRET,
          maxRetries: 0,
          ...provider,
        }),
      },
    ],
  });
  return { served, upstream };
}

const body = (stream: boolean) =>
  JSON.stringify({ model: 'proxied', stream, messages: [{ role: 'user', content: 'hello' }] });

async function post(s: Served, stream: boolean) {
  const response = await fetch(`${s.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body(stream),
  });
  return { response, text: await response.text() };
}

async function receiptOf(s: Served, id: string | null) {
  expect(id).toMatch(/^rcpt_/);
  const receipt = await s.gateway.runtime.receipts.get(id!);
  expect(receipt).toBeDefined();
  expect(JSON.stringify(receipt)).not.toContain(SECRET);
  return receipt!;
}

/** The terminal event of a stream that failed after sending text. */
function terminalOf(text: string) {
  const frames = sseData(text);
  expect(frames.at(-1)).toBe('[DONE]');
  return JSON.parse(frames.at(-2)!) as {
    error: { code: string; message: string; type: string };
    wardwright: { receipt_id: string; http_status: number };
  };
}

describe('upstream faults through the gateway', () => {
  it('forwards the routed model, the engine messages and the key to the upstream', async () => {
    const { served: s, upstream: u } = await setup([{ kind: 'text', text: 'hi there' }]);
    const { data } = await s.client.chat.completions
      .create({
        model: 'proxied',
        messages: [{ role: 'user', content: 'hello' }],
        temperature: 0.2,
      })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('hi there');
    expect(u.requests[0]?.body).toMatchObject({
      model: 'upstream-model',
      stream: false,
      temperature: 0.2,
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(u.requests[0]?.headers.authorization).toBe(`Bearer ${SECRET}`);
  });

  it('streams an upstream SSE answer through (comments, CRLF frames)', async () => {
    const { served: s } = await setup([{ kind: 'stream', chunks: ['one ', 'two ', 'three'] }]);
    const stream = await s.client.chat.completions.create({
      model: 'proxied',
      messages: [{ role: 'user', content: 'count' }],
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('one two three');
  });

  it('upstream 500 → 502 provider_error with the upstream status in the receipt', async () => {
    const { served: s } = await setup([{ kind: 'status', status: 500, message: 'boom' }]);
    const { response, text } = await post(s, false);
    expect(response.status).toBe(502);
    const error = JSON.parse(text).error;
    expect(error).toMatchObject({ type: 'upstream_error', code: 'provider_error' });
    expect(error.message).toContain('500');
    const receipt = await receiptOf(s, response.headers.get('x-wardwright-receipt-id'));
    expect(receipt.final.status).toBe('provider_error');
    expect(receipt.attempts[0]?.error?.status).toBe('upstream_500');
  });

  it('upstream 500 then 200 with retries → 200 after one retry', async () => {
    const { served: s, upstream: u } = await setup(
      [
        { kind: 'status', status: 503, retryAfter: 0 },
        { kind: 'text', text: 'recovered' },
      ],
      { maxRetries: 2 },
    );
    const { response, text } = await post(s, false);
    expect(response.status).toBe(200);
    expect(JSON.parse(text).choices[0].message.content).toBe('recovered');
    expect(u.requests).toHaveLength(2);
  });

  it('upstream 429 honours Retry-After, bounded by maxRetries → 429 naming the 429', async () => {
    const { served: s, upstream: u } = await setup(
      [{ kind: 'status', status: 429, retryAfter: 0, message: 'slow down' }],
      { maxRetries: 2 },
    );
    const { response, text } = await post(s, false);
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('0');
    expect(u.requests).toHaveLength(3);
    expect(JSON.parse(text).error.message).toContain('429');
    const receipt = await receiptOf(s, response.headers.get('x-wardwright-receipt-id'));
    expect(receipt.attempts[0]?.error?.status).toBe('upstream_429');
  });

  it('an upstream that never answers → 502 upstream_timeout', async () => {
    const { served: s } = await setup([{ kind: 'hang' }], { timeoutMs: 150 });
    const { response } = await post(s, false);
    expect(response.status).toBe(502);
    const receipt = await receiptOf(s, response.headers.get('x-wardwright-receipt-id'));
    expect(receipt.attempts[0]?.error?.status).toBe('upstream_timeout');
  });

  it('a stream that stalls after text → terminal event (idle timeout), status 200 already sent', async () => {
    const { served: s } = await setup([{ kind: 'stall', chunks: ['partial '] }], {
      timeoutMs: 150,
    });
    const { response, text } = await post(s, true);
    expect(response.status).toBe(200);
    const terminal = terminalOf(text);
    expect(terminal.error.code).toBe('provider_error');
    expect(terminal.wardwright.http_status).toBe(502);
    expect(terminal.error.message).toContain('150 ms');
    const receipt = await receiptOf(s, terminal.wardwright.receipt_id);
    expect(receipt.final.status).toBe('provider_error');
  });

  it('an upstream that disconnects mid-stream → terminal event and a provider_error receipt', async () => {
    const { served: s } = await setup([{ kind: 'disconnect', chunks: ['half ', 'an answer'] }]);
    const { response, text } = await post(s, true);
    expect(response.status).toBe(200);
    expect(text).toContain('"content":"half "');
    const terminal = terminalOf(text);
    expect(terminal.error.code).toBe('provider_error');
    const receipt = await receiptOf(s, terminal.wardwright.receipt_id);
    expect(receipt.final.status).toBe('provider_error');
    expect(receipt.attempts[0]?.error?.status).toBe('stream_error');
    expect(receipt.final.released_bytes).toBeGreaterThan(0);
  });

  it('malformed SSE after text → terminal event naming the malformed frame', async () => {
    const { served: s } = await setup([{ kind: 'malformed', chunks: ['fine so far'] }]);
    const { text } = await post(s, true);
    const terminal = terminalOf(text);
    expect(terminal.error.message).toContain('malformed SSE frame');
    const receipt = await receiptOf(s, terminal.wardwright.receipt_id);
    expect(receipt.attempts[0]?.error?.message).toContain('malformed SSE frame');
  });

  it('malformed SSE before any text → 502 JSON error (nothing was sent yet)', async () => {
    const { served: s } = await setup([{ kind: 'malformed', chunks: [] }]);
    const { response, text } = await post(s, true);
    expect(response.status).toBe(502);
    expect(JSON.parse(text).error.message).toContain('malformed SSE frame');
  });

  it('the openai client raises the terminal event of a broken stream as an APIError', async () => {
    const { served: s } = await setup([{ kind: 'disconnect', chunks: ['half'] }]);
    const stream = await s.client.chat.completions.create({
      model: 'proxied',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    const error = await (async () => {
      for await (const _ of stream);
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
  });

  it('a client abort mid-stream aborts the upstream request within 100 ms', async () => {
    const { served: s, upstream: u } = await setup([{ kind: 'stall', chunks: ['first words'] }]);
    /** Start a stream, read until its first words, abort; the ms until the upstream saw it. */
    const abortOne = async (index: number): Promise<number> => {
      const controller = new AbortController();
      const response = await fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: body(true),
        signal: controller.signal,
      });
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let seen = '';
      while (!seen.includes('first words')) {
        const { value } = await reader.read();
        seen += decoder.decode(value);
      }
      expect(u.requests[index]?.completed()).toBe(false);
      const abortedAt = performance.now();
      controller.abort();
      const closedAt = await u.requests[index]!.closed;
      expect(u.requests[index]?.completed()).toBe(false);
      return closedAt - abortedAt;
    };
    // The first abort also loads the abort paths of undici and node:http: measure the second.
    await abortOne(0);
    expect(await abortOne(1)).toBeLessThan(100);
    // The receipt is written once the engine has unwound.
    await expect
      .poll(async () => (await s.gateway.runtime.receipts.list({ limit: 1 })).receipts[0]?.final)
      .toMatchObject({ status: 'client_disconnected', http_status: 499 });
  });
});

describe('an upstream that rate limits', () => {
  it('still 429 after the retries: the client gets 429 with its Retry-After, the receipt every try', async () => {
    const { served: s, upstream: u } = await setup(
      [{ kind: 'status', status: 429, message: 'slow down', retryAfter: 7 }],
      // Retries honour Retry-After up to maxRetryDelayMs: short here, so the test is quick.
      { maxRetries: 2, maxRetryDelayMs: 10 },
    );
    const error = await s.client.chat.completions
      .create({ model: 'proxied', messages: [{ role: 'user', content: 'hello' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const limited = error as InstanceType<typeof OpenAI.RateLimitError>;
    expect(limited.status).toBe(429);
    expect(limited.code).toBe('provider_rate_limited');
    expect(limited.headers?.get('retry-after')).toBe('7');
    expect(u.requests).toHaveLength(3);
    const receipt = await s.gateway.runtime.receipts.get(
      limited.headers?.get('x-wardwright-receipt-id') ?? '',
    );
    expect(receipt?.final).toMatchObject({ status: 'provider_rate_limited', http_status: 429 });
    expect(receipt?.attempts).toHaveLength(1);
    expect(receipt?.attempts[0]).toMatchObject({
      status: 'provider_error',
      error: { status: 'upstream_429', retry_after_ms: 7000 },
      upstream_retries: [
        { status: 'upstream_429', delay_ms: 10 },
        { status: 'upstream_429', delay_ms: 10 },
      ],
    });
  });

  it('answered after a retry: the receipt still lists the try that failed', async () => {
    const { served: s } = await setup(
      [
        { kind: 'status', status: 503 },
        { kind: 'text', text: 'fine' },
      ],
      { maxRetries: 2, maxRetryDelayMs: 10 },
    );
    const { data, response } = await s.client.chat.completions
      .create({ model: 'proxied', messages: [{ role: 'user', content: 'hello' }] })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('fine');
    const receipt = await s.gateway.runtime.receipts.get(
      response.headers.get('x-wardwright-receipt-id') ?? '',
    );
    expect(receipt?.attempts[0]).toMatchObject({
      status: 'completed',
      upstream_retries: [{ status: 'upstream_503', delay_ms: expect.any(Number) }],
    });
  });
});

describe('an oversized upstream answer', () => {
  it('is refused past maxResponseBytes, whole or streamed, while other requests succeed', async () => {
    upstream = await startScriptedUpstream({
      replies: (body) => {
        const messages = body.messages as { content: string }[];
        return messages.at(-1)?.content === 'big'
          ? { kind: 'stream', chunks: Array.from({ length: 64 }, () => 'x'.repeat(64 * 1024)) }
          : { kind: 'text', text: 'small' };
      },
    });
    served = await serveGateway({
      models: [
        {
          artifact,
          provider: openAICompatible({
            baseURL: upstream.url,
            maxRetries: 0,
            maxResponseBytes: 1024 * 1024,
          }),
        },
      ],
    });
    const s = served;
    const ask = (content: string, stream: boolean) =>
      fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'proxied', stream, messages: [{ role: 'user', content }] }),
      });
    const [whole, streamed, ...small] = await Promise.all([
      ask('big', false),
      ask('big', true),
      ...Array.from({ length: 5 }, () => ask('hello', false)),
    ]);
    expect(whole.status).toBe(502);
    const error = ((await whole.json()) as { error: { message: string } }).error;
    expect(error.message).toContain(
      "the upstream's answer is over 1048576 bytes (maxResponseBytes)",
    );
    const receipt = await receiptOf(s, whole.headers.get('x-wardwright-receipt-id'));
    expect(receipt.attempts[0]?.error?.status).toBe('upstream_too_large');
    // A stream already under way ends with a terminal frame saying why.
    const text = await streamed.text();
    expect(text).toContain('over 1048576 bytes (maxResponseBytes)');
    expect(text.length).toBeLessThan(2 * 1024 * 1024);
    for (const response of small) {
      expect(response.status).toBe(200);
      expect(
        ((await response.json()) as { choices: { message: { content: string } }[] }).choices[0]
          ?.message.content,
      ).toBe('small');
    }
  });
});
