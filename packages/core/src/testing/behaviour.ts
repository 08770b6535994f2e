import type { InvokeResult, JsonValue, LoadedPolicy, SandboxBackend } from '../sandbox/contract.ts';
import { assertNever } from '../util/assert-never.ts';
import { corpus } from './corpus.ts';
import {
  type ConformanceCase,
  defineCase,
  expectFailure,
  expectLoadError,
  expectOk,
  expectValue,
  fail,
  REQUIRES,
  settleHost,
  show,
  showResult,
  starlarkDecide,
  withPolicy,
} from './kit.ts';

/**
 * Two results are the same: both values and equal (and, with `steps`, the same step count), or
 * both failures of the same kind.
 */
function sameOutcome(a: InvokeResult, b: InvokeResult, steps = false): boolean {
  if (a.ok && b.ok)
    return show(a.value) === show(b.value) && (!steps || a.usage.steps === b.usage.steps);
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

const ORDER_PROBE = `DATA = {"zeta": 1, "alpha": 2, "mid": 3}
def probe(input):
    d = {}
    for k in ["q", "b", "x", "a"]:
        d[k] = len(d)
    return {
        "order": list(d.keys()) + list(DATA.keys()), "hash": [hash("abc"), hash("wardwright")],
        "dir": dir(d), "sorted": sorted([3.5, 1, -2, 2.25]), "floats": [str(0.1 + 0.2), str(1e21), repr(1.0 / 3)],
        "encoded": json.encode({"b": [1, 2.5], "a": None}),
    }
`;

export const determinismCases: ConformanceCase[] = [
  defineCase({
    id: 'determinism/repeat-calls',
    category: 'determinism',
    title:
      'the same policy and input give identical outputs on three calls (and identical step counts where steps are exact)',
    policy: history.policy,
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        // An exact step count is part of the result's determinism; a coarse one need not repeat.
        const exact = backend.capabilities.steps === 'exact';
        const outputs: string[] = [];
        for (let i = 0; i < 3; i++) {
          const result = await p.invoke('decide', history.input);
          const value = show(expectOk(`call ${i + 1}`, result));
          outputs.push(exact ? `${value} in ${result.usage.steps} steps` : value);
        }
        if (new Set(outputs).size !== 1) fail(`outputs differ: ${outputs.join(' | ')}`);
      }),
  }),
  // Starlark has no clock, randomness, timers or asynchrony to remove:
  // determinism/no-clock-or-randomness checks the names do not exist.
  defineCase({
    id: 'determinism/math-random',
    category: 'determinism',
    title: 'Math.random is removed (runtime_error) or seeded: two fresh loads agree',
    requirement: REQUIRES.isolated,
    policy: {
      javascript:
        'function pair() { return [Math.random(), Math.random()]; }\nfunction many() { return Array.from({ length: 5 }, () => Math.floor(Math.random() * 1e9)); }',
    },
    check: (backend, code) => expectSameAcrossLoads(backend, code, ['pair', 'many']),
  }),
  defineCase({
    id: 'determinism/date',
    category: 'determinism',
    title: 'Date.now and new Date() are removed (runtime_error) or frozen: two fresh loads agree',
    requirement: REQUIRES.isolated,
    policy: {
      javascript: `function now() { return Date.now(); }
function constructed() { return new Date().getTime(); }
function iso() { return new Date().toISOString(); }
function parsed() { return Date.parse('2024-01-02T03:04:05Z'); }
function perf() { return typeof performance === 'undefined' ? 'absent' : performance.now(); }`,
    },
    check: (backend, code) =>
      expectSameAcrossLoads(backend, code, ['now', 'constructed', 'iso', 'parsed', 'perf']),
  }),
  defineCase({
    id: 'determinism/result-fixed-at-return',
    category: 'determinism',
    title: 'a result never changes after the call returns, whatever the policy scheduled',
    policy: {
      javascript: `function decide() {
  const out = { v: 1, list: [1] };
  Promise.resolve().then(() => { out.v = 2; out.list.push(2); });
  if (typeof setTimeout === 'function') setTimeout(() => { out.v = 3; }, 0);
  return out;
}`,
    },
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        const result = await p.invoke('decide', null);
        expectValue('at return', result, { v: 1, list: [1] });
        await settleHost();
        expectValue('after the host ran its pending tasks', result, { v: 1, list: [1] });
      }),
  }),
  defineCase({
    id: 'determinism/no-timers',
    category: 'determinism',
    title: 'setTimeout, setInterval and queueMicrotask are absent or never fire',
    requirement: REQUIRES.isolated,
    policy: {
      javascript: `let fired = 0;
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
    },
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        const present = expectOk('schedule', await p.invoke('schedule', null));
        await settleHost();
        const fired = await p.invoke('read', null);
        if (!(fired.ok && fired.value === 0)) {
          fail(
            `timers present (${show(present)}) fired after return: read gave ${showResult(fired)}`,
          );
        }
      }),
  }),
  defineCase({
    id: 'determinism/fresh-loads-agree',
    category: 'determinism',
    title:
      'iteration order, hash, dir, sorting and number formatting agree across calls and fresh loads',
    policy: { starlark: ORDER_PROBE },
    check: async (backend, code) => {
      const results: InvokeResult[] = [];
      for (let load = 0; load < 2; load++) {
        await withPolicy(backend, code, async (p) => {
          for (let call = 0; call < 2; call++) results.push(await p.invoke('probe', null));
        });
      }
      expectOk('probe', results[0]!);
      for (const [i, r] of results.entries()) {
        if (!sameOutcome(results[0]!, r, true))
          fail(`result ${i} differs: ${showResult(results[0]!)} vs ${showResult(r)}`);
      }
    },
  }),
  defineCase({
    id: 'determinism/no-clock-or-randomness',
    category: 'determinism',
    title: 'no clock, randomness or environment exists: naming one is a compile_error at load',
    // The policy of each name is `return <name>`.
    policy: { starlark: ['time', 'random', 'now', 'uuid', 'os', 'environ', 'Date', 'Math'] },
    check: async (backend, names) => {
      for (const name of names) {
        await expectLoadError(name, backend, starlarkDecide(`return ${name}`), 'compile_error');
      }
    },
  }),
];

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

/**
 * How a language shows that module state belongs to one loaded policy. JavaScript module state is
 * mutable: a call counter in the same source. Starlark freezes module globals after load
 * (isolation/frozen-module-globals), so nothing can count: the same names bound to different
 * values instead.
 */
type ModuleState =
  | { kind: 'counter'; code: string }
  | { kind: 'same-names'; first: string; second: string };

const FROZEN = `SEEN = []
COUNTS = {"calls": 0}
def remember(x, acc = []):
    acc.append(x)
    return len(acc)
def decide(input):
    k = input["how"]
    if k == "append":
        SEEN.append(1)
    elif k == "set":
        COUNTS["calls"] += 1
    elif k == "default":
        remember(1)
    elif k == "alias":
        alias = COUNTS
        alias.clear()
    return {"seen": len(SEEN), "calls": COUNTS["calls"]}
`;

/** A policy that changes shared things, one that reads them, and what the reader must see. */
interface SharedState {
  writer: string;
  reader: string;
  clean: JsonValue;
  /** What the writer itself returns, where it must see its own changes. */
  written?: JsonValue;
}

export const isolationCases: ConformanceCase[] = [
  defineCase<ModuleState>({
    id: 'isolation/module-state-per-policy',
    category: 'isolation',
    title:
      'module-level state of one loaded policy is invisible to another (JavaScript: a counter, same source; Starlark: the same names, other values)',
    policy: {
      javascript: {
        kind: 'counter',
        code: 'let calls = 0;\nfunction decide() { calls++; return calls; }',
      },
      starlark: {
        kind: 'same-names',
        first: 'K = 2\nTABLE = {"k": "a"}\ndef decide(input):\n    return [K, TABLE["k"]]\n',
        second: 'K = 3\nTABLE = {"k": "b"}\ndef decide(input):\n    return [K, TABLE["k"]]\n',
      },
    },
    check: (backend, state) => {
      switch (state.kind) {
        case 'counter':
          return withPolicy(backend, state.code, (a) =>
            withPolicy(backend, state.code, async (b) => {
              for (let i = 0; i < 3; i++) expectOk('a', await a.invoke('decide', null));
              expectValue('first call of b', await b.invoke('decide', null), 1);
              await withPolicy(backend, state.code, async (c) => {
                expectValue(
                  'first call of a policy loaded later',
                  await c.invoke('decide', null),
                  1,
                );
              });
            }),
          );
        case 'same-names':
          return withPolicy(backend, state.first, (a) =>
            withPolicy(backend, state.second, async (b) => {
              expectValue('a', await a.invoke('decide', null), [2, 'a']);
              expectValue('b', await b.invoke('decide', null), [3, 'b']);
              expectValue('a again', await a.invoke('decide', null), [2, 'a']);
            }),
          );
        default:
          return assertNever(state, 'module state');
      }
    },
  }),
  defineCase({
    id: 'isolation/frozen-module-globals',
    category: 'isolation',
    title:
      'module globals are frozen: a call that mutates one (directly, through an alias or a default) fails and changes nothing',
    // JavaScript module state may be kept between calls (docs: "State between calls").
    policy: { starlark: FROZEN },
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        for (const how of ['append', 'set', 'default', 'alias']) {
          const result = await p.invoke('decide', { how });
          expectFailure(how, result, 'runtime_error');
          if (!result.ok && !/frozen|immutable/i.test(result.failure.message)) {
            fail(`${how}: the message should say the value is frozen: ${result.failure.message}`);
          }
        }
        expectValue('state after the attempts', await p.invoke('decide', { how: 'read' }), {
          seen: 0,
          calls: 0,
        });
      }),
  }),
  defineCase({
    id: 'isolation/globals-across-policies',
    category: 'isolation',
    title: 'globals and built-ins changed by one policy are invisible to another',
    requirement: REQUIRES.isolated,
    // Starlark has no global object or prototypes: isolation/builtins-across-policies.
    policy: {
      javascript: {
        writer: `function decide() {
  globalThis.__shared = 'from writer';
  Array.prototype.sum = function () { return 0; };
  Object.prototype.injected = 1;
  Math.max = () => 42;
  JSON.stringify = () => '"hijacked"';
  return 'written';
}`,
        reader: `function decide() {
  return { shared: typeof globalThis.__shared, sum: typeof [].sum, injected: typeof ({}).injected, max: Math.max(1, 2) };
}`,
        clean: { shared: 'undefined', sum: 'undefined', injected: 'undefined', max: 2 },
      },
    },
    check: (backend, shared) => expectUnshared(backend, shared),
  }),
  defineCase({
    id: 'isolation/builtins-across-policies',
    category: 'isolation',
    title:
      'a policy that shadows builtins (len, json, struct) changes nothing for policies loaded before or after',
    policy: {
      starlark: {
        writer: `def len(x):
    return 42
json = struct(encode = lambda x: "hijacked")
def decide(input):
    return [len([1]), json.encode(1)]
`,
        reader: 'def decide(input):\n    return [len([1]), json.encode(1), type(struct(a = 1))]\n',
        clean: [1, '1', 'struct'],
        written: [42, 'hijacked'],
      },
    },
    check: (backend, shared) => expectUnshared(backend, shared),
  }),
  defineCase({
    id: 'isolation/concurrent-one-policy',
    category: 'isolation',
    title: '20 concurrent calls on one policy each get their own answer',
    policy: {
      javascript:
        'function decide(n) { let s = 0; for (let i = 0; i <= n * 1000; i++) s += i % 7; return n * 1000 + s % 1000; }',
      starlark:
        'def decide(n):\n    s = 0\n    for i in range(n * 1000 + 1):\n        s += i % 7\n    return n * 1000 + s % 1000\n',
    },
    check: (backend, code) =>
      withPolicy(backend, code, (p) =>
        concurrently(
          Array.from({ length: 20 }, (_, n) => {
            let s = 0;
            for (let i = 0; i <= n * 1000; i++) s += i % 7;
            return { policy: p, input: n, expected: n * 1000 + (s % 1000) };
          }),
        ),
      ),
  }),
  defineCase<{ double: string; triple: string }>({
    id: 'isolation/concurrent-two-policies',
    category: 'isolation',
    title: '20 concurrent calls spread over two policies, some failing, each get their own answer',
    // `triple` fails for 8: the failure must reach that call only.
    policy: {
      javascript: {
        double: 'const K = 2;\nfunction decide(n) { return n * K; }',
        triple:
          'const K = 3;\nfunction decide(n) { if (n === 8) throw new Error("eight"); return n * K; }',
      },
      starlark: {
        double: 'K = 2\ndef decide(n):\n    return n * K\n',
        triple: 'K = 3\ndef decide(n):\n    if n == 8:\n        fail("eight")\n    return n * K\n',
      },
    },
    check: (backend, { double, triple }) =>
      withPolicy(backend, double, (a) =>
        withPolicy(backend, triple, (b) =>
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
  }),
];

/** What `writer` changes is invisible to `reader` policies loaded before and after it. */
function expectUnshared(backend: SandboxBackend, shared: SharedState): Promise<void> {
  return withPolicy(backend, shared.reader, (before) =>
    withPolicy(backend, shared.writer, async (w) => {
      const written = await w.invoke('decide', null);
      if (shared.written !== undefined) {
        expectValue('the writer sees its own names', written, shared.written);
      }
      expectValue('a policy loaded before', await before.invoke('decide', null), shared.clean);
      await withPolicy(backend, shared.reader, async (after) => {
        expectValue('a policy loaded after', await after.invoke('decide', null), shared.clean);
      });
    }),
  );
}
