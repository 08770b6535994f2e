import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InvokeResult, LoadedPolicy, SandboxBackend } from '../sandbox/contract.ts';
import { type ProcessSandboxEvent, processSandbox } from './process-sandbox.ts';
import { encodeFrame, FrameReader } from './sandbox-pool/frames.ts';

// Processes load the BUILT backends: the specifiers resolve, from the repository root, to
// packages/*/dist through the workspace links.
const ROOT = new URL('../../../../', import.meta.url);
const QUICKJS = { module: '@wardwright/sandbox-quickjs', export: 'quickjsSandbox' };
const IVM = { module: '@wardwright/sandbox-isolated-vm', export: 'isolatedVmSandbox' };

let dir = '';
let crashy = '';

beforeAll(async () => {
  for (const [pkg, file] of [
    ['core', 'packages/core/dist/index.cjs'],
    ['sandbox-quickjs', 'packages/sandbox-quickjs/dist/index.cjs'],
    ['sandbox-isolated-vm', 'packages/sandbox-isolated-vm/dist/index.cjs'],
  ] as const) {
    if (!existsSync(new URL(file, ROOT))) {
      throw new Error(`${file} is missing: run \`npm run build -w @wardwright/${pkg}\` first`);
    }
  }
  dir = await mkdtemp(join(tmpdir(), 'process-sandbox-'));
  crashy = join(dir, 'crashy.mjs');
  // A backend whose calls end their process in the ways a native addon can.
  await writeFile(
    crashy,
    `export function crashyBackend() {
  return {
    specificationVersion: 'v1', name: 'crashy', language: 'javascript',
    capabilities: { isolated: true, wallClock: true, steps: 'none', memory: 'none', cpuTime: false, hardKill: false, containedBy: 'process' },
    async load() {
      return {
        entries: ['abort', 'exit', 'spin', 'pid', 'echo'],
        async invoke(entry, input) {
          if (entry === 'abort') process.abort();
          if (entry === 'exit') process.exit(7);
          if (entry === 'spin') for (;;) {}
          const value = entry === 'pid' ? process.pid : input;
          return { ok: true, value, usage: { wall_ms: 0 } };
        },
        async dispose() {},
      };
    },
    async dispose() {},
  };
}
`,
  );
});

afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

const load = (backend: SandboxBackend, code: string, name = 'p'): Promise<LoadedPolicy> =>
  backend.load({ name, language: 'javascript', code }, { timeout_ms: 5000 });

function failureOf(result: InvokeResult) {
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result.value)}`);
  return result.failure;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('processSandbox', () => {
  it('runs QuickJS in child processes: the same answers, failures and capabilities', async () => {
    const backend = await processSandbox({ backend: QUICKJS, processes: 2 });
    try {
      expect(backend.name).toBe('quickjs+process');
      expect(backend.capabilities).toMatchObject({
        isolated: true,
        memory: 'hard',
        hardKill: true,
        execution: 'process',
        containedBy: 'worker',
        availability: true,
      });
      const policy = await backend.load(
        {
          name: 'p',
          language: 'javascript',
          code: `function decide(input) { return { n: input.n * 2, text: input.text }; }
          function spin() { while (true) {} }
          function nan() { return NaN; }`,
        },
        { timeout_ms: 5000, max_output_bytes: 2 * 1024 * 1024 },
      );
      // A large input with multi-byte text crosses the framing intact.
      const text = `é日本😀${'x'.repeat(600_000)}`;
      const result = await policy.invoke('decide', { n: 21, text });
      // Compared without printing 600 kB on a failure.
      expect(result.ok && result.value).toMatchObject({ n: 42 });
      expect(result.ok && (result.value as { text: string }).text === text).toBe(true);
      expect(failureOf(await policy.invoke('spin', null, { timeout_ms: 50 })).kind).toBe('timeout');
      expect(failureOf(await policy.invoke('nan', null))).toEqual({
        kind: 'invalid_output',
        message: 'result is not JSON: the number NaN',
      });
      expect(await policy.invoke('decide', { n: 1 })).toMatchObject({ ok: true, value: { n: 2 } });
    } finally {
      await backend.dispose();
    }
  });

  it('an isolated-vm policy that aborts V8 fails its call with the signal; the next call works', async () => {
    const backend = await processSandbox({ backend: IVM, processes: 1 });
    try {
      expect(backend.capabilities).toMatchObject({ containedBy: 'process', availability: true });
      const policy = await backend.load(
        {
          name: 'heap-bomb',
          language: 'javascript',
          code: `function bomb() { const o = {}; for (let i = 0; i < 4e6; i++) o['k' + i] = i; return 1; }
          function ok(n) { return { ok: n }; }`,
        },
        { memory_bytes: 32 * 1024 * 1024, timeout_ms: 20_000 },
      );
      // The object's hash table outgrows the isolate's heap in one allocation: V8 aborts the
      // process (CALL_AND_RETRY_LAST) instead of reporting the limit.
      const crashed = failureOf(await policy.invoke('bomb', null));
      expect(crashed.kind).toBe('backend_failure');
      expect(crashed.message).toMatch(/^the process was killed by SIG[A-Z]+ and was replaced$/);
      expect(await policy.invoke('ok', 1)).toMatchObject({ ok: true, value: { ok: 1 } });
    } finally {
      await backend.dispose();
    }
  });

  it('the watchdog SIGKILLs a process stuck in native code and answers timeout; a new process starts', async () => {
    const events: ProcessSandboxEvent[] = [];
    const backend = await processSandbox({
      backend: { module: crashy, export: 'crashyBackend' },
      processes: 1,
      graceMs: 50,
      onProcessEvent: (event) => events.push(event),
    });
    try {
      const policy = await load(backend, '');
      const before = (await policy.invoke('pid', null)) as { ok: true; value: number };
      const stuck = failureOf(await policy.invoke('spin', null, { timeout_ms: 100 }));
      expect(stuck).toEqual({
        kind: 'timeout',
        message: 'ran over the 100 ms limit; the process was killed',
      });
      const after = (await policy.invoke('pid', null)) as { ok: true; value: number };
      expect(after.value).not.toBe(before.value);
      await expect.poll(() => alive(before.value)).toBe(false);
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'exit', cause: 'watchdog', signal: 'SIGKILL' }),
      );
      const exited = failureOf(await policy.invoke('exit', null));
      expect(exited).toEqual({
        kind: 'backend_failure',
        message: 'the process exited with code 7 and was replaced',
      });
    } finally {
      await backend.dispose();
    }
  });

  it('a policy that kills its process on every call cools down; other policies keep running', async () => {
    const events: ProcessSandboxEvent[] = [];
    const backend = await processSandbox({
      backend: { module: crashy, export: 'crashyBackend' },
      processes: 2,
      onProcessEvent: (event) => events.push(event),
    });
    try {
      const hostile = await load(backend, '', 'hostile');
      const victim = await load(backend, '', 'victim');
      for (let i = 0; i < 3; i++) {
        expect(failureOf(await hostile.invoke('abort', null)).message).toMatch(/killed by SIGABRT/);
      }
      // Refused without running: no process is lost, and the refusal says why and for how long.
      const spawnsBefore = events.filter((e) => e.type === 'spawn').length;
      const refused = failureOf(await hostile.invoke('abort', null));
      expect(refused.kind).toBe('backend_failure');
      expect(refused.message).toMatch(
        /^refused for another \d+ ms: the last 3 calls lost their process \(the process was killed by SIGABRT/,
      );
      expect(await victim.invoke('echo', 'still here')).toMatchObject({ value: 'still here' });
      expect(events).toContainEqual({ type: 'cooldown', policy: 'hostile', losses: 3, ms: 250 });
      // After the cool-down the policy runs again (and is refused for longer once it crashes).
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(failureOf(await hostile.invoke('abort', null)).message).toMatch(/killed by SIGABRT/);
      expect(events).toContainEqual({ type: 'cooldown', policy: 'hostile', losses: 4, ms: 500 });
      await expect
        .poll(() => events.filter((e) => e.type === 'spawn').length)
        .toBe(spawnsBefore + 1);
    } finally {
      await backend.dispose();
    }
  });

  it('dispose kills every process; a process whose host dies exits too', async () => {
    const backend = await processSandbox({
      backend: { module: crashy, export: 'crashyBackend' },
      processes: 2,
    });
    const policy = await load(backend, '');
    const [a, b] = await Promise.all([policy.invoke('pid', null), policy.invoke('pid', null)]);
    await backend.dispose();
    for (const pid of [a, b].map((r) => (r as { value: number }).value)) {
      expect(alive(pid)).toBe(false);
    }

    // A host that is SIGKILLed leaves its processes' channel closed: they exit on their own.
    const host = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { processSandbox } from ${JSON.stringify(new URL('packages/core/dist/node/index.js', ROOT).href)};
        const backend = await processSandbox({ backend: { module: ${JSON.stringify(crashy)}, export: 'crashyBackend' }, processes: 1 });
        const policy = await backend.load({ name: 'p', language: 'javascript', code: '' });
        const r = await policy.invoke('pid', null);
        console.log(r.value);
        setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const pid = await new Promise<number>((resolve) => {
      host.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    });
    expect(alive(pid)).toBe(true);
    host.kill('SIGKILL');
    await expect.poll(() => alive(pid), { timeout: 10_000 }).toBe(false);
  });

  it('a program whose last step is await dispose() exits 0 (idle processes do not hold it, dispose does)', async () => {
    const program = `import { processSandbox } from ${JSON.stringify(new URL('packages/core/dist/node/index.js', ROOT).href)};
      const backend = await processSandbox({ backend: { module: ${JSON.stringify(crashy)}, export: 'crashyBackend' }, processes: 2 });
      const policy = await backend.load({ name: 'p', language: 'javascript', code: '' });
      await policy.invoke('echo', 1);
      await backend.dispose();
      console.log('disposed');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', program], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
    });
    // 13 would be Node's "unsettled top-level await": dispose waiting on unref'd processes.
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect({ code, out: out.trim() }).toEqual({ code: 0, out: 'disposed' });
  });

  it('refuses options out of range', async () => {
    await expect(processSandbox({ backend: QUICKJS, processes: 0 })).rejects.toThrow(
      /processSandbox: processes must be a positive integer, got 0/,
    );
    await expect(processSandbox({ backend: QUICKJS, graceMs: -1 })).rejects.toThrow(
      /graceMs must be a non-negative number/,
    );
  });
});

describe('process framing', () => {
  it('reassembles any split of any sequence of frames', () => {
    const message = fc.record({
      t: fc.constantFrom('invoke', 'result', 'unload'),
      id: fc.nat(),
      body: fc.string({ unit: 'grapheme', maxLength: 200 }),
    });
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (messages, cuts) => {
          const bytes = Buffer.concat(messages.map((m) => encodeFrame(m)));
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort(
            (a, b) => a - b,
          );
          const reader = new FrameReader();
          const out = [];
          let from = 0;
          for (const point of [...points, bytes.length]) {
            out.push(...reader.push(bytes.subarray(from, point)));
            from = point;
          }
          expect(out).toEqual(messages.map((m) => (m.t === 'unload' ? { t: m.t, id: m.id } : m)));
        },
      ),
    );
  });
});
