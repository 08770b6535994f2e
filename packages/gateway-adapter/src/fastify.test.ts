import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AdapterServer,
  createTestHandler,
  describeAdapterContract,
} from './bridge/test-handler.fixtures.ts';
import { wardwrightPlugin } from './fastify.ts';

async function listen(app: FastifyInstance, prefix = ''): Promise<AdapterServer> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}${prefix}`, close: () => app.close() };
}

function app(): FastifyInstance {
  // Tests close with clients still connected (keep-alive): do not wait for them.
  return Fastify({ forceCloseConnections: true });
}

describeAdapterContract('fastify', (handler, options) => {
  const fastify = app();
  fastify.register(wardwrightPlugin, { handler, ...options });
  return listen(fastify);
});

describeAdapterContract('fastify with a prefix', (handler, options) => {
  const fastify = app();
  fastify.register(wardwrightPlugin, { handler, prefix: '/llm', ...options });
  return listen(fastify, '/llm');
});

describe('fastify adapter', () => {
  const { handler, control } = createTestHandler();
  let server: AdapterServer;

  beforeAll(async () => {
    const fastify = app();
    // The application's own JSON parser: the gateway's streaming routes must not use it.
    fastify.addContentTypeParser(
      'application/json',
      { parseAs: 'string' },
      (_request, body, done) => {
        done(null, { ...JSON.parse(body as string), addedByAppParser: true });
      },
    );
    fastify.addHook('onRequest', async (_request, reply) => {
      reply.header('x-from-hook', 'kept');
    });
    fastify.register(wardwrightPlugin, { handler, prefix: '/stream' });
    fastify.register(wardwrightPlugin, { handler, prefix: '/parsed', bodyParsing: 'fastify' });
    // Encapsulation: a sibling scope's routes and parsers are the application's business.
    fastify.register(async (scope) => {
      scope.post('/app/echo', async (request) => request.body);
    });
    // Registered inside a prefixed scope of the application: both prefixes apply.
    fastify.register(
      async (scope) => {
        await scope.register(wardwrightPlugin, { handler, prefix: '/inner' });
      },
      { prefix: '/outer' },
    );
    server = await listen(fastify);
  });
  afterAll(async () => {
    await server.close();
  });

  it('streams the raw body past the application parser by default', async () => {
    const response = await fetch(`${server.url}/stream/v1/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{ "a" : 1 }',
    });
    expect(response.status).toBe(201);
    expect(((await response.json()) as { text: string }).text).toBe('{ "a" : 1 }');
    // The application's routes keep their parser.
    const appRoute = await fetch(`${server.url}/app/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    expect(await appRoute.json()).toEqual({ a: 1, addedByAppParser: true });
  });

  it("bodyParsing: 'fastify' re-serialises the body the application's parser produced", async () => {
    const response = await fetch(`${server.url}/parsed/v1/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{ "a" : 1 }',
    });
    const echoed = (await response.json()) as Record<string, unknown>;
    expect(JSON.parse(echoed.text as string)).toEqual({ a: 1, addedByAppParser: true });
    expect(echoed.contentType).toBe('application/json');
  });

  it('serves the openai client through the application parser', async () => {
    const client = new OpenAI({ baseURL: `${server.url}/parsed/v1`, apiKey: 'k', maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'parsed' }],
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('echo: parsed');
  });

  it('keeps headers set by hooks on the reply', async () => {
    const response = await fetch(`${server.url}/stream/v1/echo`);
    expect(response.headers.get('x-from-hook')).toBe('kept');
    expect(response.headers.getSetCookie()).toHaveLength(2);
    await response.arrayBuffer();
  });

  it('respects the enclosing scope prefix and strips both prefixes for the handler', async () => {
    control.reset();
    const response = await fetch(`${server.url}/outer/inner/v1/echo?z=1`);
    expect(response.status).toBe(201);
    expect(((await response.json()) as { path: string }).path).toBe('/v1/echo?z=1');
    expect(control.paths).toEqual(['/v1/echo?z=1']);
    const outside = await fetch(`${server.url}/inner/v1/echo`);
    expect(outside.status).toBe(404);
    await outside.arrayBuffer();
  });
});
