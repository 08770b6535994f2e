import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/config-error.ts';
import { WardwrightError } from '../errors/wardwright-error.ts';
import { schemaIssues } from '../schema/validator.ts';
import {
  type CompiledHistoryStore,
  compileHistoryStore,
  countHistory,
  type EvictedEntry,
  EvictedEntrySchema,
  type EvictionReason,
  EvictionReasonSchema,
  ExpireResultSchema,
  expireEntries,
  type HistoryEntryInput,
  HistoryEntryInputSchema,
  type HistoryFilter,
  HistoryFilterSchema,
  type HistoryStoreState,
  HistoryStoreStateSchema,
  InsertResultSchema,
  initialHistoryStore,
  insertEntry,
  insertEntryInPlace,
  type ReadHistoryOptions,
  ReadHistoryOptionsSchema,
  readHistory,
  ScopeCountSchema,
} from './cache-eviction.ts';
import {
  compareEntries,
  entrySizeBytes,
  type HistoryEntry,
  HistoryEntrySchema,
} from './history-entry.ts';

const input = (over: Partial<HistoryEntryInput> = {}): HistoryEntryInput => ({
  created_at_ms: 0,
  kind: 'tool_call',
  key: 'shell:ls',
  scope: { session_id: 'session-a' },
  text: '',
  ...over,
});

/** Insert every input at `now_ms` (default: its own timestamp); returns the final state. */
function insertAll(
  store: CompiledHistoryStore,
  inputs: readonly HistoryEntryInput[],
  state: HistoryStoreState = initialHistoryStore(),
  now_ms?: number,
): { state: HistoryStoreState; evicted: EvictedEntry[] } {
  const evicted: EvictedEntry[] = [];
  for (const item of inputs) {
    const result = insertEntry(store, state, item, now_ms ?? item.created_at_ms);
    state = result.state;
    evicted.push(...result.evicted);
  }
  return { state, evicted };
}

const sequences = (entries: readonly HistoryEntry[]) => entries.map((e) => e.sequence);

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

describe('history store config', () => {
  it('resolves defaults in code without touching the input', () => {
    const config = {};
    expect(compileHistoryStore(config)).toEqual({
      scope_key: 'session_id',
      max_entries_per_scope: 64,
      max_entries: 10_000,
      max_age_ms: null,
      max_bytes: 64 * 1024 * 1024,
    });
    expect(config).toEqual({});
    expect(Object.isFrozen(compileHistoryStore(config))).toBe(true);
  });

  it('keeps every configured bound', () => {
    expect(
      compileHistoryStore({
        scope_key: 'tenant_id',
        max_entries_per_scope: 3,
        max_entries: 9,
        max_age_ms: 1000,
        max_bytes: 4096,
      }),
    ).toEqual({
      scope_key: 'tenant_id',
      max_entries_per_scope: 3,
      max_entries: 9,
      max_age_ms: 1000,
      max_bytes: 4096,
    });
  });

  it('lists every issue with its path in one ConfigError', () => {
    const error = thrown(() =>
      compileHistoryStore({ max_entries: 0, max_age_ms: 1.5, scope_key: '', max_byte: 10 }),
    );
    expect(ConfigError.isInstance(error)).toBe(true);
    expect((error as ConfigError).issues.map((i) => i.path)).toEqual([
      '$.max_byte',
      '$.scope_key',
      '$.max_entries',
      '$.max_age_ms',
    ]);
    expect((error as ConfigError).issues[0]!.hint).toBe('did you mean `max_bytes`?');
    expect(ConfigError.isInstance(thrown(() => compileHistoryStore(undefined)))).toBe(true);
  });
});

describe('history store vectors (wardwright-semantics §5.5)', () => {
  it('E1 per-scope bound 2: three inserts keep the newest two, read newest first', () => {
    const store = compileHistoryStore({ max_entries_per_scope: 2 });
    let state = initialHistoryStore();
    const assigned: number[] = [];
    const evicted: EvictedEntry[] = [];
    for (const t of [1, 2, 3]) {
      const result = insertEntry(store, state, input({ created_at_ms: t, key: `shell:${t}` }), t);
      state = result.state;
      assigned.push(result.entry.sequence);
      evicted.push(...result.evicted);
    }
    expect(assigned).toEqual([1, 2, 3]);
    expect(sequences(readHistory(state, {}, { limit: 10 }))).toEqual([3, 2]);
    expect(evicted.map((e) => [e.entry.sequence, e.reason])).toEqual([
      [1, 'max_entries_per_scope'],
    ]);
    expect(state.scope_counts).toEqual([{ scope_value: 'session-a', count: 2 }]);
    expect(state.next_sequence).toBe(4);
  });

  it('E1 with the oracle’s global reading (max_entries 2) keeps the same entries', () => {
    const store = compileHistoryStore({ max_entries: 2 });
    const { state, evicted } = insertAll(
      store,
      [1, 2, 3].map((t) => input({ created_at_ms: t })),
    );
    expect(sequences(readHistory(state))).toEqual([3, 2]);
    expect(evicted.map((e) => e.reason)).toEqual(['max_entries']);
  });

  it('E3 an entry older than everything retained is evicted by its own insert', () => {
    const store = compileHistoryStore({ max_entries: 2 });
    let { state } = insertAll(store, [input({ created_at_ms: 10 }), input({ created_at_ms: 10 })]);
    const third = insertEntry(store, state, input({ created_at_ms: 5 }), 10);
    expect(third.entry.sequence).toBe(3);
    expect(third.evicted).toEqual([{ entry: third.entry, reason: 'max_entries' }]);
    state = third.state;
    expect(sequences(state.entries)).toEqual([1, 2]);
    const fourth = insertEntry(store, state, input({ created_at_ms: 10 }), 10);
    expect(fourth.evicted.map((e) => e.entry.sequence)).toEqual([1]);
    expect(sequences(fourth.state.entries)).toEqual([2, 4]);
  });

  it('E3 under the per-scope bound names that bound', () => {
    const store = compileHistoryStore({ max_entries_per_scope: 2 });
    const { state, evicted } = insertAll(
      store,
      [10, 10, 5, 10].map((t) => input({ created_at_ms: t })),
      initialHistoryStore(),
      10,
    );
    expect(evicted.map((e) => [e.entry.sequence, e.reason])).toEqual([
      [3, 'max_entries_per_scope'],
      [1, 'max_entries_per_scope'],
    ]);
    expect(sequences(state.entries)).toEqual([2, 4]);
  });

  it('E4 kind and key filters are conjunctive', () => {
    const store = compileHistoryStore({});
    const { state } = insertAll(store, [
      input({ created_at_ms: 1, kind: 'tool_call', key: 'shell:ls' }),
      input({ created_at_ms: 2, kind: 'tool_call', key: 'shell:rm' }),
      input({ created_at_ms: 3, kind: 'response_text', key: 'shell:ls' }),
    ]);
    const filter = { kind: 'tool_call', key: 'shell:ls' };
    expect(sequences(readHistory(state, filter))).toEqual([1]);
    expect(countHistory(state, filter)).toBe(1);
    expect(countHistory(state, { kind: 'tool_call' })).toBe(2);
    expect(countHistory(state, { key: 'shell:ls' })).toBe(2);
  });

  it('E5 per-scope bound 2 with sessions a(3) and b(1) keeps 3 entries', () => {
    const store = compileHistoryStore({ max_entries_per_scope: 2 });
    const a = (t: number) => input({ created_at_ms: t, scope: { session_id: 'session-a' } });
    const b = (t: number) => input({ created_at_ms: t, scope: { session_id: 'session-b' } });
    const { state } = insertAll(store, [a(1), a(2), b(2), a(3)]);
    expect(state.entries).toHaveLength(3);
    expect(state.scope_counts).toEqual([
      { scope_value: 'session-a', count: 2 },
      { scope_value: 'session-b', count: 1 },
    ]);
    expect(readHistory(state, { scope: { session_id: 'session-a' } }, { limit: 10 })).toHaveLength(
      2,
    );
    expect(countHistory(state, { scope: { session_id: 'session-b' } })).toBe(1);
    // The cross-session read: ties on created_at (a(2) seq 2, b(2) seq 3) broken by sequence.
    expect(sequences(readHistory(state, { kind: 'tool_call' }))).toEqual([4, 3, 2]);
  });

  it('differs from the original: max_entries is global, the per-session bound is max_entries_per_scope', () => {
    // The original evicted per session store only (64 per session); the oracle evicted
    // globally. We keep both bounds and an entry must be inside each.
    const store = compileHistoryStore({ max_entries: 3 });
    const { state, evicted } = insertAll(
      store,
      ['a', 'b', 'c', 'd'].map((s, i) => input({ created_at_ms: i, scope: { session_id: s } })),
    );
    expect(state.entries.map((e) => e.scope.session_id)).toEqual(['b', 'c', 'd']);
    expect(evicted.map((e) => e.reason)).toEqual(['max_entries']);

    const perScopeDefault = compileHistoryStore({});
    const many = Array.from({ length: 65 }, (_, t) => input({ created_at_ms: t }));
    const kept = insertAll(perScopeDefault, many);
    expect(kept.state.entries).toHaveLength(64);
    expect(kept.evicted.map((e) => [e.entry.sequence, e.reason])).toEqual([
      [1, 'max_entries_per_scope'],
    ]);
  });
});

describe('intersection of bounds', () => {
  it('drops entries older than max_age_ms on insert; an entry exactly max_age_ms old stays', () => {
    const store = compileHistoryStore({ max_age_ms: 100 });
    const { state } = insertAll(
      store,
      [0, 50, 100].map((t) => input({ created_at_ms: t })),
    );
    const result = insertEntry(store, state, input({ created_at_ms: 150 }), 150);
    expect(result.evicted.map((e) => [e.entry.sequence, e.reason])).toEqual([[1, 'max_age']]);
    expect(sequences(result.state.entries)).toEqual([2, 3, 4]);
  });

  it('expireEntries sweeps by age only and leaves fresh states untouched', () => {
    const store = compileHistoryStore({ max_age_ms: 10, max_entries_per_scope: 1 });
    const { state } = insertAll(store, [
      input({ created_at_ms: 0, scope: { session_id: 'a' } }),
      input({ created_at_ms: 5, scope: { session_id: 'b' } }),
      input({ created_at_ms: 9, scope: {} }),
    ]);
    expect(expireEntries(store, state, 10).state).toBe(state);
    const swept = expireEntries(store, state, 15);
    expect(swept.evicted.map((e) => [e.entry.sequence, e.reason])).toEqual([[1, 'max_age']]);
    expect(swept.state.scope_counts).toEqual([
      { scope_value: '', count: 1 },
      { scope_value: 'b', count: 1 },
    ]);
    expect(swept.state.next_sequence).toBe(state.next_sequence);
    expect(swept.state.total_bytes).toBe(state.total_bytes - entrySizeBytes(state.entries[0]!));
    const all = expireEntries(store, state, 100);
    expect(all.state.entries).toEqual([]);
    expect(all.state.scope_counts).toEqual([]);
    expect(all.state.total_bytes).toBe(0);

    const unbounded = compileHistoryStore({});
    expect(expireEntries(unbounded, state, 1e12)).toEqual({ state, evicted: [] });
  });

  it('keeps the newest-first prefix within max_bytes', () => {
    // Each entry is charged kind(1) + key(0) + text(len) + scope(0).
    const store = compileHistoryStore({ max_bytes: 10 });
    const sized = (t: number, len: number) =>
      input({ created_at_ms: t, kind: 'k', key: '', scope: {}, text: 'x'.repeat(len) });
    let { state } = insertAll(store, [sized(1, 3), sized(2, 3)]);
    expect(state.total_bytes).toBe(8);
    const third = insertEntry(store, state, sized(3, 3), 3);
    expect(third.evicted.map((e) => [e.entry.sequence, e.reason])).toEqual([[1, 'max_bytes']]);
    state = third.state;
    expect(state.total_bytes).toBe(8);

    // An old large entry goes with everything older than it; newer entries stay.
    const oldLarge = insertEntry(store, state, sized(0, 9), 3);
    expect(oldLarge.evicted).toEqual([{ entry: oldLarge.entry, reason: 'max_bytes' }]);
    expect(sequences(oldLarge.state.entries)).toEqual([2, 3]);

    // An entry larger than max_bytes can never fit: it is refused alone and the store keeps
    // everything else, instead of the prefix emptying the store.
    const huge = insertEntry(store, state, sized(4, 20), 4);
    expect(huge.evicted).toEqual([{ entry: huge.entry, reason: 'max_bytes' }]);
    expect(sequences(huge.state.entries)).toEqual([2, 3]);
    expect(huge.state.total_bytes).toBe(8);
    expect(huge.state.next_sequence).toBe(state.next_sequence + 1);
  });

  it('evaluates the bounds independently over the held entries plus the new one', () => {
    // b1 is oldest overall, a2 is the oldest of session a: each is excluded by a different
    // bound, so both go even though 3 entries would fit the global bound after a2 left.
    const store = compileHistoryStore({ max_entries_per_scope: 2, max_entries: 3 });
    const a = (t: number) => input({ created_at_ms: t, scope: { session_id: 'a' } });
    const { state } = insertAll(store, [
      input({ created_at_ms: 0, scope: { session_id: 'b' } }),
      a(2),
      a(3),
    ]);
    const result = insertEntry(store, state, a(4), 4);
    expect(result.evicted.map((e) => [e.entry.sequence, e.reason])).toEqual([
      [1, 'max_entries'],
      [2, 'max_entries_per_scope'],
    ]);
    expect(sequences(result.state.entries)).toEqual([3, 4]);
  });

  it('names the first listed bound that excluded an entry', () => {
    const store = compileHistoryStore({
      max_entries_per_scope: 1,
      max_entries: 1,
      max_age_ms: 5,
      max_bytes: 1000,
    });
    const first = insertEntry(store, initialHistoryStore(), input({ created_at_ms: 0 }), 0);
    // At t=10 the old entry is outside all of per-scope, global and age.
    const second = insertEntry(store, first.state, input({ created_at_ms: 10 }), 10);
    expect(second.evicted.map((e) => e.reason)).toEqual(['max_entries_per_scope']);

    const other = insertEntry(
      store,
      first.state,
      input({ created_at_ms: 10, scope: { session_id: 'other' } }),
      10,
    );
    expect(other.evicted.map((e) => e.reason)).toEqual(['max_entries']);

    // Each entry is 36 bytes: two do not fit in 40.
    const ageAndBytes = compileHistoryStore({ max_age_ms: 5, max_bytes: 40 });
    const held = insertEntry(ageAndBytes, initialHistoryStore(), input({ created_at_ms: 0 }), 0);
    expect(held.state.total_bytes).toBe(36);
    const aged = insertEntry(ageAndBytes, held.state, input({ created_at_ms: 10 }), 10);
    expect(aged.evicted.map((e) => e.reason)).toEqual(['max_age']);
  });

  it('groups entries without the scope key under "" and copes with odd scope names', () => {
    const store = compileHistoryStore({ max_entries_per_scope: 1 });
    const { state } = insertAll(store, [
      input({ created_at_ms: 1, scope: {} }),
      input({ created_at_ms: 2, scope: { tenant_id: 't' } }),
      input({ created_at_ms: 3, scope: JSON.parse('{"session_id":"__proto__"}') }),
      input({ created_at_ms: 4, scope: JSON.parse('{"session_id":"__proto__"}') }),
    ]);
    expect(sequences(state.entries)).toEqual([2, 4]);
    expect(state.scope_counts).toEqual([
      { scope_value: '', count: 1 },
      { scope_value: '__proto__', count: 1 },
    ]);

    const odd = compileHistoryStore({ scope_key: 'constructor', max_entries_per_scope: 1 });
    const oddState = insertAll(odd, [input({ created_at_ms: 1 }), input({ created_at_ms: 2 })]);
    expect(sequences(oddState.state.entries)).toEqual([2]);
    expect(oddState.state.scope_counts).toEqual([{ scope_value: '', count: 1 }]);
  });

  it('finds the oldest entry of a full scope wherever it sits in the store', () => {
    const store = compileHistoryStore({ max_entries_per_scope: 2 });
    const other = Array.from({ length: 8 }, (_, t) =>
      input({ created_at_ms: t, scope: { session_id: `x${t}` } }),
    );
    const a = (t: number) => input({ created_at_ms: t, scope: { session_id: 'a' } });
    // Session a's oldest entry is near the newest end (found scanning from the back) ...
    const late = insertAll(store, [...other, a(10), a(11), a(12)]);
    expect(late.evicted.map((e) => e.entry.sequence)).toEqual([9]);
    // ... or near the oldest end (found scanning from the front).
    const early = insertAll(store, [
      a(0),
      a(1),
      ...other.map((o) => ({ ...o, created_at_ms: 5 })),
      a(12),
    ]);
    expect(early.evicted.map((e) => e.entry.sequence)).toEqual([1]);
  });

  it('after the per-scope bound is lowered, the next insert into a scope trims it to the bound', () => {
    const loose = compileHistoryStore({ max_entries_per_scope: 5 });
    const { state } = insertAll(
      loose,
      [1, 2, 3, 4, 5].map((t) => input({ created_at_ms: t })),
    );
    const tight = compileHistoryStore({ max_entries_per_scope: 2 });
    const result = insertEntry(tight, state, input({ created_at_ms: 6 }), 6);
    expect(result.evicted.map((e) => [e.entry.sequence, e.reason])).toEqual([
      [1, 'max_entries_per_scope'],
      [2, 'max_entries_per_scope'],
      [3, 'max_entries_per_scope'],
      [4, 'max_entries_per_scope'],
    ]);
    expect(sequences(result.state.entries)).toEqual([5, 6]);
    expect(result.state.scope_counts).toEqual([{ scope_value: 'session-a', count: 2 }]);
  });

  it('keeps the array ascending when timestamps arrive out of order', () => {
    const store = compileHistoryStore({});
    const { state } = insertAll(
      store,
      [5, 1, 9, 5, 0, 7].map((t) => input({ created_at_ms: t })),
      initialHistoryStore(),
      10,
    );
    expect(state.entries.map((e) => [e.created_at_ms, e.sequence])).toEqual([
      [0, 5],
      [1, 2],
      [5, 1],
      [5, 4],
      [7, 6],
      [9, 3],
    ]);
  });

  it('stores a copy of the scope and fills absent key, scope and text', () => {
    const scope = { session_id: 's' };
    const result = insertEntry(
      compileHistoryStore({}),
      initialHistoryStore(),
      { created_at_ms: 1, kind: 'k', scope },
      1,
    );
    scope.session_id = 'changed';
    expect(result.entry).toEqual({
      sequence: 1,
      created_at_ms: 1,
      kind: 'k',
      key: '',
      scope: { session_id: 's' },
      text: '',
    });
    const bare = insertEntry(
      compileHistoryStore({}),
      initialHistoryStore(),
      { created_at_ms: 1, kind: 'k' },
      1,
    );
    expect(bare.entry.scope).toEqual({});
    expect(bare.state.scope_counts).toEqual([{ scope_value: '', count: 1 }]);
  });
});

describe('input errors', () => {
  const store = compileHistoryStore({});
  const bad = (item: unknown, now_ms: unknown = 0) =>
    thrown(() =>
      insertEntry(store, initialHistoryStore(), item as HistoryEntryInput, now_ms as number),
    ) as WardwrightError;

  it.each([
    [{ ...input(), kind: '' }, 'kind must be a non-empty string, got ""'],
    [{ ...input(), kind: '  ' }, 'kind must be a non-empty string, got "  "'],
    [{ ...input(), kind: undefined }, 'kind must be a non-empty string, got undefined'],
    [{ ...input(), created_at_ms: -1 }, 'created_at_ms must be a non-negative integer'],
    [{ ...input(), created_at_ms: 1.5 }, 'created_at_ms must be a non-negative integer'],
    [{ ...input(), created_at_ms: '12' }, 'created_at_ms must be a non-negative integer'],
    [{ ...input(), key: 7 }, 'key must be a string, got 7'],
    [{ ...input(), text: null }, 'text must be a string, got null'],
    [{ ...input(), scope: [] }, 'scope must be an object of strings'],
    [{ ...input(), scope: null }, 'scope must be an object of strings, got null'],
    [{ ...input(), scope: { session_id: 3 } }, 'scope.session_id must be a string, got 3'],
  ])('rejects %j with invalid_argument naming the field', (item, message) => {
    const error = bad(item);
    expect(WardwrightError.isInstance(error)).toBe(true);
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toContain(message);
    expect(schemaIssues(HistoryEntryInputSchema, item)).not.toEqual([]);
  });

  it('rejects a bad now_ms on insert and on sweep', () => {
    expect(bad(input(), Number.NaN).message).toContain('now_ms must be a non-negative integer');
    expect(bad(input(), -5).code).toBe('invalid_argument');
    const error = thrown(() => expireEntries(store, initialHistoryStore(), 0.5)) as WardwrightError;
    expect(error.message).toContain('now_ms');
  });
});

describe('reads', () => {
  const store = compileHistoryStore({});
  const { state } = insertAll(store, [
    input({ created_at_ms: 1, scope: { session_id: 'a', run_id: 'r1' } }),
    input({ created_at_ms: 2, scope: { session_id: 'a', run_id: 'r2' } }),
    input({ created_at_ms: 2, scope: { session_id: 'b', run_id: 'r1' } }),
    input({ created_at_ms: 3, scope: { session_id: 'a' }, key: '' }),
  ]);

  it('matches every scope pair and ignores extra entry scope keys', () => {
    expect(sequences(readHistory(state, { scope: { session_id: 'a' } }))).toEqual([4, 2, 1]);
    expect(sequences(readHistory(state, { scope: { session_id: 'a', run_id: 'r1' } }))).toEqual([
      1,
    ]);
    expect(readHistory(state, { scope: { tenant_id: 't' } })).toEqual([]);
    expect(sequences(readHistory(state, { key: '' }))).toEqual([4]);
  });

  it('limits to the newest entries and can return them oldest first', () => {
    expect(sequences(readHistory(state, {}, { limit: 2 }))).toEqual([4, 3]);
    expect(sequences(readHistory(state, {}, { limit: 2, newest_first: false }))).toEqual([3, 4]);
    expect(sequences(readHistory(state, {}, { newest_first: true }))).toEqual([4, 3, 2, 1]);
    expect(readHistory(state, {}, { limit: 0 })).toEqual([]);
    expect(countHistory(state)).toBe(4);
  });

  it.each([-1, 1.5, Number.NaN])('rejects limit %s', (limit) => {
    const error = thrown(() => readHistory(state, {}, { limit })) as WardwrightError;
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toContain('limit must be a non-negative integer');
    expect(schemaIssues(ReadHistoryOptionsSchema, { limit })).not.toEqual([]);
  });
});

describe('output schemas', () => {
  it('reject what the store never returns: unknown keys, unknown reasons, missing fields', () => {
    const store = compileHistoryStore({ max_entries: 1 });
    const first = insertEntry(store, initialHistoryStore(), input({ created_at_ms: 1 }), 1);
    const result = insertEntry(store, first.state, input({ created_at_ms: 2 }), 2);
    expect(schemaIssues(InsertResultSchema, result)).toEqual([]);
    expect(schemaIssues(InsertResultSchema, { ...result, extra: 1 })).not.toEqual([]);
    const { entry: _, ...withoutEntry } = result;
    expect(schemaIssues(InsertResultSchema, withoutEntry)).not.toEqual([]);
    const evicted = result.evicted[0]!;
    expect(schemaIssues(EvictedEntrySchema, evicted)).toEqual([]);
    expect(schemaIssues(EvictedEntrySchema, { ...evicted, reason: 'lru' })).not.toEqual([]);
    expect(schemaIssues(EvictionReasonSchema, 'max_age')).toEqual([]);
    expect(schemaIssues(ScopeCountSchema, { scope_value: 'a', count: 0 })).not.toEqual([]);
    expect(
      schemaIssues(ExpireResultSchema, { state: result.state, evicted: [], entry: result.entry }),
    ).not.toEqual([]);
    expect(schemaIssues(HistoryFilterSchema, { kind: 'k', scope: { a: 1 } })).not.toEqual([]);
    expect(schemaIssues(ReadHistoryOptionsSchema, { newest_first: 'no' })).not.toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

type Op =
  | { op: 'insert'; item: HistoryEntryInput; now_ms: number }
  | { op: 'expire'; now_ms: number };

const arbitraryItem: fc.Arbitrary<HistoryEntryInput> = fc.record({
  created_at_ms: fc.integer({ min: 0, max: 40 }),
  kind: fc.constantFrom('request_text', 'tool_call'),
  key: fc.constantFrom('', 'a', 'bb'),
  scope: fc.oneof(
    fc.constant({}),
    fc.record({ session_id: fc.constantFrom('s1', 's2', 's3') }),
    fc.record({ session_id: fc.constantFrom('s1', 's2'), run_id: fc.constantFrom('r1', 'r2') }),
  ),
  text: fc.string({ maxLength: 6 }),
});

/**
 * Operations on a clock that mostly moves forward: each op advances `now_ms` a little, and an
 * insert is stamped up to 12 ms in the past, so timestamps arrive out of order but the age
 * bound does not empty the store at every step.
 */
const arbitraryOps: fc.Arbitrary<Op[]> = fc
  .array(
    fc.record({
      expire: fc.boolean(),
      advance: fc.integer({ min: 0, max: 4 }),
      lag: fc.integer({ min: 0, max: 12 }),
      item: arbitraryItem,
    }),
    { maxLength: 40 },
  )
  .map((steps) => {
    let now_ms = 0;
    return steps.map(({ expire, advance, lag, item }, i): Op => {
      now_ms += advance;
      // One op in five is a sweep.
      if (expire && i % 5 === 0) return { op: 'expire', now_ms };
      return { op: 'insert', item: { ...item, created_at_ms: Math.max(0, now_ms - lag) }, now_ms };
    });
  });

const arbitraryConfig = fc.record(
  {
    max_entries_per_scope: fc.integer({ min: 1, max: 5 }),
    max_entries: fc.integer({ min: 1, max: 12 }),
    max_age_ms: fc.integer({ min: 1, max: 40 }),
    // Entries are charged about 20 to 45 bytes.
    max_bytes: fc.integer({ min: 1, max: 400 }),
  },
  { requiredKeys: [] },
);

/**
 * The specification, written the slow way: sort newest first, compute each bound's exclusions
 * over all held entries plus the new one, and keep what no bound excluded.
 */
function naiveApply(
  store: CompiledHistoryStore,
  held: readonly HistoryEntry[],
  now_ms: number,
  ageOnly: boolean,
): { retained: HistoryEntry[]; evicted: EvictedEntry[] } {
  const reasons = new Map<HistoryEntry, EvictionReason>();
  const mark = (e: HistoryEntry, reason: EvictionReason) => {
    if (!reasons.has(e)) reasons.set(e, reason);
  };
  // An entry that alone exceeds max_bytes is refused first and takes no room from the others.
  const oversized = held.filter(
    (e) => !ageOnly && store.max_bytes !== null && entrySizeBytes(e) > store.max_bytes,
  );
  for (const e of oversized) mark(e, 'max_bytes');
  const newestFirst = held
    .filter((e) => !oversized.includes(e))
    .sort((a, b) => compareEntries(b, a));
  if (!ageOnly) {
    const perScope = new Map<string, number>();
    for (const e of newestFirst) {
      const group = e.scope[store.scope_key] ?? '';
      const seen = (perScope.get(group) ?? 0) + 1;
      perScope.set(group, seen);
      if (seen > store.max_entries_per_scope) mark(e, 'max_entries_per_scope');
    }
    newestFirst.forEach((e, i) => {
      if (i >= store.max_entries) mark(e, 'max_entries');
    });
  }
  for (const e of newestFirst) {
    if (store.max_age_ms !== null && now_ms - e.created_at_ms > store.max_age_ms)
      mark(e, 'max_age');
  }
  if (!ageOnly && store.max_bytes !== null) {
    let cumulative = 0;
    for (const e of newestFirst) {
      cumulative += entrySizeBytes(e);
      if (cumulative > store.max_bytes) mark(e, 'max_bytes');
    }
  }
  const ascending = [...held].sort(compareEntries);
  return {
    retained: ascending.filter((e) => !reasons.has(e)),
    evicted: ascending
      .filter((e) => reasons.has(e))
      .map((e) => ({ entry: e, reason: reasons.get(e)! })),
  };
}

function run(store: CompiledHistoryStore, ops: readonly Op[]) {
  let state = initialHistoryStore();
  const steps: { state: HistoryStoreState; evicted: EvictedEntry[]; sequence: number | null }[] =
    [];
  for (const op of ops) {
    if (op.op === 'insert') {
      const result = insertEntry(store, state, op.item, op.now_ms);
      state = result.state;
      steps.push({ state, evicted: result.evicted, sequence: result.entry.sequence });
    } else {
      const result = expireEntries(store, state, op.now_ms);
      state = result.state;
      steps.push({ state, evicted: result.evicted, sequence: null });
    }
  }
  return steps;
}

describe('history store properties', () => {
  it('inserting in place gives the same states, entries and evictions as insertEntry', () => {
    fc.assert(
      fc.property(arbitraryConfig, arbitraryOps, (config, ops) => {
        const store = compileHistoryStore(config);
        let pure = initialHistoryStore();
        let owned: HistoryStoreState = initialHistoryStore();
        let hinted: HistoryStoreState = initialHistoryStore();
        for (const op of ops) {
          if (op.op === 'expire') {
            pure = expireEntries(store, pure, op.now_ms).state;
            owned = expireEntries(store, owned, op.now_ms).state;
            hinted = expireEntries(store, hinted, op.now_ms).state;
            continue;
          }
          const before = structuredClone(pure);
          const a = insertEntry(store, pure, op.item, op.now_ms);
          const b = insertEntryInPlace(store, owned, op.item, op.now_ms);
          expect(pure).toEqual(before);
          expect(b.state).toEqual(a.state);
          expect(b.evicted).toEqual(a.evicted);
          expect(b.entry).toEqual(a.entry);
          // A full scope's victim found through an index of each scope's oldest entry (as the
          // memory store keeps one): the same result.
          const key = store.scope_key;
          const oldest = (value: string) => hinted.entries.find((e) => e.scope[key] === value);
          const c = insertEntryInPlace(store, hinted, op.item, op.now_ms, oldest);
          expect(c.evicted).toEqual(a.evicted);
          expect(c.state).toEqual(a.state);
          hinted = c.state;
          pure = a.state;
          owned = b.state;
        }
      }),
    );
  });

  it('E2 with only a global bound, the retained set is the top-c by (created_at, sequence)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 60 }),
        (capacity, timestamps) => {
          const store = compileHistoryStore({ max_entries: capacity, max_entries_per_scope: 1000 });
          const { state } = insertAll(
            store,
            timestamps.map((t) => input({ created_at_ms: t })),
            initialHistoryStore(),
            50,
          );
          const expected = timestamps
            .map((t, i) => ({ t, seq: i + 1 }))
            .sort((a, b) => b.t - a.t || b.seq - a.seq)
            .slice(0, capacity)
            .map((x) => x.seq)
            .sort((a, b) => a - b);
          expect(sequences(state.entries).sort((a, b) => a - b)).toEqual(expected);
        },
      ),
    );
  });

  it('with all bounds, every step equals the naive intersection', () => {
    fc.assert(
      fc.property(arbitraryConfig, arbitraryOps, (config, ops) => {
        const store = compileHistoryStore(config);
        let held: HistoryEntry[] = [];
        let nextSequence = 1;
        for (const [i, step] of run(store, ops).entries()) {
          const op = ops[i]!;
          const candidates =
            op.op === 'insert'
              ? [
                  ...held,
                  {
                    sequence: nextSequence++,
                    created_at_ms: op.item.created_at_ms,
                    kind: op.item.kind,
                    key: op.item.key ?? '',
                    scope: { ...op.item.scope },
                    text: op.item.text ?? '',
                  },
                ]
              : held;
          const expected = naiveApply(store, candidates, op.now_ms, op.op === 'expire');
          expect(step.state.entries).toEqual(expected.retained);
          expect(step.evicted).toEqual(expected.evicted);
          held = expected.retained;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('keeps its bookkeeping exact: sequences, bytes, per-scope counts, order, schema', () => {
    fc.assert(
      fc.property(arbitraryConfig, arbitraryOps, (config, ops) => {
        const store = compileHistoryStore(config);
        let lastSequence = 0;
        for (const { state, sequence } of run(store, ops)) {
          if (sequence !== null) {
            expect(sequence).toBeGreaterThan(lastSequence);
            lastSequence = sequence;
          }
          expect(state.next_sequence).toBe(lastSequence + 1);
          expect(state.total_bytes).toBe(state.entries.reduce((s, e) => s + entrySizeBytes(e), 0));
          const counts = new Map<string, number>();
          for (const e of state.entries) {
            const g = e.scope[store.scope_key] ?? '';
            counts.set(g, (counts.get(g) ?? 0) + 1);
          }
          expect(state.scope_counts).toEqual(
            [...counts]
              .sort(([a], [b]) => (a < b ? -1 : 1))
              .map(([scope_value, count]) => ({ scope_value, count })),
          );
          for (let i = 1; i < state.entries.length; i++) {
            expect(compareEntries(state.entries[i - 1]!, state.entries[i]!)).toBeLessThan(0);
          }
          expect(schemaIssues(HistoryStoreStateSchema, state)).toEqual([]);
        }
      }),
    );
  });

  it('never mutates its inputs and is deterministic', () => {
    fc.assert(
      fc.property(arbitraryConfig, arbitraryOps, arbitraryItem, (config, ops, item) => {
        const store = compileHistoryStore(config);
        const steps = run(store, ops);
        const state = steps.at(-1)?.state ?? initialHistoryStore();
        const snapshot = structuredClone(state);
        const itemSnapshot = structuredClone(item);
        deepFreeze(state);
        deepFreeze(item);
        const once = insertEntry(store, state, item, 45);
        const twice = insertEntry(store, state, item, 45);
        expect(JSON.stringify(once)).toBe(JSON.stringify(twice));
        expireEntries(store, state, 60);
        readHistory(state, { scope: { session_id: 's1' } }, { limit: 3, newest_first: false });
        countHistory(state, { kind: 'tool_call' });
        expect(state).toEqual(snapshot);
        expect(item).toEqual(itemSnapshot);
        expect(JSON.stringify(run(store, ops))).toBe(JSON.stringify(steps));
      }),
    );
  });

  it('every output and every accepted input matches its schema', () => {
    const arbitraryFilter: fc.Arbitrary<HistoryFilter> = fc.record(
      {
        kind: fc.constantFrom('request_text', 'tool_call', ''),
        key: fc.constantFrom('', 'a'),
        scope: fc.constantFrom({}, { session_id: 's1' }, { session_id: 's2', run_id: 'r1' }),
      },
      { requiredKeys: [] },
    );
    const arbitraryOptions: fc.Arbitrary<ReadHistoryOptions> = fc.record(
      { limit: fc.integer({ min: 0, max: 10 }), newest_first: fc.boolean() },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        arbitraryConfig,
        arbitraryOps,
        arbitraryFilter,
        arbitraryOptions,
        (config, ops, filter, options) => {
          const store = compileHistoryStore(config);
          let state = initialHistoryStore();
          for (const op of ops) {
            const result =
              op.op === 'insert'
                ? insertEntry(store, state, op.item, op.now_ms)
                : expireEntries(store, state, op.now_ms);
            if (op.op === 'insert') {
              expect(schemaIssues(HistoryEntryInputSchema, op.item)).toEqual([]);
              expect(schemaIssues(InsertResultSchema, result)).toEqual([]);
            } else {
              expect(schemaIssues(ExpireResultSchema, result)).toEqual([]);
            }
            for (const evicted of result.evicted) {
              expect(schemaIssues(EvictedEntrySchema, evicted)).toEqual([]);
              expect(schemaIssues(EvictionReasonSchema, evicted.reason)).toEqual([]);
            }
            state = result.state;
            expect(schemaIssues(HistoryStoreStateSchema, state)).toEqual([]);
            for (const count of state.scope_counts) {
              expect(schemaIssues(ScopeCountSchema, count)).toEqual([]);
            }
          }
          expect(schemaIssues(HistoryFilterSchema, filter)).toEqual([]);
          expect(schemaIssues(ReadHistoryOptionsSchema, options)).toEqual([]);
          for (const entry of readHistory(state, filter, options)) {
            expect(schemaIssues(HistoryEntrySchema, entry)).toEqual([]);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('the entry input schema accepts exactly the inputs insertEntry accepts', () => {
    const store = compileHistoryStore({});
    const blank = fc.constantFrom('', ' ', '\t\n', '\u00a0', '\ufeff', '\u2028', ' k ');
    const arbitraryRaw = fc.record(
      {
        created_at_ms: fc.oneof(
          fc.integer({ min: -3, max: 50 }),
          fc.double(),
          fc.constantFrom(2 ** 53, Number.MAX_SAFE_INTEGER, '7', null),
        ),
        kind: fc.oneof(fc.string({ maxLength: 4 }), blank, fc.integer(), fc.constant(null)),
        key: fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.constant(null)),
        scope: fc.oneof(
          fc.dictionary(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 }), { maxKeys: 3 }),
          fc.dictionary(fc.string({ maxLength: 3 }), fc.oneof(fc.string(), fc.integer()), {
            maxKeys: 3,
          }),
          fc.constantFrom(null, [], 'x'),
        ),
        text: fc.oneof(fc.string({ maxLength: 4 }), fc.boolean()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(arbitraryRaw, (raw) => {
        let accepted = true;
        try {
          insertEntry(store, initialHistoryStore(), raw as HistoryEntryInput, 0);
        } catch (error) {
          expect(WardwrightError.isInstance(error)).toBe(true);
          accepted = false;
        }
        expect(schemaIssues(HistoryEntryInputSchema, raw).length === 0).toBe(accepted);
      }),
      { numRuns: 1000 },
    );
  });
});
