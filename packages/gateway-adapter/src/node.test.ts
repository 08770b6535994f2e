import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createTestHandler, describeAdapterContract } from './bridge/test-handler.fixtures.ts';
import { serve, toNodeListener } from './node.ts';

describeAdapterContract('node:http serve()', (handler, options) =>
  serve(handler, { port: 0, ...options }),
);

describe('node adapter', () => {
  it('serve() binds to loopback by default and close() ends open keep-alive sockets', async () => {
    const { handler } = createTestHandler();
    const server = await serve(handler, { port: 0 });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const response = await fetch(`${server.url}/v1/echo`);
    expect(response.status).toBe(201);
    await response.arrayBuffer();
    // The fetch client keeps the socket alive; close() must not wait for it to time out.
    await server.close();
    await expect(fetch(`${server.url}/v1/echo`)).rejects.toThrow();
  });

  it('serve() closes when its signal aborts', async () => {
    const { handler } = createTestHandler();
    const abort = new AbortController();
    const server = await serve(handler, { port: 0, signal: abort.signal });
    abort.abort();
    await server.close();
    await expect(fetch(`${server.url}/v1/echo`)).rejects.toThrow();
  });

  it('toNodeListener() plugs into an existing server and uses baseURL for request.url', async () => {
    let seen = '';
    const listener = toNodeListener(
      {
        async fetch(request) {
          seen = request.url;
          return new Response('ok');
        },
      },
      { baseURL: 'https://llm.example.com' },
    );
    const server = createServer(listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const response = await fetch(`http://127.0.0.1:${port}/v1/models?x=1`);
      expect(await response.text()).toBe('ok');
      expect(seen).toBe('https://llm.example.com/v1/models?x=1');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
