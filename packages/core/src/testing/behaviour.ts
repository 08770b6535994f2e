import type { InvokeResult, LoadedPolicy, SandboxBackend } from '../sandbox/contract.ts';
import { corpus } from './corpus.ts';
import {
  always,
  type ConformanceCase,
  expectFailure,
  expectOk,
  expectValue,
  fail,
  settleHost,
  show,
  showResult,
  withPolicy,
} from './kit.ts';

const isolated = { requirement: 'isolated', applies: (c: { isolated: boolean }) => c.isolated };

/** Two results are the same: both values and equal, or both failures of the same kind. */
function sameOutcome(a: InvokeResult, b: InvokeResult): boolean {
  if (a.ok && b.ok) return show(a.value) === show(b.value);
  return !a.ok && !b.ok && a.failure.kind === b.failure.kind;
}

/** Each entry is loaded fresh twice; both loads must give the same outcome per entry. */
async function expectSameAcrossLoads(
  backend: SandboxBackend,
  code: string,
  entries: string[],
): Promise<void> {
  const first: InvokeResult[] = [];
  const second: InvokeResult[] = [];
  for (const results of [first, second]) {
    await withPolicy(backend, code, async (p) => {
      for (const entry of entries) results.push(await p.invoke(entry, null));
    });
  }
  entries.forEach((entry, i) => {
    const a = first[i]!;
    const b = second[i]!;
    if (!a.ok) expectFailure(entry, a, 'runtime_error');
    if (!sameOutcome(a, b)) {
      fail(`${entry}: two fresh loads disagree: ${showResult(a)} vs ${showResult(b)}`);
    }
  });
}

const history = corpus.find((p) => p.id === 'history-classifier')!;

export const determinismCases: ConformanceCase[] = [
  {
    id: 'determinism/repeat-calls',
    category: 'determinism',
    title: 'the same policy and input give identical outputs on three calls',
    applies: always,
    run: (backend) =>
      withPolicy(backend, history.source, async (p) => {
        const outputs: string[] = [];
        for (let i = 0; i < 3; i++)
          outputs.push(show(expectOk(`call ${i + 1}`, await p.invoke('decide', history.input))));
        if (new Set(outputs).size !== 1) fail(`outputs differ: ${outputs.join(' | ')}`);
      }),
  },
  {
    id: 'determinism/math-random',
    category: 'determinism',
    title: 'Math.random is removed (runtime_error) or seeded: two fresh loads agree',
    ...isolated,
    run: (backend) =>
      expectSameAcrossLoads(
        backend,
        'function pair() { return [Math.random(), Math.random()]; }\nfunction many() { return Array.from({ length: 5 }, () => Math.floor(Math.random() * 1e9)); }',
        ['pair', 'many'],
      ),
  },
  {
    id: 'determinism/date',
    category: 'determinism',
    title: 'Date.now and new Date() are removed (runtime_error) or frozen: two fresh loads agree',
    ...isolated,
    run: (backend) =>
      expectSameAcrossLoads(
        backend,
        `function now() { return Date.now(); }
function constructed() { return new Date().getTime(); }
function iso() { return new Date().toISOString(); }
function parsed() { return Date.parse('2024-01-02T03:04:05Z'); }
function perf() { return typeof performance === 'undefined' ? 'absent' : performance.now(); }`,
        ['now', 'constructed', 'iso', 'parsed', 'perf'],
      ),
  },
  {
    id: 'determinism/result-fixed-at-return',
    category: 'determinism',
    title: 'a result never changes after the call returns, whatever the policy scheduled',
    applies: always,
    run: (backend) =>
      withPolicy(
        backend,
        `function decide() {
  const out = { v: 1, list: [1] };
  Promise.resolve().then(() => { out.v = 2; out.list.push(2); });
  if (typeof setTimeout === 'function') setTimeout(() => { out.v = 3; }, 0);
  return out;
}`,
        async (p) => {
          const result = await p.invoke('decide', null);
          expectValue('at return', result, { v: 1, list: [1] });
          await settleHost();
          expectValue('after the host ran its pending tasks', result, { v: 1, list: [1] });
        },
      ),
  },
  {
    id: 'determinism/no-timers',
    category: 'determinism',
    title: 'setTimeout, setInterval and queueMicrotask are absent or never fire',
    ...isolated,
    run: (backend) =>
      withPolicy(
        backend,
        `let fired = 0;
function schedule() {
  const present = [];
  for (const name of ['setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask']) {
    const fn = globalThis[name];
    if (typeof fn !== 'function') continue;
    present.push(name);
    try {
      const id = fn(() => {
        fired++;
        globalThis.__timersFired = (globalThis.__timersFired || 0) + 1;
        if (name === 'setInterval') clearInterval(id);
      }, 0);
    } catch (e) {}
  }
  return present;
}
function read() { return fired + (globalThis.__timersFired || 0); }`,
        async (p) => {
          const present = expectOk('schedule', await p.invoke('schedule', null));
          await settleHost();
          const fired = await p.invoke('read', null);
          if (!(fired.ok && fired.value === 0)) {
            fail(
              `timers present (${show(present)}) fired after return: read gave ${showResult(fired)}`,
            );
          }
        },
      ),
  },
];

const COUNTER = 'let calls = 0;\nfunction decide() { calls++; return calls; }';

interface ConcurrentCall {
  policy: LoadedPolicy;
  input: number;
  /** The value the call must return, or `'runtime_error'`. */
  expected: number | 'runtime_error';
}

async function concurrently(calls: ConcurrentCall[]): Promise<void> {
  const results = await Promise.all(calls.map((c) => c.policy.invoke('decide', c.input)));
  results.forEach((result, i) => {
    const call = calls[i]!;
    if (call.expected === 'runtime_error') {
      expectFailure(`call ${i} (input ${call.input})`, result, 'runtime_error');
    } else {
      expectValue(`call ${i} (input ${call.input})`, result, call.expected);
    }
  });
}

export const isolationCases: ConformanceCase[] = [
  {
    id: 'isolation/module-state-per-policy',
    category: 'isolation',
    title: 'module-level state of one loaded policy is invisible to another (same source)',
    applies: always,
    run: (backend) =>
      withPolicy(backend, COUNTER, (a) =>
        withPolicy(backend, COUNTER, async (b) => {
          for (let i = 0; i < 3; i++) expectOk('a', await a.invoke('decide', null));
          expectValue('first call of b', await b.invoke('decide', null), 1);
          await withPolicy(backend, COUNTER, async (c) => {
            expectValue('first call of a policy loaded later', await c.invoke('decide', null), 1);
          });
        }),
      ),
  },
  {
    id: 'isolation/globals-across-policies',
    category: 'isolation',
    title: 'globals and built-ins changed by one policy are invisible to another',
    ...isolated,
    run: (backend) => {
      const writer = `function decide() {
  globalThis.__shared = 'from writer';
  Array.prototype.sum = function () { return 0; };
  Object.prototype.injected = 1;
  Math.max = () => 42;
  JSON.stringify = () => '"hijacked"';
  return 'written';
}`;
      const reader = `function decide() {
  return { shared: typeof globalThis.__shared, sum: typeof [].sum, injected: typeof ({}).injected, max: Math.max(1, 2) };
}`;
      const clean = { shared: 'undefined', sum: 'undefined', injected: 'undefined', max: 2 };
      return withPolicy(backend, reader, (before) =>
        withPolicy(backend, writer, async (w) => {
          await w.invoke('decide', null);
          expectValue('a policy loaded before', await before.invoke('decide', null), clean);
          await withPolicy(backend, reader, async (after) => {
            expectValue('a policy loaded after', await after.invoke('decide', null), clean);
          });
        }),
      );
    },
  },
  {
    id: 'isolation/concurrent-one-policy',
    category: 'isolation',
    title: '20 concurrent calls on one policy each get their own answer',
    applies: always,
    run: (backend) =>
      withPolicy(
        backend,
        'function decide(n) { let s = 0; for (let i = 0; i <= n * 1000; i++) s += i % 7; return n * 1000 + s % 1000; }',
        (p) =>
          concurrently(
            Array.from({ length: 20 }, (_, n) => {
              let s = 0;
              for (let i = 0; i <= n * 1000; i++) s += i % 7;
              return { policy: p, input: n, expected: n * 1000 + (s % 1000) };
            }),
          ),
      ),
  },
  {
    id: 'isolation/concurrent-two-policies',
    category: 'isolation',
    title: '20 concurrent calls spread over two policies, some failing, each get their own answer',
    applies: always,
    run: (backend) =>
      withPolicy(backend, 'const K = 2;\nfunction decide(n) { return n * K; }', (a) =>
        withPolicy(
          backend,
          'const K = 3;\nfunction decide(n) { if (n === 8) throw new Error("eight"); return n * K; }',
          (b) =>
            concurrently(
              Array.from(
                { length: 20 },
                (_, n): ConcurrentCall =>
                  n % 2 === 0
                    ? { policy: a, input: n, expected: n * 2 }
                    : { policy: b, input: n, expected: n * 3 },
              ).concat([{ policy: b, input: 8, expected: 'runtime_error' }]),
            ),
        ),
      ),
  },
];
