import { createServer, request as httpRequest, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readBody } from '../http/body.ts';
import { dispatch } from './dispatch.ts';
import type { FetchHandler } from './fetch-handler.ts';
import { knownBody, textResponse } from './known-body.ts';
import { deferred } from './test-handler.fixtures.ts';
import { bufferedBody, toRequest } from './to-request.ts';
import { writeResponse } from './write-response.ts';

const encoder = new TextEncoder();
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A bare node server dispatching to `handler`, with access to each `res` for assertions. */
async function start(
  handler: FetchHandler,
  options: Parameters<typeof dispatch>[3] = {},
  onResponse?: (res: ServerResponse) => void,
): Promise<string> {
  const server = createServer((req, res) => {
    onResponse?.(res);
    void dispatch(handler, req, res, options);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function rawGet(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('toRequest', () => {
  it('drops hop-by-hop headers, keeps the rest and builds the URL from the Host header', async () => {
    let seen: Request | undefined;
    const url = await start({
      async fetch(request) {
        seen = request;
        return new Response(null, { status: 204 });
      },
    });
    const response = await rawGet(`${url}/v1/x?y=1`, {
      host: 'gateway.test:9999',
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      'x-custom': 'yes',
    });
    expect(response.status).toBe(204);
    expect(seen?.url).toBe('http://gateway.test:9999/v1/x?y=1');
    expect(seen?.headers.get('connection')).toBeNull();
    expect(seen?.headers.get('keep-alive')).toBeNull();
    expect(seen?.headers.get('x-custom')).toBe('yes');
    expect(seen?.body).toBeNull();
  });

  it('answers 400 when the Host header does not make a URL', async () => {
    const fetchSpy = vi.fn<FetchHandler['fetch']>();
    const url = await start({ fetch: fetchSpy });
    const response = await rawGet(`${url}/v1/x`, { host: 'bad host' });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ error: { code: 'bad_request' } });
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('ignores a parsed body on a GET and sends none for a consumed stream without req.body', async () => {
    const seen: (string | null)[] = [];
    const server = createServer((req, res) => {
      // Something in front read the stream and kept nothing.
      req.resume();
      req.once('end', () => {
        const request = toRequest(req, res, req.method === 'GET' ? { parsedBody: { a: 1 } } : {});
        seen.push(request.body === null ? null : 'body');
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await (await fetch(`${base}/a`)).arrayBuffer();
    await (await fetch(`${base}/b`, { method: 'POST', body: 'ignored' })).arrayBuffer();
    expect(seen).toEqual([null, null]);
  });

  it('answers 413 when a parsed body re-serialises over the limit', async () => {
    const server = createServer((req, res) => {
      const body = { text: 'x'.repeat(100) };
      void dispatch({ fetch: async () => new Response('unreached') }, req, res, {
        parsedBody: body,
        maxBodyBytes: 50,
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
      method: 'POST',
      body: '{}',
    });
    expect(response.status).toBe(413);
    await response.arrayBuffer();
  });

  it('errors the body and aborts the signal when the client leaves mid-upload', async () => {
    const firstChunk = deferred();
    let readError: unknown;
    let signal: AbortSignal | undefined;
    const url = await start({
      async fetch(request) {
        signal = request.signal;
        const reader = (request.body as ReadableStream<Uint8Array>).getReader();
        await reader.read();
        firstChunk.resolve();
        try {
          for (;;) if ((await reader.read()).done) break;
        } catch (error) {
          readError = error;
        }
        return new Response('late');
      },
    });
    const abort = new AbortController();
    const upload = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('part one'));
      },
    });
    const pending = fetch(`${url}/upload`, {
      method: 'POST',
      body: upload,
      duplex: 'half',
      signal: abort.signal,
    } as RequestInit);
    await firstChunk.promise;
    abort.abort();
    await expect(pending).rejects.toThrow();
    await vi.waitFor(() => {
      expect(signal?.aborted).toBe(true);
      expect(readError).toBeInstanceOf(Error);
    });
  });

  it('leaves an unread body for node to discard so keep-alive continues', async () => {
    const url = await start({ fetch: async () => new Response('ignored your body') });
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${url}/x`, { method: 'POST', body: 'x'.repeat(100_000) });
      expect(await response.text()).toBe('ignored your body');
    }
  });

  it('drains the rest of a half-read body once the response is done', async () => {
    const url = await start({
      async fetch(request) {
        const reader = (request.body as ReadableStream<Uint8Array>).getReader();
        await reader.read();
        // Walks away from the body without cancelling it.
        return new Response('half read');
      },
    });
    for (let i = 0; i < 3; i++) {
      const chunks = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let c = 0; c < 8; c++) controller.enqueue(new Uint8Array(64 * 1024));
          controller.close();
        },
      });
      const response = await fetch(`${url}/x`, {
        method: 'POST',
        body: chunks,
        duplex: 'half',
      } as RequestInit);
      expect(await response.text()).toBe('half read');
    }
  });
});

describe('writeResponse', () => {
  it('waits for drain: a client that does not read stops the pulling', async () => {
    const chunk = new Uint8Array(1024 * 1024);
    const total = 64;
    let pulls = 0;
    let serverRes: ServerResponse | undefined;
    const url = await start(
      {
        async fetch() {
          const body = new ReadableStream<Uint8Array>(
            {
              pull(controller) {
                pulls++;
                if (pulls > total) controller.close();
                else controller.enqueue(chunk);
              },
            },
            { highWaterMark: 0 },
          );
          return new Response(body, { headers: { 'content-type': 'application/octet-stream' } });
        },
      },
      {},
      (res) => {
        serverRes = res;
      },
    );
    const response = await fetch(`${url}/big`);
    await vi.waitFor(() => expect(serverRes?.writableNeedDrain).toBe(true));
    const pulledWhileBlocked = pulls;
    expect(pulledWhileBlocked).toBeLessThan(total);
    const size = (await response.arrayBuffer()).byteLength;
    expect(size).toBe(total * chunk.byteLength);
  });

  it('flushes compression middleware per SSE event and keeps a handler x-accel-buffering', async () => {
    const flushes: number[] = [];
    let writes = 0;
    const url = await start(
      {
        async fetch() {
          const body = new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(encoder.encode('data: a\n\n'));
              controller.enqueue(encoder.encode('data: b\n\n'));
              controller.close();
            },
          });
          return new Response(body, {
            headers: { 'content-type': 'text/event-stream', 'x-accel-buffering': 'yes' },
          });
        },
      },
      {},
      (res) => {
        const write = res.write.bind(res) as (chunk: Uint8Array) => boolean;
        res.write = ((chunk: Uint8Array) => {
          writes++;
          return write(chunk);
        }) as typeof res.write;
        (res as ServerResponse & { flush(): void }).flush = () => flushes.push(writes);
      },
    );
    const response = await fetch(`${url}/sse`);
    expect(response.headers.get('x-accel-buffering')).toBe('yes');
    expect(await response.text()).toBe('data: a\n\ndata: b\n\n');
    expect(flushes).toEqual([1, 2]);
  });

  it("sends a gateway-built text body in one write, and falls back once it's been read", async () => {
    const text = '{"é":"ü"}';
    const url = await start({
      async fetch(request) {
        const response = textResponse(text, {
          status: 201,
          headers: { 'content-type': 'application/json' },
        });
        if (new URL(request.url).pathname === '/read') {
          await response.clone().text();
          expect(knownBody(response)).toBe(text);
          await response.text();
          expect(knownBody(response)).toBeUndefined();
          return new Response(text, response);
        }
        expect(knownBody(response)).toBe(text);
        return response;
      },
    });
    const direct = await fetch(`${url}/direct`);
    expect(direct.status).toBe(201);
    expect(direct.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    expect(await direct.text()).toBe(text);
    const read = await fetch(`${url}/read`);
    expect(read.status).toBe(201);
    expect(await read.text()).toBe(text);
    const head = await fetch(`${url}/direct`, { method: 'HEAD' });
    expect(head.status).toBe(201);
    expect(await head.text()).toBe('');
  });

  it('sends a one-chunk JSON body with a content-length and streams a longer one', async () => {
    const url = await start({
      async fetch(request) {
        const parts = new URL(request.url).pathname === '/one' ? ['{"a":1}'] : ['{"a":', '1}'];
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            for (const part of parts) controller.enqueue(encoder.encode(part));
            controller.close();
          },
        });
        return new Response(body, {
          status: 202,
          statusText: 'Accepted For Real',
          headers: { 'content-type': 'application/json' },
        });
      },
    });
    const one = await fetch(`${url}/one`);
    expect(one.headers.get('content-length')).toBe('7');
    expect(one.statusText).toBe('Accepted For Real');
    expect(await one.json()).toEqual({ a: 1 });
    const two = await fetch(`${url}/two`);
    expect(two.headers.get('content-length')).toBeNull();
    expect(two.headers.get('transfer-encoding')).toBe('chunked');
    expect(await two.json()).toEqual({ a: 1 });
  });

  it('sends no body for HEAD (cancelling it), 204 and an empty stream', async () => {
    let cancelled = 0;
    const url = await start({
      async fetch(request) {
        const path = new URL(request.url).pathname;
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            if (path === '/empty') controller.close();
            else controller.enqueue(encoder.encode('body'));
          },
          cancel() {
            cancelled++;
          },
        });
        if (path === '/no-content') return new Response(null, { status: 204 });
        return new Response(body, { headers: { 'content-type': 'text/plain' } });
      },
    });
    const head = await fetch(`${url}/head`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const noContent = await fetch(`${url}/no-content`);
    expect(noContent.status).toBe(204);
    const empty = await fetch(`${url}/empty`);
    expect(await empty.text()).toBe('');
    expect(cancelled).toBe(1);
  });

  it('cuts the connection and reports when the body stream fails after the headers', async () => {
    const errors: unknown[] = [];
    const url = await start(
      {
        async fetch() {
          const body = new ReadableStream<Uint8Array>({
            pull(controller) {
              controller.enqueue(encoder.encode('data: partial\n\n'));
              controller.error(new Error('upstream broke'));
            },
          });
          return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
        },
      },
      { onError: (error) => errors.push(error) },
    );
    const response = await fetch(`${url}/broken`);
    expect(response.status).toBe(200);
    await expect(response.text()).rejects.toThrow();
    await vi.waitFor(() =>
      expect((errors[0] as Error | undefined)?.message).toBe('upstream broke'),
    );
  });

  it('is usable on its own: writes a Response to any ServerResponse', async () => {
    const server = createServer((_req, res) => {
      void writeResponse(
        res,
        new Response('standalone', { status: 418, headers: { 'x-a': '1', connection: 'close' } }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    expect(response.status).toBe(418);
    expect(response.headers.get('x-a')).toBe('1');
    expect(await response.text()).toBe('standalone');
  });
});

describe('dispatch', () => {
  it('reads a body of declared length whole before the handler, and streams a chunked one', async () => {
    const seen: { buffered: boolean; text: string }[] = [];
    const url = await start({
      async fetch(request) {
        const buffered = bufferedBody(request) !== undefined;
        const read = await readBody(request, 1024);
        seen.push({ buffered, text: read.kind === 'ok' ? read.text : read.kind });
        return new Response('ok');
      },
    });
    await fetch(url, { method: 'POST', body: '{"é":1}' });
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('{"b":'));
        controller.enqueue(encoder.encode('2}'));
        controller.close();
      },
    });
    await fetch(url, { method: 'POST', body: chunked, duplex: 'half' } as RequestInit);
    expect(seen).toEqual([
      { buffered: true, text: '{"é":1}' },
      { buffered: false, text: '{"b":2}' },
    ]);
  });

  it('still answers 413 to a declared length over the limit, and lets the handler read a buffered body itself', async () => {
    const url = await start(
      {
        async fetch(request) {
          return new Response(`got ${await request.text()}`);
        },
      },
      { maxBodyBytes: 8 },
    );
    expect((await fetch(url, { method: 'POST', body: '123456789' })).status).toBe(413);
    const small = await fetch(url, { method: 'POST', body: '12345678' });
    expect(await small.text()).toBe('got 12345678');
  });

  it('does not call the handler when the client leaves mid-upload', async () => {
    let called = false;
    const closed = deferred();
    let socket: ReturnType<typeof connect> | undefined;
    const url = await start(
      {
        async fetch() {
          called = true;
          return new Response('late');
        },
      },
      {},
      (res) => {
        res.once('close', () => closed.resolve());
        // The server has the head and waits for the rest of the body: leave now.
        socket?.destroy();
      },
    );
    const { port } = new URL(url);
    socket = connect(Number(port), '127.0.0.1', () => {
      socket?.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"partial":');
    });
    await closed.promise;
    expect(called).toBe(false);
  });

  it('answers 500 even when the onError reporter throws', async () => {
    const url = await start(
      {
        async fetch() {
          throw new Error('boom');
        },
      },
      {
        onError() {
          throw new Error('reporter broke');
        },
      },
    );
    const response = await fetch(`${url}/x`);
    expect(response.status).toBe(500);
    await response.arrayBuffer();
  });

  it('answers 500 and reports when the handler resolves to something that is not a Response', async () => {
    const errors: unknown[] = [];
    const url = await start(
      { fetch: async () => undefined as unknown as Response },
      { onError: (error) => errors.push(error) },
    );
    const response = await fetch(`${url}/x`);
    expect(response.status).toBe(500);
    await response.arrayBuffer();
    expect(errors[0]).toBeInstanceOf(TypeError);
  });

  it('reports to console.error by default', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const url = await start({
        async fetch() {
          throw new Error('default report');
        },
      });
      const response = await fetch(`${url}/x`);
      expect(response.status).toBe(500);
      await response.arrayBuffer();
      expect(spy).toHaveBeenCalledWith(
        '[wardwright] the gateway handler failed:',
        expect.objectContaining({ message: 'default report' }),
      );
    } finally {
      spy.mockRestore();
    }
  });

  it('answers 413 when the handler returns normally after the body went over the limit', async () => {
    const url = await start(
      {
        async fetch(request) {
          await request.arrayBuffer().catch(() => undefined);
          return new Response(
            new ReadableStream<Uint8Array>({
              start(controller) {
                controller.enqueue(encoder.encode('never sent'));
              },
            }),
          );
        },
      },
      { maxBodyBytes: 10 },
    );
    const upload = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(8));
        controller.enqueue(new Uint8Array(8));
        controller.close();
      },
    });
    const response = await fetch(`${url}/x`, {
      method: 'POST',
      body: upload,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(413);
    await response.arrayBuffer();
  });
});
