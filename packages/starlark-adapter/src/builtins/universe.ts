import { runtimeError, StarlarkError } from '../errors.ts';
import { Builtin, type BuiltinImpl, callValue } from '../eval/function.ts';
import { charge, thread, work } from '../limits/thread.ts';
import * as I from '../values/ints.ts';
import { compare, isInt, iterate, len } from '../values/ops.ts';
import { repr, str } from '../values/repr.ts';
import {
  SBytes,
  SDict,
  SFloat,
  SList,
  SRange,
  SSet,
  SStruct,
  STuple,
  truth,
  typeName,
  type Value,
} from '../values/values.ts';
import { bind, noKw, wantInt, wantString } from './args.ts';
import { jsonModule } from './json.ts';
import { attr, attrNames, hasAttr, updateDict } from './methods.ts';

function b(name: string, f: BuiltinImpl): [string, Builtin] {
  return [name, new Builtin(name, f)];
}

function iterArg(fname: string, v: Value | undefined): readonly Value[] {
  if (
    v === undefined ||
    v === null ||
    !(
      v instanceof SList ||
      v instanceof STuple ||
      v instanceof SDict ||
      v instanceof SSet ||
      v instanceof SRange ||
      v instanceof SBytes
    )
  )
    throw runtimeError(
      `${fname}: for parameter 1: got ${typeName(v ?? null)}, want iterable (type '${typeName(v ?? null)}' is not iterable)`,
    );
  if (v instanceof SBytes) {
    charge(8 * v.b.length + 32);
    work(v.b.length);
    return [...v.b];
  }
  const items = iterate(v);
  // Every builtin that takes an iterable goes over all of it: that work is charged up front.
  work(items.length);
  return items;
}

/** Java's String.hashCode, which starlark-go and starlark-java both use for strings. */
function stringHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

const INT_DIGITS = /^[0-9a-z]+$/;

function parseIntString(s0: string, base: number | undefined): Value {
  const bad = (): never => {
    throw runtimeError(`int: invalid literal with base ${base ?? 10}: ${JSON.stringify(s0)}`);
  };
  let s = s0.toLowerCase();
  let neg = false;
  if (s.startsWith('+') || s.startsWith('-')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  let b = base ?? 10;
  const prefixBase = s.startsWith('0x') ? 16 : s.startsWith('0o') ? 8 : s.startsWith('0b') ? 2 : 0;
  if (b === 0) {
    if (prefixBase) {
      b = prefixBase;
      s = s.slice(2);
    } else {
      b = 10;
      if (s.length > 1 && s[0] === '0' && !/^0+$/.test(s)) bad();
    }
  } else if (prefixBase && prefixBase === b && base !== undefined) s = s.slice(2);
  s = s.replace(/_/g, (m, i: number) => (i > 0 && base === 0 ? '' : m));
  if (s === '' || !INT_DIGITS.test(s)) return bad();
  // Every digit must be below the base: one linear scan (a regex per base would do as well).
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const d = c <= 57 ? c - 48 : c - 87;
    if (d >= b) return bad();
  }
  return I.parseDigits(s, b, neg);
}

function toInt(args: Value[], kw: [string, Value][] | null): Value {
  const [x, baseV] = bind('int', ['$x', 'base?'], args, kw);
  if (baseV !== undefined) {
    if (typeof x !== 'string')
      throw runtimeError("int: can't convert non-string with explicit base");
    if (typeof baseV !== 'number')
      throw runtimeError(`int: base must be an integer, not ${typeName(baseV)}`);
    if (baseV !== 0 && (baseV < 2 || baseV > 36))
      throw runtimeError('int: base must be an integer >= 2 && <= 36');
    return parseIntString(x, baseV);
  }
  if (typeof x === 'string') return parseIntString(x, undefined);
  if (isInt(x!)) return x!;
  if (typeof x === 'boolean') return x ? 1 : 0;
  if (x instanceof SFloat) {
    if (!Number.isFinite(x.v))
      throw runtimeError(`int: cannot convert float ${reprF(x.v)} to integer`);
    const t = Math.trunc(x.v);
    return Number.isSafeInteger(t) ? t + 0 : I.norm(BigInt(t));
  }
  throw runtimeError(
    `int: got ${typeName(x ?? null)}, want int, float, bool or string (None is not a number)`,
  );
}

function reprF(x: number): string {
  return repr(new SFloat(x));
}

function toFloat(args: Value[], kw: [string, Value][] | null): Value {
  const [x] = bind('float', ['$x?'], args, kw);
  if (x === undefined) return new SFloat(0);
  if (x instanceof SFloat) return x;
  if (typeof x === 'boolean') return new SFloat(x ? 1 : 0);
  if (isInt(x)) return new SFloat(I.toFloat(x));
  if (typeof x === 'string') {
    const t = x.toLowerCase();
    if (/^[+-]?(inf|infinity)$/.test(t))
      return new SFloat(t.startsWith('-') ? -Infinity : Infinity);
    if (/^[+-]?nan$/.test(t)) return new SFloat(Number.NaN);
    if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t))
      throw runtimeError(`float: invalid float literal: ${JSON.stringify(x)}`);
    const v = Number(t);
    if (!Number.isFinite(v)) throw runtimeError(`float: floating-point number too large: ${x}`);
    return new SFloat(v);
  }
  throw runtimeError(`float: got ${typeName(x)}, want number or string`);
}

function minmax(name: string, sign: number): BuiltinImpl {
  return (args, kw) => {
    let key: Value = null;
    let dflt: Value | undefined;
    if (kw !== null)
      for (const [k, v] of kw) {
        if (k === 'key') key = v;
        else if (k === 'default') dflt = v;
        else throw runtimeError(`${name}: unexpected keyword argument '${k}'`);
      }
    if (args.length === 0) throw runtimeError(`${name}: expected at least one item`);
    const items = args.length === 1 ? iterArg(name, args[0]) : args;
    if (items.length === 0) {
      if (dflt !== undefined) return dflt;
      throw runtimeError(`${name}: expected at least one item (empty sequence)`);
    }
    let best = items[0]!;
    let bestKey = key === null ? best : callValue(key, [best], null);
    for (let i = 1; i < items.length; i++) {
      const v = items[i]!;
      const k = key === null ? v : callValue(key, [v], null);
      if (compare(k, bestKey) * sign > 0) {
        best = v;
        bestKey = k;
      }
    }
    return best;
  };
}

function rangeOf(args: Value[], kw: [string, Value][] | null): SRange {
  noKw('range', kw);
  if (args.length < 1 || args.length > 3)
    throw runtimeError(`range: got ${args.length} arguments, want 1 to 3`);
  const nums = args.map((a, i) => wantInt('range', `${i + 1}`, a));
  let start = 0;
  let stop: number;
  let step = 1;
  if (nums.length === 1) stop = nums[0]!;
  else {
    start = nums[0]!;
    stop = nums[1]!;
    if (nums.length === 3) step = nums[2]!;
  }
  if (step === 0) throw runtimeError('range: step argument must not be zero');
  return new SRange(start, stop, step);
}

function structOf(args: Value[], kw: [string, Value][] | null): Value {
  if (args.length > 0) throw runtimeError('struct: unexpected positional arguments');
  const m = new Map<string, Value>();
  for (const [k, v] of kw ?? []) m.set(k, v);
  charge(32 * m.size + 32);
  return new SStruct(m);
}

function sortedOf(args: Value[], kw: [string, Value][] | null): Value {
  const [it, key, reverse] = bind('sorted', ['$iterable', 'key?', 'reverse?'], args, kw);
  const items = [...iterArg('sorted', it)];
  charge(8 * items.length + 32);
  // n log n comparisons, most of them in the engine's sort where no deadline is read.
  work(items.length * Math.ceil(Math.log2(items.length + 1)));
  const rev = reverse !== undefined && truth(reverse);
  if (key !== undefined && key !== null) {
    const keys = items.map((v) => callValue(key, [v], null));
    const idx = items.map((_, i) => i);
    const sign = rev ? -1 : 1;
    if (keys.every((k) => typeof k === 'number')) {
      const nk = keys as number[];
      idx.sort((a, b) => sign * (nk[a]! - nk[b]!));
    } else idx.sort((a, b) => sign * compare(keys[a]!, keys[b]!));
    return new SList(idx.map((i) => items[i]!));
  }
  const sign = rev ? -1 : 1;
  if (items.every((v) => typeof v === 'number')) (items as number[]).sort((a, b) => sign * (a - b));
  else if (items.every((v) => typeof v === 'string'))
    (items as string[]).sort((a, b) => (a < b ? -sign : a > b ? sign : 0));
  else items.sort((a, b) => sign * compare(a, b));
  return new SList(items);
}

function dirOf(args: Value[], kw: [string, Value][] | null): Value {
  const [x] = bind('dir', ['$x'], args, kw);
  return new SList(attrNames(x!));
}

function printImpl(args: Value[], kw: [string, Value][] | null): Value {
  let sep = ' ';
  if (kw !== null)
    for (const [k, v] of kw) {
      if (k === 'sep') sep = wantString('print', 'sep', v);
      else throw runtimeError(`print: unexpected keyword argument '${k}'`);
    }
  const line = args.map(str).join(sep);
  const t = thread();
  t.printed += line.length + 1;
  if (t.printed > t.maxOutput)
    throw new StarlarkError('memory_limit', `print output exceeds ${t.maxOutput} characters`);
  t.print(line);
  return null;
}

function failImpl(args: Value[], kw: [string, Value][] | null): Value {
  let sep = ' ';
  if (kw !== null)
    for (const [k, v] of kw) {
      if (k === 'sep') sep = wantString('fail', 'sep', v);
      else if (k !== 'attr') throw runtimeError(`fail: unexpected keyword argument '${k}'`);
    }
  throw runtimeError(`fail: ${args.map(str).join(sep)}`);
}

function bytesOf(args: Value[], kw: [string, Value][] | null): Value {
  const [x] = bind('bytes', ['$x'], args, kw);
  if (typeof x === 'string') return new SBytes(new TextEncoder().encode(x));
  if (x instanceof SBytes) return x;
  const out: number[] = [];
  for (const v of iterArg('bytes', x)) {
    if (typeof v !== 'number' || v < 0 || v > 255)
      throw runtimeError(`bytes: ${repr(v)} out of range, want 0 to 255`);
    out.push(v);
  }
  return new SBytes(Uint8Array.from(out));
}

function boolArg(name: string, args: Value[], kw: [string, Value][] | null): Value {
  const [x] = bind(name, ['$x?'], args, kw);
  return x === undefined ? false : truth(x);
}

export function makeUniverse(options: { set: boolean }): Map<string, Value> {
  const u = new Map<string, Value>([
    ['None', null],
    ['True', true],
    ['False', false],
    b('abs', (args, kw) => {
      const [x] = bind('abs', ['$x'], args, kw);
      if (isInt(x!)) return x! < 0 ? I.neg(x as number | bigint) : x!;
      if (x instanceof SFloat) return new SFloat(Math.abs(x.v));
      throw runtimeError(`abs: got ${typeName(x!)}, want int or float`);
    }),
    b('all', (args, kw) => {
      const [x] = bind('all', ['$x'], args, kw);
      for (const v of iterArg('all', x)) if (!truth(v)) return false;
      return true;
    }),
    b('any', (args, kw) => {
      const [x] = bind('any', ['$x'], args, kw);
      for (const v of iterArg('any', x)) if (truth(v)) return true;
      return false;
    }),
    b('bool', (args, kw) => boolArg('bool', args, kw)),
    b('bytes', bytesOf),
    b('dict', (args, kw) => {
      if (args.length > 1)
        throw runtimeError(`dict: got ${args.length} positional arguments, want at most 1`);
      const d = new SDict();
      updateDict(d, args[0], kw, 'dict');
      return d;
    }),
    b('dir', dirOf),
    b('enumerate', (args, kw) => {
      const [x, start] = bind('enumerate', ['$x', 'start?'], args, kw);
      let i = start === undefined ? 0 : wantInt('enumerate', 'start', start);
      const items = iterArg('enumerate', x);
      charge(56 * items.length + 32);
      return new SList(items.map((v) => new STuple([i++, v])));
    }),
    b('fail', failImpl),
    b('float', toFloat),
    b('getattr', (args, kw) => {
      const [x, name, dflt] = bind('getattr', ['$x', '$name', '$default?'], args, kw);
      const n = wantString('getattr', 'name', name);
      if (dflt !== undefined && !hasAttr(x!, n)) return dflt;
      return attr(x!, n);
    }),
    b('hasattr', (args, kw) => {
      const [x, name] = bind('hasattr', ['$x', '$name'], args, kw);
      return hasAttr(x!, wantString('hasattr', 'name', name));
    }),
    b('hash', (args, kw) => {
      const [x] = bind('hash', ['$x'], args, kw);
      if (typeof x === 'string') {
        work(x.length);
        return stringHash(x);
      }
      if (x instanceof SBytes) {
        work(x.b.length);
        let text = '';
        for (let i = 0; i < x.b.length; i += 4096) {
          text += String.fromCharCode(...x.b.subarray(i, i + 4096));
        }
        return stringHash(text);
      }
      throw runtimeError(`hash: got ${typeName(x!)}, want string or bytes`);
    }),
    b('int', toInt),
    b('len', (args, kw) => {
      const [x] = bind('len', ['$x'], args, kw);
      const n = len(x!);
      if (n < 0) throw runtimeError(`len: value of type ${typeName(x!)} has no len`);
      return n;
    }),
    b('list', (args, kw) => {
      const [x] = bind('list', ['$x?'], args, kw);
      if (x === undefined) return new SList([]);
      const items = iterArg('list', x);
      charge(8 * items.length + 32);
      return new SList([...items]);
    }),
    b('max', minmax('max', 1)),
    b('min', minmax('min', -1)),
    b('print', printImpl),
    b('range', rangeOf),
    b('repr', (args, kw) => {
      const [x] = bind('repr', ['$x'], args, kw);
      const s = repr(x!);
      charge(2 * s.length + 16);
      return s;
    }),
    b('reversed', (args, kw) => {
      const [x] = bind('reversed', ['$sequence'], args, kw);
      const items = iterArg('reversed', x);
      charge(8 * items.length + 32);
      return new SList([...items].reverse());
    }),
    b('sorted', sortedOf),
    b('str', (args, kw) => {
      if (kw === null && args.length === 1) {
        const v = args[0]!;
        if (typeof v === 'string') return v;
        if (typeof v === 'number') {
          const s = String(v);
          charge(2 * s.length + 16);
          return s;
        }
      }
      const [x] = bind('str', ['$x'], args, kw);
      const s = str(x!);
      charge(2 * s.length + 16);
      return s;
    }),
    b('tuple', (args, kw) => {
      const [x] = bind('tuple', ['$x?'], args, kw);
      if (x === undefined) return new STuple([]);
      if (x instanceof STuple) return x;
      const items = iterArg('tuple', x);
      charge(8 * items.length + 32);
      return new STuple([...items]);
    }),
    b('type', (args, kw) => {
      const [x] = bind('type', ['$x'], args, kw);
      return typeName(x!);
    }),
    b('zip', (args, kw) => {
      noKw('zip', kw);
      const seqs = args.map((a) => iterArg('zip', a));
      const n = seqs.length === 0 ? 0 : Math.min(...seqs.map((s) => s.length));
      charge((8 * seqs.length + 32) * n + 32);
      const out: Value[] = [];
      for (let i = 0; i < n; i++) out.push(new STuple(seqs.map((s) => s[i]!)));
      return new SList(out);
    }),
    b('struct', structOf),
    ['json', jsonModule],
  ]);
  if (options.set)
    u.set(
      'set',
      new Builtin('set', (args, kw) => {
        const [x] = bind('set', ['$x?'], args, kw);
        const s = new SSet();
        if (x !== undefined) for (const v of iterArg('set', x)) s.add(v);
        charge(32 * s.m.size + 32);
        return s;
      }),
    );
  return u;
}
