import { WardwrightError } from '@wardwright/core';

/**
 * The little of SQLite the durable store needs, over whichever driver this Node has:
 * `node:sqlite` (built in from Node 22.13) or `better-sqlite3` (a native addon, the way on
 * Node 20). Both are synchronous, which is what lets history and state stores stay synchronous.
 */

export type SqliteDriverName = 'node:sqlite' | 'better-sqlite3';

export interface SqliteStatement {
  run(...params: SqliteValue[]): unknown;
  get(...params: SqliteValue[]): Record<string, unknown> | undefined;
  all(...params: SqliteValue[]): Record<string, unknown>[];
}

export type SqliteValue = string | number | bigint | null;

export interface SqliteDatabase {
  readonly driver: SqliteDriverName;
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  close(): void;
}

interface NodeSqlite {
  DatabaseSync: new (
    path: string,
  ) => {
    exec(sql: string): void;
    prepare(sql: string): SqliteStatement;
    close(): void;
  };
}

type BetterSqlite3 = new (
  path: string,
) => {
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  close(): void;
};

export const BETTER_SQLITE3_HINT =
  'on Node 20 install better-sqlite3 (npm install better-sqlite3); Node 22.13+ and 24 have node:sqlite built in';

function builtinSqlite(): NodeSqlite | undefined {
  // getBuiltinModule answers undefined for a module this Node lacks (or hides behind a flag).
  const get = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  return get?.('node:sqlite') as NodeSqlite | undefined;
}

async function betterSqlite3(): Promise<BetterSqlite3 | undefined> {
  try {
    const mod = (await import('better-sqlite3')) as { default?: BetterSqlite3 };
    return (mod.default ?? mod) as BetterSqlite3;
  } catch {
    return undefined;
  }
}

/** Open (creating it if needed) the database at `path` with the first available driver. */
export async function openSqlite(
  path: string,
  driver: SqliteDriverName | 'auto' = 'auto',
): Promise<SqliteDatabase> {
  if (driver !== 'better-sqlite3') {
    const builtin = builtinSqlite();
    if (builtin !== undefined) return wrap('node:sqlite', new builtin.DatabaseSync(path));
    if (driver === 'node:sqlite') {
      throw unavailable(`node:sqlite is not available in Node ${process.versions.node}`);
    }
  }
  const Better = await betterSqlite3();
  if (Better === undefined) {
    throw unavailable(`no SQLite driver for the durable store: ${BETTER_SQLITE3_HINT}`);
  }
  return wrap('better-sqlite3', new Better(path));
}

function wrap(
  driver: SqliteDriverName,
  db: { exec(sql: string): void; prepare(sql: string): SqliteStatement; close(): void },
): SqliteDatabase {
  return {
    driver,
    exec: (sql) => db.exec(sql),
    prepare: (sql) => db.prepare(sql),
    close: () => db.close(),
  };
}

function unavailable(message: string): WardwrightError {
  return new WardwrightError({ code: 'unavailable', message });
}
