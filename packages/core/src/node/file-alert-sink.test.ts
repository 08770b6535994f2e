import fs from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Alert } from '../decisions/alert-backpressure.ts';
import { type AlertDelivery, alertPayload } from '../engine/alert-sinks.ts';
import { WardwrightError } from '../errors/wardwright-error.ts';
import { type FileAlertSinkOptions, fileAlertSink } from './file-alert-sink.ts';

function alert(key: string): Alert {
  return { idempotency_key: key, rule_id: 'r', severity: 'warning', message: `m ${key}` };
}

function delivery(key: string, attempt = 1, signal = new AbortController().signal): AlertDelivery {
  return { alert: alert(key), model_id: 'm', model_version: '1', attempt, signal };
}

const line = (d: AlertDelivery): string => `${JSON.stringify(alertPayload(d))}\n`;

let dir: string;
let path: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wardwright-alerts-'));
  path = join(dir, 'logs', 'alerts.jsonl');
});

afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

describe('fileAlertSink', () => {
  it('creates the directory and appends one payload line per delivery', async () => {
    const sink = fileAlertSink({ path });
    expect(sink.name).toBe('file');
    await sink.deliver(delivery('a'));
    await sink.deliver(delivery('a', 2));
    expect(await readFile(path, 'utf8')).toBe(line(delivery('a')) + line(delivery('a', 2)));
  });

  it('serialises concurrent deliveries into whole lines, in call order', async () => {
    const sink = fileAlertSink({ path, name: 'audit', fsync: false });
    expect(sink.name).toBe('audit');
    const all = Array.from({ length: 30 }, (_, i) => delivery(`k${i}`));
    await Promise.all(all.map((d) => sink.deliver(d)));
    expect(await readFile(path, 'utf8')).toBe(all.map(line).join(''));
  });

  it('writes a batch as whole lines in one write, after what came before', async () => {
    const sink = fileAlertSink({ path, fsync: false });
    await sink.deliver(delivery('first'));
    const batch = ['b1', 'b2', 'b3'].map((k) => delivery(k));
    await sink.deliverBatch!(batch);
    expect(await readFile(path, 'utf8')).toBe([delivery('first'), ...batch].map(line).join(''));
    const aborted = new AbortController();
    aborted.abort();
    await expect(
      sink.deliverBatch!([delivery('x'), delivery('y', 1, aborted.signal)]),
    ).rejects.toThrow('file: delivery aborted');
  });

  it('starts a fresh line after a torn one, so the new line stays readable', async () => {
    await mkdir(join(dir, 'logs'));
    await writeFile(path, '{"schema":"wardwright.al');
    await fileAlertSink({ path }).deliver(delivery('b'));
    const lines = (await readFile(path, 'utf8')).split('\n');
    expect(lines).toEqual(['{"schema":"wardwright.al', line(delivery('b')).trimEnd(), '']);
  });

  it('follows a rotated file: the next line goes to the file now at the path', async () => {
    const sink = fileAlertSink({ path, fsync: false });
    await sink.deliver(delivery('a'));
    await rename(path, `${path}.1`);
    await sink.deliver(delivery('b'));
    expect(await readFile(`${path}.1`, 'utf8')).toBe(line(delivery('a')));
    expect(await readFile(path, 'utf8')).toBe(line(delivery('b')));
  });

  it('recreates a directory removed while it runs', async () => {
    const sink = fileAlertSink({ path });
    await sink.deliver(delivery('a'));
    await rm(join(dir, 'logs'), { recursive: true });
    await sink.deliver(delivery('b'));
    expect(await readFile(path, 'utf8')).toBe(line(delivery('b')));
  });

  it('fails the attempt and removes the partial line when the write fails', async () => {
    const sink = fileAlertSink({ path });
    await sink.deliver(delivery('a'));
    // The sink's named import of node:fs follows the module object once re-synced.
    vi.spyOn(fs, 'fdatasyncSync').mockImplementationOnce(() => {
      throw new Error('EIO');
    });
    syncBuiltinESMExports();
    try {
      expect((await rejection(sink.deliver(delivery('b')))).message).toBe('EIO');
    } finally {
      vi.restoreAllMocks();
      syncBuiltinESMExports();
    }
    await sink.deliver(delivery('c')); // the sink goes on after a failure
    expect(await readFile(path, 'utf8')).toBe(line(delivery('a')) + line(delivery('c')));
  });

  it('fails when the path cannot be opened', async () => {
    await mkdir(path, { recursive: true });
    const error = await rejection(fileAlertSink({ path }).deliver(delivery('a')));
    expect(error.message).toMatch(/EISDIR/);
  });

  it('refuses an aborted delivery and a payload that is not JSON', async () => {
    const sink = fileAlertSink({ path });
    const controller = new AbortController();
    controller.abort();
    const aborted = await rejection(sink.deliver(delivery('a', 1, controller.signal)));
    expect(aborted.message).toBe('file: delivery aborted');
    const bad = delivery('b');
    bad.alert.payload = { big: 1n };
    expect((await rejection(sink.deliver(bad))).message).toMatch(/BigInt/);
    await sink.deliver(delivery('c'));
    expect(await readFile(path, 'utf8')).toBe(line(delivery('c')));
  });

  it('validates its options with invalid_argument naming the option', () => {
    const make = (options: unknown) => () => fileAlertSink(options as FileAlertSinkOptions);
    expect(make({ path: '' })).toThrow(/path must be a non-empty string, got ""/);
    expect(make({})).toThrow(/path must be a non-empty string, got undefined/);
    expect(make({ path, fsync: 1 })).toThrow(/fsync must be a boolean, got 1/);
    expect(make({ path, name: '' })).toThrow(/name must be a non-empty string/);
    expect(make({ path, mode: 'a' })).toThrow(/unknown option `mode`/);
    try {
      make({ path: 1 })();
      expect.unreachable();
    } catch (error) {
      expect(WardwrightError.isInstance(error)).toBe(true);
      expect((error as WardwrightError).code).toBe('invalid_argument');
    }
  });
});
