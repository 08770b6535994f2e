import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AdapterServer,
  createTestHandler,
  describeAdapterContract,
} from './bridge/test-handler.fixtures.ts';
import { wardwright } from './express.ts';

async function listen(app: Express, prefix = ''): Promise<AdapterServer> {
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
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

describeAdapterContract('express', (handler, options) => {
  const app = express();
  app.use(wardwright(handler, options));
  return listen(app);
});

describeAdapterContract(
  'express under app.use(prefix) with express.json() in front',
  (handler, options) => {
    const app = express();
    app.use(express.json());
    app.use('/llm', wardwright(handler, options));
    return listen(app, '/llm');
  },
);

describe('express adapter', () => {
  const { handler, control } = createTestHandler();
  let server: AdapterServer;
  const appErrors: unknown[] = [];

  beforeAll(async () => {
    const app = express();
    // Body parsers in front of the gateway: their parsed bodies are re-serialised.
    app.use('/parsed', express.json(), express.text(), wardwright(handler));
    app.use(wardwright(handler, { mount: '/gw' }));
    app.use('/ft', wardwright(handler, { fallthrough: true }));
    app.use('/next-errors', wardwright(handler, { errors: 'next' }));
    app.get('/ft/v1/nothing-here', (_req, res) => {
      res.send('app route');
    });
    app.get('/gwx/v1/echo', (_req, res) => {
      res.send('not the gateway');
    });
    app.use(
      (
        error: unknown,
        _req: express.Request,
        res: express.Response,
        _next: express.NextFunction,
      ) => {
        appErrors.push(error);
        res.status(599).send('app error handler');
      },
    );
    server = await listen(app);
  });
  afterAll(async () => {
    await server.close();
  });

  it('re-serialises a body express.json() already parsed, with a fresh content-length', async () => {
    const response = await fetch(`${server.url}/parsed/v1/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: '{ "hello" :  "wörld" }',
    });
    const echoed = (await response.json()) as Record<string, unknown>;
    expect(echoed.text).toBe('{"hello":"wörld"}');
    expect(echoed.contentType).toBe('application/json');
    expect(echoed.contentLength).toBeNull();
  });

  it('passes a string body express.text() parsed as is', async () => {
    const response = await fetch(`${server.url}/parsed/v1/echo`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'plain words',
    });
    const echoed = (await response.json()) as Record<string, unknown>;
    expect(echoed).toMatchObject({ text: 'plain words', contentType: 'text/plain' });
  });

  it('serves the openai client behind express.json()', async () => {
    const client = new OpenAI({ baseURL: `${server.url}/parsed/v1`, apiKey: 'k', maxRetries: 0 });
    const completion = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'parsed' }],
    });
    expect(completion.choices[0]?.message.content).toBe('echo: parsed');
  });

  it('mount strips its prefix and leaves other paths to later routes', async () => {
    const response = await fetch(`${server.url}/gw/v1/echo?q=1`);
    expect(response.status).toBe(201);
    expect(((await response.json()) as { path: string }).path).toBe('/v1/echo?q=1');
    const other = await fetch(`${server.url}/gwx/v1/echo`);
    expect(await other.text()).toBe('not the gateway');
  });

  it('fallthrough: true hands a handler 404 to the next route', async () => {
    const response = await fetch(`${server.url}/ft/v1/nothing-here`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('app route');
    const routed = await fetch(`${server.url}/ft/v1/echo`);
    expect(routed.status).toBe(201);
    await routed.arrayBuffer();
  });

  it("errors: 'next' passes a handler throw to the app's error middleware", async () => {
    appErrors.length = 0;
    const response = await fetch(`${server.url}/next-errors/v1/throw`);
    expect(response.status).toBe(599);
    expect(await response.text()).toBe('app error handler');
    expect((appErrors[0] as Error).message).toBe('secret-internal-detail');
  });

  it('sees the path without the app.use prefix', async () => {
    control.reset();
    const response = await fetch(`${server.url}/ft/v1/echo`);
    await response.arrayBuffer();
    expect(control.paths).toEqual(['/v1/echo']);
  });
});
