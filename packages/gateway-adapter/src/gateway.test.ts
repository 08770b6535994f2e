import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scriptedProvider } from './providers/scripted.ts';
import {
  blockArtifact,
  jsonArtifact,
  type Served,
  serveGateway,
  sseData,
  ttsrArtifact,
} from './testing/fixtures.ts';

let served: Served;
const calls: { model: string; messages: unknown[] }[] = [];

beforeAll(async () => {
  served = await serveGateway({
    models: [
      {
        artifact: blockArtifact,
        provider: scriptedProvider((call) => {
          calls.push({ model: call.model, messages: call.messages });
          return { chunks: ['Hello', ', ', 'world'] };
        }),
      },
      {
        artifact: jsonArtifact,
        provider: scriptedProvider([{ text: 'not json' }, { text: '{"answer":"42"}' }]),
      },
      {
        artifact: ttsrArtifact,
        provider: 'coder',
      },
    ],
    providers: {
      coder: scriptedProvider((call) => {
        const last = call.messages.at(-1);
        if (typeof last?.content === 'string' && last.content.includes('drop it')) {
          return {
            chunks: [
              'Sure, here is the plan for your database. ',
              'Step one: ',
              'DROP DATABASE prod;',
            ],
          };
        }
        // The first attempt uses the removed API; the retry (with its reminder) does not.
        return call.attempt_index === 0
          ? { chunks: ['client = OldClient(', 'url)'] }
          : { chunks: ['client = NewClient', '.connect(url)'] };
      }),
    },
  });
});

afterAll(async () => {
  await served.close();
});

interface ErrorJson {
  error: { message: string; type: string; param: string | null; code: string };
}
const errorJson = async (response: Response) => (await response.json()) as ErrorJson;

const ask = (content: string) => [{ role: 'user' as const, content }];

describe('POST /v1/chat/completions with the official openai client', () => {
  it('answers a non-streaming request with a chat.completion, usage and the receipt header', async () => {
    const { data, response } = await served.client.chat.completions
      .create({ model: 'guarded', messages: ask('hi') })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.model).toBe('guarded');
    expect(data.choices[0]?.message.content).toBe('Hello, world');
    expect(data.choices[0]?.finish_reason).toBe('stop');
    expect(data.usage?.completion_tokens).toBe(Math.ceil('Hello, world'.length / 4));
    const id = response.headers.get('x-wardwright-receipt-id');
    expect(id).toMatch(/^rcpt_[0-9a-f]{16}$/);
    const receipt = await served.gateway.runtime.receipts.get(id!);
    expect(receipt?.final.status).toBe('completed');
    expect(receipt?.final.selected_model).toBe('upstream-small');
    expect(calls.at(-1)?.model).toBe('upstream-small');
  });

  it('streams chunks as the engine releases them, then finish, usage and [DONE]', async () => {
    const stream = await served.client.chat.completions.create({
      model: 'guarded',
      messages: ask('hi'),
      stream: true,
      stream_options: { include_usage: true },
    });
    const deltas: string[] = [];
    let finish: string | null | undefined;
    let usage: unknown;
    let receiptId: unknown;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      const choice = chunk.choices[0];
      if (choice?.delta.content) deltas.push(choice.delta.content);
      if (choice?.finish_reason) {
        finish = choice.finish_reason;
        receiptId = (chunk as unknown as { wardwright: { receipt_id: string } }).wardwright
          .receipt_id;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(deltas).toEqual(['Hello', ', ', 'world']);
    expect(finish).toBe('stop');
    expect(usage).toMatchObject({ completion_tokens: 3 });
    const receipt = await served.gateway.runtime.receipts.get(receiptId as string);
    expect(receipt?.request.stream).toBe(true);
  });

  it('refuses a blocked request with 403 in the OpenAI error shape (PermissionDeniedError)', async () => {
    const before = calls.length;
    const error = await served.client.chat.completions
      .create({ model: 'guarded', messages: ask('please DROP TABLE users') })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    const e = error as InstanceType<typeof OpenAI.PermissionDeniedError>;
    expect(e.status).toBe(403);
    expect(e.code).toBe('policy_blocked');
    expect(e.type).toBe('policy_error');
    expect(e.message).toContain('no-drop-table');
    expect(e.headers?.get('x-wardwright-receipt-id')).toMatch(/^rcpt_/);
    expect(calls.length).toBe(before);
  });

  it('refuses a blocked streaming request with 403 too: nothing was sent yet', async () => {
    const error = await served.client.chat.completions
      .create({ model: 'guarded', messages: ask('drop table x'), stream: true })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
  });

  it('retries a malformed structured output with feedback and returns the valid answer', async () => {
    const { data, response } = await served.client.chat.completions
      .create({ model: 'json-answers', messages: ask('the answer?') })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('{"answer":"42"}');
    const receipt = await served.gateway.runtime.receipts.get(
      response.headers.get('x-wardwright-receipt-id')!,
    );
    expect(receipt?.final.status).toBe('completed_after_guard');
    expect(receipt?.attempts).toHaveLength(2);
    expect(receipt?.attempts[1]?.guard_feedback).toBe(true);
  });

  it('retries a TTSR match with a reminder before anything reaches the client', async () => {
    const stream = await served.client.chat.completions.create({
      model: 'coder',
      messages: ask('connect me'),
      stream: true,
    });
    let text = '';
    let receiptId = '';
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      const extra = (chunk as unknown as { wardwright?: { receipt_id: string } }).wardwright;
      if (extra) receiptId = extra.receipt_id;
    }
    expect(text).toBe('client = NewClient.connect(url)');
    expect(text).not.toContain('OldClient');
    const receipt = await served.gateway.runtime.receipts.get(receiptId);
    expect(receipt?.attempts.map((a) => a.reminders.length)).toEqual([0, 1]);
    expect(receipt?.final.status).toBe('completed');
  });

  it('ends a stream with a terminal error event when a block happens after text was released', async () => {
    const stream = await served.client.chat.completions.create({
      model: 'coder',
      messages: ask('drop it'),
      stream: true,
    });
    let text = '';
    const error = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((e: unknown) => e);
    expect(text.length).toBeGreaterThan(0);
    expect(text.toLowerCase()).not.toContain('drop database');
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('stream_policy_blocked');
  });

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
      JSON.stringify({ model: 'guarded', messages: ask('x'.repeat(1024 * 1024 + 10)) }),
    );
    expect(response.status).toBe(413);
    expect((await errorJson(response)).error.code).toBe('body_too_large');
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
