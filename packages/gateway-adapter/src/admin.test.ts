import { ManualClock, type Receipt } from '@wardwright/core';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256Hex } from './auth.ts';
import { createGateway, type Gateway, type GatewayOptions } from './gateway.ts';
import { scriptedProvider } from './providers/scripted.ts';
import { blockArtifact, jsonArtifact } from './testing/fixtures.ts';

/** The Wardwright routes, the session rule and auth, called through `gateway.fetch` directly. */

const T0 = 1_700_000_000_000;
let gateway: Gateway | undefined;

afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

async function start(extra: Partial<GatewayOptions> = {}) {
  const clock = new ManualClock(T0);
  gateway = await createGateway({
    clock,
    models: [
      { artifact: blockArtifact, provider: scriptedProvider({ text: 'ok' }) },
      { artifact: jsonArtifact, provider: scriptedProvider({ text: '{"answer":"yes"}' }) },
    ],
    ...extra,
  });
  return { gateway, clock };
}

const chat = (
  g: Gateway,
  model: string,
  content: string,
  extra: { headers?: Record<string, string>; body?: Record<string, unknown>; path?: string } = {},
) =>
  g.fetch(
    new Request(`http://gw${extra.path ?? ''}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...extra.headers },
      body: JSON.stringify({ model, messages: [{ role: 'user', content }], ...extra.body }),
    }),
  );

const get = (g: Gateway, path: string, headers: Record<string, string> = {}) =>
  g.fetch(new Request(`http://gw${path}`, { headers }));

interface Page {
  data: Receipt[];
  next_cursor: string | null;
}

describe('GET /v1/wardwright/receipts', () => {
  it('filters by model, session, status and time, newest first, and pages with an opaque cursor', async () => {
    const { gateway: g, clock } = await start();
    for (let i = 0; i < 5; i++) {
      await chat(g, 'guarded', `hello ${i}`, {
        headers: { 'x-wardwright-session-id': `s${i % 2}` },
      });
      clock.advance(1000);
    }
    await chat(g, 'guarded', 'drop table t');
    await chat(g, 'json-answers', 'q');

    const all = (await (await get(g, '/v1/wardwright/receipts')).json()) as Page;
    expect(all.data).toHaveLength(7);
    expect(all.next_cursor).toBeNull();

    const byModel = (await (
      await get(g, '/v1/wardwright/receipts?model=json-answers')
    ).json()) as Page;
    expect(byModel.data.map((r) => r.model.id)).toEqual(['json-answers']);

    const bySession = (await (await get(g, '/v1/wardwright/receipts?session=s1')).json()) as Page;
    expect(bySession.data.map((r) => r.session_id)).toEqual(['s1', 's1']);

    const blocked = (await (
      await get(g, '/v1/wardwright/receipts?status=policy_blocked')
    ).json()) as Page;
    expect(blocked.data).toHaveLength(1);

    const window = (await (
      await get(
        g,
        `/v1/wardwright/receipts?since=${T0 + 1000}&until=${new Date(T0 + 3000).toISOString()}`,
      )
    ).json()) as Page;
    expect(window.data.map((r) => r.created_at_ms)).toEqual([T0 + 2000, T0 + 1000]);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const page = (await (
        await get(g, `/v1/wardwright/receipts?model=guarded&limit=2${query}`)
      ).json()) as Page;
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((r) => r.receipt_id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor !== null);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(6);
    expect(seen).toEqual(all.data.filter((r) => r.model.id === 'guarded').map((r) => r.receipt_id));
  });

  it('answers 400 for an unknown parameter, a bad limit, a bad time or a forged cursor', async () => {
    const { gateway: g } = await start();
    for (const query of ['bogus=1', 'limit=0', 'limit=x', 'since=yesterday', 'cursor=!!']) {
      const response = await get(g, `/v1/wardwright/receipts?${query}`);
      expect(response.status, query).toBe(400);
    }
  });

  it('returns one receipt by id, 404 for an unknown id', async () => {
    const { gateway: g } = await start();
    const id = (await chat(g, 'guarded', 'hi')).headers.get('x-wardwright-receipt-id')!;
    const found = await get(g, `/v1/wardwright/receipts/${id}`);
    expect(((await found.json()) as Receipt).receipt_id).toBe(id);
    expect((await get(g, '/v1/wardwright/receipts/rcpt_0000000000000000')).status).toBe(404);
    expect((await get(g, `/v1/wardwright/receipts/${id}/x`)).status).toBe(404);
    const post = await g.fetch(
      new Request(`http://gw/v1/wardwright/receipts/${id}`, { method: 'POST' }),
    );
    expect(post.status).toBe(405);
  });
});

describe('session id', () => {
  it('comes from the header, else metadata.session_id, else user', async () => {
    const { gateway: g } = await start();
    const sessionOf = async (response: Response) =>
      ((await g.runtime.receipts.get(response.headers.get('x-wardwright-receipt-id')!)) as Receipt)
        .session_id;
    expect(
      await sessionOf(
        await chat(g, 'guarded', 'a', {
          headers: { 'x-wardwright-session-id': 'from-header' },
          body: { metadata: { session_id: 'from-metadata' }, user: 'from-user' },
        }),
      ),
    ).toBe('from-header');
    expect(
      await sessionOf(
        await chat(g, 'guarded', 'a', {
          body: { metadata: { session_id: 'from-metadata' }, user: 'from-user' },
        }),
      ),
    ).toBe('from-metadata');
    expect(await sessionOf(await chat(g, 'guarded', 'a', { body: { user: 'from-user' } }))).toBe(
      'from-user',
    );
    expect(await sessionOf(await chat(g, 'guarded', 'a'))).toBeNull();
  });

  it('honours a custom session header', async () => {
    const { gateway: g } = await start({ sessionHeader: 'X-Conversation' });
    const response = await chat(g, 'guarded', 'a', { headers: { 'x-conversation': 'c1' } });
    const receipt = await g.runtime.receipts.get(response.headers.get('x-wardwright-receipt-id')!);
    expect(receipt?.session_id).toBe('c1');
  });
});

describe('GET /v1/wardwright/runtime', () => {
  it('shows models, versions, counters per model, sessions and alert queue depths', async () => {
    const { gateway: g } = await start();
    await chat(g, 'guarded', 'hi', { headers: { 'x-wardwright-session-id': 'alice' } });
    await chat(g, 'guarded', 'drop table x', { headers: { 'x-wardwright-session-id': 'bob' } });
    await chat(g, 'json-answers', 'q', { headers: { 'x-wardwright-session-id': 'alice' } });
    await chat(g, 'guarded', 5 as unknown as string);
    const snapshot = (await (await get(g, '/v1/wardwright/runtime')).json()) as ReturnType<
      Gateway['runtime']['snapshot']
    >;
    const guarded = snapshot.models.find((m) => m.id === 'guarded')!;
    expect(guarded).toMatchObject({
      version: '1',
      requests: 2,
      completed: 1,
      // The block is a rule's decision, not a failure.
      policy_outcomes: { total: 1, by_status: { policy_blocked: 1 } },
      failures: 0,
      last_failure: null,
      in_flight: 0,
      by_status: { completed: 1, policy_blocked: 1 },
      alert_queues: [{ sink: 'memory', depth: 0 }],
    });
    expect(guarded.artifact_hash).toMatch(/^sha256:/);
    expect(snapshot.models.find((m) => m.id === 'json-answers')?.version).toBe('2');
    expect(snapshot.sessions.seen).toBe(2);
    expect(snapshot.sessions.recent.map((s) => s.session_id)).toEqual(['alice', 'bob']);
    expect(snapshot.sessions.recent[0]?.requests).toBe(2);
  });
});

describe('POST /v1/wardwright/simulate', () => {
  it('runs a fixture against the model plan and returns the receipt', async () => {
    const { gateway: g } = await start();
    const response = await g.fetch(
      new Request('http://gw/v1/wardwright/simulate', {
        method: 'POST',
        body: JSON.stringify({
          model: 'guarded',
          fixture: {
            request: { messages: [{ role: 'user', content: 'drop table users' }] },
            attempts: [{ text: 'never sent' }],
          },
        }),
      }),
    );
    expect(response.status).toBe(200);
    const result = (await response.json()) as { receipt: Receipt; text: string | null };
    expect(result.receipt.simulation).toBe(true);
    expect(result.receipt.final.status).toBe('policy_blocked');
    // Simulation leaves the live store alone.
    expect((await g.runtime.receipts.list()).receipts).toHaveLength(0);
  });

  it('answers 400 naming the bad part, 404 for an unknown model', async () => {
    const { gateway: g } = await start();
    const sim = (body: unknown) =>
      g.fetch(
        new Request('http://gw/v1/wardwright/simulate', {
          method: 'POST',
          body: JSON.stringify(body),
        }),
      );
    const bad = await sim({ model: 'guarded', fixture: { request: { messages: 'x' } } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain(
      'messages',
    );
    expect((await sim({ model: 'guarded' })).status).toBe(400);
    expect((await sim({ model: 'nope', fixture: {} })).status).toBe(404);
  });
});

describe('GET /v1/wardwright/events', () => {
  it('streams receipt events until the client aborts', async () => {
    const { gateway: g } = await start({ heartbeatMs: 5 });
    const controller = new AbortController();
    const response = await g.fetch(
      new Request('http://gw/v1/wardwright/events', { signal: controller.signal }),
    );
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    const id = (await chat(g, 'guarded', 'hello')).headers.get('x-wardwright-receipt-id')!;
    let text = '';
    while (!text.includes(id) || !text.includes(': heartbeat')) {
      const { value } = await reader.read();
      text += decoder.decode(value);
    }
    const frame = text.split('\n\n').find((f) => f.includes(id))!;
    expect(frame.split('\n')[0]).toBe('event: receipt');
    expect(JSON.parse(frame.split('\n')[1]!.slice(6))).toMatchObject({
      receipt_id: id,
      status: 'completed',
      model: { id: 'guarded', version: '1' },
    });
    expect(g.runtime.snapshot().events.subscribers).toBe(1);
    controller.abort();
    await expect.poll(() => g.runtime.snapshot().events.subscribers).toBe(0);
    for (;;) if ((await reader.read()).done) break;
  });

  it('emits alert events: the enqueue decision and the delivery', async () => {
    const { gateway: g } = await start({
      models: [
        {
          artifact: {
            ...blockArtifact,
            request_rules: [
              {
                kind: 'match',
                id: 'page-me',
                contains: 'fire',
                actions: [{ action: 'alert', severity: 'critical', message: 'fire!' }],
              },
            ],
          },
          provider: scriptedProvider({ text: 'ok' }),
        },
      ],
    });
    const response = await g.fetch(new Request('http://gw/v1/wardwright/events'));
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    await chat(g, 'guarded', 'there is a fire');
    let text = '';
    while (!text.includes('"phase":"delivered"') || !text.includes('"phase":"queued"')) {
      const { value } = await reader.read();
      text += decoder.decode(value);
    }
    expect(text).toContain('event: alert');
    expect(text).toContain('"rule_id":"page-me"');
    await reader.cancel();
  });
});

describe('auth', () => {
  const adminToken = 'admin-token-0123456789';
  const key = 'sk-client-key-1';

  it('requires the admin token on /v1/wardwright/* (401 in the OpenAI shape)', async () => {
    const { gateway: g } = await start({ auth: { adminToken } });
    const denied = await get(g, '/v1/wardwright/runtime');
    expect(denied.status).toBe(401);
    expect(((await denied.json()) as { error: { type: string } }).error.type).toBe(
      'authentication_error',
    );
    expect((await get(g, '/v1/wardwright/runtime', { authorization: 'Bearer wrong' })).status).toBe(
      401,
    );
    expect(
      (await get(g, '/v1/wardwright/runtime', { authorization: `bearer ${adminToken}` })).status,
    ).toBe(200);
    // Model calls do not need it.
    expect((await chat(g, 'guarded', 'hi')).status).toBe(200);
  });

  it('checks per-model API keys by SHA-256 digest', async () => {
    const { gateway: g } = await start({ auth: { apiKeys: { guarded: [sha256Hex(key)] } } });
    const auth = { authorization: `Bearer ${key}` };
    expect((await chat(g, 'guarded', 'hi', { headers: auth })).status).toBe(200);
    expect((await chat(g, 'guarded', 'hi')).status).toBe(401);
    expect(
      (await chat(g, 'guarded', 'hi', { headers: { authorization: 'Bearer other' } })).status,
    ).toBe(401);
    // A model with no keys listed accepts none.
    expect((await chat(g, 'json-answers', 'hi', { headers: auth })).status).toBe(401);
    const models = (await (await get(g, '/v1/models', auth)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(['guarded']);
    expect((await get(g, '/v1/models')).status).toBe(401);
  });

  it("accepts '*' keys for every model", async () => {
    const { gateway: g } = await start({ auth: { apiKeys: { '*': [sha256Hex(key)] } } });
    const auth = { authorization: `Bearer ${key}` };
    expect((await chat(g, 'json-answers', 'hi', { headers: auth })).status).toBe(200);
  });

  it('refuses a key given in clear instead of a digest, and a short admin token', async () => {
    await expect(createGateway({ models: [], auth: {} })).rejects.toThrow(/at least one model/);
    await expect(
      createGateway({
        models: [{ artifact: blockArtifact, provider: scriptedProvider({ text: '' }) }],
        auth: { apiKeys: { guarded: [key] } },
      }),
    ).rejects.toThrow(/SHA-256 hex digest/);
    await expect(
      createGateway({
        models: [{ artifact: blockArtifact, provider: scriptedProvider({ text: '' }) }],
        auth: { adminToken: 'short' },
      }),
    ).rejects.toThrow(/at least 16/);
  });
});

describe('basePath and options', () => {
  it('serves every route under basePath and nothing outside it', async () => {
    const { gateway: g } = await start({ basePath: '/llm/' });
    expect((await chat(g, 'guarded', 'hi', { path: '/llm' })).status).toBe(200);
    expect((await chat(g, 'guarded', 'hi')).status).toBe(404);
    expect((await get(g, '/llm/v1/models')).status).toBe(200);
  });

  it('rejects unknown options, duplicate models and unknown provider names', async () => {
    const model = { artifact: blockArtifact, provider: scriptedProvider({ text: '' }) };
    await expect(
      createGateway({ models: [model], port: 1 } as unknown as GatewayOptions),
    ).rejects.toThrow(/unknown option `port`/);
    await expect(createGateway({ models: [model, model] })).rejects.toThrow(/repeats the model id/);
    await expect(
      createGateway({ models: [{ artifact: blockArtifact, provider: 'nope' }] }),
    ).rejects.toThrow(/names `nope`/);
  });

  it('answers 503 with Retry-After when an alert queue fails closed', async () => {
    const { gateway: g } = await start({
      retryAfterSeconds: 7,
      models: [
        {
          artifact: {
            ...blockArtifact,
            alerts: { queue: { capacity: 1, on_full: 'fail_closed' } },
            request_rules: [
              {
                kind: 'match',
                id: 'page',
                contains: 'page',
                actions: [{ action: 'alert', severity: 'warning' }],
              },
            ],
          },
          provider: scriptedProvider({ text: 'ok' }),
          // A sink that never finishes keeps the queue full.
          alertSinks: {
            memory: {
              name: 'memory',
              deliver: ({ signal }) =>
                new Promise<void>((_, reject) =>
                  signal.addEventListener('abort', () => reject(new Error('stopped'))),
                ),
            },
          },
        },
      ],
    });
    let last: Response | undefined;
    for (let i = 0; i < 4 && last?.status !== 503; i++)
      last = await chat(g, 'guarded', `page ${i}`);
    expect(last?.status).toBe(503);
    expect(last?.headers.get('retry-after')).toBe('7');
    expect(((await last!.json()) as { error: { type: string } }).error.type).toBe(
      'overloaded_error',
    );
  });
});
