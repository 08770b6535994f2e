import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Program } from '../interpreter.ts';

/**
 * What host work is charged (steps and allocation bytes) is a function of the program and its
 * sizes only: the same program is charged the same, and a program doing the same operations on
 * larger inputs is never charged less. Checked over random programs built from the operations
 * that do host work on the guest's behalf.
 */

const OPERATIONS: ((n: number) => string)[] = [
  (n) => `("ab" * ${n}).replace("a", "xyz")`,
  (n) => `",".join(["x" * 10] * ${n})`,
  (n) => `int("7" * ${1 + (n % 5000)})`,
  (n) => `str(1 << ${n % 500})`,
  (n) => `("%s" * ${n}) % tuple(["y"] * ${n})`,
  (n) => `repr([[1, 2]] * ${n})`,
  (n) => `len({tuple(range(${n})): 1})`,
  (n) => `json.encode({"k": ["v"] * ${n}})`,
  (n) => `sorted([str(i) for i in range(${n % 2000})])`,
  (n) => `"-".join([str(i) for i in range(${n % 2000})]).split("-")`,
];

const program = (ops: { op: number; n: number }[]) =>
  `def f():\n    out = []\n${ops.map(({ op, n }) => `    out.append(${OPERATIONS[op]!(n)})`).join('\n')}\n    return len(out)\n`;

function charged(src: string): { steps: number; alloc: number } {
  const { module } = Program.compile(src).init();
  const r = module.call(module.globals.get('f')!, [], {
    limits: { maxAllocBytes: 1e12, timeoutMs: 60_000 },
  });
  return { steps: r.stats.steps, alloc: r.stats.allocBytes };
}

const steps = fc.array(
  fc.record({ op: fc.nat({ max: OPERATIONS.length - 1 }), n: fc.nat({ max: 3000 }) }),
  { minLength: 1, maxLength: 4 },
);

describe('charges for host work', () => {
  it('are the same for the same program', () => {
    fc.assert(
      fc.property(steps, (ops) => {
        const src = program(ops);
        expect(charged(src)).toEqual(charged(src));
      }),
      { numRuns: 60 },
    );
  });

  it('never shrink when the same operations get larger inputs', () => {
    fc.assert(
      fc.property(
        steps,
        fc.array(fc.nat({ max: 3000 }), { minLength: 4, maxLength: 4 }),
        (ops, more) => {
          const larger = ops.map((o, i) => ({ op: o.op, n: o.n + more[i]! }));
          // Sizes that wrap (the modulo above) would not be larger: compare only within one period.
          fc.pre(larger.every((o, i) => wraps(o.op, o.n) === wraps(o.op, ops[i]!.n)));
          const small = charged(program(ops));
          const big = charged(program(larger));
          expect(big.steps).toBeGreaterThanOrEqual(small.steps);
          expect(big.alloc).toBeGreaterThanOrEqual(small.alloc);
        },
      ),
      { numRuns: 60 },
    );
  });
});

/** Which period of its modulo an operation's size falls in (0 for operations without one). */
function wraps(op: number, n: number): number {
  switch (op) {
    case 2:
      return Math.floor(n / 5000);
    case 3:
      return Math.floor(n / 500);
    case 8:
    case 9:
      return Math.floor(n / 2000);
    default:
      return 0;
  }
}
