import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_BODY_BYTES } from './bridge/errors.ts';
import { acceptanceModels, type Served, serveGateway, sseData } from './testing/fixtures.ts';

let served: Served;

beforeAll(async () => {
  served = await serveGateway(acceptanceModels().options);
});

afterAll(async () => {
  await served.close();
});

interface ErrorJson {
  error: { message: string; type: string; param: string | null; code: string };
}
const errorJson = async (response: Response) => (await response.json()) as ErrorJson;

const ask = (content: string) => [{ role: 'user' as const, content }];

describe('POST /v1/chat/completions (the openai client suite is acceptance.test.ts)', () => {
  it('writes the exact terminal frame: the error object, its receipt, then [DONE]', async () => {
    const response = await fetch(`${served.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'coder', stream: true, messages: ask('drop it') }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const frames = sseData(await response.text());
    expect(frames.at(-1)).toBe('[DONE]');
    const terminal = JSON.parse(frames.at(-2)!);
    expect(terminal.error).toMatchObject({
      type: 'policy_error',
      code: 'stream_policy_blocked',
      param: null,
    });
    expect(terminal.wardwright.http_status).toBe(422);
    const receipt = await served.gateway.runtime.receipts.get(terminal.wardwright.receipt_id);
    expect(receipt?.final.status).toBe('stream_policy_blocked');
    expect(receipt?.final.released_bytes).toBeGreaterThan(0);
  });
});

describe('bad input', () => {
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${served.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });

  it.each([
    [{ model: 'guarded', messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
    [{ model: 'guarded', messages: [] }, 'messages'],
    [{ model: 7, messages: [{ role: 'user', content: 'x' }] }, 'model'],
    [{ messages: [{ role: 'user', content: 'x' }] }, 'model'],
    [{ model: 'guarded', messages: ask('x'), temperature: 'hot' }, 'temperature'],
    [{ model: 'guarded', messages: ask('x'), stream: 'yes' }, 'stream'],
    [{ model: 'guarded', messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role'],
  ])('answers 400 naming the field: %j → %s', async (body, param) => {
    const response = await post(JSON.stringify(body));
    expect(response.status).toBe(400);
    const json = await errorJson(response);
    expect(json.error.param).toBe(param);
    expect(json.error.type).toBe('invalid_request_error');
    expect(json.error.message).toContain(param);
  });

  it('allows unknown fields (OpenAI clients send many)', async () => {
    const response = await post(
      JSON.stringify({
        model: 'guarded',
        messages: ask('x'),
        logit_bias: {},
        seed: 3,
        store: false,
      }),
    );
    expect(response.status).toBe(200);
  });

  it('answers 400 for a body that is not JSON', async () => {
    const response = await post('{"model":');
    expect(response.status).toBe(400);
    expect((await errorJson(response)).error.code).toBe('invalid_json');
  });

  it('answers 404 for an unknown model, naming the governed ones', async () => {
    const error = await served.client.chat.completions
      .create({ model: 'gpt-nope', messages: ask('x') })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    const message = (error as Error).message;
    expect(message).toContain('gpt-nope');
    expect(message).toContain('guarded, json-answers, coder');
  });

  it('answers 413 for a body over maxBodyBytes', async () => {
    const response = await post(
      JSON.stringify({ model: 'guarded', messages: ask('x'.repeat(DEFAULT_MAX_BODY_BYTES + 10)) }),
    );
    expect(response.status).toBe(413);
    expect((await errorJson(response)).error.code).toBe('request_too_large');
  });

  it('answers 405 with Allow for a known route and a wrong method, 404 for an unknown route', async () => {
    const wrong = await fetch(`${served.url}/v1/chat/completions`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    const missing = await fetch(`${served.url}/v2/nothing`);
    expect(missing.status).toBe(404);
    expect((await errorJson(missing)).error.code).toBe('not_found');
  });
});

describe('GET /v1/models', () => {
  it('lists the governed models in the OpenAI list shape', async () => {
    const page = await served.client.models.list();
    expect(page.data.map((m) => m.id)).toEqual(['guarded', 'json-answers', 'coder']);
    expect(page.data[0]).toMatchObject({ object: 'model', owned_by: 'wardwright' });
  });
});
