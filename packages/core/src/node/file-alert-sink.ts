import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type AlertSink, abortedError, alertPayload, sinkName } from '../engine/alert-sinks.ts';
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
 * Append one JSON line per delivery attempt (the webhook's payload) to a file. Lines are
 * written one at a time. The file is opened per delivery rather than held, because a sink has
 * no close and an alert file is written rarely.
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
  let chain: Promise<void> = Promise.resolve();

  async function append(line: Buffer): Promise<void> {
    // Every time, not once: the directory may be removed (log rotation) while we run.
    await mkdir(dirname(path), { recursive: true });
    const handle = await open(path, 'a+');
    try {
      const { size } = await handle.stat();
      let data = line;
      if (size > 0) {
        // A line torn by a crash must not swallow the start of ours: begin a fresh line.
        const last = Buffer.alloc(1);
        await handle.read(last, 0, 1, size - 1);
        if (last[0] !== 0x0a) data = Buffer.concat([Buffer.from('\n'), line]);
      }
      try {
        await handle.appendFile(data);
        if (fsync) await handle.datasync();
      } catch (error) {
        // Remove a partial line, so the attempt fails cleanly and the retry writes it whole.
        await handle.truncate(size).catch(() => {});
        throw error;
      }
    } finally {
      await handle.close();
    }
  }

  return {
    name,
    deliver(delivery) {
      if (delivery.signal.aborted) return Promise.reject(abortedError(name, delivery.signal));
      let line: Buffer;
      try {
        line = Buffer.from(`${JSON.stringify(alertPayload(delivery))}\n`, 'utf8');
      } catch (error) {
        return Promise.reject(error);
      }
      const run = chain.then(() => append(line));
      chain = run.then(
        () => {},
        () => {},
      );
      return run;
    },
  };
}

function invalid(message: string): WardwrightError {
  return new WardwrightError({ code: 'invalid_argument', message });
}
