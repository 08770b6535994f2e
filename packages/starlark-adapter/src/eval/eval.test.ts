import { describe, expect, it } from 'vitest';
import { Program } from '../interpreter.ts';
import { err, ev, run } from '../testing/helpers.ts';
import { repr } from '../values/repr.ts';

// Our own conformance tests, one block per section of the Starlark spec.

describe('spec: values and operators', () => {
  it('ints are arbitrary precision, with exact floor division and modulo', () => {
    expect(ev('1 << 70')).toBe('1180591620717411303424');
    expect(ev('9007199254740991 + 2')).toBe('9007199254740993');
    expect(ev('(1 << 64) // 3')).toBe('6148914691236517205');
    expect(ev('-7 // 2')).toBe('-4');
    expect(ev('-7 % 3')).toBe('2');
    expect(ev('7 % -3')).toBe('-2');
    expect(ev('-(1 << 60) * -(1 << 60)')).toBe('1329227995784915872903807060280344576');
    expect(ev('~5, 6 & 3, 6 | 3, 6 ^ 3, 1 << 3, -16 >> 2')).toBe('(-6, 2, 7, 5, 8, -4)');
    expect(err('x = 1 // 0')).toMatch(/division by zero/);
  });

  it('floats keep their type and format like Python', () => {
    expect(ev('1.0')).toBe('1.0');
    expect(ev('1 / 2')).toBe('0.5');
    expect(ev('7.0 // 2')).toBe('3.0');
    expect(ev('1e20')).toBe('1e+20');
    expect(ev('0.0001')).toBe('0.0001');
    expect(ev('1 == 1.0, 1 < 1.5, int(2.9), float("inf")')).toBe('(True, True, 2, +inf)');
    expect(ev('{1: "a"}[1.0]')).toBe('"a"');
  });

  it('strings are UTF-16 code units, immutable, and not iterable', () => {
    expect(ev('len("é😀")')).toBe('3');
    expect(ev('"abc"[1], "abc"[-1], "abcdef"[1:5:2]')).toBe('("b", "c", "bd")');
    expect(ev('"a" + "b" * 3')).toBe('"abbb"');
    expect(err('for c in "ab": pass', { toplevelControl: true })).toMatch(/not iterable/);
    expect(ev('"%s-%d-%r-%x" % ("a", 42, "q", 255)')).toBe('"a-42-\\"q\\"-ff"');
    expect(ev('"%(a)s" % {"a": 1}')).toBe('"1"');
    expect(ev('"{} {x} {0}".format(1, x=2) if False else "{} {x}".format(1, x=2)')).toBe('"1 2"');
  });

  it('bytes', () => {
    expect(ev('b"ab" + b"\\xff"')).toBe('b"ab\\xff"');
    expect(ev('len(b"abc"), b"abc"[0], b"abc".elems()')).toBe('(3, 97, [97, 98, 99])');
  });

  it('lists, tuples, dicts keep insertion order and check hashability', () => {
    expect(ev('[1, 2] + [3]')).toBe('[1, 2, 3]');
    expect(ev('(1,) * 2')).toBe('(1, 1)');
    expect(ev('{"b": 1, "a": 2}')).toBe('{"b": 1, "a": 2}');
    expect(ev('dict(a=1, b=2).items()')).toBe('[("a", 1), ("b", 2)]');
    expect(err('x = {[]: 1}')).toMatch(/unhashable type: list/);
    expect(err('x = {1: 1, 1: 2}')).toMatch(/duplicate key/);
    expect(ev('{(1, "a"): 2}[(1, "a")]')).toBe('2');
    expect(ev('range(10)[2:8:3], list(range(5, 0, -2)), 3 in range(1, 5)')).toBe(
      '(range(2, 8, 3), [5, 3, 1], True)',
    );
  });

  it('sets exist only with the set option', () => {
    expect(err('x = set([1])')).toMatch(/set/);
    expect(ev('sorted(set([3, 1, 3]) | set([2]))', { set: true })).toBe('[1, 2, 3]');
    expect(ev('set([1, 2]).intersection([2, 3])', { set: true })).toBe('set([2])');
  });

  it('comparisons of different types fail, equality does not', () => {
    expect(ev('1 == "1", None == None, [1] == [1], (1, 2) < (1, 3)')).toBe(
      '(False, True, True, True)',
    );
    expect(err('x = 1 < "a"')).toMatch(/not implemented/);
  });
});

describe('spec: statements and functions', () => {
  it('assignment, augmented assignment and unpacking', () => {
    const g = run('a, [b, c] = 1, (2, 3)\nd = [1]\ne = d\ne += [2]\nf = {"k": 1}\nf["k"] += 5\n');
    expect(g.get('c')).toBe(3);
    expect(repr(g.get('f')!)).toBe('{"k": 6}');
    expect(err('a, b = 1, 2, 3')).toMatch(/too many values to unpack/);
    const h = run('d = [1]\ne = d\ne += [2]\nr = str(d)\n');
    expect(h.get('r')).toBe('[1, 2]');
  });

  it('functions: defaults, *args, **kwargs, keyword-only, lambdas, closures', () => {
    const src = `
def f(a, b=2, *args, c, d=4, **kw):
    return (a, b, args, c, d, kw)
r1 = f(1, c=3)
r2 = f(1, 5, 6, 7, c=3, z=9)
def counter():
    n = [0]
    def inc():
        n[0] += 1
        return n[0]
    return inc
c = counter()
r3 = [c(), c()]
add = lambda x, y=10: x + y
r4 = add(1)
def outer():
    x = 1
    def g():
        return x
    x = 2
    return g()
r5 = outer()
`;
    const g = run(src);
    const rep = (k: string) => run(`${src}\nout = repr(${k})`).get('out');
    expect(rep('r1')).toBe('(1, 2, (), 3, 4, {})');
    expect(rep('r2')).toBe('(1, 5, (6, 7), 3, 4, {"z": 9})');
    expect(rep('r3')).toBe('[1, 2]');
    expect(g.get('r4')).toBe(11);
    expect(g.get('r5')).toBe(2);
    expect(err('def f(a): pass\nf()')).toMatch(/missing 1 argument \(a\)/);
    expect(err('def f(a): pass\nf(1, 2)')).toMatch(/at most 1 positional argument/);
    expect(err('def f(a): pass\nf(b=1)')).toMatch(/unexpected keyword argument 'b'/);
    expect(err('def f(a): pass\nf(1, a=1)')).toMatch(/multiple values for parameter 'a'/);
  });

  it('control flow: if/elif/else, for with break/continue, while when enabled', () => {
    const g = run(
      'def f(n):\n  out = []\n  for i in range(n):\n    if i == 1:\n      continue\n    elif i == 4:\n      break\n    else:\n      out.append(i)\n  return out\nr = f(10)\ndef w():\n  i = 0\n  while i < 5:\n    i += 1\n  return i\nq = w()\n',
      { while: true },
    );
    expect(repr(g.get('r')!)).toBe('[0, 2, 3]');
    expect(g.get('q')).toBe(5);
  });

  it('comprehensions have their own scope and nest clauses left to right', () => {
    expect(ev('[(x, y) for x in range(3) if x for y in "ab".elems()]')).toBe(
      '[(1, "a"), (1, "b"), (2, "a"), (2, "b")]',
    );
    expect(ev('{x: x * x for x in [1, 2]}')).toBe('{1: 1, 2: 4}');
    const g = run('x = 10\ny = [x for x in range(3)]\n');
    expect(g.get('x')).toBe(10);
  });

  it('globals are frozen after module initialisation', () => {
    const src = 'l = [1]\ndef f():\n  l.append(2)\n';
    const { module } = Program.compile(src).init();
    expect(() => module.call(module.globals.get('f')!, [])).toThrow(/frozen/);
  });

  it('mutation during iteration fails', () => {
    expect(err('def f():\n  l = [1]\n  for x in l:\n    l.append(x)\nf()')).toMatch(
      /append to list during iteration/,
    );
    expect(err('def f():\n  d = {1: 1}\n  for k in d:\n    d[2] = 1\nf()')).toMatch(
      /insert into dict during iteration/,
    );
  });

  it('runtime errors carry the call stack with positions', () => {
    try {
      Program.compile('def g(x):\n  return x[5]\ndef f():\n  return g([1])\nf()\n', {
        filename: 'e.star',
      }).init();
      expect.unreachable();
    } catch (e) {
      const text = (e as { format(): string }).format();
      expect(text).toContain('e.star:5:2: in <toplevel>');
      expect(text).toContain('e.star:4:11: in f');
      expect(text).toContain('e.star:2:3: in g');
      expect(text).toMatch(/index 5 out of range/);
    }
  });

  it('builtins: sorted, min/max with key, enumerate, zip, getattr, type, struct, json', () => {
    expect(ev('sorted([3, 1, 2], reverse=True)')).toBe('[3, 2, 1]');
    expect(ev('sorted(["bb", "a", "ccc"], key=len)')).toBe('["a", "bb", "ccc"]');
    expect(ev('max([1, -5, 3], key=abs), min(4, 2, 8)')).toBe('(-5, 2)');
    expect(ev('enumerate(["a"], 1), zip([1, 2], "ab".elems())')).toBe(
      '([(1, "a")], [(1, "a"), (2, "b")])',
    );
    expect(ev('type(1), type(1.0), type(""), type([]), type(None), type(len)')).toBe(
      '("int", "float", "string", "list", "NoneType", "builtin_function_or_method")',
    );
    expect(ev('struct(a=1, b="x").b')).toBe('"x"');
    expect(ev('json.encode({"b": [1, 2.5, None, True], "a": "x"})')).toBe(
      '"{\\"a\\":\\"x\\",\\"b\\":[1,2.5,null,true]}"',
    );
    expect(ev('json.decode("[1, 2.5, {\\"a\\": null}]")')).toBe('[1, 2.5, {"a": None}]');
    expect(ev('json.indent("[1]", indent="  ")')).toBe('"[\\n  1\\n]"');
    expect(ev('hash("hello")')).toBe('99162322');
    expect(err('fail("boom", 1)')).toMatch(/fail: boom 1/);
    expect(ev('"a,b,,c".split(","), " x  y ".split(), "a b c".rsplit(" ", 1)')).toBe(
      '(["a", "b", "", "c"], ["x", "y"], ["a b", "c"])',
    );
    expect(ev('"Hello".lower().upper().title(), "  x ".strip(), "abc".replace("b", "")')).toBe(
      '("Hello", "x", "ac")',
    );
  });

  it('print goes to the print callback', () => {
    expect(run('print("a", 1, [2])').get('__printed__')).toBe('a 1 [2]');
  });
});

describe('robustness', () => {
  it('deeply nested values freeze and fail cleanly instead of overflowing the host stack', () => {
    const src =
      'def mk():\n  x = []\n  for i in range(100000):\n    x = [x]\n  return x\ndeep = mk()\n';
    expect(() => Program.compile(src).init()).not.toThrow();
    expect(err(`${src}s = repr(deep)`)).toMatch(/stack|nested|depth/);
  });

  it('a deeply nested expression is a syntax error, not a crash', () => {
    const src = `x = ${'('.repeat(20000)}1${')'.repeat(20000)}`;
    expect(err(src)).toMatch(/nested too deeply/);
  });
});
