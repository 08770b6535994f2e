import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  HOSTILE_CASES,
  hostilePolicy,
  sampleProcessTree,
  waitForIdleTree,
} from '@wardwright/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The availability promise end to end, through the real `wardwright serve` (the built CLI, its
 * default execution: QuickJS and Starlark in worker threads, isolated-vm in child processes).
 * Three hostile models run every hostile case of their language in a loop while a fourth model
 * is asked ordinary questions: every one of those must succeed, the server must survive (an
 * isolated-vm case aborts V8 in its process), and once the hostile load stops the server and its
 * processes must go back to idle — nothing left spinning. No latency is asserted here:
 * `npm run bench:sandbox` measures the victim's p99 with and without this load.
 */

const CLI = fileURLToPath(new URL('../packages/cli/dist/cli.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'wardwright-hostile-serve-'));
let server: ChildProcess | undefined;
let url = '';
let stderr = '';

const artifact = (
  id: string,
  language: 'javascript' | 'starlark',
  source: string,
  backend?: string,
) => ({
  schema: 'wardwright.artifact.v1',
  model: { id, version: '1' },
  targets: [{ model: 'upstream', context_window: 100_000 }],
  request_rules: [{ kind: 'script', id: 'policy', script: 'policy' }],
  scripts: {
    policy: {
      language,
      source,
      ...(backend === undefined ? {} : { backend }),
      // Long enough for the isolated-vm heap abort to happen (most of a second) rather than be
      // stopped by the deadline first.
      limits: { timeout_ms: 2000, memory_bytes: 32 * 1024 * 1024 },
    },
  },
});

const VICTIM = 'function decide(input) { return { actions: [] }; }';

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const models = [
    ['victim', artifact('victim', 'javascript', VICTIM)],
    ['hostile-quickjs', artifact('hostile-quickjs', 'javascript', hostilePolicy('javascript'))],
    [
      'hostile-isolated-vm',
      artifact('hostile-isolated-vm', 'javascript', hostilePolicy('javascript'), 'isolated-vm'),
    ],
    ['hostile-starlark', artifact('hostile-starlark', 'starlark', hostilePolicy('starlark'))],
  ] as const;
  for (const [id, body] of models) writeFileSync(join(dir, `${id}.json`), JSON.stringify(body));
  writeFileSync(
    join(dir, 'wardwright.json'),
    JSON.stringify({
      listen: { port: 0 },
      models: models.map(([id]) => ({ artifact: `${id}.json`, provider: 'canned' })),
      providers: { canned: { kind: 'scripted', replies: [{ text: 'fine' }] } },
      store: 'memory',
    }),
  );
  server = spawn(
    process.execPath,
    ['--no-node-snapshot', CLI, 'serve', '--config', join(dir, 'wardwright.json')],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  server.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-20_000);
  });
  let stdout = '';
  url = await new Promise<string>((resolve, reject) => {
    server!.stdout!.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      const match = /serving .+? on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
      if (match !== null) resolve(match[1]!);
    });
    server!.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  // Every model's script loads in its pool (threads and processes) before the server listens.
}, 60_000);

afterAll(async () => {
  if (server !== undefined && server.exitCode === null && server.signalCode === null) {
    const exited = new Promise((resolve) => server!.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

async function post(model: string, content: string): Promise<Response> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
  });
  await response.text();
  return response;
}

const ask = async (model: string, content: string) => (await post(model, content)).status;

describe('wardwright serve under hostile policies', () => {
  it('answers every ordinary request while hostile models loop, survives, and returns to idle', async () => {
    const pid = server!.pid!;
    // Every pool is started before the baseline: one call per model.
    for (const model of ['victim', 'hostile-quickjs', 'hostile-isolated-vm', 'hostile-starlark']) {
      expect(await ask(model, 'hello')).toBe(200);
    }
    const baseline = sampleProcessTree(pid);

    let hostile = true;
    const hostileStatuses: number[] = [];
    const aborts: string[] = [];
    const loop = async (model: string, language: 'javascript' | 'starlark') => {
      const names = HOSTILE_CASES.filter((c) => c[language] !== undefined).map((c) => c.name);
      while (hostile) {
        for (const name of names) {
          if (!hostile) break;
          const response = await post(model, `please case:${name}`);
          hostileStatuses.push(response.status);
          if (model === 'hostile-isolated-vm' && name === 'heap-abort') {
            aborts.push(response.headers.get('x-wardwright-receipt-id')!);
          }
        }
      }
    };
    const loops = [
      loop('hostile-quickjs', 'javascript'),
      loop('hostile-isolated-vm', 'javascript'),
      loop('hostile-starlark', 'starlark'),
    ];
    const victim: number[] = [];
    const until = performance.now() + 12_000;
    while (performance.now() < until) victim.push(await ask('victim', 'an ordinary question'));
    hostile = false;
    await Promise.all(loops);

    expect(victim.length).toBeGreaterThan(0);
    expect(victim.filter((status) => status !== 200)).toEqual([]);
    // The hostile requests were answered too (blocked: a script that fails closes its rule).
    expect(hostileStatuses.length).toBeGreaterThan(0);
    expect(hostileStatuses.filter((status) => status >= 500 && status !== 503)).toEqual([]);
    expect([server!.exitCode, server!.signalCode]).toEqual([null, null]);
    // The isolated-vm heap bomb did abort V8 — in its own process, which the receipt names.
    expect(aborts.length).toBeGreaterThan(0);
    const receipt = (await (await fetch(`${url}/v1/wardwright/receipts/${aborts[0]}`)).json()) as {
      sandbox: { failure?: { kind: string; message: string } }[];
    };
    expect(receipt.sandbox[0]?.failure).toEqual({
      kind: 'backend_failure',
      message: 'the process was killed by SIGABRT and was replaced',
    });
    expect(await ask('victim', 'still there?')).toBe(200);

    if (baseline !== undefined) {
      const busy = await waitForIdleTree(baseline, { pid, deadlineMs: 30_000 });
      expect(busy, `the server did not return to idle: ${busy}`).toBeUndefined();
    }
  }, 120_000);
});
