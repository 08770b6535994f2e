import type { JsonValue } from '../sandbox/contract.ts';
import { STARLARK_TWIN_ALIASES, STARLARK_TWINS } from './corpus-starlark.ts';

/**
 * The semantics corpus: small pure policies (JSON in, JSON out) with the exact output every
 * backend must produce. Exported as data so benchmarks and other-language twins (Starlark) can
 * reuse the same inputs and expectations. The expected values are what the reference (trusted)
 * backend returns; where JavaScript engines could legitimately differ (Intl, trigonometry,
 * locale-aware comparison) the corpus stays away on purpose.
 */
export interface CorpusPolicy {
  /** Stable id; the conformance case is `semantics/<id>`. */
  id: string;
  title: string;
  source: string;
  entry: string;
  input: JsonValue;
  expected: JsonValue;
  /**
   * The Starlark twin (`corpus-starlark.ts`): the same entry, input and expected output, written
   * with Starlark's means. Absent where the policy is about JavaScript itself.
   */
  starlark?: string;
}

const policies: CorpusPolicy[] = [
  {
    id: 'classify-numbers',
    title: 'classify 50 numbers against a threshold (the benchmark policy)',
    entry: 'decide',
    input: {
      threshold: 40,
      values: [
        -20, 17, 54, -10, 27, 64, 0, 37, 74, 10, 47, -17, 20, 57, -7, 30, 67, 3, 40, 77, 13, 50,
        -14, 23, 60, -4, 33, 70, 6, 43, 80, 16, 53, -11, 26, 63, -1, 36, 73, 9, 46, -18, 19, 56, -8,
        29, 66, 2, 39, 76,
      ],
    },
    expected: {
      above: 19,
      below: 31,
      flagged: [2, 5, 8, 10, 13, 16, 19, 21, 24, 27, 29, 30, 32, 35, 38, 40, 43, 46, 49],
    },
    source: `function decide(input) {
  let above = 0;
  const flagged = [];
  for (let i = 0; i < input.values.length; i++) {
    if (input.values[i] > input.threshold) {
      above++;
      flagged.push(i);
    }
  }
  return { above, below: input.values.length - above, flagged };
}`,
  },
  {
    id: 'arithmetic',
    title: 'integer and float arithmetic, NaN and Infinity become null',
    entry: 'decide',
    input: { a: 17, b: 5 },
    expected: {
      sum: 22,
      diff: 12,
      product: 85,
      quotient: 3.4,
      mod: 2,
      neg_mod: -2,
      pow: 4913,
      trunc: 3,
      floor: -4,
      ceil: 4,
      float: 0.30000000000000004,
      rounded: 2.68,
      half: -2,
      neg_zero: 0,
      max_safe: 9007199254740992,
      tiny: 5e-324,
      huge: 1.7976931348623157e308,
      nan: null,
      inf: null,
      sqrt: 1.7320508075688772,
      min: -1,
      max: null,
      bits: [1, 21, 20, -18, 136, -9, 15],
    },
    source: `function decide(input) {
  const { a, b } = input;
  return {
    sum: a + b, diff: a - b, product: a * b, quotient: a / b, mod: a % b, neg_mod: -a % b,
    pow: a ** 3, trunc: Math.trunc(a / b), floor: Math.floor(-a / b), ceil: Math.ceil(a / b),
    float: 0.1 + 0.2, rounded: Math.round(2.675 * 100) / 100, half: Math.round(-2.5),
    neg_zero: -0, max_safe: Number.MAX_SAFE_INTEGER + 2, tiny: 5e-324, huge: 1.7976931348623157e308,
    nan: 0 / 0, inf: a / 0, sqrt: Math.sqrt(3), min: Math.min(a, b, -1), max: Math.max(),
    bits: [a & b, a | b, a ^ b, ~a, a << 3, -a >> 1, -a >>> 28],
  };
}`,
  },
  {
    id: 'string-ops',
    title: 'string methods',
    entry: 'decide',
    input: { text: '  The quick brown fox jumps over the lazy dog  ' },
    expected: {
      trimmed: 'The quick brown fox jumps over the lazy dog',
      upper: 'THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG',
      lower: 'the quick brown fox jumps over the lazy dog',
      padded: '007|ab..',
      words: ['The', 'quick', 'brown', 'fox', 'jumps', 'over', 'the', 'lazy', 'dog'],
      joined: 'The-quick-brown-fox-jumps-over-the-lazy-dog',
      slice: 'y dog',
      sub: 'e qu',
      index: 18,
      last: 43,
      includes: true,
      starts: true,
      replaced: 'The quick br0wn f0x jumps 0ver the lazy d0g',
      repeated: 'ababab',
      at: 'g',
      template: "43 chars, 4 o's",
      char_codes: [65, 90, 97, 122, 48, 57],
      compare: [false, true, true],
    },
    source: `function decide(input) {
  const s = input.text;
  return {
    trimmed: s.trim(), upper: s.trim().toUpperCase(), lower: s.toLowerCase().trim(),
    padded: '7'.padStart(3, '0') + '|' + 'ab'.padEnd(4, '.'),
    words: s.trim().split(/\\s+/), joined: s.trim().split(' ').join('-'),
    slice: s.trim().slice(-5), sub: s.trim().substring(6, 2), index: s.indexOf('fox'),
    last: s.lastIndexOf('o'), includes: s.includes('lazy'), starts: s.trim().startsWith('The'),
    replaced: s.replaceAll('o', '0').trim(), repeated: 'ab'.repeat(3), at: s.trim().at(-1),
    template: \`\${s.trim().length} chars, \${s.split('o').length - 1} o's\`,
    char_codes: [...'AZaz09'].map((c) => c.charCodeAt(0)), compare: ['b' < 'a', 'B' < 'a', '10' < '9'],
  };
}`,
  },
  {
    id: 'array-ops',
    title: 'array methods',
    entry: 'decide',
    input: { xs: [3, 1, 4, 1, 5, 9, 2, 6] },
    expected: {
      doubled: [6, 2, 8, 2, 10, 18, 4, 12],
      evens: [4, 2, 6],
      total: 31,
      right: '62951413',
      flat: [1, 2, 3, 4, [5]],
      flat_map: [3, -3, 1, -1, 4, -4],
      found: 5,
      found_index: 4,
      last: 2,
      some: true,
      every: true,
      has: true,
      from: [0, 1, 4, 9],
      filled: ['z', 'z', 'z'],
      reversed: [6, 2, 9, 5, 1, 4, 1, 3],
      concat: [3, 1, 4, 1, 5, 9, 2, 6, 10, 11],
      index: 5,
      at: 2,
      spliced: [3, 'a', 'b', 'c', 1, 5, 9, 2, 6],
      removed: [1, 4],
      holes: [1, null, 3],
      empty_slots: [null, null],
      keys: 8,
      entries: [
        [0, 'p'],
        [1, 'q'],
      ],
      joined: '1+++x',
    },
    source: `function decide(input) {
  const xs = input.xs;
  const copy = xs.slice();
  const removed = copy.splice(1, 2, 'a', 'b', 'c');
  return {
    doubled: xs.map((x) => x * 2), evens: xs.filter((x) => x % 2 === 0),
    total: xs.reduce((sum, x) => sum + x, 0), right: xs.reduceRight((acc, x) => acc + String(x), ''),
    flat: [[1, [2]], [3, [4, [5]]]].flat(2), flat_map: xs.slice(0, 3).flatMap((x) => [x, -x]),
    found: xs.find((x) => x > 4), found_index: xs.findIndex((x) => x > 4), last: xs.findLast((x) => x < 4),
    some: xs.some((x) => x > 8), every: xs.every((x) => x > 0), has: xs.includes(5),
    from: Array.from({ length: 4 }, (_, i) => i * i), filled: new Array(3).fill('z'),
    reversed: xs.slice().reverse(), concat: xs.concat([10], 11), index: xs.indexOf(9), at: xs.at(-2),
    spliced: copy, removed, holes: [1, , 3], empty_slots: new Array(2), keys: [...xs.keys()].length,
    entries: [...['p', 'q'].entries()], joined: [1, null, undefined, 'x'].join('+'),
  };
}`,
  },
  {
    id: 'object-ops',
    title: 'objects: key order, spread, entries, destructuring',
    entry: 'decide',
    input: { extra: { c: true, a: 'override' } },
    expected: {
      keys: ['2', '10', 'b', 'a', 'c'],
      values: ['two', 'ten', 1, 'override', true],
      entries: [
        ['x', 1],
        ['y', [2]],
      ],
      from_entries: { k: 2, j: 3 },
      a: 'override',
      missing: 'dflt',
      rest: { '2': 'two', '10': 'ten', b: 1, c: true },
      merged: { '2': 'two', '10': 'ten', b: 3, c: true },
      has: [true, true, false],
      json_keys: '{"2":"two","10":"ten","b":1,"a":"override","c":true}',
      frozen: true,
      computed: { '5': 'five', k1: true },
    },
    source: `function decide(input) {
  const o = { b: 1, a: 2, 10: 'ten', 2: 'two', ...input.extra };
  const { a, missing = 'dflt', ...rest } = o;
  const merged = Object.assign({}, o, { b: 3 });
  delete merged.a;
  return {
    keys: Object.keys(o), values: Object.values(o), entries: Object.entries({ x: 1, y: [2] }),
    from_entries: Object.fromEntries([['k', 1], ['k', 2], ['j', 3]]), a, missing, rest, merged,
    has: ['a' in o, 'toString' in o, Object.hasOwn(o, 'toString')], json_keys: JSON.stringify(o),
    frozen: Object.isFrozen(Object.freeze({ q: 1 })), computed: { ['k' + 1]: true, [2 + 3]: 'five' },
  };
}`,
  },
  {
    id: 'sorting',
    title: 'sorting: numbers with a comparator, strings by code unit, stable by key',
    entry: 'decide',
    input: {
      numbers: [10, 9, 1, 100, -3, 25, 2.5, 0],
      people: [
        { name: 'dee', age: 30 },
        { name: 'al', age: 25 },
        { name: 'cy', age: 30 },
        { name: 'bo', age: 25 },
        { name: 'ed', age: 41 },
        { name: 'ann', age: 30 },
      ],
    },
    expected: {
      numbers: [-3, 0, 1, 2.5, 9, 10, 25, 100],
      default_order: [-3, 0, 1, 10, 100, 2.5, 25, 9],
      strings: ['Apple', 'Banana', 'apple', 'banana', 'cherry', 'zebra', 'éclair'],
      by_age: ['al', 'bo', 'dee', 'cy', 'ann', 'ed'],
      by_age_desc_then_name: ['ed', 'ann', 'cy', 'dee', 'al', 'bo'],
    },
    source: `function decide(input) {
  const people = input.people;
  return {
    numbers: input.numbers.slice().sort((x, y) => x - y),
    default_order: input.numbers.slice().sort(),
    strings: ['banana', 'Apple', 'cherry', 'apple', 'Banana', 'éclair', 'zebra'].sort(),
    by_age: people.slice().sort((p, q) => p.age - q.age).map((p) => p.name),
    by_age_desc_then_name: people.slice()
      .sort((p, q) => q.age - p.age || (p.name < q.name ? -1 : p.name > q.name ? 1 : 0))
      .map((p) => p.name),
  };
}`,
  },
  {
    id: 'regex',
    title: 'regular expressions: groups, named groups, global, sticky, lookbehind, unicode',
    entry: 'decide',
    input: { text: 'The quick fox a1 b2 mailed j.doe@example.org on 2024-03-09 for $125 x9' },
    expected: {
      test: true,
      email: 'j.doe@example.org',
      date: { year: '2024', month: '03', day: '09' },
      date_index: 48,
      all_numbers: [1, 2, 2024, 3, 9, 125, 9],
      matches: ['a:1', 'b:2', '2:0', '2:4', '0:3', '0:9', '1:2', 'x:9'],
      replaced: 'The quick fox a<1> b<1> mailed j.doe@example.org on <4>-<2>-<2> for $<3> x<1>',
      split: ['a', 'b', 'c', 'd'],
      sticky: [true, 6],
      lookbehind: '125',
      emoji: true,
      unicode_class: ['héllo', 'wörld'],
      dollar: 'y-x $',
      multiline: ['a', 'b', 'c'],
      dotall: true,
      escaped: 'a\\.b\\*c',
    },
    source: `function decide(input) {
  const t = input.text;
  const iso = /(?<year>\\d{4})-(?<month>\\d{2})-(?<day>\\d{2})/.exec(t);
  const sticky = /foo/y;
  sticky.lastIndex = 3;
  return {
    test: /quick/i.test(t), email: t.match(/[\\w.]+@[\\w.]+\\.\\w+/)[0],
    date: iso.groups, date_index: iso.index, all_numbers: t.match(/\\d+/g).map(Number),
    matches: [...t.matchAll(/(\\w)(\\d)/g)].map((m) => m[1] + ':' + m[2]),
    replaced: t.replace(/\\d+/g, (d) => '<' + d.length + '>'), split: 'a1b22c333d'.split(/\\d+/),
    sticky: [sticky.test('barfoo'), sticky.lastIndex], lookbehind: t.match(/(?<=\\$)\\d+/)[0],
    emoji: /\\u{1F600}/u.test('smile \\u{1F600}'), unicode_class: 'héllo wörld'.match(/\\p{L}+/gu),
    dollar: 'x-y'.replace(/(\\w)-(\\w)/, '$2-$1 $$'), multiline: 'a\\nb\\nc'.match(/^\\w$/gm),
    dotall: /a.b/s.test('a\\nb'), escaped: 'a.b*c'.replace(/[.*+?^\${}()|[\\]\\\\]/g, '\\\\$&'),
  };
}`,
  },
  {
    id: 'json-round-trip',
    title: 'JSON.stringify and JSON.parse inside the policy',
    entry: 'decide',
    input: { name: 'x', list: [1, 2.5, { deep: [true, null] }], empty: {} },
    expected: {
      pretty_lines: 14,
      compact: '{"name":"x","list":[1,2.5,{"deep":[true,null]}],"empty":{}}',
      back: { name: 'x', list: [10, 25, { deep: [true, null] }], empty: {} },
      replacer: '{"a":1,"c":{"a":3}}',
      special: '[null,null,null,0,"q\\"\\\\"," ","\\ud800"]',
      to_json: '"custom"',
      nested: { a: [{ b: null }] },
      proto_key: ['__proto__'],
    },
    source: `function decide(input) {
  const text = JSON.stringify(input, null, 2);
  const back = JSON.parse(text, (key, value) => (typeof value === 'number' ? value * 10 : value));
  return {
    pretty_lines: text.split('\\n').length, compact: JSON.stringify(input), back,
    replacer: JSON.stringify({ a: 1, b: 2, c: { a: 3, d: 4 } }, ['a', 'c']),
    special: JSON.stringify([undefined, () => 1, NaN, -0, 'q"\\\\', '\\u2028', '\\ud800']),
    to_json: JSON.stringify({ toJSON() { return 'custom'; } }), nested: JSON.parse('{"a":[{"b":null}]}'),
    proto_key: Object.keys(JSON.parse('{"__proto__": 1}')),
  };
}`,
  },
  {
    id: 'unicode',
    title: 'unicode: code points, surrogate pairs, normalisation, case mapping',
    entry: 'decide',
    input: { text: 'héllo 😀 日本語 Ωμέγα' },
    expected: {
      utf16_length: 18,
      code_points: 17,
      first: 104,
      emoji: 128512,
      from: '😀é',
      upper: 'STRASSE É',
      lower: 'àéî',
      nfc: 1,
      nfd: 2,
      reversed: 'c😀ba',
      escaped: 'a%20b%26%C3%A9%2F%F0%9F%98%80',
      decoded: 'é😀',
      same: 'héllo 😀 日本語 Ωμέγα',
      wellformed: '"\\udc00x"',
    },
    source: `function decide(input) {
  const s = input.text;
  return {
    utf16_length: s.length, code_points: [...s].length, first: s.codePointAt(0), emoji: s.codePointAt(6),
    from: String.fromCodePoint(128512, 233), upper: 'straße é'.toUpperCase(), lower: 'ÀÉÎ'.toLowerCase(),
    nfc: 'e\\u0301'.normalize('NFC').length, nfd: 'é'.normalize('NFD').length,
    reversed: [...'ab😀c'].reverse().join(''), escaped: encodeURIComponent('a b&é/😀'),
    decoded: decodeURIComponent('%C3%A9%F0%9F%98%80'), same: s, wellformed: JSON.stringify('\\udc00x'),
  };
}`,
  },
  {
    id: 'nested-data',
    title: 'walk nested data: leaves, depth, paths',
    entry: 'decide',
    input: { a: { b: [1, { c: 2, d: 'x' }], e: null }, f: [[[3]]], g: true },
    expected: { leaves: 6, depth: 4, number_paths: ['$.a.b[0]', '$.a.b[1].c', '$.f[0][0][0]'] },
    source: `function decide(input) {
  const paths = [];
  let leaves = 0;
  let depth = 0;
  const walk = (node, path, d) => {
    depth = Math.max(depth, d);
    if (node !== null && typeof node === 'object') {
      for (const key of Object.keys(node)) walk(node[key], path + (Array.isArray(node) ? '[' + key + ']' : '.' + key), d + 1);
    } else {
      leaves++;
      if (typeof node === 'number') paths.push(path);
    }
  };
  walk(input, '$', 0);
  return { leaves, depth, number_paths: paths };
}`,
  },
  {
    id: 'default-params',
    title: 'default parameters, rest, optional chaining, nullish coalescing',
    entry: 'decide',
    input: { user: { address: { city: 'Oslo' } }, count: 0, list: ['p', 'q'] },
    expected: {
      plain: 'anon!',
      named: 'ann!',
      opts: 'bo!bo!',
      nulls: 'null?',
      rest: 'anon! +3',
      chained: 'Oslo',
      missing: 'none',
      zero: 0,
      or: 5,
      index: 'q',
    },
    source: `function greet(name = 'anon', { punct = '!', times = 1 } = {}, ...rest) {
  return (name + punct).repeat(times) + (rest.length ? ' +' + rest.length : '');
}
function decide(input) {
  return {
    plain: greet(), named: greet('ann'), opts: greet('bo', { times: 2 }), nulls: greet(null, { punct: '?' }),
    rest: greet(undefined, undefined, 1, 2, 3), chained: input.user?.address?.city ?? 'unknown',
    missing: input.nobody?.name ?? 'none', zero: input.count ?? 5, or: input.count || 5,
    call: input.fn?.(), index: input.list?.[1],
  };
}`,
  },
  {
    id: 'closures',
    title: 'closures: counters, memoisation, composition',
    entry: 'decide',
    input: { start: 2 },
    expected: {
      a: 12,
      b: 3,
      results: [9, 16, 9, 9, 25],
      misses: 3,
      composed: 21,
      loop_capture: [0, 1, 2],
    },
    source: `function counter(start) {
  let n = start;
  return { next: () => ++n, peek: () => n };
}
function memo(fn) {
  const cache = {};
  let misses = 0;
  const wrapped = (x) => (x in cache ? cache[x] : ((misses++), (cache[x] = fn(x))));
  wrapped.misses = () => misses;
  return wrapped;
}
function decide(input) {
  const a = counter(10);
  const b = counter(input.start);
  a.next(); a.next(); b.next();
  const square = memo((x) => x * x);
  const results = [3, 4, 3, 3, 5].map(square);
  const compose = (...fns) => (x) => fns.reduceRight((v, f) => f(v), x);
  const fns = [];
  for (let i = 0; i < 3; i++) fns.push(() => i);
  return { a: a.peek(), b: b.peek(), results, misses: square.misses(), composed: compose((x) => x + 1, (x) => x * 10)(input.start), loop_capture: fns.map((f) => f()) };
}`,
  },
  {
    id: 'classes',
    title: 'classes: private fields, static members, getters, inheritance',
    entry: 'decide',
    input: { sizes: [[2, 3], 4, [1.5, 2]] },
    expected: {
      described: ['rect#1 6.00', 'SQUARE#2 16.00', 'rect#3 3.00'],
      ids: [1, 2, 3],
      count: 3,
      kinds: [
        [true, false, 'Rect'],
        [true, true, 'Square'],
        [true, false, 'Rect'],
      ],
      json: [{ name: 'rect', w: 2, h: 3 }, { square: 4 }, { name: 'rect', w: 1.5, h: 2 }],
      has_private: ['name', 'w', 'h'],
    },
    source: `class Shape {
  static count = 0;
  #id;
  constructor(name) { this.name = name; this.#id = ++Shape.count; }
  get id() { return this.#id; }
  area() { return 0; }
  describe() { return this.name + '#' + this.#id + ' ' + this.area().toFixed(2); }
}
class Rect extends Shape {
  constructor(w, h) { super('rect'); this.w = w; this.h = h; }
  area() { return this.w * this.h; }
}
class Square extends Rect {
  constructor(s) { super(s, s); this.name = 'square'; }
  describe() { return super.describe().toUpperCase(); }
  toJSON() { return { square: this.w }; }
}
function decide(input) {
  const shapes = input.sizes.map((s) => (Array.isArray(s) ? new Rect(s[0], s[1]) : new Square(s)));
  return {
    described: shapes.map((s) => s.describe()), ids: shapes.map((s) => s.id), count: Shape.count,
    kinds: shapes.map((s) => [s instanceof Shape, s instanceof Square, s.constructor.name]),
    json: shapes, has_private: Object.keys(shapes[0]),
  };
}`,
  },
  {
    id: 'map-set',
    title: 'Map and Set used internally: insertion order, object keys, dedupe',
    entry: 'decide',
    input: { words: ['b', 'a', 'c', 'a', 'b', 'a', 'd'] },
    expected: {
      counts: { b: 2, a: 3, c: 1, d: 1 },
      unique: ['b', 'a', 'c', 'd'],
      size: 4,
      object_key: 'found',
      other_key: null,
      weak: 1,
      intersection: [2, 3],
      union: [1, 2, 3, 4],
      nan_key: 'nan',
      deleted: true,
      order: ['b', 'c', 'd'],
      map_json: '{}',
    },
    source: `function decide(input) {
  const counts = new Map();
  for (const w of input.words) counts.set(w, (counts.get(w) || 0) + 1);
  const seen = new Set(input.words);
  const objKey = {};
  const byObject = new Map([[objKey, 'found']]);
  const weak = new WeakMap([[objKey, 1]]);
  const a = new Set([1, 2, 3]);
  const b = new Set([2, 3, 4]);
  return {
    counts: Object.fromEntries(counts), unique: [...seen], size: seen.size,
    object_key: byObject.get(objKey), other_key: byObject.get({}) ?? null, weak: weak.get(objKey),
    intersection: [...a].filter((x) => b.has(x)), union: [...new Set([...a, ...b])],
    nan_key: new Map([[NaN, 'nan']]).get(NaN), deleted: counts.delete('a') && !counts.has('a'),
    order: [...counts.keys()], map_json: JSON.stringify(counts),
  };
}`,
  },
  {
    id: 'try-catch',
    title: 'try/catch/finally, custom errors, rethrow',
    entry: 'decide',
    input: { values: [4, -2, 0, 1000] },
    expected: {
      results: [
        { ok: 2 },
        { code: 'E_NEG', message: 'negative: -2', name: 'PolicyError' },
        { thrown: 'zero' },
        { type_error: true, is_error: true },
      ],
      log: 8,
      rethrown: 'wrapped <- E_NEG',
    },
    source: `class PolicyError extends Error {
  constructor(message, code) { super(message); this.name = 'PolicyError'; this.code = code; }
}
function risky(x) {
  if (x < 0) throw new PolicyError('negative: ' + x, 'E_NEG');
  if (x === 0) throw 'zero';
  if (x > 100) null.boom;
  return Math.sqrt(x);
}
function decide(input) {
  const log = [];
  const results = input.values.map((x) => {
    try {
      log.push('try ' + x);
      return { ok: risky(x) };
    } catch (error) {
      if (error instanceof PolicyError) return { code: error.code, message: error.message, name: error.name };
      if (error instanceof TypeError) return { type_error: true, is_error: error instanceof Error };
      return { thrown: String(error) };
    } finally {
      log.push('finally ' + x);
    }
  });
  let rethrown = null;
  try {
    try { risky(-1); } catch (e) { throw new Error('wrapped', { cause: e }); }
  } catch (outer) {
    rethrown = outer.message + ' <- ' + outer.cause.code;
  }
  return { results, log: log.length, rethrown };
}`,
  },
  {
    id: 'several-entries-score',
    title: 'a policy with several entries: calling the helper entry',
    entry: 'score',
    input: { signals: ['pii', 'secret', 'other'] },
    expected: 14,
    source: `export function score(input) {
  return input.signals.reduce((s, sig) => s + (WEIGHTS[sig] ?? 1), 0);
}
const WEIGHTS = { pii: 5, secret: 8, profanity: 2 };
function label(n) {
  return n >= 10 ? 'high' : n >= 5 ? 'medium' : 'low';
}
export function decide(input) {
  const s = score(input);
  return { score: s, label: label(s), helper_count: [score, label].length };
}`,
  },
  {
    id: 'several-entries-decide',
    title: 'a policy with several entries: calling decide',
    entry: 'decide',
    input: { signals: ['profanity', 'pii'] },
    expected: { score: 7, label: 'medium', helper_count: 2 },
    source: `export function score(input) {
  return input.signals.reduce((s, sig) => s + (WEIGHTS[sig] ?? 1), 0);
}
const WEIGHTS = { pii: 5, secret: 8, profanity: 2 };
function label(n) {
  return n >= 10 ? 'high' : n >= 5 ? 'medium' : 'low';
}
export function decide(input) {
  const s = score(input);
  return { score: s, label: label(s), helper_count: [score, label].length };
}`,
  },
  {
    id: 'history-classifier',
    title: 'a realistic history classifier over recorded entries',
    entry: 'decide',
    input: {
      now_ms: 1700000100000,
      window_ms: 60000,
      history: [
        {
          sequence: 1,
          created_at_ms: 1700000000000,
          kind: 'request_text',
          key: '',
          scope: { session_id: 's1' },
          text: 'my password is hunter2',
        },
        {
          sequence: 2,
          created_at_ms: 1700000050000,
          kind: 'request_text',
          key: '',
          scope: { session_id: 's1' },
          text: 'list files',
        },
        {
          sequence: 3,
          created_at_ms: 1700000051000,
          kind: 'tool_call',
          key: 'ls',
          scope: { session_id: 's1' },
          text: '',
        },
        {
          sequence: 4,
          created_at_ms: 1700000052000,
          kind: 'tool_call',
          key: 'ls',
          scope: { session_id: 's1' },
          text: '',
        },
        {
          sequence: 5,
          created_at_ms: 1700000053000,
          kind: 'tool_call',
          key: 'ls',
          scope: { session_id: 's1' },
          text: '',
        },
        {
          sequence: 6,
          created_at_ms: 1700000054000,
          kind: 'tool_call',
          key: 'cat',
          scope: { session_id: 's1' },
          text: '',
        },
        {
          sequence: 7,
          created_at_ms: 1700000090000,
          kind: 'response_text',
          key: '',
          scope: { session_id: 's1' },
          text: 'Set API_KEY in env',
        },
      ],
    },
    expected: {
      considered: 6,
      by_kind: { request_text: 1, tool_call: 4, response_text: 1 },
      longest_tool_run: 3,
      secret_sequences: [7],
      level: 'critical',
    },
    source: `function decide(input) {
  const now = input.now_ms;
  const recent = input.history.filter((e) => now - e.created_at_ms <= input.window_ms);
  const byKind = {};
  for (const e of recent) byKind[e.kind] = (byKind[e.kind] || 0) + 1;
  const toolCalls = recent.filter((e) => e.kind === 'tool_call').map((e) => e.key);
  let longestRun = 0;
  let run = 0;
  for (let i = 0; i < toolCalls.length; i++) {
    run = i > 0 && toolCalls[i] === toolCalls[i - 1] ? run + 1 : 1;
    longestRun = Math.max(longestRun, run);
  }
  const secrets = recent.filter((e) => /\\b(api[_-]?key|password)\\b/i.test(e.text)).map((e) => e.sequence);
  const level = secrets.length > 0 ? 'critical' : longestRun >= 3 ? 'warning' : 'info';
  return { considered: recent.length, by_kind: byKind, longest_tool_run: longestRun, secret_sequences: secrets, level };
}`,
  },
  {
    id: 'ttsr-window-scan',
    title: 'a TTSR-like scan of streamed chunks through a sliding window',
    entry: 'decide',
    input: {
      window_chars: 24,
      rules: [
        { id: 'no-sudo', pattern: 'sudo\\s+rm\\s+-rf' },
        { id: 'no-key', pattern: 'sk-[a-z0-9]{8}' },
      ],
      chunks: [
        'Sure! First, ',
        'open a terminal and run ',
        'the cleanup: su',
        'do   rm',
        ' -rf /tmp/cache',
        ' then done.',
      ],
    },
    expected: { triggered: 'no-sudo', chunk: 4, start: 50, end: 63, text: 'sudo   rm -rf' },
    source: `function decide(input) {
  const patterns = input.rules.map((r) => ({ id: r.id, re: new RegExp(r.pattern, 'i') }));
  let window = '';
  let offset = 0;
  for (let i = 0; i < input.chunks.length; i++) {
    window += input.chunks[i];
    if (window.length > input.window_chars) {
      const cut = window.length - input.window_chars;
      offset += cut;
      window = window.slice(cut);
    }
    for (const p of patterns) {
      const m = p.re.exec(window);
      if (m) return { triggered: p.id, chunk: i, start: offset + m.index, end: offset + m.index + m[0].length, text: m[0] };
    }
  }
  return { triggered: null, scanned: offset + window.length };
}`,
  },
  {
    id: 'structured-output-validator',
    title: 'a semantic validator for a structured model output',
    entry: 'decide',
    input: {
      output:
        '{"total_cents":2500,"country":"de","ship_after":"2024-05-02","ship_before":"2024-05-01","items":[{"sku":"book","qty":2,"unit_cents":1000},{"sku":"mug","qty":1.5,"unit_cents":400}]}',
    },
    expected: {
      valid: false,
      errors: [
        { path: '$.total_cents', message: 'expected 2600, got 2500' },
        { path: '$.items[1].sku', message: 'unknown sku mug' },
        { path: '$.items[1].qty', message: 'must be a positive integer' },
        { path: '$.ship_before', message: 'must be after ship_after' },
        { path: '$.country', message: 'two capital letters' },
      ],
    },
    source: `function decide(input) {
  const errors = [];
  let doc;
  try {
    doc = JSON.parse(input.output);
  } catch (e) {
    return { valid: false, errors: [{ path: '$', message: 'not JSON' }] };
  }
  const sum = doc.items.reduce((s, it) => s + it.qty * it.unit_cents, 0);
  if (sum !== doc.total_cents) errors.push({ path: '$.total_cents', message: 'expected ' + sum + ', got ' + doc.total_cents });
  doc.items.forEach((it, i) => {
    if (!['book', 'pen', 'bag'].includes(it.sku)) errors.push({ path: '$.items[' + i + '].sku', message: 'unknown sku ' + it.sku });
    if (!Number.isInteger(it.qty) || it.qty < 1) errors.push({ path: '$.items[' + i + '].qty', message: 'must be a positive integer' });
  });
  if (!(doc.ship_after < doc.ship_before)) errors.push({ path: '$.ship_before', message: 'must be after ship_after' });
  if (!/^[A-Z]{2}$/.test(doc.country)) errors.push({ path: '$.country', message: 'two capital letters' });
  return { valid: errors.length === 0, errors };
}`,
  },
  {
    id: 'actions-block',
    title: 'returns {actions: [...]} the engine applies: block',
    entry: 'decide',
    input: { last_user_message: 'Please DROP TABLE users;' },
    expected: {
      actions: [
        { action: 'block', reason: 'banned phrase: drop table', message: 'blocked by policy' },
      ],
    },
    source: `function decide(input) {
  const banned = ['rm -rf', 'drop table'];
  const hit = banned.find((b) => input.last_user_message.toLowerCase().includes(b));
  if (hit === undefined) return { actions: [] };
  return { actions: [{ action: 'block', reason: 'banned phrase: ' + hit, message: 'blocked by policy' }] };
}`,
  },
  {
    id: 'actions-route',
    title: 'returns {actions: [...]}: routes, alerts and annotations',
    entry: 'decide',
    input: { estimated_prompt_tokens: 12000, caller: { tenant_id: 'acme' }, now_ms: 42 },
    expected: {
      actions: [
        { action: 'restrict_routes', allowed_targets: ['large/ctx'] },
        {
          action: 'alert',
          severity: 'warning',
          message: 'acme request',
          idempotency_key: 'acme-42',
        },
        { action: 'annotate', message: 'tokens=12000' },
      ],
    },
    source: `function decide(input) {
  const actions = [];
  if (input.estimated_prompt_tokens > 8000) actions.push({ action: 'restrict_routes', allowed_targets: ['large/ctx'] });
  if (input.caller.tenant_id === 'acme') actions.push({ action: 'alert', severity: 'warning', message: 'acme request', idempotency_key: 'acme-' + input.now_ms });
  actions.push({ action: 'annotate', message: 'tokens=' + input.estimated_prompt_tokens });
  return { actions };
}`,
  },
  {
    id: 'actions-none',
    title: 'returns {actions: []} for a benign request',
    entry: 'decide',
    input: {
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
      ],
    },
    expected: { actions: [] },
    source: `function decide(input) {
  return { actions: input.messages.some((m) => m.role === 'tool') ? [{ action: 'annotate', message: 'tool' }] : [] };
}`,
  },
  {
    id: 'number-formatting',
    title: 'number to string conversions and parsing',
    entry: 'decide',
    input: null,
    expected: {
      fixed: ['1.00', '123.5', '0.000', '-2'],
      precision: ['123.5', '0.00012'],
      exponential: '1.23e+4',
      radix: ['ff', '11111111', '-21'],
      big: ['1e+21', '1.23e-18', '9007199254740992'],
      parsed: [8, 31, 12, 3.14, 0, 42, 1000],
      is: [true, false, false, true],
      shortest: [0.30000000000000004, 0.3333333333333333, 33.333333333333336, 5e-7],
    },
    source: `function decide() {
  return {
    fixed: [(1.005).toFixed(2), (123.456).toFixed(1), (0).toFixed(3), (-1.5).toFixed(0)],
    precision: [(123.456).toPrecision(4), (0.000123).toPrecision(2)], exponential: (12345).toExponential(2),
    radix: [(255).toString(16), (255).toString(2), (-7).toString(3)], big: [String(1e21), String(123e-20), String(2 ** 53)],
    parsed: [parseInt('08'), parseInt('0x1f'), parseInt('12px'), parseFloat('3.14abc'), Number(''), Number(' 42 '), Number('1e3')],
    is: [Number.isInteger(5.0), Number.isSafeInteger(2 ** 53), Number.isNaN('x'), isNaN('x')], shortest: [0.1 * 3, 1 / 3, 100 / 3, 5e-7],
  };
}`,
  },
  {
    id: 'iterators-generators',
    title: 'generators, iterators and for...of',
    entry: 'decide',
    input: { n: 9 },
    expected: {
      evens: [0, 2, 4, 6, 8],
      steps: [
        { value: 0, done: false },
        { value: 1, done: false },
        { value: 2, done: false },
        { done: true },
      ],
      custom: [1, 2, 3, 4],
      pairs: ['x1', 'y2'],
      labelled: 10,
      switched: ['one', 'two', 'two', 'three', 'other'],
    },
    source: `function* range(start, end, step = 1) {
  for (let i = start; i < end; i += step) yield i;
}
function decide(input) {
  const evens = [...range(0, input.n, 2)];
  const it = range(0, 3);
  const steps = [it.next(), it.next(), it.next(), it.next()];
  const custom = { from: 1, to: 4, [Symbol.iterator]() { let c = this.from; const to = this.to; return { next: () => (c <= to ? { value: c++, done: false } : { value: undefined, done: true }) }; } };
  const pairs = [];
  for (const [k, v] of new Map([['x', 1], ['y', 2]])) pairs.push(k + v);
  let labelled = 0;
  outer: for (const i of range(0, 5)) {
    for (const j of range(0, 5)) {
      if (j > i) continue outer;
      if (i === 4) break outer;
      labelled++;
    }
  }
  let sw = [];
  for (const x of [1, 2, 3, 9]) {
    switch (x) { case 1: sw.push('one'); case 2: sw.push('two'); break; case 3: sw.push('three'); break; default: sw.push('other'); }
  }
  return { evens, steps, custom: [...custom], pairs, labelled, switched: sw };
}`,
  },
  {
    id: 'recursion',
    title: 'recursion: memoised fibonacci, permutations, tree flattening',
    entry: 'decide',
    input: {
      n: 70,
      tree: { name: 'root', children: [{ name: 'a', children: [{ name: 'a1' }] }, { name: 'b' }] },
    },
    expected: {
      fib: 190392490709135,
      perms: ['abc', 'acb', 'bac', 'bca', 'cab', 'cba'],
      tree: ['root', 'a', 'a1', 'b'],
    },
    source: `function fib(n, memo = {}) {
  if (n < 2) return n;
  return memo[n] ?? (memo[n] = fib(n - 1, memo) + fib(n - 2, memo));
}
function permutations(xs) {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}
function flatten(node) {
  return [node.name, ...(node.children || []).flatMap(flatten)];
}
function decide(input) {
  return { fib: fib(input.n), perms: permutations(['a', 'b', 'c']).map((p) => p.join('')), tree: flatten(input.tree) };
}`,
  },
  {
    id: 'group-and-rank',
    title: 'group by key, aggregate and rank',
    entry: 'decide',
    input: {
      rows: [
        { team: 'red', name: 'a', points: 3 },
        { team: 'blue', name: 'b', points: 7 },
        { team: 'red', name: 'c', points: 9 },
        { team: 'green', name: 'd', points: 10 },
        { team: 'blue', name: 'e', points: 3 },
        { team: 'red', name: 'f', points: 1 },
      ],
    },
    expected: {
      ranked: [
        { team: 'red', total: 13, n: 3, best: { name: 'c', points: 9 }, mean: 4.33 },
        { team: 'blue', total: 10, n: 2, best: { name: 'b', points: 7 }, mean: 5 },
        { team: 'green', total: 10, n: 1, best: { name: 'd', points: 10 }, mean: 10 },
      ],
      teams: 3,
    },
    source: `function decide(input) {
  const groups = {};
  for (const r of input.rows) {
    const g = (groups[r.team] ??= { team: r.team, total: 0, n: 0, best: null });
    g.total += r.points;
    g.n++;
    if (g.best === null || r.points > g.best.points) g.best = { name: r.name, points: r.points };
  }
  const ranked = Object.values(groups)
    .map((g) => ({ ...g, mean: Math.round((g.total / g.n) * 100) / 100 }))
    .sort((a, b) => b.total - a.total || (a.team < b.team ? -1 : 1));
  return { ranked, teams: ranked.length };
}`,
  },
  {
    id: 'time-as-input',
    title: 'time is an input: bucket timestamps by minute from now_ms',
    entry: 'decide',
    input: {
      now_ms: 1000000,
      minutes: 4,
      burst: 3,
      events_ms: [999000, 990000, 950000, 930000, 880000, 870000, 700000, 1000500],
    },
    expected: { per_minute: [3, 1, 2, 0], burst: true },
    source: `function decide(input) {
  const buckets = {};
  for (const t of input.events_ms) {
    const age = Math.floor((input.now_ms - t) / 60000);
    if (age < 0 || age >= input.minutes) continue;
    buckets[age] = (buckets[age] || 0) + 1;
  }
  const per_minute = Array.from({ length: input.minutes }, (_, i) => buckets[i] || 0);
  return { per_minute, burst: per_minute.some((n) => n >= input.burst) };
}`,
  },
  {
    id: 'strict-mode',
    title: 'policies run in strict mode, like the reference backend',
    entry: 'decide',
    input: null,
    expected: { this_undefined: true, assignThrows: true, undeclaredThrows: true },
    source: `function decide() {
  const frozen = Object.freeze({ a: 1 });
  let assignThrows = false;
  try { frozen.a = 2; } catch (e) { assignThrows = e instanceof TypeError; }
  let undeclaredThrows = false;
  try { undeclaredVariable = 1; } catch (e) { undeclaredThrows = e instanceof ReferenceError; }
  return { this_undefined: (function () { return this === undefined; })(), assignThrows, undeclaredThrows };
}`,
  },
  {
    id: 'json-output-rules',
    title:
      'output follows JSON.stringify: undefined and functions dropped, NaN to null, toJSON used',
    entry: 'decide',
    input: null,
    expected: {
      kept: 1,
      nan: null,
      inf: null,
      list: [null, null, null, 0],
      nested: { deep: 'via toJSON' },
      boxed: [3, 's', false],
    },
    source: `function decide() {
  return {
    kept: 1, dropped_undefined: undefined, dropped_fn() {}, nan: NaN, inf: -Infinity,
    list: [undefined, function () {}, NaN, -0], nested: { deep: { toJSON() { return 'via toJSON'; } } },
    boxed: [new Number(3), new String('s'), new Boolean(false)],
  };
}`,
  },
];

export const corpus: readonly CorpusPolicy[] = Object.freeze(
  policies.map((policy) => {
    const starlark = STARLARK_TWINS[STARLARK_TWIN_ALIASES[policy.id] ?? policy.id];
    return starlark === undefined ? policy : { ...policy, starlark };
  }),
);
