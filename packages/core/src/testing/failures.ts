import type { SandboxFailureKind } from '../sandbox/contract.ts';
import {
  always,
  type ConformanceCase,
  expectFailure,
  expectLoadError,
  expectValue,
  fail,
  withPolicy,
} from './kit.ts';

/** A policy whose only entry is `decide`, returning or throwing what `body` says. */
const entry = (body: string) => `function decide(input) {\n  ${body}\n}`;

function invalidOutput(name: string, title: string, body: string): ConformanceCase {
  return kindCase(`invalid-output-${name}`, title, entry(body), 'invalid_output');
}

function kindCase(
  name: string,
  title: string,
  code: string,
  kind: SandboxFailureKind,
  input: unknown = null,
): ConformanceCase {
  return {
    id: `failures/${name}`,
    category: 'failures',
    title,
    applies: always,
    run: (backend) =>
      withPolicy(backend, code, async (policy) => {
        expectFailure(name, await policy.invoke('decide', input as null), kind);
      }),
  };
}

// A busy loop long enough to overrun a 1 ms budget on any engine, JIT or interpreter, yet short
// enough that a backend which only checks time after the call (trusted) ends in well under 1 s.
export const BUSY_LOOP = `function busy(input) {
  let x = 0;
  for (let i = 0; i < input.n; i++) x = (x * 31 + i) % 1000003;
  return x;
}`;
export const BUSY_ITERATIONS = 30_000_000;

export const failureCases: ConformanceCase[] = [
  {
    id: 'failures/compile-error',
    category: 'failures',
    title: 'a syntax error rejects load with a SandboxLoadError of kind compile_error',
    applies: always,
    run: (backend) =>
      expectLoadError(
        'compile-error',
        backend,
        'function decide(input) { return {; }',
        'compile_error',
      ),
  },
  {
    id: 'failures/load-time-throw',
    category: 'failures',
    title: 'top-level code that throws rejects load with a SandboxLoadError of kind runtime_error',
    applies: always,
    run: (backend) =>
      expectLoadError(
        'load-time-throw',
        backend,
        'throw new Error("at load");\nfunction decide() { return 1; }',
        'runtime_error',
      ),
  },
  {
    id: 'failures/missing-entry',
    category: 'failures',
    title: 'calling a function the policy does not define (or a non-function) is missing_entry',
    applies: always,
    run: (backend) =>
      withPolicy(backend, 'const notAFunction = 1;\nfunction decide() { return 1; }', async (p) => {
        expectFailure('absent', await p.invoke('absent', null), 'missing_entry');
        expectFailure('notAFunction', await p.invoke('notAFunction', null), 'missing_entry');
        expectFailure('prototype name', await p.invoke('toString', null), 'missing_entry');
        expectValue('decide still works', await p.invoke('decide', null), 1);
      }),
  },
  {
    id: 'failures/runtime-error',
    category: 'failures',
    title: 'a thrown Error is runtime_error and the message names the error',
    applies: always,
    run: (backend) =>
      withPolicy(backend, entry('throw new TypeError("bad input " + input.n);'), async (p) => {
        const result = await p.invoke('decide', { n: 7 });
        expectFailure('TypeError', result, 'runtime_error');
        if (!result.ok && !/TypeError/.test(result.failure.message)) {
          fail(`the message should name TypeError: ${result.failure.message}`);
        }
        if (!result.ok && !result.failure.message.includes('bad input 7')) {
          fail(`the message should carry the error message: ${result.failure.message}`);
        }
      }),
  },
  {
    id: 'failures/runtime-error-non-error',
    category: 'failures',
    title: 'thrown non-Error values (number, string, null, object, undefined) are runtime_error',
    applies: always,
    run: (backend) =>
      withPolicy(
        backend,
        `function decide(input) {
  switch (input) {
    case 'number': throw 42;
    case 'string': throw 'plain string';
    case 'null': throw null;
    case 'undefined': throw undefined;
    default: throw { code: 'E_OBJ' };
  }
}`,
        async (p) => {
          for (const thrown of ['number', 'string', 'null', 'undefined', 'object']) {
            expectFailure(`throw ${thrown}`, await p.invoke('decide', thrown), 'runtime_error');
          }
        },
      ),
  },
  {
    id: 'failures/uncaught-reference-error',
    category: 'failures',
    title: 'a reference to an undefined name is runtime_error at call time, not at load',
    applies: always,
    run: (backend) =>
      withPolicy(backend, entry('return notDefinedAnywhere + 1;'), async (p) => {
        const result = await p.invoke('decide', null);
        expectFailure('ReferenceError', result, 'runtime_error');
        if (!result.ok && !/ReferenceError/.test(result.failure.message)) {
          fail(`the message should name ReferenceError: ${result.failure.message}`);
        }
      }),
  },
  invalidOutput('undefined', 'returning undefined (or nothing) is invalid_output', 'return;'),
  invalidOutput('function', 'returning a function is invalid_output', 'return function () {};'),
  invalidOutput('symbol', 'returning a symbol is invalid_output', 'return Symbol("s");'),
  invalidOutput(
    'cycle',
    'returning a cyclic structure is invalid_output',
    'const a = { list: [] }; a.list.push(a); return a;',
  ),
  invalidOutput(
    'bigint',
    'returning a BigInt (even nested) is invalid_output',
    'return { n: BigInt(1) };',
  ),
  invalidOutput(
    'promise',
    'returning a promise is invalid_output: policies are synchronous',
    'return Promise.resolve({ late: true });',
  ),
  {
    id: 'failures/invalid-output-async-entry',
    category: 'failures',
    title: 'an async entry returns a promise: invalid_output',
    applies: always,
    run: (backend) =>
      withPolicy(backend, 'async function decide() { return 1; }', async (p) => {
        expectFailure('async', await p.invoke('decide', null), 'invalid_output');
      }),
  },
  {
    id: 'failures/output-limit',
    category: 'failures',
    title: 'a result larger than max_output_bytes is output_limit; the same result under it is ok',
    applies: always,
    run: (backend) =>
      withPolicy(backend, entry('return "x".repeat(input.n);'), async (p) => {
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
  },
  {
    id: 'failures/input-limit',
    category: 'failures',
    title: 'an input larger than max_input_bytes is input_limit, before the policy runs',
    applies: always,
    run: (backend) =>
      withPolicy(
        backend,
        'let calls = 0;\nfunction decide(input) { calls++; return calls; }',
        async (p) => {
          expectFailure(
            'big input',
            await p.invoke('decide', 'y'.repeat(200), { max_input_bytes: 100 }),
            'input_limit',
          );
          expectValue('the policy did not run', await p.invoke('decide', 'small'), 1);
        },
      ),
  },
  {
    id: 'failures/limits-layering',
    category: 'failures',
    title: 'limits given at load apply to every call; limits given to invoke override them',
    applies: always,
    run: (backend) =>
      withPolicy(
        backend,
        entry('return "x".repeat(input.n);'),
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
  },
  {
    id: 'failures/timeout',
    category: 'failures',
    title: 'a call that runs past timeout_ms is timeout',
    applies: always,
    run: (backend) =>
      withPolicy(backend, BUSY_LOOP, async (p) => {
        expectFailure(
          'busy',
          await p.invoke('busy', { n: BUSY_ITERATIONS }, { timeout_ms: 1 }),
          'timeout',
        );
      }),
  },
  kindCase(
    'stack-overflow',
    'unbounded recursion is stack_overflow',
    'function down(n) { return down(n + 1) + 1; }\nfunction decide() { return down(0); }',
    'stack_overflow',
  ),
  {
    id: 'failures/memory-limit',
    category: 'failures',
    title: 'allocating past memory_bytes is memory_limit',
    requirement: "memory: 'hard'",
    applies: (c) => c.memory === 'hard',
    run: (backend) =>
      withPolicy(
        backend,
        entry(
          'const keep = []; for (let i = 0; i < 1e6; i++) keep.push(new Array(1000).fill(i)); return keep.length;',
        ),
        async (p) => {
          expectFailure(
            'arrays',
            await p.invoke('decide', null, { timeout_ms: 10_000 }),
            'memory_limit',
          );
        },
        { memory_bytes: 32 * 1024 * 1024 },
      ),
  },
  {
    id: 'failures/step-limit',
    category: 'failures',
    title: 'a loop past max_steps is step_limit',
    requirement: "steps: 'exact' or 'coarse'",
    applies: (c) => c.steps !== 'none',
    run: (backend) =>
      withPolicy(backend, BUSY_LOOP, async (p) => {
        expectFailure(
          'busy',
          await p.invoke('busy', { n: BUSY_ITERATIONS }, { max_steps: 10, timeout_ms: 10_000 }),
          'step_limit',
        );
      }),
  },
  {
    id: 'failures/message-one-line',
    category: 'failures',
    title: 'failure messages are one line of at most 500 characters',
    applies: always,
    run: (backend) =>
      withPolicy(
        backend,
        entry('throw new Error("first line\\nsecond line\\t" + "z".repeat(5000));'),
        async (p) => {
          const result = await p.invoke('decide', null);
          expectFailure('long', result, 'runtime_error');
          if (!result.ok && /second line/.test(result.failure.message)) {
            fail(`the message kept its second line: ${result.failure.message.slice(0, 80)}`);
          }
        },
      ),
  },
];
