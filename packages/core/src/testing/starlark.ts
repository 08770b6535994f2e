import type {
  InvokeResult,
  LoadedPolicy,
  SandboxBackend,
  SandboxCapabilities,
  SandboxFailureKind,
  SandboxLimits,
} from '../sandbox/contract.ts';
import { SandboxLoadError } from '../sandbox/contract.ts';
import { corpus } from './corpus.ts';
import {
  always,
  type ConformanceCase,
  type ConformanceCategory,
  elapsedSince,
  expectFailure,
  expectLoadError,
  expectOk,
  expectValue,
  fail,
  jsonEqual,
  show,
  showResult,
  withPolicy,
} from './kit.ts';

/**
 * The conformance cases for Starlark backends: the same families as the JavaScript kit, with
 * Starlark policies. Where a case is language-neutral it keeps the JavaScript case's id, so a
 * backend pins known differences the same way; cases that only Starlark has are named for what
 * they check. Cases that cannot exist for Starlark are listed in docs/sandboxes/conformance.md.
 */

const STAR = 'starlark' as const;

/** Load a Starlark policy (generous time unless `limits` says otherwise), run `body`, dispose. */
export function withStarlark<T>(
  backend: SandboxBackend,
  code: string,
  body: (policy: LoadedPolicy) => Promise<T>,
  limits?: Partial<SandboxLimits>,
): Promise<T> {
  return withPolicy(backend, code, body, limits, 'conformance', STAR);
}

/** The load must fail with `kind`, naming a line and column (and the line must be `line`). */
async function expectLocatedLoadError(
  what: string,
  backend: SandboxBackend,
  code: string,
  kind: SandboxFailureKind,
  line: number,
): Promise<void> {
  await expectLoadError(what, backend, code, kind, STAR);
  try {
    const policy = await backend.load({ name: 'conformance', language: STAR, code });
    await policy.dispose();
  } catch (error) {
    if (!SandboxLoadError.isInstance(error)) throw error;
    const location = error.failure.location;
    if (location?.line !== line || typeof location.column !== 'number' || location.column < 1) {
      fail(`${what}: expected a location on line ${line}, got ${show(location)}`);
    }
  }
}

const entry = (body: string) => `def decide(input):\n    ${body.split('\n').join('\n    ')}\n`;

function starCase(
  category: ConformanceCategory,
  name: string,
  title: string,
  run: (backend: SandboxBackend) => Promise<void>,
  requirement?: { requirement: string; applies: (c: SandboxCapabilities) => boolean },
): ConformanceCase {
  return {
    id: `${category}/${name}`,
    category,
    title,
    applies: requirement?.applies ?? always,
    ...(requirement === undefined ? {} : { requirement: requirement.requirement }),
    run,
  };
}

function kindCase(
  name: string,
  title: string,
  code: string,
  kind: SandboxFailureKind,
  message?: RegExp,
): ConformanceCase {
  return starCase('failures', name, title, (backend) =>
    withStarlark(backend, code, async (p) => {
      const result = await p.invoke('decide', null);
      expectFailure(name, result, kind);
      if (message !== undefined && !result.ok && !message.test(result.failure.message)) {
        fail(`${name}: the message should match ${message}: ${result.failure.message}`);
      }
    }),
  );
}

const invalidOutput = (name: string, title: string, body: string) =>
  kindCase(`invalid-output-${name}`, title, entry(body), 'invalid_output');

/** The busy loop of the JavaScript kit; `for` over a range, as `while` is off by default. */
export const STAR_BUSY_LOOP = `def busy(input):
    x = 0
    for i in range(input["n"]):
        x = (x * 31 + i) % 1000003
    return x
`;
const BUSY_ITERATIONS = 30_000_000;
/** Effectively endless (2^31 − 1 iterations), yet a valid range on every Starlark. */
const ENDLESS = 'def spin(input):\n    for i in range(2147483647):\n        pass\n';

/** 250 distinct functions calling each other: deeper than a 200-frame limit, no recursion. */
const CALL_CHAIN = `${Array.from(
  { length: 250 },
  (_, i) => `def f${i}(n):\n    return f${i + 1}(n) + 1\n`,
).join('')}def f250(n):\n    return n\n\ndef down(input):\n    return f0(0)\n`;

const RECURSIVE = 'def rec(n):\n    return rec(n + 1) + 1\n';

/** Recursion is refused (runtime_error naming it) unless enabled, then the depth limit holds. */
function expectRecursionStopped(what: string, result: InvokeResult): void {
  expectFailure(what, result, 'runtime_error', 'stack_overflow');
  if (!result.ok && result.failure.kind === 'runtime_error') {
    if (!/recurs/i.test(result.failure.message)) {
      fail(`${what}: a runtime_error must say recursion is refused: ${result.failure.message}`);
    }
  }
}

const MIB = 1024 * 1024;
const softOrHardMemory = {
  requirement: "memory: 'soft' or 'hard'",
  applies: (c: SandboxCapabilities) => c.memory !== 'none',
};
const hardMemory = {
  requirement: "memory: 'hard'",
  applies: (c: SandboxCapabilities) => c.memory === 'hard',
};
const exactSteps = {
  requirement: "steps: 'exact'",
  applies: (c: SandboxCapabilities) => c.steps === 'exact',
};
const anySteps = {
  requirement: "steps: 'exact' or 'coarse'",
  applies: (c: SandboxCapabilities) => c.steps !== 'none',
};
const wallClock = {
  requirement: 'wallClock',
  applies: (c: SandboxCapabilities) => c.wallClock,
};

// --- semantics ---------------------------------------------------------------------------------

const twins = corpus.filter((p) => p.starlark !== undefined);

const semantics: ConformanceCase[] = [
  ...twins.map((policy) =>
    starCase('semantics', policy.id, policy.title, (backend) =>
      withStarlark(backend, policy.starlark!, async (loaded) => {
        expectValue(policy.id, await loaded.invoke(policy.entry, policy.input), policy.expected);
      }),
    ),
  ),
  starCase(
    'semantics',
    'entries',
    'entries are the functions bound to module globals, nothing else',
    (backend) =>
      withStarlark(
        backend,
        `# def commented(x): pass
def decide(input):
    def inner():
        return 1
    return inner() + helper()

def helper():
    return 1

TEXT = "def quoted(): pass"
LIMIT = 3
alias = lambda: 2
`,
        async (policy) => {
          const entries = [...policy.entries].sort();
          if (show(entries) !== show(['alias', 'decide', 'helper'])) {
            fail(`expected entries ["alias","decide","helper"], got ${show(policy.entries)}`);
          }
          expectValue('decide', await policy.invoke('decide', null), 2);
        },
      ),
  ),
  starCase(
    'semantics',
    'input-is-a-copy',
    'the policy gets a copy of the input: mutating it changes nothing in the host',
    async (backend) => {
      // Frozen: a backend that hands the host object to the policy fails the call instead.
      const input = { list: [1, 2], nested: { k: 'v' } };
      for (const part of [input.list, input.nested, input]) Object.freeze(part);
      await withStarlark(
        backend,
        entry(
          'input["list"].append(3)\ninput["nested"].pop("k")\ninput["added"] = True\nreturn input',
        ),
        async (policy) => {
          expectValue('decide', await policy.invoke('decide', input), {
            list: [1, 2, 3],
            nested: {},
            added: true,
          });
          if (!jsonEqual(input, { list: [1, 2], nested: { k: 'v' } })) {
            fail(`the host input changed: ${show(input)}`);
          }
        },
      );
    },
  ),
  starCase(
    'semantics',
    'module-scope-runs-once-per-load',
    'top-level code runs at load; constants it computes are visible to every entry',
    (backend) =>
      withStarlark(
        backend,
        `TABLE = [i * i for i in range(5)]
LOOKUP = {v: i for i, v in enumerate(TABLE)}
def decide(input):
    return {"square": TABLE[input["n"]], "root": LOOKUP.get(input["sq"])}
`,
        async (policy) => {
          expectValue('first call', await policy.invoke('decide', { n: 3, sq: 16 }), {
            square: 9,
            root: 4,
          });
          expectValue('second call', await policy.invoke('decide', { n: 4, sq: 2 }), {
            square: 16,
            root: null,
          });
        },
      ),
  ),
  starCase(
    'semantics',
    'output-conversion',
    'results convert to JSON: tuple → array, struct → object, None → null, a missing return → null',
    (backend) =>
      withStarlark(
        backend,
        `def decide(input):
    return struct(t = (1, "a"), n = None, f = 2.5, big = 9007199254740991, nested = {"k": [True]})

def nothing(input):
    pass
`,
        async (policy) => {
          expectValue('decide', await policy.invoke('decide', null), {
            t: [1, 'a'],
            n: null,
            f: 2.5,
            big: 9007199254740991,
            nested: { k: [true] },
          });
          expectValue('nothing', await policy.invoke('nothing', null), null);
        },
      ),
  ),
];

// --- failures ----------------------------------------------------------------------------------

const failures: ConformanceCase[] = [
  starCase(
    'failures',
    'compile-error',
    'a syntax error rejects load: compile_error with a location',
    (backend) =>
      expectLocatedLoadError(
        'compile-error',
        backend,
        'def decide(input):\n    return 1 +* 2\n',
        'compile_error',
        2,
      ),
  ),
  starCase(
    'failures',
    'undefined-name',
    'an undefined name is a compile_error at load (the resolver), with its location',
    (backend) =>
      expectLocatedLoadError(
        'undefined-name',
        backend,
        'def decide(input):\n    x = 1\n    return not_defined_anywhere + x\n',
        'compile_error',
        3,
      ),
  ),
  starCase(
    'failures',
    'load-time-throw',
    'top-level code that fails rejects load with a SandboxLoadError of kind runtime_error',
    async (backend) => {
      await expectLoadError(
        'fail at load',
        backend,
        'fail("at load")\ndef decide(input):\n    return 1\n',
        'runtime_error',
        STAR,
      );
      await expectLoadError(
        'division at load',
        backend,
        'X = 1 // 0\ndef decide(input):\n    return X\n',
        'runtime_error',
        STAR,
      );
    },
  ),
  starCase(
    'failures',
    'missing-entry',
    'calling a function the policy does not define (a constant, a builtin) is missing_entry',
    (backend) =>
      withStarlark(backend, 'NOT_A_FUNCTION = 1\ndef decide(input):\n    return 1\n', async (p) => {
        for (const name of ['absent', 'NOT_A_FUNCTION', 'len', 'json', 'toString', '__proto__']) {
          expectFailure(name, await p.invoke(name, null), 'missing_entry');
        }
        expectValue('decide still works', await p.invoke('decide', null), 1);
      }),
  ),
  starCase(
    'failures',
    'runtime-error',
    'fail(...) is runtime_error and the message carries its text',
    (backend) =>
      withStarlark(backend, entry('fail("bad input %d" % input["n"])'), async (p) => {
        const result = await p.invoke('decide', { n: 7 });
        expectFailure('fail', result, 'runtime_error');
        if (!result.ok && !result.failure.message.includes('bad input 7')) {
          fail(`the message should carry the error message: ${result.failure.message}`);
        }
      }),
  ),
  starCase(
    'failures',
    'runtime-error-kinds',
    'type, key, index, division and conversion errors are each runtime_error',
    (backend) =>
      withStarlark(
        backend,
        `def decide(input):
    k = input["kind"]
    if k == "type":
        return 1 + "a"
    if k == "key":
        return {}["missing"]
    if k == "index":
        return [][3]
    if k == "zero":
        return 1 // 0
    if k == "int":
        return int("x1")
    if k == "call":
        return input["kind"]()
    return "none"
`,
        async (p) => {
          for (const kind of ['type', 'key', 'index', 'zero', 'int', 'call']) {
            expectFailure(kind, await p.invoke('decide', { kind }), 'runtime_error');
          }
        },
      ),
  ),
  invalidOutput('function', 'returning a function is invalid_output', 'return decide'),
  invalidOutput('builtin', 'returning a builtin (len) is invalid_output', 'return {"f": len}'),
  invalidOutput('bytes', 'returning bytes is invalid_output', 'return [b"raw"]'),
  invalidOutput('range', 'returning a range is invalid_output', 'return range(3)'),
  invalidOutput('int-key', 'a dict with a non-string key is invalid_output', 'return {1: "one"}'),
  invalidOutput(
    'big-int',
    'an int outside ±(2^53 − 1) is invalid_output (it would lose precision)',
    'return {"n": 9007199254740991 + 2}',
  ),
  invalidOutput('non-finite', 'a NaN or infinite float is invalid_output', 'return [float("nan")]'),
  invalidOutput(
    'cycle',
    'a list that contains itself is invalid_output',
    'a = []\na.append(a)\nreturn a',
  ),
  invalidOutput(
    'struct-non-json',
    'a struct holding a non-JSON value is invalid_output',
    'return struct(ok = True, f = len)',
  ),
  starCase(
    'failures',
    'invalid-output-set',
    'a set in the result is invalid_output (without the set dialect option, set is undefined: compile_error)',
    async (backend) => {
      let policy: LoadedPolicy;
      try {
        policy = await backend.load({
          name: 'conformance',
          language: STAR,
          code: entry('return set([1, 2])'),
        });
      } catch (error) {
        if (!SandboxLoadError.isInstance(error) || error.failure.kind !== 'compile_error')
          throw error;
        if (!/set/.test(error.failure.message))
          fail(`the compile_error should name set: ${error.failure.message}`);
        return;
      }
      try {
        expectFailure('set', await policy.invoke('decide', null), 'invalid_output');
      } finally {
        await policy.dispose();
      }
    },
  ),
  starCase(
    'failures',
    'output-limit',
    'a result larger than max_output_bytes is output_limit; the same result under it is ok',
    (backend) =>
      withStarlark(backend, entry('return "x" * input["n"]'), async (p) => {
        expectFailure(
          '200 > 100',
          await p.invoke('decide', { n: 200 }, { max_output_bytes: 100 }),
          'output_limit',
        );
        expectValue(
          '50 <= 100',
          await p.invoke('decide', { n: 50 }, { max_output_bytes: 100 }),
          'x'.repeat(50),
        );
      }),
  ),
  starCase(
    'failures',
    'input-limit',
    'an input larger than max_input_bytes is input_limit, before the policy runs',
    (backend) =>
      // The policy fails whenever it runs: input_limit shows it did not.
      withStarlark(backend, entry('fail("the policy ran")'), async (p) => {
        expectFailure(
          'big input',
          await p.invoke('decide', 'y'.repeat(200), { max_input_bytes: 100 }),
          'input_limit',
        );
        expectFailure(
          'small input runs',
          await p.invoke('decide', 'small', { max_input_bytes: 100 }),
          'runtime_error',
        );
      }),
  ),
  starCase(
    'failures',
    'limits-layering',
    'limits given at load apply to every call; limits given to invoke override them',
    (backend) =>
      withStarlark(
        backend,
        entry('return "x" * input["n"]'),
        async (p) => {
          expectFailure('load limit', await p.invoke('decide', { n: 100 }), 'output_limit');
          expectValue(
            'call override',
            await p.invoke('decide', { n: 100 }, { max_output_bytes: 1000 }),
            'x'.repeat(100),
          );
        },
        { max_output_bytes: 50 },
      ),
  ),
  starCase('failures', 'timeout', 'a call that runs past timeout_ms is timeout', (backend) =>
    withStarlark(backend, STAR_BUSY_LOOP, async (p) => {
      expectFailure(
        'busy',
        await p.invoke('busy', { n: BUSY_ITERATIONS }, { timeout_ms: 1 }),
        'timeout',
      );
    }),
  ),
  starCase(
    'failures',
    'recursion-refused',
    'a function calling itself fails: runtime_error (recursion is off) or, where enabled, stack_overflow',
    (backend) =>
      withStarlark(backend, `${RECURSIVE}def decide(input):\n    return rec(0)\n`, async (p) => {
        expectRecursionStopped('rec', await p.invoke('decide', null));
      }),
  ),
  starCase(
    'failures',
    'stack-overflow',
    'a call chain deeper than the depth limit (250 distinct functions) is stack_overflow',
    (backend) =>
      withStarlark(backend, CALL_CHAIN, async (p) => {
        expectFailure('chain', await p.invoke('down', null), 'stack_overflow');
      }),
  ),
  starCase(
    'failures',
    'memory-limit',
    'allocating past memory_bytes is memory_limit',
    (backend) =>
      withStarlark(
        backend,
        entry('keep = []\nfor i in range(1000000):\n    keep.append([i] * 1000)\nreturn len(keep)'),
        async (p) => {
          expectFailure(
            'lists',
            await p.invoke('decide', null, { timeout_ms: 10_000 }),
            'memory_limit',
          );
        },
        { memory_bytes: 32 * MIB },
      ),
    hardMemory,
  ),
  starCase(
    'failures',
    'step-limit',
    'a loop past max_steps is step_limit',
    (backend) =>
      withStarlark(backend, STAR_BUSY_LOOP, async (p) => {
        expectFailure(
          'busy',
          await p.invoke('busy', { n: BUSY_ITERATIONS }, { max_steps: 10, timeout_ms: 10_000 }),
          'step_limit',
        );
      }),
    anySteps,
  ),
  starCase(
    'failures',
    'message-one-line',
    'failure messages are one line of at most 500 characters',
    (backend) =>
      withStarlark(
        backend,
        entry('fail("first line\\nsecond line\\t" + "z" * 5000)'),
        async (p) => {
          const result = await p.invoke('decide', null);
          expectFailure('long', result, 'runtime_error');
          if (!result.ok && /second line/.test(result.failure.message)) {
            fail(`the message kept its second line: ${result.failure.message.slice(0, 80)}`);
          }
        },
      ),
  ),
];

// --- limits --------------------------------------------------------------------------------------

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

async function expectPromptTimeout(
  what: string,
  policy: LoadedPolicy,
  entryName: string,
  boundMs: number,
): Promise<void> {
  const start = performance.now();
  const result = await policy.invoke(entryName, null, { timeout_ms: 50 });
  const elapsed = elapsedSince(start);
  expectFailure(what, result, 'timeout');
  if (elapsed > boundMs)
    fail(`${what}: the call took ${Math.round(elapsed)} ms (bound ${boundMs} ms)`);
}

const limits: ConformanceCase[] = [
  starCase(
    'limits',
    'endless-loop',
    'a loop over range(2^31 − 1) with timeout_ms 50 is timeout within 1 s (the deadline is checked inside the loop)',
    (backend) =>
      withStarlark(backend, ENDLESS, (p) => expectPromptTimeout('spin', p, 'spin', 1000)),
    wallClock,
  ),
  starCase(
    'limits',
    'cpu-heavy-loop',
    'a long CPU-bound loop with timeout_ms 50 is timeout',
    (backend) =>
      withStarlark(backend, STAR_BUSY_LOOP, async (p) => {
        expectFailure(
          'busy',
          await p.invoke('busy', { n: BUSY_ITERATIONS * 3 }, { timeout_ms: 50 }),
          'timeout',
        );
      }),
  ),
  starCase(
    'limits',
    'steps-exact',
    'the step count is exact: a call that used k steps passes with max_steps k and stops at k − 1',
    (backend) =>
      withStarlark(backend, STAR_BUSY_LOOP, async (p) => {
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
    exactSteps,
  ),
  starCase(
    'limits',
    'step-budget-stops-exactly',
    'an endless loop under max_steps 10 000 stops with step_limit after exactly 10 000 steps, every time',
    (backend) =>
      withStarlark(backend, ENDLESS, async (p) => {
        for (let i = 0; i < 3; i++) {
          const result = await p.invoke('spin', null, { max_steps: 10_000, timeout_ms: 10_000 });
          expectFailure('spin', result, 'step_limit');
          if (result.usage.steps !== 10_000)
            fail(`stopped after ${result.usage.steps} steps, not 10000`);
        }
      }),
    exactSteps,
  ),
  ...ALLOCATION_BOMBS.map((bomb) =>
    starCase(
      'limits',
      `allocation-${bomb.name}`,
      `allocation bomb under 16 MiB: ${bomb.title} is memory_limit`,
      (backend) =>
        withStarlark(
          backend,
          entry(bomb.body),
          async (p) => {
            expectFailure(
              bomb.name,
              await p.invoke('decide', null, { timeout_ms: 20_000 }),
              'memory_limit',
            );
          },
          { memory_bytes: 16 * MIB },
        ),
      softOrHardMemory,
    ),
  ),
  starCase(
    'limits',
    'deep-recursion',
    'deep calls with growing frames stop: recursion refused, or stack_overflow where enabled',
    (backend) =>
      withStarlark(
        backend,
        'def down(n, a, b, c):\n    local = [n, a, b, c]\n    return len(down(n + 1, local, a, b))\ndef decide(input):\n    return down(0, [], [], [])\n',
        async (p) => expectRecursionStopped('down', await p.invoke('decide', null)),
      ),
  ),
  starCase(
    'limits',
    'giant-output',
    'a 1 MiB result under the default 64 KiB output limit is output_limit',
    (backend) =>
      withStarlark(backend, entry('return ["item%d" % i for i in range(1 << 16)]'), async (p) => {
        expectFailure('giant', await p.invoke('decide', null), 'output_limit');
      }),
  ),
  starCase(
    'limits',
    'shared-output',
    'a small result that shares one list 10^8 times over is output_limit, promptly',
    (backend) =>
      withStarlark(
        backend,
        entry('a = [0] * 100\nb = [a] * 100\nc = [b] * 100\nreturn [c] * 100'),
        async (p) => {
          const start = performance.now();
          expectFailure('shared', await p.invoke('decide', null), 'output_limit');
          const elapsed = elapsedSince(start);
          if (elapsed > 1000) fail(`the host took ${Math.round(elapsed)} ms to refuse the result`);
        },
      ),
  ),
  starCase(
    'limits',
    'huge-input',
    'a 2 MiB input under the default 1 MiB input limit is input_limit',
    (backend) =>
      withStarlark(backend, entry('return len(input)'), async (p) => {
        const input = Array.from({ length: 2048 }, () => 'q'.repeat(1024));
        expectFailure('huge', await p.invoke('decide', input), 'input_limit');
      }),
  ),
];

// --- determinism -------------------------------------------------------------------------------

const history = corpus.find((p) => p.id === 'history-classifier')!;

/** Two results are the same: both values and equal, or both failures of the same kind. */
function sameOutcome(a: InvokeResult, b: InvokeResult): boolean {
  if (a.ok && b.ok) return show(a.value) === show(b.value) && a.usage.steps === b.usage.steps;
  return !a.ok && !b.ok && a.failure.kind === b.failure.kind;
}

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

const determinism: ConformanceCase[] = [
  starCase(
    'determinism',
    'repeat-calls',
    'the same policy and input give identical outputs and steps on three calls',
    (backend) =>
      withStarlark(backend, history.starlark!, async (p) => {
        const outputs: string[] = [];
        for (let i = 0; i < 3; i++) {
          const result = await p.invoke('decide', history.input);
          outputs.push(`${show(expectOk(`call ${i + 1}`, result))} in ${result.usage.steps} steps`);
        }
        if (new Set(outputs).size !== 1) fail(`outputs differ: ${outputs.join(' | ')}`);
      }),
  ),
  starCase(
    'determinism',
    'fresh-loads-agree',
    'iteration order, hash, dir, sorting and number formatting agree across calls and fresh loads',
    async (backend) => {
      const results: InvokeResult[] = [];
      for (let load = 0; load < 2; load++) {
        await withStarlark(backend, ORDER_PROBE, async (p) => {
          for (let call = 0; call < 2; call++) results.push(await p.invoke('probe', null));
        });
      }
      expectOk('probe', results[0]!);
      for (const [i, r] of results.entries()) {
        if (!sameOutcome(results[0]!, r))
          fail(`result ${i} differs: ${showResult(results[0]!)} vs ${showResult(r)}`);
      }
    },
  ),
  starCase(
    'determinism',
    'no-clock-or-randomness',
    'no clock, randomness or environment exists: naming one is a compile_error at load',
    async (backend) => {
      for (const name of ['time', 'random', 'now', 'uuid', 'os', 'environ', 'Date', 'Math']) {
        await expectLoadError(name, backend, entry(`return ${name}`), 'compile_error', STAR);
      }
    },
  ),
];

// --- isolation ---------------------------------------------------------------------------------

interface ConcurrentCall {
  policy: LoadedPolicy;
  input: number;
  expected: number | 'runtime_error';
}

async function concurrently(calls: ConcurrentCall[]): Promise<void> {
  const results = await Promise.all(calls.map((c) => c.policy.invoke('decide', c.input)));
  results.forEach((result, i) => {
    const call = calls[i]!;
    if (call.expected === 'runtime_error')
      expectFailure(`call ${i} (input ${call.input})`, result, 'runtime_error');
    else expectValue(`call ${i} (input ${call.input})`, result, call.expected);
  });
}

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

const isolation: ConformanceCase[] = [
  starCase(
    'isolation',
    'frozen-module-globals',
    'module globals are frozen: a call that mutates one (directly, through an alias or a default) fails and changes nothing',
    (backend) =>
      withStarlark(backend, FROZEN, async (p) => {
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
  ),
  starCase(
    'isolation',
    'module-state-per-policy',
    'two policies with the same names each see their own module globals',
    (backend) =>
      withStarlark(
        backend,
        'K = 2\nTABLE = {"k": "a"}\ndef decide(input):\n    return [K, TABLE["k"]]\n',
        (a) =>
          withStarlark(
            backend,
            'K = 3\nTABLE = {"k": "b"}\ndef decide(input):\n    return [K, TABLE["k"]]\n',
            async (b) => {
              expectValue('a', await a.invoke('decide', null), [2, 'a']);
              expectValue('b', await b.invoke('decide', null), [3, 'b']);
              expectValue('a again', await a.invoke('decide', null), [2, 'a']);
            },
          ),
      ),
  ),
  starCase(
    'isolation',
    'builtins-across-policies',
    'a policy that shadows builtins (len, json, struct) changes nothing for policies loaded before or after',
    (backend) => {
      const writer = `def len(x):
    return 42
json = struct(encode = lambda x: "hijacked")
def decide(input):
    return [len([1]), json.encode(1)]
`;
      const reader =
        'def decide(input):\n    return [len([1]), json.encode(1), type(struct(a = 1))]\n';
      const clean = [1, '1', 'struct'];
      return withStarlark(backend, reader, (before) =>
        withStarlark(backend, writer, async (w) => {
          expectValue('the writer sees its own names', await w.invoke('decide', null), [
            42,
            'hijacked',
          ]);
          expectValue('a policy loaded before', await before.invoke('decide', null), clean);
          await withStarlark(backend, reader, async (after) => {
            expectValue('a policy loaded after', await after.invoke('decide', null), clean);
          });
        }),
      );
    },
  ),
  starCase(
    'isolation',
    'concurrent-one-policy',
    '20 concurrent calls on one policy each get their own answer',
    (backend) =>
      withStarlark(
        backend,
        'def decide(n):\n    s = 0\n    for i in range(n * 1000 + 1):\n        s += i % 7\n    return n * 1000 + s % 1000\n',
        (p) =>
          concurrently(
            Array.from({ length: 20 }, (_, n) => {
              let s = 0;
              for (let i = 0; i <= n * 1000; i++) s += i % 7;
              return { policy: p, input: n, expected: n * 1000 + (s % 1000) };
            }),
          ),
      ),
  ),
  starCase(
    'isolation',
    'concurrent-two-policies',
    '20 concurrent calls spread over two policies, some failing, each get their own answer',
    (backend) =>
      withStarlark(backend, 'K = 2\ndef decide(n):\n    return n * K\n', (a) =>
        withStarlark(
          backend,
          'K = 3\ndef decide(n):\n    if n == 8:\n        fail("eight")\n    return n * K\n',
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
  ),
];

// --- recovery ----------------------------------------------------------------------------------

async function recoverAfter(
  backend: SandboxBackend,
  code: string,
  provoke: (policy: LoadedPolicy) => Promise<void>,
  loadLimits?: Partial<SandboxLimits>,
): Promise<void> {
  const full = `${code}\ndef echo(input):\n    return {"echo": input}\n`;
  await withStarlark(
    backend,
    full,
    async (policy) => {
      await provoke(policy);
      expectValue('the next call on the same policy', await policy.invoke('echo', 1), { echo: 1 });
      expectValue('and the one after', await policy.invoke('echo', [2]), { echo: [2] });
      await withStarlark(backend, full, async (fresh) => {
        expectValue('a fresh load of the same source', await fresh.invoke('echo', 3), { echo: 3 });
      });
    },
    loadLimits,
  );
}

const recovery: ConformanceCase[] = [
  starCase(
    'recovery',
    'after-timeout',
    'after a timeout the same policy answers the next call, and a fresh load works',
    (backend) =>
      recoverAfter(backend, STAR_BUSY_LOOP, async (p) => {
        expectFailure(
          'busy',
          await p.invoke('busy', { n: BUSY_ITERATIONS }, { timeout_ms: 1 }),
          'timeout',
        );
      }),
  ),
  starCase(
    'recovery',
    'after-step-limit',
    'after a step_limit the same policy answers the next call (with a fresh budget), and a fresh load works',
    (backend) =>
      recoverAfter(backend, ENDLESS, async (p) => {
        expectFailure('spin', await p.invoke('spin', null, { max_steps: 1000 }), 'step_limit');
        const ok = await p.invoke('echo', 0, { max_steps: 1000 });
        expectValue('a call under the same budget', ok, { echo: 0 });
      }),
    anySteps,
  ),
  starCase(
    'recovery',
    'after-memory-limit',
    'after a memory_limit the same policy answers the next call, and a fresh load works',
    (backend) =>
      recoverAfter(
        backend,
        `def bomb(input):\n    ${ALLOCATION_BOMBS[0]!.body.split('\n').join('\n    ')}\n`,
        async (p) => expectFailure('bomb', await p.invoke('bomb', null), 'memory_limit'),
        { memory_bytes: 16 * MIB },
      ),
    softOrHardMemory,
  ),
  starCase(
    'recovery',
    'after-stack-overflow',
    'after a stack_overflow the same policy answers the next call',
    (backend) =>
      recoverAfter(backend, CALL_CHAIN, async (p) => {
        expectFailure('chain', await p.invoke('down', null), 'stack_overflow');
      }),
  ),
  starCase(
    'recovery',
    'after-every-kind',
    'a policy keeps answering through a run of different failures',
    (backend) =>
      recoverAfter(
        backend,
        `${STAR_BUSY_LOOP}${CALL_CHAIN}${RECURSIVE}
def thrower(input):
    fail("no")
def bad(input):
    return len
def big(input):
    return "x" * 100000
def recursive(input):
    return rec(0)
`,
        async (p) => {
          expectFailure('thrower', await p.invoke('thrower', null), 'runtime_error');
          expectFailure('bad', await p.invoke('bad', null), 'invalid_output');
          expectFailure('big', await p.invoke('big', null), 'output_limit');
          expectFailure('down', await p.invoke('down', null), 'stack_overflow');
          expectRecursionStopped('recursive', await p.invoke('recursive', null));
          expectFailure(
            'busy',
            await p.invoke('busy', { n: BUSY_ITERATIONS }, { timeout_ms: 1 }),
            'timeout',
          );
          expectFailure('missing', await p.invoke('missing', null), 'missing_entry');
        },
      ),
  ),
];

export const starlarkCases: ConformanceCase[] = [
  ...semantics,
  ...failures,
  ...limits,
  ...determinism,
  ...isolation,
  ...recovery,
];
