import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Receipt, webhookAlertSink } from '@wardwright/core';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { AlertRecord } from './durable/alert-records.ts';
import { openSqliteStore } from './durable/sqlite-store.ts';
import { createGateway } from './gateway.ts';
import { serve } from './node.ts';
import { scriptedProvider } from './providers/scripted.ts';
import type { RuntimeSnapshot } from './runtime.ts';
import { spawnServe } from './testing/serve-cli.ts';

/**
 * Alerts that survive: a webhook that is down longer than the retry schedule leaves every alert
 * a listed dead letter with an event, and a redrive delivers them; a gateway killed with alerts
 * still queued delivers them after it restarts. A real webhook server, a real SQLite file, the
 * real CLI for the kill.
 */

const dir = mkdtempSync(join(tmpdir(), 'wardwright-durable-alerts-'));
const cleanup: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
  rmSync(dir, { recursive: true, force: true });
});

type Mode = { kind: 'down' } | { kind: 'slow'; delay_ms: number } | { kind: 'up' };

/** A webhook that records every alert it accepted, by idempotency key. */
async function webhook(): Promise<{
  url: string;
  received: Set<string>;
  attempts: { value: number };
  set(mode: Mode): void;
}> {
  const received = new Set<string>();
  const attempts = { value: 0 };
  let mode: Mode = { kind: 'up' };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      attempts.value++;
      const answer = () => {
        if (mode.kind === 'down') {
          res.writeHead(503).end('pager down');
          return;
        }
        const payload = JSON.parse(body) as { alert: { idempotency_key: string } };
        received.add(payload.alert.idempotency_key);
        res.writeHead(204).end();
      };
      if (mode.kind === 'slow') setTimeout(answer, mode.delay_ms);
      else answer();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  cleanup.push(
    () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    received,
    attempts,
    set: (next) => {
      mode = next;
    },
  };
}

const pagingArtifact = (queue: object) => ({
  schema: 'wardwright.artifact.v1',
  model: { id: 'pager-model', version: '1' },
  targets: [{ model: 'upstream', context_window: 100_000 }],
  alerts: { sinks: ['pager'], queue },
  request_rules: [
    {
      kind: 'match',
      id: 'page-me',
      contains: 'fire',
      actions: [{ action: 'alert', severity: 'critical', message: 'fire!' }],
    },
  ],
});

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

async function ask(base: string): Promise<string> {
  const response = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'pager-model',
      messages: [{ role: 'user', content: 'the building is on fire' }],
    }),
  });
  expect(response.status).toBe(200);
  return response.headers.get('x-wardwright-receipt-id')!;
}

/** The `alert` events of `/v1/wardwright/events`, as they arrive. */
async function alertEvents(base: string): Promise<{ events: Record<string, unknown>[] }> {
  const controller = new AbortController();
  const response = await fetch(`${base}/v1/wardwright/events`, { signal: controller.signal });
  const events: Record<string, unknown>[] = [];
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (/^event: alert$/m.test(block) && data !== undefined) events.push(JSON.parse(data));
        }
      }
    } catch {
      // Aborted at the end of the test.
    }
  })();
  cleanup.push(() => controller.abort());
  await vi.waitFor(
    async () => {
      const runtime = await getJson<RuntimeSnapshot>(`${base}/v1/wardwright/runtime`);
      if (runtime.events.subscribers < 1) throw new Error('not subscribed yet');
    },
    { timeout: 10_000, interval: 20 },
  );
  return { events };
}

describe('a sink outage longer than the retry schedule', () => {
  it('leaves every alert a listed dead letter with an event; a redrive delivers them', async () => {
    const hook = await webhook();
    hook.set({ kind: 'down' });
    const store = await openSqliteStore<Receipt>({ path: join(dir, 'outage.db') });
    const gateway = await createGateway({
      models: [
        {
          artifact: pagingArtifact({
            capacity: 100,
            retry: { max_attempts: 2, base_delay_ms: 10, max_delay_ms: 10 },
          }),
          provider: scriptedProvider([{ text: 'on it' }]),
          alertSinks: {
            pager: webhookAlertSink({ name: 'pager', url: hook.url, timeout_ms: 5000 }),
          },
        },
      ],
      store,
    });
    const served = await serve(gateway, { port: 0 });
    cleanup.push(async () => {
      await served.close();
      await gateway.close();
      await store.close();
    });
    const { events } = await alertEvents(served.url);

    const receipts: string[] = [];
    for (let i = 0; i < 5; i++) receipts.push(await ask(served.url));
    const letters = await vi.waitFor(
      async () => {
        const list = await getJson<{ durable: boolean; data: AlertRecord[] }>(
          `${served.url}/v1/wardwright/alerts/dead-letters?model=pager-model`,
        );
        if (list.data.length < 5) throw new Error(`${list.data.length} dead letters so far`);
        return list;
      },
      { timeout: 20_000, interval: 50 },
    );
    expect(letters.durable).toBe(true);
    expect(new Set(letters.data.map((l) => l.receipt_id))).toEqual(new Set(receipts));
    for (const letter of letters.data) {
      expect(letter).toMatchObject({
        status: 'dead_lettered',
        sink: 'pager',
        reason: 'delivery_failed',
        attempts: 2,
        error: expect.stringContaining('503'),
      });
    }
    // An event for each, after its failed attempts.
    await vi.waitFor(() => {
      expect(events.filter((e) => e.phase === 'dead_lettered')).toHaveLength(5);
    });
    for (const event of events.filter((e) => e.phase === 'dead_lettered')) {
      expect(event).toMatchObject({ sink: 'pager', reason: 'delivery_failed', attempts: 2 });
    }
    const runtime = await getJson<RuntimeSnapshot>(`${served.url}/v1/wardwright/runtime`);
    expect(runtime.models[0]?.alert_queues[0]).toMatchObject({
      sink: 'pager',
      depth: 0,
      oldest_queued_age_ms: null,
      dead_lettered: 5,
      delivered: 0,
    });
    // The alert's fate is read by its receipt (the receipt itself is never rewritten).
    const byReceipt = await getJson<{ data: AlertRecord[] }>(
      `${served.url}/v1/wardwright/receipts/${receipts[0]}/alerts`,
    );
    expect(byReceipt.data.map((r) => r.status)).toEqual(['dead_lettered']);

    // A malformed redrive says what is expected and changes nothing.
    const bad = await fetch(`${served.url}/v1/wardwright/alerts/redrive`, {
      method: 'POST',
      body: JSON.stringify({ keys: 'all' }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toBe(
      'keys must be an array of idempotency keys (strings)',
    );

    hook.set({ kind: 'up' });
    const redriven = await fetch(`${served.url}/v1/wardwright/alerts/redrive`, {
      method: 'POST',
      body: JSON.stringify({ model: 'pager-model' }),
    });
    expect(redriven.status).toBe(200);
    expect(((await redriven.json()) as { redriven: number }).redriven).toBe(5);
    await vi.waitFor(
      () => {
        expect(hook.received.size).toBe(5);
      },
      { timeout: 20_000, interval: 50 },
    );
    await vi.waitFor(async () => {
      const after = await getJson<{ data: AlertRecord[] }>(
        `${served.url}/v1/wardwright/receipts/${receipts[0]}/alerts`,
      );
      expect(after.data.map((r) => r.status)).toEqual(['delivered']);
    });
    const left = await getJson<{ data: AlertRecord[] }>(
      `${served.url}/v1/wardwright/alerts/dead-letters`,
    );
    expect(left.data).toEqual([]);
  }, 60_000);
});

describe('without a durable store', () => {
  it('a new version takes the alerts the old one still held; memory dead letters redrive', async () => {
    const hook = await webhook();
    hook.set({ kind: 'down' });
    const artifact = (version: string, max_attempts: number) => ({
      ...pagingArtifact({ retry: { max_attempts, base_delay_ms: 10, max_delay_ms: 10 } }),
      model: { id: 'pager-model', version },
    });
    const sinks = () => ({
      pager: webhookAlertSink({ name: 'pager', url: hook.url, timeout_ms: 5000 }),
    });
    const gateway = await createGateway({
      models: [
        {
          artifact: artifact('1', 1000),
          provider: scriptedProvider([{ text: 'on it' }]),
          alertSinks: sinks(),
        },
      ],
    });
    const served = await serve(gateway, { port: 0 });
    cleanup.push(async () => {
      await served.close();
      await gateway.close();
    });
    for (let i = 0; i < 3; i++) await ask(served.url);
    // v1 keeps retrying (the webhook is down); then v2 replaces it, giving up after one attempt.
    await gateway.runtime.load({
      artifact: artifact('2', 1),
      provider: scriptedProvider([{ text: 'on it' }]),
      alertSinks: sinks(),
    });
    const letters = await vi.waitFor(
      async () => {
        const list = await getJson<{ durable: boolean; data: AlertRecord[] }>(
          `${served.url}/v1/wardwright/alerts/dead-letters`,
        );
        if (list.data.length < 3) throw new Error(`${list.data.length} dead letters so far`);
        return list;
      },
      { timeout: 20_000, interval: 50 },
    );
    expect(letters.durable).toBe(false);
    const queue = (await getJson<RuntimeSnapshot>(`${served.url}/v1/wardwright/runtime`)).models[0]
      ?.alert_queues[0];
    expect(queue).toMatchObject({ restored: 3, dead_lettered: 3, depth: 0 });

    hook.set({ kind: 'up' });
    const redriven = await fetch(`${served.url}/v1/wardwright/alerts/redrive`, {
      method: 'POST',
      body: '{}',
    });
    expect(((await redriven.json()) as { redriven: number }).redriven).toBe(3);
    await vi.waitFor(() => expect(hook.received.size).toBe(3), { timeout: 20_000 });
    const none = await fetch(`${served.url}/v1/wardwright/receipts/rcpt_x/alerts`);
    expect(none.status).toBe(404);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe(
      'alert_records_unavailable',
    );
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------
// SIGKILL with alerts queued toward a slow webhook
// ---------------------------------------------------------------------------------------------

const startServe = (config: string) => spawnServe(config, (step) => cleanup.push(step));

/** Every receipt's alerts the receipt says were queued, by idempotency key, paging the store. */
async function queuedKeys(base: string): Promise<Map<string, string>> {
  const keys = new Map<string, string>();
  let cursor: string | null = null;
  do {
    const page: { data: Receipt[]; next_cursor: string | null } = await getJson(
      `${base}/v1/wardwright/receipts?limit=100${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
    );
    for (const receipt of page.data) {
      for (const alert of receipt.alerts) {
        if (alert.decision.outcome === 'queued')
          keys.set(alert.idempotency_key, receipt.receipt_id);
      }
    }
    cursor = page.next_cursor;
  } while (cursor !== null);
  return keys;
}

describe('a gateway killed with alerts queued', () => {
  it('delivers, after a restart, every alert its receipts say was queued (or lists it dead)', async () => {
    const hook = await webhook();
    // Two deliveries a second (one at a time): sending 60 requests would have to take 30 s for
    // all to be delivered before the kill, even on a slow, busy machine.
    hook.set({ kind: 'slow', delay_ms: 500 });
    await writeFile(
      join(dir, 'pager.json'),
      JSON.stringify(
        pagingArtifact({
          capacity: 1000,
          retry: { max_attempts: 5, base_delay_ms: 50, max_delay_ms: 200 },
        }),
      ),
    );
    const config = join(dir, 'serve.json');
    await writeFile(
      config,
      JSON.stringify({
        listen: { port: 0 },
        models: [{ artifact: 'pager.json', provider: 'canned' }],
        providers: { canned: { kind: 'scripted', replies: [{ text: 'on it' }] } },
        alert_sinks: { pager: { kind: 'webhook', url: hook.url, timeout_ms: 5000 } },
        store: { path: 'kill.db' },
      }),
    );
    const first = await startServe(config);
    const requests = 60;
    let sent = 0;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        while (sent < requests) {
          sent++;
          await ask(first.url);
        }
      }),
    );
    const before = await queuedKeys(first.url);
    expect(before.size).toBe(requests);
    first.child.kill('SIGKILL');
    await first.exit;
    const deliveredBeforeKill = hook.received.size;
    // The kill left alerts owed: the test would prove nothing otherwise.
    expect(deliveredBeforeKill).toBeLessThan(requests);

    hook.set({ kind: 'up' });
    const second = await startServe(config);
    const keys = await queuedKeys(second.url);
    expect(keys).toEqual(before);
    await vi.waitFor(
      async () => {
        const dead = await getJson<{ data: AlertRecord[] }>(
          `${second.url}/v1/wardwright/alerts/dead-letters?limit=1000`,
        );
        const listed = new Set(dead.data.map((l) => l.idempotency_key));
        const missing = [...keys.keys()].filter((k) => !hook.received.has(k) && !listed.has(k));
        if (missing.length > 0)
          throw new Error(`${missing.length} alerts neither delivered nor dead`);
        for (const letter of dead.data) expect(letter.reason).not.toBeNull();
      },
      { timeout: 60_000, interval: 100 },
    );
    const runtime = await getJson<RuntimeSnapshot>(`${second.url}/v1/wardwright/runtime`);
    expect(runtime.models[0]?.alert_queues[0]?.restored).toBeGreaterThan(0);
  }, 120_000);
});
