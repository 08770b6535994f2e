import type {
  LoadedPolicy,
  PolicyLanguage,
  SandboxBackend,
  SandboxLimits,
} from '../sandbox/contract.ts';
import { BUSY_ITERATIONS, BUSY_LOOP, CALL_CHAIN, RECURSIVE } from './failures.ts';
import {
  type ConformanceCase,
  defineCase,
  elapsedSince,
  expectEndlessRecursionStopped,
  expectFailure,
  expectOk,
  expectRecursionStopped,
  expectValue,
  fail,
  REQUIRES,
  show,
  starlarkDecide,
  withPolicy,
} from './kit.ts';

const MIB = 1024 * 1024;
// Bombs run under the default 32 MiB with a long wall clock, so only the memory limit stops them.
const BOMB_LIMITS = { memory_bytes: 32 * MIB };
const BOMB_CALL = { timeout_ms: 20_000 };

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

// Starlark's allocation budget is counted by the interpreter (memory: 'soft' suffices); the
// bombs run under 16 MiB and are bounded too.
const ALLOCATION_LIMITS = { memory_bytes: 16 * MIB };
const ALLOCATION_BOMBS: { name: string; title: string; body: string }[] = [
  {
    name: 'list-doubling',
    title: 'a list doubled 40 times',
    body: 'a = [0]\nfor i in range(40):\n    a = a + a\nreturn len(a)',
  },
  {
    name: 'string-repeat',
    title: 'one string repeated 2^40 times',
    body: 'return len("x" * (1 << 40))',
  },
  {
    name: 'many-small-lists',
    title: 'millions of small lists kept alive',
    body: 'keep = []\nfor i in range(20000000):\n    keep.append([i, "k"])\nreturn len(keep)',
  },
  {
    name: 'dict-growth',
    title: 'a dict grown to millions of entries',
    body: 'd = {}\nfor i in range(20000000):\n    d[str(i)] = i\nreturn len(d)',
  },
];

const SPIN = 'function spin() { while (true) {} }\nfunction ok(input) { return { ok: input }; }';
/** Effectively endless (2^31 − 1 iterations), yet a valid range on every Starlark. */
const ENDLESS = 'def spin(input):\n    for i in range(2147483647):\n        pass\n';

/** Invoke and check the call ended as `timeout` within `boundMs` (a generous bound, not a goal). */
async function expectPromptTimeout(
  what: string,
  policy: LoadedPolicy,
  entry: string,
  boundMs: number,
): Promise<void> {
  const start = performance.now();
  const result = await policy.invoke(entry, null, { timeout_ms: 50 });
  const elapsed = elapsedSince(start);
  expectFailure(what, result, 'timeout');
  if (elapsed > boundMs)
    fail(`${what}: the call took ${Math.round(elapsed)} ms (bound ${boundMs} ms)`);
}

/** An `echo` entry, appended to a policy that provokes a failure, to show the policy still answers. */
const ECHO: Record<PolicyLanguage, string> = {
  javascript: '\nfunction echo(input) { return { echo: input }; }',
  starlark: '\ndef echo(input):\n    return {"echo": input}\n',
};

async function recoverAfter(
  backend: SandboxBackend,
  code: string,
  provoke: (policy: LoadedPolicy) => Promise<void>,
  limits?: Partial<SandboxLimits>,
): Promise<void> {
  const full = `${code}${ECHO[backend.language]}`;
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
  defineCase({
    id: 'limits/infinite-loop',
    category: 'limits',
    title: 'while (true) {} with timeout_ms 50 is timeout, and the call returns within 1 s',
    requirement: REQUIRES.hardKill,
    // Starlark has no `while` by default, and needs no preemptive kill: limits/endless-loop.
    policy: { javascript: SPIN },
    check: (backend, code) =>
      withPolicy(backend, code, (p) => expectPromptTimeout('spin', p, 'spin', 1000)),
  }),
  defineCase({
    id: 'limits/endless-loop',
    category: 'limits',
    title:
      'a loop over range(2^31 − 1) with timeout_ms 50 is timeout within 1 s (the deadline is checked inside the loop)',
    requirement: REQUIRES.wallClock,
    policy: { starlark: ENDLESS },
    check: (backend, code) =>
      withPolicy(backend, code, (p) => expectPromptTimeout('spin', p, 'spin', 1000)),
  }),
  defineCase({
    id: 'limits/cpu-heavy-loop',
    category: 'limits',
    title:
      'a long CPU-bound loop with timeout_ms 50 is timeout (within 1 s where the backend kills)',
    policy: BUSY_LOOP,
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        const start = performance.now();
        const result = await p.invoke('busy', { n: BUSY_ITERATIONS * 3 }, { timeout_ms: 50 });
        expectFailure('busy', result, 'timeout');
        const elapsed = elapsedSince(start);
        if (backend.capabilities.hardKill && elapsed > 1000) {
          fail(`a backend with hardKill took ${Math.round(elapsed)} ms to stop the loop`);
        }
      }),
  }),
  defineCase({
    id: 'limits/steps-exact',
    category: 'limits',
    title:
      'the step count is exact: a call that used k steps passes with max_steps k and stops at k − 1',
    requirement: REQUIRES.exactSteps,
    // Written for Starlark, whose backends count steps exactly; no JavaScript backend does yet.
    policy: { starlark: BUSY_LOOP.starlark },
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        const free = await p.invoke('busy', { n: 1000 });
        expectOk('unlimited', free);
        const k = free.usage.steps;
        if (typeof k !== 'number' || k <= 0)
          fail(`usage.steps should count the steps, got ${show(k)}`);
        for (let i = 0; i < 3; i++) {
          const again = await p.invoke('busy', { n: 1000 });
          if (again.usage.steps !== k)
            fail(`the same call used ${again.usage.steps} steps, then ${k}`);
        }
        expectValue(
          'budget k',
          await p.invoke('busy', { n: 1000 }, { max_steps: k }),
          expectOk('unlimited', free),
        );
        const short = await p.invoke('busy', { n: 1000 }, { max_steps: k - 1 });
        expectFailure('budget k - 1', short, 'step_limit');
        if (short.usage.steps !== k - 1)
          fail(`the call stopped after ${short.usage.steps} steps, not ${k - 1}`);
      }),
  }),
  defineCase({
    id: 'limits/step-budget-stops-exactly',
    category: 'limits',
    title:
      'an endless loop under max_steps 10 000 stops with step_limit after exactly 10 000 steps, every time',
    requirement: REQUIRES.exactSteps,
    policy: { starlark: ENDLESS },
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        for (let i = 0; i < 3; i++) {
          const result = await p.invoke('spin', null, { max_steps: 10_000, timeout_ms: 10_000 });
          expectFailure('spin', result, 'step_limit');
          if (result.usage.steps !== 10_000)
            fail(`stopped after ${result.usage.steps} steps, not 10000`);
        }
      }),
  }),
  ...BOMBS.map((bomb) =>
    defineCase({
      id: `limits/memory-${bomb.name}`,
      category: 'limits',
      title: `memory bomb under 32 MiB: ${bomb.title} is memory_limit`,
      requirement: REQUIRES.hardMemory,
      policy: { javascript: `function decide() { ${bomb.body} }` },
      check: (backend, code) =>
        withPolicy(
          backend,
          code,
          async (p) => {
            expectFailure(bomb.name, await p.invoke('decide', null, BOMB_CALL), 'memory_limit');
          },
          BOMB_LIMITS,
        ),
    }),
  ),
  ...ALLOCATION_BOMBS.map((bomb) =>
    defineCase({
      id: `limits/allocation-${bomb.name}`,
      category: 'limits',
      title: `allocation bomb under 16 MiB: ${bomb.title} is memory_limit`,
      requirement: REQUIRES.anyMemory,
      policy: { starlark: starlarkDecide(bomb.body) },
      check: (backend, code) =>
        withPolicy(
          backend,
          code,
          async (p) => {
            expectFailure(bomb.name, await p.invoke('decide', null, BOMB_CALL), 'memory_limit');
          },
          ALLOCATION_LIMITS,
        ),
    }),
  ),
  defineCase({
    id: 'limits/deep-recursion',
    category: 'limits',
    title:
      'deep recursion with a growing frame stops: stack_overflow (Starlark: recursion refused, or stack_overflow where enabled)',
    policy: {
      javascript:
        'function down(n, a, b, c) { const local = [n, a, b, c]; return down(n + 1, local, a, b).length; }\nfunction decide() { return down(0, [], [], []); }',
      starlark:
        'def down(n, a, b, c):\n    local = [n, a, b, c]\n    return len(down(n + 1, local, a, b))\ndef decide(input):\n    return down(0, [], [], [])\n',
    },
    check: (backend, code) =>
      withPolicy(backend, code, async (p) =>
        expectEndlessRecursionStopped(
          backend.language,
          'down',
          await p.invoke('decide', null, { timeout_ms: 5000 }),
        ),
      ),
  }),
  defineCase({
    id: 'limits/giant-output',
    category: 'limits',
    title: 'a 1 MiB result under the default 64 KiB output limit is output_limit',
    policy: {
      javascript:
        'function decide() { return Array.from({ length: 1 << 16 }, (_, i) => "item" + i); }',
      starlark: starlarkDecide('return ["item%d" % i for i in range(1 << 16)]'),
    },
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        expectFailure('giant', await p.invoke('decide', null), 'output_limit');
      }),
  }),
  defineCase({
    id: 'limits/shared-output',
    category: 'limits',
    title: 'a small result that shares one list 10^8 times over is output_limit, promptly',
    // A Starlark value is converted to JSON by the host, which must refuse a shared structure
    // before expanding it.
    policy: {
      starlark: starlarkDecide('a = [0] * 100\nb = [a] * 100\nc = [b] * 100\nreturn [c] * 100'),
    },
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        const start = performance.now();
        expectFailure('shared', await p.invoke('decide', null), 'output_limit');
        const elapsed = elapsedSince(start);
        if (elapsed > 1000) fail(`the host took ${Math.round(elapsed)} ms to refuse the result`);
      }),
  }),
  defineCase({
    id: 'limits/huge-input',
    category: 'limits',
    title: 'a 2 MiB input under the default 1 MiB input limit is input_limit',
    policy: {
      javascript: 'function decide(input) { return input.length; }',
      starlark: starlarkDecide('return len(input)'),
    },
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        const input = Array.from({ length: 2048 }, () => 'q'.repeat(1024));
        expectFailure('huge', await p.invoke('decide', input), 'input_limit');
      }),
  }),
];

export const recoveryCases: ConformanceCase[] = [
  defineCase({
    id: 'recovery/after-timeout',
    category: 'recovery',
    title: 'after a timeout the same policy answers the next call, and a fresh load works',
    policy: BUSY_LOOP,
    check: (backend, code) =>
      recoverAfter(backend, code, async (p) => {
        expectFailure(
          'busy',
          await p.invoke('busy', { n: BUSY_ITERATIONS }, { timeout_ms: 1 }),
          'timeout',
        );
      }),
  }),
  defineCase({
    id: 'recovery/after-infinite-loop',
    category: 'recovery',
    title: 'after while (true) {} is killed the same policy answers the next call',
    requirement: REQUIRES.hardKill,
    policy: { javascript: SPIN },
    check: (backend, code) =>
      recoverAfter(backend, code, (p) => expectPromptTimeout('spin', p, 'spin', 1000)),
  }),
  defineCase({
    id: 'recovery/after-step-limit',
    category: 'recovery',
    title:
      'after a step_limit the same policy answers the next call (with a fresh budget), and a fresh load works',
    requirement: REQUIRES.anySteps,
    policy: { starlark: ENDLESS },
    check: (backend, code) =>
      recoverAfter(backend, code, async (p) => {
        expectFailure('spin', await p.invoke('spin', null, { max_steps: 1000 }), 'step_limit');
        const ok = await p.invoke('echo', 0, { max_steps: 1000 });
        expectValue('a call under the same budget', ok, { echo: 0 });
      }),
  }),
  defineCase<{ code: string; limits: Partial<SandboxLimits>; call?: Partial<SandboxLimits> }>({
    id: 'recovery/after-memory-limit',
    category: 'recovery',
    title: 'after a memory_limit the same policy answers the next call, and a fresh load works',
    // The first bomb of each language, under that language's limits: JavaScript needs a heap
    // cap (memory: 'hard'); Starlark's allocation budget is counted by the interpreter, which
    // memory: 'soft' promises.
    requirement: { byLanguage: { javascript: REQUIRES.hardMemory, starlark: REQUIRES.anyMemory } },
    policy: {
      javascript: {
        code: `function bomb() { ${BOMBS[0]!.body} }`,
        limits: BOMB_LIMITS,
        call: BOMB_CALL,
      },
      starlark: {
        code: `def bomb(input):\n    ${ALLOCATION_BOMBS[0]!.body.split('\n').join('\n    ')}\n`,
        limits: ALLOCATION_LIMITS,
      },
    },
    check: (backend, { code, limits, call }) =>
      recoverAfter(
        backend,
        code,
        async (p) => expectFailure('bomb', await p.invoke('bomb', null, call), 'memory_limit'),
        limits,
      ),
  }),
  defineCase({
    id: 'recovery/after-stack-overflow',
    category: 'recovery',
    title: 'after a stack_overflow the same policy answers the next call, and a fresh load works',
    policy: {
      javascript: 'function down(n) { return down(n + 1) + 1; }',
      starlark: CALL_CHAIN,
    },
    check: (backend, code) =>
      recoverAfter(backend, code, async (p) => {
        expectFailure('down', await p.invoke('down', 0), 'stack_overflow');
      }),
  }),
  defineCase<{ code: string; recursion?: string }>({
    id: 'recovery/after-every-kind',
    category: 'recovery',
    title: 'a policy keeps answering through a run of different failures',
    policy: {
      javascript: {
        code: `${BUSY_LOOP.javascript}
function thrower() { throw new Error("no"); }
function bad() { return () => 1; }
function big() { return "x".repeat(100000); }
function down(n) { return down(n + 1) + 1; }`,
      },
      // `down` is a call chain here (recursion is refused by default), so recursion is one more
      // failure of its own; in JavaScript `down` is the recursion.
      starlark: {
        code: `${BUSY_LOOP.starlark}${CALL_CHAIN}${RECURSIVE}
def thrower(input):
    fail("no")
def bad(input):
    return len
def big(input):
    return "x" * 100000
def recursive(input):
    return rec(0)
`,
        recursion: 'recursive',
      },
    },
    check: (backend, { code, recursion }) =>
      recoverAfter(backend, code, async (p) => {
        expectFailure('thrower', await p.invoke('thrower', null), 'runtime_error');
        expectFailure('bad', await p.invoke('bad', null), 'invalid_output');
        expectFailure('big', await p.invoke('big', null), 'output_limit');
        expectFailure('down', await p.invoke('down', 0), 'stack_overflow');
        if (recursion !== undefined) {
          expectRecursionStopped(recursion, await p.invoke(recursion, null));
        }
        expectFailure(
          'busy',
          await p.invoke('busy', { n: BUSY_ITERATIONS }, { timeout_ms: 1 }),
          'timeout',
        );
        expectFailure('missing', await p.invoke('missing', null), 'missing_entry');
      }),
  }),
];
