import {
  type JsonValue,
  type PolicyLanguage,
  type SandboxFailureKind,
  SandboxLoadError,
} from '../sandbox/contract.ts';
import {
  type ConformanceCase,
  defineCase,
  expectFailure,
  expectLoadError,
  expectRecursionStopped,
  expectValue,
  fail,
  type PerLanguage,
  REQUIRES,
  starlarkDecide,
  withPolicy,
} from './kit.ts';

/** A JavaScript policy whose only entry is `decide`, returning or throwing what `body` says. */
const entry = (body: string) => `function decide(input) {\n  ${body}\n}`;

// A busy loop long enough to overrun a 1 ms budget on any engine, JIT or interpreter, yet short
// enough that a backend which only checks time after the call (trusted) ends in well under 1 s.
// Starlark's is a `for` over a range, as `while` is off by default.
export const BUSY_LOOP: Readonly<Record<PolicyLanguage, string>> = {
  javascript: `function busy(input) {
  let x = 0;
  for (let i = 0; i < input.n; i++) x = (x * 31 + i) % 1000003;
  return x;
}`,
  starlark: `def busy(input):
    x = 0
    for i in range(input["n"]):
        x = (x * 31 + i) % 1000003
    return x
`,
};
export const BUSY_ITERATIONS = 30_000_000;

/** 250 distinct Starlark functions calling each other: deeper than a 200-frame limit, no recursion. */
export const CALL_CHAIN = `${Array.from(
  { length: 250 },
  (_, i) => `def f${i}(n):\n    return f${i + 1}(n) + 1\n`,
).join('')}def f250(n):\n    return n\n\ndef down(input):\n    return f0(0)\n`;

/** A Starlark function calling itself without end. */
export const RECURSIVE = 'def rec(n):\n    return rec(n + 1) + 1\n';

/** `decide(null)` must fail with `kind`: the shape of most failure cases. */
function kindCase(
  name: string,
  title: string,
  policy: PerLanguage<string>,
  kind: SandboxFailureKind,
): ConformanceCase {
  return defineCase({
    id: `failures/${name}`,
    category: 'failures',
    title,
    policy,
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        expectFailure(name, await p.invoke('decide', null), kind);
      }),
  });
}

const invalidOutput = (name: string, title: string, policy: PerLanguage<string>) =>
  kindCase(`invalid-output-${name}`, title, policy, 'invalid_output');

/** What a call returns when the policy runs: a value, or a failure of a kind. */
type Ran = { ok: true; value: JsonValue } | { ok: false; kind: SandboxFailureKind };

export const failureCases: ConformanceCase[] = [
  defineCase<{ code: string; line?: number }>({
    id: 'failures/compile-error',
    category: 'failures',
    title:
      'a syntax error rejects load with a SandboxLoadError of kind compile_error (Starlark: with its location)',
    policy: {
      javascript: { code: 'function decide(input) { return {; }' },
      // The Starlark parser reports where the error is: the location is part of the contract.
      starlark: { code: 'def decide(input):\n    return 1 +* 2\n', line: 2 },
    },
    check: (backend, { code, line }) =>
      expectLoadError('compile-error', backend, code, 'compile_error', line),
  }),
  defineCase({
    id: 'failures/undefined-name',
    category: 'failures',
    title: 'an undefined name is a compile_error at load (the resolver), with its location',
    // JavaScript finds an undefined name only when the call reaches it: uncaught-reference-error.
    policy: { starlark: 'def decide(input):\n    x = 1\n    return not_defined_anywhere + x\n' },
    check: (backend, code) => expectLoadError('undefined-name', backend, code, 'compile_error', 3),
  }),
  defineCase<Readonly<Record<string, string>>>({
    id: 'failures/load-time-throw',
    category: 'failures',
    title: 'top-level code that fails rejects load with a SandboxLoadError of kind runtime_error',
    policy: {
      javascript: {
        'load-time-throw': 'throw new Error("at load");\nfunction decide() { return 1; }',
      },
      starlark: {
        'fail at load': 'fail("at load")\ndef decide(input):\n    return 1\n',
        'division at load': 'X = 1 // 0\ndef decide(input):\n    return X\n',
      },
    },
    check: async (backend, policies) => {
      for (const [what, code] of Object.entries(policies)) {
        await expectLoadError(what, backend, code, 'runtime_error');
      }
    },
  }),
  defineCase<{ code: string; missing: readonly string[] }>({
    id: 'failures/missing-entry',
    category: 'failures',
    title:
      'calling a function the policy does not define (a non-function, a builtin, a prototype name) is missing_entry',
    policy: {
      javascript: {
        code: 'const notAFunction = 1;\nfunction decide() { return 1; }',
        missing: ['absent', 'notAFunction', 'toString'],
      },
      starlark: {
        code: 'NOT_A_FUNCTION = 1\ndef decide(input):\n    return 1\n',
        missing: ['absent', 'NOT_A_FUNCTION', 'len', 'json', 'toString', '__proto__'],
      },
    },
    check: (backend, { code, missing }) =>
      withPolicy(backend, code, async (p) => {
        for (const name of missing) {
          expectFailure(name, await p.invoke(name, null), 'missing_entry');
        }
        expectValue('decide still works', await p.invoke('decide', null), 1);
      }),
  }),
  defineCase<{ code: string; errorClass?: string }>({
    id: 'failures/runtime-error',
    category: 'failures',
    title:
      'a thrown Error (Starlark: fail(...)) is runtime_error and the message carries its text (JavaScript: and names the error)',
    policy: {
      javascript: {
        code: entry('throw new TypeError("bad input " + input.n);'),
        errorClass: 'TypeError',
      },
      // fail() raises no class of error: only its text can be checked.
      starlark: { code: starlarkDecide('fail("bad input %d" % input["n"])') },
    },
    check: (backend, { code, errorClass }) =>
      withPolicy(backend, code, async (p) => {
        const result = await p.invoke('decide', { n: 7 });
        expectFailure(errorClass ?? 'fail', result, 'runtime_error');
        if (
          !result.ok &&
          errorClass !== undefined &&
          !result.failure.message.includes(errorClass)
        ) {
          fail(`the message should name ${errorClass}: ${result.failure.message}`);
        }
        if (!result.ok && !result.failure.message.includes('bad input 7')) {
          fail(`the message should carry the error message: ${result.failure.message}`);
        }
      }),
  }),
  defineCase({
    id: 'failures/runtime-error-non-error',
    category: 'failures',
    title: 'thrown non-Error values (number, string, null, object, undefined) are runtime_error',
    // Starlark throws nothing but fail().
    policy: {
      javascript: `function decide(input) {
  switch (input) {
    case 'number': throw 42;
    case 'string': throw 'plain string';
    case 'null': throw null;
    case 'undefined': throw undefined;
    default: throw { code: 'E_OBJ' };
  }
}`,
    },
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        for (const thrown of ['number', 'string', 'null', 'undefined', 'object']) {
          expectFailure(`throw ${thrown}`, await p.invoke('decide', thrown), 'runtime_error');
        }
      }),
  }),
  defineCase({
    id: 'failures/runtime-error-kinds',
    category: 'failures',
    title: 'type, key, index, division and conversion errors are each runtime_error',
    policy: {
      starlark: `def decide(input):
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
    },
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        for (const kind of ['type', 'key', 'index', 'zero', 'int', 'call']) {
          expectFailure(kind, await p.invoke('decide', { kind }), 'runtime_error');
        }
      }),
  }),
  defineCase({
    id: 'failures/uncaught-reference-error',
    category: 'failures',
    title: 'a reference to an undefined name is runtime_error at call time, not at load',
    // In Starlark the resolver refuses the name at load: failures/undefined-name.
    policy: { javascript: entry('return notDefinedAnywhere + 1;') },
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        const result = await p.invoke('decide', null);
        expectFailure('ReferenceError', result, 'runtime_error');
        if (!result.ok && !/ReferenceError/.test(result.failure.message)) {
          fail(`the message should name ReferenceError: ${result.failure.message}`);
        }
      }),
  }),
  // Starlark has no undefined (a missing return is None: semantics/output-conversion), symbols,
  // BigInt or promises; it has builtins, bytes, ranges, sets and non-string keys instead.
  invalidOutput('undefined', 'returning undefined (or nothing) is invalid_output', {
    javascript: entry('return;'),
  }),
  invalidOutput('function', 'returning a function is invalid_output', {
    javascript: entry('return function () {};'),
    starlark: starlarkDecide('return decide'),
  }),
  invalidOutput('symbol', 'returning a symbol is invalid_output', {
    javascript: entry('return Symbol("s");'),
  }),
  invalidOutput('cycle', 'returning a cyclic structure is invalid_output', {
    javascript: entry('const a = { list: [] }; a.list.push(a); return a;'),
    starlark: starlarkDecide('a = []\na.append(a)\nreturn a'),
  }),
  invalidOutput('bigint', 'returning a BigInt (even nested) is invalid_output', {
    javascript: entry('return { n: BigInt(1) };'),
  }),
  invalidOutput('promise', 'returning a promise is invalid_output: policies are synchronous', {
    javascript: entry('return Promise.resolve({ late: true });'),
  }),
  invalidOutput('async-entry', 'an async entry returns a promise: invalid_output', {
    javascript: 'async function decide() { return 1; }',
  }),
  invalidOutput('builtin', 'returning a builtin (len) is invalid_output', {
    starlark: starlarkDecide('return {"f": len}'),
  }),
  invalidOutput('bytes', 'returning bytes is invalid_output', {
    starlark: starlarkDecide('return [b"raw"]'),
  }),
  invalidOutput('range', 'returning a range is invalid_output', {
    starlark: starlarkDecide('return range(3)'),
  }),
  invalidOutput('int-key', 'a dict with a non-string key is invalid_output', {
    starlark: starlarkDecide('return {1: "one"}'),
  }),
  // JavaScript numbers are doubles already; a BigInt is invalid-output-bigint.
  invalidOutput(
    'big-int',
    'an int outside ±(2^53 − 1) is invalid_output (it would lose precision)',
    {
      starlark: starlarkDecide('return {"n": 9007199254740991 + 2}'),
    },
  ),
  // What JSON.stringify would turn into something else without a word is refused instead.
  invalidOutput('non-finite', 'a NaN or infinite number is invalid_output', {
    javascript: entry('return { score: 0 / 0, worst: -1 / 0 };'),
    starlark: starlarkDecide('return [float("nan")]'),
  }),
  invalidOutput('function-property', 'a function in an object or array is invalid_output', {
    javascript: entry('return { allow: true, check() { return 1; } };'),
  }),
  invalidOutput('map', 'a Map or a Set in the result is invalid_output (JSON would make it {})', {
    javascript: entry('return { seen: new Map([["a", 1]]), tags: new Set(["x"]) };'),
  }),
  invalidOutput(
    'hole',
    'a hole or undefined in an array is invalid_output (JSON would make it null)',
    {
      javascript: entry('return [1, , 3];'),
    },
  ),
  invalidOutput('struct-non-json', 'a struct holding a non-JSON value is invalid_output', {
    starlark: starlarkDecide('return struct(ok = True, f = len)'),
  }),
  defineCase({
    id: 'failures/invalid-output-set',
    category: 'failures',
    title:
      'a set in the result is invalid_output (without the set dialect option, set is undefined: compile_error)',
    policy: { starlark: starlarkDecide('return set([1, 2])') },
    check: async (backend, code) => {
      let policy: Awaited<ReturnType<typeof backend.load>>;
      try {
        policy = await backend.load({ name: 'conformance', language: backend.language, code });
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
  }),
  defineCase({
    id: 'failures/output-limit',
    category: 'failures',
    title: 'a result larger than max_output_bytes is output_limit; the same result under it is ok',
    policy: {
      javascript: entry('return "x".repeat(input.n);'),
      starlark: starlarkDecide('return "x" * input["n"]'),
    },
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
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
  }),
  defineCase<{ code: string; ran: Ran }>({
    id: 'failures/input-limit',
    category: 'failures',
    title: 'an input larger than max_input_bytes is input_limit, before the policy runs',
    // How each language shows whether the policy ran: a JavaScript policy counts its calls in
    // module state; Starlark's module globals are frozen, so its policy fails whenever it runs.
    policy: {
      javascript: {
        code: 'let calls = 0;\nfunction decide(input) { calls++; return calls; }',
        ran: { ok: true, value: 1 },
      },
      starlark: {
        code: starlarkDecide('fail("the policy ran")'),
        ran: { ok: false, kind: 'runtime_error' },
      },
    },
    check: (backend, { code, ran }) =>
      withPolicy(backend, code, async (p) => {
        expectFailure(
          'big input',
          await p.invoke('decide', 'y'.repeat(200), { max_input_bytes: 100 }),
          'input_limit',
        );
        const small = await p.invoke('decide', 'small', { max_input_bytes: 100 });
        const what = 'a small input runs the policy, for the first time';
        if (ran.ok) expectValue(what, small, ran.value);
        else expectFailure(what, small, ran.kind);
      }),
  }),
  defineCase({
    id: 'failures/limits-layering',
    category: 'failures',
    title: 'limits given at load apply to every call; limits given to invoke override them',
    policy: {
      javascript: entry('return "x".repeat(input.n);'),
      starlark: starlarkDecide('return "x" * input["n"]'),
    },
    check: (backend, code) =>
      withPolicy(
        backend,
        code,
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
  }),
  defineCase({
    id: 'failures/timeout',
    category: 'failures',
    title: 'a call that runs past timeout_ms is timeout',
    policy: BUSY_LOOP,
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        expectFailure(
          'busy',
          await p.invoke('busy', { n: BUSY_ITERATIONS }, { timeout_ms: 1 }),
          'timeout',
        );
      }),
  }),
  defineCase({
    id: 'failures/recursion-refused',
    category: 'failures',
    title:
      'a function calling itself fails: runtime_error (recursion is off) or, where enabled, stack_overflow',
    policy: { starlark: `${RECURSIVE}def decide(input):\n    return rec(0)\n` },
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        expectRecursionStopped('rec', await p.invoke('decide', null));
      }),
  }),
  defineCase<{ code: string; entry: string }>({
    id: 'failures/stack-overflow',
    category: 'failures',
    title:
      'a call chain deeper than the stack is stack_overflow (JavaScript: unbounded recursion; Starlark: 250 distinct functions)',
    policy: {
      javascript: {
        code: 'function down(n) { return down(n + 1) + 1; }\nfunction decide() { return down(0); }',
        entry: 'decide',
      },
      // Starlark refuses recursion by default (failures/recursion-refused): the depth limit is
      // reached through distinct functions instead.
      starlark: { code: CALL_CHAIN, entry: 'down' },
    },
    check: (backend, { code, entry: name }) =>
      withPolicy(backend, code, async (p) => {
        expectFailure('stack-overflow', await p.invoke(name, null), 'stack_overflow');
      }),
  }),
  defineCase({
    id: 'failures/memory-limit',
    category: 'failures',
    title: 'allocating past memory_bytes is memory_limit',
    requirement: REQUIRES.hardMemory,
    policy: {
      javascript: entry(
        'const keep = []; for (let i = 0; i < 1e6; i++) keep.push(new Array(1000).fill(i)); return keep.length;',
      ),
      starlark: starlarkDecide(
        'keep = []\nfor i in range(1000000):\n    keep.append([i] * 1000)\nreturn len(keep)',
      ),
    },
    check: (backend, code) =>
      withPolicy(
        backend,
        code,
        async (p) => {
          expectFailure(
            'bomb',
            await p.invoke('decide', null, { timeout_ms: 10_000 }),
            'memory_limit',
          );
        },
        { memory_bytes: 32 * 1024 * 1024 },
      ),
  }),
  defineCase({
    id: 'failures/step-limit',
    category: 'failures',
    title: 'a loop past max_steps is step_limit',
    requirement: REQUIRES.anySteps,
    policy: BUSY_LOOP,
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        expectFailure(
          'busy',
          await p.invoke('busy', { n: BUSY_ITERATIONS }, { max_steps: 10, timeout_ms: 10_000 }),
          'step_limit',
        );
      }),
  }),
  defineCase({
    id: 'failures/message-one-line',
    category: 'failures',
    title: 'failure messages are one line of at most 500 characters',
    policy: {
      javascript: entry('throw new Error("first line\\nsecond line\\t" + "z".repeat(5000));'),
      starlark: starlarkDecide('fail("first line\\nsecond line\\t" + "z" * 5000)'),
    },
    check: (backend, code) =>
      withPolicy(backend, code, async (p) => {
        const result = await p.invoke('decide', null);
        expectFailure('long', result, 'runtime_error');
        if (!result.ok && /second line/.test(result.failure.message)) {
          fail(`the message kept its second line: ${result.failure.message.slice(0, 80)}`);
        }
      }),
  }),
];
