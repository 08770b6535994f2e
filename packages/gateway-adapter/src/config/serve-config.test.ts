import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, trustedBackend } from '@wardwright/core';
import { sampleProcessTree } from '@wardwright/core/testing';
import { isolatedVmSandbox } from '@wardwright/sandbox-isolated-vm';
import { quickjsSandbox } from '@wardwright/sandbox-quickjs';
import { afterAll, describe, expect, it } from 'vitest';
import { createGateway } from '../gateway.ts';
import { loadServeConfig } from './serve-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'wardwright-serve-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const artifact = {
  schema: 'wardwright.artifact.v1',
  model: { id: 'demo', version: '1' },
  targets: [{ model: 'small', context_window: 8192 }],
  request_rules: [
    {
      kind: 'match',
      id: 'no-drop',
      contains: 'drop table',
      actions: [{ action: 'block', reason: 'destructive SQL' }],
    },
  ],
};

let n = 0;
async function configFile(config: unknown): Promise<string> {
  const file = join(dir, `config-${n++}.json`);
  await writeFile(file, typeof config === 'string' ? config : JSON.stringify(config));
  return file;
}

await writeFile(join(dir, 'demo.json'), JSON.stringify(artifact));

const issuesOf = async (promise: Promise<unknown>) => {
  const error = await promise.catch((e: unknown) => e);
  expect(ConfigError.isInstance(error), String(error)).toBe(true);
  return (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
};

describe('loadServeConfig', () => {
  it('compiles the artifacts (relative to the file), opens the store and serves', async () => {
    const file = await configFile({
      listen: { port: 0 },
      models: [{ artifact: 'demo.json', provider: 'canned' }],
      providers: { canned: { kind: 'scripted', replies: [{ text: 'hello there' }] } },
      store: { path: 'receipts/../store.db', retention: { max_receipts: 100 } },
    });
    const loaded = await loadServeConfig(file, { backends: { trusted: trustedBackend() } });
    expect(loaded.listen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(loaded.store?.driver).toMatch(/sqlite/);
    const gateway = await createGateway(loaded.gateway);
    const answer = await gateway.fetch(
      new Request('http://gw/v1/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] }),
      }),
    );
    expect(answer.status).toBe(200);
    const body = (await answer.json()) as { choices: { message: { content: string } }[] };
    expect(body.choices[0]?.message.content).toBe('hello there');
    const id = answer.headers.get('x-wardwright-receipt-id')!;
    expect((await loaded.store!.receipts.get(id))?.final.status).toBe('completed');
    await gateway.close();
    await loaded.close();
  });

  it('defaults to a SQLite file beside the config, or memory when asked', async () => {
    const models = [{ artifact: 'demo.json', provider: 'p' }];
    const providers = { p: { kind: 'scripted', replies: [{ chunks: ['a', 'b'] }] } };
    const durable = await loadServeConfig(await configFile({ models, providers }));
    expect(durable.listen).toEqual({ host: '127.0.0.1', port: 8787 });
    expect(durable.store).toBeDefined();
    await durable.close();
    const memory = await loadServeConfig(await configFile({ models, providers, store: 'memory' }));
    expect(memory.store).toBeUndefined();
    expect(memory.gateway.store).toBeUndefined();
    await memory.close();
  });

  it('reads keys and tokens from the environment, never from the file', async () => {
    const file = await configFile({
      models: [{ artifact: 'demo.json', provider: 'up' }],
      providers: {
        up: { kind: 'openai_compatible', base_url: 'http://127.0.0.1:9/v1', api_key_env: 'UP_KEY' },
      },
      store: 'memory',
      auth: { admin_token_env: 'ADMIN', api_keys: { demo: ['a'.repeat(64)] } },
    });
    const loaded = await loadServeConfig(file, {
      env: { UP_KEY: 'sk-test-key', ADMIN: 'a-long-admin-token-123' },
    });
    expect(loaded.gateway.auth).toEqual({
      adminToken: 'a-long-admin-token-123',
      apiKeys: { demo: ['a'.repeat(64)] },
    });
    await loaded.close();
    expect(await issuesOf(loadServeConfig(file, { env: {} }))).toEqual([
      '$.providers.up.api_key_env: names UP_KEY, which is not set in the environment',
      '$.auth.admin_token_env: names ADMIN, which is not set in the environment',
    ]);
    // A token too short to be safe, or a key too short to be real (scrubbing it from upstream
    // errors would mangle text), is a config error, not a crash of the server.
    expect(await issuesOf(loadServeConfig(file, { env: { UP_KEY: 'k', ADMIN: 'short' } }))).toEqual(
      [
        '$.providers.up.api_key_env: names UP_KEY, whose value is 1 character: an API key must be at least 8 (is it the real key?)',
        '$.auth.admin_token_env: names ADMIN, whose value is 5 characters: an admin token must be at least 16',
      ],
    );
  });

  it('reports every problem of the file with its path', async () => {
    expect(await issuesOf(loadServeConfig(await configFile('{ not json')))).toEqual([
      expect.stringMatching(/^\$: is not JSON: /),
    ]);
    const issues = await issuesOf(
      loadServeConfig(
        await configFile({
          models: [{ artifact: 'demo.json', provider: 'nope' }],
          providers: { p: { kind: 'scripted', replies: [{ text: 'x' }] } },
          listen: { port: 70000 },
          colour: 'red',
        }),
      ),
    );
    expect(issues.join('\n')).toMatch(/\$\.listen\.port/);
    expect(issues.join('\n')).toMatch(/colour/);
    expect(
      await issuesOf(
        loadServeConfig(
          await configFile({
            models: [{ artifact: 'demo.json', provider: 'nope' }],
            providers: { p: { kind: 'scripted', replies: [{ text: 'x' }] } },
          }),
        ),
      ),
    ).toEqual(['$.models[0].provider: names "nope", which is not a key of providers (known: p)']);
  });

  it('gives each model its own alert sinks, and names a sink an artifact uses but the config lacks', async () => {
    await writeFile(
      join(dir, 'alerting.json'),
      JSON.stringify({
        ...artifact,
        model: { id: 'alerting', version: '1' },
        alerts: { sinks: ['pager'] },
      }),
    );
    const models = [
      { artifact: 'alerting.json', provider: 'p' },
      { artifact: 'demo.json', provider: 'p' },
    ];
    const providers = { p: { kind: 'scripted', replies: [{ text: 'x' }] } };
    expect(
      await issuesOf(loadServeConfig(await configFile({ models, providers, store: 'memory' }))),
    ).toEqual([
      '$.models[0].artifact: sends alerts to sink "pager", which is not a key of alert_sinks (known: memory)',
    ]);
    const loaded = await loadServeConfig(
      await configFile({
        models,
        providers,
        store: 'memory',
        alert_sinks: {
          pager: { kind: 'webhook', url: 'http://127.0.0.1:9/hook', timeout_ms: 100 },
          log: { kind: 'file', path: 'alerts.jsonl' },
        },
      }),
    );
    const [a, b] = loaded.gateway.models;
    expect(Object.keys(a?.alertSinks ?? {})).toEqual(['memory', 'pager', 'log']);
    expect(a?.alertSinks?.pager).not.toBe(b?.alertSinks?.pager);
    await loaded.close();
  });

  it('closes what it opened when an artifact does not load', async () => {
    const file = await configFile({
      models: [
        { artifact: 'demo.json', provider: 'p' },
        { artifact: 'missing.json', provider: 'p' },
      ],
      providers: { p: { kind: 'scripted', replies: [{ text: 'x' }] } },
    });
    await expect(loadServeConfig(file)).rejects.toThrow(/missing\.json|ENOENT/);
  });
});

describe('loadServeConfig: where scripts run', () => {
  const scripted = {
    schema: 'wardwright.artifact.v1',
    model: { id: 'scripted', version: '1' },
    targets: [{ model: 'small', context_window: 8192 }],
    request_rules: [
      { kind: 'script', id: 'q', script: 'q' },
      { kind: 'script', id: 'v', script: 'v' },
    ],
    scripts: {
      q: { language: 'javascript', source: 'function decide() { return { actions: [] }; }' },
      v: {
        language: 'javascript',
        backend: 'isolated-vm',
        source: 'function decide() { return { actions: [] }; }',
      },
    },
  };
  const backends = () => ({ quickjs: quickjsSandbox(), 'isolated-vm': isolatedVmSandbox() });
  const config = async (execution?: string) => {
    await writeFile(join(dir, 'scripted.json'), JSON.stringify(scripted));
    return configFile({
      models: [{ artifact: 'scripted.json', provider: 'p' }],
      providers: { p: { kind: 'scripted', replies: [{ text: 'x' }] } },
      store: 'memory',
      ...(execution === undefined ? {} : { execution }),
    });
  };
  const children = () => sampleProcessTree()?.children.length ?? 0;
  const threads = () => sampleProcessTree()?.threads ?? 0;
  const served = async (loaded: Awaited<ReturnType<typeof loadServeConfig>>) => {
    const gateway = await createGateway(loaded.gateway);
    const answer = await gateway.fetch(
      new Request('http://gw/v1/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'scripted', messages: [{ role: 'user', content: 'hi' }] }),
      }),
    );
    await gateway.close();
    return answer.status;
  };

  it('by default runs QuickJS in worker threads and isolated-vm in child processes', async () => {
    const before = { children: children(), threads: threads() };
    const loaded = await loadServeConfig(await config(), { backends: backends() });
    try {
      expect(await served(loaded)).toBe(200);
      if (sampleProcessTree() !== undefined) {
        expect(children()).toBeGreaterThan(before.children);
        expect(threads()).toBeGreaterThan(before.threads);
      }
    } finally {
      await loaded.close();
    }
    await expect.poll(children).toBe(before.children);
  });

  it('"process" puts every sandbox in child processes; "worker" refuses isolated-vm', async () => {
    const before = children();
    const loaded = await loadServeConfig(await config('process'), { backends: backends() });
    try {
      expect(await served(loaded)).toBe(200);
      // A pool of processes for each backend (min(4, cores) each, at least one).
      if (sampleProcessTree() !== undefined) expect(children()).toBeGreaterThanOrEqual(before + 2);
    } finally {
      await loaded.close();
    }
    expect(
      await issuesOf(loadServeConfig(await config('worker'), { backends: backends() })),
    ).toEqual([
      expect.stringMatching(
        /scripts\.v\.source: does not load \(backend_failure\): execution "worker": a worker thread cannot contain the isolated-vm backend/,
      ),
    ]);
  });
});

describe('a gateway on a durable store', () => {
  it('remembers a session across a restart: history rules count what came before', async () => {
    await writeFile(
      join(dir, 'counted.json'),
      JSON.stringify({
        ...artifact,
        model: { id: 'counted', version: '1' },
        request_rules: [
          {
            kind: 'history',
            id: 'third-strike',
            scope: 'session_id',
            filter: { kind: 'request_text' },
            threshold: 3,
            actions: [{ action: 'block', reason: 'three requests in this session' }],
          },
        ],
      }),
    );
    const file = await configFile({
      models: [{ artifact: 'counted.json', provider: 'p' }],
      providers: { p: { kind: 'scripted', replies: [{ text: 'ok' }] } },
      store: { path: 'counted.db' },
    });
    const ask = async () => {
      const loaded = await loadServeConfig(file);
      const gateway = await createGateway(loaded.gateway);
      const answer = await gateway.fetch(
        new Request('http://gw/v1/chat/completions', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-wardwright-session-id': 'S' },
          body: JSON.stringify({ model: 'counted', messages: [{ role: 'user', content: 'hi' }] }),
        }),
      );
      await gateway.close();
      await loaded.close();
      return answer.status;
    };
    // Each request runs in a new gateway process-equivalent: only the store carries the count.
    expect([await ask(), await ask(), await ask()]).toEqual([200, 200, 403]);
  });
});
