import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Receipt } from '@wardwright/core';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { openSqliteStore } from './durable/sqlite-store.ts';
import { type ServingCli, spawnServe } from './testing/serve-cli.ts';

/**
 * Graceful shutdown through the real CLI: SIGTERM with requests and streams in flight lets them
 * finish within the grace period; past it they end with a terminal frame (or a 503) and a
 * receipt that blames the shutdown, never the client.
 */

const dir = mkdtempSync(join(tmpdir(), 'wardwright-shutdown-'));
const cleanup: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
  rmSync(dir, { recursive: true, force: true });
});

const WORDS = 10;

/** An OpenAI-compatible upstream that takes `WORDS × delayMs` to answer, streamed or whole. */
async function slowUpstream(delayMs: number): Promise<{ url: string; received: () => number }> {
  let received = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      received++;
      const stream = (JSON.parse(body) as { stream?: boolean }).stream === true;
      let sent = 0;
      const timers: ReturnType<typeof setTimeout>[] = [];
      res.on('close', () => {
        for (const t of timers) clearTimeout(t);
      });
      const frame = (delta: object, finish: string | null) =>
        `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      if (stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const next = () => {
          if (sent === WORDS) {
            res.end(`${frame({}, 'stop')}data: [DONE]\n\n`);
            return;
          }
          sent++;
          res.write(frame({ content: `w${sent} ` }, null));
          timers.push(setTimeout(next, delayMs));
        };
        next();
      } else {
        timers.push(
          setTimeout(() => {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(
              JSON.stringify({
                id: 'c',
                object: 'chat.completion',
                created: 0,
                model: 'm',
                choices: [
                  {
                    index: 0,
                    message: { role: 'assistant', content: answer },
                    finish_reason: 'stop',
                  },
                ],
              }),
            );
          }, WORDS * delayMs),
        );
      }
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  cleanup.push(
    () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/v1`, received: () => received };
}

const answer = Array.from({ length: WORDS }, (_, i) => `w${i + 1} `).join('');

async function startServe(name: string, upstream: string, graceMs: number): Promise<ServingCli> {
  await writeFile(
    join(dir, `${name}.artifact.json`),
    JSON.stringify({
      schema: 'wardwright.artifact.v1',
      model: { id: 'slow', version: '1' },
      targets: [{ model: 'upstream', context_window: 100_000 }],
    }),
  );
  const config = join(dir, `${name}.json`);
  await writeFile(
    config,
    JSON.stringify({
      listen: { port: 0, shutdown_grace_ms: graceMs },
      models: [{ artifact: `${name}.artifact.json`, provider: 'up' }],
      providers: { up: { kind: 'openai_compatible', base_url: upstream, max_retries: 0 } },
      store: { path: `${name}.db` },
    }),
  );
  return spawnServe(config, (step) => cleanup.push(step));
}

interface Answer {
  status: number;
  receipt: string | null;
  text: string;
}

/** One request, read to its end: a stream's content and its last error frame, or the JSON. */
async function ask(base: string, stream: boolean): Promise<Answer> {
  const response = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'slow', stream, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const body = await response.text();
  let text = body;
  if (stream && response.status === 200) {
    text = '';
    for (const line of body.split('\n')) {
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      const frame = JSON.parse(line.slice(6)) as {
        choices?: { delta?: { content?: string } }[];
        error?: { code: string };
      };
      text +=
        frame.error !== undefined
          ? `[${frame.error.code}]`
          : (frame.choices?.[0]?.delta?.content ?? '');
    }
  }
  return {
    status: response.status,
    receipt: response.headers.get('x-wardwright-receipt-id'),
    text,
  };
}

async function receiptsOf(db: string): Promise<Receipt[]> {
  const store = await openSqliteStore<Receipt>({ path: db });
  try {
    return (await store.receipts.list({ limit: 500 })).receipts;
  } finally {
    await store.close();
  }
}

describe('wardwright serve on SIGTERM', () => {
  it('lets 40 requests and streams in flight finish within the grace period', async () => {
    const upstream = await slowUpstream(100); // each answer takes about a second
    const serving = await startServe('graceful', upstream.url, 20_000);
    const asked = Array.from({ length: 40 }, (_, i) => ask(serving.url, i % 2 === 0));
    await vi.waitFor(() => expect(upstream.received()).toBe(40), { timeout: 20_000 });
    serving.child.kill('SIGTERM');
    const answers = await Promise.all(asked);
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.text.includes(answer) || a.text.includes(answer.trim())).toBe(true);
    }
    expect(await serving.exit).toBe(0);
    expect(serving.output()).toContain('wardwright: stopped (40 finished)');
    const receipts = await receiptsOf(join(dir, 'graceful.db'));
    expect(receipts).toHaveLength(40);
    expect(new Set(receipts.map((r) => r.final.status))).toEqual(new Set(['completed']));
  }, 90_000);

  it('past the grace period ends the rest with a terminal frame and a receipt blaming the shutdown', async () => {
    const upstream = await slowUpstream(2000); // twenty seconds per answer
    const serving = await startServe('cut', upstream.url, 300);
    const asked = Array.from({ length: 6 }, (_, i) => ask(serving.url, i % 2 === 0));
    await vi.waitFor(() => expect(upstream.received()).toBe(6), { timeout: 20_000 });
    serving.child.kill('SIGTERM');
    const answers = await Promise.all(asked);
    for (const [i, a] of answers.entries()) {
      if (i % 2 === 0) {
        // A stream already under way: its status was sent; its last frame says why it ended.
        expect(a.status).toBe(200);
        expect(a.text).toMatch(/\[gateway_shutdown\]$/);
      } else {
        expect(a.status).toBe(503);
        expect(JSON.parse(a.text).error).toMatchObject({ code: 'gateway_shutdown' });
      }
    }
    expect(await serving.exit).toBe(0);
    expect(serving.output()).toContain('6 ended at the end of the grace period');
    const receipts = await receiptsOf(join(dir, 'cut.db'));
    expect(receipts.map((r) => r.receipt_id).sort()).toEqual(answers.map((a) => a.receipt).sort());
    for (const receipt of receipts) {
      expect(receipt.final).toMatchObject({
        status: 'gateway_shutdown',
        http_status: 503,
        failure_domain: { scope: 'gateway', cause: 'shutdown' },
      });
    }
  }, 90_000);

  it('SIGKILL mid-stream, restart: every receipt id a client received resolves', async () => {
    const upstream = await slowUpstream(1000); // ten seconds per answer
    const serving = await startServe('killed', upstream.url, 10_000);
    // Streams whose first byte (and receipt id) went out, still running when the process dies.
    const streams = await Promise.all(
      Array.from({ length: 4 }, () =>
        fetch(`${serving.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'slow',
            stream: true,
            messages: [{ role: 'user', content: 'hi' }],
          }),
        }),
      ),
    );
    const ids = streams.map((r) => r.headers.get('x-wardwright-receipt-id'));
    for (const id of ids) expect(id).toMatch(/^rcpt_/);
    serving.child.kill('SIGKILL');
    await serving.exit;
    for (const r of streams) await r.text().catch(() => '');

    const again = await startServe('killed', upstream.url, 10_000);
    for (const id of ids) {
      const response = await fetch(`${again.url}/v1/wardwright/receipts/${id}`);
      expect(response.status, String(id)).toBe(200);
      expect(await response.json()).toMatchObject({
        object: 'wardwright.pending_receipt',
        receipt_id: id,
        model: { id: 'slow', version: '1' },
        final: { status: 'interrupted' },
      });
    }
    again.child.kill('SIGTERM');
    await again.exit;
  }, 90_000);
});
