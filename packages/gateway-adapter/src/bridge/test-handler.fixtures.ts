/**
 * A small FetchHandler for the adapter tests, and the contract every adapter must meet.
 * Streams are driven by promises the tests resolve (no sleeps), and the handler records what
 * it observed (its request signal aborting, its response body being cancelled).
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FetchHandler } from './fetch-handler.ts';

export const TEST_BODY_LIMIT = 1024;

export interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
}

export function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

export interface TestControl {
  /** The SSE route waits on it between its first and second event. */
  gate: Deferred;
  signalAborted: boolean;
  bodyCancelled: boolean;
  /** Paths the handler saw (after any mount prefix was stripped). */
  readonly paths: string[];
  reset(): void;
}

const encoder = new TextEncoder();
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };

function json(value: unknown, status = 200, headers?: Headers): Response {
  const init = new Headers(headers);
  init.set('content-type', 'application/json');
  return new Response(JSON.stringify(value), { status, headers: init });
}

export function createTestHandler(): { handler: FetchHandler; control: TestControl } {
  const control: TestControl = {
    gate: deferred(),
    signalAborted: false,
    bodyCancelled: false,
    paths: [],
    reset() {
      control.gate = deferred();
      control.signalAborted = false;
      control.bodyCancelled = false;
      control.paths.length = 0;
    },
  };

  const handler: FetchHandler = {
    async fetch(request) {
      const url = new URL(request.url);
      const path = url.pathname;
      control.paths.push(path + url.search);
      if (path === '/v1/echo') {
        const text = request.body === null ? '' : await request.text();
        const headers = new Headers({ 'x-echo': 'yes' });
        headers.append('set-cookie', 'a=1; Path=/');
        headers.append('set-cookie', 'b=2; Path=/; HttpOnly');
        return json(
          {
            method: request.method,
            path: path + url.search,
            contentType: request.headers.get('content-type'),
            contentLength: request.headers.get('content-length'),
            custom: request.headers.get('x-custom'),
            text,
          },
          201,
          headers,
        );
      }
      if (path === '/v1/big') {
        const bytes = (await request.arrayBuffer()).byteLength;
        return json({ bytes });
      }
      if (path === '/v1/sse') {
        const gate = control.gate.promise;
        const body = new ReadableStream<Uint8Array>({
          async start(controller) {
            controller.enqueue(encoder.encode('data: 1\n\n'));
            await gate;
            controller.enqueue(encoder.encode('data: 2\n\n'));
            controller.enqueue(encoder.encode('data: [DONE]\n\n'));
            controller.close();
          },
        });
        return new Response(body, { headers: SSE_HEADERS });
      }
      if (path === '/v1/hang') {
        request.signal.addEventListener('abort', () => {
          control.signalAborted = true;
        });
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(encoder.encode('data: first\n\n'));
          },
          cancel() {
            control.bodyCancelled = true;
          },
        });
        return new Response(body, { headers: SSE_HEADERS });
      }
      if (path === '/v1/throw') {
        throw new Error('secret-internal-detail');
      }
      if (path === '/v1/chat/completions' && request.method === 'POST') {
        return chatCompletions((await request.json()) as ChatRequest);
      }
      return json(
        {
          error: { message: `No route ${path}`, type: 'invalid_request_error', code: 'not_found' },
        },
        404,
      );
    },
  };
  return { handler, control };
}

interface ChatRequest {
  model: string;
  stream?: boolean;
  messages: { role: string; content: string }[];
}

/** The smallest chat-completions shapes the official client accepts. */
function chatCompletions(chat: ChatRequest): Response {
  const last = chat.messages.at(-1)?.content ?? '';
  const reply = `echo: ${last}`;
  const base = { id: 'chatcmpl-test', created: 1_700_000_000, model: chat.model };
  if (chat.stream !== true) {
    return json({
      ...base,
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: reply },
          finish_reason: 'stop',
          logprobs: null,
        },
      ],
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
    });
  }
  const events = [
    { index: 0, delta: { role: 'assistant', content: 'echo: ' }, finish_reason: null },
    { index: 0, delta: { content: last }, finish_reason: null },
    { index: 0, delta: {}, finish_reason: 'stop' },
  ].map(
    (choice) =>
      `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [choice] })}\n\n`,
  );
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const event of events) controller.enqueue(encoder.encode(event));
      controller.enqueue(encoder.encode('data: [DONE]\n\n'));
      controller.close();
    },
  });
  return new Response(body, { headers: SSE_HEADERS });
}

export interface AdapterServer {
  /** Base URL including any mount prefix; the handler's routes live under `${url}/v1`. */
  readonly url: string;
  close(): Promise<void>;
}

export interface StartOptions {
  readonly maxBodyBytes: number;
  readonly onError: (error: unknown) => void;
}

export type StartServer = (handler: FetchHandler, options: StartOptions) => Promise<AdapterServer>;

/** The behaviour every adapter must show, run by each adapter's test file. */
export function describeAdapterContract(name: string, start: StartServer): void {
  describe(`${name} adapter contract`, () => {
    const { handler, control } = createTestHandler();
    const errors: unknown[] = [];
    let server: AdapterServer;

    beforeAll(async () => {
      server = await start(handler, {
        maxBodyBytes: TEST_BODY_LIMIT,
        onError: (error) => errors.push(error),
      });
    });
    afterAll(async () => {
      await server.close();
    });
    beforeEach(() => {
      control.reset();
      errors.length = 0;
    });

    it('round-trips JSON', async () => {
      const response = await fetch(`${server.url}/v1/echo?x=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-custom': 'kept' },
        body: JSON.stringify({ hello: 'wörld' }),
      });
      expect(response.status).toBe(201);
      expect(response.headers.get('content-type')).toBe('application/json');
      const echoed = (await response.json()) as Record<string, unknown>;
      expect(echoed).toMatchObject({
        method: 'POST',
        path: '/v1/echo?x=1',
        contentType: 'application/json',
        custom: 'kept',
      });
      expect(JSON.parse(echoed.text as string)).toEqual({ hello: 'wörld' });
    });

    it('keeps the status, custom headers and both set-cookie headers apart', async () => {
      const response = await fetch(`${server.url}/v1/echo`);
      expect(response.status).toBe(201);
      expect(response.headers.get('x-echo')).toBe('yes');
      expect(response.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
      await response.arrayBuffer();
    });

    it('answers a 404 from the handler as is', async () => {
      const response = await fetch(`${server.url}/v1/nothing-here`);
      expect(response.status).toBe(404);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('not_found');
    });

    it('delivers each SSE event before the stream ends', async () => {
      const response = await fetch(`${server.url}/v1/sse`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/event-stream');
      expect(response.headers.get('x-accel-buffering')).toBe('no');
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      const first = await reader.read();
      // The handler is still parked on the gate: this chunk cannot be a buffered whole.
      expect(decoder.decode(first.value)).toBe('data: 1\n\n');
      control.gate.resolve();
      let rest = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        rest += decoder.decode(value, { stream: true });
      }
      expect(rest).toBe('data: 2\n\ndata: [DONE]\n\n');
    });

    it('aborts the request signal and cancels the response body when the client leaves mid-stream', async () => {
      const abort = new AbortController();
      const response = await fetch(`${server.url}/v1/hang`, { signal: abort.signal });
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toBe('data: first\n\n');
      expect(control.signalAborted).toBe(false);
      abort.abort();
      await vi.waitFor(() => {
        expect(control.signalAborted).toBe(true);
        expect(control.bodyCancelled).toBe(true);
      });
    });

    it('answers 413 when content-length announces a body over maxBodyBytes', async () => {
      const response = await fetch(`${server.url}/v1/big`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array(TEST_BODY_LIMIT + 1),
      });
      expect(response.status).toBe(413);
      const body = (await response.json()) as { error: { type: string; code: string } };
      expect(body.error).toMatchObject({
        type: 'invalid_request_error',
        code: 'request_too_large',
      });
      expect(control.paths).toEqual([]);
    });

    it('answers 413 when a chunked body grows past maxBodyBytes while streaming', async () => {
      const chunk = new Uint8Array(400);
      const upload = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 4; i++) controller.enqueue(chunk);
          controller.close();
        },
      });
      const response = await fetch(`${server.url}/v1/big`, {
        method: 'POST',
        body: upload,
        duplex: 'half',
      } as RequestInit);
      expect(response.status).toBe(413);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
        'request_too_large',
      );
      expect(control.paths).toEqual(['/v1/big']);
      expect(errors).toEqual([]);
    });

    it('streams a chunked body under the limit to the handler', async () => {
      const chunk = new Uint8Array(300);
      const upload = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 3; i++) controller.enqueue(chunk);
          controller.close();
        },
      });
      const response = await fetch(`${server.url}/v1/big`, {
        method: 'POST',
        body: upload,
        duplex: 'half',
      } as RequestInit);
      expect(await response.json()).toEqual({ bytes: 900 });
    });

    it('answers a handler throw with a 500 in the OpenAI error shape, without the stack', async () => {
      const response = await fetch(`${server.url}/v1/throw`);
      expect(response.status).toBe(500);
      const text = await response.text();
      expect(JSON.parse(text)).toEqual({
        error: {
          message: 'Internal server error',
          type: 'server_error',
          param: null,
          code: 'internal_error',
        },
      });
      expect(text).not.toContain('secret-internal-detail');
      expect(text).not.toContain('.ts:');
      expect(errors).toHaveLength(1);
      expect((errors[0] as Error).message).toBe('secret-internal-detail');
    });

    it('serves the official openai client, non-streaming and streaming', async () => {
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'test', maxRetries: 0 });
      const completion = await client.chat.completions.create({
        model: 'test-model',
        messages: [{ role: 'user', content: 'hi' }],
      });
      expect(completion.choices[0]?.message.content).toBe('echo: hi');
      expect(completion.usage?.total_tokens).toBe(5);

      const stream = await client.chat.completions.create({
        model: 'test-model',
        messages: [{ role: 'user', content: 'streamed' }],
        stream: true,
      });
      const parts: string[] = [];
      for await (const chunk of stream) parts.push(chunk.choices[0]?.delta.content ?? '');
      expect(parts.join('')).toBe('echo: streamed');
      expect(parts.length).toBeGreaterThanOrEqual(2);
    });
  });
}
