import type { Provider } from '@wardwright/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayEvent } from './events.ts';
import { scriptedProvider } from './providers/scripted.ts';
import { type Served, serveGateway } from './testing/fixtures.ts';

/** Versioned model runtimes: `gateway.runtime.load` swaps a model's artifact while serving. */

const artifact = (version: string) => ({
  schema: 'wardwright.artifact.v1',
  model: { id: 'swap', version },
  targets: [{ model: `upstream-v${version}`, context_window: 100_000 }],
});

const ask = (content: string) => [{ role: 'user' as const, content }];

/** A streaming upstream that sends its first chunk, then waits until `release()`. */
function gatedProvider() {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const provider: Provider = async () => ({
    kind: 'stream',
    chunks: (async function* () {
      yield 'v1 first, ';
      await gate;
      yield 'v1 second';
    })(),
  });
  return { provider, release };
}

let served: Served | undefined;
afterEach(async () => {
  await served?.close();
  served = undefined;
});

describe('gateway.runtime.load', () => {
  it('finishes a slow stream on v1 while a request started after the swap is answered by v2', async () => {
    const gated = gatedProvider();
    served = await serveGateway({
      models: [{ artifact: artifact('1'), provider: gated.provider }],
    });
    const { gateway, client } = served;
    const events: GatewayEvent['type'][] = [];
    const phases: string[] = [];
    const response = await gateway.fetch(new Request('http://gw/v1/wardwright/events'));
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        for (const frame of value.split('\n\n')) {
          const type = /^event: (\w+)/.exec(frame)?.[1];
          if (type !== undefined) events.push(type as GatewayEvent['type']);
          const phase = /"phase":"(\w+)".*"generation"/.exec(frame)?.[1];
          if (type === 'runtime' && phase !== undefined) phases.push(phase);
        }
      }
    })();

    const stream = await client.chat.completions.create({
      model: 'swap',
      messages: ask('slow'),
      stream: true,
    });
    const iterator = stream[Symbol.asyncIterator]();
    let slowText = '';
    // The first chunk is out: the request is in flight on v1.
    while (slowText === '')
      slowText += (await iterator.next()).value?.choices[0]?.delta.content ?? '';

    const v2 = await gateway.runtime.load({
      artifact: artifact('2'),
      provider: scriptedProvider({ text: 'from v2' }),
    });
    expect(v2).toMatchObject({ version: '2', generation: 1, state: 'serving' });
    const during = gateway.runtime.snapshot().models[0]!;
    expect(during.version).toBe('2');
    expect(during.restarts).toBe(1);
    expect(during.versions.map((v) => [v.version, v.state, v.in_flight])).toEqual([
      ['2', 'serving', 0],
      ['1', 'draining', 1],
    ]);

    const { data, response: fast } = await client.chat.completions
      .create({ model: 'swap', messages: ask('fast') })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('from v2');
    const fastReceipt = await gateway.runtime.receipts.get(
      fast.headers.get('x-wardwright-receipt-id')!,
    );
    expect(fastReceipt?.model.version).toBe('2');
    expect(fastReceipt?.final.selected_model).toBe('upstream-v2');

    gated.release();
    let receiptId = '';
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) break;
      slowText += next.value.choices[0]?.delta.content ?? '';
      const extra = (next.value as unknown as { wardwright?: { receipt_id: string } }).wardwright;
      if (extra) receiptId = extra.receipt_id;
    }
    expect(slowText).toBe('v1 first, v1 second');
    const slowReceipt = await gateway.runtime.receipts.get(receiptId);
    expect(slowReceipt?.model.version).toBe('1');
    expect(slowReceipt?.final.selected_model).toBe('upstream-v1');

    await gateway.runtime.drained();
    const after = gateway.runtime.snapshot().models[0]!;
    expect(after.versions.map((v) => [v.version, v.state])).toEqual([['2', 'serving']]);
    expect(after.requests).toBe(2);
    await expect.poll(() => phases).toEqual(['loaded', 'draining', 'closed']);
    expect(events).toContain('receipt');
    await reader.cancel();
  });

  it('closes the replaced version at once when nothing is in flight, and keeps the history', async () => {
    served = await serveGateway({
      models: [{ artifact: artifact('1'), provider: scriptedProvider({ text: 'one' }) }],
    });
    const { gateway, client } = served;
    await client.chat.completions.create({ model: 'swap', messages: ask('remember me') });
    const v1 = gateway.runtime.models.get('swap')!;
    await gateway.runtime.load({
      artifact: artifact('1'),
      provider: scriptedProvider({ text: 'one again' }),
    });
    await gateway.runtime.drained();
    expect(v1.state).toBe('closed');
    const v1b = gateway.runtime.models.get('swap')!;
    expect(v1b.generation).toBe(1);
    expect(v1b.engine.history).toBe(v1.engine.history);
    const { response } = await client.chat.completions
      .create({ model: 'swap', messages: ask('again') })
      .withResponse();
    // Same artifact reloaded: its receipts still get their own ids.
    const id = response.headers.get('x-wardwright-receipt-id')!;
    expect((await gateway.runtime.receipts.list()).receipts.map((r) => r.receipt_id)).toContain(id);
    expect(gateway.runtime.snapshot().models[0]).toMatchObject({ restarts: 1, requests: 2 });
  });

  it('keeps the old version serving when the new artifact does not compile, or names another model', async () => {
    served = await serveGateway({
      models: [{ artifact: artifact('1'), provider: scriptedProvider({ text: 'still v1' }) }],
    });
    const { gateway, client } = served;
    await expect(
      gateway.runtime.load({
        artifact: { ...artifact('2'), targets: [] },
        provider: scriptedProvider({ text: 'v2' }),
      }),
    ).rejects.toThrow(/targets/);
    await expect(
      gateway.runtime.load({
        artifact: { ...artifact('2'), model: { id: 'other', version: '2' } },
        provider: scriptedProvider({ text: 'v2' }),
      }),
    ).rejects.toMatchObject({ code: 'unknown_model' });
    await expect(
      gateway.runtime.load({ artifact: artifact('2'), provider: 'nope' }),
    ).rejects.toMatchObject({ code: 'unknown_provider' });
    const data = await client.chat.completions.create({ model: 'swap', messages: ask('hi') });
    expect(data.choices[0]?.message.content).toBe('still v1');
    expect(gateway.runtime.snapshot().models[0]).toMatchObject({ version: '1', restarts: 0 });
  });

  it('refuses to load once the gateway is closed', async () => {
    served = await serveGateway({
      models: [{ artifact: artifact('1'), provider: scriptedProvider({ text: 'x' }) }],
    });
    const { gateway } = served;
    await served.close();
    served = undefined;
    await expect(
      gateway.runtime.load({ artifact: artifact('2'), provider: scriptedProvider({ text: 'y' }) }),
    ).rejects.toMatchObject({ code: 'closed' });
  });
});
