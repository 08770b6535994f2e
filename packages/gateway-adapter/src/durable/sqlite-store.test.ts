import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  compileHistoryStore,
  ManualClock,
  memoryReceiptStore,
  type ReceiptQuery,
  type ReceiptStore,
  type StoredReceipt,
  WardwrightError,
} from '@wardwright/core';
import { build } from 'esbuild';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqlite } from './sqlite-driver.ts';
import { openSqliteStore } from './sqlite-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'wardwright-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `store-${n++}.db`);

const receipt = (
  id: string,
  created_at_ms: number,
  over: { model?: string; session?: string | null; status?: string } = {},
): StoredReceipt & { body: string } => ({
  receipt_id: id,
  created_at_ms,
  model: { id: over.model ?? 'm', version: '1' },
  session_id: over.session === undefined ? 's' : over.session,
  final: { status: over.status ?? 'completed' },
  body: `receipt ${id}`,
});

async function allPages(store: ReceiptStore, query: ReceiptQuery): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null | undefined;
  do {
    const page = await store.list({ ...query, ...(cursor ? { cursor } : {}) });
    ids.push(...page.receipts.map((r) => r.receipt_id));
    cursor = page.next_cursor;
  } while (cursor !== null);
  return ids;
}

describe('openSqliteStore: receipts', () => {
  it('keeps receipts across a reopen, whole, and refuses duplicates and invalid ones', async () => {
    const path = join(dir, `nested-${n++}`, 'deeper', 'store.db');
    const store = await openSqliteStore({ path });
    expect(['node:sqlite', 'better-sqlite3']).toContain(store.driver);
    await store.receipts.append(receipt('a', 10));
    await store.receipts.append(receipt('b', 20, { session: null }));
    await expect(store.receipts.append(receipt('a', 30))).rejects.toThrow(
      'receipt_id "a" is already stored',
    );
    await expect(store.receipts.append({ receipt_id: '' } as StoredReceipt)).rejects.toThrow(
      /receipt `receipt_id` must be a non-empty string/,
    );
    await store.close();
    await expect(store.receipts.get('a')).rejects.toThrow('the store is closed');

    const again = await openSqliteStore({ path });
    expect(await again.receipts.get('b')).toEqual(receipt('b', 20, { session: null }));
    expect(await again.receipts.get('missing')).toBeUndefined();
    expect(await allPages(again.receipts, {})).toEqual(['b', 'a']);
    await again.receipts.close();
  });

  it('lists, filters and pages exactly like the memory store', async () => {
    const receiptArb = fc.record({
      t: fc.integer({ min: 0, max: 20 }),
      model: fc.constantFrom('m1', 'm2'),
      session: fc.constantFrom('s1', 's2', null),
      status: fc.constantFrom('completed', 'policy_blocked'),
    });
    const queryArb = fc.record(
      {
        model_id: fc.constantFrom('m1', 'm2'),
        session_id: fc.constantFrom('s1', 's2'),
        status: fc.constantFrom('completed', 'policy_blocked'),
        since_ms: fc.integer({ min: 0, max: 20 }),
        until_ms: fc.integer({ min: 0, max: 20 }),
        limit: fc.integer({ min: 1, max: 7 }),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(receiptArb, { maxLength: 40 }), queryArb, async (rows, query) => {
        const sqlite = await openSqliteStore({ path: ':memory:' });
        const memory = memoryReceiptStore();
        for (const [i, row] of rows.entries()) {
          const r = receipt(`r${i}`, row.t, row);
          await sqlite.receipts.append(r);
          await memory.append(r);
        }
        expect(await allPages(sqlite.receipts, query)).toEqual(await allPages(memory, query));
        await sqlite.close();
      }),
      { numRuns: 60 },
    );
  });

  it('rejects a bad query like the memory store does, naming the field', async () => {
    const store = await openSqliteStore({ path: ':memory:' });
    await expect(store.receipts.list({ limit: 0 })).rejects.toThrow(
      'limit must be an integer from 1 to 500, got 0',
    );
    await expect(store.receipts.list({ cursor: 'nope!' })).rejects.toThrow(
      'cursor is not a cursor returned by this store',
    );
    await store.close();
  });

  it('prunes by count and by age, at open and on demand', async () => {
    const path = freshPath();
    const clock = new ManualClock(1_000);
    const store = await openSqliteStore({ path, clock, retention: { max_receipts: 3 } });
    for (let i = 0; i < 5; i++) await store.receipts.append(receipt(`r${i}`, 100 * i));
    expect(store.prune()).toBe(2);
    expect(await allPages(store.receipts, {})).toEqual(['r4', 'r3', 'r2']);
    await store.close();

    const aged = await openSqliteStore({ path, clock, retention: { max_age_ms: 750 } });
    expect(await allPages(aged.receipts, {})).toEqual(['r4', 'r3']);
    clock.advance(150); // the cutoff is now 400: r3 goes, r4 (at 400 exactly) stays
    expect(aged.prune()).toBe(1);
    expect(await allPages(aged.receipts, {})).toEqual(['r4']);
    await aged.close();
  });
});

describe('openSqliteStore: history and state', () => {
  const config = compileHistoryStore({ max_entries_per_scope: 2 });
  const entry = (t: number, session: string) => ({
    created_at_ms: t,
    kind: 'request_text' as const,
    key: '',
    scope: { session_id: session },
    text: `at ${t}`,
  });

  it('writes history through, evicts as the core decides, and replays it on reopen', async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path });
    const history = store.historyFor('m', config);
    history.insert(entry(1, 'a'), 1);
    history.insert(entry(2, 'a'), 2);
    history.insert(entry(3, 'a'), 3);
    history.insert(entry(4, 'b'), 4);
    const texts = (h: typeof history) => h.entries().map((e) => e.text);
    expect(texts(history)).toEqual(['at 2', 'at 3', 'at 4']);
    expect(store.historyFor('other', config).entries()).toEqual([]);
    await store.close();

    const again = await openSqliteStore({ path });
    const replayed = again.historyFor('m', config);
    expect(texts(replayed)).toEqual(['at 2', 'at 3', 'at 4']);
    expect(replayed.scoped?.('session_id', 'a')?.map((e) => e.text)).toEqual(['at 2', 'at 3']);
    // Tighter bounds on a new version apply to what was kept.
    const tighter = again.historyFor('m', compileHistoryStore({ max_entries_per_scope: 1 }));
    expect(texts(tighter)).toEqual(['at 3', 'at 4']);
    await again.close();
    const third = await openSqliteStore({ path });
    expect(texts(third.historyFor('m', config))).toEqual(['at 3', 'at 4']);
    await third.close();
  });

  it('keeps state-machine records per model across a reopen', async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path });
    store.statesFor('m').set('review', 's1', { state: 'escalated', taken: { esc: 1 } });
    expect(store.statesFor('other').get('review', 's1')).toBeUndefined();
    await store.close();
    const again = await openSqliteStore({ path });
    expect(again.statesFor('m').get('review', 's1')).toEqual({
      state: 'escalated',
      taken: { esc: 1 },
    });
    await again.close();
  });
});

describe('openSqliteStore: schema and options', () => {
  it('refuses a database from a newer version, and options it does not know', async () => {
    const path = freshPath();
    const db = await openSqlite(path);
    db.exec('PRAGMA user_version = 99');
    db.close();
    const error = await openSqliteStore({ path }).catch((e: unknown) => e);
    expect(WardwrightError.isInstance(error)).toBe(true);
    expect((error as WardwrightError).code).toBe('unavailable');
    expect((error as Error).message).toMatch(/schema version 99, newer than .* knows \(3\)/);

    await expect(
      openSqliteStore({
        path: '',
        driver: 'sqlite4' as 'auto',
        durability: 'never' as 'os',
        retention: { max_receipts: 0, keep: 1 } as { max_receipts: number },
        colour: 1,
      } as never),
    ).rejects.toThrow(
      "openSqliteStore(options): unknown option colour; path must be a non-empty string (a file path, or \":memory:\"); driver must be 'auto', 'node:sqlite' or 'better-sqlite3', not sqlite4; durability must be 'process' or 'os', not never; unknown option retention.keep; retention.max_receipts must be a positive integer, got 0",
    );
    await expect(openSqliteStore(null as never)).rejects.toThrow('options must be an object');
  });

  it('names the driver it needs when the one asked for is missing', async () => {
    const hasBuiltin =
      (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule?.(
        'node:sqlite',
      ) !== undefined;
    if (hasBuiltin) {
      expect((await openSqlite(':memory:', 'node:sqlite')).driver).toBe('node:sqlite');
    } else {
      await expect(openSqlite(':memory:', 'node:sqlite')).rejects.toThrow(
        `node:sqlite is not available in Node ${process.versions.node}`,
      );
    }
  });
});

describe('openSqliteStore: a process killed while appending', () => {
  it('loses no receipt whose append had resolved', async () => {
    // The child runs the store bundled by esbuild (it cannot load TypeScript), from inside the
    // repository so that it resolves better-sqlite3 like an installed package would.
    const root = fileURLToPath(new URL('../../../../', import.meta.url));
    const childDir = join(root, 'node_modules', '.wardwright-test');
    await mkdir(childDir, { recursive: true });
    const bundle = join(childDir, `sqlite-store-${process.pid}.mjs`);
    await build({
      entryPoints: [fileURLToPath(new URL('./sqlite-store.ts', import.meta.url))],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: bundle,
      external: ['better-sqlite3'],
      logLevel: 'silent',
    });
    const path = freshPath();
    const child = join(childDir, `child-${process.pid}.mjs`);
    await writeFile(
      child,
      `import { openSqliteStore } from ${JSON.stringify(bundle)};
const store = await openSqliteStore({ path: process.argv[2] });
for (let i = 0; ; i++) {
  const id = 'r' + i;
  await store.receipts.append({ receipt_id: id, created_at_ms: i, model: { id: 'm', version: '1' },
    session_id: 's', final: { status: 'completed' }, padding: 'x'.repeat(i % 2000) });
  process.stdout.write(id + '\\n');
}
`,
    );
    const proc = spawn(process.execPath, [child, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acknowledged: string[] = [];
    let buffered = '';
    await new Promise<void>((resolve, reject) => {
      proc.on('error', reject);
      proc.on('exit', (code, signal) =>
        signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited ${code} ${signal}`)),
      );
      proc.stdout.setEncoding('utf8');
      proc.stdout.on('data', (text: string) => {
        buffered += text;
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        acknowledged.push(...lines);
        if (acknowledged.length >= 300) proc.kill('SIGKILL');
      });
    });
    expect(acknowledged.length).toBeGreaterThanOrEqual(300);
    const store = await openSqliteStore({ path });
    for (const id of acknowledged) {
      expect(await store.receipts.get(id), id).toBeDefined();
    }
    await store.close();
    rmSync(bundle, { force: true });
    rmSync(child, { force: true });
  });
});
