import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { memoryAlertSink } from '@wardwright/core';
import { createGateway, scriptedProvider } from '@wardwright/gateway';
import { serve } from '@wardwright/gateway/node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runMain } from '../cli.fixtures.ts';

// `wardwright alerts` against a real gateway over HTTP: one alert is dead-lettered (its sink
// fails every attempt), listed, and queued again once the sink works.
const sink = memoryAlertSink({ name: 'pager' });
let url = '';
let stop: () => Promise<void> = async () => {};

beforeAll(async () => {
  const gateway = await createGateway({
    models: [
      {
        artifact: {
          schema: 'wardwright.artifact.v1',
          model: { id: 'ops', version: '1' },
          targets: [{ model: 'up', context_window: 100_000 }],
          alerts: { sinks: ['pager'], queue: { retry: { max_attempts: 1 } } },
          request_rules: [
            {
              kind: 'match',
              id: 'page',
              contains: 'fire',
              actions: [{ action: 'alert', severity: 'critical', message: 'fire' }],
            },
          ],
        },
        provider: scriptedProvider([{ text: 'ok' }]),
        alertSinks: { pager: sink },
      },
    ],
  });
  const served = await serve(gateway, { port: 0 });
  url = served.url;
  stop = async () => {
    await served.close();
    await gateway.close();
  };
  sink.failNext(1, 'pager down');
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'ops', messages: [{ role: 'user', content: 'fire!' }] }),
  });
  expect(response.status).toBe(200);
});

afterAll(async () => {
  await stop();
});

describe('wardwright alerts', () => {
  it('lists the dead letters, queues them again, and the sink gets them', async () => {
    const listed = await vi.waitFor(async () => {
      const run = await runMain(['alerts', 'dead-letters', '--url', url]);
      expect(run.stdout).toContain('1 dead letter\n');
      return run;
    });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(
      /^ops pager rcpt_\S+:page:fire:critical delivery_failed, 1 attempt — pager down\n1 dead letter\n$/,
    );
    const json = await runMain(['alerts', 'dead-letters', '--url', url, '--json']);
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({ model_id: 'ops', sink: 'pager', reason: 'delivery_failed' }),
    ]);

    const redriven = await runMain(['alerts', 'redrive', '--url', url, '--model', 'ops']);
    expect(redriven.code).toBe(0);
    expect(redriven.stdout).toMatch(/1 dead letter queued again\n$/);
    await vi.waitFor(() => expect(sink.delivered).toHaveLength(1));
    expect((await runMain(['alerts', 'dead-letters', '--url', url])).stdout).toBe(
      '0 dead letters\n',
    );
  });

  it('says what is wrong with the command line, or with the gateway', async () => {
    const noUrl = await runMain(['alerts', 'dead-letters']);
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain('--url URL is required');
    const typo = await runMain(['alerts', 'redrvie', '--url', url]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('ACTION must be one of dead-letters, redrive, not redrvie');
    // A port nobody listens on: taken, then released.
    const closed = createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((done) => closed.close(() => done()));
    const unreachable = await runMain([
      'alerts',
      'dead-letters',
      '--url',
      `http://127.0.0.1:${port}`,
    ]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain(`cannot reach http://127.0.0.1:${port}: `);
    expect(unreachable.stderr).toContain('ECONNREFUSED');
    const bad = await runMain(['alerts', 'dead-letters', '--url', url, '--sink', '']);
    expect(bad.code).toBe(0);
    const missingToken = await runMain([
      'alerts',
      'dead-letters',
      '--url',
      url,
      '--token-env',
      'NO_SUCH_TOKEN_VAR',
    ]);
    expect(missingToken.code).toBe(2);
    expect(missingToken.stderr).toContain('--token-env names NO_SUCH_TOKEN_VAR, which is not set');
  });
});
