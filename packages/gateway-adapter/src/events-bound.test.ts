import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { memoryReceiptStore } from '@wardwright/core';
import { describe, expect, it } from 'vitest';
import { MAX_UNREAD_EVENT_BYTES } from './admin.ts';
import { createGateway } from './gateway.ts';
import { scriptedProvider } from './providers/scripted.ts';

/**
 * `/v1/wardwright/events` for subscribers that stop reading: each may leave at most
 * MAX_UNREAD_EVENT_BYTES unread; past that it gets a final `dropped` event and no more, and what
 * it never read is freed. Ten paused subscribers through the real gateway handler (no socket in
 * between, so nothing else buffers for them).
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  return process.memoryUsage().heapUsed;
}

async function expectDropped(response: Response): Promise<void> {
  const text = await response.text();
  const frames = text.split('\n\n').filter((f) => f !== '');
  expect(frames.at(-1)).toMatch(/^event: dropped\ndata: \{"reason":"slow_subscriber",/);
  const dropped = JSON.parse(frames.at(-1)!.split('\ndata: ')[1]!) as {
    unread_bytes: number;
    limit_bytes: number;
  };
  expect(dropped.limit_bytes).toBe(MAX_UNREAD_EVENT_BYTES);
  expect(dropped.unread_bytes).toBeGreaterThanOrEqual(MAX_UNREAD_EVENT_BYTES);
  expect(text.length).toBeLessThan(MAX_UNREAD_EVENT_BYTES + 64 * 1024);
}

describe('events subscribers that stop reading', () => {
  it('are dropped past the byte bound with a final event, and their buffers freed', async () => {
    const gateway = await createGateway({
      models: [
        {
          artifact: {
            schema: 'wardwright.artifact.v1',
            model: { id: 'noisy', version: '1' },
            targets: [{ model: 'up', context_window: 100_000 }],
            // What serving keeps is bounded small, so the heap measures the subscribers.
            history: { max_entries: 32 },
            alerts: { queue: { dedupe_capacity: 16 } },
            request_rules: [
              {
                kind: 'match',
                id: 'page',
                contains: 'x',
                actions: [{ action: 'alert', severity: 'info', message: 'm'.repeat(2000) }],
              },
            ],
          },
          provider: scriptedProvider([{ text: 'ok' }]),
          // A sink that keeps nothing (the memory sink keeps every delivery).
          alertSinks: { memory: { name: 'memory', deliver: async () => {} } },
        },
      ],
      receipts: memoryReceiptStore({ max_receipts: 32 }),
      heartbeatMs: 60_000,
    });
    const ask = () =>
      gateway.fetch(
        new Request('http://gateway.test/v1/chat/completions', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'noisy',
            messages: [{ role: 'user', content: 'x' }],
            user: 'u'.repeat(200),
          }),
        }),
      );
    // Warm up, so the heap before the subscribers holds what serving needs anyway.
    for (let i = 0; i < 1500; i++) await (await ask()).text();
    const before = await settledHeap();

    const paused: Response[] = [];
    for (let i = 0; i < 10; i++) {
      paused.push(await gateway.fetch(new Request('http://gateway.test/v1/wardwright/events')));
    }
    expect(gateway.runtime.snapshot().events.subscribers).toBe(10);
    // Until every one of them is past its bound (each request's events are a few kB).
    let sent = 0;
    while (gateway.runtime.snapshot().events.subscribers > 0) {
      await (await ask()).text();
      sent++;
      if (sent > 5000) throw new Error('subscribers were never dropped');
    }
    // Read one of them now: what it was sent, then the reason, then the end.
    await expectDropped(paused.shift()!);

    // The other nine never read: after the grace their streams end and the heap comes back.
    await new Promise((r) => setTimeout(r, 2500));
    for (const response of paused) {
      await expect(response.text()).rejects.toThrow('events subscriber dropped: too slow');
    }
    paused.length = 0;
    const after = await settledHeap();
    expect(after).toBeLessThan(before * 1.1);
    // Serving goes on.
    expect((await ask()).status).toBe(200);
    await gateway.close();
  }, 60_000);
});
