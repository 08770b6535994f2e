import type { LoadedPolicy, SandboxBackend } from '../sandbox/contract.ts';
import { BUSY_ITERATIONS, BUSY_LOOP } from './failures.ts';
import {
  always,
  type ConformanceCase,
  elapsedSince,
  expectFailure,
  expectValue,
  fail,
  withPolicy,
} from './kit.ts';

const MIB = 1024 * 1024;
// Bombs run under the default 32 MiB with a long wall clock, so only the memory limit stops them.
const BOMB_LIMITS = { memory_bytes: 32 * MIB };
const BOMB_CALL = { timeout_ms: 20_000 };

const hardMemory = {
  requirement: "memory: 'hard'",
  applies: (c: { memory: string }) => c.memory === 'hard',
};

// Each bomb is bounded (it would finish with a value) so a backend that does not enforce the
// limit fails the case instead of hanging; each would need hundreds of MiB to finish.
const BOMBS: { name: string; title: string; body: string }[] = [
  {
    name: 'one-big-array',
    title: 'one array grown element by element',
    body: 'const a = []; for (let i = 0; i < 1e8; i++) a.push(i * 0.5); return a.length;',
  },
  {
    name: 'many-small-objects',
    title: 'millions of small objects kept alive',
    body: 'const keep = []; for (let i = 0; i < 2e7; i++) keep.push({ i, s: "k" + i }); return keep.length;',
  },
  {
    name: 'string-doubling',
    title: 'a string doubled and every copy kept (flattened, so engines cannot share it)',
    body: 'let s = "x".repeat(1024); const keep = []; for (let i = 0; i < 19; i++) { s = s + s; keep.push(s.slice(1)); } return keep.length;',
  },
  {
    name: 'array-buffers',
    title: '1 MiB ArrayBuffers, written to, kept alive',
    body: 'const keep = []; for (let i = 0; i < 2048; i++) { const b = new Uint8Array(1 << 20); b.fill(i & 255); keep.push(b); } return keep.length;',
  },
];

const SPIN = 'function spin() { while (true) {} }\nfunction ok(input) { return { ok: input }; }';

/** Invoke and check the call ended as `timeout` within `boundMs` (a generous bound, not a goal). */
async function expectPromptTimeout(
  what: string,
  policy: LoadedPolicy,
  entry: string,
  input: { n: number } | null,
  boundMs: number,
): Promise<void> {
  const start = performance.now();
  const result = await policy.invoke(entry, input, { timeout_ms: 50 });
  const elapsed = elapsedSince(start);
  expectFailure(what, result, 'timeout');
  if (elapsed > boundMs)
    fail(`${what}: the call took ${Math.round(elapsed)} ms (bound ${boundMs} ms)`);
}

async function recoverAfter(
  backend: SandboxBackend,
  code: string,
  provoke: (policy: LoadedPolicy) => Promise<void>,
  limits?: { memory_bytes: number },
): Promise<void> {
  const full = `${code}\nfunction echo(input) { return { echo: input }; }`;
  await withPolicy(
    backend,
    full,
    async (policy) => {
      await provoke(policy);
      expectValue('the next call on the same policy', await policy.invoke('echo', 1), { echo: 1 });
      expectValue('and the one after', await policy.invoke('echo', [2]), { echo: [2] });
      await withPolicy(backend, full, async (fresh) => {
        expectValue('a fresh load of the same source', await fresh.invoke('echo', 3), { echo: 3 });
      });
    },
    limits,
  );
}

export const limitCases: ConformanceCase[] = [
  {
    id: 'limits/infinite-loop',
    category: 'limits',
    title: 'while (true) {} with timeout_ms 50 is timeout, and the call returns within 1 s',
    requirement: 'hardKill',
    applies: (c) => c.hardKill,
    run: (backend) =>
      withPolicy(backend, SPIN, (p) => expectPromptTimeout('spin', p, 'spin', null, 1000)),
  },
  {
    id: 'limits/cpu-heavy-loop',
    category: 'limits',
    title:
      'a long CPU-bound loop with timeout_ms 50 is timeout (within 1 s where the backend kills)',
    applies: always,
    run: (backend) =>
      withPolicy(backend, BUSY_LOOP, async (p) => {
        const start = performance.now();
        const result = await p.invoke('busy', { n: BUSY_ITERATIONS * 3 }, { timeout_ms: 50 });
        expectFailure('busy', result, 'timeout');
        const elapsed = elapsedSince(start);
        if (backend.capabilities.hardKill && elapsed > 1000) {
          fail(`a backend with hardKill took ${Math.round(elapsed)} ms to stop the loop`);
        }
      }),
  },
  ...BOMBS.map(
    (bomb): ConformanceCase => ({
      id: `limits/memory-${bomb.name}`,
      category: 'limits',
      title: `memory bomb under 32 MiB: ${bomb.title} is memory_limit`,
      ...hardMemory,
      run: (backend) =>
        withPolicy(
          backend,
          `function decide() { ${bomb.body} }`,
          async (p) => {
            expectFailure(bomb.name, await p.invoke('decide', null, BOMB_CALL), 'memory_limit');
          },
          BOMB_LIMITS,
        ),
    }),
  ),
  {
    id: 'limits/deep-recursion',
    category: 'limits',
    title: 'deep recursion with a growing frame is stack_overflow',
    applies: always,
    run: (backend) =>
      withPolicy(
        backend,
        'function down(n, a, b, c) { const local = [n, a, b, c]; return down(n + 1, local, a, b).length; }\nfunction decide() { return down(0, [], [], []); }',
        async (p) =>
          expectFailure(
            'down',
            await p.invoke('decide', null, { timeout_ms: 5000 }),
            'stack_overflow',
          ),
      ),
  },
  {
    id: 'limits/giant-output',
    category: 'limits',
    title: 'a 1 MiB result under the default 64 KiB output limit is output_limit',
    applies: always,
    run: (backend) =>
      withPolicy(
        backend,
        'function decide() { return Array.from({ length: 1 << 16 }, (_, i) => "item" + i); }',
        async (p) => {
          expectFailure('giant', await p.invoke('decide', null), 'output_limit');
        },
      ),
  },
  {
    id: 'limits/huge-input',
    category: 'limits',
    title: 'a 2 MiB input under the default 1 MiB input limit is input_limit',
    applies: always,
    run: (backend) =>
      withPolicy(backend, 'function decide(input) { return input.length; }', async (p) => {
        const input = Array.from({ length: 2048 }, () => 'q'.repeat(1024));
        expectFailure('huge', await p.invoke('decide', input), 'input_limit');
      }),
  },
];

export const recoveryCases: ConformanceCase[] = [
  {
    id: 'recovery/after-timeout',
    category: 'recovery',
    title: 'after a timeout the same policy answers the next call, and a fresh load works',
    applies: always,
    run: (backend) =>
      recoverAfter(backend, BUSY_LOOP, async (p) => {
        expectFailure(
          'busy',
          await p.invoke('busy', { n: BUSY_ITERATIONS }, { timeout_ms: 1 }),
          'timeout',
        );
      }),
  },
  {
    id: 'recovery/after-infinite-loop',
    category: 'recovery',
    title: 'after while (true) {} is killed the same policy answers the next call',
    requirement: 'hardKill',
    applies: (c) => c.hardKill,
    run: (backend) =>
      recoverAfter(backend, SPIN, (p) => expectPromptTimeout('spin', p, 'spin', null, 1000)),
  },
  {
    id: 'recovery/after-memory-limit',
    category: 'recovery',
    title: 'after a memory_limit the same policy answers the next call, and a fresh load works',
    ...hardMemory,
    run: (backend) =>
      recoverAfter(
        backend,
        `function bomb() { ${BOMBS[0]!.body} }`,
        async (p) => expectFailure('bomb', await p.invoke('bomb', null, BOMB_CALL), 'memory_limit'),
        BOMB_LIMITS,
      ),
  },
  {
    id: 'recovery/after-stack-overflow',
    category: 'recovery',
    title: 'after a stack_overflow the same policy answers the next call, and a fresh load works',
    applies: always,
    run: (backend) =>
      recoverAfter(backend, 'function down(n) { return down(n + 1) + 1; }', async (p) => {
        expectFailure('down', await p.invoke('down', 0), 'stack_overflow');
      }),
  },
  {
    id: 'recovery/after-every-kind',
    category: 'recovery',
    title: 'a policy keeps answering through a run of different failures',
    applies: always,
    run: (backend) =>
      recoverAfter(
        backend,
        `${BUSY_LOOP}
function thrower() { throw new Error("no"); }
function bad() { return () => 1; }
function big() { return "x".repeat(100000); }
function down(n) { return down(n + 1) + 1; }`,
        async (p) => {
          expectFailure('thrower', await p.invoke('thrower', null), 'runtime_error');
          expectFailure('bad', await p.invoke('bad', null), 'invalid_output');
          expectFailure('big', await p.invoke('big', null), 'output_limit');
          expectFailure('down', await p.invoke('down', 0), 'stack_overflow');
          expectFailure(
            'busy',
            await p.invoke('busy', { n: BUSY_ITERATIONS }, { timeout_ms: 1 }),
            'timeout',
          );
          expectFailure('missing', await p.invoke('missing', null), 'missing_entry');
        },
      ),
  },
];
