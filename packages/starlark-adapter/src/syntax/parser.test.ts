import { describe, expect, it } from 'vitest';
import { StarlarkError } from '../errors.ts';
import { parse, parseExpression } from './parser.ts';

function syntaxError(src: string): string {
  try {
    parse(src, { filename: 'p.star' });
  } catch (e) {
    if (!StarlarkError.isInstance(e)) throw e;
    expect(e.kind).toBe('syntax');
    return `${e.position!.line}:${e.position!.col}: ${e.message}`;
  }
  return 'ok';
}

describe('parser', () => {
  it('records positions on nodes', () => {
    const mod = parse('x = 1\ndef f(a, b=2, *args, c, **kw):\n  return a + b\n');
    const def = mod.body[1]!;
    expect(def.kind).toBe('Def');
    expect([def.line, def.col]).toEqual([2, 1]);
    if (def.kind !== 'Def') throw new Error('unreachable');
    expect(def.fn.params.map((p) => p.kind)).toEqual([
      'required',
      'optional',
      'star',
      'required',
      'starstar',
    ]);
    const ret = def.fn.body[0]!;
    expect([ret.line, ret.col]).toEqual([3, 3]);
  });

  it('respects precedence and builds tuples from bare commas', () => {
    const e = parseExpression('1 + 2 * 3 == 7 and not x or y');
    expect(e.kind).toBe('Or');
    const t = parseExpression('1, 2,');
    expect(t.kind).toBe('Tuple');
    expect(parseExpression('(1)').kind).toBe('Literal');
    expect(parseExpression('a if b else c').kind).toBe('Cond');
    expect(parseExpression('[x for x in y if x]').kind).toBe('Comprehension');
    expect(parseExpression('{k: v for k, v in d}').kind).toBe('Comprehension');
    expect(parseExpression('lambda x, y=1: x + y').kind).toBe('Lambda');
    expect(parseExpression('a[1:2:3]').kind).toBe('Slice');
    expect(parseExpression('f(1, *a, k=2, **kw)').kind).toBe('Call');
  });

  it('reports syntax errors with positions', () => {
    expect(syntaxError('x = (1,\n')).toMatch(/^2:1: got newline, want primary expression/);
    expect(syntaxError('1 < 2 < 3')).toMatch(/not associative/);
    expect(syntaxError('f(a=1, 2)')).toMatch(/positional argument may not follow named/);
    expect(syntaxError('def f(a=1, b): pass')).toMatch(
      /required parameter may not follow optional/,
    );
    expect(syntaxError('def f(*, **k): pass')).toMatch(/bare \*/);
    expect(syntaxError('f() = 1')).toMatch(/^1:2: cannot assign to function call/);
    expect(syntaxError('a = b = 1')).toMatch(/chained assignment/);
    expect(syntaxError('x = (y for y in z)')).toMatch(/generator expressions/);
    expect(syntaxError('  x = 1')).toMatch(/^1:3: unexpected indentation/);
    expect(syntaxError('x = 1 if y')).toMatch(/without else/);
    expect(syntaxError('(a, b) += 1')).toMatch(/augmented assignment/);
  });

  it('parses load statements', () => {
    const mod = parse('load("m.star", "a", b = "c")\n');
    const s = mod.body[0]!;
    if (s.kind !== 'Load') throw new Error('want load');
    expect(s.names).toMatchObject([
      { local: 'a', remote: 'a' },
      { local: 'b', remote: 'c' },
    ]);
  });
});
