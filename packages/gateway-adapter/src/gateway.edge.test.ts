import type { Receipt, ReceiptStore } from '@wardwright/core';
import { memoryReceiptStore } from '@wardwright/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway, pathOf } from './gateway.ts';
import { scriptedProvider } from './providers/scripted.ts';
import { blockArtifact, sseData } from './testing/fixtures.ts';

/** Edges of the chat route: bodies that arrive in pieces, failing stores, empty answers. */

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

/** A request whose body arrives in the given pieces, without a content-length. */
function chunked(parts: readonly Uint8Array[], path = '/v1/chat/completions'): Request {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const part of parts) controller.enqueue(part);
      controller.close();
    },
  });
  return new Request(`http://gw${path}`, { method: 'POST', body, duplex: 'half' } as RequestInit);
}

const encode = (text: string) => new TextEncoder().encode(text);
const chatBody = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'guarded', messages: [{ role: 'user', content: 'hi' }], ...extra });

describe('request bodies', () => {
  it('reads a body that arrives in several pieces', async () => {
    gateway = await createGateway({
      models: [{ artifact: blockArtifact, provider: scriptedProvider({ text: 'ok' }) }],
    });
    const text = chatBody();
    const response = await gateway.fetch(
      chunked([encode(text.slice(0, 10)), encode(text.slice(10, 20)), encode(text.slice(20))]),
    );
    expect(response.status).toBe(200);
  });

  it('cuts off a body without content-length as soon as it passes maxBodyBytes', async () => {
    gateway = await createGateway({
      maxBodyBytes: 64,
      models: [{ artifact: blockArtifact, provider: scriptedProvider({ text: 'ok' }) }],
    });
    const response = await gateway.fetch(chunked([encode('x'.repeat(40)), encode('y'.repeat(40))]));
    expect(response.status).toBe(413);
    const simulate = await gateway.fetch(
      chunked([encode('x'.repeat(100))], '/v1/wardwright/simulate'),
    );
    expect(simulate.status).toBe(413);
  });

  it('answers 400 for a body that is not UTF-8', async () => {
    gateway = await createGateway({
      models: [{ artifact: blockArtifact, provider: scriptedProvider({ text: 'ok' }) }],
    });
    const response = await gateway.fetch(chunked([new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])]));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'invalid_body',
    );
  });
});

describe('failures inside the gateway', () => {
  const failingStore = (): ReceiptStore<Receipt> => {
    const store = memoryReceiptStore<Receipt>();
    return { ...store, append: async () => Promise.reject(new Error('disk full')) };
  };

  it('answers 503 store_failed in the OpenAI shape and reports to onError when the receipt store fails', async () => {
    const errors: string[] = [];
    gateway = await createGateway({
      receipts: failingStore(),
      onError: (error, where) => errors.push(`${where}: ${(error as Error).message}`),
      models: [{ artifact: blockArtifact, provider: scriptedProvider({ text: 'ok' }) }],
    });
    const post = (body: string) =>
      gateway!.fetch(new Request('http://gw/v1/chat/completions', { method: 'POST', body }));
    const whole = await post(chatBody());
    expect(whole.status).toBe(503);
    expect(await whole.json()).toEqual({
      error: {
        message: expect.stringMatching(/^the receipt store failed a write: .*disk full/),
        type: 'overloaded_error',
        param: null,
        code: 'store_failed',
      },
    });
    // Blocked: nothing is released, so the failure is still a status of its own.
    const stream = await post(
      JSON.stringify({
        model: 'guarded',
        stream: true,
        messages: [{ role: 'user', content: 'drop table t' }],
      }),
    );
    expect(stream.status).toBe(503);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toContain('disk full');
  });

  it('ends a started stream with a store_failed terminal event when the store fails at the end', async () => {
    const errors: unknown[] = [];
    gateway = await createGateway({
      receipts: failingStore(),
      onError: (error) => errors.push(error),
      models: [{ artifact: blockArtifact, provider: scriptedProvider({ chunks: ['a', 'b'] }) }],
    });
    const response = await gateway.fetch(
      new Request('http://gw/v1/chat/completions', {
        method: 'POST',
        body: chatBody({ stream: true }),
      }),
    );
    expect(response.status).toBe(200);
    const frames = sseData(await response.text());
    expect(frames.at(-1)).toBe('[DONE]');
    expect(JSON.parse(frames.at(-2)!).error.code).toBe('store_failed');
    expect(errors).toHaveLength(1);
  });
});

describe('streams that release nothing', () => {
  it('sends a complete stream (role, finish with receipt, usage, [DONE]) for an empty answer', async () => {
    gateway = await createGateway({
      models: [{ artifact: blockArtifact, provider: scriptedProvider({ chunks: [] }) }],
    });
    const response = await gateway.fetch(
      new Request('http://gw/v1/chat/completions', {
        method: 'POST',
        body: chatBody({ stream: true, stream_options: { include_usage: true } }),
      }),
    );
    expect(response.status).toBe(200);
    const id = response.headers.get('x-wardwright-receipt-id');
    const frames = sseData(await response.text());
    expect(frames).toHaveLength(4);
    expect(JSON.parse(frames[1]!).wardwright.receipt_id).toBe(id);
    expect(JSON.parse(frames[2]!).usage.completion_tokens).toBe(0);
  });
});

describe('a client that cancels the stream body', () => {
  it('stops the engine: the receipt says client_disconnected', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    gateway = await createGateway({
      models: [
        {
          artifact: blockArtifact,
          provider: async () => ({
            kind: 'stream',
            chunks: (async function* () {
              yield 'first';
              await gate;
              yield 'second';
            })(),
          }),
        },
      ],
    });
    const response = await gateway.fetch(
      new Request('http://gw/v1/chat/completions', {
        method: 'POST',
        body: chatBody({ stream: true }),
      }),
    );
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel('bye');
    release();
    await expect
      .poll(async () => (await gateway!.runtime.receipts.list()).receipts[0]?.final.status)
      .toBe('client_disconnected');
    expect(gateway.runtime.snapshot().models[0]?.in_flight).toBe(0);
  });
});

describe('pathOf', () => {
  it('takes the path of an absolute URL without its query or fragment', () => {
    expect(pathOf('http://h:1/v1/models?x=1#f')).toBe('/v1/models');
    expect(pathOf('http://h/a#f?x')).toBe('/a');
    expect(pathOf('http://h')).toBe('/');
    expect(pathOf('/rel?q')).toBe('/rel');
  });
});
