import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { quickjsSandbox } from '@wardwright/sandbox-quickjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type InvokeResult,
  type LoadedPolicy,
  type SandboxBackend,
  SandboxLoadError,
} from '../sandbox/contract.ts';
import { type WorkerSandboxEvent, workerSandbox } from './worker-sandbox.ts';

// Workers load the BUILT backends (vitest does not transform worker code): the specifiers below
// resolve, from the repository root, to packages/*/dist through the workspace links.
const QUICKJS = { module: '@wardwright/sandbox-quickjs', export: 'quickjsSandbox' };
const TRUSTED = { module: '@wardwright/core', export: 'trustedBackend' };
const ROOT = new URL('../../../../', import.meta.url);

const spawnedIds = (events: WorkerSandboxEvent[]) =>
  events.flatMap((e) => (e.type === 'spawn' ? [e.threadId] : []));

const SPIN = `function spin() { while (true) {} }
function ok(input) { return { ok: input }; }`;

let dir = '';
let crashy: string;

beforeAll(async () => {
  for (const [pkg, file] of [
    ['core', 'packages/core/dist/index.cjs'],
    ['sandbox-quickjs', 'packages/sandbox-quickjs/dist/index.cjs'],
  ] as const) {
    if (!existsSync(new URL(file, ROOT))) {
      throw new Error(`${file} is missing: run \`npm run build -w @wardwright/${pkg}\` first`);
    }
  }
  dir = await mkdtemp(join(tmpdir(), 'worker-sandbox-'));
  crashy = join(dir, 'crashy.mjs');
  // A backend that misbehaves on purpose, in ways no policy could make a real backend misbehave.
  await writeFile(
    crashy,
    `import { existsSync, writeFileSync } from 'node:fs';
const typed = (kind, message) =>
  Object.assign(new Error(message), { [Symbol.for('wardwright.error.sandbox_load')]: true, failure: { kind, message } });
export function crashyBackend(options) {
  return {
    specificationVersion: 'v1', name: 'crashy', language: 'javascript',
    capabilities: { isolated: false, wallClock: true, steps: 'none', memory: 'none', cpuTime: false, hardKill: false },
    async load(source) {
      if (source.code === 'plain') throw new Error('plain load failure');
      if (source.code === 'hang') for (;;) {}
      // Loads once, then refuses in every other worker: a lazy load that fails.
      if (source.code.startsWith('once:')) {
        const marker = source.code.slice(5);
        if (existsSync(marker)) {
          if (marker.endsWith('plain')) throw new Error('plain refusal');
          throw typed('compile_error', 'second load refused');
        }
        writeFileSync(marker, '');
      }
      return {
        entries: ['exit', 'oom', 'ok', 'throw', 'crashLater', 'spin'],
        async invoke(entry, input) {
          if (entry === 'exit') process.exit(3);
          if (entry === 'oom') { const keep = []; for (;;) keep.push({ a: [1, 2, 3], s: 'x' + keep.length }); }
          if (entry === 'throw') throw new Error('invoke threw');
          if (entry === 'spin') for (;;) {}
          const value = entry === 'crashLater' ? 'later' : { ok: input, tag: options?.tag ?? null };
          if (entry === 'crashLater') setTimeout(() => { throw new Error('async boom'); }, 0);
          return { ok: true, value, usage: { wall_ms: 0 } };
        },
        async dispose() {},
      };
    },
    async dispose() {},
  };
}
export const notAFunction = 1;
export function failing() { throw new Error('cannot start'); }
`,
  );
});

afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

const CRASHY = () => ({ module: crashy, export: 'crashyBackend' });

async function loaded(backend: SandboxBackend, code: string, name = 'p'): Promise<LoadedPolicy> {
  return backend.load({ name, language: 'javascript', code }, { timeout_ms: 5000 });
}

function failureOf(result: InvokeResult) {
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result.value)}`);
  return result.failure;
}

describe('workerSandbox: the host stays responsive', () => {
  it('while a QuickJS policy spins under timeout_ms 300, the host answers HTTP and other policies run', async () => {
    const backend = await workerSandbox({ backend: QUICKJS, threads: 2 });
    const server = createServer((_req, res) => res.end('pong'));
    try {
      expect(backend.name).toBe('quickjs+worker');
      expect(backend.capabilities).toMatchObject({
        isolated: true,
        memory: 'hard',
        hardKill: true,
      });
      const spinner = await loaded(backend, SPIN, 'spinner');
      const other = await loaded(backend, 'function decide(n) { return { twice: n * 2 }; }');
      // Both workers are up; the warm-up loads `other` into the second one (its first load there
      // compiles QuickJS's WebAssembly), because the first is busy spinning meanwhile.
      const warm = spinner.invoke('spin', null, { timeout_ms: 300 });
      expect(await other.invoke('decide', 0)).toMatchObject({ ok: true, value: { twice: 0 } });
      expect(failureOf(await warm).kind).toBe('timeout');

      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      // fetch loads its HTTP client on first use: not part of what is measured.
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('pong');
      const order: string[] = [];
      let ticks = 0;
      let spinning = true;
      const tick = () => {
        ticks++;
        if (spinning) setImmediate(tick);
      };
      setImmediate(tick);
      const spin = spinner.invoke('spin', null, { timeout_ms: 300 }).then((result) => {
        spinning = false;
        order.push('spin');
        return result;
      });
      const [pong, answers] = await Promise.all([
        fetch(`http://127.0.0.1:${port}/`)
          .then((response) => response.text())
          .finally(() => order.push('http')),
        Promise.all([1, 2, 3].map((n) => other.invoke('decide', n))).finally(() =>
          order.push('other policy'),
        ),
      ]);
      const ticksDuringSpin = ticks;
      const result = await spin;

      expect(pong).toBe('pong');
      expect(answers.map((a) => (a.ok ? a.value : a.failure))).toEqual([
        { twice: 2 },
        { twice: 4 },
        { twice: 6 },
      ]);
      expect(order).toHaveLength(3);
      expect(order[2]).toBe('spin');
      expect(ticksDuringSpin).toBeGreaterThan(0);
      // QuickJS stopped the loop itself (its deadline), so the worker survived: no restart.
      expect(failureOf(result)).toEqual({ kind: 'timeout', message: expect.any(String) });
      expect(failureOf(result).message).not.toMatch(/terminated/);
      expect(result.usage.wall_ms).toBeGreaterThanOrEqual(300);
      expect(await spinner.invoke('ok', 1)).toMatchObject({ ok: true, value: { ok: 1 } });
    } finally {
      server.close();
      await backend.dispose();
    }
  });
});

describe('workerSandbox: the watchdog', () => {
  it('a trusted call stuck past timeout + grace is timeout, and the queued call runs on a fresh worker', async () => {
    const events: WorkerSandboxEvent[] = [];
    const backend = await workerSandbox({
      backend: TRUSTED,
      threads: 1,
      graceMs: 50,
      onWorkerEvent: (event) => events.push(event),
    });
    try {
      expect(backend.capabilities).toMatchObject({ isolated: false, hardKill: true });
      const policy = await loaded(backend, SPIN);
      const [stuck, queued] = await Promise.all([
        policy.invoke('spin', null, { timeout_ms: 100 }),
        policy.invoke('ok', 'after'),
      ]);
      expect(failureOf(stuck)).toEqual({
        kind: 'timeout',
        message: 'ran over the 100 ms limit; the worker was terminated',
      });
      // timeout + grace; Node's timers run on the event loop's cached millisecond clock, so the
      // watchdog can fire up to a millisecond before 150 ms of performance.now() have passed.
      expect(stuck.usage.wall_ms).toBeGreaterThanOrEqual(149);
      expect(queued).toMatchObject({ ok: true, value: { ok: 'after' } });
      expect(await policy.invoke('ok', 2)).toMatchObject({ ok: true, value: { ok: 2 } });
      // The replacement can spawn before the old thread has finished exiting.
      await expect
        .poll(() => events.filter((e) => e.type === 'exit'))
        .toEqual([expect.objectContaining({ cause: 'watchdog', threadId: spawnedIds(events)[0] })]);
      const spawned = spawnedIds(events);
      expect(new Set(spawned).size).toBe(2);
    } finally {
      await backend.dispose();
    }
  });

  it('a load that hangs past loadTimeoutMs is a timeout SandboxLoadError', async () => {
    const backend = await workerSandbox({ backend: CRASHY(), threads: 1, loadTimeoutMs: 200 });
    try {
      const error = await backend
        .load({ name: 'h', language: 'javascript', code: 'hang' })
        .catch((e: unknown) => e);
      expect(SandboxLoadError.isInstance(error)).toBe(true);
      expect((error as SandboxLoadError).failure).toEqual({
        kind: 'timeout',
        message: 'loading took longer than 200 ms; the worker was terminated',
      });
      expect(await (await loaded(backend, 'fine')).invoke('ok', 1)).toMatchObject({ ok: true });
    } finally {
      await backend.dispose();
    }
  });
});

describe('workerSandbox: workers that die', () => {
  it('a worker that exits mid-call fails the call as backend_failure and is replaced', async () => {
    const events: WorkerSandboxEvent[] = [];
    const backend = await workerSandbox({
      backend: { ...CRASHY(), options: { tag: 'passed' } },
      threads: 1,
      onWorkerEvent: (event) => events.push(event),
    });
    try {
      const policy = await loaded(backend, 'fine');
      expect(failureOf(await policy.invoke('exit', null))).toEqual({
        kind: 'backend_failure',
        message: 'the worker exited with code 3 and was replaced',
      });
      expect(await policy.invoke('ok', 1)).toMatchObject({
        ok: true,
        value: { ok: 1, tag: 'passed' },
      });
      expect(events.find((e) => e.type === 'exit')).toMatchObject({
        cause: 'crashed',
        exitCode: 3,
      });
    } finally {
      await backend.dispose();
    }
  });

  it('a worker out of its resourceLimits heap is memory_limit, and the next call works', async () => {
    const backend = await workerSandbox({
      backend: CRASHY(),
      threads: 1,
      resourceLimits: { maxOldGenerationSizeMb: 16 },
    });
    try {
      const policy = await loaded(backend, 'fine');
      expect(failureOf(await policy.invoke('oom', null, { timeout_ms: 20_000 }))).toEqual({
        kind: 'memory_limit',
        message: 'the worker ran out of its heap limit and was replaced',
      });
      expect(await policy.invoke('ok', 1)).toMatchObject({ ok: true, value: { ok: 1 } });
    } finally {
      await backend.dispose();
    }
  });

  it('an error thrown in an idle worker replaces it; a backend whose invoke throws is typed', async () => {
    const events: WorkerSandboxEvent[] = [];
    const backend = await workerSandbox({
      backend: CRASHY(),
      threads: 1,
      onWorkerEvent: (event) => {
        events.push(event);
        throw new Error('a logging hook that throws changes nothing');
      },
    });
    try {
      const policy = await loaded(backend, 'fine');
      expect(failureOf(await policy.invoke('throw', null))).toEqual({
        kind: 'backend_failure',
        message: 'the backend threw: Error: invoke threw',
      });
      expect(await policy.invoke('crashLater', null)).toMatchObject({ ok: true, value: 'later' });
      await expect.poll(() => events.filter((e) => e.type === 'exit').length).toBe(1);
      expect(await policy.invoke('ok', 1)).toMatchObject({ ok: true, value: { ok: 1 } });
      expect(events.filter((e) => e.type === 'spawn')).toHaveLength(2);
      expect(events.find((e) => e.type === 'exit')).toMatchObject({
        cause: 'crashed',
        exitCode: 1,
      });
    } finally {
      await backend.dispose();
    }
  });

  it('a lazy load that fails in a fresh worker answers the call with the load failure', async () => {
    const backend = await workerSandbox({ backend: CRASHY(), threads: 1 });
    try {
      const crasher = await loaded(backend, 'fine');
      const typed = await loaded(backend, `once:${join(dir, 'typed')}`);
      const plain = await loaded(backend, `once:${join(dir, 'plain')}`);
      // The worker dies, so the next call of each policy loads it again in a new worker.
      expect(failureOf(await crasher.invoke('exit', null)).kind).toBe('backend_failure');
      expect(failureOf(await typed.invoke('ok', 1))).toEqual({
        kind: 'compile_error',
        message: 'loading the policy in a worker: second load refused',
      });
      expect(failureOf(await plain.invoke('ok', 1))).toEqual({
        kind: 'backend_failure',
        message:
          'loading the policy in a worker: the backend failed to load the policy: Error: plain refusal',
      });
    } finally {
      await backend.dispose();
    }
  });

  it('calls waiting for a worker that cannot start are answered, not left pending', async () => {
    const marker = join(dir, 'started-once');
    const once = join(dir, 'start-once.mjs');
    await writeFile(
      once,
      `import { existsSync, writeFileSync } from 'node:fs';
if (existsSync(${JSON.stringify(marker)})) throw new Error('refusing a second start');
writeFileSync(${JSON.stringify(marker)}, '');
export { crashyBackend } from ${JSON.stringify(pathToFileURL(crashy).href)};`,
    );
    const events: (WorkerSandboxEvent & { cause?: string })[] = [];
    const backend = await workerSandbox({
      backend: { module: once, export: 'crashyBackend' },
      threads: 1,
      onWorkerEvent: (event) => events.push(event),
    });
    try {
      const policy = await loaded(backend, 'fine');
      expect(failureOf(await policy.invoke('exit', null)).kind).toBe('backend_failure');
      // The replacement, started at once, fails; the next call starts one more, which fails too.
      await expect.poll(() => events.filter((e) => e.cause === 'start_failed').length).toBe(1);
      expect(failureOf(await policy.invoke('ok', 1))).toEqual({
        kind: 'backend_failure',
        message: expect.stringMatching(/^a worker could not start: .*refusing a second start/),
      });
      await expect.poll(() => events.filter((e) => e.cause === 'start_failed').length).toBe(2);
    } finally {
      await backend.dispose();
    }
  });
});

describe('workerSandbox: loading', () => {
  it('load errors keep the inner backend kind and message (QuickJS compile_error, trusted runtime_error)', async () => {
    const quickjs = await workerSandbox({ backend: QUICKJS, threads: 1 });
    const trusted = await workerSandbox({ backend: TRUSTED, threads: 1 });
    const inline = quickjsSandbox();
    const loadError = (backend: SandboxBackend, code: string) =>
      backend.load({ name: 'bad', language: 'javascript', code }).then(
        () => undefined,
        (error: unknown) => error,
      );
    try {
      const viaWorker = await loadError(quickjs, 'function decide( {');
      const direct = await loadError(inline, 'function decide( {');
      expect(SandboxLoadError.isInstance(viaWorker)).toBe(true);
      expect((viaWorker as SandboxLoadError).failure).toEqual((direct as SandboxLoadError).failure);
      expect((viaWorker as SandboxLoadError).failure.kind).toBe('compile_error');
      expect((viaWorker as Error).message).toBe((direct as Error).message);
      const thrown = await loadError(trusted, 'throw new TypeError("at load");');
      expect((thrown as SandboxLoadError).failure).toEqual({
        kind: 'runtime_error',
        message: 'TypeError: at load',
      });
      const starlark = await trusted
        .load({ name: 's', language: 'starlark', code: 'x = 1' })
        .catch((e: unknown) => e);
      expect((starlark as SandboxLoadError).failure.kind).toBe('compile_error');
    } finally {
      await Promise.all([quickjs.dispose(), trusted.dispose(), inline.dispose()]);
    }
  });

  it('a plain error from the inner load becomes a backend_failure load error', async () => {
    const backend = await workerSandbox({ backend: CRASHY(), threads: 1, name: 'named' });
    try {
      expect(backend.name).toBe('named');
      const error = await loaded(backend, 'plain').catch((e: unknown) => e);
      expect(SandboxLoadError.isInstance(error)).toBe(true);
      expect((error as SandboxLoadError).failure).toEqual({
        kind: 'backend_failure',
        message: 'the backend failed to load the policy: Error: plain load failure',
      });
    } finally {
      await backend.dispose();
    }
  });

  it('calls that need no worker: missing entries, non-JSON input, disposed policies', async () => {
    const backend = await workerSandbox({ backend: TRUSTED, threads: 1 });
    try {
      const policy = await backend.load(
        { name: 'p', language: 'javascript', code: SPIN, filename: 'p.js' },
        { timeout_ms: 5000 },
      );
      expect(policy.entries).toEqual(['spin', 'ok']);
      expect(failureOf(await policy.invoke('nope', null))).toEqual({
        kind: 'missing_entry',
        message: 'the policy defines no function nope',
      });
      expect(failureOf(await policy.invoke('ok', 10n as never)).kind).toBe('input_limit');
      expect(failureOf(await policy.invoke('ok', undefined as never)).kind).toBe('input_limit');
      const result = await policy.invoke('ok', { a: [1, 'x'] });
      expect(result).toEqual({
        ok: true,
        value: { ok: { a: [1, 'x'] } },
        usage: expect.anything(),
      });
      expect(result.usage.wall_ms).toBeGreaterThan(0);
      await policy.dispose();
      expect(failureOf(await policy.invoke('ok', 1))).toEqual({
        kind: 'backend_failure',
        message: 'the policy is disposed',
      });
    } finally {
      await backend.dispose();
    }
  });

  it('limits that cannot cross to a worker, or are huge, are handled', async () => {
    const backend = await workerSandbox({ backend: TRUSTED, threads: 1 });
    try {
      const unsendable = { timeout_ms: 5000, hook: () => 1 } as never;
      const error = await backend
        .load({ name: 'u', language: 'javascript', code: SPIN }, unsendable)
        .catch((e: unknown) => e);
      expect((error as SandboxLoadError).failure).toEqual({
        kind: 'backend_failure',
        message: expect.stringMatching(/^could not send the request to the worker: /),
      });
      const policy = await loaded(backend, SPIN);
      expect(failureOf(await policy.invoke('ok', 1, unsendable)).message).toMatch(
        /^could not send the request to the worker: /,
      );
      // Past what a Node timer can hold: the watchdog must not fire at once instead.
      expect(await policy.invoke('ok', 2, { timeout_ms: 2 ** 40 })).toMatchObject({
        ok: true,
        value: { ok: 2 },
      });
    } finally {
      await backend.dispose();
    }
  });

  it('a policy disposed while its call is queued is not run', async () => {
    const backend = await workerSandbox({ backend: TRUSTED, threads: 1, graceMs: 0 });
    try {
      const policy = await loaded(backend, SPIN);
      const stuck = policy.invoke('spin', null, { timeout_ms: 50 });
      const queued = policy.invoke('ok', 1);
      await policy.dispose();
      expect(failureOf(await queued).message).toBe('the policy is disposed');
      expect(failureOf(await stuck).kind).toBe('timeout');
    } finally {
      await backend.dispose();
    }
  });
});

describe('workerSandbox: creation', () => {
  it('resolves relative module specifiers from resolveFrom, and refuses what it cannot start', async () => {
    const relative = await workerSandbox({
      backend: { module: './crashy.mjs', export: 'crashyBackend' },
      resolveFrom: `${dir}${sep}`,
      threads: 1,
    });
    await relative.dispose();
    const byUrl = await workerSandbox({
      backend: { module: pathToFileURL(crashy).href, export: 'crashyBackend' },
      resolveFrom: pathToFileURL(join(dir, 'anything.js')),
    });
    await byUrl.dispose();

    await expect(
      workerSandbox({
        backend: { module: './nowhere.mjs', export: 'x' },
        resolveFrom: `${dir}${sep}`,
      }),
    ).rejects.toThrow(/cannot resolve the backend module \.\/nowhere\.mjs from /);
    await expect(
      workerSandbox({ backend: { module: crashy, export: 'notAFunction' } }),
    ).rejects.toThrow(/did not start in a worker: TypeError: .*exports no function notAFunction/);
    await expect(workerSandbox({ backend: { module: crashy, export: 'failing' } })).rejects.toThrow(
      /did not start in a worker: Error: cannot start/,
    );
    const exits = join(dir, 'exits.mjs');
    await writeFile(exits, 'process.exit(9);');
    await expect(workerSandbox({ backend: { module: exits, export: 'x' } })).rejects.toThrow(
      /did not start in a worker: the worker exited with code 9/,
    );
    const hangs = join(dir, 'hangs.mjs');
    await writeFile(hangs, 'for (;;) {}');
    await expect(
      workerSandbox({ backend: { module: hangs, export: 'x' }, loadTimeoutMs: 300 }),
    ).rejects.toThrow(/the worker did not start within 300 ms/);
  });

  it('refuses options out of range', async () => {
    await expect(workerSandbox({ backend: TRUSTED, threads: 0 })).rejects.toThrow(RangeError);
    await expect(workerSandbox({ backend: TRUSTED, threads: 1.5 })).rejects.toThrow(/threads/);
    await expect(workerSandbox({ backend: TRUSTED, graceMs: -1 })).rejects.toThrow(/graceMs/);
    await expect(workerSandbox({ backend: TRUSTED, loadTimeoutMs: Number.NaN })).rejects.toThrow(
      /loadTimeoutMs/,
    );
  });
});

describe('workerSandbox: dispose', () => {
  it('terminates every worker, answers calls in flight and queued, and refuses new work', async () => {
    const events: WorkerSandboxEvent[] = [];
    const backend = await workerSandbox({
      backend: TRUSTED,
      threads: 2,
      onWorkerEvent: (event) => events.push(event),
    });
    const policy = await loaded(backend, SPIN);
    const calls = [
      policy.invoke('spin', null, { timeout_ms: 60_000 }),
      policy.invoke('spin', null, { timeout_ms: 60_000 }),
      policy.invoke('ok', 'queued'),
    ];
    // The first call spins in the worker that loaded the policy, the second is loading it into
    // the other worker, the third waits in the queue.
    expect(events.filter((e) => e.type === 'spawn')).toHaveLength(2);
    await backend.dispose();
    const results = await Promise.all(calls);
    expect(results.map((r) => failureOf(r).message)).toEqual([
      'the backend was disposed during the call',
      'loading the policy in a worker: the backend was disposed during the call',
      'the backend is disposed',
    ]);
    await expect.poll(() => events.filter((e) => e.type === 'exit').length).toBe(2);
    expect(events.filter((e) => e.type === 'exit').map((e) => e.cause)).toEqual([
      'disposed',
      'disposed',
    ]);
    expect(failureOf(await policy.invoke('ok', 1)).kind).toBe('backend_failure');
    const late = await loaded(backend, SPIN).catch((e: unknown) => e);
    expect((late as SandboxLoadError).failure).toEqual({
      kind: 'backend_failure',
      message: 'the trusted+worker backend is disposed',
    });
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Worker')).toEqual([]);
  });
});
