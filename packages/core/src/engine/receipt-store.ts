import { WardwrightError } from '../errors/wardwright-error.ts';

/**
 * Receipt stores: where finished receipts go, and how `GET /receipts` pages through them.
 * `memoryReceiptStore` is the bounded in-process store; `jsonlReceiptStore`
 * (`@wardwright/core/node`) is the durable one. Both share the ordered index below, so paging,
 * filters and cursors behave the same on every backend.
 */

/** The fields of a receipt a store reads; the engine's `Receipt` satisfies it. */
export interface StoredReceipt {
  receipt_id: string;
  created_at_ms: number;
  model: { id: string; version: string };
  session_id: string | null;
  final: { status: string };
}

export interface ReceiptQuery {
  model_id?: string;
  session_id?: string;
  /** `final.status`. */
  status?: string;
  /** Inclusive lower bound on `created_at_ms`. */
  since_ms?: number;
  /** Exclusive upper bound on `created_at_ms`, so consecutive windows never overlap. */
  until_ms?: number;
  /** Receipts per page: 1 to {@link MAX_RECEIPT_PAGE}, default {@link DEFAULT_RECEIPT_PAGE}. */
  limit?: number;
  /** `next_cursor` of the previous page, with the same filters. */
  cursor?: string;
}

export interface ReceiptPage<R> {
  /** Newest first: by `created_at_ms`, then by append order. */
  receipts: R[];
  /** Null when no further receipt matches. */
  next_cursor: string | null;
}

export interface ReceiptStore<R extends StoredReceipt = StoredReceipt> {
  /** Rejects with `invalid_argument` when the receipt id is already stored. */
  append(receipt: R): Promise<void>;
  get(receipt_id: string): Promise<R | undefined>;
  list(query?: ReceiptQuery): Promise<ReceiptPage<R>>;
  close(): Promise<void>;
}

export const DEFAULT_RECEIPT_PAGE = 50;
export const MAX_RECEIPT_PAGE = 500;
export const DEFAULT_MAX_RECEIPTS = 10_000;

/**
 * An in-memory store holding the newest `max_receipts` receipts (default 10 000); the oldest by
 * `(created_at_ms, append order)` is dropped first. Receipts are kept by reference, not copied:
 * treat them as immutable once appended.
 */
export function memoryReceiptStore<R extends StoredReceipt>(
  options: { max_receipts?: number } = {},
): ReceiptStore<R> {
  checkOptions(options, ['max_receipts'], 'memoryReceiptStore');
  const max = options.max_receipts ?? DEFAULT_MAX_RECEIPTS;
  if (!Number.isSafeInteger(max) || max < 1) {
    throw invalid(`max_receipts must be a positive integer, got ${describeValue(max)}`);
  }
  const index = new ReceiptIndex<R>();
  let closed = false;
  const open = (): void => {
    if (closed) throw invalid('the receipt store is closed');
  };
  return {
    async append(receipt) {
      open();
      const issue = receiptIssue(receipt);
      if (issue !== undefined) throw invalid(`receipt ${issue}`);
      if (index.has(receipt.receipt_id)) throw duplicateReceipt(receipt.receipt_id);
      index.add(receipt);
      while (index.size > max) index.dropOldest();
    },
    async get(receipt_id) {
      open();
      return index.get(receipt_id);
    },
    async list(query) {
      open();
      return index.list(query);
    },
    async close() {
      closed = true;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The shared ordered index (internal: used by the memory and JSONL stores)
// ---------------------------------------------------------------------------------------------

interface Entry<R> {
  readonly receipt: R;
  readonly seq: number;
}

/**
 * Receipts ordered by `(created_at_ms, seq)`, with `seq` the append order. Receipts almost
 * always arrive in time order, so an append is a push; a late one is placed by binary search.
 * Dropped entries are skipped by an offset and compacted in bulk, so dropping the oldest is
 * amortised O(1).
 */
export class ReceiptIndex<R extends StoredReceipt> {
  readonly #byId = new Map<string, Entry<R>>();
  #entries: Entry<R>[] = [];
  #start = 0;
  #nextSeq = 0;

  get size(): number {
    return this.#byId.size;
  }

  has(receipt_id: string): boolean {
    return this.#byId.has(receipt_id);
  }

  get(receipt_id: string): R | undefined {
    return this.#byId.get(receipt_id)?.receipt;
  }

  /** The caller has checked the shape and that the id is new. */
  add(receipt: R): void {
    const entry: Entry<R> = { receipt, seq: this.#nextSeq++ };
    this.#byId.set(receipt.receipt_id, entry);
    const entries = this.#entries;
    const last = entries[entries.length - 1];
    if (entries.length === this.#start || last!.receipt.created_at_ms <= receipt.created_at_ms) {
      entries.push(entry);
    } else {
      // Equal times keep append order, so the new entry goes after every entry not newer.
      entries.splice(this.#firstAfter(receipt.created_at_ms, entry.seq), 0, entry);
    }
  }

  dropOldest(): void {
    const oldest = this.#entries[this.#start];
    if (oldest === undefined) return;
    this.#byId.delete(oldest.receipt.receipt_id);
    this.#start++;
    if (this.#start >= 1024 && this.#start * 2 >= this.#entries.length) {
      this.#entries = this.#entries.slice(this.#start);
      this.#start = 0;
    }
  }

  list(query: ReceiptQuery | undefined): ReceiptPage<R> {
    const q = parseReceiptQuery(query);
    const entries = this.#entries;
    // Walk backwards from just below the newest position the query allows.
    let i = entries.length - 1;
    if (q.cursor !== undefined) {
      i = Math.min(i, this.#firstAfter(q.cursor.created_at_ms, q.cursor.seq - 1) - 1);
    }
    if (q.until_ms !== undefined) {
      i = Math.min(i, this.#firstAfter(q.until_ms, -1) - 1);
    }
    const receipts: R[] = [];
    let last: Entry<R> | undefined;
    for (; i >= this.#start; i--) {
      const entry = entries[i]!;
      const r = entry.receipt;
      if (q.since_ms !== undefined && r.created_at_ms < q.since_ms) break;
      if (q.model_id !== undefined && r.model.id !== q.model_id) continue;
      if (q.session_id !== undefined && r.session_id !== q.session_id) continue;
      if (q.status !== undefined && r.final.status !== q.status) continue;
      // One match beyond the page decides whether there is a next page.
      if (receipts.length === q.limit) {
        return {
          receipts,
          next_cursor: encodeReceiptCursor(last!.receipt.created_at_ms, last!.seq),
        };
      }
      receipts.push(r);
      last = entry;
    }
    return { receipts, next_cursor: null };
  }

  /** Index of the first live entry ordered after `(created_at_ms, seq)`. */
  #firstAfter(created_at_ms: number, seq: number): number {
    let lo = this.#start;
    let hi = this.#entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = this.#entries[mid]!;
      const t = e.receipt.created_at_ms;
      if (t < created_at_ms || (t === created_at_ms && e.seq <= seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

// ---------------------------------------------------------------------------------------------
// Validation and cursors
// ---------------------------------------------------------------------------------------------

/** Where a page ended: a receipt's time and its store-assigned append sequence number. */
export interface ReceiptPosition {
  created_at_ms: number;
  seq: number;
}

/** A checked {@link ReceiptQuery}: `limit` resolved, `cursor` decoded. */
export interface ParsedReceiptQuery {
  model_id?: string;
  session_id?: string;
  status?: string;
  since_ms?: number;
  until_ms?: number;
  limit: number;
  cursor?: ReceiptPosition;
}

const QUERY_KEYS = [
  'model_id',
  'session_id',
  'status',
  'since_ms',
  'until_ms',
  'limit',
  'cursor',
] as const;

/** Check a query from an untrusted caller (an HTTP query string) and resolve its defaults. */
export function parseReceiptQuery(query: unknown): ParsedReceiptQuery {
  if (query === undefined) return { limit: DEFAULT_RECEIPT_PAGE };
  checkOptions(query, QUERY_KEYS, 'receipt query');
  const q = query as Record<string, unknown>;
  const parsed: ParsedReceiptQuery = { limit: DEFAULT_RECEIPT_PAGE };
  for (const key of ['model_id', 'session_id', 'status'] as const) {
    const value = q[key];
    if (value === undefined) continue;
    if (typeof value !== 'string')
      throw invalid(`${key} must be a string, got ${describeValue(value)}`);
    parsed[key] = value;
  }
  for (const key of ['since_ms', 'until_ms'] as const) {
    const value = q[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw invalid(`${key} must be a finite number of milliseconds, got ${describeValue(value)}`);
    }
    parsed[key] = value;
  }
  if (q.limit !== undefined) {
    const limit = q.limit;
    if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > MAX_RECEIPT_PAGE) {
      throw invalid(
        `limit must be an integer from 1 to ${MAX_RECEIPT_PAGE}, got ${describeValue(limit)}`,
      );
    }
    parsed.limit = limit as number;
  }
  if (q.cursor !== undefined) parsed.cursor = decodeCursor(q.cursor);
  return parsed;
}

/**
 * The cursor of a page that ended at this position. It is the position of the last receipt
 * returned; a later page starts just below it, so receipts appended meanwhile (newer ones) never
 * shift or repeat what a client sees. Shared by every store so cursors look and parse alike.
 */
export function encodeReceiptCursor(created_at_ms: number, seq: number): string {
  return base64url(`${created_at_ms}:${seq}`);
}

const CURSOR_TEXT = /^(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?):(\d+)$/i;

function decodeCursor(cursor: unknown): ReceiptPosition {
  if (typeof cursor !== 'string') {
    throw invalid(`cursor must be a string, got ${describeValue(cursor)}`);
  }
  const match = /^[A-Za-z0-9_-]+$/.test(cursor) ? CURSOR_TEXT.exec(unbase64url(cursor)) : null;
  const created_at_ms = Number(match?.[1]);
  const seq = Number(match?.[2]);
  if (match === null || !Number.isFinite(created_at_ms) || !Number.isSafeInteger(seq)) {
    throw invalid('cursor is not a cursor returned by this store (pass `next_cursor` as is)');
  }
  return { created_at_ms, seq };
}

function base64url(text: string): string {
  // The text is ASCII, so btoa (available in every runtime) is exact.
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function unbase64url(text: string): string {
  try {
    return atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    return '';
  }
}

/**
 * Why `value` is not a storable receipt (a phrase that reads after "receipt"), or undefined.
 * Only the fields a store reads are checked.
 */
export function receiptIssue(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'must be an object';
  }
  const r = value as Record<string, unknown>;
  if (typeof r.receipt_id !== 'string' || r.receipt_id === '') {
    return '`receipt_id` must be a non-empty string';
  }
  const id = r.receipt_id;
  if (typeof r.created_at_ms !== 'number' || !Number.isFinite(r.created_at_ms)) {
    return `${id}: \`created_at_ms\` must be a finite number`;
  }
  const model = r.model as Record<string, unknown> | null | undefined;
  if (typeof model !== 'object' || model === null || typeof model.id !== 'string') {
    return `${id}: \`model.id\` must be a string`;
  }
  if (typeof model.version !== 'string') return `${id}: \`model.version\` must be a string`;
  if (r.session_id !== null && typeof r.session_id !== 'string') {
    return `${id}: \`session_id\` must be a string or null`;
  }
  const final = r.final as Record<string, unknown> | null | undefined;
  if (typeof final !== 'object' || final === null || typeof final.status !== 'string') {
    return `${id}: \`final.status\` must be a string`;
  }
  return undefined;
}

export function duplicateReceipt(receipt_id: string): WardwrightError {
  return invalid(`receipt_id ${JSON.stringify(receipt_id)} is already stored`);
}

function invalid(message: string): WardwrightError {
  return new WardwrightError({ code: 'invalid_argument', message });
}

/** Options and queries are objects with only the known keys: a misspelt key is an error. */
export function checkOptions(
  value: unknown,
  known: readonly string[],
  subject: string,
): asserts value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`${subject} must be an object, got ${describeValue(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw invalid(`${subject}: unknown option \`${key}\` (known: ${known.join(', ')})`);
    }
  }
}

export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}
