import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BUILT_CLI, captureIo, goodArtifact, runMain, TempDir } from '../cli.fixtures.ts';
import { main } from '../main.ts';
import { isLoopback } from './serve.ts';

let dir: TempDir;
let config: string;

beforeAll(async () => {
  dir = await TempDir.create();
  await dir.write(
    'models/coder.json',
    goodArtifact({
      request_rules: [
        {
          kind: 'match',
          id: 'no-drop',
          contains: 'drop table',
          actions: [{ action: 'block', reason: 'destructive SQL' }],
        },
      ],
    }),
  );
  config = await dir.write('wardwright.json', {
    listen: { port: 0 },
    models: [{ artifact: 'models/coder.json', provider: 'canned' }],
    providers: { canned: { kind: 'scripted', replies: [{ text: 'scripted answer' }] } },
  });
});
afterAll(() => dir.remove());

const URL_LINE = /serving \S+ on (http:\/\/127\.0\.0\.1:\d+)/;

describe('serve, in-process', () => {
  it('serves the config until its signal aborts, with a durable store beside the config', async () => {
    const { io, captured } = captureIo();
    const stop = new AbortController();
    const running = main(['serve', '--config', config], io, { signal: stop.signal });
    const url = await vi.waitFor(
      () => {
        const match = URL_LINE.exec(captured.stdout);
        if (match === null)
          throw new Error(`not serving yet: ${captured.stdout}${captured.stderr}`);
        return match[1]!;
      },
      { timeout: 20_000, interval: 20 },
    );
    expect(captured.stdout).toContain('receipts: SQLite');
    expect(captured.stdout).toContain(`new OpenAI({ baseURL: '${url}/v1'`);

    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const model = String((goodArtifact().model as { id: string }).id);
    const answer = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(answer.choices[0]?.message.content).toBe('scripted answer');
    await expect(
      client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'please DROP TABLE users' }],
      }),
    ).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);

    stop.abort();
    expect(await running).toBe(0);
    expect(captured.stderr).toContain('wardwright: stopping');
    expect(existsSync(dir.file('wardwright.db'))).toBe(true);
  }, 30_000);

  it('needs --config, a valid port and a valid config', async () => {
    expect(await runMain(['serve'])).toMatchObject({ code: 2 });
    expect((await runMain(['serve'])).stderr).toContain('--config FILE is required');
    const badPort = await runMain(['serve', '--config', config, '--port', 'http']);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toContain('--port must be an integer from 0 to 65535, not http');
    const invalid = await dir.write('invalid.json', { models: [], providers: {}, colour: 1 });
    const run = await runMain(['serve', '--config', invalid]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('is invalid');
    expect(run.stderr).toContain('$.models');
    expect((await runMain(['serve', '--config', dir.file('missing.json')])).stderr).toContain(
      'cannot read',
    );
  });

  it('an admin token too short is a config error naming where it came from, not a crash', async () => {
    const withToken = await dir.write('short-token.json', {
      listen: { port: 0 },
      models: [{ artifact: 'models/coder.json', provider: 'canned' }],
      providers: { canned: { kind: 'scripted', replies: [{ text: 'hi' }] } },
      auth: { admin_token_env: 'WARDWRIGHT_TEST_ADMIN' },
    });
    vi.stubEnv('WARDWRIGHT_TEST_ADMIN', 'short');
    try {
      const run = await runMain(['serve', '--config', withToken]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        '$.auth.admin_token_env: names WARDWRIGHT_TEST_ADMIN, whose value is 5 characters: an admin token must be at least 16',
      );
      expect(run.stderr).not.toContain('internal error');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('serve, security defaults', () => {
  it('refuses a non-loopback address without an admin token, naming the flag that overrides it', async () => {
    const open = await dir.write('open.json', {
      listen: { port: 0 },
      models: [{ artifact: 'models/coder.json', provider: 'canned' }],
      providers: { canned: { kind: 'scripted', replies: [{ text: 'hi' }] } },
      store: 'memory',
    });
    const run = await runMain(['serve', '--config', open, '--host', '0.0.0.0']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'refusing to serve 0.0.0.0, which is not a loopback address, without an admin token',
    );
    expect(run.stderr).toContain('pass --open-admin to serve the admin routes open anyway');
    expect(run.stdout).not.toContain('serving');
  });

  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) {
      expect(isLoopback(host), host).toBe(true);
    }
    for (const host of ['0.0.0.0', '::', '192.168.1.2', 'example.com', '127.0.0.1.nip.io']) {
      expect(isLoopback(host), host).toBe(false);
    }
  });
});

describe('serve, the built command', () => {
  it('stops on SIGTERM with exit code 0', async () => {
    if (!existsSync(BUILT_CLI)) {
      throw new Error(`${BUILT_CLI} is missing: run \`npm run build -w @wardwright/cli\` first`);
    }
    const child = spawn(process.execPath, [BUILT_CLI, 'serve', '--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
    });
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = await vi.waitFor(
      () => {
        const match = URL_LINE.exec(stdout);
        if (match === null) throw new Error('not serving yet');
        return match[1]!;
      },
      { timeout: 20_000, interval: 20 },
    );
    const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual([(goodArtifact().model as { id: string }).id]);
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
  }, 30_000);
});
