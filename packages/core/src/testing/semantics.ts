import { corpus } from './corpus.ts';
import {
  type ConformanceCase,
  defineCase,
  expectValue,
  fail,
  show,
  starlarkDecide,
  withPolicy,
} from './kit.ts';

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

const corpusCases: ConformanceCase[] = corpus.map((policy) =>
  defineCase({
    id: `semantics/${policy.id}`,
    category: 'semantics',
    title: policy.title,
    policy: policy.policy,
    check: (backend, code) =>
      withPolicy(backend, code, async (loaded) => {
        expectValue(policy.id, await loaded.invoke(policy.entry, policy.input), policy.expected);
      }),
  }),
);

export const semanticsCases: ConformanceCase[] = [
  ...corpusCases,
  defineCase<{ code: string; entries: readonly string[] }>({
    id: 'semantics/entries',
    category: 'semantics',
    title:
      'entries are the top-level functions (JavaScript: declarations, export allowed; Starlark: functions bound to module globals), nothing else',
    policy: {
      javascript: {
        code: `// function commented(x) {}
export function decide(input) {
  function inner() { return 1; }
  return inner() + helper();
}
function helper() { return 1; }
const arrow = () => 1;
const expression = function named() { return 2; };
const text = 'function quoted() {}';
class Widget {}`,
        entries: ['decide', 'helper'],
      },
      // A lambda bound to a global is a function bound to a module global: an entry, unlike a
      // JavaScript arrow function in a const.
      starlark: {
        code: `# def commented(x): pass
def decide(input):
    def inner():
        return 1
    return inner() + helper()

def helper():
    return 1

TEXT = "def quoted(): pass"
LIMIT = 3
alias = lambda: 2
`,
        entries: ['alias', 'decide', 'helper'],
      },
    },
    check: (backend, { code, entries }) =>
      withPolicy(backend, code, async (policy) => {
        const found = [...policy.entries].sort();
        if (show(found) !== show(entries)) {
          fail(`expected entries ${show(entries)}, got ${show(policy.entries)}`);
        }
        expectValue('decide', await policy.invoke('decide', null), 2);
      }),
  }),
  defineCase({
    id: 'semantics/input-is-a-copy',
    category: 'semantics',
    title: 'the policy gets a copy of the input: mutating it changes nothing in the host',
    policy: {
      javascript: `function decide(input) {
  input.list.push(3);
  delete input.nested.k;
  input.added = true;
  return input;
}`,
      starlark: starlarkDecide(
        'input["list"].append(3)\ninput["nested"].pop("k")\ninput["added"] = True\nreturn input',
      ),
    },
    check: async (backend, code) => {
      // Frozen: a backend that hands the host object to the policy fails the call instead.
      const input = deepFreeze({ list: [1, 2], nested: { k: 'v' } });
      await withPolicy(backend, code, async (policy) => {
        expectValue('decide', await policy.invoke('decide', input), {
          list: [1, 2, 3],
          nested: {},
          added: true,
        });
      });
    },
  }),
  defineCase({
    id: 'semantics/module-scope-runs-once-per-load',
    category: 'semantics',
    title: 'top-level code runs at load; constants it computes are visible to every entry',
    policy: {
      javascript: `const TABLE = Array.from({ length: 5 }, (_, i) => i * i);
const LOOKUP = new Map(TABLE.map((v, i) => [v, i]));
function decide(input) { return { square: TABLE[input.n], root: LOOKUP.get(input.sq) ?? null }; }`,
      starlark: `TABLE = [i * i for i in range(5)]
LOOKUP = {v: i for i, v in enumerate(TABLE)}
def decide(input):
    return {"square": TABLE[input["n"]], "root": LOOKUP.get(input["sq"])}
`,
    },
    check: (backend, code) =>
      withPolicy(backend, code, async (policy) => {
        expectValue('first call', await policy.invoke('decide', { n: 3, sq: 16 }), {
          square: 9,
          root: 4,
        });
        expectValue('second call', await policy.invoke('decide', { n: 4, sq: 2 }), {
          square: 16,
          root: null,
        });
      }),
  }),
  defineCase({
    id: 'semantics/output-conversion',
    category: 'semantics',
    title:
      'results convert to JSON: tuple → array, struct → object, None → null, a missing return → null',
    // JavaScript's conversion is JSON.stringify's: semantics/json-output-rules.
    policy: {
      starlark: `def decide(input):
    return struct(t = (1, "a"), n = None, f = 2.5, big = 9007199254740991, nested = {"k": [True]})

def nothing(input):
    pass
`,
    },
    check: (backend, code) =>
      withPolicy(backend, code, async (policy) => {
        expectValue('decide', await policy.invoke('decide', null), {
          t: [1, 'a'],
          n: null,
          f: 2.5,
          big: 9007199254740991,
          nested: { k: [true] },
        });
        expectValue('nothing', await policy.invoke('nothing', null), null);
      }),
  }),
];
