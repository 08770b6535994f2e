import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StarlarkError } from './errors.ts';
import { Program } from './interpreter.ts';

const LIMITS = { maxSteps: 20_000, maxAllocBytes: 4 * 1024 * 1024, timeoutMs: 2_000 };
const DIALECT = { while: true, recursion: true, toplevelControl: true, set: true };

/** Run a program; anything thrown must be a typed StarlarkError. Returns steps or the error kind. */
function exec(src: string): string {
  try {
    const program = Program.compile(src, { dialect: DIALECT });
    const { stats } = program.init({ limits: LIMITS });
    return `ok:${stats.steps}`;
  } catch (e) {
    // Host exceptions are wrapped as "internal error": for the fuzzer that is still a bug.
    if (!StarlarkError.isInstance(e) || e.message.startsWith('internal error')) throw e;
    return `${e.kind}:${e.stats?.steps ?? 'compile'}:${e.message}`;
  }
}

const TOKENS = [
  'def',
  'f',
  '(',
  ')',
  ':',
  '\n',
  '  ',
  'return',
  'x',
  'y',
  '=',
  '+',
  '-',
  '*',
  '//',
  '%',
  '[',
  ']',
  '{',
  '}',
  ',',
  '1',
  '0',
  '"s"',
  "b'q'",
  '1.5',
  'for',
  'in',
  'if',
  'else',
  'elif',
  'while',
  'True',
  'None',
  'lambda',
  'not',
  'and',
  'or',
  '.',
  'append',
  'len',
  'range',
  '<',
  '==',
  '*',
  '**',
  '\\',
  '#',
  'break',
  'continue',
  'pass',
  ';',
  'load',
  'struct',
  'json',
  'encode',
  '"""',
  "'",
  '0x',
  '1e',
];

// Small well-formed programs: assignments of random expressions, then a loop over a list.
const atom = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }).map(String),
  fc.constantFrom('x', 'y', '"ab"', '[1, 2]', '(3,)', '{"k": 1}', 'None', 'True', '2.5', '1 << 60'),
);
const expr: fc.Arbitrary<string> = fc.letrec((tie) => ({
  e: fc.oneof(
    { depthSize: 'small' },
    atom,
    fc
      .tuple(
        tie('e'),
        fc.constantFrom('+', '-', '*', '//', '%', '==', '<', 'and', 'or', 'in'),
        tie('e'),
      )
      .map(([a, op, b]) => `(${a} ${op} ${b})`),
    tie('e').map((a) => `[${a} for _ in range(3)]`),
    tie('e').map((a) => `len(str(${a}))`),
  ),
})).e as fc.Arbitrary<string>;
const program = fc
  .array(expr, { minLength: 1, maxLength: 6 })
  .map(
    (es) =>
      `x = 1\ny = "s"\n${es.map((e, i) => `v${i} = ${e}`).join('\n')}\nfor i in range(5):\n  x = x + i\n`,
  );

describe('fuzzing', () => {
  it('random text only ever produces typed errors', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (src) => {
        exec(src);
      }),
      { numRuns: 400 },
    );
  });

  it('random bytes (as UTF-8, lossy) only ever produce typed errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        exec(new TextDecoder().decode(bytes));
      }),
      { numRuns: 300 },
    );
  });

  it('random token sequences only ever produce typed errors', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }),
        fc.constantFrom(' ', '', '\n'),
        (toks, sep) => {
          exec(toks.join(sep));
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('random well-formed programs: typed errors only, and the same step count every run', () => {
    fc.assert(
      fc.property(program, (src) => {
        const a = exec(src);
        expect(exec(src)).toBe(a);
      }),
      { numRuns: 300 },
    );
  });

  it('a runaway program is stopped deterministically by the step budget', () => {
    const src = 'def f(n):\n  s = []\n  while True:\n    s.append(n)\n    n += 1\nf(0)\n';
    const results = new Set(Array.from({ length: 3 }, () => exec(src)));
    expect([...results]).toEqual(['step_limit:20000:step budget of 20000 steps exhausted']);
  });
});
