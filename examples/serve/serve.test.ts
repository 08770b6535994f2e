import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterAll, describe, expect, it, vi } from 'vitest';

// `npm start` serves this config. The test runs the same config through the built CLI (in a
// temp dir, so the store is not written into the repository) and talks to every model.
const here = dirname(fileURLToPath(import.meta.url));
const cli = resolve(here, '../../packages/cli/bin/wardwright.js');
const built = resolve(here, '../../packages/cli/dist/cli.js');
let temp: string | undefined;
afterAll(async () => {
  if (temp !== undefined) await rm(temp, { recursive: true, force: true });
});

describe('npm start: the example gateway', () => {
  it('serves the five example models with scripted answers, governed', async () => {
    if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first`);
    temp = await mkdtemp(join(tmpdir(), 'wardwright-start-'));
    const config = JSON.parse(await readFile(join(here, 'wardwright.json'), 'utf8'));
    for (const model of config.models) model.artifact = resolve(here, model.artifact);
    config.listen.port = 0;
    const file = join(temp, 'wardwright.json');
    await writeFile(file, JSON.stringify(config));

    const child = spawn(process.execPath, [cli, 'serve', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
    });
    const exit = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    try {
      const url = await vi.waitFor(
        () => {
          const match = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
          if (match === null) throw new Error('not serving yet');
          return match[1]!;
        },
        { timeout: 20_000, interval: 50 },
      );
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const models = await client.models.list();
      expect(models.data.map((m) => m.id)).toEqual([
        'acme-coder',
        'support-answer',
        'acme-assistant',
        'release-assistant',
        'ops-agent',
      ]);
      const ask = (model: string, content: string) =>
        client.chat.completions.create({ model, messages: [{ role: 'user', content }] });

      // The removed API was retried away before the client saw it; the live key is masked.
      const coder = await ask('acme-coder', 'how do I connect?');
      expect(coder.choices[0]?.message.content).toBe(
        'Connect with NewClient.connect(url) and the key sk-live-[redacted].',
      );
      // The fenced answer failed the structured-output guard and was retried.
      const support = await ask('support-answer', 'how long do refunds take?');
      expect(JSON.parse(support.choices[0]?.message.content ?? '')).toMatchObject({
        answer: 'Refunds take 5 business days.',
      });
      // The ops agent answers with a tool call every time: its loop guard stops the sixth turn.
      const turn = () =>
        client.chat.completions.create(
          { model: 'ops-agent', messages: [{ role: 'user', content: 'why is the disk full?' }] },
          { headers: { 'x-wardwright-session-id': 'start-test' } },
        );
      for (let i = 0; i < 5; i++) {
        const answer = await turn();
        expect(answer.choices[0]?.finish_reason).toBe('tool_calls');
        expect(answer.choices[0]?.message.tool_calls?.[0]).toMatchObject({
          type: 'function',
          function: { name: 'shell.exec', arguments: '{"cmd":"df -h /var"}' },
        });
        expect(answer.usage?.total_tokens).toBe(201);
      }
      await expect(turn()).rejects.toMatchObject({ status: 403 });
      expect(stdout).toContain('receipts: SQLite');
      expect(existsSync(join(temp, '.wardwright', 'demo.db'))).toBe(true);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exit).toBe(0);
  }, 60_000);
});
