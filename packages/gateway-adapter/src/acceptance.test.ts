import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve as honoServe } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wardwright } from './express.ts';
import { wardwrightPlugin } from './fastify.ts';
import { wardwrightHono } from './hono.ts';
import {
  acceptanceModels,
  type Listen,
  listenNode,
  type Served,
  serveGateway,
} from './testing/fixtures.ts';

/**
 * The acceptance list, with the official `openai` client, against the real gateway
 * served through each of the four adapters.
 */

function closeServer(server: Server): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
}

const listenExpress: Listen = async (gateway) => {
  const app = express();
  app.use(wardwright(gateway));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: closeServer(server) };
};

const listenFastify: Listen = async (gateway) => {
  const app = Fastify({ forceCloseConnections: true });
  app.register(wardwrightPlugin, { handler: gateway });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
};

const listenHono: Listen = async (gateway) => {
  const app = new Hono();
  app.route('/', wardwrightHono(gateway));
  const server = await new Promise<Server>((resolve) => {
    const s = honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(s as Server),
    );
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: closeServer(server) };
};

const ask = (content: string) => [{ role: 'user' as const, content }];

describe.each([
  ['node serve', listenNode],
  ['express wardwright()', listenExpress],
  ['fastify wardwrightPlugin', listenFastify],
  ['hono on @hono/node-server', listenHono],
] as const)('acceptance under %s with the official openai client', (_name, listen) => {
  let served: Served;
  let calls: ReturnType<typeof acceptanceModels>['calls'];

  beforeAll(async () => {
    const setup = acceptanceModels();
    calls = setup.calls;
    served = await serveGateway(setup.options, {}, listen);
  });

  afterAll(async () => {
    await served.close();
  });

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
    const { data: stream, response } = await served.client.chat.completions
      .create({
        model: 'guarded',
        messages: ask('hi'),
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse();
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
    // The header left before the first text, and names the same receipt as the last frame.
    expect(response.headers.get('x-wardwright-receipt-id')).toBe(receiptId);
    const receipt = await served.gateway.runtime.receipts.get(receiptId as string);
    expect(receipt?.request.stream).toBe(true);
  });

  it('refuses a blocked request with 403 in the OpenAI error shape, without calling upstream', async () => {
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
    // A rule's decision is not a failure: no failure domain.
    expect(e.headers?.get('x-wardwright-failure-domain')).toBeNull();
    expect(calls.length).toBe(before);
    const streamed = await served.client.chat.completions
      .create({ model: 'guarded', messages: ask('drop table x'), stream: true })
      .catch((e: unknown) => e);
    expect(streamed).toBeInstanceOf(OpenAI.PermissionDeniedError);
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

  it('retries a TTSR match with a reminder the client never sees', async () => {
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

  it('ends a stream with a terminal error event when a block happens after release', async () => {
    const stream = await served.client.chat.completions.create({
      model: 'coder',
      messages: ask('drop it'),
      stream: true,
    });
    let text = '';
    const error = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((e: unknown) => e);
    expect(text).toMatch(/^Sure, here is/);
    expect(text.toLowerCase()).not.toContain('drop database');
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('stream_policy_blocked');
  });
});
