import Type, { type Static } from 'typebox';
import { WardwrightError } from '../errors/wardwright-error.ts';
import { StringEnum } from '../schema/types.ts';
import { parseWithSchema } from '../schema/validator.ts';
import {
  compareEntries,
  compareStrings,
  entrySizeBytes,
  type HistoryEntry,
  HistoryEntrySchema,
} from './history-entry.ts';

/**
 * The bounded history store as a pure reducer: which entries a store keeps after an insert or
 * a sweep. Every configured bound is evaluated on its own over the candidate entries and an
 * entry survives only when it is inside all of them (intersection semantics): no LRU, no
 * sampling, nothing approximate, so two replicas fed the same inserts hold the same entries.
 */

export const HistoryStoreConfigSchema = Type.Object(
  {
    scope_key: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'The scope field that defines "per scope" for `max_entries_per_scope`. Default `session_id`.',
      }),
    ),
    max_entries_per_scope: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'Newest entries kept per scope value. Default 64.',
      }),
    ),
    max_entries: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'Newest entries kept in the whole store. Default 10000.',
      }),
    ),
    max_age_ms: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'An entry older than this (now_ms - created_at_ms) is dropped. No default.',
      }),
    ),
    max_bytes: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          'Newest-first prefix of entries whose `entrySizeBytes` sum stays within this. Default 67108864 (64 MiB).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type HistoryStoreConfig = Static<typeof HistoryStoreConfigSchema>;

export const DEFAULT_HISTORY_SCOPE_KEY = 'session_id';
export const DEFAULT_MAX_ENTRIES_PER_SCOPE = 64;
export const DEFAULT_MAX_ENTRIES = 10_000;
/**
 * Counts alone do not bound memory: 10 000 entries of large prompts could hold gigabytes. The
 * history of a gateway stays within this many bytes (`entrySizeBytes`) unless configured.
 */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

export interface CompiledHistoryStore {
  readonly scope_key: string;
  readonly max_entries_per_scope: number;
  readonly max_entries: number;
  /** `null`: no age bound. */
  readonly max_age_ms: number | null;
  /** `null`: no byte bound (a hand-built store; `compileHistoryStore` always sets one). */
  readonly max_bytes: number | null;
}

export const ScopeCountSchema = Type.Object(
  {
    scope_value: Type.String({
      description: 'A value of the store’s `scope_key`; `""` groups the entries without one.',
    }),
    count: Type.Integer({ minimum: 1, description: 'Retained entries with that value.' }),
  },
  { additionalProperties: false },
);
export type ScopeCount = Static<typeof ScopeCountSchema>;

export const HistoryStoreStateSchema = Type.Object(
  {
    entries: Type.Array(HistoryEntrySchema, {
      description: 'Retained entries, ascending by `(created_at_ms, sequence)`.',
    }),
    next_sequence: Type.Integer({ minimum: 1, description: 'Sequence the next insert gets.' }),
    total_bytes: Type.Integer({ minimum: 0, description: 'Sum of `entrySizeBytes` of entries.' }),
    scope_counts: Type.Array(ScopeCountSchema, {
      description:
        'Retained entries per value of the store’s `scope_key` (`""` for entries without one), sorted by `scope_value` in code-unit order.',
    }),
  },
  { additionalProperties: false },
);
/**
 * A store's contents: plain JSON, safe to persist, and canonical (the same retained entries
 * serialise the same way whatever the order of inserts). A state belongs to the store
 * configuration that built it: after changing `scope_key` or lowering `max_entries_per_scope`,
 * start from `initialHistoryStore()`.
 */
export type HistoryStoreState = Static<typeof HistoryStoreStateSchema>;

export const HistoryEntryInputSchema = Type.Object(
  {
    created_at_ms: Type.Integer({
      minimum: 0,
      // The store accepts what `Number.isSafeInteger` accepts.
      maximum: Number.MAX_SAFE_INTEGER,
      description: 'Unix time in milliseconds; may be older than the entries already held.',
    }),
    kind: Type.String({
      minLength: 1,
      // The store refuses a kind that is blank after trimming; `\s` is the set `trim` removes.
      pattern: '\\S',
      description: 'What was recorded; not blank. Stored as given (not trimmed).',
    }),
    key: Type.Optional(Type.String({ description: 'Sub-key within the kind. Default `""`.' })),
    scope: Type.Optional(
      Type.Record(Type.String(), Type.String(), {
        description: 'Who it belongs to; copied on insert. Default `{}`.',
      }),
    ),
    text: Type.Optional(Type.String({ description: 'Text regex rules look at. Default `""`.' })),
  },
  {
    additionalProperties: false,
    description: 'What a caller records; the store assigns `sequence`.',
  },
);
/** What a caller records; the store assigns `sequence`. */
export type HistoryEntryInput = Static<typeof HistoryEntryInputSchema>;

export const EvictionReasonSchema = StringEnum(
  ['max_entries_per_scope', 'max_entries', 'max_age', 'max_bytes'],
  {
    description:
      'The first bound, in the order max_entries_per_scope, max_entries, max_age, max_bytes, that excluded the entry.',
  },
);
export type EvictionReason = Static<typeof EvictionReasonSchema>;

export const EvictedEntrySchema = Type.Object(
  { entry: HistoryEntrySchema, reason: EvictionReasonSchema },
  { additionalProperties: false },
);
export type EvictedEntry = Static<typeof EvictedEntrySchema>;

const evictedList = Type.Array(EvictedEntrySchema, {
  description: 'Entries that left the store, oldest first by `(created_at_ms, sequence)`.',
});

export const InsertResultSchema = Type.Object(
  { state: HistoryStoreStateSchema, entry: HistoryEntrySchema, evicted: evictedList },
  {
    additionalProperties: false,
    description:
      '`entry` is the stored entry with its assigned sequence; it is also in `evicted` when its own insert excluded it.',
  },
);
export type InsertResult = Static<typeof InsertResultSchema>;

export const ExpireResultSchema = Type.Object(
  { state: HistoryStoreStateSchema, evicted: evictedList },
  {
    additionalProperties: false,
    description: '`state` is the input state itself when nothing expired.',
  },
);
export type ExpireResult = Static<typeof ExpireResultSchema>;

export function compileHistoryStore(config: unknown): CompiledHistoryStore {
  const parsed = parseWithSchema(HistoryStoreConfigSchema, config, 'history store config');
  return Object.freeze({
    scope_key: parsed.scope_key ?? DEFAULT_HISTORY_SCOPE_KEY,
    max_entries_per_scope: parsed.max_entries_per_scope ?? DEFAULT_MAX_ENTRIES_PER_SCOPE,
    max_entries: parsed.max_entries ?? DEFAULT_MAX_ENTRIES,
    max_age_ms: parsed.max_age_ms ?? null,
    max_bytes: parsed.max_bytes ?? DEFAULT_MAX_BYTES,
  });
}

export function initialHistoryStore(): HistoryStoreState {
  return { entries: [], next_sequence: 1, total_bytes: 0, scope_counts: [] };
}

/**
 * Record one entry and apply every bound over the retained entries plus the new one. The new
 * entry can be evicted by its own insert when its timestamp is older than what the bounds keep.
 */
export function insertEntry(
  store: CompiledHistoryStore,
  state: HistoryStoreState,
  input: HistoryEntryInput,
  now_ms: number,
): InsertResult {
  return insert(store, state, input, now_ms, false);
}

/**
 * `insertEntry` for a store that owns its state and never shares it: `state.entries` and
 * `state.scope_counts` are updated in place (and returned in the new state), so an insert costs
 * the evictions it makes instead of a copy of the whole store. Internal to the SDK's stores.
 */
export function insertEntryInPlace(
  store: CompiledHistoryStore,
  state: HistoryStoreState,
  input: HistoryEntryInput,
  now_ms: number,
  oldestOf?: OldestInScope,
): InsertResult {
  return insert(store, state, input, now_ms, true, oldestOf);
}

/**
 * The oldest retained entry of one scope value, from an index the caller keeps (the memory
 * store's per-session lists): an insert into a full scope then finds its victim by binary
 * search instead of scanning past every other session's entries.
 */
export type OldestInScope = (scope_value: string) => HistoryEntry | undefined;

function insert(
  store: CompiledHistoryStore,
  state: HistoryStoreState,
  input: HistoryEntryInput,
  now_ms: number,
  inPlace: boolean,
  oldestOf?: OldestInScope,
): InsertResult {
  checkTime(now_ms, 'now_ms');
  const entry = normaliseEntry(input, state.next_sequence);
  if (store.max_bytes !== null && entrySizeBytes(entry) > store.max_bytes) {
    // An entry that can never fit is refused on its own. Kept in the newest-first byte prefix,
    // it would push every older entry out with it: one caller's huge request would erase every
    // session's history (and reset their threshold counts).
    // The other bounds still apply to what is held (only the age bound can have moved).
    const swept = expireEntries(store, state, now_ms);
    const evicted: EvictedEntry[] = [...swept.evicted, { entry, reason: 'max_bytes' }];
    evicted.sort((a, b) => compareEntries(a.entry, b.entry));
    return { state: { ...swept.state, next_sequence: state.next_sequence + 1 }, entry, evicted };
  }
  const old = state.entries;
  const n = old.length;
  // The new sequence is the largest in the store, so the entry goes after every entry with the
  // same timestamp; most inserts are "now" and append without a search.
  const position =
    n === 0 || old[n - 1]!.created_at_ms <= entry.created_at_ms
      ? n
      : firstCreatedAfter(old, entry.created_at_ms);
  // The one copy of the array an insert makes (none in place); evictions then trim it.
  let candidates: HistoryEntry[];
  if (inPlace) {
    candidates = old as HistoryEntry[];
    if (position === n) candidates.push(entry);
    else candidates.splice(position, 0, entry);
  } else {
    candidates = old.toSpliced(position, 0, entry);
  }
  const counts = inPlace ? (state.scope_counts as ScopeCount[]) : state.scope_counts.slice();
  const group = groupOf(entry.scope, store.scope_key);
  const members = adjustCount(counts, group, 1);
  const total = state.total_bytes + entrySizeBytes(entry);

  const globalCut = Math.max(0, candidates.length - store.max_entries);
  const ageCut =
    store.max_age_ms === null ? 0 : expiredPrefix(candidates, store.max_age_ms, now_ms);
  const bytesCut = store.max_bytes === null ? 0 : bytesPrefix(candidates, store.max_bytes, total);
  const excess = members - store.max_entries_per_scope;
  const victims =
    excess <= 0
      ? []
      : excess === 1 && oldestOf !== undefined && group !== ''
        ? indexedVictim(candidates, entry, oldestOf(group), store.scope_key, group, members)
        : scopeVictims(candidates, store.scope_key, group, members, excess);
  const cut = Math.max(globalCut, ageCut, bytesCut);

  const evicted: EvictedEntry[] = [];
  let v = 0;
  for (let i = 0; i < cut; i++) {
    let reason: EvictionReason;
    if (victims[v] === i) {
      reason = 'max_entries_per_scope';
      v++;
    } else if (i < globalCut) reason = 'max_entries';
    else if (i < ageCut) reason = 'max_age';
    else reason = 'max_bytes';
    evicted.push({ entry: candidates[i]!, reason });
  }
  for (let w = v; w < victims.length; w++) {
    evicted.push({ entry: candidates[victims[w]!]!, reason: 'max_entries_per_scope' });
  }
  // Remove from the back first so the indices of the remaining victims stay valid; a removal
  // at the front is a cheap left trim for V8.
  for (let w = victims.length - 1; w >= v; w--) candidates.splice(victims[w]!, 1);
  if (cut > 0) candidates.splice(0, cut);
  return {
    state: {
      entries: candidates,
      next_sequence: state.next_sequence + 1,
      total_bytes: total - release(evicted, counts, store.scope_key),
      scope_counts: counts,
    },
    entry,
    evicted,
  };
}

/** Drop the entries outside `max_age_ms` at `now_ms`: a periodic sweep between inserts. */
export function expireEntries(
  store: CompiledHistoryStore,
  state: HistoryStoreState,
  now_ms: number,
): ExpireResult {
  checkTime(now_ms, 'now_ms');
  // Only the age bound moves with time; the others held after the last insert and removing
  // entries cannot break them.
  const cut =
    store.max_age_ms === null ? 0 : expiredPrefix(state.entries, store.max_age_ms, now_ms);
  if (cut === 0) return { state, evicted: [] };
  const evicted = state.entries
    .slice(0, cut)
    .map((entry): EvictedEntry => ({ entry, reason: 'max_age' }));
  const counts = state.scope_counts.slice();
  return {
    state: {
      entries: state.entries.slice(cut),
      next_sequence: state.next_sequence,
      total_bytes: state.total_bytes - release(evicted, counts, store.scope_key),
      scope_counts: counts,
    },
    evicted,
  };
}

export const HistoryFilterSchema = Type.Object(
  {
    kind: Type.Optional(Type.String({ description: 'Exact kind; absent = any.' })),
    key: Type.Optional(Type.String({ description: 'Exact key; absent = any.' })),
    scope: Type.Optional(
      Type.Record(Type.String(), Type.String(), {
        description:
          "Every pair must equal the entry's scope value; extra entry scope keys are fine.",
      }),
    ),
  },
  { additionalProperties: false },
);
export type HistoryFilter = Static<typeof HistoryFilterSchema>;

export const ReadHistoryOptionsSchema = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: Number.MAX_SAFE_INTEGER,
        description: 'At most this many entries (the newest ones). Absent = all.',
      }),
    ),
    newest_first: Type.Optional(
      Type.Boolean({
        description:
          'Order of the result; the selection is always the newest `limit`. Default true.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ReadHistoryOptions = Static<typeof ReadHistoryOptionsSchema>;

/** Retained entries matching `filter`, newest first by `(created_at_ms, sequence)`. */
export function readHistory(
  state: HistoryStoreState,
  filter: HistoryFilter = {},
  options: ReadHistoryOptions = {},
): HistoryEntry[] {
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  if (options.limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw invalidArgument('limit', 'a non-negative integer', options.limit);
  }
  const matches = matcher(filter);
  const out: HistoryEntry[] = [];
  const entries = state.entries;
  for (let i = entries.length - 1; i >= 0 && out.length < limit; i--) {
    const entry = entries[i]!;
    if (matches(entry)) out.push(entry);
  }
  if (options.newest_first === false) out.reverse();
  return out;
}

/** How many retained entries match `filter` (no limit). */
export function countHistory(state: HistoryStoreState, filter: HistoryFilter = {}): number {
  const matches = matcher(filter);
  let count = 0;
  for (const entry of state.entries) if (matches(entry)) count++;
  return count;
}

function matcher(filter: HistoryFilter): (entry: HistoryEntry) => boolean {
  const { kind, key } = filter;
  const pairs = filter.scope === undefined ? [] : Object.entries(filter.scope);
  return (entry) => {
    if (kind !== undefined && entry.kind !== kind) return false;
    if (key !== undefined && entry.key !== key) return false;
    for (const [k, v] of pairs) if (entry.scope[k] !== v) return false;
    return true;
  };
}

/** Subtract evicted entries from `counts` (owned by the caller); returns their bytes. */
function release(evicted: readonly EvictedEntry[], counts: ScopeCount[], scopeKey: string): number {
  let bytes = 0;
  for (const { entry } of evicted) {
    bytes += entrySizeBytes(entry);
    adjustCount(counts, groupOf(entry.scope, scopeKey), -1);
  }
  return bytes;
}

/**
 * Number of leading entries outside `max_bytes`: entry i is outside iff the bytes of it and
 * every newer entry exceed the bound (the newest-first prefix that fits is kept).
 */
function bytesPrefix(entries: readonly HistoryEntry[], max_bytes: number, total: number): number {
  let cut = 0;
  let suffix = total;
  while (cut < entries.length && suffix > max_bytes) {
    suffix -= entrySizeBytes(entries[cut]!);
    cut++;
  }
  return cut;
}

/**
 * Indices (ascending) of the `excess` oldest entries of `group`. With one victim — every insert
 * into a full scope — scan from both ends at once: the victim is both the group's oldest entry
 * and its (count)-th newest, so the scan costs the shorter of the two distances, not the store.
 */
function scopeVictims(
  entries: readonly HistoryEntry[],
  scopeKey: string,
  group: string,
  members: number,
  excess: number,
): number[] {
  if (excess === 1) {
    let seen = 0;
    for (let i = 0, j = entries.length - 1; i <= j; i++, j--) {
      if (groupOf(entries[i]!.scope, scopeKey) === group) return [i];
      if (groupOf(entries[j]!.scope, scopeKey) === group && ++seen === members) return [j];
    }
  }
  const victims: number[] = [];
  for (let i = 0; victims.length < excess; i++) {
    if (groupOf(entries[i]!.scope, scopeKey) === group) victims.push(i);
  }
  return victims;
}
/**
 * `scopeVictims` for one victim, given the group's oldest entry before this insert: the victim
 * is that entry, or the new one when it is older still; its place is found by binary search on
 * `(created_at_ms, sequence)`. An index that disagrees with the array falls back to the scan.
 */
function indexedVictim(
  entries: readonly HistoryEntry[],
  inserted: HistoryEntry,
  oldest: HistoryEntry | undefined,
  scopeKey: string,
  group: string,
  members: number,
): number[] {
  const victim = oldest === undefined || compareEntries(inserted, oldest) < 0 ? inserted : oldest;
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const e = entries[mid]!;
    if (
      e.created_at_ms < victim.created_at_ms ||
      (e.created_at_ms === victim.created_at_ms && e.sequence < victim.sequence)
    )
      lo = mid + 1;
    else hi = mid;
  }
  if (entries[lo]?.sequence === victim.sequence) return [lo];
  return scopeVictims(entries, scopeKey, group, members, 1);
}

/** Number of leading (oldest) entries with now_ms - created_at_ms > max_age_ms. */
function expiredPrefix(
  entries: readonly HistoryEntry[],
  max_age_ms: number,
  now_ms: number,
): number {
  let i = 0;
  while (i < entries.length && now_ms - entries[i]!.created_at_ms > max_age_ms) i++;
  return i;
}

/** First index whose created_at_ms is greater than `t` (binary search on the ascending array). */
function firstCreatedAfter(entries: readonly HistoryEntry[], t: number): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid]!.created_at_ms <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The per-scope group of an entry; a missing or non-string value groups under `''`. */
function groupOf(scope: Readonly<Record<string, string>>, scopeKey: string): string {
  // `typeof` also rejects inherited members such as `constructor` for an odd scope key.
  const value = scope[scopeKey];
  return typeof value === 'string' ? value : '';
}

/** Index of `group` in the sorted counts, or `-(insertion point) - 1` when absent. */
function findCount(counts: readonly ScopeCount[], group: string): number {
  let lo = 0;
  let hi = counts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const order = compareStrings(counts[mid]!.scope_value, group);
    if (order === 0) return mid;
    if (order < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

/**
 * Add `delta` to a group's count in `counts` (owned by the caller), keeping it sorted; returns
 * the new count.
 */
function adjustCount(counts: ScopeCount[], group: string, delta: number): number {
  const at = findCount(counts, group);
  if (at < 0) {
    counts.splice(-at - 1, 0, { scope_value: group, count: delta });
    return delta;
  }
  const count = counts[at]!.count + delta;
  // A new object rather than an update: the previous state still holds the old one.
  if (count === 0) counts.splice(at, 1);
  else counts[at] = { scope_value: group, count };
  return count;
}

function normaliseEntry(input: HistoryEntryInput, sequence: number): HistoryEntry {
  checkTime(input.created_at_ms, 'created_at_ms');
  if (typeof input.kind !== 'string' || input.kind.trim() === '') {
    throw invalidArgument('kind', 'a non-empty string', input.kind);
  }
  const key = input.key === undefined ? '' : input.key;
  if (typeof key !== 'string') throw invalidArgument('key', 'a string', key);
  const text = input.text === undefined ? '' : input.text;
  if (typeof text !== 'string') throw invalidArgument('text', 'a string', text);
  const scope = input.scope === undefined ? {} : input.scope;
  if (typeof scope !== 'object' || scope === null || Array.isArray(scope)) {
    throw invalidArgument('scope', 'an object of strings', scope);
  }
  for (const [k, v] of Object.entries(scope)) {
    if (typeof v !== 'string') throw invalidArgument(`scope.${k}`, 'a string', v);
  }
  // A copy, so that a caller reusing its scope object cannot change a stored entry.
  return {
    sequence,
    created_at_ms: input.created_at_ms,
    kind: input.kind,
    key,
    scope: { ...scope },
    text,
  };
}

function checkTime(value: unknown, field: string): void {
  if (!(Number.isSafeInteger(value) && (value as number) >= 0)) {
    throw invalidArgument(field, 'a non-negative integer (Unix milliseconds)', value);
  }
}

function invalidArgument(field: string, expected: string, got: unknown): WardwrightError {
  const shown = typeof got === 'string' ? JSON.stringify(got) : String(got);
  return new WardwrightError({
    code: 'invalid_argument',
    message: `${field} must be ${expected}, got ${shown}`,
  });
}
