import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAICompatible } from './providers/openai-compatible.ts';
import { type Served, serveGateway } from './testing/fixtures.ts';

/**
 * The total deadline: `timeoutMs` bounds an upstream's silence, not its total time, so one that
 * trickles a byte now and then held requests for over a minute. Through the real server: a
 * trickling upstream is cut at the deadline, whole (504) or streamed (a terminal frame).
 */

let upstream: Server;
let upstreamUrl = '';
let served: Served;

beforeAll(async () => {
  // Streams a word every 100 ms, forever; a whole answer never comes (it trickles whitespace).
  upstream = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      const stream = (JSON.parse(body) as { stream?: boolean }).stream === true;
      res.writeHead(200, {
        'content-type': stream ? 'text/event-stream' : 'application/json',
      });
      const timer = setInterval(() => {
        res.write(
          stream
            ? `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content: 'w ' }, finish_reason: null }] })}\n\n`
            : ' ',
        );
      }, 100);
      res.on('close', () => clearInterval(timer));
    });
  });
  await new Promise<void>((done) => upstream.listen(0, '127.0.0.1', done));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
  served = await serveGateway({
    models: [
      {
        artifact: {
          schema: 'wardwright.artifact.v1',
          model: { id: 'trickle', version: '1' },
          targets: [{ model: 'up', context_window: 100_000 }],
        },
        provider: openAICompatible({ baseURL: upstreamUrl, timeoutMs: 5000, maxRetries: 0 }),
      },
    ],
    deadlineMs: 1500,
  });
});

afterAll(async () => {
  await served?.close();
  upstream.closeAllConnections();
  await new Promise<void>((done) => upstream.close(() => done()));
});

const ask = (stream: boolean, headers: Record<string, string> = {}) =>
  fetch(`${served.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'trickle', stream, messages: [{ role: 'user', content: 'hi' }] }),
  });

// Scheduling on a busy machine may add to it; the point is seconds, not the minute it was.
const SLACK_MS = 1000 + 1500;

describe('the total deadline', () => {
  it('ends a trickling whole answer with 504 deadline_exceeded, soon after the deadline', async () => {
    const started = performance.now();
    const response = await ask(false);
    const elapsed = performance.now() - started;
    expect(response.status).toBe(504);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'deadline_exceeded',
    );
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    expect(elapsed).toBeLessThan(1500 + SLACK_MS);
    const receipt = await served.gateway.runtime.receipts.get(
      response.headers.get('x-wardwright-receipt-id') ?? '',
    );
    expect(receipt?.final).toMatchObject({
      status: 'deadline_exceeded',
      http_status: 504,
      failure_domain: { scope: 'model', cause: 'provider' },
    });
    expect(receipt?.attempts[0]?.status).toBe('deadline_exceeded');
  });

  it('ends a trickling stream with a terminal frame; a client may ask for less, not more', async () => {
    const started = performance.now();
    const response = await ask(true, { 'x-wardwright-deadline-ms': '600' });
    const text = await response.text();
    const elapsed = performance.now() - started;
    expect(response.status).toBe(200);
    expect(text).toContain('"code":"deadline_exceeded"');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(elapsed).toBeLessThan(600 + SLACK_MS);

    const more = await ask(false, { 'x-wardwright-deadline-ms': '999999' });
    expect(more.status).toBe(504); // still the gateway's 1.5 s
    const bad = await ask(false, { 'x-wardwright-deadline-ms': 'soon' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({
      error: {
        param: 'x-wardwright-deadline-ms',
        message: 'x-wardwright-deadline-ms must be a positive integer of milliseconds, not "soon"',
      },
    });
  });
});
