import { corpus } from './corpus.ts';
import { always, type ConformanceCase, expectValue, fail, show, withPolicy } from './kit.ts';

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

const corpusCases: ConformanceCase[] = corpus.map((policy) => ({
  id: `semantics/${policy.id}`,
  category: 'semantics',
  title: policy.title,
  applies: always,
  run: (backend) =>
    withPolicy(backend, policy.source, async (loaded) => {
      expectValue(policy.id, await loaded.invoke(policy.entry, policy.input), policy.expected);
    }),
}));

export const semanticsCases: ConformanceCase[] = [
  ...corpusCases,
  {
    id: 'semantics/entries',
    category: 'semantics',
    title: 'entries are the top-level function declarations (export allowed), nothing else',
    applies: always,
    run: (backend) =>
      withPolicy(
        backend,
        `// function commented(x) {}
export function decide(input) {
  function inner() { return 1; }
  return inner() + helper();
}
function helper() { return 1; }
const arrow = () => 1;
const expression = function named() { return 2; };
const text = 'function quoted() {}';
class Widget {}`,
        async (policy) => {
          const entries = [...policy.entries].sort();
          if (show(entries) !== show(['decide', 'helper'])) {
            fail(`expected entries ["decide","helper"], got ${show(policy.entries)}`);
          }
          expectValue('decide', await policy.invoke('decide', null), 2);
        },
      ),
  },
  {
    id: 'semantics/input-is-a-copy',
    category: 'semantics',
    title: 'the policy gets a copy of the input: mutating it changes nothing in the host',
    applies: always,
    run: async (backend) => {
      // Frozen: a backend that hands the host object to the policy fails the call instead.
      const input = deepFreeze({ list: [1, 2], nested: { k: 'v' } });
      await withPolicy(
        backend,
        `function decide(input) {
  input.list.push(3);
  delete input.nested.k;
  input.added = true;
  return input;
}`,
        async (policy) => {
          expectValue('decide', await policy.invoke('decide', input), {
            list: [1, 2, 3],
            nested: {},
            added: true,
          });
        },
      );
    },
  },
  {
    id: 'semantics/module-scope-runs-once-per-load',
    category: 'semantics',
    title: 'top-level code runs at load; constants it computes are visible to every entry',
    applies: always,
    run: (backend) =>
      withPolicy(
        backend,
        `const TABLE = Array.from({ length: 5 }, (_, i) => i * i);
const LOOKUP = new Map(TABLE.map((v, i) => [v, i]));
function decide(input) { return { square: TABLE[input.n], root: LOOKUP.get(input.sq) ?? null }; }`,
        async (policy) => {
          expectValue('first call', await policy.invoke('decide', { n: 3, sq: 16 }), {
            square: 9,
            root: 4,
          });
          expectValue('second call', await policy.invoke('decide', { n: 4, sq: 2 }), {
            square: 16,
            root: null,
          });
        },
      ),
  },
];
