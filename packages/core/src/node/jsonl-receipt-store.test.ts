import { appendFile, mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StoredReceipt } from '../engine/receipt-store.ts';
import { WardwrightError } from '../errors/wardwright-error.ts';
import { type JsonlWarning, jsonlReceiptStore } from './jsonl-receipt-store.ts';

function receipt(id: string, created_at_ms: number, session: string | null = null): StoredReceipt {
  return {
    receipt_id: id,
    created_at_ms,
    model: { id: 'm', version: '1' },
    session_id: session,
    final: { status: 'ok' },
  };
}

const line = (r: StoredReceipt): string => `${JSON.stringify(r)}\n`;

let dir: string;
let path: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wardwright-jsonl-'));
  path = join(dir, 'nested', 'receipts.jsonl');
});

afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

async function ids(store: {
  list(q?: { limit?: number }): Promise<{ receipts: StoredReceipt[] }>;
}) {
  return (await store.list({ limit: 500 })).receipts.map((r) => r.receipt_id);
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

describe('jsonlReceiptStore', () => {
  it('creates the directory, appends one line per receipt and reads everything back in order', async () => {
    const store = await jsonlReceiptStore({ path });
    expect(store.recovery).toEqual({ records: 0, torn_tail: null });
    await store.append(receipt('a', 10, 's'));
    await store.append(receipt('b', 30));
    await store.append(receipt('c', 20));
    expect(await readFile(path, 'utf8')).toBe(
      line(receipt('a', 10, 's')) + line(receipt('b', 30)) + line(receipt('c', 20)),
    );
    await store.close();

    const reopened = await jsonlReceiptStore({ path });
    expect(reopened.recovery).toEqual({ records: 3, torn_tail: null });
    expect(await ids(reopened)).toEqual(['b', 'c', 'a']);
    expect(await reopened.get('a')).toEqual(receipt('a', 10, 's'));
    expect(await ids({ list: (q) => reopened.list({ ...q, session_id: 's' }) })).toEqual(['a']);
    await reopened.close();
  });

  it('keeps append order for equal times across a reopen', async () => {
    const store = await jsonlReceiptStore({ path, fsync: false });
    for (const id of ['x', 'y', 'z']) await store.append(receipt(id, 5));
    const page = await store.list({ limit: 2 });
    await store.close();
    const reopened = await jsonlReceiptStore({ path });
    expect(await ids(reopened)).toEqual(['z', 'y', 'x']);
    // A cursor from before the reopen still points at the same place.
    const next = await reopened.list({ limit: 2, cursor: page.next_cursor! });
    expect(next.receipts.map((r) => r.receipt_id)).toEqual(['x']);
    await reopened.close();
  });

  it('rejects a duplicate receipt_id, also while the first append is still in flight', async () => {
    const store = await jsonlReceiptStore({ path });
    const first = store.append(receipt('a', 1));
    const second = await rejection(store.append(receipt('a', 2)));
    await first;
    expect(WardwrightError.isInstance(second)).toBe(true);
    expect(second.message).toMatch(/receipt_id "a" is already stored/);
    const third = await rejection(store.append(receipt('a', 3)));
    expect((third as WardwrightError).code).toBe('invalid_argument');
    await store.close();
    expect((await readFile(path, 'utf8')).split('\n')).toHaveLength(2);
  });

  it('rejects an invalid receipt without writing', async () => {
    const store = await jsonlReceiptStore({ path });
    const error = await rejection(store.append({ receipt_id: 'x' } as StoredReceipt));
    expect((error as WardwrightError).code).toBe('invalid_argument');
    expect(error.message).toMatch(/`created_at_ms`/);
    const cyclic = receipt('c', 1) as StoredReceipt & { self?: unknown };
    cyclic.self = cyclic;
    const notJson = await rejection(store.append(cyclic));
    expect(notJson.message).toMatch(/receipt c is not JSON-serialisable/);
    await store.append(receipt('c', 1)); // the id was not reserved by the failed append
    await store.close();
    expect(await readFile(path, 'utf8')).toBe(line(receipt('c', 1)));
  });

  it('lands 50 concurrent appends as 50 separate valid lines', async () => {
    const store = await jsonlReceiptStore({ path });
    const big = 'x'.repeat(20_000); // large lines make interleaving likely if it could happen
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        store.append({ ...receipt(`r${i}`, i), final: { status: big } }),
      ),
    );
    await store.close();
    const lines = (await readFile(path, 'utf8')).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l).receipt_id)).toEqual(
      Array.from({ length: 50 }, (_, i) => `r${i}`),
    );
    const reopened = await jsonlReceiptStore({ path });
    expect(reopened.recovery.records).toBe(50);
    await reopened.close();
  });

  it('moves a torn tail (half a JSON line) aside, and the next append starts on a clean line', async () => {
    const good = line(receipt('a', 1)) + line(receipt('b', 2));
    const half = line(receipt('c', 3)).slice(0, 25);
    path = join(dir, 'receipts.jsonl');
    await writeFile(path, good + half);
    const warnings: JsonlWarning[] = [];
    const store = await jsonlReceiptStore({ path, onWarning: (w) => warnings.push(w) });
    const offset = Buffer.byteLength(good);
    const torn = { offset, bytes: 25, torn_path: `${path}.torn` };
    expect(store.recovery).toEqual({ records: 2, torn_tail: torn });
    expect(warnings).toEqual([{ kind: 'torn_tail', path, ...torn }]);
    expect(await readFile(path, 'utf8')).toBe(good);
    const aside = (await readFile(`${path}.torn`, 'utf8')).trim().split('\n');
    expect(aside).toHaveLength(1);
    const record = JSON.parse(aside[0]!);
    expect(record).toMatchObject({ offset, bytes: 25, text: half });
    expect(Buffer.from(record.base64, 'base64').toString('utf8')).toBe(half);

    await store.append(receipt('d', 4));
    await store.close();
    const reopened = await jsonlReceiptStore({ path });
    expect(reopened.recovery).toEqual({ records: 3, torn_tail: null });
    expect(await ids(reopened)).toEqual(['d', 'b', 'a']);
    await reopened.close();
  });

  it('treats a complete last line that is not JSON as torn', async () => {
    path = join(dir, 'receipts.jsonl');
    await writeFile(path, `${line(receipt('a', 1))}{"receipt_id":\n`);
    const store = await jsonlReceiptStore({ path, fsync: false });
    expect(store.recovery.torn_tail).toMatchObject({ bytes: 15 });
    expect(await ids(store)).toEqual(['a']);
    await store.close();
  });

  it('recovers from a burst of appends cut at any byte (a SIGKILL mid-write, written by hand)', async () => {
    const lines = [1, 2, 3].map((i) => line(receipt(`r${i}`, i)));
    const last = line({ ...receipt('cut', 4), final: { status: 'é😀 multibyte' } });
    const whole = Buffer.from(lines.join('') + last);
    const lastStart = whole.length - Buffer.byteLength(last);
    // Every cut inside the last line, including one through a multibyte UTF-8 sequence and one
    // just before its newline (a whole record that was never acknowledged).
    for (let cut = lastStart + 1; cut < whole.length; cut++) {
      const file = join(dir, `cut-${cut}.jsonl`);
      await writeFile(file, whole.subarray(0, cut));
      const store = await jsonlReceiptStore({ path: file, fsync: false });
      expect(store.recovery.torn_tail).toEqual({
        offset: lastStart,
        bytes: cut - lastStart,
        torn_path: `${file}.torn`,
      });
      await store.append(receipt('next', 9));
      await store.close();
      const reopened = await jsonlReceiptStore({ path: file, fsync: false });
      expect(await ids(reopened)).toEqual(['next', 'r3', 'r2', 'r1']);
      await reopened.close();
    }
  });

  it('appends repeated repairs to the .torn file', async () => {
    path = join(dir, 'receipts.jsonl');
    await writeFile(path, `${line(receipt('a', 1))}{"x`);
    await (await jsonlReceiptStore({ path })).close();
    await appendFile(path, '{"y');
    await (await jsonlReceiptStore({ path })).close();
    const aside = (await readFile(`${path}.torn`, 'utf8')).trim().split('\n');
    expect(aside.map((l) => JSON.parse(l).text)).toEqual(['{"x', '{"y']);
  });

  it('reports corruption before the last line with its line number, and changes nothing', async () => {
    path = join(dir, 'receipts.jsonl');
    const content = `${line(receipt('a', 1))}garbage\n${line(receipt('b', 2))}`;
    await writeFile(path, content);
    const error = await rejection(jsonlReceiptStore({ path }));
    expect(WardwrightError.isInstance(error)).toBe(true);
    expect((error as WardwrightError).code).toBe('invalid_argument');
    expect(error.message).toContain(`receipt store ${path} is corrupt at line 2: not JSON`);
    expect(await readFile(path, 'utf8')).toBe(content);
    await expect(stat(`${path}.torn`)).rejects.toThrow(/ENOENT/);
  });

  it('reports a JSON line that is not a receipt, even as the last line', async () => {
    path = join(dir, 'receipts.jsonl');
    await writeFile(path, `${line(receipt('a', 1))}{"receipt_id":"b"}\n`);
    const error = await rejection(jsonlReceiptStore({ path }));
    expect(error.message).toMatch(/corrupt at line 2: not a receipt: receipt b: `created_at_ms`/);
  });

  it('reports a receipt id that repeats in the file', async () => {
    path = join(dir, 'receipts.jsonl');
    await writeFile(path, line(receipt('a', 1)) + line(receipt('a', 2)));
    const error = await rejection(jsonlReceiptStore({ path }));
    expect(error.message).toMatch(/corrupt at line 2: receipt_id "a" repeats/);
  });

  it('passes on a read error other than a missing file', async () => {
    const error = await rejection(jsonlReceiptStore({ path: dir })); // a directory
    expect(error.message).toMatch(/EISDIR/);
  });

  it('ignores an exception thrown by onWarning', async () => {
    path = join(dir, 'receipts.jsonl');
    await writeFile(path, '{"torn');
    const store = await jsonlReceiptStore({
      path,
      onWarning: () => {
        throw new Error('logger down');
      },
    });
    expect(store.recovery.torn_tail).not.toBeNull();
    await store.close();
  });

  it('closes the file and rejects when the repair fails', async () => {
    path = join(dir, 'receipts.jsonl');
    await writeFile(path, '{"torn');
    await mkdir(`${path}.torn`); // the torn bytes cannot be saved: a directory is in the way
    const error = await rejection(jsonlReceiptStore({ path }));
    expect(error.message).toMatch(/EISDIR/);
    expect(await readFile(path, 'utf8')).toBe('{"torn'); // not truncated before it was saved
  });

  it('rolls a failed append back so the next one starts on a line boundary', async () => {
    const store = await jsonlReceiptStore({ path });
    await store.append(receipt('a', 1));
    const handle = await open(join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(handle) as { datasync: () => Promise<void> };
    await handle.close();
    // The line reaches the file, then the sync fails: the append is not acknowledged.
    vi.spyOn(proto, 'datasync').mockRejectedValueOnce(new Error('EIO: sync failed'));
    const error = await rejection(store.append(receipt('b', 2)));
    expect(error.message).toBe('EIO: sync failed');
    expect(await store.get('b')).toBeUndefined();
    expect(await readFile(path, 'utf8')).toBe(line(receipt('a', 1)));
    await store.append(receipt('b', 2)); // the id is free again
    await store.close();
    expect(await readFile(path, 'utf8')).toBe(line(receipt('a', 1)) + line(receipt('b', 2)));
  });

  it('refuses further appends when a failed append cannot be rolled back', async () => {
    const store = await jsonlReceiptStore({ path });
    const handle = await open(join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(handle) as {
      appendFile: () => Promise<void>;
      truncate: () => Promise<void>;
    };
    await handle.close();
    vi.spyOn(proto, 'appendFile').mockRejectedValueOnce(new Error('ENOSPC'));
    vi.spyOn(proto, 'truncate').mockRejectedValueOnce(new Error('EIO'));
    expect((await rejection(store.append(receipt('a', 1)))).message).toBe('ENOSPC');
    const next = await rejection(store.append(receipt('b', 2)));
    expect(next.message).toMatch(/unusable after a failed append/);
    expect((next.cause as Error).message).toBe('EIO');
    await store.close();
  });

  it('waits for pending appends on close, then refuses every operation', async () => {
    const store = await jsonlReceiptStore({ path });
    const pending = store.append(receipt('a', 1));
    const closing = store.close();
    expect(store.close()).toBe(closing);
    await closing;
    await pending;
    for (const op of [store.append(receipt('b', 2)), store.get('a'), store.list()]) {
      const error = await rejection(op);
      expect(error.message).toMatch(/is closed/);
    }
    expect(await readFile(path, 'utf8')).toBe(line(receipt('a', 1)));
  });

  it('validates its options, naming each', async () => {
    const opening = (options: unknown) =>
      rejection(jsonlReceiptStore(options as Parameters<typeof jsonlReceiptStore>[0]));
    expect((await opening({ path: '' })).message).toMatch(
      /path must be a non-empty string, got ""/,
    );
    expect((await opening({ path: 3 })).message).toMatch(/path must be/);
    expect((await opening({ path, fsync: 'yes' })).message).toMatch(/fsync must be a boolean/);
    expect((await opening({ path, onWarning: 1 })).message).toMatch(/onWarning must be a function/);
    expect((await opening({ path, sync: true })).message).toMatch(/unknown option `sync`/);
    const error = await opening(undefined);
    expect((error as WardwrightError).code).toBe('invalid_argument');
  });
});
