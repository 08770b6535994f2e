import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../decisions/alert-backpressure.ts';
import { WardwrightError } from '../errors/wardwright-error.ts';
import {
  type AlertDelivery,
  alertPayload,
  memoryAlertSink,
  type WebhookAlertSinkOptions,
  webhookAlertSink,
} from './alert-sinks.ts';

const alert: Alert = {
  idempotency_key: 'rcpt_1:pii:card number:critical',
  rule_id: 'pii',
  severity: 'critical',
  message: 'card number',
  payload: { offset: 12 },
};

function delivery(attempt = 1, signal = new AbortController().signal): AlertDelivery {
  return { alert, model_id: 'gpt-x', model_version: '3', attempt, signal };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

describe('alertPayload', () => {
  it('is the wardwright.alert.v1 shape', () => {
    expect(alertPayload(delivery(2))).toEqual({
      schema: 'wardwright.alert.v1',
      model: { id: 'gpt-x', version: '3' },
      attempt: 2,
      alert,
    });
  });
});

describe('memoryAlertSink', () => {
  it('records deliveries in order', async () => {
    const sink = memoryAlertSink();
    expect(sink.name).toBe('memory');
    const first = delivery(1);
    await sink.deliver(first);
    await sink.deliver(delivery(2));
    expect(sink.delivered.map((d) => d.attempt)).toEqual([1, 2]);
    expect(sink.delivered[0]).toBe(first);
  });

  it('fails the next N attempts, then delivers again', async () => {
    const sink = memoryAlertSink({ name: 'pager' });
    expect(sink.name).toBe('pager');
    sink.failNext(2, 'pager down');
    expect((await rejection(sink.deliver(delivery(1)))).message).toBe('pager down');
    expect((await rejection(sink.deliver(delivery(2)))).message).toBe('pager down');
    await sink.deliver(delivery(3));
    expect(sink.delivered.map((d) => d.attempt)).toEqual([3]);
    sink.failNext(1);
    expect((await rejection(sink.deliver(delivery(4)))).message).toBe('simulated failure');
    sink.failNext(3);
    sink.failNext(0); // replaces the pending count
    await sink.deliver(delivery(5));
    expect(sink.delivered).toHaveLength(2);
  });

  it('refuses an already aborted delivery', async () => {
    const sink = memoryAlertSink();
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    const error = await rejection(sink.deliver(delivery(1, controller.signal)));
    expect(error.message).toBe('memory: delivery aborted');
    expect((error.cause as Error).message).toBe('stop');
    expect(sink.delivered).toHaveLength(0);
  });

  it('validates its arguments', () => {
    const sink = memoryAlertSink();
    expect(() => sink.failNext(-1)).toThrow(/count must be a non-negative integer, got -1/);
    expect(() => sink.failNext(1.5)).toThrow(/count/);
    expect(() => sink.failNext(1, 5 as unknown as string)).toThrow(/message must be a string/);
    expect(() => memoryAlertSink({ name: '' })).toThrow(/name must be a non-empty string/);
    expect(() => memoryAlertSink({ nme: 'x' } as { name?: string })).toThrow(/unknown option/);
    try {
      memoryAlertSink({ name: 3 as unknown as string });
      expect.unreachable();
    } catch (error) {
      expect(WardwrightError.isInstance(error)).toBe(true);
      expect((error as WardwrightError).code).toBe('invalid_argument');
    }
  });
});

describe('webhookAlertSink', () => {
  interface Seen {
    method: string | undefined;
    url: string | undefined;
    headers: IncomingMessage['headers'];
    body: string;
  }
  let close: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  async function serve(
    respond: (res: ServerResponse, seen: Seen) => void,
  ): Promise<{ url: string; seen: Seen[] }> {
    const seen: Seen[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => {
        body += chunk;
      });
      req.on('end', () => {
        const entry = { method: req.method, url: req.url, headers: req.headers, body };
        seen.push(entry);
        respond(res, entry);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    close = () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}/hook?x=1`, seen };
  }

  it('POSTs the JSON payload with content type, idempotency key and custom headers', async () => {
    const { url, seen } = await serve((res) => res.writeHead(204).end());
    const sink = webhookAlertSink({ url, headers: { authorization: 'Bearer t', 'X-Team': 'a' } });
    expect(sink.name).toBe('webhook');
    await sink.deliver(delivery(2));
    expect(seen).toHaveLength(1);
    const [request] = seen;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe('/hook?x=1');
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers.authorization).toBe('Bearer t');
    expect(request!.headers['x-team']).toBe('a');
    expect(request!.headers['idempotency-key']).toBe(alert.idempotency_key);
    expect(JSON.parse(request!.body)).toEqual(alertPayload(delivery(2)));
  });

  it('with batch: true, POSTs several alerts as one alert_batch document, all or none', async () => {
    let status = 204;
    const { url, seen } = await serve((res) => res.writeHead(status).end());
    const other = { ...delivery(1), alert: { ...alert, idempotency_key: 'k2' } };
    const sink = webhookAlertSink({ url, batch: true });
    await sink.deliverBatch!([delivery(1), other]);
    expect(seen).toHaveLength(1);
    expect(JSON.parse(seen[0]!.body)).toEqual({
      schema: 'wardwright.alert_batch.v1',
      alerts: [alertPayload(delivery(1)), alertPayload(other)],
    });
    // One key per batch (a header holds no newline): the same alerts make the same key.
    const key = seen[0]!.headers['idempotency-key'];
    expect(key).toMatch(/^batch-[0-9a-f]{16}$/);
    await sink.deliverBatch!([delivery(1), other]);
    expect(seen[1]!.headers['idempotency-key']).toBe(key);
    status = 503;
    await expect(sink.deliverBatch!([delivery(2), other])).rejects.toThrow('answered 503');
    // Without the option a webhook takes one alert per request.
    expect(webhookAlertSink({ url }).deliverBatch).toBeUndefined();
    expect(() => webhookAlertSink({ url, batch: 'yes' as unknown as boolean })).toThrow(
      'webhookAlertSink: batch must be a boolean',
    );
  });

  it('always sends application/json, whatever content-type the headers name', async () => {
    const { url, seen } = await serve((res) => res.writeHead(200).end('ok'));
    await webhookAlertSink({ url, headers: { 'Content-Type': 'text/plain' } }).deliver(delivery());
    expect(seen[0]!.headers['content-type']).toBe('application/json');
  });

  it('fails a non-2xx answer with the status and the first 200 characters of the body', async () => {
    const body = `${'e'.repeat(199)}Zthis part is cut`;
    const { url } = await serve((res) => res.writeHead(503).end(body));
    const error = await rejection(webhookAlertSink({ url, name: 'ops' }).deliver(delivery()));
    expect(error.message).toBe(`ops: POST ${url} answered 503: ${'e'.repeat(199)}Z`);
  });

  it('reads only the start of a large error body', async () => {
    const { url } = await serve((res) => {
      res.writeHead(500);
      res.write('x'.repeat(300)); // the rest never comes: reading to the end would hang
    });
    const error = await rejection(webhookAlertSink({ url, timeout_ms: 5000 }).deliver(delivery()));
    expect(error.message).toBe(`webhook: POST ${url} answered 500: ${'x'.repeat(200)}`);
  });

  it('fails a non-2xx answer without a body with the status alone', async () => {
    const { url } = await serve((res) => res.writeHead(404).end());
    const error = await rejection(webhookAlertSink({ url }).deliver(delivery()));
    expect(error.message).toBe(`webhook: POST ${url} answered 404`);
  });

  it('does not follow a redirect: a 3xx is a failed attempt', async () => {
    const { url, seen } = await serve((res) =>
      res.writeHead(302, { location: '/elsewhere' }).end(),
    );
    const error = await rejection(webhookAlertSink({ url }).deliver(delivery()));
    expect(error.message).toMatch(/answered 302/);
    expect(seen).toHaveLength(1);
  });

  it('times out a slow receiver after timeout_ms', async () => {
    const { url } = await serve(() => {
      // never answers
    });
    const started = performance.now();
    const error = await rejection(webhookAlertSink({ url, timeout_ms: 50 }).deliver(delivery()));
    expect(error.message).toBe('webhook: timed out after 50 ms');
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('gives up when the delivery signal aborts', async () => {
    const { url } = await serve(() => {});
    const controller = new AbortController();
    const pending = webhookAlertSink({ url, timeout_ms: 10_000 }).deliver(
      delivery(1, controller.signal),
    );
    setTimeout(() => controller.abort(new Error('queue stopped')), 20);
    const error = await rejection(pending);
    expect(error.message).toBe('webhook: delivery aborted');
    controller.abort();
    const again = await rejection(
      webhookAlertSink({ url }).deliver(delivery(1, controller.signal)),
    );
    expect(again.message).toBe('webhook: delivery aborted');
  });

  it('names the network error', async () => {
    const { url } = await serve(() => {});
    await close!();
    close = undefined;
    const error = await rejection(webhookAlertSink({ url }).deliver(delivery()));
    expect(error.message).toMatch(/^webhook: POST http:\/\/127\.0\.0\.1:\d+\/hook\?x=1 failed: /);
    expect(error.message).toMatch(/ECONNREFUSED/);
  });

  it('uses an injected fetch, and names a non-Error failure', async () => {
    const calls: Parameters<typeof fetch>[] = [];
    const fake = (async (...args: Parameters<typeof fetch>) => {
      calls.push(args);
      throw 'plain string';
    }) as typeof fetch;
    const error = await rejection(
      webhookAlertSink({ url: 'https://example.test/a', fetch: fake }).deliver(delivery()),
    );
    expect(error.message).toBe('webhook: POST https://example.test/a failed: plain string');
    expect(calls).toHaveLength(1);
    const ok = (async () => new Response(null, { status: 200 })) as typeof fetch;
    await webhookAlertSink({ url: 'https://example.test/a', fetch: ok }).deliver(delivery());
  });

  it('validates its options with invalid_argument naming the option', () => {
    const make = (options: Partial<WebhookAlertSinkOptions> & Record<string, unknown>) => () =>
      webhookAlertSink(options as WebhookAlertSinkOptions);
    expect(make({ url: 'ftp://x' })).toThrow(/url must be an absolute http: or https: URL/);
    expect(make({ url: 'not a url' })).toThrow(/url .* got "not a url"/);
    expect(make({})).toThrow(/url .* got undefined/);
    expect(make({ url: 'http://x', name: '' })).toThrow(/name must be a non-empty string/);
    expect(make({ url: 'http://x', timeout_ms: 0 })).toThrow(/timeout_ms must be an integer/);
    expect(make({ url: 'http://x', timeout_ms: 1.5 })).toThrow(/timeout_ms .* got 1.5/);
    expect(make({ url: 'http://x', timeout_ms: 2 ** 31 })).toThrow(/timeout_ms/);
    expect(make({ url: 'http://x', headers: [] as never })).toThrow(/headers must be an object/);
    expect(make({ url: 'http://x', headers: { a: 1 } as never })).toThrow(
      /headers.a must be a string, got 1/,
    );
    expect(make({ url: 'http://x', headers: { 'bad header': 'v' } })).toThrow(
      /headers are not valid HTTP headers/,
    );
    expect(make({ url: 'http://x', fetch: 'no' as never })).toThrow(/fetch must be a function/);
    expect(make({ url: 'http://x', retries: 3 })).toThrow(/unknown option `retries`/);
    try {
      make({ url: 'x' })();
      expect.unreachable();
    } catch (error) {
      expect((error as WardwrightError).code).toBe('invalid_argument');
    }
  });
});
