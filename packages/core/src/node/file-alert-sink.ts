import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import {
  type AlertDelivery,
  type AlertSink,
  abortedError,
  alertPayload,
  sinkName,
} from '../engine/alert-sinks.ts';
import { checkOptions, describeValue } from '../engine/receipt-store.ts';
import { WardwrightError } from '../errors/wardwright-error.ts';

export interface FileAlertSinkOptions {
  path: string;
  /** Default `'file'`. */
  name?: string;
  /** `datasync` after every line, so a delivered alert survives a crash; default true. */
  fsync?: boolean;
}

/**
 * Append one JSON line per delivery attempt (the webhook's payload) to a file; a batch is one
 * write and one fsync. The writes are synchronous on purpose: a busy gateway's event loop turns
 * slowly (a turn can take a hundred milliseconds at 200 connections), and an asynchronous append
 * needs several turns (stat, write, fsync), so its alerts fell behind, queued up and dropped. A
 * synchronous batch costs one write and one fsync of the loop's time — well under a millisecond
 * on a local disk, more on a slow or network one. The file is held open between writes,
 * reopened when the file at `path` is no longer the one held (rotated or removed), and closed
 * after a second without writes (a sink has no close).
 */
export function fileAlertSink(options: FileAlertSinkOptions): AlertSink {
  checkOptions(options, ['path', 'name', 'fsync'], 'fileAlertSink');
  const { path, fsync = true } = options;
  const name = sinkName(options.name, 'file', 'fileAlertSink');
  if (typeof path !== 'string' || path === '') {
    throw invalid(`fileAlertSink: path must be a non-empty string, got ${describeValue(path)}`);
  }
  if (typeof fsync !== 'boolean') {
    throw invalid(`fileAlertSink: fsync must be a boolean, got ${describeValue(fsync)}`);
  }
  /** The descriptor held between writes. */
  let held: number | undefined;
  let idle: ReturnType<typeof setTimeout> | undefined;

  const release = (): void => {
    const fd = held;
    held = undefined;
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // Already gone: nothing to release.
      }
    }
  };

  /**
   * The open file, if it is still the one at `path` (a write must land in the file a reader
   * finds), else a fresh one; and whether its last line is torn (a crash mid-write).
   */
  function file(): { fd: number; torn: boolean } {
    if (held !== undefined) {
      const atPath = statIfExists(path);
      const open = fstatSync(held);
      if (atPath !== undefined && atPath.ino === open.ino && atPath.dev === open.dev) {
        return { fd: held, torn: false };
      }
      release();
    }
    mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(path, 'a+');
    try {
      const { size } = fstatSync(fd);
      let torn = false;
      if (size > 0) {
        const last = Buffer.alloc(1);
        readSync(fd, last, 0, 1, size - 1);
        torn = last[0] !== 0x0a;
      }
      held = fd;
      return { fd, torn };
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  function append(lines: Buffer): void {
    if (idle !== undefined) clearTimeout(idle);
    const { fd, torn } = file();
    // A line torn by a crash must not swallow the start of ours: begin a fresh line.
    const data = torn ? Buffer.concat([Buffer.from('\n'), lines]) : lines;
    const { size } = fstatSync(fd);
    try {
      let written = 0;
      while (written < data.length) written += writeSync(fd, data, written);
      if (fsync) fdatasyncSync(fd);
    } catch (error) {
      // Remove a partial line, so the attempt fails cleanly and the retry writes it whole.
      try {
        ftruncateSync(fd, size);
      } catch {
        // The retry reopens the file; a torn line is then started afresh.
      }
      release();
      throw error;
    }
    // An idle sink holds no file open.
    idle = setTimeout(release, IDLE_CLOSE_MS);
    (idle as { unref?: () => void }).unref?.();
  }

  function write(deliveries: readonly AlertDelivery[]): Promise<void> {
    const aborted = deliveries.find((d) => d.signal.aborted);
    if (aborted !== undefined) return Promise.reject(abortedError(name, aborted.signal));
    try {
      append(
        Buffer.from(deliveries.map((d) => `${JSON.stringify(alertPayload(d))}\n`).join(''), 'utf8'),
      );
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  return {
    name,
    deliver: (delivery) => write([delivery]),
    deliverBatch: (deliveries) => write(deliveries),
  };
}

function statIfExists(path: string): { ino: number; dev: number } | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** A sink that has not written for this long closes its file. */
const IDLE_CLOSE_MS = 1000;

function invalid(message: string): WardwrightError {
  return new WardwrightError({ code: 'invalid_argument', message });
}
