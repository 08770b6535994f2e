import { connect } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_BODY_BYTES } from './bridge/errors.ts';
import { createGateway } from './gateway.ts';
import { serve } from './node.ts';
import { scriptedProvider } from './providers/scripted.ts';
import { blockArtifact, type Served, serveGateway } from './testing/fixtures.ts';

/**
 * Bad input through the real HTTP server: each mistake gets the status, type and code a client
 * expects and a message naming the problem; it is the client's error, not the model's; and the
 * server keeps serving.
 */

let served: Served;

beforeAll(async () => {
  served = await serveGateway({
    models: [{ artifact: blockArtifact, provider: scriptedProvider([{ text: 'fine' }]) }],
  });
});

afterAll(async () => {
  await served?.close();
});

const post = (body: string) =>
  fetch(`${served.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });

interface ModelRuntime {
  id: string;
  failures: number;
  rejected: number;
  last_failure?: unknown;
}

async function runtimeOf(model: string): Promise<ModelRuntime> {
  const response = await fetch(`${served.url}/v1/wardwright/runtime`);
  const runtime = (await response.json()) as { models: ModelRuntime[] };
  const found = runtime.models.find((m) => m.id === model);
  if (found === undefined) throw new Error(`no model ${model} in /runtime`);
  return found;
}

describe('bad input through the real server', () => {
  it('a body nested 5 000 deep is a 400 naming the limit, the client’s error, and serving goes on', async () => {
    // A ~10 KB body: one field holding arrays 5 000 deep.
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const response = await post(
      `{"model":"guarded","messages":[{"role":"user","content":"hi"}],"x":${deep}}`,
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: {
        message: 'the request nests arrays and objects deeper than 128 levels',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_request',
      },
    });
    // Counted as rejected input, not charged to the model as a failure.
    const model = await runtimeOf('guarded');
    expect(model).toMatchObject({ failures: 0, rejected: 1 });
    expect(model.last_failure ?? null).toBeNull();
    const next = await served.client.chat.completions.create({
      model: 'guarded',
      messages: [{ role: 'user', content: 'still there?' }],
    });
    expect(next.choices[0]?.message.content).toBe('fine');
  });

  it.each([
    ['stream', '"yes"', 'stream: must be a boolean or null'],
    ['n', '2', 'n: must be 1 or null (the gateway answers with one choice)'],
    ['temperature', '"hot"', 'temperature: must be a number or null'],
    ['max_tokens', '1.5', 'max_tokens: must be an integer or null'],
  ])('a wrong %s says what is expected (400, param named)', async (field, value, message) => {
    const response = await post(
      `{"model":"guarded","messages":[{"role":"user","content":"hi"}],"${field}":${value}}`,
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: { message, type: 'invalid_request_error', param: field, code: 'invalid_request' },
    });
  });
});

/** Raw bytes over a socket: for requests no HTTP client would send (stalled, oversized). */
function rawExchange(url: string, bytes: string): Promise<{ text: string; elapsedMs: number }> {
  const { hostname, port } = new URL(url);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(bytes));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ text, elapsedMs: performance.now() - started }));
  });
}

function parseRaw(text: string): {
  status: number;
  headers: Record<string, string>;
  body: unknown;
} {
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const at = line.indexOf(':');
    headers[line.slice(0, at).toLowerCase()] = line.slice(at + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) };
}

describe('client-chosen ids', () => {
  it('a session id over 256 characters is a 400 naming where it came from; 256 is fine', async () => {
    const ask = (headers: Record<string, string>, extra: object = {}) =>
      fetch(`${served.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({
          model: 'guarded',
          messages: [{ role: 'user', content: 'hi' }],
          ...extra,
        }),
      });
    const long = 's'.repeat(8 * 1024);
    const header = await ask({ 'x-wardwright-session-id': long });
    expect(header.status).toBe(400);
    expect(await header.json()).toEqual({
      error: {
        message: 'x-wardwright-session-id: the session id is 8192 characters; at most 256',
        type: 'invalid_request_error',
        param: 'x-wardwright-session-id',
        code: 'invalid_request',
      },
    });
    const user = await ask({}, { user: long });
    expect(user.status).toBe(400);
    expect(((await user.json()) as { error: { param: string } }).error.param).toBe('user');
    expect((await ask({ 'x-wardwright-session-id': 's'.repeat(256) })).status).toBe(200);
  });
});

describe('limits and failures through the real server', () => {
  let upstreamCalls = 0;
  let limits: Served;
  const tinyArtifact = {
    schema: 'wardwright.artifact.v1',
    model: { id: 'tiny', version: '1' },
    targets: [{ model: 'upstream-tiny', context_window: 100 }],
  };
  const failingArtifact = { ...blockArtifact, model: { id: 'failing', version: '1' } };

  beforeAll(async () => {
    limits = await serveGateway({
      models: [
        { artifact: tinyArtifact, provider: scriptedProvider([{ text: 'fits' }]) },
        {
          artifact: failingArtifact,
          // An upstream that always fails, scripted as a status the way a reader would write it.
          provider: scriptedProvider(() => {
            upstreamCalls++;
            return { error: { status: 500 } };
          }),
        },
      ],
    });
  });

  afterAll(async () => {
    await limits?.close();
  });

  it('a prompt longer than every allowed window is 400 context_length_exceeded naming messages', async () => {
    const error = await limits.client.chat.completions
      .create({ model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(2000) }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const bad = error as InstanceType<typeof OpenAI.BadRequestError>;
    expect(bad.code).toBe('context_length_exceeded');
    expect(bad.param).toBe('messages');
    expect(bad.type).toBe('invalid_request_error');
    expect(bad.message).toMatch(
      /the prompt \(about \d+ tokens\) is longer than the context window of every model allowed to serve it \(largest: 100 tokens\)/,
    );
    expect(bad.headers?.get('x-should-retry')).toBe('false');
    const fits = await limits.client.chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'short' }],
    });
    expect(fits.choices[0]?.message.content).toBe('fits');
  });

  it('an upstream that always fails is tried once per request, not once per client retry', async () => {
    // The official client with its default retries (2): the gateway says retrying cannot help.
    const client = new OpenAI({ baseURL: `${limits.url}/v1`, apiKey: 'unused' });
    const before = upstreamCalls;
    const error = await client.chat.completions
      .create({ model: 'failing', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    const failed = error as InstanceType<typeof OpenAI.APIError>;
    expect(failed.status).toBe(502);
    expect(upstreamCalls - before).toBe(1);
    expect(failed.headers?.get('x-should-retry')).toBe('false');
    // The request id is the receipt's, which records the scripted status as the upstream's.
    const id = failed.headers?.get('x-request-id');
    expect(id).toBe(failed.headers?.get('x-wardwright-receipt-id'));
    const receipt = (await (await fetch(`${limits.url}/v1/wardwright/receipts/${id}`)).json()) as {
      attempts: { error?: { status: string } }[];
    };
    expect(receipt.attempts[0]?.error?.status).toBe('upstream_500');
  });

  it('every answer carries an x-request-id: the receipt id, or a fresh one without a receipt', async () => {
    const ok = await limits.client.chat.completions
      .create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    expect(ok.response.headers.get('x-request-id')).toBe(
      ok.response.headers.get('x-wardwright-receipt-id'),
    );
    const notFound = await fetch(`${limits.url}/v1/nowhere`);
    const invalid = await fetch(`${limits.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"model":"tiny"}',
    });
    for (const response of [notFound, invalid]) {
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
      expect(response.headers.get('x-should-retry')).toBe('false');
    }
  });

  it('one body limit and one 413 code, from the adapter and the gateway alike', async () => {
    const declared = parseRaw(
      (
        await rawExchange(
          limits.url,
          `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${DEFAULT_MAX_BODY_BYTES + 1}\r\nconnection: close\r\n\r\n`,
        )
      ).text,
    );
    const expected = {
      error: {
        message: `The request body is over the limit of ${DEFAULT_MAX_BODY_BYTES} bytes (maxBodyBytes)`,
        type: 'invalid_request_error',
        param: null,
        code: 'request_too_large',
      },
    };
    expect(declared.status).toBe(413);
    expect(declared.body).toEqual(expected);
    expect(declared.headers['x-should-retry']).toBe('false');
    expect(declared.headers['x-request-id']).toMatch(/^req_/);
    // The gateway's own check, without an adapter in front: the same answer.
    const direct = await limits.gateway.fetch(
      new Request('http://gateway.test/v1/chat/completions', {
        method: 'POST',
        body: 'x'.repeat(DEFAULT_MAX_BODY_BYTES + 1),
      }),
    );
    expect(direct.status).toBe(413);
    expect(await direct.json()).toEqual(expected);
  });

  it('a gateway with a larger limit lends it to its adapter', async () => {
    const big = await serveGateway({
      models: [{ artifact: tinyArtifact, provider: scriptedProvider([{ text: 'fits' }]) }],
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES + 1024 * 1024,
    });
    try {
      const error = await big.client.chat.completions
        .create({
          model: 'tiny',
          messages: [{ role: 'user', content: 'x'.repeat(DEFAULT_MAX_BODY_BYTES + 1024) }],
        })
        .catch((e: unknown) => e);
      // Past the adapter and parsed by the gateway: too long for the model, not too large.
      expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('context_length_exceeded');
    } finally {
      await big.close();
    }
  });
});

describe('requests that never finish arriving', () => {
  it('are answered 408 request_timeout in the OpenAI shape, and the server keeps serving', async () => {
    const gateway = await createGateway({
      models: [{ artifact: blockArtifact, provider: scriptedProvider([{ text: 'fine' }]) }],
    });
    // Short limits so the test is quick; node checks them about once a second.
    const served = await serve(gateway, { port: 0, headersTimeoutMs: 500, requestTimeoutMs: 1000 });
    try {
      const [body, headers] = await Promise.all([
        rawExchange(
          served.url,
          'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"model":',
        ),
        rawExchange(served.url, 'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n'),
      ]);
      for (const { text, elapsedMs } of [body, headers]) {
        const answer = parseRaw(text);
        expect(answer.status).toBe(408);
        expect(answer.headers['x-should-retry']).toBe('false');
        expect(answer.body).toEqual({
          error: {
            message:
              'the request did not arrive in time: headers within 500 ms (headersTimeoutMs), the whole request within 1000 ms (requestTimeoutMs)',
            type: 'invalid_request_error',
            param: null,
            code: 'request_timeout',
          },
        });
        // Not node's five-minute default (generous: the machine may be busy).
        expect(elapsedMs).toBeLessThan(20_000);
      }
      const next = await fetch(`${served.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'guarded', messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(next.status).toBe(200);
    } finally {
      await served.close();
      await gateway.close();
    }
  });
});
