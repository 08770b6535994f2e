import type { PolicyLanguage } from '../sandbox/contract.ts';

/**
 * Policies written to take the host down rather than to escape it: each class an outside
 * red-team battery found against one backend or another (issue "Sandboxes that cannot take the
 * host down"). A guest may not read the host; these show it must not stall, hang or crash it
 * either. One catalogue serves the conformance kit's availability cases, the end-to-end test
 * through `wardwright serve`, and the benchmark that measures a victim's latency next to them.
 *
 * Each case is the body of an entry, per language. `hostilePolicy(language)` puts them all in
 * one policy whose `decide(input)` runs the case named by `input.case`, or by a `case:NAME` word
 * in `input.last_user_message` (a governed chat request), and otherwise returns `{ actions: [] }`;
 * `ok(input)` always answers `{ ok: input }`, for the call after a hostile one.
 */
export interface HostileCase {
  name: string;
  title: string;
  javascript?: string;
  starlark?: string;
  /** A deadline long enough for the case to do its damage; the kit's default is 500 ms. */
  timeout_ms?: number;
}

export const HOSTILE_CASES: readonly HostileCase[] = Object.freeze([
  {
    name: 'spin',
    title: 'a loop that never ends',
    javascript: 'for (;;) {}',
    starlark: 'for i in range(2147483647):\n    pass\nreturn 0',
  },
  {
    name: 'heap-abort',
    title: 'an object grown to four million keys (its table outgrows the heap at once: V8 aborts)',
    javascript:
      'const o = {};\nfor (let i = 0; i < 4e6; i++) o["k" + i] = i;\nreturn Object.keys(o).length;',
    // It takes V8 most of a second to get there under a 32 MiB limit: a shorter deadline would
    // stop it first.
    timeout_ms: 3000,
  },
  {
    name: 'array-like-lastIndexOf',
    title:
      'an array method over an array-like of length 2^53 - 1 (a native loop that polls nothing)',
    javascript: 'return Array.prototype.lastIndexOf.call({ length: 2 ** 53 - 1 }, 1);',
  },
  {
    name: 'sparse-indexOf',
    title: 'indexOf over a sparse array of length 2^32 - 1',
    javascript: 'const a = [];\na.length = 2 ** 32 - 1;\nreturn a.indexOf(1);',
  },
  {
    name: 'array-from-huge',
    title: 'Array.from of an array-like of length 2^32 - 1',
    javascript: 'return Array.from({ length: 2 ** 32 - 1 }).length;',
  },
  {
    name: 'prepare-stack-trace-loop',
    title: 'an Error.prepareStackTrace that never returns, then an error whose stack is read',
    javascript: 'Error.prepareStackTrace = () => { for (;;) {} };\nthrow new Error("format me");',
  },
  {
    name: 'thrown-getter',
    title: 'a thrown object whose message getter never returns',
    javascript: 'throw { name: "Error", get message() { for (;;) {} } };',
  },
  {
    name: 'rejection-getter',
    title: 'a rejected promise left behind whose reason has getters that never return',
    javascript:
      'Promise.reject({ get message() { for (;;) {} }, get stack() { for (;;) {} } });\nreturn 1;',
  },
  {
    name: 'stack-string',
    title: 'a thrown object with a 100 000-character stack (food for a backtracking regex)',
    javascript: 'throw { name: "Error", message: "m", stack: "a".repeat(1e5) };',
  },
  {
    name: 'late-bigint',
    title: 'one BigInt power that takes far longer than the deadline',
    javascript: 'return String(3n ** 2000000n).length;',
  },
  {
    name: 'late-sort',
    title: 'a native sort of two million numbers',
    javascript:
      'const a = [];\nfor (let i = 0; i < 2e6; i++) a.push((i * 7919) % 1e6);\na.sort();\nreturn a[0];',
  },
  {
    name: 'promise-pileup',
    title: 'a hundred thousand promise jobs left behind on every call',
    javascript: 'for (let i = 0; i < 1e5; i++) Promise.resolve(i).then((x) => x);\nreturn 1;',
  },
  {
    name: 'deep-json-parse',
    title: 'JSON.parse of a text nested 100 000 deep (recursion in the engine, not the guest)',
    javascript: 'return JSON.parse("[".repeat(1e5) + "]".repeat(1e5)).length;',
    starlark: 'return len(json.decode("[" * 100000 + "]" * 100000))',
  },
  {
    name: 'deep-eval',
    title: 'eval of an expression nested 100 000 deep',
    javascript: 'return eval("[".repeat(1e5) + "]".repeat(1e5)).length;',
  },
  {
    name: 'non-json-output',
    title: 'a result JSON cannot carry (NaN, a Map)',
    javascript: 'return { score: NaN, seen: new Map([[1, 2]]) };',
    starlark: 'return {"score": float("nan")}',
  },
  {
    name: 'string-bomb',
    title: 'a string doubled until memory runs out',
    javascript: 'let s = "x";\nconst keep = [];\nfor (;;) { s = s + s; keep.push(s.slice(1)); }',
    starlark: 's = "x"\nfor i in range(64):\n    s = s + s\nreturn len(s)',
  },
  {
    name: 'int-parse',
    title: 'int() of a 300 000-digit string (host-side work in one step)',
    starlark: 'x = int("9" * 300000)\nreturn 1',
  },
  {
    name: 'bigint-square',
    title: 'an integer squared until it has millions of digits',
    starlark: 'x = 3\nfor i in range(40):\n    x = x * x\nreturn 1',
  },
]);

/** The hostile cases that have a source in `language`. */
export function hostileCases(language: PolicyLanguage): HostileCase[] {
  return HOSTILE_CASES.filter((c) => c[language] !== undefined);
}

/** One policy holding every case of `language` (see HOSTILE_CASES). */
export function hostilePolicy(language: PolicyLanguage): string {
  const cases = hostileCases(language);
  if (language === 'javascript') {
    const table = cases
      .map((c) => `  ${JSON.stringify(c.name)}() {\n${indent(c.javascript!, 4)}\n  },`)
      .join('\n');
    return `const CASES = {\n${table}\n};
function pick(input) {
  if (input !== null && typeof input === 'object') {
    if (typeof input.case === 'string') return input.case;
    const match = /\\bcase:([a-zA-Z-]+)/.exec(String(input.last_user_message ?? ''));
    if (match !== null) return match[1];
  }
  return '';
}
function decide(input) {
  const name = pick(input);
  return Object.hasOwn(CASES, name) ? CASES[name]() : { actions: [] };
}
function ok(input) { return { ok: input }; }
`;
  }
  const defs = cases
    .map((c) => `def case_${snake(c.name)}():\n${indent(c.starlark!, 4)}\n`)
    .join('\n');
  const table = cases
    .map((c) => `    ${JSON.stringify(c.name)}: case_${snake(c.name)},`)
    .join('\n');
  return `${defs}
CASES = {
${table}
}

def pick(input):
    if type(input) != "dict":
        return ""
    if type(input.get("case")) == "string":
        return input["case"]
    text = input.get("last_user_message") or ""
    at = text.find("case:")
    if at < 0:
        return ""
    return text[at + 5:].split()[0] if text[at + 5:].split() else ""

def decide(input):
    name = pick(input)
    if name in CASES:
        return CASES[name]()
    return {"actions": []}

def ok(input):
    return {"ok": input}
`;
}

function indent(code: string, spaces: number): string {
  const pad = ' '.repeat(spaces);
  return code
    .split('\n')
    .map((line) => pad + line)
    .join('\n');
}

function snake(name: string): string {
  return name.replace(/-/g, '_');
}
