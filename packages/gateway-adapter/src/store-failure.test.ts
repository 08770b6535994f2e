import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Receipt } from '@wardwright/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from './durable/sqlite-store.ts';
import type { GatewayStore } from './gateway.ts';
import { scriptedProvider } from './providers/scripted.ts';
import type { RuntimeSnapshot } from './runtime.ts';
import { type Served, serveGateway } from './testing/fixtures.ts';

/**
 * A store that fails a write (here on demand, as a full disk would): the request fails closed —
 * 503 `store_failed` naming the store, no receipt, nothing acknowledged — counted against the
 * model; the next request, once the store works again, is served.
 */

const dir = mkdtempSync(join(tmpdir(), 'wardwright-store-failure-'));
let sqlite: SqliteStore<Receipt>;
let served: Served;
const failing = { receipts: false, history: false };
const reported: string[] = [];

beforeAll(async () => {
  sqlite = await openSqliteStore<Receipt>({ path: join(dir, 'store.db') });
  // The real store, with its writes failing while a flag is set.
  const store: GatewayStore = {
    receipts: {
      ...sqlite.receipts,
      append: async (receipt) => {
        if (failing.receipts) throw new Error('SQLITE_FULL: database or disk is full');
        await sqlite.receipts.append(receipt);
      },
      get: (id) => sqlite.receipts.get(id),
      list: (query) => sqlite.receipts.list(query),
      close: async () => {},
    },
    historyFor: (model, config) => {
      const history = sqlite.historyFor(model, config);
      return {
        entries: () => history.entries(),
        insert: (entry, now) => {
          if (failing.history) throw new Error('SQLITE_BUSY: database is locked');
          return history.insert(entry, now);
        },
      };
    },
    statesFor: (model) => sqlite.statesFor(model),
  };
  served = await serveGateway({
    models: [
      {
        artifact: {
          schema: 'wardwright.artifact.v1',
          model: { id: 'kept', version: '1' },
          targets: [{ model: 'up', context_window: 100_000 }],
        },
        provider: scriptedProvider([{ text: 'the answer' }]),
      },
    ],
    store,
    onError: (_error, where) => reported.push(where),
  });
});

afterAll(async () => {
  await served?.close();
  await sqlite?.close();
  rmSync(dir, { recursive: true, force: true });
});

const ask = (stream = false) =>
  fetch(`${served.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'kept', stream, messages: [{ role: 'user', content: 'hi' }] }),
  });

describe('a store that fails a write', () => {
  it('receipts: the request fails closed with 503 store_failed and no receipt; then it recovers', async () => {
    failing.receipts = true;
    const response = await ask();
    failing.receipts = false;
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).not.toBeNull();
    expect(await response.json()).toEqual({
      error: {
        message: 'the receipt store failed a write: SQLITE_FULL: database or disk is full',
        type: 'overloaded_error',
        param: null,
        code: 'store_failed',
      },
    });
    expect((await sqlite.receipts.list({})).receipts).toHaveLength(0);
    const runtime = (await (
      await fetch(`${served.url}/v1/wardwright/runtime`)
    ).json()) as RuntimeSnapshot;
    expect(runtime.models[0]?.failure_domains.model.store).toBe(1);
    expect(runtime.models[0]?.last_failure).toMatchObject({ scope: 'model', cause: 'store' });

    expect(reported).toEqual(['chat completion: a store failed a write']);
    const next = await ask();
    expect(next.status).toBe(200);
    expect((await sqlite.receipts.list({})).receipts).toHaveLength(1);
  });

  it('history: the same, before the model is even called', async () => {
    failing.history = true;
    const whole = await ask();
    const streamed = await ask(true);
    failing.history = false;
    for (const response of [whole, streamed]) {
      expect(response.status).toBe(503);
      expect(((await response.json()) as { error: { message: string } }).error.message).toBe(
        'the history store failed a write: SQLITE_BUSY: database is locked',
      );
    }
    expect((await sqlite.receipts.list({})).receipts).toHaveLength(1);
    expect((await ask()).status).toBe(200);
  });
});
