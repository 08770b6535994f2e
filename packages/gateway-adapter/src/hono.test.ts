import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve as honoServe } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AdapterServer,
  createTestHandler,
  describeAdapterContract,
} from './bridge/test-handler.fixtures.ts';
import { wardwrightHono, wardwrightMiddleware } from './hono.ts';
import { serve } from './node.ts';

/** Hono's own node server, as most Hono-on-node applications run. */
async function listenHono(app: Hono, prefix = ''): Promise<AdapterServer> {
  const server = await new Promise<Server>((resolve) => {
    const s = honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(s as Server),
    );
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describeAdapterContract('hono app on @hono/node-server', (handler, options) => {
  const app = new Hono();
  app.route('/', wardwrightHono(handler, options));
  return listenHono(app);
});

describeAdapterContract(
  "hono app under app.route('/llm') on the node adapter",
  async (handler, options) => {
    const app = new Hono();
    app.route('/llm', wardwrightHono(handler, options));
    const served = await serve({ fetch: async (request) => app.fetch(request) }, { port: 0 });
    return { url: `${served.url}/llm`, close: served.close };
  },
);

describeAdapterContract('hono middleware with mount', (handler, options) => {
  const app = new Hono();
  app.use('/mw/*', wardwrightMiddleware(handler, { ...options, mount: '/mw' }));
  return listenHono(app, '/mw');
});

describe('hono adapter', () => {
  const { handler, control } = createTestHandler();
  let server: AdapterServer;

  beforeAll(async () => {
    const app = new Hono();
    app.use('/ft/*', wardwrightMiddleware(handler, { mount: '/ft', fallthrough: true }));
    app.get('/ft/v1/nothing-here', (c) => c.text('app route'));
    app.route('/sub', wardwrightHono(handler));
    app.get('/other', (c) => c.text('other'));
    server = await listenHono(app);
  });
  afterAll(async () => {
    await server.close();
  });

  it('middleware fallthrough: a handler 404 continues to the next route', async () => {
    const response = await fetch(`${server.url}/ft/v1/nothing-here`);
    expect(await response.text()).toBe('app route');
    const routed = await fetch(`${server.url}/ft/v1/echo`);
    expect(routed.status).toBe(201);
    await routed.arrayBuffer();
  });

  it('the app form only claims /v1/* under its base and strips the base', async () => {
    control.reset();
    const response = await fetch(`${server.url}/sub/v1/echo?k=v`);
    expect(((await response.json()) as { path: string }).path).toBe('/v1/echo?k=v');
    expect(control.paths).toEqual(['/v1/echo?k=v']);
    expect(await (await fetch(`${server.url}/other`)).text()).toBe('other');
    const outside = await fetch(`${server.url}/sub/elsewhere`);
    expect(outside.status).toBe(404);
    await outside.arrayBuffer();
  });
});

describe('hono adapter edge cases', () => {
  it('marks an SSE Response with immutable headers (straight from fetch) as unbuffered', async () => {
    // An upstream that does not set x-accel-buffering itself.
    const upstream = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('data: upstream\n\n');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = upstream.address() as AddressInfo;
      const app = new Hono();
      app.route('/', wardwrightHono({ fetch: () => fetch(`http://127.0.0.1:${port}/`) }));
      const response = await app.request('/v1/anything');
      expect(response.headers.get('x-accel-buffering')).toBe('no');
      expect(await response.text()).toBe('data: upstream\n\n');
    } finally {
      upstream.closeAllConnections();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });

  it('forwards a body a middleware already read through c.req.json()', async () => {
    const { handler } = createTestHandler();
    const app = new Hono();
    app.use('*', async (c, next) => {
      if (c.req.method === 'POST') await c.req.json();
      await next();
    });
    app.route('/llm', wardwrightHono(handler, { maxBodyBytes: 64 }));
    const response = await app.request('/llm/v1/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"read":"twice"}',
    });
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({ path: '/v1/echo', text: '{"read":"twice"}' });
    const tooBig = await app.request('/llm/v1/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'x'.repeat(100) }),
    });
    expect(tooBig.status).toBe(413);
  });

  it('strips a base with parameters', async () => {
    const { handler, control } = createTestHandler();
    const app = new Hono().basePath('/api');
    app.route('/t/:tenant', wardwrightHono(handler));
    const response = await app.request('/api/t/acme/v1/echo?x=1');
    expect(response.status).toBe(201);
    expect(control.paths).toEqual(['/v1/echo?x=1']);
  });

  it('answers 500 even when the onError reporter throws', async () => {
    const app = new Hono();
    app.route(
      '/',
      wardwrightHono(
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
      ),
    );
    const response = await app.request('/v1/x');
    expect(response.status).toBe(500);
    expect(await response.json()).toMatchObject({ error: { code: 'internal_error' } });
  });
});
