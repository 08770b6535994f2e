import type {
  InvokeResult,
  JsonValue,
  LoadedPolicy,
  SandboxBackend,
  SandboxFailureKind,
  SandboxLimits,
} from '../sandbox/contract.ts';
import { SandboxLoadError } from '../sandbox/contract.ts';
import {
  type ConformanceCase,
  defineCase,
  expectFailure,
  expectSafeMessage,
  fail,
  GENEROUS_LIMITS,
  type PerLanguage,
  REQUIRES,
  settleHost,
  show,
  showResult,
  starlarkDecide,
} from './kit.ts';

/**
 * The escape battery: guest code that tries to reach the host, in each language it can be
 * written in (JavaScript's host globals and prototypes; Starlark's host modules, attributes,
 * frozen state and values that expand in the host). Every attempt must end in a typed
 * failure or a harmless value. Host code execution is detected with a canary: the host sets
 * `globalThis.__wardwrightCanary = 0` and stubs `process.exit`/`abort`/`kill`; attempts try to
 * increment the canary through whatever global they reach, call `process.exit`, or pollute
 * prototypes. After each attempt the host checks the canary, the stubs, its built-in prototypes,
 * a few built-ins by identity and that no unhandled rejection or exception reached it.
 */

const CANARY = '__wardwrightCanary';

/** Names a guest must not see: host objects, or our own host canary. */
export const HOST_ONLY_GLOBALS: readonly string[] = Object.freeze([
  'process',
  'require',
  'module',
  'exports',
  'Buffer',
  '__dirname',
  '__filename',
  'global',
  'setImmediate',
  'fetch',
  'WebSocket',
  'ivm',
  '_ivm',
  'Deno',
  'Bun',
  CANARY,
]);

/** Kinds an attempt may end in unless it says otherwise. `backend_failure` is never harmless. */
const TYPED: SandboxFailureKind[] = [
  'runtime_error',
  'invalid_output',
  'timeout',
  'memory_limit',
  'stack_overflow',
  'output_limit',
  'step_limit',
];

/** How an attempt runs, and what it may end in. */
interface AttemptRun {
  input?: JsonValue;
  limits?: Partial<SandboxLimits>;
  /** Failure kinds this attempt may end in; a load error of one of these kinds counts too. */
  kinds?: SandboxFailureKind[];
  /** Whether a value is acceptable at all, and what it must look like. */
  value?: false | ((value: JsonValue) => string | undefined);
  /** Calls after the first, each checked the same way (for effects that show up later). */
  calls?: number;
  /** Upper bound on each call's wall time, for attempts that try to block the host. */
  boundMs?: number;
}

/** The policy in one language, with what that language expects differently from the attempt. */
interface LanguageAttempt extends AttemptRun {
  code: string;
}

interface Attempt extends AttemptRun {
  name: string;
  title: string;
  /** The whole policy in each language (`decide` is called), alone or with its differences. */
  policy: PerLanguage<string | LanguageAttempt>;
  needs?: 'hardKill' | 'memory';
}

/** One attempt in the language of the backend it runs against. */
interface ResolvedAttempt extends AttemptRun {
  name: string;
  code: string;
}

const decide = (body: string) => `function decide(input) {\n${body}\n}`;

const equals =
  (expected: JsonValue) =>
  (value: JsonValue): string | undefined =>
    show(value) === show(expected) ? undefined : `expected ${show(expected)}`;

/** Names of host objects a Starlark `dir()` must never list. */
const HOST_NAMES =
  /process|require|global|constructor|prototype|__proto__|module|Buffer|eval|Function|import/;

/** Starlark lists sharing one list: 10^10 elements when expanded, a few KiB as values. */
const SHARED = 'a = [0] * 100\nb = [a] * 100\nc = [b] * 100\nd = [c] * 100\ne = [d] * 100';

const WASM_SPIN = [
  0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 7, 8, 1, 4, 115, 112, 105, 110, 0, 0,
  10, 9, 1, 7, 0, 3, 64, 12, 0, 11, 11,
];

const ATTEMPTS: Attempt[] = [
  {
    name: 'host-process',
    title: 'the host process object is not reachable',
    policy: {
      javascript: decide(
        `if (typeof process !== 'undefined') { globalThis.${CANARY}++; process.exit(70); }\nreturn typeof process;`,
      ),
    },
    value: equals('undefined'),
  },
  {
    name: 'require',
    title: 'require does not exist',
    policy: {
      javascript: decide(
        `const fs = require('fs'); globalThis.${CANARY}++; return fs.readFileSync('/etc/hostname', 'utf8');`,
      ),
    },
    kinds: ['runtime_error'],
    value: false,
  },
  {
    name: 'module-object',
    title: 'module / module.require do not exist',
    policy: {
      javascript: decide(
        "return typeof module === 'undefined' ? 'absent' : module.require('child_process').execSync('true').length;",
      ),
    },
    value: equals('absent'),
  },
  {
    name: 'dynamic-import',
    title: 'dynamic import() cannot load host modules',
    policy: {
      javascript: decide(
        `import('node:process').then((m) => { globalThis.${CANARY}++; m.default.exit(71); }, () => {});\nimport('node:fs').then((fs) => fs.writeFileSync('/tmp/wardwright-escape', 'x'), () => {});\nreturn 'scheduled';`,
      ),
    },
    kinds: ['runtime_error', 'compile_error'],
    value: equals('scheduled'),
  },
  {
    name: 'function-this',
    title: "Function('return this')() is the guest's global (or undefined), never the host's",
    policy: {
      javascript: decide(
        `const g = Function('return this')();\nif (g && g.process) { g.${CANARY}++; g.process.exit(72); }\nreturn g === undefined ? 'undefined' : typeof g.process;`,
      ),
    },
    value: equals('undefined'),
  },
  {
    name: 'arrow-constructor-climb',
    title: '(() => {}).constructor builds guest functions only',
    policy: {
      javascript: decide(
        `return (() => {}).constructor('return typeof process === "undefined" ? "absent" : (process.exit(73), "present")')();`,
      ),
    },
    value: equals('absent'),
  },
  {
    name: 'array-constructor-climb',
    title: '[].constructor.constructor builds guest functions only',
    policy: {
      javascript: decide(
        "const g = [].constructor.constructor('return this')();\nif (g && g.process) g.process.exit(74);\nreturn g && typeof g.process;",
      ),
    },
    value: equals('undefined'),
  },
  {
    name: 'input-constructor-climb',
    title: 'input.constructor.constructor is a guest Function (the input is guest data)',
    policy: {
      javascript: decide(
        `const g = input.constructor.constructor('return this')();\nif (g.process) g.process.exit(75);\ng.${CANARY} = (g.${CANARY} || 0) + 1;\nreturn typeof g.process;`,
      ),
    },
    input: { a: 1 },
    value: equals('undefined'),
  },
  {
    name: 'input-array-climb',
    title: 'climbing from an input array or its prototype stays in the guest',
    policy: {
      javascript: decide(
        `const viaList = input.list.constructor.constructor('return this')();\nconst viaProto = Object.getPrototypeOf(input.list).constructor.constructor('return this')();\nfor (const g of [viaList, viaProto]) { if (g.process) g.process.exit(76); g.${CANARY} = 1; }\nreturn [typeof viaList.process, typeof viaProto.process];`,
      ),
    },
    input: { list: [1, 2] },
    value: equals(['undefined', 'undefined']),
  },
  {
    name: 'error-constructor-climb',
    title: 'errors raised by the engine belong to the guest realm',
    policy: {
      javascript: decide(
        "try { null.x; } catch (e) { return e.constructor.constructor('return typeof process')(); }\nreturn 'no error';",
      ),
    },
    value: equals('undefined'),
  },
  {
    name: 'top-level-this',
    title: '`this` at the top level is the guest global or undefined',
    policy: {
      javascript: `const top = this;\n${decide(`if (top && top.process) { top.${CANARY}++; top.process.exit(77); }\nreturn top === undefined ? 'undefined' : typeof top.process;`)}`,
    },
    kinds: ['runtime_error'],
    value: equals('undefined'),
  },
  {
    name: 'global-keys',
    title: 'globalThis lists no host-only names (process, require, Buffer, the host canary, ...)',
    policy: {
      javascript: decide('return Object.getOwnPropertyNames(globalThis);'),
    },
    value: (value) => {
      if (!Array.isArray(value)) return 'expected a list of names';
      const leaked = HOST_ONLY_GLOBALS.filter((name) => value.includes(name));
      return leaked.length === 0 ? undefined : `host-only globals visible: ${leaked.join(', ')}`;
    },
  },
  {
    name: 'proto-key-output',
    title: 'a returned own "__proto__" key does not pollute the host',
    policy: {
      javascript: decide(`return JSON.parse('{"__proto__": {"polluted": 1}, "a": 1}');`),
    },
    // JSON.parse makes "__proto__" an own key; a backend may keep it as data or drop it.
    value: (value) =>
      show(value) === '{"__proto__":{"polluted":1},"a":1}' || show(value) === '{"a":1}'
        ? undefined
        : 'expected {"__proto__": {"polluted": 1}, "a": 1} as data, or {"a": 1}',
  },
  {
    name: 'constructor-prototype-output',
    title: 'a returned {constructor: {prototype: ...}} is plain data',
    policy: {
      javascript: decide('return { constructor: { prototype: { polluted: 1 } }, a: 1 };'),
    },
    value: equals({ constructor: { prototype: { polluted: 1 } }, a: 1 }),
  },
  {
    name: 'guest-prototype-pollution',
    title: 'polluting built-in prototypes in the guest leaves the host prototypes clean',
    policy: {
      javascript: decide(
        "Object.prototype.polluted = 1;\nArray.prototype.polluted = 1;\nFunction.prototype.polluted = 1;\nString.prototype.trim = () => 'hijacked';\nreturn { a: 1 };",
      ),
    },
    value: equals({ a: 1 }),
  },
  {
    name: 'custom-prototype-output',
    title: 'inherited properties of a returned object do not cross',
    policy: {
      javascript: decide(
        'const o = { a: 1 };\nObject.setPrototypeOf(o, { polluted: 1 });\nreturn o;',
      ),
    },
    value: equals({ a: 1 }),
  },
  {
    name: 'getter-output',
    title: 'a getter on a returned object does not run in the host: data or invalid_output',
    policy: {
      javascript: decide(
        `return { get x() { globalThis.${CANARY} = (globalThis.${CANARY} || 0) + 1; return 'got'; } };`,
      ),
    },
    kinds: ['invalid_output'],
    value: equals({ x: 'got' }),
  },
  {
    name: 'proxy-output',
    title: 'a returned Proxy does not run traps in the host: data or invalid_output',
    policy: {
      javascript: decide(
        `return new Proxy({ a: 1 }, { get(t, k) { globalThis.${CANARY} = 1; return Reflect.get(t, k); } });`,
      ),
    },
    kinds: ['invalid_output'],
    value: equals({ a: 1 }),
  },
  {
    name: 'proxy-throwing-traps',
    title: 'a returned Proxy whose traps throw is a typed failure',
    policy: {
      javascript: decide("return new Proxy({}, { ownKeys() { throw new Error('trap'); } });"),
    },
    kinds: ['invalid_output', 'runtime_error'],
    value: false,
  },
  {
    name: 'tojson-output',
    title: 'toJSON on a returned object runs in the guest: data or invalid_output',
    policy: {
      javascript: decide(
        `return { toJSON() { globalThis.${CANARY} = 1; return { via: 'toJSON' }; } };`,
      ),
    },
    kinds: ['invalid_output'],
    value: equals({ via: 'toJSON' }),
  },
  {
    name: 'tojson-spin',
    title: 'a toJSON that never returns is stopped by the timeout',
    policy: {
      javascript: decide('return { toJSON() { while (true) {} } };'),
    },
    limits: { timeout_ms: 50 },
    kinds: ['timeout'],
    value: false,
    boundMs: 1000,
    needs: 'hardKill',
  },
  {
    name: 'atomics-wait',
    title: 'SharedArrayBuffer/Atomics.wait are absent or cannot block the host past the timeout',
    policy: {
      javascript: decide(
        "if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') return 'absent';\nAtomics.wait(new Int32Array(new SharedArrayBuffer(16)), 0, 0, 3000);\nreturn 'waited';",
      ),
    },
    limits: { timeout_ms: 50 },
    kinds: ['timeout', 'runtime_error'],
    value: equals('absent'),
    boundMs: 1500,
    needs: 'hardKill',
  },
  {
    name: 'wasm-spin',
    title: 'WebAssembly is absent or a spinning module is stopped by the timeout',
    policy: {
      javascript: decide(
        `if (typeof WebAssembly === 'undefined') return 'absent';\nconst m = new WebAssembly.Module(new Uint8Array(${JSON.stringify(WASM_SPIN)}));\nnew WebAssembly.Instance(m).exports.spin();\nreturn 'returned';`,
      ),
    },
    limits: { timeout_ms: 50 },
    kinds: ['timeout', 'runtime_error'],
    value: equals('absent'),
    boundMs: 1000,
    needs: 'hardKill',
  },
  {
    name: 'wasm-compile-async',
    title: 'WebAssembly.compile (async) is absent or inert after return',
    policy: {
      javascript: decide(
        `if (typeof WebAssembly === 'undefined') return 'absent';\nWebAssembly.compile(new Uint8Array(${JSON.stringify(WASM_SPIN)})).then((m) => new WebAssembly.Instance(m).exports.spin(), () => {});\nreturn 'scheduled';`,
      ),
    },
    limits: { timeout_ms: 50 },
    calls: 2,
    boundMs: 1000,
    value: (value) =>
      value === 'absent' || value === 'scheduled' ? undefined : 'unexpected value',
    needs: 'hardKill',
  },
  {
    name: 'wasm-memory',
    title: 'WebAssembly memory counts against the memory limit (256 MiB under 32 MiB fails)',
    policy: {
      javascript: decide(
        "if (typeof WebAssembly === 'undefined') return 'absent';\nconst mem = new WebAssembly.Memory({ initial: 4096 });\nnew Uint8Array(mem.buffer).fill(7);\nreturn 'allocated';",
      ),
    },
    limits: { memory_bytes: 32 * 1024 * 1024, timeout_ms: 5000 },
    kinds: ['memory_limit', 'runtime_error'],
    value: equals('absent'),
    needs: 'memory',
  },
  {
    name: 'pending-promise-after-return',
    title:
      "a .then that writes state or throws after return has no effect on the next call's result",
    policy: {
      javascript: `let seen = 'none';\n${decide(`const result = { seen };\nPromise.resolve().then(() => { seen = 'late'; globalThis.${CANARY} = 1; throw new Error('after return'); });\nreturn result;`)}`,
    },
    calls: 3,
    kinds: [],
    value: equals({ seen: 'none' }),
  },
  {
    name: 'unhandled-rejection',
    title: 'a rejected promise left behind does not reach the host as an unhandled rejection',
    policy: {
      javascript: decide("Promise.reject(new Error('late'));\nreturn 'ok';"),
    },
    calls: 2,
    kinds: [],
    value: equals('ok'),
  },
  {
    name: 'spin-after-return',
    title: 'a microtask that spins after return does not block the host past the timeout',
    policy: {
      javascript: decide("Promise.resolve().then(() => { while (true) {} });\nreturn 'returned';"),
    },
    limits: { timeout_ms: 50 },
    calls: 2,
    kinds: ['timeout'],
    value: equals('returned'),
    boundMs: 1000,
    needs: 'hardKill',
  },
  {
    name: 'throw-tostring',
    title: 'throwing an object with toString: runtime_error, a safe message, no host code',
    policy: {
      javascript: decide(
        `throw { toString() { globalThis.${CANARY} = 1; return 'custom\\nmultiline ' + 'x'.repeat(2000); } };`,
      ),
    },
    kinds: ['runtime_error'],
    value: false,
  },
  {
    name: 'throw-symbol',
    title: 'throwing a Symbol is runtime_error',
    policy: {
      javascript: decide("throw Symbol('thrown');"),
    },
    kinds: ['runtime_error'],
    value: false,
  },
  {
    name: 'throw-null',
    title: 'throwing null is runtime_error',
    policy: {
      javascript: decide('throw null;'),
    },
    kinds: ['runtime_error'],
    value: false,
  },
  {
    name: 'throw-proxy',
    title: 'throwing a Proxy whose traps spin is runtime_error or timeout, never a hang',
    policy: {
      javascript: decide('throw new Proxy({}, { get() { while (true) {} } });'),
    },
    limits: { timeout_ms: 50 },
    kinds: ['runtime_error', 'timeout'],
    value: false,
    boundMs: 1000,
    needs: 'hardKill',
  },
  {
    name: 'throw-message-getter',
    title: 'an Error whose message getter throws is runtime_error',
    policy: {
      javascript: decide(
        "const e = new Error('x');\nObject.defineProperty(e, 'message', { get() { throw new Error('getter'); } });\nObject.defineProperty(e, 'name', { get() { throw new Error('getter'); } });\nthrow e;",
      ),
    },
    kinds: ['runtime_error'],
    value: false,
  },
  {
    name: 'symbol-output',
    title: 'a symbol as the result is invalid_output',
    policy: {
      javascript: decide("return Symbol('out');"),
    },
    kinds: ['invalid_output'],
    value: false,
  },
  {
    name: 'cyclic-output',
    title: 'a cyclic result is invalid_output',
    policy: {
      javascript: decide('const a = []; const b = { a }; a.push(b); return b;'),
      starlark: starlarkDecide('a = []\na.append(a)\nif input:\n    return str(a)\nreturn a'),
    },
    kinds: ['invalid_output'],
    value: false,
  },
  {
    name: 'eval-inside',
    title: 'eval inside the guest stays inside',
    policy: {
      javascript: decide(
        `const r = eval('typeof process + "/" + typeof require');\neval('globalThis.${CANARY} = 1');\nreturn r;`,
      ),
    },
    value: equals('undefined/undefined'),
  },
  {
    name: 'new-function-inside',
    title: 'new Function inside the guest stays inside',
    policy: {
      javascript: decide(
        `return new Function('globalThis.${CANARY} = 1; return typeof process + "/" + typeof Buffer')();`,
      ),
    },
    value: equals('undefined/undefined'),
  },
  {
    name: 'async-function-constructor',
    title: 'the AsyncFunction constructor builds guest functions only',
    policy: {
      javascript: decide(
        `const AsyncFunction = (async () => {}).constructor;\nAsyncFunction('globalThis.${CANARY} = 1; process.exit(78);')().catch(() => {});\nreturn 'called';`,
      ),
    },
    value: equals('called'),
  },
  {
    name: 'generator-function-constructor',
    title: 'the GeneratorFunction constructor builds guest functions only',
    policy: {
      javascript: decide(
        "const GeneratorFunction = (function* () {}).constructor;\nconst g = GeneratorFunction('yield this')().next().value;\nreturn g === undefined ? 'undefined' : typeof g.process;",
      ),
    },
    value: equals('undefined'),
  },
  {
    name: 'caller-climb',
    title: "decide.caller does not expose the host's calling function",
    policy: {
      javascript: decide(
        "let c = null;\ntry { c = decide.caller; } catch (e) { return 'blocked'; }\nif (typeof c === 'function') { const g = c.constructor('return this')(); if (g && g.process) g.process.exit(79); return g && typeof g.process; }\nreturn 'none';",
      ),
    },
    value: (value) =>
      ['blocked', 'none', 'undefined'].includes(value as string) ? undefined : 'unexpected value',
  },
  {
    name: 'long-error-message',
    title:
      'a very long (1 MB), multi-line error message reaches the host as one line of at most 500 characters',
    policy: {
      javascript: decide("throw new Error('a'.repeat(1000000) + '\\n' + 'second line');"),
      starlark: starlarkDecide('fail("a" * 1000000 + "\\nsecond line\\x1b[31m")'),
    },
    kinds: ['runtime_error'],
    value: false,
  },
  {
    name: 'prepare-stack-trace',
    title: 'Error.prepareStackTrace set in the guest stays in the guest',
    policy: {
      javascript: decide(
        `Error.prepareStackTrace = () => { globalThis.${CANARY} = 1; return 'pwned'; };\nError.stackTraceLimit = Infinity;\nthrow new Error('with stack');`,
      ),
    },
    kinds: ['runtime_error'],
    value: false,
  },
  {
    name: 'stack-reveals-no-host',
    title: 'a guest stack trace shows no host frames (node internals, node_modules)',
    policy: {
      javascript: decide("return String(new Error('probe').stack);"),
    },
    value: (value) =>
      typeof value === 'string' && /node:internal|node_modules|\.ts:\d/.test(value)
        ? `host frames in the guest stack: ${value.slice(0, 200)}`
        : undefined,
  },
  {
    name: 'hijack-json-stringify',
    title: 'replacing JSON.stringify in the guest cannot forge the result',
    policy: {
      javascript: `JSON.stringify = () => '{"forged": ';\n${decide('return { a: 1 };')}`,
    },
    kinds: ['invalid_output'],
    value: equals({ a: 1 }),
  },
  {
    name: 'hijack-json-parse',
    title: 'replacing JSON.parse in the guest cannot forge the input',
    policy: {
      javascript: `JSON.parse = () => ({ forged: true });\n${decide('return input;')}`,
    },
    input: { real: true },
    kinds: ['runtime_error', 'invalid_output'],
    value: equals({ real: true }),
  },
  {
    name: 'deep-nested-output',
    title: 'a 20 000-deep nested result does not crash the host (Starlark: it is invalid_output)',
    policy: {
      // A JavaScript engine may serialise the nesting or fail typed; either is harmless.
      javascript: decide('let v = []; for (let i = 0; i < 20000; i++) v = [v]; return v;'),
      // The host converts a Starlark value, and refuses nesting this deep.
      starlark: {
        code: starlarkDecide('v = []\nfor i in range(20000):\n    v = [v]\nreturn v'),
        kinds: ['invalid_output'],
        value: false,
      },
    },
  },
  // Attempts only Starlark has: loading host modules, reaching host objects through
  // attributes, mutating frozen state, and making small values expand in the host (repetition,
  // sharing, nesting).
  {
    name: 'load-host-module',
    title: 'load() of a host module fails at load',
    policy: {
      starlark:
        'load("fs", "readFileSync")\ndef decide(input):\n    return readFileSync("/etc/hostname")\n',
    },
    kinds: ['runtime_error', 'compile_error'],
    value: false,
  },
  {
    name: 'load-relative-file',
    title: 'load() of another policy file fails at load',
    policy: {
      starlark: 'load("//policies/other.star", "SECRET")\ndef decide(input):\n    return SECRET\n',
    },
    kinds: ['runtime_error', 'compile_error'],
    value: false,
  },
  {
    name: 'host-globals',
    title: 'host names (process, require, globalThis) do not exist: compile_error',
    policy: {
      starlark: starlarkDecide('return [process, require, globalThis]'),
    },
    kinds: ['compile_error'],
    value: false,
  },
  {
    name: 'getattr-hidden',
    title: 'no value has host attributes (__class__, __proto__, constructor, prototype, call, ...)',
    policy: {
      starlark: starlarkDecide(`out = []
for x in [len, "", [], {}, (), input, json, struct(a = 1), 1, 1.5, None, True, b"x", range(2), decide, lambda: 1]:
    for n in ["__class__", "__proto__", "constructor", "prototype", "__dict__", "__globals__", "toString", "valueOf", "call", "apply", "bind", "caller", "arguments"]:
        if hasattr(x, n):
            out.append(n)
return out`),
    },
    input: { k: 1 },
    value: equals([]),
  },
  {
    name: 'getattr-constructor',
    title: 'getattr(len, "constructor") is a runtime_error, not the host Function',
    policy: {
      starlark: starlarkDecide('return getattr(len, "constructor")("return process")()'),
    },
    kinds: ['runtime_error'],
    value: false,
  },
  {
    name: 'dir-probing',
    title: 'dir() of every kind of value lists only Starlark methods, no host names',
    policy: {
      starlark: starlarkDecide(`out = []
for x in [len, "", [], {}, (), input, json, struct(a = 1), 1, None, b"x", range(2), decide]:
    out.extend(dir(x))
return sorted(out)`),
    },
    input: { k: 1 },
    value: (value) =>
      Array.isArray(value) && value.every((n) => typeof n === 'string' && !HOST_NAMES.test(n))
        ? undefined
        : 'expected method names without host names',
  },
  {
    name: 'mutate-frozen-list',
    title: 'appending to a frozen global list fails, every call',
    policy: {
      starlark: `SEEN = []\n${starlarkDecide('SEEN.append(input)\nreturn len(SEEN)')}`,
    },
    kinds: ['runtime_error'],
    value: false,
    calls: 3,
  },
  {
    name: 'mutate-frozen-dict',
    title: 'writing a frozen global dict through a helper fails, every call',
    policy: {
      starlark: `CONFIG = {"mode": "safe"}\ndef unlock(d):\n    d["mode"] = "open"\n${starlarkDecide('unlock(CONFIG)\nreturn CONFIG["mode"]')}`,
    },
    kinds: ['runtime_error'],
    value: false,
    calls: 3,
  },
  {
    name: 'frozen-default-argument',
    title: 'a mutable default argument is frozen: it cannot carry state between calls',
    policy: {
      starlark: 'def decide(input, acc = []):\n    acc.append(1)\n    return len(acc)\n',
    },
    kinds: ['runtime_error'],
    value: equals(1),
    calls: 3,
  },
  {
    name: 'string-repeat-bomb',
    title: '"x" * 2^40 fails before it is built',
    policy: {
      starlark: starlarkDecide('return len("x" * (1 << 40))'),
    },
    kinds: ['memory_limit'],
    value: false,
    boundMs: 1000,
  },
  {
    name: 'list-repeat-bomb',
    title: '[0] * 2^40 and a list of a million shared lists fail or stay small',
    policy: {
      starlark: starlarkDecide(
        'big = [[0] * 1000] * 1000000\nreturn len([0] * (1 << 40)) + len(big)',
      ),
    },
    kinds: ['memory_limit'],
    value: false,
    boundMs: 1000,
  },
  {
    name: 'format-bomb',
    title: 'str.format and % with huge expansions fail with a typed failure',
    policy: {
      starlark: starlarkDecide(
        'return len(("{0}" * 100000).format("x" * 100000)) + len(("%s" * 1000) % tuple(["y" * 1000000] * 1000))',
      ),
    },
    kinds: ['memory_limit'],
    value: false,
    boundMs: 2000,
  },
  {
    name: 'join-replace-bomb',
    title: 'join and replace with huge expansions fail with memory_limit',
    policy: {
      starlark: starlarkDecide(
        'return len(("a" * 100000).replace("a", "b" * 100000)) + len(("x" * 100000).join(["a"] * 100000))',
      ),
    },
    kinds: ['memory_limit'],
    value: false,
    boundMs: 1000,
  },
  {
    name: 'shared-structure-output',
    title:
      'returning 10^10 elements built by sharing one list is output_limit, not a host expansion',
    policy: {
      starlark: starlarkDecide(`${SHARED}\nreturn e`),
    },
    kinds: ['output_limit'],
    value: false,
    boundMs: 1000,
  },
  {
    name: 'shared-structure-encode',
    title: 'json.encode and str of a shared structure are charged per element: memory_limit',
    policy: {
      starlark: `${starlarkDecide(`${SHARED}\nreturn len(json.encode(e))`)}def as_str(input):\n    ${SHARED.split('\n').join('\n    ')}\n    return len(str(e))\n`,
    },
    kinds: ['memory_limit'],
    value: false,
    boundMs: 2000,
  },
  {
    name: 'shared-structure-compare',
    title: 'comparing two shared structures of 10^10 elements is stopped by the deadline',
    policy: {
      starlark: starlarkDecide(
        `${SHARED}\n${SHARED.replace(/\b([a-e])\b/g, '$1$1')}\nreturn e == ee`,
      ),
    },
    limits: { timeout_ms: 50 },
    kinds: ['timeout'],
    value: false,
    boundMs: 1000,
  },
  {
    name: 'deep-nested-encode',
    title: 'json.encode, str and == of 20 000-deep values end in a typed failure',
    policy: {
      starlark: starlarkDecide(
        'v = []\nw = []\nfor i in range(20000):\n    v = [v]\n    w = [w]\nreturn [len(json.encode(v)), len(str(v)), v == w]',
      ),
    },
  },
  {
    name: 'recursion-via-list',
    title: 'a function reaching itself through a list is refused as recursion',
    policy: {
      starlark:
        'def f(n):\n    return HOLDER[0](n + 1)\nHOLDER = [f]\ndef decide(input):\n    return f(0)\n',
    },
    kinds: ['runtime_error', 'stack_overflow'],
    value: false,
  },
  {
    name: 'recursion-via-lambdas',
    title: 'a Y combinator of lambdas is refused as recursion',
    policy: {
      starlark: starlarkDecide(
        'Y = lambda f: (lambda x: f(lambda v: x(x)(v)))(lambda x: f(lambda v: x(x)(v)))\nfact = Y(lambda g: lambda n: 1 if n == 0 else n * g(n - 1))\nreturn fact(100) > 0',
      ),
    },
    kinds: ['runtime_error', 'stack_overflow'],
    // With the recursion dialect option the call may finish; otherwise it is refused.
    value: equals(true),
  },
  {
    name: 'json-decode-proto',
    title: 'json.decode of __proto__ and constructor keys gives plain data',
    policy: {
      starlark: starlarkDecide(
        'return json.decode(\'{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"polluted": 1}}}\')',
      ),
    },
    value: (value) =>
      JSON.stringify(value) ===
      '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}'
        ? undefined
        : 'expected the keys as own data',
  },
  {
    name: 'json-decode-hostile',
    title: 'json.decode of deep, unterminated, huge-number and invalid text ends typed',
    policy: {
      starlark: starlarkDecide(`k = input["k"]
if k == "deep":
    return len(str(json.decode("[" * 100000 + "]" * 100000)))
if k == "open":
    return json.decode("[" * 100000)
if k == "huge":
    return json.decode("1e999")
return json.decode("{'single': 1}")`),
    },
    input: { k: 'deep' },
    kinds: ['runtime_error', 'stack_overflow', 'memory_limit', 'invalid_output'],
  },
  {
    name: 'unicode-crossing',
    title:
      'NUL, line separators, lone surrogates (half of an emoji) and escapes cross to JSON intact',
    policy: {
      starlark: starlarkDecide(
        'return ["\\x00", "\\u2028", "😀"[0], "😀"[1], "\\U0001F600", "é", "\\x7f", "\\"\\\\"]',
      ),
    },
    value: equals(['\u0000', '\u2028', '\ud83d', '\ude00', '😀', 'é', '\u007f', '"\\']),
  },
  {
    name: 'shared-result-unshared',
    title: 'a value used twice in the result arrives as two plain copies',
    policy: {
      starlark: `SHARED = {"k": [1]}\n${starlarkDecide('return {"a": SHARED, "b": SHARED, "c": [SHARED["k"], SHARED["k"]]}')}`,
    },
    value: equals({ a: { k: [1] }, b: { k: [1] }, c: [[1], [1]] }),
    calls: 2,
  },
  {
    name: 'print-flood',
    title: 'print() output is discarded by the backend, never written to the host',
    policy: {
      starlark: starlarkDecide('for i in range(1000):\n    print("x" * 10000)\nreturn "done"'),
    },
    value: equals('done'),
  },
];

/** Host-side state an attempt must not change. */
function snapshotHost(): () => string[] {
  const prototypes: [string, object][] = [
    ['Object.prototype', Object.prototype],
    ['Array.prototype', Array.prototype],
    ['Function.prototype', Function.prototype],
    ['String.prototype', String.prototype],
  ];
  const keys = prototypes.map(([, proto]) => Reflect.ownKeys(proto).map(String).join(','));
  const identities: [string, unknown, () => unknown][] = [
    ['JSON.stringify', JSON.stringify, () => JSON.stringify],
    ['JSON.parse', JSON.parse, () => JSON.parse],
    ['String.prototype.trim', String.prototype.trim, () => String.prototype.trim],
    ['Error.prepareStackTrace', Error.prepareStackTrace, () => Error.prepareStackTrace],
  ];
  return () => {
    const problems: string[] = [];
    prototypes.forEach(([name, proto], i) => {
      const now = Reflect.ownKeys(proto).map(String).join(',');
      if (now !== keys[i]) problems.push(`${name} keys changed`);
    });
    for (const [name, before, now] of identities) {
      if (now() !== before) problems.push(`${name} was replaced in the host`);
    }
    if (({} as { polluted?: unknown }).polluted !== undefined)
      problems.push('({}).polluted is set');
    return problems;
  };
}

type HostProcess = {
  exit: unknown;
  abort: unknown;
  kill: unknown;
  on(event: string, fn: (...args: unknown[]) => void): void;
  off(event: string, fn: (...args: unknown[]) => void): void;
};

/** Arm the canary and the stubs; the returned function disarms them and lists what fired. */
function armHost(): () => string[] {
  const host = globalThis as Record<string, unknown>;
  const hadCanary = Object.hasOwn(host, CANARY);
  const previousCanary = host[CANARY];
  host[CANARY] = 0;
  const fired: string[] = [];
  const proc = host.process as HostProcess | undefined;
  /* v8 ignore next 2 -- hosts without a process object (not Node) */
  const saved =
    proc === undefined ? undefined : { exit: proc.exit, abort: proc.abort, kill: proc.kill };
  const record = (what: string) => (reason: unknown) =>
    fired.push(`${what} in the host: ${show(String(reason))}`);
  const onRejection = record('unhandled rejection');
  const onException = record('uncaught exception');
  if (proc !== undefined) {
    for (const name of ['exit', 'abort', 'kill'] as const) {
      proc[name] = (...args: unknown[]) =>
        fired.push(`host process.${name}(${show(args)}) was called`);
    }
    proc.on('unhandledRejection', onRejection);
    proc.on('uncaughtException', onException);
  }
  const check = snapshotHost();
  return () => {
    const problems = [...check(), ...fired];
    if (host[CANARY] !== 0) problems.push(`the host canary is ${show(host[CANARY])}, not 0`);
    if (hadCanary) host[CANARY] = previousCanary;
    else delete host[CANARY];
    /* v8 ignore else -- hosts without a process object (not Node) */
    if (proc !== undefined && saved !== undefined) {
      Object.assign(proc, saved);
      proc.off('unhandledRejection', onRejection);
      proc.off('uncaughtException', onException);
    }
    return problems;
  };
}

/** What the host received is plain JSON data: no accessors, prototypes, symbols or sharing. */
export function plainDataProblem(value: unknown): string | undefined {
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (item === null || typeof item === 'string' || typeof item === 'boolean') continue;
    if (typeof item === 'number') {
      if (!Number.isFinite(item)) return `a non-finite number ${item}`;
      continue;
    }
    if (typeof item !== 'object') return `a ${typeof item} in the result`;
    if (seen.has(item)) return 'a shared or cyclic reference in the result';
    seen.add(item);
    const proto = Object.getPrototypeOf(item);
    const isArray = Array.isArray(item);
    if (isArray ? proto !== Array.prototype : proto !== Object.prototype && proto !== null) {
      return 'an object with a foreign prototype in the result';
    }
    for (const key of Reflect.ownKeys(item)) {
      if (typeof key === 'symbol') return 'a symbol key in the result';
      const descriptor = Object.getOwnPropertyDescriptor(item, key)!;
      if (!('value' in descriptor)) return `an accessor property ${show(key)} in the result`;
      if (!(isArray && key === 'length')) stack.push(descriptor.value);
    }
  }
  return undefined;
}

function checkResult(attempt: ResolvedAttempt, result: InvokeResult, call: number): void {
  const what = `${attempt.name} (call ${call})`;
  if (result.ok) {
    const problem = plainDataProblem(result.value);
    if (problem !== undefined) fail(`${what}: ${problem}`);
    if (attempt.value === false)
      fail(`${what}: expected a typed failure, got ok ${show(result.value)}`);
    const wrong = attempt.value?.(result.value);
    if (wrong !== undefined) fail(`${what}: ${wrong}, got ${show(result.value)}`);
    return;
  }
  const kinds = attempt.kinds ?? TYPED;
  if (kinds.length === 0) fail(`${what}: expected a value, got ${showResult(result)}`);
  expectFailure(what, result, ...kinds);
}

async function runAttempt(backend: SandboxBackend, attempt: ResolvedAttempt): Promise<void> {
  const disarm = armHost();
  let outcome: unknown;
  try {
    await attemptCalls(backend, attempt);
  } catch (error) {
    outcome = error;
  }
  await settleHost();
  // Host code running is the worse finding: it wins over a wrong result from the same attempt.
  const problems = disarm();
  if (problems.length > 0) fail(`${attempt.name}: host code ran: ${problems.join('; ')}`);
  if (outcome !== undefined) throw outcome;
}

async function attemptCalls(backend: SandboxBackend, attempt: ResolvedAttempt): Promise<void> {
  let policy: LoadedPolicy;
  try {
    policy = await backend.load(
      { name: `escape-${attempt.name}`, language: backend.language, code: attempt.code },
      { ...GENEROUS_LIMITS, ...attempt.limits },
    );
  } catch (error) {
    if (!SandboxLoadError.isInstance(error)) throw error;
    const kinds = attempt.kinds ?? TYPED;
    if (!kinds.includes(error.failure.kind) && error.failure.kind !== 'compile_error') {
      fail(`${attempt.name}: load failed with ${error.failure.kind}: ${error.failure.message}`);
    }
    expectSafeMessage(attempt.name, error.failure.message);
    return;
  }
  try {
    for (let call = 1; call <= (attempt.calls ?? 1); call++) {
      const start = performance.now();
      const result = await policy.invoke('decide', attempt.input ?? null, attempt.limits);
      const elapsed = performance.now() - start;
      if (attempt.boundMs !== undefined && elapsed > attempt.boundMs) {
        fail(
          `${attempt.name} (call ${call}): took ${Math.round(elapsed)} ms, bound ${attempt.boundMs} ms`,
        );
      }
      await settleHost();
      checkResult(attempt, result, call);
    }
  } finally {
    await policy.dispose();
  }
}

// Attempts arm host-wide stubs (the canary, process.exit): never two at once, whatever the runner.
let queue: Promise<unknown> = Promise.resolve();

const NEEDS = {
  none: REQUIRES.isolated,
  hardKill: REQUIRES.isolatedAndHardKill,
  memory: REQUIRES.isolatedAndHardMemory,
} as const;

/** The conformance case of one attempt, in every language it is written in. */
function attemptCase(attempt: Attempt): ConformanceCase {
  return defineCase({
    id: `escape/${attempt.name}`,
    category: 'escape',
    title: attempt.title,
    requirement: NEEDS[attempt.needs ?? 'none'],
    policy: attempt.policy,
    check: (backend, policy) => {
      // A language's own fields replace the attempt's (deep-nested-output expects more of Starlark).
      const resolved: ResolvedAttempt = {
        ...attempt,
        ...(typeof policy === 'string' ? { code: policy } : policy),
      };
      const run = queue.then(() => runAttempt(backend, resolved));
      queue = run.catch(() => undefined);
      return run;
    },
  });
}

export const escapeCases: ConformanceCase[] = ATTEMPTS.map(attemptCase);
