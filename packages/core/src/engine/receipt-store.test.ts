import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WardwrightError } from '../errors/wardwright-error.ts';
import {
  MAX_RECEIPT_PAGE,
  memoryReceiptStore,
  type ReceiptQuery,
  type ReceiptStore,
  type StoredReceipt,
} from './receipt-store.ts';

interface TestReceipt extends StoredReceipt {
  extra?: string;
}

function receipt(
  id: string,
  created_at_ms: number,
  fields: { model?: string; session?: string | null; status?: string } = {},
): TestReceipt {
  return {
    receipt_id: id,
    created_at_ms,
    model: { id: fields.model ?? 'm', version: '1' },
    session_id: fields.session === undefined ? null : fields.session,
    final: { status: fields.status ?? 'ok' },
  };
}

async function ids(store: ReceiptStore<TestReceipt>, query?: ReceiptQuery): Promise<string[]> {
  return (await store.list(query)).receipts.map((r) => r.receipt_id);
}

async function all(store: ReceiptStore<TestReceipt>, query: ReceiptQuery): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await store.list(cursor === undefined ? query : { ...query, cursor });
    expect(page.receipts.length).toBeLessThanOrEqual(query.limit ?? 50);
    out.push(...page.receipts.map((r) => r.receipt_id));
    if (page.next_cursor === null) return out;
    expect(page.receipts.length).toBe(query.limit ?? 50);
    cursor = page.next_cursor;
  }
  throw new Error('pagination did not end');
}

async function invalidArgument(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(WardwrightError.isInstance(error)).toBe(true);
  expect((error as WardwrightError).code).toBe('invalid_argument');
  expect((error as Error).message).toMatch(pattern);
}

describe('memoryReceiptStore', () => {
  it('gets receipts by id and lists them newest first, ties in append order', async () => {
    const store = memoryReceiptStore<TestReceipt>();
    await store.append(receipt('a', 10));
    await store.append(receipt('b', 30));
    await store.append(receipt('c', 20)); // late: placed by time, not at the end
    await store.append(receipt('d', 20)); // same time as c: after it in append order
    await store.append(receipt('e', 5));
    expect(await ids(store)).toEqual(['b', 'd', 'c', 'a', 'e']);
    expect(await store.get('c')).toEqual(receipt('c', 20));
    expect(await store.get('nope')).toBeUndefined();
  });

  it('keeps the receipt object as given', async () => {
    const store = memoryReceiptStore<TestReceipt>();
    const r = { ...receipt('a', 1), extra: 'kept' };
    await store.append(r);
    expect(await store.get('a')).toBe(r);
  });

  it('rejects a duplicate receipt_id with invalid_argument', async () => {
    const store = memoryReceiptStore<TestReceipt>();
    await store.append(receipt('a', 1));
    await invalidArgument(store.append(receipt('a', 2)), /receipt_id "a" is already stored/);
    expect(await ids(store)).toEqual(['a']);
  });

  it('rejects receipts without the fields a store reads, naming the field', async () => {
    const store = memoryReceiptStore<TestReceipt>();
    const bad = (value: unknown) => store.append(value as TestReceipt);
    await invalidArgument(bad(null), /receipt must be an object/);
    await invalidArgument(bad([]), /receipt must be an object/);
    await invalidArgument(bad({ ...receipt('x', 1), receipt_id: '' }), /`receipt_id`/);
    await invalidArgument(bad({ ...receipt('x', 1), created_at_ms: '1' }), /`created_at_ms`/);
    await invalidArgument(bad({ ...receipt('x', 1), created_at_ms: Number.NaN }), /created_at/);
    await invalidArgument(bad({ ...receipt('x', 1), model: null }), /`model.id`/);
    await invalidArgument(bad({ ...receipt('x', 1), model: { id: 1 } }), /`model.id`/);
    await invalidArgument(bad({ ...receipt('x', 1), model: { id: 'm' } }), /`model.version`/);
    await invalidArgument(bad({ ...receipt('x', 1), session_id: 3 }), /`session_id`/);
    await invalidArgument(bad({ ...receipt('x', 1), final: {} }), /x: `final.status`/);
    await invalidArgument(bad({ ...receipt('x', 1), final: null }), /`final.status`/);
    expect(await ids(store)).toEqual([]);
  });

  it('pages with a limit and an opaque cursor until next_cursor is null', async () => {
    const store = memoryReceiptStore<TestReceipt>();
    for (let i = 0; i < 7; i++) await store.append(receipt(`r${i}`, i));
    const first = await store.list({ limit: 3 });
    expect(first.receipts.map((r) => r.receipt_id)).toEqual(['r6', 'r5', 'r4']);
    expect(first.next_cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    const second = await store.list({ limit: 3, cursor: first.next_cursor! });
    expect(second.receipts.map((r) => r.receipt_id)).toEqual(['r3', 'r2', 'r1']);
    const third = await store.list({ limit: 3, cursor: second.next_cursor! });
    expect(third).toEqual({ receipts: [receipt('r0', 0)], next_cursor: null });
  });

  it('ends with next_cursor null when the last page is exactly full', async () => {
    const store = memoryReceiptStore<TestReceipt>();
    for (let i = 0; i < 4; i++) await store.append(receipt(`r${i}`, i));
    const first = await store.list({ limit: 2 });
    const second = await store.list({ limit: 2, cursor: first.next_cursor! });
    expect(second.receipts.map((r) => r.receipt_id)).toEqual(['r1', 'r0']);
    expect(second.next_cursor).toBeNull();
  });

  it('keeps a cursor stable while newer receipts are appended', async () => {
    const store = memoryReceiptStore<TestReceipt>();
    for (let i = 0; i < 4; i++) await store.append(receipt(`r${i}`, 100));
    const first = await store.list({ limit: 2 });
    await store.append(receipt('new', 100));
    await store.append(receipt('newer', 200));
    const second = await store.list({ limit: 2, cursor: first.next_cursor! });
    expect(second.receipts.map((r) => r.receipt_id)).toEqual(['r1', 'r0']);
  });

  it('defaults to 50 per page and allows at most 500', async () => {
    const store = memoryReceiptStore<TestReceipt>();
    for (let i = 0; i < 600; i++) await store.append(receipt(`r${i}`, i));
    expect((await store.list()).receipts).toHaveLength(50);
    expect((await store.list({})).receipts).toHaveLength(50);
    expect((await store.list({ limit: MAX_RECEIPT_PAGE })).receipts).toHaveLength(500);
    expect(await all(store, { limit: 500 })).toHaveLength(600);
  });

  it('filters by model, session, status and a half-open time window', async () => {
    const store = memoryReceiptStore<TestReceipt>();
    await store.append(receipt('a', 10, { model: 'x', session: 's1', status: 'ok' }));
    await store.append(receipt('b', 20, { model: 'y', session: 's1', status: 'blocked' }));
    await store.append(receipt('c', 30, { model: 'x', session: 's2', status: 'ok' }));
    await store.append(receipt('d', 40, { model: 'x', session: null, status: 'blocked' }));
    expect(await ids(store, { model_id: 'x' })).toEqual(['d', 'c', 'a']);
    expect(await ids(store, { session_id: 's1' })).toEqual(['b', 'a']);
    expect(await ids(store, { status: 'blocked' })).toEqual(['d', 'b']);
    expect(await ids(store, { since_ms: 20 })).toEqual(['d', 'c', 'b']);
    expect(await ids(store, { until_ms: 30 })).toEqual(['b', 'a']);
    expect(await ids(store, { since_ms: 20, until_ms: 40 })).toEqual(['c', 'b']);
    expect(await ids(store, { model_id: 'x', status: 'ok', since_ms: 11 })).toEqual(['c']);
    expect(await ids(store, { model_id: 'nobody' })).toEqual([]);
    expect(await all(store, { model_id: 'x', limit: 1 })).toEqual(['d', 'c', 'a']);
  });

  it('rejects a bad cursor with invalid_argument naming `cursor`', async () => {
    const store = memoryReceiptStore<TestReceipt>();
    await store.append(receipt('a', 1));
    const list = (cursor: unknown) => store.list({ cursor } as ReceiptQuery);
    await invalidArgument(list(42), /cursor must be a string, got 42/);
    await invalidArgument(list('not a cursor!'), /cursor is not a cursor/);
    await invalidArgument(list(''), /cursor is not a cursor/);
    await invalidArgument(list(btoa('1:x')), /cursor is not a cursor/);
    await invalidArgument(list('%%%'), /cursor/);
    await invalidArgument(list('a'), /cursor/); // not decodable base64
    await invalidArgument(list(btoa(`1:${2 ** 60}`)), /cursor/); // seq beyond safe integers
    await invalidArgument(list(btoa(`1e999:1`)), /cursor/); // infinite time
  });

  it('validates query fields, naming each', async () => {
    const store = memoryReceiptStore<TestReceipt>();
    const list = (query: unknown) => store.list(query as ReceiptQuery);
    await invalidArgument(list(null), /receipt query must be an object, got null/);
    await invalidArgument(list('x'), /receipt query must be an object/);
    await invalidArgument(list({ model: 'x' }), /unknown option `model`/);
    await invalidArgument(list({ model_id: 1 }), /model_id must be a string, got 1/);
    await invalidArgument(list({ session_id: null }), /session_id must be a string, got null/);
    await invalidArgument(list({ status: ['a'] }), /status must be a string, got an array/);
    await invalidArgument(list({ since_ms: '5' }), /since_ms must be a finite number.*"5"/);
    await invalidArgument(list({ until_ms: Number.POSITIVE_INFINITY }), /until_ms/);
    await invalidArgument(list({ limit: 0 }), /limit must be an integer from 1 to 500, got 0/);
    await invalidArgument(list({ limit: 501 }), /limit .* got 501/);
    await invalidArgument(list({ limit: 1.5 }), /limit .* got 1.5/);
    await invalidArgument(list({ limit: {} }), /limit .* got an object/);
  });

  it('drops the oldest receipt beyond max_receipts', async () => {
    const store = memoryReceiptStore<TestReceipt>({ max_receipts: 3 });
    await store.append(receipt('a', 10));
    await store.append(receipt('b', 30));
    await store.append(receipt('c', 20));
    await store.append(receipt('d', 40)); // a (the oldest by time) goes
    expect(await ids(store)).toEqual(['d', 'b', 'c']);
    expect(await store.get('a')).toBeUndefined();
    await store.append(receipt('a', 50)); // a forgotten id can be stored again
    expect(await ids(store)).toEqual(['a', 'd', 'b']);
    await store.append(receipt('old', 1)); // older than everything kept: dropped at once
    expect(await ids(store)).toEqual(['a', 'd', 'b']);
  });

  it('stays correct across many drops (the dropped prefix is compacted)', async () => {
    const store = memoryReceiptStore<TestReceipt>({ max_receipts: 10 });
    for (let i = 0; i < 5000; i++) await store.append(receipt(`r${i}`, i));
    expect(await ids(store, { limit: 20 })).toEqual(
      Array.from({ length: 10 }, (_, k) => `r${4999 - k}`),
    );
    expect(await store.get('r4989')).toBeUndefined();
    expect(await store.get('r4990')).toBeDefined();
  });

  it('defaults to 10 000 receipts', async () => {
    const store = memoryReceiptStore<TestReceipt>();
    for (let i = 0; i < 10_001; i++) await store.append(receipt(`r${i}`, i));
    expect(await store.get('r0')).toBeUndefined();
    expect(await store.get('r1')).toBeDefined();
  });

  it('validates its options', () => {
    const make = (options: unknown) => () =>
      memoryReceiptStore(options as { max_receipts?: number });
    expect(make({ max_receipts: 0 })).toThrow(/max_receipts must be a positive integer, got 0/);
    expect(make({ max_receipts: 2.5 })).toThrow(/max_receipts/);
    expect(make({ max: 1 })).toThrow(/unknown option `max`/);
    expect(make(null)).toThrow(/memoryReceiptStore must be an object/);
  });

  it('refuses every operation once closed', async () => {
    const store = memoryReceiptStore<TestReceipt>();
    await store.append(receipt('a', 1));
    await store.close();
    await store.close();
    await invalidArgument(store.append(receipt('b', 1)), /closed/);
    await invalidArgument(store.get('a'), /closed/);
    await invalidArgument(store.list(), /closed/);
  });

  it('property: pages concatenate to the filtered, newest-first, bounded model', async () => {
    const arbReceipt = fc.record({
      t: fc.integer({ min: 0, max: 20 }),
      model: fc.constantFrom('x', 'y'),
      session: fc.constantFrom(null, 's1', 's2'),
      status: fc.constantFrom('ok', 'blocked'),
    });
    const arbQuery = fc.record(
      {
        model_id: fc.constantFrom('x', 'y'),
        session_id: fc.constantFrom('s1', 's2'),
        status: fc.constantFrom('ok', 'blocked'),
        since_ms: fc.integer({ min: 0, max: 20 }),
        until_ms: fc.integer({ min: 0, max: 21 }),
        limit: fc.integer({ min: 1, max: 7 }),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(arbReceipt, { maxLength: 60 }),
        fc.integer({ min: 1, max: 40 }),
        arbQuery,
        async (inputs, max, query) => {
          const store = memoryReceiptStore<TestReceipt>({ max_receipts: max });
          const model = inputs.map((r, seq) => ({
            r: receipt(`r${seq}`, r.t, { model: r.model, session: r.session, status: r.status }),
            seq,
          }));
          for (const { r } of model) await store.append(r);
          const newestFirst = (a: (typeof model)[0], b: (typeof model)[0]) =>
            b.r.created_at_ms - a.r.created_at_ms || b.seq - a.seq;
          // Dropping keeps the newest `max` by (time, append order) at any moment; replaying
          // the appends one by one gives the same set.
          let kept: typeof model = [];
          for (const entry of model) {
            kept.push(entry);
            kept.sort(newestFirst);
            kept = kept.slice(0, max);
          }
          const expected = kept
            .filter(
              ({ r }) =>
                (query.model_id === undefined || r.model.id === query.model_id) &&
                (query.session_id === undefined || r.session_id === query.session_id) &&
                (query.status === undefined || r.final.status === query.status) &&
                (query.since_ms === undefined || r.created_at_ms >= query.since_ms) &&
                (query.until_ms === undefined || r.created_at_ms < query.until_ms),
            )
            .map(({ r }) => r.receipt_id);
          expect(await all(store, query)).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });
});
