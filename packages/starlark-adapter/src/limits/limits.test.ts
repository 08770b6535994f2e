import { describe, expect, it } from 'vitest';
import { StarlarkError } from '../errors.ts';
import { type ExecOptions, Program } from '../interpreter.ts';
import * as threadModule from './thread.ts';

function callF(src: string, limits: ExecOptions = {}, dialect = {}) {
  const { module } = Program.compile(src, { dialect }).init();
  try {
    const r = module.call(module.globals.get('f')!, [], limits);
    return { ok: true as const, steps: r.stats.steps, alloc: r.stats.allocBytes, kind: null };
  } catch (e) {
    if (!StarlarkError.isInstance(e)) throw e;
    return {
      ok: false as const,
      steps: e.stats?.steps ?? -1,
      alloc: e.stats?.allocBytes ?? -1,
      kind: e.kind,
      error: e,
    };
  }
}

describe('limits', () => {
  it('while True: pass stops with step_limit after exactly 10000 steps, every time', () => {
    const src = 'def f():\n  while True:\n    pass\n';
    for (let i = 0; i < 3; i++) {
      const r = callF(src, { limits: { maxSteps: 10_000 } }, { while: true });
      expect(r).toMatchObject({ ok: false, kind: 'step_limit', steps: 10_000 });
    }
  });

  it('counts steps exactly: one per call, statement and loop iteration', () => {
    // call f (1) + for statement (1) + range() (1) + 3 × (iteration + pass) (6) + return (1) = 10
    const r = callF('def f():\n  for i in range(3):\n    pass\n  return 1\n');
    expect(r).toMatchObject({ ok: true, steps: 10 });
    // A budget of exactly the steps needed succeeds; one less fails.
    expect(
      callF('def f():\n  for i in range(3):\n    pass\n  return 1\n', { limits: { maxSteps: 10 } })
        .ok,
    ).toBe(true);
    expect(
      callF('def f():\n  for i in range(3):\n    pass\n  return 1\n', { limits: { maxSteps: 9 } }),
    ).toMatchObject({
      kind: 'step_limit',
      steps: 9,
    });
    // Comprehension iterations and builtin calls are steps: f, return, len(), range(), 4 iterations.
    expect(callF('def f():\n  return len([x for x in range(4)])\n')).toMatchObject({
      ok: true,
      steps: 8,
    });
  });

  it('refuses recursion unless the dialect allows it', () => {
    const r = callF('def f():\n  return f()\n');
    expect(r.kind).toBe('runtime');
    expect(r.ok ? '' : r.error?.message).toMatch(/function f called recursively/);
    const deep = callF(
      'def f():\n  return f()\n',
      { limits: { maxDepth: 50 } },
      { recursion: true },
    );
    expect(deep.kind).toBe('stack_overflow');
  });

  it('a list-doubling bomb fails with memory_limit under a 16 MiB budget', () => {
    const r = callF(
      'def f():\n  x = [1]\n  for i in range(64):\n    x = x + x\n  return len(x)\n',
      {
        limits: { maxAllocBytes: 16 * 1024 * 1024 },
      },
    );
    expect(r.kind).toBe('memory_limit');
    expect(r.alloc).toBeGreaterThan(16 * 1024 * 1024);
    expect(r.alloc).toBeLessThan(64 * 1024 * 1024);
  });

  it('string and repeat bombs are charged before they are built', () => {
    expect(
      callF('def f():\n  return "x" * 100000000\n', { limits: { maxAllocBytes: 1 << 20 } }).kind,
    ).toBe('memory_limit');
    expect(
      callF('def f():\n  return [0] * (1 << 40)\n', { limits: { maxAllocBytes: 1 << 20 } }).kind,
    ).toBe('memory_limit');
    expect(
      callF('def f():\n  s = "ab"\n  for i in range(40):\n    s = s + s\n  return s\n', {
        limits: { maxAllocBytes: 1 << 20 },
      }).kind,
    ).toBe('memory_limit');
  });

  it('the wall-clock deadline stops a long loop', () => {
    const r = callF(
      'def f():\n  while True:\n    pass\n',
      { limits: { timeoutMs: 20 } },
      { while: true },
    );
    expect(r.kind).toBe('timeout');
  });

  // Found by the conformance kit's escape battery: a few small lists shared many times over
  // made repr, json.encode and == walk 10^8 to 10^10 elements in one builtin call.
  const SHARED =
    'a = [0] * 100\n  b = [a] * 100\n  c = [b] * 100\n  d = [c] * 100\n  e = [d] * 100\n';

  it('repr and json.encode of shared structures are charged per element visited', () => {
    for (const expr of ['str(e)', 'repr(e)', 'json.encode(e)']) {
      const start = performance.now();
      const r = callF(`def f():\n  ${SHARED}  return len(${expr})\n`, {
        limits: { maxAllocBytes: 32 << 20 },
      });
      expect(r.kind, expr).toBe('memory_limit');
      expect(performance.now() - start, expr).toBeLessThan(2000);
    }
    // Small values are unaffected.
    expect(callF('def f():\n  return str([[1, 2], {"a": (3,)}])\n').ok).toBe(true);
  });

  it('str.format and % fail on the budget while they expand, not on a host allocation', () => {
    for (const expr of [
      '("{0}" * 100000).format("x" * 100000)',
      '("%s" * 1000) % tuple(["y" * 1000000] * 1000)',
    ]) {
      const r = callF(`def f():\n  return len(${expr})\n`, { limits: { maxAllocBytes: 32 << 20 } });
      expect(r.kind, expr).toBe('memory_limit');
      expect(r.ok ? '' : r.error?.message, expr).toMatch(/allocation budget/);
    }
  });

  it('the deadline holds inside one comparison of huge shared structures', () => {
    const twin = SHARED.replace(/\b([a-e])\b/g, '$1$1');
    const start = performance.now();
    const r = callF(`def f():\n  ${SHARED}  ${twin}  return e == ee\n`, {
      limits: { timeoutMs: 30 },
    });
    expect(r.kind).toBe('timeout');
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it('allocation is monotone: freeing does not refund within a call', () => {
    const a = callF('def f():\n  x = [0] * 1000\n  x = None\n  y = [0] * 1000\n  return 1\n');
    const b = callF('def f():\n  x = [0] * 1000\n  return 1\n');
    expect(a.alloc).toBeGreaterThan(b.alloc);
  });
});

describe('step counter refills', () => {
  it('counts exactly across counter chunks of 2^29', () => {
    const { Thread } = threadModule;
    const t = new Thread(
      {
        maxSteps: 2 ** 29 + 5,
        maxAllocBytes: 1e9,
        maxDepth: 10,
        deadline: Number.POSITIVE_INFINITY,
        maxOutputBytes: 1,
      },
      () => undefined,
    );
    // Simulate the hot path: decrement, and call tick when the counter passes the check mark.
    let taken = 0;
    try {
      for (;;) {
        if (--t.steps < t.chk) t.tick();
        taken++;
      }
    } catch (e) {
      expect((e as Error).message).toMatch(/step budget of 536870917 steps exhausted/);
    }
    expect(taken).toBe(2 ** 29 + 5);
    expect(t.stepsUsed).toBe(2 ** 29 + 5);
  });
});
