import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quickjsSandbox } from '@wardwright/sandbox-quickjs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { loadServeConfig } from './config/serve-config.ts';
import { createGateway } from './gateway.ts';
import { serve } from './node.ts';

/**
 * Isolation under load: model A's script loops until its timeout. With the serve config's default
 * execution (`contained`: QuickJS in worker threads) it holds one worker thread and model B
 * keeps answering; inline,
 * it holds the event loop and B waits. Only the order of completions is asserted.
 */

const dir = mkdtempSync(join(tmpdir(), 'wardwright-isolation-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SCRIPT =
  'function decide(input) { if (JSON.stringify(input).includes("spin")) { for (;;) {} } return { actions: [] }; }';

const artifact = (id: string) => ({
  schema: 'wardwright.artifact.v1',
  model: { id, version: '1' },
  targets: [{ model: 'upstream', context_window: 100_000 }],
  request_rules: [{ kind: 'script', id: 'guard', script: 'guard' }],
  scripts: { guard: { language: 'javascript', source: SCRIPT, limits: { timeout_ms: 1500 } } },
});

await writeFile(join(dir, 'a.json'), JSON.stringify(artifact('model-a')));
await writeFile(join(dir, 'b.json'), JSON.stringify(artifact('model-b')));

async function start(execution: 'contained' | 'inline' | undefined) {
  const file = join(dir, `config-${execution ?? 'default'}.json`);
  await writeFile(
    file,
    JSON.stringify({
      models: [
        { artifact: 'a.json', provider: 'canned' },
        { artifact: 'b.json', provider: 'canned' },
      ],
      providers: { canned: { kind: 'scripted', replies: [{ text: 'ok' }] } },
      store: 'memory',
      ...(execution === undefined ? {} : { execution }),
    }),
  );
  const inline = quickjsSandbox();
  const loaded = await loadServeConfig(file, { backends: { quickjs: inline } });
  const gateway = await createGateway(loaded.gateway);
  const served = await serve(gateway, { port: 0 });
  const post = (model: string, content: string) =>
    fetch(`${served.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
    }).then(async (response) => ({ response, text: await response.text() }));
  return {
    gateway,
    loaded,
    post,
    async close() {
      await served.close();
      await gateway.close();
      await loaded.close();
      await inline.dispose();
    },
  };
}

const N = 5;

describe('a looping script in model A', () => {
  it('in a worker thread (the default) holds one worker while model B completes its requests', async () => {
    const s = await start(undefined);
    try {
      const order: string[] = [];
      const a = s.post('model-a', 'spin').then((r) => {
        order.push('A');
        return r;
      });
      await vi.waitFor(() => {
        expect(s.gateway.runtime.snapshot().models[0]!.in_flight).toBe(1);
      });
      let completed = 0;
      for (let i = 0; i < N; i++) {
        const b = await s.post('model-b', `hello ${i}`);
        expect(b.response.status).toBe(200);
        completed++;
        order.push(`B${i}`);
      }
      expect(completed).toBe(N);
      const spun = await a;
      expect(order).toEqual(['B0', 'B1', 'B2', 'B3', 'B4', 'A']);
      expect(spun.response.status).toBeGreaterThanOrEqual(400);
      expect(spun.response.headers.get('x-wardwright-failure-domain')).toBe('session:script');
      const receipt = await s.gateway.runtime.receipts.get(
        spun.response.headers.get('x-wardwright-receipt-id')!,
      );
      expect(receipt?.sandbox[0]?.failure?.kind).toBe('timeout');
    } finally {
      await s.close();
    }
  });

  it("inline, blocks model B's requests until A's timeout", async () => {
    const s = await start('inline');
    try {
      const order: string[] = [];
      const a = s.post('model-a', 'spin').then((r) => {
        order.push('A');
        return r;
      });
      await vi.waitFor(() => {
        expect(s.gateway.runtime.snapshot().models[0]!.requests).toBe(1);
      });
      const bs = Array.from({ length: N }, (_, i) =>
        s.post('model-b', `hello ${i}`).then((r) => {
          order.push(`B${i}`);
          return r;
        }),
      );
      const [spun, ...rest] = await Promise.all([a, ...bs]);
      expect(order[0]).toBe('A');
      expect(order).toHaveLength(N + 1);
      expect(rest.every((b) => b.response.status === 200)).toBe(true);
      const receipt = await s.gateway.runtime.receipts.get(
        spun!.response.headers.get('x-wardwright-receipt-id')!,
      );
      expect(receipt?.sandbox[0]?.failure?.kind).toBe('timeout');
    } finally {
      await s.close();
    }
  });
});
