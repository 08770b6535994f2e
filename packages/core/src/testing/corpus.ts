import type { JsonValue } from '../sandbox/contract.ts';
import type { PerLanguage } from './kit.ts';

/**
 * The semantics corpus: small pure policies (JSON in, JSON out) with the exact output every
 * backend must produce. Exported as data so benchmarks can reuse the same inputs and
 * expectations. The expected values are what the reference (trusted) backend returns; where
 * JavaScript engines could legitimately differ (Intl, trigonometry, locale-aware comparison) the
 * corpus stays away on purpose.
 *
 * A policy is written once per language it can exist in, side by side, so a fix to the input or
 * the expected output holds for both. The Starlark source does what the JavaScript one does with
 * Starlark's means (no exceptions, no regular expressions, no recursion by default, dicts in
 * insertion order, `json.encode` with sorted keys), so a difference in output is a difference in
 * the backend, not in the policy. Policies without a Starlark source are listed, with the reason,
 * in docs/sandboxes/conformance.md.
 */
export interface CorpusPolicy {
  /** Stable id; the conformance case is `semantics/<id>`. */
  id: string;
  title: string;
  entry: string;
  input: JsonValue;
  expected: JsonValue;
  /** The source in each language: the same entry, input and expected output. */
  policy: PerLanguage<string>;
}

// One policy with several entries, called through each of them (two corpus cases).
const SEVERAL_ENTRIES: PerLanguage<string> = {
  javascript: `export function score(input) {
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
  starlark: `WEIGHTS = {"pii": 5, "secret": 8, "profanity": 2}

def score(input):
    total = 0
    for sig in input["signals"]:
        total += WEIGHTS.get(sig, 1)
    return total

def label(n):
    return "high" if n >= 10 else "medium" if n >= 5 else "low"

def decide(input):
    s = score(input)
    return {"score": s, "label": label(s), "helper_count": len([score, label])}
`,
};

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
    policy: {
      javascript: `function decide(input) {
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
      starlark: `def decide(input):
    above = 0
    flagged = []
    for i, v in enumerate(input["values"]):
        if v > input["threshold"]:
            above += 1
            flagged.append(i)
    return {"above": above, "below": len(input["values"]) - above, "flagged": flagged}
`,
    },
  },
  {
    id: 'arithmetic',
    title: 'integer and float arithmetic; NaN and the infinities are tested, never returned',
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
      nan: true,
      inf: 1,
      sqrt: 1.7320508075688772,
      min: -1,
      max: true,
      bits: [1, 21, 20, -18, 136, -9, 15],
    },
    policy: {
      javascript: `function decide(input) {
  const { a, b } = input;
  return {
    sum: a + b, diff: a - b, product: a * b, quotient: a / b, mod: a % b, neg_mod: -a % b,
    pow: a ** 3, trunc: Math.trunc(a / b), floor: Math.floor(-a / b), ceil: Math.ceil(a / b),
    float: 0.1 + 0.2, rounded: Math.round(2.675 * 100) / 100, half: Math.round(-2.5),
    neg_zero: -0, max_safe: Number.MAX_SAFE_INTEGER + 2, tiny: 5e-324, huge: 1.7976931348623157e308,
    nan: Number.isNaN(0 / 0), inf: Math.sign(a / 0), sqrt: Math.sqrt(3), min: Math.min(a, b, -1),
    max: Math.max() === -Infinity,
    bits: [a & b, a | b, a ^ b, ~a, a << 3, -a >> 1, -a >>> 28],
  };
}`,
      starlark: `INF = float("inf")

def rem(x, y):
    # JavaScript's % truncates toward zero; Starlark's floors.
    return x - y * int(x / y)

def sqrt(x):
    r = float(x)
    for _ in range(60):
        r = (r + x / r) / 2
    return r

def decide(input):
    a = input["a"]
    b = input["b"]
    return {
        "sum": a + b, "diff": a - b, "product": a * b, "quotient": a / b, "mod": a % b,
        "neg_mod": rem(-a, b), "pow": a * a * a, "trunc": int(a / b), "floor": -a // b,
        "ceil": -(-a // b), "float": 0.1 + 0.2, "rounded": int(2.675 * 100 + 0.5) / 100,
        "half": int((-2.5 + 0.5) // 1), "neg_zero": -0, "max_safe": float(9007199254740991) + 2,
        "tiny": 5e-324, "huge": 1.7976931348623157e308, "nan": float("nan") != float("nan"),
        "inf": 1 if a * INF > 0 else -1, "sqrt": sqrt(3), "min": min(a, b, -1), "max": -INF < -1e308,
        "bits": [a & b, a | b, a ^ b, ~a, a << 3, -a >> 1, (-a & 0xffffffff) >> 28],
    }
`,
    },
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
    policy: {
      javascript: `function decide(input) {
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
      starlark: `def decide(input):
    s = input["text"]
    t = s.strip()
    return {
        "trimmed": t, "upper": t.upper(), "lower": s.lower().strip(),
        "padded": ("000" + "7")[-3:] + "|" + ("ab" + "....")[:4],
        "words": t.split(), "joined": "-".join(t.split(" ")),
        "slice": t[-5:], "sub": t[2:6], "index": s.find("fox"),
        "last": s.rfind("o"), "includes": "lazy" in s, "starts": t.startswith("The"),
        "replaced": s.replace("o", "0").strip(), "repeated": "ab" * 3, "at": t[-1],
        "template": "%d chars, %d o's" % (len(t), s.count("o")),
        "char_codes": "AZaz09".codepoint_ords(), "compare": ["b" < "a", "B" < "a", "10" < "9"],
    }
`,
    },
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
    policy: {
      javascript: `function decide(input) {
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
    spliced: copy, removed, holes: Array.from([1, , 3], (x) => x ?? null),
    empty_slots: Array.from(new Array(2), (x) => x ?? null), keys: [...xs.keys()].length,
    entries: [...['p', 'q'].entries()], joined: [1, null, undefined, 'x'].join('+'),
  };
}`,
      starlark: `def decide(input):
    xs = input["xs"]
    copy = list(xs)
    removed = copy[1:3]
    copy = copy[:1] + ["a", "b", "c"] + copy[3:]
    right = ""
    for x in reversed(xs):
        right += str(x)
    nested = [[1, [2]], [3, [4, [5]]]]
    flat = []
    for a in nested:
        for b in a:
            if type(b) == "list":
                for c in b:
                    flat.append(c)
            else:
                flat.append(b)
    bigger = [x for x in xs if x > 4]
    smaller = [x for x in xs if x < 4]
    return {
        "doubled": [x * 2 for x in xs], "evens": [x for x in xs if x % 2 == 0],
        "total": sum_of(xs), "right": right, "flat": flat,
        "flat_map": [y for x in xs[:3] for y in (x, -x)],
        "found": bigger[0], "found_index": [i for i, x in enumerate(xs) if x > 4][0],
        "last": smaller[-1], "some": any([x > 8 for x in xs]), "every": all([x > 0 for x in xs]),
        "has": 5 in xs, "from": [i * i for i in range(4)], "filled": ["z"] * 3,
        "reversed": list(reversed(xs)), "concat": xs + [10] + [11], "index": xs.index(9),
        "at": xs[-2], "spliced": copy, "removed": removed, "holes": [1, None, 3],
        "empty_slots": [None] * 2, "keys": len(range(len(xs))),
        "entries": [[i, c] for i, c in enumerate(["p", "q"])],
        "joined": "+".join([str(x) if x != None else "" for x in [1, None, None, "x"]]),
    }

def sum_of(xs):
    total = 0
    for x in xs:
        total += x
    return total
`,
    },
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
    policy: {
      javascript: `function decide(input) {
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
      starlark: `def decide(input):
    o = {"2": "two", "10": "ten", "b": 1, "a": 2}
    o.update(input["extra"])
    rest = {k: v for k, v in o.items() if k != "a"}
    merged = dict(o, b = 3)
    merged.pop("a")
    return {
        "keys": list(o.keys()), "values": list(o.values()),
        "entries": [list(kv) for kv in {"x": 1, "y": [2]}.items()],
        "from_entries": dict([("k", 1), ("k", 2), ("j", 3)]), "a": o["a"],
        "missing": o.get("missing", "dflt"), "rest": rest, "merged": merged,
        "has": ["a" in o, hasattr(o, "keys"), "keys" in o],
        "json_keys": "{" + ",".join([json.encode(k) + ":" + json.encode(v) for k, v in o.items()]) + "}",
        "frozen": type(FROZEN) == "dict", "computed": {"k" + str(1): True, str(2 + 3): "five"},
    }

FROZEN = {"q": 1}
`,
    },
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
    policy: {
      javascript: `function decide(input) {
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
      starlark: `def decide(input):
    people = input["people"]
    return {
        "numbers": sorted(input["numbers"]),
        "default_order": sorted(input["numbers"], key = str),
        "strings": sorted(["banana", "Apple", "cherry", "apple", "Banana", "éclair", "zebra"]),
        "by_age": [p["name"] for p in sorted(people, key = lambda p: p["age"])],
        "by_age_desc_then_name": [p["name"] for p in sorted(people, key = lambda p: (-p["age"], p["name"]))],
    }
`,
    },
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
    policy: {
      javascript: `function decide(input) {
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
    policy: {
      javascript: `function decide(input) {
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
    policy: {
      javascript: `function decide(input) {
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
  },
  {
    id: 'nested-data',
    title: 'walk nested data: leaves, depth, paths',
    entry: 'decide',
    input: { a: { b: [1, { c: 2, d: 'x' }], e: null }, f: [[[3]]], g: true },
    expected: { leaves: 6, depth: 4, number_paths: ['$.a.b[0]', '$.a.b[1].c', '$.f[0][0][0]'] },
    policy: {
      javascript: `function decide(input) {
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
      starlark: `def decide(input):
    paths = []
    leaves = 0
    depth = 0
    # Depth-first without recursion: a stack of (node, path, depth), children pushed reversed.
    stack = [(input, "$", 0)]
    for _ in range(10000):
        if not stack:
            break
        node, path, d = stack.pop()
        depth = max(depth, d)
        if type(node) == "dict":
            for key in reversed(list(node.keys())):
                stack.append((node[key], path + "." + key, d + 1))
        elif type(node) == "list":
            for i in reversed(range(len(node))):
                stack.append((node[i], path + "[" + str(i) + "]", d + 1))
        else:
            leaves += 1
            if type(node) in ("int", "float"):
                paths.append(path)
    return {"leaves": leaves, "depth": depth, "number_paths": paths}
`,
    },
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
    policy: {
      javascript: `function greet(name = 'anon', { punct = '!', times = 1 } = {}, ...rest) {
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
      starlark: `def greet(name = "anon", punct = "!", times = 1, *rest):
    text = (str(name) + punct) * times
    return text + (" +" + str(len(rest)) if rest else "")

def decide(input):
    user = input.get("user") or {}
    city = (user.get("address") or {}).get("city")
    nobody = input.get("nobody")
    count = input.get("count")
    return {
        "plain": greet(), "named": greet("ann"), "opts": greet("bo", times = 2),
        "nulls": greet(json.encode(None), punct = "?"), "rest": greet("anon", "!", 1, 1, 2, 3),
        "chained": city if city != None else "unknown",
        "missing": nobody.get("name") if nobody != None else "none",
        "zero": count if count != None else 5, "or": count or 5, "index": input["list"][1],
    }
`,
    },
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
    policy: {
      javascript: `function counter(start) {
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
      starlark: `def counter(start):
    cell = [start]
    def next():
        cell[0] += 1
        return cell[0]
    return struct(next = next, peek = lambda: cell[0])

def memo(fn):
    cache = {}
    misses = [0]
    def wrapped(x):
        if x not in cache:
            misses[0] += 1
            cache[x] = fn(x)
        return cache[x]
    return struct(call = wrapped, misses = lambda: misses[0])

def compose(*fns):
    def composed(x):
        for f in reversed(fns):
            x = f(x)
        return x
    return composed

def decide(input):
    a = counter(10)
    b = counter(input["start"])
    a.next()
    a.next()
    b.next()
    square = memo(lambda x: x * x)
    results = [square.call(x) for x in [3, 4, 3, 3, 5]]
    fns = [lambda i = i: i for i in range(3)]
    return {
        "a": a.peek(), "b": b.peek(), "results": results, "misses": square.misses(),
        "composed": compose(lambda x: x + 1, lambda x: x * 10)(input["start"]),
        "loop_capture": [f() for f in fns],
    }
`,
    },
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
    policy: {
      javascript: `class Shape {
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
      starlark: `COUNT = {"n": 0}

def fixed2(x):
    cents = int(x * 100 + 0.5)
    return "%d.%s" % (cents // 100, ("0" + str(cents % 100))[-2:])

def shape(state, kind, w, h):
    state["n"] += 1
    return struct(kind = kind, id = state["n"], w = w, h = h)

def describe(s):
    text = "%s#%d %s" % ("rect" if s.kind == "Rect" else "square", s.id, fixed2(s.w * s.h))
    return text.upper() if s.kind == "Square" else text

def as_json(s):
    if s.kind == "Square":
        return {"square": s.w}
    return {"name": "rect", "w": s.w, "h": s.h}

def decide(input):
    state = dict(COUNT)
    shapes = [
        shape(state, "Rect", s[0], s[1]) if type(s) == "list" else shape(state, "Square", s, s)
        for s in input["sizes"]
    ]
    return {
        "described": [describe(s) for s in shapes], "ids": [s.id for s in shapes],
        "count": state["n"], "kinds": [[True, s.kind == "Square", s.kind] for s in shapes],
        "json": [as_json(s) for s in shapes], "has_private": list(as_json(shapes[0]).keys()),
    }
`,
    },
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
    policy: {
      javascript: `function decide(input) {
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
      starlark: `def decide(input):
    counts = {}
    for w in input["words"]:
        counts[w] = counts.get(w, 0) + 1
    before = dict(counts)
    seen = {w: True for w in input["words"]}
    obj_key = ("object",)
    by_object = {obj_key: "found"}
    weak = {obj_key: 1}
    a = [1, 2, 3]
    b = [2, 3, 4]
    nan = float("nan")
    deleted = counts.pop("a", None) != None and "a" not in counts
    return {
        "counts": before, "unique": list(seen.keys()), "size": len(seen),
        "object_key": by_object[obj_key], "other_key": by_object.get(("other",)),
        "weak": weak[obj_key], "intersection": [x for x in a if x in b],
        "union": list({x: 1 for x in a + b}.keys()), "nan_key": {str(nan): "nan"}.get(str(nan)),
        "deleted": deleted, "order": list(counts.keys()), "map_json": json.encode(struct()),
    }
`,
    },
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
    policy: {
      javascript: `class PolicyError extends Error {
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
      starlark: `# Starlark has no exceptions: errors are values, and fail() ends the call.
def risky(x):
    if x < 0:
        return struct(error = struct(code = "E_NEG", message = "negative: %d" % x, name = "PolicyError"))
    if x == 0:
        return struct(error = "zero")
    if x > 100:
        return struct(error = struct(type_error = True))
    r = float(x)
    for _ in range(60):
        r = (r + x / r) / 2
    return struct(ok = r)

def decide(input):
    log = []
    results = []
    for x in input["values"]:
        log.append("try %d" % x)
        r = risky(x)
        if hasattr(r, "ok"):
            results.append({"ok": r.ok})
        elif type(r.error) == "string":
            results.append({"thrown": r.error})
        elif hasattr(r.error, "type_error"):
            results.append({"type_error": True, "is_error": True})
        else:
            results.append({"code": r.error.code, "message": r.error.message, "name": r.error.name})
        log.append("finally %d" % x)
    inner = risky(-1)
    rethrown = "wrapped <- " + inner.error.code if hasattr(inner, "error") else None
    return {"results": results, "log": len(log), "rethrown": rethrown}
`,
    },
  },
  {
    id: 'several-entries-score',
    title: 'a policy with several entries: calling the helper entry',
    entry: 'score',
    input: { signals: ['pii', 'secret', 'other'] },
    expected: 14,
    policy: SEVERAL_ENTRIES,
  },
  {
    id: 'several-entries-decide',
    title: 'a policy with several entries: calling decide',
    entry: 'decide',
    input: { signals: ['profanity', 'pii'] },
    expected: { score: 7, label: 'medium', helper_count: 2 },
    policy: SEVERAL_ENTRIES,
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
    policy: {
      javascript: `function decide(input) {
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
      starlark: String.raw`WORD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
SECRETS = ["api_key", "api-key", "apikey", "password"]

def has_word(text, word):
    # A case-insensitive whole-word search: what /\b(api[_-]?key|password)\b/i does.
    lower = text.lower()
    start = lower.find(word)
    for _ in range(len(lower) + 1):
        if start < 0:
            return False
        end = start + len(word)
        before = start == 0 or lower[start - 1] not in WORD
        after = end == len(lower) or lower[end] not in WORD
        if before and after:
            return True
        start = lower.find(word, start + 1)
    return False

def decide(input):
    now = input["now_ms"]
    recent = [e for e in input["history"] if now - e["created_at_ms"] <= input["window_ms"]]
    by_kind = {}
    for e in recent:
        by_kind[e["kind"]] = by_kind.get(e["kind"], 0) + 1
    tools = [e["key"] for e in recent if e["kind"] == "tool_call"]
    longest = 0
    run = 0
    for i, t in enumerate(tools):
        run = run + 1 if i > 0 and t == tools[i - 1] else 1
        longest = max(longest, run)
    secrets = [e["sequence"] for e in recent if any([has_word(e["text"], w) for w in SECRETS])]
    level = "critical" if secrets else "warning" if longest >= 3 else "info"
    return {
        "considered": len(recent), "by_kind": by_kind, "longest_tool_run": longest,
        "secret_sequences": secrets, "level": level,
    }
`,
    },
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
    policy: {
      javascript: `function decide(input) {
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
      starlark: String.raw`# No regular expressions in Starlark: a small matcher for the patterns the rules use
# (literal characters, \s, [a-z0-9] classes, and the + and {n} quantifiers), greedy without
# backtracking, case-insensitive.
ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"

def tokens(pattern):
    out = []
    i = 0
    for _ in range(len(pattern)):
        if i >= len(pattern):
            break
        c = pattern[i]
        if c == "\\":
            item = {"s": " \t\n\r"}.get(pattern[i + 1], pattern[i + 1])
            i += 2
        elif c == "[":
            end = pattern.index("]", i)
            body = pattern[i + 1:end]
            item = ""
            j = 0
            for _ in range(len(body)):
                if j >= len(body):
                    break
                if j + 2 < len(body) and body[j + 1] == "-":
                    item += ALNUM[ALNUM.index(body[j]):ALNUM.index(body[j + 2]) + 1]
                    j += 3
                else:
                    item += body[j]
                    j += 1
            i = end + 1
        else:
            item = c
            i += 1
        lo, hi = 1, 1
        if i < len(pattern) and pattern[i] == "+":
            lo, hi = 1, 1000000
            i += 1
        elif i < len(pattern) and pattern[i] == "{":
            end = pattern.index("}", i)
            lo = int(pattern[i + 1:end])
            hi = lo
            i = end + 1
        out.append((item, lo, hi))
    return out

def match_at(toks, text, start):
    pos = start
    for chars, lo, hi in toks:
        n = 0
        for _ in range(hi):
            if pos + n < len(text) and text[pos + n] in chars:
                n += 1
            else:
                break
        if n < lo:
            return -1
        pos += n
    return pos

def search(toks, text):
    lower = text.lower()
    for start in range(len(lower)):
        end = match_at(toks, lower, start)
        if end >= 0:
            return (start, end)
    return None

def decide(input):
    patterns = [(r["id"], tokens(r["pattern"])) for r in input["rules"]]
    window = ""
    offset = 0
    for i, chunk in enumerate(input["chunks"]):
        window += chunk
        if len(window) > input["window_chars"]:
            cut = len(window) - input["window_chars"]
            offset += cut
            window = window[cut:]
        for id, toks in patterns:
            m = search(toks, window)
            if m != None:
                return {"triggered": id, "chunk": i, "start": offset + m[0], "end": offset + m[1], "text": window[m[0]:m[1]]}
    return {"triggered": None, "scanned": offset + len(window)}
`,
    },
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
    policy: {
      javascript: `function decide(input) {
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
      starlark: `def decide(input):
    errors = []
    doc = json.decode(input["output"])
    total = 0
    for it in doc["items"]:
        total += it["qty"] * it["unit_cents"]
    if total != doc["total_cents"]:
        shown = int(total) if total == int(total) else total
        errors.append({"path": "$.total_cents", "message": "expected %s, got %s" % (shown, doc["total_cents"])})
    for i, it in enumerate(doc["items"]):
        if it["sku"] not in ["book", "pen", "bag"]:
            errors.append({"path": "$.items[%d].sku" % i, "message": "unknown sku " + it["sku"]})
        if type(it["qty"]) != "int" or it["qty"] < 1:
            errors.append({"path": "$.items[%d].qty" % i, "message": "must be a positive integer"})
    if not (doc["ship_after"] < doc["ship_before"]):
        errors.append({"path": "$.ship_before", "message": "must be after ship_after"})
    country = doc["country"]
    if not (len(country) == 2 and all([c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for c in country.elems()])):
        errors.append({"path": "$.country", "message": "two capital letters"})
    return {"valid": len(errors) == 0, "errors": errors}
`,
    },
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
    policy: {
      javascript: `function decide(input) {
  const banned = ['rm -rf', 'drop table'];
  const hit = banned.find((b) => input.last_user_message.toLowerCase().includes(b));
  if (hit === undefined) return { actions: [] };
  return { actions: [{ action: 'block', reason: 'banned phrase: ' + hit, message: 'blocked by policy' }] };
}`,
      starlark: `BANNED = ["rm -rf", "drop table"]

def decide(input):
    text = input["last_user_message"].lower()
    hits = [b for b in BANNED if b in text]
    if not hits:
        return {"actions": []}
    return {"actions": [{"action": "block", "reason": "banned phrase: " + hits[0], "message": "blocked by policy"}]}
`,
    },
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
    policy: {
      javascript: `function decide(input) {
  const actions = [];
  if (input.estimated_prompt_tokens > 8000) actions.push({ action: 'restrict_routes', allowed_targets: ['large/ctx'] });
  if (input.caller.tenant_id === 'acme') actions.push({ action: 'alert', severity: 'warning', message: 'acme request', idempotency_key: 'acme-' + input.now_ms });
  actions.push({ action: 'annotate', message: 'tokens=' + input.estimated_prompt_tokens });
  return { actions };
}`,
      starlark: `def decide(input):
    actions = []
    if input["estimated_prompt_tokens"] > 8000:
        actions.append({"action": "restrict_routes", "allowed_targets": ["large/ctx"]})
    if input["caller"]["tenant_id"] == "acme":
        actions.append({"action": "alert", "severity": "warning", "message": "acme request", "idempotency_key": "acme-%d" % input["now_ms"]})
    actions.append({"action": "annotate", "message": "tokens=%d" % input["estimated_prompt_tokens"]})
    return {"actions": actions}
`,
    },
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
    policy: {
      javascript: `function decide(input) {
  return { actions: input.messages.some((m) => m.role === 'tool') ? [{ action: 'annotate', message: 'tool' }] : [] };
}`,
      starlark: `def decide(input):
    tool = any([m["role"] == "tool" for m in input["messages"]])
    return {"actions": [{"action": "annotate", "message": "tool"}] if tool else []}
`,
    },
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
    policy: {
      javascript: `function decide() {
  return {
    fixed: [(1.005).toFixed(2), (123.456).toFixed(1), (0).toFixed(3), (-1.5).toFixed(0)],
    precision: [(123.456).toPrecision(4), (0.000123).toPrecision(2)], exponential: (12345).toExponential(2),
    radix: [(255).toString(16), (255).toString(2), (-7).toString(3)], big: [String(1e21), String(123e-20), String(2 ** 53)],
    parsed: [parseInt('08'), parseInt('0x1f'), parseInt('12px'), parseFloat('3.14abc'), Number(''), Number(' 42 '), Number('1e3')],
    is: [Number.isInteger(5.0), Number.isSafeInteger(2 ** 53), Number.isNaN('x'), isNaN('x')], shortest: [0.1 * 3, 1 / 3, 100 / 3, 5e-7],
  };
}`,
    },
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
    policy: {
      javascript: `function* range(start, end, step = 1) {
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
      starlark: `def decide(input):
    evens = list(range(0, input["n"], 2))
    it = list(range(0, 3))
    steps = [{"value": v, "done": False} for v in it] + [{"done": True}]
    custom = [c for c in range(1, 5)]
    pairs = [k + str(v) for k, v in {"x": 1, "y": 2}.items()]
    labelled = 0
    stop = False
    for i in range(5):
        if stop:
            break
        for j in range(5):
            if j > i:
                break
            if i == 4:
                stop = True
                break
            labelled += 1
    switched = []
    for x in [1, 2, 3, 9]:
        if x == 1:
            switched.append("one")
        if x in (1, 2):
            switched.append("two")
        elif x == 3:
            switched.append("three")
        else:
            switched.append("other")
    return {"evens": evens, "steps": steps, "custom": custom, "pairs": pairs, "labelled": labelled, "switched": switched}
`,
    },
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
    policy: {
      javascript: `function fib(n, memo = {}) {
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
      starlark: `# Recursion is off by default in Starlark: the same results, computed iteratively.
def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a

def permutations(xs):
    perms = [[]]
    for x in xs:
        perms = [p[:i] + [x] + p[i:] for p in perms for i in range(len(p) + 1)]
    return sorted(["".join(p) for p in perms])

def flatten(tree):
    out = []
    stack = [tree]
    for _ in range(10000):
        if not stack:
            break
        node = stack.pop()
        out.append(node["name"])
        stack.extend(reversed(node.get("children", [])))
    return out

def decide(input):
    return {"fib": fib(input["n"]), "perms": permutations(["a", "b", "c"]), "tree": flatten(input["tree"])}
`,
    },
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
    policy: {
      javascript: `function decide(input) {
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
      starlark: `def decide(input):
    groups = {}
    for r in input["rows"]:
        g = groups.setdefault(r["team"], {"team": r["team"], "total": 0, "n": 0, "best": None})
        g["total"] += r["points"]
        g["n"] += 1
        if g["best"] == None or r["points"] > g["best"]["points"]:
            g["best"] = {"name": r["name"], "points": r["points"]}
    ranked = [dict(g, mean = int(g["total"] / g["n"] * 100 + 0.5) / 100) for g in groups.values()]
    ranked = sorted(ranked, key = lambda g: (-g["total"], g["team"]))
    return {"ranked": ranked, "teams": len(ranked)}
`,
    },
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
    policy: {
      javascript: `function decide(input) {
  const buckets = {};
  for (const t of input.events_ms) {
    const age = Math.floor((input.now_ms - t) / 60000);
    if (age < 0 || age >= input.minutes) continue;
    buckets[age] = (buckets[age] || 0) + 1;
  }
  const per_minute = Array.from({ length: input.minutes }, (_, i) => buckets[i] || 0);
  return { per_minute, burst: per_minute.some((n) => n >= input.burst) };
}`,
      starlark: `def decide(input):
    buckets = {}
    for t in input["events_ms"]:
        age = (input["now_ms"] - t) // 60000
        if age < 0 or age >= input["minutes"]:
            continue
        buckets[age] = buckets.get(age, 0) + 1
    per_minute = [buckets.get(i, 0) for i in range(input["minutes"])]
    return {"per_minute": per_minute, "burst": any([n >= input["burst"] for n in per_minute])}
`,
    },
  },
  {
    id: 'strict-mode',
    title: 'policies run in strict mode, like the reference backend',
    entry: 'decide',
    input: null,
    expected: { this_undefined: true, assignThrows: true, undeclaredThrows: true },
    policy: {
      javascript: `function decide() {
  const frozen = Object.freeze({ a: 1 });
  let assignThrows = false;
  try { frozen.a = 2; } catch (e) { assignThrows = e instanceof TypeError; }
  let undeclaredThrows = false;
  try { undeclaredVariable = 1; } catch (e) { undeclaredThrows = e instanceof ReferenceError; }
  return { this_undefined: (function () { return this === undefined; })(), assignThrows, undeclaredThrows };
}`,
    },
  },
  {
    id: 'json-output-rules',
    title:
      'output is exact JSON: a property without a value is left out, toJSON applies, boxed values unbox, -0 is 0',
    entry: 'decide',
    input: null,
    expected: {
      kept: 1,
      list: [null, 0],
      nested: { deep: 'via toJSON' },
      boxed: [3, 's', false],
    },
    policy: {
      javascript: `function decide() {
  return {
    kept: 1, left_out: undefined, list: [null, -0],
    nested: { deep: { toJSON() { return 'via toJSON'; } } },
    boxed: [new Number(3), new String('s'), new Boolean(false)],
  };
}`,
      starlark: `# Starlark's output rules: tuples become arrays, structs objects, None null; -0.0 is 0.
def decide(input):
    return {
        "kept": 1, "list": (None, -0.0),
        "nested": struct(deep = "via toJSON"), "boxed": (3, "s", False),
    }
`,
    },
  },
];

export const corpus: readonly CorpusPolicy[] = Object.freeze(policies);
