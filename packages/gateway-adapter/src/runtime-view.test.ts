import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AlertSink, memoryAlertSink, type Receipt, type TextProvider } from '@wardwright/core';
import { quickjsSandbox } from '@wardwright/sandbox-quickjs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from './durable/sqlite-store.ts';
import type { GatewayOptions } from './gateway.ts';
import { scriptedProvider } from './providers/scripted.ts';
import type { RuntimeSnapshot } from './runtime.ts';
import { blockArtifact, type Served, serveGateway } from './testing/fixtures.ts';

/**
 * The runtime view tells a rule's decision from a failure, events arrive in request order, and
 * the receipts routes hold to their contract — all through the real HTTP server, which keeps
 * serving afterwards.
 */

let served: Served | undefined;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await served?.close();
  served = undefined;
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const dir = mkdtempSync(join(tmpdir(), 'wardwright-runtime-view-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function post(
  content: string,
  extra: { stream?: boolean; session?: string; model?: string; signal?: AbortSignal } = {},
) {
  return fetch(`${served!.url}/v1/chat/completions`, {
    method: 'POST',
    ...(extra.signal === undefined ? {} : { signal: extra.signal }),
    headers: {
      'content-type': 'application/json',
      ...(extra.session === undefined ? {} : { 'x-wardwright-session-id': extra.session }),
    },
    body: JSON.stringify({
      model: extra.model ?? 'guarded',
      messages: [{ role: 'user', content }],
      ...(extra.stream === undefined ? {} : { stream: extra.stream }),
    }),
  });
}

async function get(path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${served!.url}${path}`);
  return { status: response.status, body: await response.json() };
}

async function modelView(id = 'guarded'): Promise<RuntimeSnapshot['models'][number]> {
  const { status, body } = await get('/v1/wardwright/runtime');
  expect(status).toBe(200);
  const model = (body as RuntimeSnapshot).models.find((m) => m.id === id);
  if (model === undefined) throw new Error(`no model ${id} on /runtime`);
  return model;
}

/** Resolves once `condition` holds (checked every few ms), or rejects after 5 s. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

async function stillServes(model = 'guarded'): Promise<void> {
  const answer = await served!.client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'still there?' }],
  });
  expect(answer.choices[0]?.message.content).toBe('fine');
}

// ---------------------------------------------------------------------------------------------
// /runtime: policy outcomes, failures, rejected input, disconnects
// ---------------------------------------------------------------------------------------------

describe('GET /v1/wardwright/runtime', () => {
  it('counts rule decisions as policy outcomes, not failures; last_failure is a real failure', async () => {
    const backend = quickjsSandbox();
    cleanups.push(() => backend.dispose());
    const provider: TextProvider = async (call) => {
      const last = JSON.stringify(call.messages.at(-1)?.content);
      if (last.includes('upstream down')) {
        return { kind: 'error', status: 'upstream_500', message: 'the upstream is down' };
      }
      if (last.includes('database')) {
        return {
          kind: 'stream',
          chunks: (async function* () {
            yield 'Sure, here is the plan for your database. ';
            yield 'Step one: ';
            yield 'DROP DATABASE prod;';
          })(),
        };
      }
      if (last.includes('linger')) {
        return {
          kind: 'stream',
          chunks: (async function* () {
            yield 'x'.repeat(200); // past the stream rule's horizon: released at once
            // Then the upstream stalls until the engine gives up on it.
            await new Promise((resolve) => call.signal.addEventListener('abort', resolve));
          })(),
        };
      }
      return { kind: 'text', text: 'fine' };
    };
    served = await serveGateway({
      models: [
        {
          artifact: {
            ...blockArtifact,
            request_rules: [
              ...blockArtifact.request_rules,
              { kind: 'script', id: 'picky', script: 'picky' },
            ],
            stream_rules: [
              {
                id: 'no-drop-database',
                action: 'block',
                regex: '(?i)drop\\s+database',
                message: 'destructive database command',
                horizon_bytes: 32,
              },
            ],
            scripts: {
              picky: {
                language: 'javascript',
                limits: { timeout_ms: 50 },
                source:
                  'function decide(input) { if (JSON.stringify(input).includes("spin")) { for (;;) {} } return { actions: [] }; }',
              },
            },
          },
          backends: { quickjs: backend },
          provider,
        },
      ],
    });

    // Answered, then two rule decisions: a request rule and a stream rule.
    expect((await post('hello')).status).toBe(200);
    const blocked = await post('drop table users');
    expect(blocked.status).toBe(403);
    expect(((await blocked.json()) as { error: { code: string } }).error.code).toBe(
      'policy_blocked',
    );
    await (await post('tell me about the database', { stream: true })).text();

    const afterRules = await modelView();
    expect(afterRules).toMatchObject({
      requests: 3,
      completed: 1,
      policy_outcomes: { total: 2, by_status: { policy_blocked: 1, stream_policy_blocked: 1 } },
      failures: 0,
      rejected: 0,
      disconnected: 0,
      last_failure: null,
    });

    // Rejected input: the engine refuses a body nested 5 000 deep (400, counted as rejected).
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const refused = await fetch(`${served.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"model":"guarded","messages":[{"role":"user","content":"hi"}],"x":${deep}}`,
    });
    expect(refused.status).toBe(400);
    await refused.text();

    // Two failures: the upstream, then a script that times out on this input (it fails closed
    // into a block, but the policy did not run: a failure, not a rule's decision).
    const upstream = await post('upstream down');
    expect(upstream.status).toBe(502);
    await upstream.text();
    const spun = await post('spin', { session: 'mallory' });
    expect(spun.status).toBe(403);
    expect(spun.headers.get('x-wardwright-failure-domain')).toBe('session:script');
    const spunId = spun.headers.get('x-wardwright-receipt-id');
    await spun.text();

    // A client that leaves mid-stream: its own count, neither a failure nor last_failure.
    const leaving = new AbortController();
    const lingering = await post('linger', {
      stream: true,
      session: 'mallory',
      signal: leaving.signal,
    });
    expect(lingering.status).toBe(200);
    await lingering.body!.getReader().read();
    leaving.abort();
    await expect.poll(async () => (await modelView()).disconnected).toBe(1);

    const view = await modelView();
    expect({
      requests: view.requests,
      in_flight: view.in_flight,
      completed: view.completed,
      policy_outcomes: view.policy_outcomes,
      failures: view.failures,
      rejected: view.rejected,
      disconnected: view.disconnected,
      by_status: view.by_status,
      failure_domains: view.failure_domains,
    }).toEqual({
      requests: 7,
      in_flight: 0,
      completed: 1,
      policy_outcomes: { total: 2, by_status: { policy_blocked: 1, stream_policy_blocked: 1 } },
      failures: 2,
      rejected: 1,
      disconnected: 1,
      by_status: {
        completed: 1,
        policy_blocked: 2,
        stream_policy_blocked: 1,
        provider_error: 1,
        client_disconnected: 1,
      },
      failure_domains: {
        model: { sandbox: 0, plan: 0, alert_sink: 0, provider: 1, store: 0 },
        session: { script: 1, client: 1 },
        gateway: { shutdown: 0 },
      },
    });
    expect(view.last_failure).toMatchObject({
      scope: 'session',
      cause: 'script',
      session_id: 'mallory',
      receipt_id: spunId,
    });
    const { body } = await get('/v1/wardwright/runtime');
    const mallory = (body as RuntimeSnapshot).sessions.recent.find(
      (s) => s.session_id === 'mallory',
    );
    // The script failure is the session's; the client leaving is not a failure.
    expect(mallory).toMatchObject({ requests: 2, failures: 1 });
    await stillServes();
  });
});

// ---------------------------------------------------------------------------------------------
// /events: per request, receipt → alert queued → alert delivered
// ---------------------------------------------------------------------------------------------

interface Frame {
  event: string;
  data: Record<string, unknown>;
}

/** Reads `/v1/wardwright/events` from the real server into `frames`, in arrival order. */
async function subscribe(): Promise<{ frames: Frame[]; close(): Promise<void> }> {
  const controller = new AbortController();
  const response = await fetch(`${served!.url}/v1/wardwright/events`, {
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  const frames: Frame[] = [];
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const reading = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event !== undefined && data !== undefined) {
            frames.push({ event, data: JSON.parse(data) as Record<string, unknown> });
          }
          end = buffer.indexOf('\n\n');
        }
      }
    } catch {
      // Aborted by close().
    }
  })();
  // The stream is open once the subscriber is counted.
  await expect
    .poll(async () => ((await get('/v1/wardwright/runtime')).body as RuntimeSnapshot).events)
    .toEqual({ subscribers: 1 });
  return {
    frames,
    async close() {
      controller.abort();
      await reading;
    },
  };
}

/**
 * Each frame as `event [phase] receipt-id`; a delivery names no receipt, so its key is looked up
 * in `keys` (idempotency key → receipt id, from the `queued` events).
 */
function line(frame: Frame, keys: ReadonlyMap<string, string>): string {
  const d = frame.data;
  if (frame.event === 'receipt') return `receipt ${String(d.receipt_id)}`;
  const owner = d.receipt_id ?? keys.get(String(d.idempotency_key)) ?? '?';
  return `alert ${String(d.phase)} ${String(owner)}`;
}

const pagingArtifact = (retry?: object) => ({
  ...blockArtifact,
  ...(retry === undefined ? {} : { alerts: { queue: { retry } } }),
  request_rules: [
    {
      kind: 'match',
      id: 'page-me',
      contains: 'fire',
      actions: [{ action: 'alert', severity: 'critical', message: 'fire!' }],
    },
  ],
});

describe('GET /v1/wardwright/events', () => {
  it('sends, for each request, its receipt, then the alert queued, then the alert delivered', async () => {
    // The memory sink delivers at once; the upstream answers only after it has, so every
    // delivery happens before its request's receipt exists.
    const memory = memoryAlertSink();
    let delivered = 0;
    const sink: AlertSink = {
      name: 'memory',
      async deliver(delivery) {
        await memory.deliver(delivery);
        delivered++;
      },
    };
    let calls = 0;
    const provider: TextProvider = async (request) => {
      if (JSON.stringify(request.messages).includes('fire')) {
        const call = ++calls;
        await until(() => delivered >= call);
      }
      return { kind: 'text', text: 'fine' };
    };
    served = await serveGateway({
      models: [{ artifact: pagingArtifact(), provider, alertSinks: { memory: sink } }],
    });
    const events = await subscribe();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await post(`fire ${i}`);
      expect(response.status).toBe(200);
      await response.text();
      ids.push(response.headers.get('x-wardwright-receipt-id')!);
    }
    await expect.poll(() => events.frames.length).toBe(9);
    await events.close();
    const keys = new Map(
      events.frames
        .filter((f) => f.data.phase === 'queued')
        .map((f) => [String(f.data.idempotency_key), String(f.data.receipt_id)]),
    );
    expect(events.frames.map((f) => line(f, keys))).toEqual(
      ids.flatMap((id) => [`receipt ${id}`, `alert queued ${id}`, `alert delivered ${id}`]),
    );
    expect(memory.delivered).toHaveLength(3);
    await stillServes();
  });

  it('holds a failed attempt until the receipt, and sends a retry after it as it happens', async () => {
    const memory = memoryAlertSink();
    memory.failNext(1, 'pager offline');
    let attempts = 0;
    const sink: AlertSink = {
      name: 'memory',
      async deliver(delivery) {
        attempts++;
        await memory.deliver(delivery);
      },
    };
    const provider: TextProvider = async (request) => {
      // The first attempt has failed before the request ends.
      if (JSON.stringify(request.messages).includes('fire')) await until(() => attempts > 0);
      return { kind: 'text', text: 'fine' };
    };
    served = await serveGateway({
      models: [
        {
          artifact: pagingArtifact({ base_delay_ms: 20, max_delay_ms: 20 }),
          provider,
          alertSinks: { memory: sink },
        },
      ],
    });
    const events = await subscribe();
    const response = await post('fire');
    expect(response.status).toBe(200);
    await response.text();
    const id = response.headers.get('x-wardwright-receipt-id')!;
    await expect.poll(() => events.frames.length).toBe(4);
    await events.close();
    const key = String(events.frames.find((f) => f.data.phase === 'queued')?.data.idempotency_key);
    expect(events.frames.map((f) => line(f, new Map([[key, id]])))).toEqual([
      `receipt ${id}`,
      `alert queued ${id}`,
      `alert delivery_failed ${id}`,
      `alert delivered ${id}`,
    ]);
    expect(events.frames[2]?.data.message).toBe('pager offline');
    expect(memory.delivered).toHaveLength(1);
    await stillServes();
  });
});

// ---------------------------------------------------------------------------------------------
// /receipts: a cursor is bound to its filters; ids are decoded
// ---------------------------------------------------------------------------------------------

interface Page {
  object: 'list';
  data: Receipt[];
  next_cursor: string | null;
}

const twoModels = (): GatewayOptions['models'] => [
  { artifact: blockArtifact, provider: scriptedProvider({ text: 'fine' }) },
  {
    artifact: { ...blockArtifact, model: { id: 'other', version: '1' } },
    provider: scriptedProvider({ text: 'fine' }),
  },
];

const differentFilters = {
  error: {
    message:
      'cursor was issued for different filters: page on with the model, session, status, since and until it was issued with, or start again without a cursor',
    type: 'invalid_request_error',
    param: 'cursor',
    code: 'invalid_request',
  },
};

describe.each([
  ['the memory store', async () => ({})],
  [
    'the SQLite store',
    async () => {
      const store = await openSqliteStore<Receipt>({ path: join(dir, `${Date.now()}.db`) });
      cleanups.push(() => store.close());
      return { store };
    },
  ],
])('GET /v1/wardwright/receipts?cursor= with %s', (_name, storeOptions) => {
  it('answers 400 for a cursor passed with other filters; with its own it pages on', async () => {
    served = await serveGateway({ models: twoModels(), ...(await storeOptions()) });
    for (let i = 0; i < 5; i++) {
      for (const model of ['guarded', 'other']) {
        const response = await post(`hello ${i}`, { model });
        expect(response.status).toBe(200);
        await response.text();
      }
    }
    const first = await get('/v1/wardwright/receipts?model=guarded&limit=2');
    expect(first.status).toBe(200);
    const page = first.body as Page;
    expect(page.data.map((r) => r.model.id)).toEqual(['guarded', 'guarded']);
    const cursor = encodeURIComponent(page.next_cursor!);

    // Without its filters, or with others, the cursor is refused — it would page other models.
    for (const query of [
      `cursor=${cursor}`,
      `model=other&cursor=${cursor}`,
      `model=guarded&status=completed&cursor=${cursor}`,
      `model=guarded&session=s&cursor=${cursor}`,
    ]) {
      const refused = await get(`/v1/wardwright/receipts?${query}`);
      expect(refused, query).toEqual({ status: 400, body: differentFilters });
    }
    // A cursor this gateway did not issue.
    const forged = await get(
      `/v1/wardwright/receipts?model=guarded&cursor=${encodeURIComponent(page.next_cursor!.split('.')[0]!)}`,
    );
    expect(forged).toEqual({
      status: 400,
      body: {
        error: {
          message: 'cursor is not a cursor returned by this gateway (pass `next_cursor` as is)',
          type: 'invalid_request_error',
          param: 'cursor',
          code: 'invalid_request',
        },
      },
    });

    // With its filters it pages on (the limit may change), through every guarded receipt once.
    const seen = page.data.map((r) => r.receipt_id);
    let next: string | null = page.next_cursor;
    while (next !== null) {
      const more = await get(
        `/v1/wardwright/receipts?limit=3&model=guarded&cursor=${encodeURIComponent(next)}`,
      );
      expect(more.status).toBe(200);
      const body = more.body as Page;
      expect(body.data.every((r) => r.model.id === 'guarded')).toBe(true);
      seen.push(...body.data.map((r) => r.receipt_id));
      next = body.next_cursor;
    }
    const all = (await get('/v1/wardwright/receipts?model=guarded')).body as Page;
    expect(seen).toEqual(all.data.map((r) => r.receipt_id));
    expect(new Set(seen).size).toBe(5);

    // A time filter is bound by its value: an ISO date pages on a cursor issued for its epoch ms.
    const since = all.data.at(-1)!.created_at_ms;
    const timed = (await get(`/v1/wardwright/receipts?since=${since}&limit=1`)).body as Page;
    const iso = encodeURIComponent(new Date(since).toISOString());
    const onward = await get(
      `/v1/wardwright/receipts?since=${iso}&limit=1&cursor=${encodeURIComponent(timed.next_cursor!)}`,
    );
    expect(onward.status).toBe(200);
    expect((onward.body as Page).data).toHaveLength(1);
    await stillServes();
  });
});

describe('GET /v1/wardwright/receipts/:id', () => {
  it('names the id decoded when it is not found, and answers 400 for a malformed escape', async () => {
    served = await serveGateway({ models: twoModels() });
    const response = await post('hello');
    const id = response.headers.get('x-wardwright-receipt-id')!;
    await response.text();

    expect(await get(`/v1/wardwright/receipts/${encodeURIComponent(id)}`)).toMatchObject({
      status: 200,
      body: { receipt_id: id },
    });
    expect(await get('/v1/wardwright/receipts/rcpt%20gone%C3%A9%2Fx')).toEqual({
      status: 404,
      body: {
        error: {
          message: 'no receipt `rcpt goneé/x` in the store',
          type: 'invalid_request_error',
          param: null,
          code: 'receipt_not_found',
        },
      },
    });
    for (const bad of ['rcpt%E0%A4%A', 'rcpt%ZZ', '%']) {
      expect(await get(`/v1/wardwright/receipts/${bad}`), bad).toEqual({
        status: 400,
        body: {
          error: {
            message: `the receipt id in the path is not valid percent-encoding: \`${bad}\``,
            type: 'invalid_request_error',
            param: null,
            code: 'invalid_request',
          },
        },
      });
    }
    await stillServes();
  });
});
