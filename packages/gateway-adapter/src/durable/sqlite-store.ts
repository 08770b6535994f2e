import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  type Clock,
  type CompiledHistoryStore,
  duplicateReceipt,
  encodeReceiptCursor,
  type HistoryEntry,
  type HistoryStore,
  type MachineRecord,
  memoryHistoryStore,
  parseReceiptQuery,
  type ReceiptPage,
  type ReceiptStore,
  receiptIssue,
  type StateStore,
  type StoredReceipt,
  systemClock,
  WardwrightError,
} from '@wardwright/core';
import {
  type AlertRecord,
  type AlertRecordQuery,
  DEFAULT_ALERT_LIST_LIMIT,
  type GatewayAlertStore,
  MAX_ALERT_LIST_LIMIT,
  outboxEntryOf,
  type PendingReceipts,
} from './alert-records.ts';
import { openSqlite, type SqliteDatabase, type SqliteDriverName } from './sqlite-driver.ts';

/**
 * The durable embedded store of a gateway: receipts, history and state-machine records in one
 * SQLite file (WAL). Receipts are written in their own transaction before `append` resolves, so
 * a receipt the gateway has answered with survives the process being killed.
 *
 * History and state stay decided by the engine's own in-memory stores (the eviction core owns
 * eviction); this store writes every change through and replays it on open.
 */

export interface SqliteStoreOptions {
  /** The database file; it and its directory are created if missing. `':memory:'` for tests. */
  path: string;
  /** Default `'auto'`: `node:sqlite` when this Node has it, else `better-sqlite3`. */
  driver?: SqliteDriverName | 'auto';
  /** Receipts older or beyond these bounds are deleted (at open and every 256 appends). */
  retention?: { max_receipts?: number; max_age_ms?: number };
  /**
   * `'process'` (default): a committed receipt survives the process dying (SIGKILL, a crash);
   * WAL with `synchronous=NORMAL`. `'os'`: it also survives the machine losing power
   * (`synchronous=FULL`, an fsync per commit: slower).
   */
  durability?: 'process' | 'os';
  /** The clock retention measures age with. Default: the system clock. */
  clock?: Clock;
}

export interface SqliteStore<R extends StoredReceipt = StoredReceipt> {
  readonly driver: SqliteDriverName;
  readonly receipts: ReceiptStore<R>;
  /**
   * The history store of one model (by id, so a new artifact version keeps its sessions'
   * history), bounded by that plan's history config. Entries beyond the bounds on open are
   * evicted as the engine would have.
   */
  historyFor(model_id: string, config: CompiledHistoryStore): HistoryStore;
  /** The state-machine records of one model. */
  statesFor(model_id: string): StateStore;
  /** The alert outbox and its records (dead letters, redrive, an alert's fate by receipt). */
  readonly alerts: GatewayAlertStore;
  /**
   * Receipts promised before they are written (a stream's id goes out with its first byte):
   * each receipt's append clears its entry; on open, entries a dead process left are
   * `interrupted`, so every id a client received resolves.
   */
  readonly pending: PendingReceipts;
  /** Run retention now; resolves to the number of receipts deleted. */
  prune(): number;
  close(): Promise<void>;
}

/** Schema migrations, in order; `PRAGMA user_version` is the number applied. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE receipts (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     receipt_id TEXT NOT NULL UNIQUE,
     created_at_ms REAL NOT NULL,
     model_id TEXT NOT NULL,
     session_id TEXT,
     status TEXT NOT NULL,
     body TEXT NOT NULL
   );
   CREATE INDEX receipts_by_time ON receipts (created_at_ms, seq);
   CREATE INDEX receipts_by_model ON receipts (model_id, created_at_ms, seq);
   CREATE INDEX receipts_by_session ON receipts (session_id, created_at_ms, seq);
   CREATE TABLE history (
     model_id TEXT NOT NULL,
     sequence INTEGER NOT NULL,
     body TEXT NOT NULL,
     PRIMARY KEY (model_id, sequence)
   );
   CREATE TABLE states (
     model_id TEXT NOT NULL,
     machine_id TEXT NOT NULL,
     scope_value TEXT NOT NULL,
     body TEXT NOT NULL,
     PRIMARY KEY (model_id, machine_id, scope_value)
   );`,
  // The alert outbox: one row per alert a queue accepted (or refused into a dead letter).
  `CREATE TABLE alerts (
     model_id TEXT NOT NULL,
     sink TEXT NOT NULL,
     idempotency_key TEXT NOT NULL,
     status TEXT NOT NULL,
     receipt_id TEXT,
     alert TEXT NOT NULL,
     enqueued_at_ms REAL NOT NULL,
     attempts INTEGER NOT NULL,
     next_attempt_at_ms REAL NOT NULL,
     reason TEXT,
     error TEXT,
     updated_at_ms REAL NOT NULL,
     PRIMARY KEY (model_id, sink, idempotency_key)
   );
   CREATE INDEX alerts_by_status ON alerts (status, model_id, enqueued_at_ms);
   CREATE INDEX alerts_by_receipt ON alerts (receipt_id);`,
  // Receipts promised to a client (a stream's first byte went out) and not written yet.
  `CREATE TABLE pending_receipts (
     receipt_id TEXT PRIMARY KEY,
     created_at_ms REAL NOT NULL,
     model_id TEXT NOT NULL,
     model_version TEXT NOT NULL,
     session_id TEXT,
     status TEXT NOT NULL
   );`,
];

const PRUNE_EVERY = 256;

export async function openSqliteStore<R extends StoredReceipt = StoredReceipt>(
  options: SqliteStoreOptions,
): Promise<SqliteStore<R>> {
  checkStoreOptions(options);
  if (options.path !== ':memory:') await mkdir(dirname(resolve(options.path)), { recursive: true });
  const db = await openSqlite(options.path, options.driver ?? 'auto');
  try {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec(`PRAGMA synchronous = ${options.durability === 'os' ? 'FULL' : 'NORMAL'}`);
    db.exec('PRAGMA busy_timeout = 5000');
    migrate(db, options.path);
  } catch (error) {
    db.close();
    throw error;
  }
  return createStore<R>(db, options);
}

function createStore<R extends StoredReceipt>(
  db: SqliteDatabase,
  options: SqliteStoreOptions,
): SqliteStore<R> {
  const clock = options.clock ?? systemClock;
  const retention = options.retention ?? {};
  let closed = false;
  let sincePrune = 0;
  const open = () => {
    if (closed) throw new WardwrightError({ code: 'unavailable', message: 'the store is closed' });
  };

  const insertReceipt = db.prepare(
    'INSERT INTO receipts (receipt_id, created_at_ms, model_id, session_id, status, body) VALUES (?, ?, ?, ?, ?, ?)',
  );
  // What a process that died left promised is now interrupted.
  db.exec("UPDATE pending_receipts SET status = 'interrupted' WHERE status = 'pending'");
  const beginPending = db.prepare(
    "INSERT OR IGNORE INTO pending_receipts (receipt_id, created_at_ms, model_id, model_version, session_id, status) VALUES (?, ?, ?, ?, ?, 'pending')",
  );
  const endPending = db.prepare('DELETE FROM pending_receipts WHERE receipt_id = ?');
  const getPending = db.prepare('SELECT * FROM pending_receipts WHERE receipt_id = ?');
  const hasReceipt = db.prepare('SELECT 1 AS found FROM receipts WHERE receipt_id = ?');
  const getReceipt = db.prepare('SELECT body FROM receipts WHERE receipt_id = ?');
  const putHistory = db.prepare(
    'INSERT OR REPLACE INTO history (model_id, sequence, body) VALUES (?, ?, ?)',
  );
  const dropHistory = db.prepare('DELETE FROM history WHERE model_id = ? AND sequence = ?');
  const putState = db.prepare(
    'INSERT OR REPLACE INTO states (model_id, machine_id, scope_value, body) VALUES (?, ?, ?, ?)',
  );

  const alerts = alertStore(db, open, clock);

  const prune = (): number => {
    let deleted = 0;
    if (retention.max_age_ms !== undefined) {
      const before = clock.now() - retention.max_age_ms;
      deleted += changes(db.prepare('DELETE FROM receipts WHERE created_at_ms < ?').run(before));
    }
    if (retention.max_receipts !== undefined) {
      deleted += changes(
        db
          .prepare(
            `DELETE FROM receipts WHERE seq IN (
               SELECT seq FROM receipts ORDER BY created_at_ms DESC, seq DESC LIMIT -1 OFFSET ?)`,
          )
          .run(retention.max_receipts),
      );
    }
    alerts.prune();
    sincePrune = 0;
    return deleted;
  };
  prune();

  const receipts: ReceiptStore<R> = {
    async append(receipt) {
      open();
      const issue = receiptIssue(receipt);
      if (issue !== undefined) {
        throw new WardwrightError({ code: 'invalid_argument', message: `receipt ${issue}` });
      }
      if (hasReceipt.get(receipt.receipt_id) !== undefined) {
        throw duplicateReceipt(receipt.receipt_id);
      }
      // The receipt and the end of its promise, in one transaction (committed when it returns).
      db.exec('BEGIN');
      try {
        insertReceipt.run(
          receipt.receipt_id,
          receipt.created_at_ms,
          receipt.model.id,
          receipt.session_id,
          receipt.final.status,
          JSON.stringify(receipt),
        );
        endPending.run(receipt.receipt_id);
        db.exec('COMMIT');
      } catch (error) {
        db.exec('ROLLBACK');
        throw error;
      }
      if (++sincePrune >= PRUNE_EVERY) prune();
    },
    async get(receipt_id) {
      open();
      const row = getReceipt.get(receipt_id);
      return row === undefined ? undefined : (JSON.parse(row.body as string) as R);
    },
    async list(query) {
      open();
      const q = parseReceiptQuery(query);
      const where: string[] = [];
      const params: (string | number)[] = [];
      const filter = (sql: string, value: string | number | undefined) => {
        if (value === undefined) return;
        where.push(sql);
        params.push(value);
      };
      filter('model_id = ?', q.model_id);
      filter('session_id = ?', q.session_id);
      filter('status = ?', q.status);
      filter('created_at_ms >= ?', q.since_ms);
      filter('created_at_ms < ?', q.until_ms);
      if (q.cursor !== undefined) {
        where.push('(created_at_ms < ? OR (created_at_ms = ? AND seq < ?))');
        params.push(q.cursor.created_at_ms, q.cursor.created_at_ms, q.cursor.seq);
      }
      const rows = db
        .prepare(
          `SELECT seq, created_at_ms, body FROM receipts${where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`}
           ORDER BY created_at_ms DESC, seq DESC LIMIT ?`,
        )
        .all(...params, q.limit + 1);
      const page: ReceiptPage<R> = {
        receipts: rows.slice(0, q.limit).map((row) => JSON.parse(row.body as string) as R),
        next_cursor: null,
      };
      if (rows.length > q.limit) {
        const last = rows[q.limit - 1]!;
        page.next_cursor = encodeReceiptCursor(Number(last.created_at_ms), Number(last.seq));
      }
      return page;
    },
    async close() {
      await store.close();
    },
  };

  const store: SqliteStore<R> = {
    driver: db.driver,
    receipts,
    alerts,
    pending: {
      begin(p) {
        open();
        beginPending.run(p.receipt_id, p.created_at_ms, p.model.id, p.model.version, p.session_id);
      },
      get(receipt_id) {
        open();
        const row = getPending.get(receipt_id);
        if (row === undefined) return undefined;
        return {
          receipt_id: row.receipt_id as string,
          model: { id: row.model_id as string, version: row.model_version as string },
          session_id: (row.session_id as string | null) ?? null,
          created_at_ms: Number(row.created_at_ms),
          status: row.status === 'interrupted' ? 'interrupted' : 'pending',
        };
      },
    },
    historyFor(model_id, config) {
      open();
      const memory = memoryHistoryStore(config);
      const rows = db
        .prepare('SELECT sequence, body FROM history WHERE model_id = ? ORDER BY sequence')
        .all(model_id);
      // Replaying through the eviction core re-applies today's bounds and renumbers entries,
      // so the rows are rewritten to match what the memory store now holds.
      db.exec('BEGIN');
      try {
        db.prepare('DELETE FROM history WHERE model_id = ?').run(model_id);
        for (const row of rows) {
          const { sequence: _, ...input } = JSON.parse(row.body as string) as HistoryEntry;
          memory.insert(input, input.created_at_ms);
        }
        for (const entry of memory.entries()) {
          putHistory.run(model_id, entry.sequence, JSON.stringify(entry));
        }
        db.exec('COMMIT');
      } catch (error) {
        db.exec('ROLLBACK');
        throw error;
      }
      return {
        entries: () => memory.entries(),
        scoped: (scope_key, value) => memory.scoped?.(scope_key, value),
        insert(input, now_ms) {
          open();
          const result = memory.insert(input, now_ms);
          db.exec('BEGIN');
          try {
            putHistory.run(model_id, result.entry.sequence, JSON.stringify(result.entry));
            for (const evicted of result.evicted) dropHistory.run(model_id, evicted.entry.sequence);
            db.exec('COMMIT');
          } catch (error) {
            db.exec('ROLLBACK');
            throw error;
          }
          return result;
        },
      };
    },
    statesFor(model_id) {
      open();
      const records = new Map<string, MachineRecord>();
      const key = (machine: string, scope: string) => `${machine}\u0000${scope}`;
      for (const row of db
        .prepare('SELECT machine_id, scope_value, body FROM states WHERE model_id = ?')
        .all(model_id)) {
        records.set(
          key(row.machine_id as string, row.scope_value as string),
          JSON.parse(row.body as string) as MachineRecord,
        );
      }
      return {
        get: (machine, scope) => records.get(key(machine, scope)),
        set(machine, scope, record) {
          open();
          putState.run(model_id, machine, scope, JSON.stringify(record));
          records.set(key(machine, scope), record);
        },
      };
    },
    prune() {
      open();
      return prune();
    },
    async close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
  return store;
}

/** Delivered rows stay while their receipt does (the alert's fate, read by receipt id). */
const DELIVERED_GRACE_MS = 60_000;

function alertStore(
  db: SqliteDatabase,
  open: () => void,
  clock: Clock,
): GatewayAlertStore & { prune(): void } {
  const upsert = db.prepare(
    `INSERT INTO alerts (model_id, sink, idempotency_key, status, receipt_id, alert, enqueued_at_ms,
       attempts, next_attempt_at_ms, reason, error, updated_at_ms)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (model_id, sink, idempotency_key) DO UPDATE SET
       status = excluded.status, receipt_id = COALESCE(excluded.receipt_id, alerts.receipt_id),
       alert = excluded.alert,
       enqueued_at_ms = excluded.enqueued_at_ms, attempts = excluded.attempts,
       next_attempt_at_ms = excluded.next_attempt_at_ms, reason = excluded.reason,
       error = excluded.error, updated_at_ms = excluded.updated_at_ms`,
  );
  const retry = db.prepare(
    `UPDATE alerts SET status = 'retry_scheduled', attempts = ?, next_attempt_at_ms = ?, error = ?,
       updated_at_ms = ? WHERE model_id = ? AND sink = ? AND idempotency_key = ?`,
  );
  const delivered = db.prepare(
    `UPDATE alerts SET status = 'delivered', attempts = ?, updated_at_ms = ?
     WHERE model_id = ? AND sink = ? AND idempotency_key = ?`,
  );
  const pending = db.prepare(
    `SELECT * FROM alerts WHERE model_id = ? AND sink = ? AND status IN ('queued', 'retry_scheduled')
     ORDER BY enqueued_at_ms, rowid`,
  );
  const byReceipt = db.prepare(
    'SELECT * FROM alerts WHERE receipt_id = ? ORDER BY enqueued_at_ms, rowid',
  );

  const select = (status: string, query: AlertRecordQuery): AlertRecord[] => {
    const where = ['status = ?'];
    const params: (string | number)[] = [status];
    if (query.model_id !== undefined) {
      where.push('model_id = ?');
      params.push(query.model_id);
    }
    if (query.sink !== undefined) {
      where.push('sink = ?');
      params.push(query.sink);
    }
    if (query.keys !== undefined) {
      where.push(`idempotency_key IN (${query.keys.map(() => '?').join(', ') || 'NULL'})`);
      params.push(...query.keys);
    }
    const limit = Math.min(query.limit ?? DEFAULT_ALERT_LIST_LIMIT, MAX_ALERT_LIST_LIMIT);
    return db
      .prepare(
        `SELECT * FROM alerts WHERE ${where.join(' AND ')} ORDER BY updated_at_ms DESC, rowid DESC LIMIT ?`,
      )
      .all(...params, limit)
      .map(recordOf);
  };

  return {
    outboxFor(model_id) {
      return {
        record(change) {
          open();
          switch (change.kind) {
            case 'queued': {
              const e = change.entry;
              upsert.run(
                model_id,
                e.sink,
                e.key,
                'queued',
                e.receipt_id,
                JSON.stringify(e.alert),
                e.enqueued_at_ms,
                e.attempts,
                e.next_attempt_at_ms,
                null,
                null,
                e.enqueued_at_ms,
              );
              return;
            }
            case 'retry_scheduled':
              retry.run(
                change.attempts,
                change.next_attempt_at_ms,
                change.error ?? null,
                change.at_ms,
                model_id,
                change.sink,
                change.key,
              );
              return;
            case 'delivered':
              delivered.run(change.attempts, change.at_ms, model_id, change.sink, change.key);
              return;
            case 'dead_lettered': {
              const e = change.entry;
              upsert.run(
                model_id,
                e.sink,
                e.key,
                'dead_lettered',
                e.receipt_id,
                JSON.stringify(e.alert),
                e.enqueued_at_ms,
                e.attempts,
                e.next_attempt_at_ms,
                change.reason,
                change.error ?? null,
                change.at_ms,
              );
              return;
            }
          }
        },
        pending(sink) {
          open();
          return pending.all(model_id, sink).map((row) => outboxEntryOf(recordOf(row)));
        },
      };
    },
    async deadLetters(query = {}) {
      open();
      return select('dead_lettered', query);
    },
    async redrive(query, now_ms) {
      open();
      db.exec('BEGIN');
      try {
        const letters = select('dead_lettered', { ...query, limit: MAX_ALERT_LIST_LIMIT });
        const requeue = db.prepare(
          `UPDATE alerts SET status = 'queued', attempts = 0, next_attempt_at_ms = ?, reason = NULL,
             error = NULL, updated_at_ms = ? WHERE model_id = ? AND sink = ? AND idempotency_key = ?`,
        );
        for (const letter of letters) {
          requeue.run(now_ms, now_ms, letter.model_id, letter.sink, letter.idempotency_key);
        }
        db.exec('COMMIT');
        return letters.map((letter) => ({
          ...letter,
          status: 'queued' as const,
          attempts: 0,
          next_attempt_at_ms: now_ms,
          reason: null,
          error: null,
          updated_at_ms: now_ms,
        }));
      } catch (error) {
        db.exec('ROLLBACK');
        throw error;
      }
    },
    async ofReceipt(receipt_id) {
      open();
      return byReceipt.all(receipt_id).map(recordOf);
    },
    prune() {
      db.prepare(
        `DELETE FROM alerts WHERE status = 'delivered' AND updated_at_ms < ?
           AND (receipt_id IS NULL OR receipt_id NOT IN (SELECT receipt_id FROM receipts))`,
      ).run(clock.now() - DELIVERED_GRACE_MS);
    },
  };
}

function recordOf(row: Record<string, unknown>): AlertRecord {
  return {
    model_id: row.model_id as string,
    sink: row.sink as string,
    idempotency_key: row.idempotency_key as string,
    status: row.status as AlertRecord['status'],
    receipt_id: (row.receipt_id as string | null) ?? null,
    alert: JSON.parse(row.alert as string) as AlertRecord['alert'],
    enqueued_at_ms: Number(row.enqueued_at_ms),
    attempts: Number(row.attempts),
    next_attempt_at_ms: Number(row.next_attempt_at_ms),
    reason: (row.reason as AlertRecord['reason']) ?? null,
    error: (row.error as string | null) ?? null,
    updated_at_ms: Number(row.updated_at_ms),
  };
}

function changes(result: unknown): number {
  return Number((result as { changes?: number | bigint }).changes ?? 0);
}

function migrate(db: SqliteDatabase, path: string): void {
  const version = Number(db.prepare('PRAGMA user_version').get()?.user_version ?? 0);
  if (version > MIGRATIONS.length) {
    throw new WardwrightError({
      code: 'unavailable',
      message: `${path} has schema version ${version}, newer than this @wardwright/gateway knows (${MIGRATIONS.length}): upgrade the package`,
    });
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.exec('BEGIN');
    try {
      db.exec(MIGRATIONS[v]!);
      db.exec(`PRAGMA user_version = ${v + 1}`);
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw error;
    }
  }
}

function checkStoreOptions(options: SqliteStoreOptions): void {
  const problems: string[] = [];
  if (typeof options !== 'object' || options === null) {
    throw invalid('openSqliteStore(options): options must be an object with a `path`');
  }
  const known = new Set(['path', 'driver', 'retention', 'durability', 'clock']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) problems.push(`unknown option ${key}`);
  }
  if (typeof options.path !== 'string' || options.path === '') {
    problems.push('path must be a non-empty string (a file path, or ":memory:")');
  }
  const driver = options.driver;
  if (
    driver !== undefined &&
    driver !== 'auto' &&
    driver !== 'node:sqlite' &&
    driver !== 'better-sqlite3'
  ) {
    problems.push(
      `driver must be 'auto', 'node:sqlite' or 'better-sqlite3', not ${String(driver)}`,
    );
  }
  if (
    options.durability !== undefined &&
    options.durability !== 'process' &&
    options.durability !== 'os'
  ) {
    problems.push(`durability must be 'process' or 'os', not ${String(options.durability)}`);
  }
  const retention = options.retention;
  if (retention !== undefined) {
    for (const key of Object.keys(retention)) {
      if (key !== 'max_receipts' && key !== 'max_age_ms') {
        problems.push(`unknown option retention.${key}`);
      }
    }
    for (const key of ['max_receipts', 'max_age_ms'] as const) {
      const value = retention[key];
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
        problems.push(`retention.${key} must be a positive integer, got ${String(value)}`);
      }
    }
  }
  if (problems.length > 0) throw invalid(`openSqliteStore(options): ${problems.join('; ')}`);
}

function invalid(message: string): WardwrightError {
  return new WardwrightError({ code: 'invalid_argument', message });
}
