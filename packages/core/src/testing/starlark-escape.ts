import { type Attempt, attemptCase, equals, TYPED } from './escape.ts';
import type { ConformanceCase } from './kit.ts';

/**
 * The Starlark escape battery: attempts that matter for a Starlark interpreter written in the
 * host language (loading host modules, reaching host objects through attributes, mutating frozen
 * state, and making small values expand in the host: repetition, sharing, nesting). Each runs
 * under the same host canary and checks as the JavaScript battery, and must end in a typed
 * failure or a harmless value.
 */

const decide = (body: string) => `def decide(input):\n    ${body.split('\n').join('\n    ')}\n`;

const HOST_NAMES =
  /process|require|global|constructor|prototype|__proto__|module|Buffer|eval|Function|import/;

const SHARED = 'a = [0] * 100\nb = [a] * 100\nc = [b] * 100\nd = [c] * 100\ne = [d] * 100';

const ATTEMPTS: Attempt[] = [
  {
    name: 'load-host-module',
    title: 'load() of a host module fails at load',
    code: 'load("fs", "readFileSync")\ndef decide(input):\n    return readFileSync("/etc/hostname")\n',
    kinds: ['runtime_error', 'compile_error'],
    value: false,
  },
  {
    name: 'load-relative-file',
    title: 'load() of another policy file fails at load',
    code: 'load("//policies/other.star", "SECRET")\ndef decide(input):\n    return SECRET\n',
    kinds: ['runtime_error', 'compile_error'],
    value: false,
  },
  {
    name: 'host-globals',
    title: 'host names (process, require, globalThis) do not exist: compile_error',
    code: decide('return [process, require, globalThis]'),
    kinds: ['compile_error'],
    value: false,
  },
  {
    name: 'getattr-hidden',
    title: 'no value has host attributes (__class__, __proto__, constructor, prototype, call, ...)',
    code: decide(`out = []
for x in [len, "", [], {}, (), input, json, struct(a = 1), 1, 1.5, None, True, b"x", range(2), decide, lambda: 1]:
    for n in ["__class__", "__proto__", "constructor", "prototype", "__dict__", "__globals__", "toString", "valueOf", "call", "apply", "bind", "caller", "arguments"]:
        if hasattr(x, n):
            out.append(n)
return out`),
    input: { k: 1 },
    value: equals([]),
  },
  {
    name: 'getattr-constructor',
    title: 'getattr(len, "constructor") is a runtime_error, not the host Function',
    code: decide('return getattr(len, "constructor")("return process")()'),
    kinds: ['runtime_error'],
    value: false,
  },
  {
    name: 'dir-probing',
    title: 'dir() of every kind of value lists only Starlark methods, no host names',
    code: decide(`out = []
for x in [len, "", [], {}, (), input, json, struct(a = 1), 1, None, b"x", range(2), decide]:
    out.extend(dir(x))
return sorted(out)`),
    input: { k: 1 },
    value: (value) =>
      Array.isArray(value) && value.every((n) => typeof n === 'string' && !HOST_NAMES.test(n))
        ? undefined
        : 'expected method names without host names',
  },
  {
    name: 'mutate-frozen-list',
    title: 'appending to a frozen global list fails, every call',
    code: `SEEN = []\n${decide('SEEN.append(input)\nreturn len(SEEN)')}`,
    kinds: ['runtime_error'],
    value: false,
    calls: 3,
  },
  {
    name: 'mutate-frozen-dict',
    title: 'writing a frozen global dict through a helper fails, every call',
    code: `CONFIG = {"mode": "safe"}\ndef unlock(d):\n    d["mode"] = "open"\n${decide('unlock(CONFIG)\nreturn CONFIG["mode"]')}`,
    kinds: ['runtime_error'],
    value: false,
    calls: 3,
  },
  {
    name: 'frozen-default-argument',
    title: 'a mutable default argument is frozen: it cannot carry state between calls',
    code: 'def decide(input, acc = []):\n    acc.append(1)\n    return len(acc)\n',
    kinds: ['runtime_error'],
    value: equals(1),
    calls: 3,
  },
  {
    name: 'string-repeat-bomb',
    title: '"x" * 2^40 fails before it is built',
    code: decide('return len("x" * (1 << 40))'),
    kinds: ['memory_limit'],
    value: false,
    boundMs: 1000,
  },
  {
    name: 'list-repeat-bomb',
    title: '[0] * 2^40 and a list of a million shared lists fail or stay small',
    code: decide('big = [[0] * 1000] * 1000000\nreturn len([0] * (1 << 40)) + len(big)'),
    kinds: ['memory_limit'],
    value: false,
    boundMs: 1000,
  },
  {
    name: 'format-bomb',
    title: 'str.format and % with huge expansions fail with a typed failure',
    code: decide(
      'return len(("{0}" * 100000).format("x" * 100000)) + len(("%s" * 1000) % tuple(["y" * 1000000] * 1000))',
    ),
    kinds: ['memory_limit'],
    value: false,
    boundMs: 2000,
  },
  {
    name: 'join-replace-bomb',
    title: 'join and replace with huge expansions fail with memory_limit',
    code: decide(
      'return len(("a" * 100000).replace("a", "b" * 100000)) + len(("x" * 100000).join(["a"] * 100000))',
    ),
    kinds: ['memory_limit'],
    value: false,
    boundMs: 1000,
  },
  {
    name: 'shared-structure-output',
    title:
      'returning 10^10 elements built by sharing one list is output_limit, not a host expansion',
    code: decide(`${SHARED}\nreturn e`),
    kinds: ['output_limit'],
    value: false,
    boundMs: 1000,
  },
  {
    name: 'shared-structure-encode',
    title: 'json.encode and str of a shared structure are charged per element: memory_limit',
    code: `${decide(`${SHARED}\nreturn len(json.encode(e))`)}def as_str(input):\n    ${SHARED.split('\n').join('\n    ')}\n    return len(str(e))\n`,
    kinds: ['memory_limit'],
    value: false,
    boundMs: 2000,
  },
  {
    name: 'shared-structure-compare',
    title: 'comparing two shared structures of 10^10 elements is stopped by the deadline',
    code: decide(`${SHARED}\n${SHARED.replace(/\b([a-e])\b/g, '$1$1')}\nreturn e == ee`),
    limits: { timeout_ms: 50 },
    kinds: ['timeout'],
    value: false,
    boundMs: 1000,
  },
  {
    name: 'deep-nested-output',
    title: 'a 20 000-deep nested result is invalid_output, and does not crash the host',
    code: decide('v = []\nfor i in range(20000):\n    v = [v]\nreturn v'),
    kinds: ['invalid_output'],
    value: false,
  },
  {
    name: 'deep-nested-encode',
    title: 'json.encode, str and == of 20 000-deep values end in a typed failure',
    code: decide(
      'v = []\nw = []\nfor i in range(20000):\n    v = [v]\n    w = [w]\nreturn [len(json.encode(v)), len(str(v)), v == w]',
    ),
  },
  {
    name: 'cyclic-output',
    title: 'a list containing itself is invalid_output; str() prints it as [...]',
    code: decide('a = []\na.append(a)\nif input:\n    return str(a)\nreturn a'),
    kinds: ['invalid_output'],
    value: false,
  },
  {
    name: 'recursion-via-list',
    title: 'a function reaching itself through a list is refused as recursion',
    code: 'def f(n):\n    return HOLDER[0](n + 1)\nHOLDER = [f]\ndef decide(input):\n    return f(0)\n',
    kinds: ['runtime_error', 'stack_overflow'],
    value: false,
  },
  {
    name: 'recursion-via-lambdas',
    title: 'a Y combinator of lambdas is refused as recursion',
    code: decide(
      'Y = lambda f: (lambda x: f(lambda v: x(x)(v)))(lambda x: f(lambda v: x(x)(v)))\nfact = Y(lambda g: lambda n: 1 if n == 0 else n * g(n - 1))\nreturn fact(100) > 0',
    ),
    kinds: ['runtime_error', 'stack_overflow'],
    // With the recursion dialect option the call may finish; otherwise it is refused.
    value: equals(true),
  },
  {
    name: 'json-decode-proto',
    title: 'json.decode of __proto__ and constructor keys gives plain data',
    code: decide(
      'return json.decode(\'{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"polluted": 1}}}\')',
    ),
    value: (value) =>
      JSON.stringify(value) ===
      '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}'
        ? undefined
        : 'expected the keys as own data',
  },
  {
    name: 'json-decode-hostile',
    title: 'json.decode of deep, unterminated, huge-number and invalid text ends typed',
    code: decide(`k = input["k"]
if k == "deep":
    return len(str(json.decode("[" * 100000 + "]" * 100000)))
if k == "open":
    return json.decode("[" * 100000)
if k == "huge":
    return json.decode("1e999")
return json.decode("{'single': 1}")`),
    input: { k: 'deep' },
    kinds: ['runtime_error', 'stack_overflow', 'memory_limit', 'invalid_output'],
  },
  {
    name: 'unicode-crossing',
    title:
      'NUL, line separators, lone surrogates (half of an emoji) and escapes cross to JSON intact',
    code: decide(
      'return ["\\x00", "\\u2028", "😀"[0], "😀"[1], "\\U0001F600", "é", "\\x7f", "\\"\\\\"]',
    ),
    value: equals(['\u0000', '\u2028', '\ud83d', '\ude00', '😀', 'é', '\u007f', '"\\']),
  },
  {
    name: 'shared-result-unshared',
    title: 'a value used twice in the result arrives as two plain copies',
    code: `SHARED = {"k": [1]}\n${decide('return {"a": SHARED, "b": SHARED, "c": [SHARED["k"], SHARED["k"]]}')}`,
    value: equals({ a: { k: [1] }, b: { k: [1] }, c: [[1], [1]] }),
    calls: 2,
  },
  {
    name: 'long-error-message',
    title:
      'a 1 MB, multi-line fail() message reaches the host as one line of at most 500 characters',
    code: decide('fail("a" * 1000000 + "\\nsecond line\\x1b[31m")'),
    kinds: ['runtime_error'],
    value: false,
  },
  {
    name: 'print-flood',
    title: 'print() output is discarded by the backend, never written to the host',
    code: decide('for i in range(1000):\n    print("x" * 10000)\nreturn "done"'),
    value: equals('done'),
  },
];

export const starlarkEscapeCases: ConformanceCase[] = ATTEMPTS.map((attempt) =>
  attemptCase({ ...attempt, language: 'starlark', kinds: attempt.kinds ?? TYPED }),
);
