import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  compileHistoryStore,
  memoryHistoryStore,
  memoryReceiptStore,
  memoryStateStore,
  type Receipt,
  webhookAlertSink,
} from '@wardwright/core';
import { quickjsSandbox } from '@wardwright/sandbox-quickjs';
import { afterEach, describe, expect, it } from 'vitest';
import { scriptedProvider } from './providers/scripted.ts';
import { failureDomainOf } from './runtime.ts';
import { blockArtifact, type Served, serveGateway } from './testing/fixtures.ts';

/** Every failure is attributed to a model or a session, and one model's trouble stays its own. */

let served: Served | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await served?.close();
  served = undefined;
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const post = (url: string, model: string, content: string, session?: string) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(session === undefined ? {} : { 'x-wardwright-session-id': session }),
    },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
  });

const pagingArtifact = (id: string) => ({
  schema: 'wardwright.artifact.v1',
  model: { id, version: '1' },
  targets: [{ model: 'upstream', context_window: 100_000 }],
  alerts: { sinks: ['hook'], queue: { capacity: 2, on_full: 'fail_closed' } },
  request_rules: [
    {
      kind: 'match',
      id: 'page',
      contains: 'page',
      actions: [{ action: 'alert', severity: 'warning' }],
    },
  ],
});

describe('alert sink backlog', () => {
  it("model A's hanging webhook never delays model B; A's overflow fails closed in A's domain", async () => {
    // A webhook that accepts the connection and never answers.
    const hung: IncomingMessage[] = [];
    const hook = createServer((req) => {
      hung.push(req);
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          hook.close(() => resolve());
          hook.closeAllConnections();
        }),
    );
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`;
    const delivered: string[] = [];
    served = await serveGateway({
      models: [
        {
          artifact: pagingArtifact('model-a'),
          provider: scriptedProvider({ text: 'a' }),
          alertSinks: { hook: webhookAlertSink({ url: hookUrl, timeout_ms: 600_000 }) },
        },
        {
          artifact: pagingArtifact('model-b'),
          provider: scriptedProvider({ text: 'b' }),
          alertSinks: {
            hook: {
              name: 'hook',
              deliver: async ({ alert }) => {
                delivered.push(alert.idempotency_key);
              },
            },
          },
        },
      ],
    });
    const { url, gateway } = served;

    // Fill A's queue: the first delivery hangs, the queue holds two, the next one fails closed.
    const statuses: number[] = [];
    let failed: Response | undefined;
    for (let i = 0; i < 6 && failed === undefined; i++) {
      const response = await post(url, 'model-a', `page ${i}`);
      statuses.push(response.status);
      if (response.status === 503) failed = response;
      else await response.text();
    }
    expect(failed?.status).toBe(503);
    expect(failed?.headers.get('x-wardwright-failure-domain')).toBe('model:alert_sink');
    await failed?.text();
    await expect.poll(() => hung.length).toBe(1);

    // Meanwhile B pages too: every request answers, and its own queue drains.
    let completed = 0;
    for (let i = 0; i < 10; i++) {
      const response = await post(url, 'model-b', `page ${i}`);
      expect(response.status).toBe(200);
      await response.text();
      completed++;
    }
    expect(completed).toBe(10);
    await expect.poll(() => delivered.length).toBe(10);

    const snapshot = gateway.runtime.snapshot();
    const a = snapshot.models.find((m) => m.id === 'model-a')!;
    const b = snapshot.models.find((m) => m.id === 'model-b')!;
    expect(a.alert_queues[0]!.depth).toBeGreaterThan(0);
    expect(a.failure_domains.model.alert_sink).toBe(1);
    expect(a.last_failure).toMatchObject({
      scope: 'model',
      cause: 'alert_sink',
      model: { id: 'model-a', version: '1' },
    });
    expect(b.alert_queues[0]!.depth).toBe(0);
    expect(b.failures).toBe(0);
    expect(b.last_failure).toBeNull();
    // The hung delivery is still pending: B never waited on it.
    expect(hung[0]!.complete).toBe(true);
    expect(hung[0]!.socket.destroyed).toBe(false);
  });
});

describe('a script that fails on one request', () => {
  it("fails closed for that request only, in its session's domain", async () => {
    const backend = quickjsSandbox();
    cleanups.push(() => backend.dispose());
    served = await serveGateway({
      models: [
        {
          artifact: {
            ...blockArtifact,
            request_rules: [{ kind: 'script', id: 'picky', script: 'picky' }],
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
          provider: scriptedProvider({ text: 'fine' }),
        },
      ],
    });
    const { url, gateway } = served;
    const bad = await post(url, 'guarded', 'spin please', 'mallory');
    expect(bad.status).toBeGreaterThanOrEqual(400);
    expect(bad.headers.get('x-wardwright-failure-domain')).toBe('session:script');
    const receipt = await gateway.runtime.receipts.get(bad.headers.get('x-wardwright-receipt-id')!);
    expect(receipt?.sandbox[0]?.failure?.kind).toBe('timeout');
    const good = await post(url, 'guarded', 'hello', 'alice');
    expect(good.status).toBe(200);
    expect(good.headers.get('x-wardwright-failure-domain')).toBeNull();
    await good.text();

    const snapshot = gateway.runtime.snapshot();
    expect(snapshot.models[0]!.failure_domains).toEqual({
      model: { sandbox: 0, plan: 0, alert_sink: 0, provider: 0, store: 0 },
      session: { script: 1, client: 0 },
      gateway: { shutdown: 0 },
    });
    expect(snapshot.models[0]!.last_failure).toMatchObject({
      scope: 'session',
      cause: 'script',
      session_id: 'mallory',
      detail: 'picky: timeout',
      receipt_id: receipt?.receipt_id,
    });
    const sessions = Object.fromEntries(
      snapshot.sessions.recent.map((s) => [s.session_id, s.failures]),
    );
    expect(sessions).toEqual({ mallory: 1, alice: 0 });
  });
});

describe('an engine that throws', () => {
  it('answers 500 and counts a plan failure against the model', async () => {
    const errors: string[] = [];
    // A history whose reads throw (a corrupted index): the engine itself fails, which is not a
    // verdict on the request. (A failed *write* is a store failure instead: 503 store_failed.)
    const history = memoryHistoryStore(compileHistoryStore({}));
    served = await serveGateway({
      models: [
        {
          artifact: {
            ...blockArtifact,
            request_rules: [
              {
                kind: 'history',
                id: 'busy',
                scope: 'session_id',
                threshold: 1000,
                actions: [{ action: 'alert', severity: 'info' }],
              },
            ],
          },
          provider: scriptedProvider({ text: 'x' }),
        },
      ],
      store: {
        receipts: memoryReceiptStore<Receipt>(),
        historyFor: () => ({
          entries: () => {
            throw new Error('disk full');
          },
          insert: (entry, now) => history.insert(entry, now),
        }),
        statesFor: () => memoryStateStore(),
      },
      onError: (_error, where) => errors.push(where),
    });
    const { url, gateway } = served;
    const whole = await post(url, 'guarded', 'hi');
    expect(whole.status).toBe(500);
    await whole.text();
    const streamed = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'guarded',
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    await streamed.text();
    const model = gateway.runtime.snapshot().models[0]!;
    expect(model.failure_domains.model.plan).toBe(2);
    expect(model.last_failure).toMatchObject({
      scope: 'model',
      cause: 'plan',
      detail: 'disk full',
      receipt_id: null,
    });
    expect(errors.length).toBeGreaterThanOrEqual(2);
  });
});

describe('failureDomainOf', () => {
  it("is the engine's attribution, with the model and session it belongs to", () => {
    const receipt = (failure_domain: object | null) =>
      ({
        model: { id: 'm', version: '3' },
        session_id: 's',
        final: { status: 'provider_error', failure_domain },
      }) as unknown as Receipt;
    expect(failureDomainOf(receipt(null))).toBeNull();
    expect(failureDomainOf(receipt({ scope: 'model', cause: 'provider' }))).toEqual({
      scope: 'model',
      cause: 'provider',
      model: { id: 'm', version: '3' },
      session_id: 's',
    });
  });
});
