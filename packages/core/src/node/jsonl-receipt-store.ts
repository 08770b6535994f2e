import { type FileHandle, mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  checkOptions,
  describeValue,
  duplicateReceipt,
  ReceiptIndex,
  type ReceiptStore,
  receiptIssue,
  type StoredReceipt,
} from '../engine/receipt-store.ts';
import { WardwrightError } from '../errors/wardwright-error.ts';

/**
 * A durable receipt store: one JSON receipt per line, appended and (by default) fsync'd before
 * `append` resolves, so an acknowledged receipt survives a crash. The whole file is indexed in
 * memory on open. One process writes a file at a time.
 */

export interface JsonlTornTail {
  /** Byte offset in the store file where the torn bytes began (the file now ends there). */
  offset: number;
  /** How many bytes were moved aside. */
  bytes: number;
  /** Where they went: `<path>.torn`. */
  torn_path: string;
}

export type JsonlWarning = { kind: 'torn_tail'; path: string } & JsonlTornTail;

export interface JsonlRecovery {
  /** Receipts read back on open. */
  records: number;
  /** The incomplete last line found on open and moved aside, or null. */
  torn_tail: JsonlTornTail | null;
}

export interface JsonlReceiptStoreOptions {
  path: string;
  /** `datasync` after every append (and after a repair); default true. */
  fsync?: boolean;
  /** Called once per repair made on open; an exception it throws is ignored. */
  onWarning?: (warning: JsonlWarning) => void;
}

const NEWLINE = 0x0a;

export async function jsonlReceiptStore<R extends StoredReceipt>(
  options: JsonlReceiptStoreOptions,
): Promise<ReceiptStore<R> & { readonly recovery: JsonlRecovery }> {
  checkOptions(options, ['path', 'fsync', 'onWarning'], 'jsonlReceiptStore');
  const { path, fsync = true, onWarning } = options;
  if (typeof path !== 'string' || path === '') {
    throw invalid(`jsonlReceiptStore: path must be a non-empty string, got ${describeValue(path)}`);
  }
  if (typeof fsync !== 'boolean') {
    throw invalid(`jsonlReceiptStore: fsync must be a boolean, got ${describeValue(fsync)}`);
  }
  if (onWarning !== undefined && typeof onWarning !== 'function') {
    throw invalid('jsonlReceiptStore: onWarning must be a function');
  }

  await mkdir(dirname(path), { recursive: true });
  let content: Buffer;
  let created = false;
  try {
    content = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    content = Buffer.alloc(0);
    created = true;
  }
  const index = new ReceiptIndex<R>();
  const { end, torn } = scan(content, path, index);

  const handle = await open(path, 'a');
  let torn_tail: JsonlTornTail | null = null;
  try {
    if (created && fsync) await syncDirectory(dirname(path));
    if (torn) {
      torn_tail = { offset: end, bytes: content.length - end, torn_path: `${path}.torn` };
      await moveAside(content.subarray(end), torn_tail, fsync);
      await handle.truncate(end);
      if (fsync) await handle.datasync();
    }
  } catch (error) {
    await handle.close();
    throw error;
  }
  if (torn_tail !== null && onWarning !== undefined) {
    try {
      onWarning({ kind: 'torn_tail', path, ...torn_tail });
    } catch {
      // A logging hook must not make a repaired store unusable.
    }
  }

  let size = end;
  let closed: Promise<void> | undefined;
  /** Set when a failed append could not be rolled back: the file end is no longer known. */
  let broken: unknown;
  const pending = new Set<string>();
  let chain: Promise<void> = Promise.resolve();

  const ensureOpen = (): void => {
    if (closed !== undefined) throw invalid(`receipt store ${path} is closed`);
  };

  async function write(receipt: R, line: Buffer): Promise<void> {
    if (broken !== undefined) {
      throw new Error(`receipt store ${path} is unusable after a failed append`, {
        cause: broken,
      });
    }
    try {
      await handle.appendFile(line);
      if (fsync) await handle.datasync();
    } catch (error) {
      // Cut off whatever part of the line reached the file, so the next append starts on a
      // line boundary instead of merging with it.
      try {
        await handle.truncate(size);
      } catch (truncateError) {
        broken = truncateError;
      }
      throw error;
    }
    size += line.length;
    index.add(receipt);
  }

  return {
    recovery: Object.freeze({ records: index.size, torn_tail }),
    async append(receipt) {
      ensureOpen();
      const issue = receiptIssue(receipt);
      if (issue !== undefined) throw invalid(`receipt ${issue}`);
      const id = receipt.receipt_id;
      if (index.has(id) || pending.has(id)) throw duplicateReceipt(id);
      let line: Buffer;
      try {
        line = Buffer.from(`${JSON.stringify(receipt)}\n`, 'utf8');
      } catch (error) {
        throw new WardwrightError({
          code: 'invalid_argument',
          message: `receipt ${id} is not JSON-serialisable: ${(error as Error).message}`,
          cause: error,
        });
      }
      pending.add(id);
      // Appends run one after another, so lines never interleave and the index order is the
      // file order.
      const run = chain.then(() => write(receipt, line));
      const settle = (): void => {
        pending.delete(id);
      };
      chain = run.then(settle, settle);
      return run;
    },
    async get(receipt_id) {
      ensureOpen();
      return index.get(receipt_id);
    },
    async list(query) {
      ensureOpen();
      return index.list(query);
    },
    close() {
      closed ??= chain.then(() => handle.close());
      return closed;
    },
  };
}

/**
 * Index every complete line of `content`. Returns the end of the last good line and whether
 * what follows it is a torn tail: bytes without a final newline, or a last line that is not
 * JSON (a write cut short). Any other bad line is corruption and rejects.
 */
function scan<R extends StoredReceipt>(
  content: Buffer,
  path: string,
  index: ReceiptIndex<R>,
): { end: number; torn: boolean } {
  let pos = 0;
  let line = 1;
  while (pos < content.length) {
    const newline = content.indexOf(NEWLINE, pos);
    if (newline < 0) return { end: pos, torn: true };
    let value: unknown;
    try {
      value = JSON.parse(content.toString('utf8', pos, newline));
    } catch (error) {
      if (newline + 1 === content.length) return { end: pos, torn: true };
      throw corrupt(path, line, `not JSON (${(error as Error).message})`);
    }
    const issue = receiptIssue(value);
    if (issue !== undefined) throw corrupt(path, line, `not a receipt: receipt ${issue}`);
    const receipt = value as R;
    if (index.has(receipt.receipt_id)) {
      throw corrupt(path, line, `receipt_id ${JSON.stringify(receipt.receipt_id)} repeats`);
    }
    index.add(receipt);
    pos = newline + 1;
    line++;
  }
  return { end: pos, torn: false };
}

/** Keep the torn bytes for inspection: one JSON line per repair in `<path>.torn`. */
async function moveAside(bytes: Buffer, tail: JsonlTornTail, fsync: boolean): Promise<void> {
  const record = {
    offset: tail.offset,
    bytes: tail.bytes,
    detected_at_ms: Date.now(),
    // Exact bytes (a cut may split a UTF-8 sequence), plus a readable rendering.
    base64: bytes.toString('base64'),
    text: bytes.toString('utf8'),
  };
  const handle = await open(tail.torn_path, 'a');
  try {
    await handle.appendFile(`${JSON.stringify(record)}\n`);
    if (fsync) await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** A new file's directory entry is durable only once its directory is synced (POSIX). */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Not supported everywhere (Windows cannot open a directory); best effort.
  } finally {
    await handle?.close();
  }
}

function corrupt(path: string, line: number, what: string): WardwrightError {
  return invalid(
    `receipt store ${path} is corrupt at line ${line}: ${what}. Only a torn last line is ` +
      'repaired automatically; move the file aside or fix the line by hand.',
  );
}

function invalid(message: string): WardwrightError {
  return new WardwrightError({ code: 'invalid_argument', message });
}
