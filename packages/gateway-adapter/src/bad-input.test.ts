import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
