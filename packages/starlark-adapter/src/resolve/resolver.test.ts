import { describe, expect, it } from 'vitest';
import { DEFAULT_DIALECT, type Dialect } from '../dialect.ts';
import { StarlarkError } from '../errors.ts';
import { parse } from '../syntax/parser.ts';
import { resolveModule } from './resolver.ts';

function resolveError(src: string, dialect: Partial<Dialect> = {}): string {
  try {
    resolveModule(parse(src, { filename: 'r.star' }), {
      dialect: { ...DEFAULT_DIALECT, ...dialect },
      isPredeclared: (n) => n === 'len' || n === 'True',
    });
    return 'ok';
  } catch (e) {
    if (!StarlarkError.isInstance(e)) throw e;
    expect(e.kind).toBe('resolve');
    return `${e.position!.line}:${e.position!.col}: ${e.message}`;
  }
}

describe('resolver', () => {
  it('accepts forward references to globals from functions', () => {
    expect(resolveError('def f(): return g()\ndef g(): return len([])\n')).toBe('ok');
  });

  it('reports undefined names before running', () => {
    expect(resolveError('x = 1\ny = z\n')).toBe("2:5: undefined: name 'z' is not defined");
  });

  it('reports a local used before any assignment in straight-line code', () => {
    expect(resolveError('def f():\n  print = 1\n  y = x\n  x = 2\n')).toMatch(
      /^3:7: local variable x referenced before assignment/,
    );
  });

  it('reports break/continue outside loops and return outside functions', () => {
    expect(resolveError('def f():\n  break\n')).toMatch(/^2:3: break not in a loop/);
    expect(resolveError('def f():\n  for x in []:\n    def g():\n      continue\n')).toMatch(
      /continue not in a loop/,
    );
    expect(resolveError('return 1\n')).toMatch(/return statement not within a function/);
  });

  it('reports duplicate parameters and repeated keyword arguments', () => {
    expect(resolveError('def f(a, a): pass\n')).toMatch(/duplicate parameter: a/);
    expect(resolveError('len(x=1, x=2)\n')).toMatch(/keyword argument x repeated/);
  });

  it('gates top-level control flow, while and load by dialect', () => {
    expect(resolveError('for x in []: pass\n')).toMatch(/for loop not within a function/);
    expect(resolveError('if True: pass\n')).toMatch(/if statement not within a function/);
    expect(resolveError('for x in []: pass\n', { toplevelControl: true })).toBe('ok');
    expect(resolveError('def f():\n  while True: pass\n')).toMatch(/while loops are not enabled/);
    expect(resolveError('def f():\n  while True: pass\n', { while: true })).toBe('ok');
    expect(resolveError('def f():\n  load("x", "y")\n')).toMatch(
      /load statement within a function/,
    );
  });

  it('resolves nested functions through cells', () => {
    expect(
      resolveError(
        'def f():\n  x = 1\n  def g():\n    def h():\n      return x\n    return h()\n  return g()\n',
      ),
    ).toBe('ok');
  });
});
