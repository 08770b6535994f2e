import { runtimeError } from '../errors.ts';
import { Builtin, type BuiltinImpl, type Kwargs } from '../eval/function.ts';
import { affordable, charge, clock, poll, thread, work } from '../limits/thread.ts';
import { equal, iterate, toIndex } from '../values/ops.ts';
import { Builder, repr } from '../values/repr.ts';
import {
  keyOf,
  SBytes,
  SDict,
  SList,
  SModule,
  SSet,
  SStruct,
  STuple,
  typeName,
  type Value,
} from '../values/values.ts';
import { bind, noKw, optInt, wantInt, wantString } from './args.ts';
import { formatMethod } from './format.ts';

type Table = Map<string, BuiltinImpl>;

const strMethods: Table = new Map();
const listMethods: Table = new Map();
const dictMethods: Table = new Map();
const setMethods: Table = new Map();
const bytesMethods: Table = new Map();

/** The method implementation for `recv.name`, or undefined. */
export function method(recv: Value, name: string): BuiltinImpl | undefined {
  if (typeof recv === 'string') return strMethods.get(name);
  if (recv instanceof SList) return listMethods.get(name);
  if (recv instanceof SDict) return dictMethods.get(name);
  if (recv instanceof SSet) return setMethods.get(name);
  if (recv instanceof SBytes) return bytesMethods.get(name);
  return undefined;
}

/** A call site's method implementations by receiver type, looked up once at compile time. */
export function methodsNamed(name: string): {
  str: BuiltinImpl | undefined;
  list: BuiltinImpl | undefined;
  dict: BuiltinImpl | undefined;
} {
  return { str: strMethods.get(name), list: listMethods.get(name), dict: dictMethods.get(name) };
}

export function attr(recv: Value, name: string): Value {
  const m = method(recv, name);
  if (m !== undefined) return new Builtin(name, m, recv);
  if (recv instanceof SStruct) {
    const v = recv.fields.get(name);
    if (v !== undefined) return v;
  } else if (recv instanceof SModule) {
    const v = recv.members.get(name);
    if (v !== undefined) return v;
  }
  const hint = suggest(name, attrNames(recv));
  throw runtimeError(
    `${typeName(recv)} has no .${name} field or method${hint ? ` (did you mean .${hint}?)` : ''}`,
  );
}

/** The closest known name, for "did you mean" hints. */
function suggest(name: string, names: string[]): string | null {
  const norm = (s: string): string => s.toLowerCase().replace(/_/g, '');
  let best: string | null = null;
  let bestD = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const n of names) {
    const d = norm(n) === norm(name) ? 0 : distance(n, name);
    if (d < bestD) {
      bestD = d;
      best = n;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(
        prev[j]! + 1,
        cur[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    prev = cur;
  }
  return prev[b.length]!;
}

export function hasAttr(recv: Value, name: string): boolean {
  if (method(recv, name) !== undefined) return true;
  if (recv instanceof SStruct) return recv.fields.has(name);
  if (recv instanceof SModule) return recv.members.has(name);
  return false;
}

export function attrNames(recv: Value): string[] {
  let t: Table | undefined;
  if (typeof recv === 'string') t = strMethods;
  else if (recv instanceof SList) t = listMethods;
  else if (recv instanceof SDict) t = dictMethods;
  else if (recv instanceof SSet) t = setMethods;
  else if (recv instanceof SBytes) t = bytesMethods;
  if (t) return [...t.keys()].sort();
  if (recv instanceof SStruct) return [...recv.fields.keys()].sort();
  if (recv instanceof SModule) return [...recv.members.keys()].sort();
  return [];
}

function def(t: Table, name: string, f: BuiltinImpl): void {
  t.set(name, f);
}

// ---- strings -------------------------------------------------------------------------

function s(self: Value): string {
  return self as string;
}

/** Python-style [start:end] bounds for find/count/startswith. */
function bounds(
  n: number,
  start: Value | undefined,
  end: Value | undefined,
  fname: string,
): [number, number] {
  const norm = (v: Value | undefined, d: number): number => {
    if (v === undefined || v === null) return d;
    let i = toIndex(v, `${fname}: index`);
    if (i < 0) i += n;
    return i < 0 ? 0 : Math.min(i, n);
  };
  return [norm(start, 0), norm(end, n)];
}

function findImpl(name: string, last: boolean, raise: boolean): BuiltinImpl {
  return (args, kw, self) => {
    const [sub, start, end] = bind(name, ['sub', 'start?', 'end?'], args, kw);
    const str = s(self);
    const needle = wantString(name, 'sub', sub);
    const whole = (start === undefined || start === null) && (end === undefined || end === null);
    const [a, b] = whole ? [0, str.length] : bounds(str.length, start, end, name);
    work(b - a);
    const hay = whole ? str : str.slice(a, b);
    const i = last ? hay.lastIndexOf(needle) : hay.indexOf(needle);
    if (i < 0) {
      if (raise) throw runtimeError(`${name}: substring ${JSON.stringify(needle)} not found`);
      return -1;
    }
    return i + a;
  };
}
def(strMethods, 'find', findImpl('find', false, false));
def(strMethods, 'rfind', findImpl('rfind', true, false));
def(strMethods, 'index', findImpl('index', false, true));
def(strMethods, 'rindex', findImpl('rindex', true, true));

def(strMethods, 'count', (args, kw, self) => {
  const [sub, start, end] = bind('count', ['sub', 'start?', 'end?'], args, kw);
  const needle = wantString('count', 'sub', sub);
  const str = s(self);
  const [a, b] = bounds(str.length, start, end, 'count');
  const hay = str.slice(a, b);
  if (needle === '') return hay.length + 1;
  work(hay.length);
  let n = 0;
  let i = 0;
  while (true) {
    const j = hay.indexOf(needle, i);
    if (j < 0) return n;
    n++;
    poll();
    i = j + needle.length;
  }
});

function affix(name: string, ends: boolean): BuiltinImpl {
  return (args, kw, self) => {
    if (kw === null && args.length === 1 && typeof args[0] === 'string') {
      // The common case: one string, no bounds.
      const str = self as string;
      work(args[0].length);
      return ends ? str.endsWith(args[0]) : str.startsWith(args[0]);
    }
    const [x, start, end] = bind(name, ['prefix', 'start?', 'end?'], args, kw);
    const str = s(self);
    const whole = (start === undefined || start === null) && (end === undefined || end === null);
    const hay = whole ? str : str.slice(...bounds(str.length, start, end, name));
    const test = (p: Value, i: number): boolean => {
      if (typeof p !== 'string')
        throw runtimeError(
          i < 0
            ? `${name}: got ${typeName(p)}, want string or tuple of strings (expected string)`
            : `${name}: got ${typeName(p)}, for element ${i}: want string`,
        );
      work(p.length);
      return ends ? hay.endsWith(p) : hay.startsWith(p);
    };
    if (x instanceof STuple) {
      work(x.items.length);
      let found = false;
      x.items.forEach((p, i) => {
        if (test(p, i)) found = true;
      });
      return found;
    }
    return test(x ?? null, -1);
  };
}
def(strMethods, 'startswith', affix('startswith', false));
def(strMethods, 'endswith', affix('endswith', true));

function noArgs(name: string, f: (str: string) => Value): BuiltinImpl {
  return (args, kw, self) => {
    if (args.length > 0 || (kw !== null && kw.length > 0))
      throw runtimeError(`${name}: got ${args.length} arguments, want none`);
    return f(s(self));
  };
}

function charge2(str: string): string {
  charge(2 * str.length + 16);
  return str;
}

/**
 * A string's case changed, charged: the result is about as long as the string (a few characters
 * grow under case mapping, ß → SS), so that much is refused before it is built and the exact
 * length charged after.
 */
function recase(x: string, f: (x: string) => string): string {
  affordable(2 * x.length + 16);
  work(x.length);
  return charge2(f(x));
}

def(
  strMethods,
  'lower',
  noArgs('lower', (x) => recase(x, (y) => y.toLowerCase())),
);
def(
  strMethods,
  'upper',
  noArgs('upper', (x) => recase(x, (y) => y.toUpperCase())),
);
def(
  strMethods,
  'capitalize',
  noArgs('capitalize', (x) =>
    recase(x, (y) => y.slice(0, 1).toUpperCase() + y.slice(1).toLowerCase()),
  ),
);
def(
  strMethods,
  'title',
  noArgs('title', (x) =>
    recase(x, (y) => {
      const out = new Builder(true);
      let piece = '';
      let prevLetter = false;
      for (const ch of y) {
        const isLetter = ch.toLowerCase() !== ch.toUpperCase();
        piece += isLetter ? (prevLetter ? ch.toLowerCase() : ch.toUpperCase()) : ch;
        prevLetter = isLetter;
        if (piece.length >= 1024) {
          out.add(piece);
          piece = '';
          clock();
        }
      }
      out.add(piece);
      return out.done();
    }),
  ),
);
const cased = (ch: string): boolean => ch.toLowerCase() !== ch.toUpperCase();
/** Whether a string has a cased character (by code point, without listing them). */
function anyCased(x: string): boolean {
  let n = 0;
  for (const ch of x) {
    if (cased(ch)) return true;
    if ((++n & 4095) === 0) clock();
  }
  return false;
}
/** Charge a scan of `x` as steps (see `work`); true, for use in a condition. */
function scanned(x: string): boolean {
  work(x.length);
  return true;
}
def(
  strMethods,
  'isalpha',
  noArgs('isalpha', (x) => x.length > 0 && scanned(x) && /^\p{L}+$/u.test(x)),
);
def(
  strMethods,
  'isalnum',
  noArgs('isalnum', (x) => x.length > 0 && scanned(x) && /^[\p{L}\p{N}]+$/u.test(x)),
);
def(
  strMethods,
  'isdigit',
  noArgs('isdigit', (x) => x.length > 0 && scanned(x) && /^\p{Nd}+$/u.test(x)),
);
def(
  strMethods,
  'isspace',
  noArgs('isspace', (x) => x.length > 0 && scanned(x) && /^\s+$/u.test(x)),
);
def(
  strMethods,
  'islower',
  noArgs('islower', (x) => scanned(x) && anyCased(x) && x === x.toLowerCase()),
);
def(
  strMethods,
  'isupper',
  noArgs('isupper', (x) => scanned(x) && anyCased(x) && x === x.toUpperCase()),
);
def(
  strMethods,
  'istitle',
  noArgs('istitle', (x) => {
    work(x.length);
    let prevCased = false;
    let any = false;
    let n = 0;
    for (const ch of x) {
      if ((++n & 4095) === 0) clock();
      if (!cased(ch)) {
        prevCased = false;
        continue;
      }
      const upper = ch === ch.toUpperCase();
      if (upper && prevCased) return false;
      if (!upper && !prevCased) return false;
      prevCased = true;
      any = true;
    }
    return any;
  }),
);

const WS = ' \t\n\r\v\f';
/** Space, \t, \n, \v, \f, \r: the whitespace of `split()` and `strip()`. */
function isWs(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}
function stripImpl(name: string, left: boolean, right: boolean): BuiltinImpl {
  return (args, kw, self) => {
    const [chars] = bind(name, ['chars?'], args, kw);
    const set = chars === undefined || chars === null ? WS : wantString(name, 'chars', chars);
    const x = s(self);
    work(x.length + set.length);
    // A long set of characters is looked up in a host set: scanning it per character would take
    // |x| × |chars|.
    const units = set.length > 16 ? new Set(set.split('')) : null;
    const strip = (c: string): boolean => (units === null ? set.includes(c) : units.has(c));
    let a = 0;
    let b = x.length;
    if (left) while (a < b && strip(x[a]!)) if ((++a & 4095) === 0) clock();
    if (right) while (b > a && strip(x[b - 1]!)) if ((--b & 4095) === 0) clock();
    return x.slice(a, b);
  };
}
def(strMethods, 'strip', stripImpl('strip', true, true));
def(strMethods, 'lstrip', stripImpl('lstrip', true, false));
def(strMethods, 'rstrip', stripImpl('rstrip', false, true));

def(strMethods, 'removeprefix', (args, kw, self) => {
  const [p] = bind('removeprefix', ['prefix'], args, kw);
  const pre = wantString('removeprefix', 'prefix', p);
  const x = s(self);
  work(pre.length);
  return x.startsWith(pre) ? x.slice(pre.length) : x;
});
def(strMethods, 'removesuffix', (args, kw, self) => {
  const [p] = bind('removesuffix', ['suffix'], args, kw);
  const suf = wantString('removesuffix', 'suffix', p);
  const x = s(self);
  work(suf.length);
  return suf !== '' && x.endsWith(suf) ? x.slice(0, x.length - suf.length) : x;
});

def(strMethods, 'join', (args, kw, self) => {
  const [it] = bind('join', ['iterable'], args, kw);
  const items = iterate(it ?? null);
  const sep = s(self);
  work(items.length);
  let total = 0;
  for (const v of items) {
    if (typeof v !== 'string') throw runtimeError(`join: in list, want string, got ${typeName(v)}`);
    total += v.length;
  }
  // The result's length is known before it is built: charged first, then built natively.
  const length = total + sep.length * Math.max(items.length - 1, 0);
  charge(2 * (total + sep.length * items.length) + 16);
  work(length);
  return (items as string[]).join(sep);
});

def(strMethods, 'replace', (args, kw, self) => {
  const [o, n, c] = bind('replace', ['old', 'new', 'count?'], args, kw);
  const old = wantString('replace', 'old', o);
  const nw = wantString('replace', 'new', n);
  const count = optInt('replace', 'count', c, -1);
  const x = s(self);
  const limit = count < 0 ? Number.MAX_SAFE_INTEGER : count;
  // Count the replacements first (one scan, nothing allocated), charge the result, then build it.
  work(x.length);
  if (x.length <= 4096 && count < 0 && old !== '') {
    // A short string: its pieces are few, so the engine splits and joins it (charged the same).
    const parts = x.split(old);
    if (parts.length === 1) return x;
    const length = x.length + (parts.length - 1) * (nw.length - old.length);
    charge(2 * length + 16);
    work(length);
    return parts.join(nw);
  }
  let found: number;
  const points = old === '' ? codePoints(x) : 0;
  if (old === '') {
    // Python inserts `new` between every character (and at both ends): one place per code point.
    found = Math.min(points + 1, limit);
  } else {
    found = 0;
    for (let i = x.indexOf(old); i >= 0 && found < limit; i = x.indexOf(old, i + old.length)) {
      found++;
      poll();
    }
  }
  if (found === 0) return x;
  const length = x.length + found * (nw.length - old.length);
  charge(2 * length + 16);
  work(length);
  // Built in pieces joined as they come (no host array of every piece, no regex), reading the
  // clock as it goes.
  const out = new Builder(true);
  if (old !== '') {
    let i = 0;
    for (let k = 0; k < found; k++) {
      const j = x.indexOf(old, i);
      out.add(x.slice(i, j));
      out.add(nw);
      i = j + old.length;
      if ((k & 4095) === 4095) clock();
    }
    out.add(x.slice(i));
  } else if (points === x.length) {
    // No surrogate pairs: `new` before each of the first `found` code units (and after the last).
    const k = Math.min(found, x.length);
    for (let i = 0; i < k; i += 4096) {
      out.add(nw);
      out.add(
        x
          .slice(i, Math.min(i + 4096, k))
          .split('')
          .join(nw),
      );
      clock();
    }
    if (found > x.length) out.add(nw);
    out.add(x.slice(k));
  } else {
    let piece = '';
    let done = 0;
    let i = 0;
    for (; done < found && i < x.length; done++) {
      const w = x.codePointAt(i)! > 0xffff ? 2 : 1;
      piece += nw + x.slice(i, i + w);
      i += w;
      if (piece.length >= 1024) {
        out.add(piece);
        piece = '';
        clock();
      }
    }
    if (done < found) piece += nw;
    out.add(piece);
    out.add(x.slice(i));
  }
  return out.done();
});

/** The length of a string in UTF-8 (a lone surrogate is U+FFFD, 3 bytes), without encoding it. */
function utf8Length(x: string): number {
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    if ((i & 65535) === 65535) clock();
    const c = x.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < x.length) {
      const d = x.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/** The number of code points in a string: a surrogate pair is one. */
function codePoints(x: string): number {
  let n = x.length;
  for (let i = 0; i + 1 < x.length; i++) {
    if ((i & 65535) === 65535) clock();
    const c = x.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = x.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

def(strMethods, 'split', (args, kw, self) => splitImpl('split', args, kw, s(self), false));
def(strMethods, 'rsplit', (args, kw, self) => splitImpl('rsplit', args, kw, s(self), true));

function splitImpl(name: string, args: Value[], kw: Kwargs, x: string, right: boolean): Value {
  const [sepV, maxV] = bind(name, ['sep?', 'maxsplit?'], args, kw);
  let max = optInt(name, 'maxsplit', maxV, -1);
  if (max < 0) max = Number.MAX_SAFE_INTEGER;
  let out: string[];
  if (sepV === undefined || sepV === null) {
    // Whitespace split: runs of whitespace, no empty strings.
    work(x.length);
    const words = countWords(x);
    affordPieces(x, Math.min(words, max + 1));
    if (max >= words - 1) out = wsSplit(x, Number.MAX_SAFE_INTEGER);
    else out = right ? wsSplitRight(x, max) : wsSplit(x, max);
  } else {
    const sep = wantString(name, 'sep', sepV);
    if (sep === '') throw runtimeError(`${name}: empty separator`);
    work(x.length);
    const bound = Math.min(Math.floor(x.length / sep.length), max) + 1;
    if (!fits(8 * bound + 2 * x.length + 32)) affordPieces(x, Math.min(count(x, sep), max) + 1);
    if (max === Number.MAX_SAFE_INTEGER) {
      // Unlimited splits are the same from either end.
      const parts = x.split(sep);
      charge(8 * parts.length + 2 * x.length + 32);
      return new SList(parts);
    }
    out = [];
    if (!right) {
      let i = 0;
      let k = 0;
      while (k < max) {
        const j = x.indexOf(sep, i);
        if (j < 0) break;
        out.push(x.slice(i, j));
        i = j + sep.length;
        k++;
      }
      out.push(x.slice(i));
    } else {
      let end = x.length;
      let k = 0;
      const tail: string[] = [];
      while (k < max) {
        const j = end - sep.length < 0 ? -1 : x.lastIndexOf(sep, end - sep.length);
        if (j < 0) break;
        tail.push(x.slice(j + sep.length, end));
        end = j;
        k++;
      }
      out.push(x.slice(0, end));
      for (let t = tail.length - 1; t >= 0; t--) out.push(tail[t]!);
    }
  }
  charge(8 * out.length + 2 * x.length + 32);
  return new SList(out);
}

/** Whether `n` more bytes are within the allocation budget. */
function fits(n: number): boolean {
  const t = thread();
  return t.alloc + n <= t.allocMax;
}

/** Refuse, before it is built, a list of `pieces` pieces of `x` (charged as split charges it). */
function affordPieces(x: string, pieces: number): void {
  affordable(8 * pieces + 2 * x.length + 32);
}

/** Non-overlapping occurrences of a non-empty `sub` in `x`. */
function count(x: string, sub: string): number {
  let n = 0;
  for (let i = x.indexOf(sub); i >= 0; i = x.indexOf(sub, i + sub.length)) {
    n++;
    poll();
  }
  return n;
}

function countWords(x: string): number {
  let n = 0;
  let inWord = false;
  for (let i = 0; i < x.length; i++) {
    const ws = isWs(x.charCodeAt(i));
    if (!ws && !inWord) n++;
    inWord = !ws;
    if ((i & 65535) === 65535) clock();
  }
  return n;
}

/** The words of `x`, the last of them everything after the first `max` words (trailing space kept). */
function wsSplit(x: string, max: number): string[] {
  const out: string[] = [];
  const n = x.length;
  let i = 0;
  while (i < n && isWs(x.charCodeAt(i))) i++;
  while (i < n) {
    if (out.length === max) {
      out.push(x.slice(i));
      break;
    }
    const start = i;
    while (i < n && !isWs(x.charCodeAt(i))) i++;
    out.push(x.slice(start, i));
    while (i < n && isWs(x.charCodeAt(i))) i++;
  }
  return out;
}

/** rsplit's words: the last `max` words, after everything before them (leading space kept). */
function wsSplitRight(x: string, max: number): string[] {
  let e = x.length;
  while (e > 0 && isWs(x.charCodeAt(e - 1))) e--;
  const tail: string[] = [];
  for (let k = 0; k < max; k++) {
    let j = e;
    while (j > 0 && !isWs(x.charCodeAt(j - 1))) j--;
    tail.push(x.slice(j, e));
    while (j > 0 && isWs(x.charCodeAt(j - 1))) j--;
    e = j;
  }
  const out = [x.slice(0, e)];
  for (let t = tail.length - 1; t >= 0; t--) out.push(tail[t]!);
  return out;
}

def(strMethods, 'splitlines', (args, kw, self) => {
  const [keep] = bind('splitlines', ['keepends?'], args, kw);
  if (keep !== undefined && typeof keep !== 'boolean')
    throw runtimeError(`splitlines: for parameter keepends: got ${typeName(keep)}, want bool`);
  const keepends = keep === true;
  const x = s(self);
  work(x.length);
  if (!fits(8 * (x.length + 1) + 2 * x.length + 32)) {
    let breaks = 0;
    for (let i = 0; i < x.length; i++) {
      const c = x.charCodeAt(i);
      if (c === 10 || c === 13) breaks++;
    }
    affordPieces(x, breaks + 1);
  }
  if (!keepends && !x.includes('\r')) {
    if (x === '') return new SList([]);
    const parts = x.split('\n');
    if (parts[parts.length - 1] === '') parts.pop();
    charge(8 * parts.length + 2 * x.length + 32);
    return new SList(parts);
  }
  const out: string[] = [];
  let i = 0;
  while (i < x.length) {
    let j = i;
    while (j < x.length && x[j] !== '\n' && x[j] !== '\r') j++;
    if (j >= x.length) {
      out.push(x.slice(i));
      break;
    }
    let e = j + 1;
    if (x[j] === '\r' && x[j + 1] === '\n') e++;
    out.push(keepends ? x.slice(i, e) : x.slice(i, j));
    i = e;
  }
  charge(8 * out.length + 2 * x.length + 32);
  return new SList(out);
});

function partitionImpl(name: string, last: boolean): BuiltinImpl {
  return (args, kw, self) => {
    const [sepV] = bind(name, ['sep'], args, kw);
    const sep = wantString(name, 'sep', sepV);
    if (sep === '') throw runtimeError(`${name}: empty separator`);
    const x = s(self);
    work(x.length);
    const i = last ? x.lastIndexOf(sep) : x.indexOf(sep);
    if (i < 0) return new STuple(last ? ['', '', x] : [x, '', '']);
    return new STuple([x.slice(0, i), sep, x.slice(i + sep.length)]);
  };
}
def(strMethods, 'partition', partitionImpl('partition', false));
def(strMethods, 'rpartition', partitionImpl('rpartition', true));

def(strMethods, 'format', (args, kw, self) => formatMethod(s(self), args, kw));

def(
  strMethods,
  'elems',
  noArgs('elems', (x) => {
    charge(8 * x.length + 32);
    work(x.length);
    return new SList(x.split(''));
  }),
);
def(
  strMethods,
  'elem_ords',
  noArgs('elem_ords', (x) => {
    work(x.length);
    const n = utf8Length(x);
    charge(8 * n + 32);
    return new SList(Array.from(new TextEncoder().encode(x)));
  }),
);
def(
  strMethods,
  'codepoints',
  noArgs('codepoints', (x) => {
    work(x.length);
    charge(8 * codePoints(x) + 32);
    return new SList([...x]);
  }),
);
def(
  strMethods,
  'codepoint_ords',
  noArgs('codepoint_ords', (x) => {
    work(x.length);
    charge(8 * codePoints(x) + 32);
    const out: Value[] = [];
    for (const c of x) out.push(c.codePointAt(0)!);
    return new SList(out);
  }),
);

// ---- lists ---------------------------------------------------------------------------

function l(self: Value): SList {
  return self as SList;
}

def(listMethods, 'append', (args, kw, self) => {
  const [x] = bind('append', ['$x'], args, kw);
  const list = l(self);
  list.checkMutable('append to list');
  charge(8);
  list.items.push(x!);
  return null;
});
def(listMethods, 'clear', (args, kw, self) => {
  bind('clear', [], args, kw);
  l(self).checkMutable('clear list');
  l(self).items.length = 0;
  return null;
});
def(listMethods, 'extend', (args, kw, self) => {
  const [x] = bind('extend', ['$iterable'], args, kw);
  const list = l(self);
  list.checkMutable('extend list');
  const more = iterate(x!);
  // `more` may be the list itself: only the elements it has now are added.
  const n = more.length;
  charge(8 * n);
  work(n);
  for (let i = 0; i < n; i++) list.items.push(more[i]!);
  return null;
});
def(listMethods, 'index', (args, kw, self) => {
  const [x, start, end] = bind('index', ['$x', '$start?', '$end?'], args, kw);
  const items = l(self).items;
  const [a, b] = bounds(items.length, start, end, 'index');
  work(b - a);
  for (let i = a; i < b; i++) if (equal(items[i]!, x!)) return i;
  throw runtimeError(`index: value not in list: ${repr(x!)}`);
});
def(listMethods, 'insert', (args, kw, self) => {
  const [iv, x] = bind('insert', ['$index', '$x'], args, kw);
  const list = l(self);
  list.checkMutable('insert into list');
  const n = list.items.length;
  let i = wantInt('insert', 'index', iv);
  if (i < 0) i += n;
  i = i < 0 ? 0 : Math.min(i, n);
  charge(8);
  // The elements after `i` move.
  work(n - i);
  list.items.splice(i, 0, x!);
  return null;
});
def(listMethods, 'pop', (args, kw, self) => {
  const [iv] = bind('pop', ['$index?'], args, kw);
  const list = l(self);
  list.checkMutable('pop from list');
  const n = list.items.length;
  let i = iv === undefined || iv === null ? n - 1 : wantInt('pop', 'index', iv);
  const orig = i;
  if (i < 0) i += n;
  if (i < 0 || i >= n)
    throw runtimeError(`pop: index ${orig} out of range (list has ${n} elements)`);
  work(n - i);
  return list.items.splice(i, 1)[0]!;
});
def(listMethods, 'remove', (args, kw, self) => {
  const [x] = bind('remove', ['$x'], args, kw);
  const list = l(self);
  list.checkMutable('remove from list');
  work(list.items.length);
  const i = list.items.findIndex((y) => equal(y, x!));
  if (i < 0) throw runtimeError(`remove: element ${repr(x!)} not found`);
  list.items.splice(i, 1);
  return null;
});

// ---- dicts ---------------------------------------------------------------------------

function d(self: Value): SDict {
  return self as SDict;
}

def(dictMethods, 'clear', (args, kw, self) => {
  bind('clear', [], args, kw);
  d(self).checkMutable('clear dict');
  d(self).m.clear();
  d(self).ks?.clear();
  return null;
});
def(dictMethods, 'get', (args, kw, self) => {
  const [k, dflt] = bind('get', ['$key', '$default?'], args, kw);
  const v = d(self).get(k!);
  return v === undefined ? (dflt ?? null) : v;
});
def(dictMethods, 'items', (args, kw, self) => {
  bind('items', [], args, kw);
  const dict = d(self);
  charge(48 * dict.m.size + 32);
  work(dict.m.size);
  const out: Value[] = [];
  for (const [c, v] of dict.m) out.push(new STuple([dict.key(c), v]));
  return new SList(out);
});
def(dictMethods, 'keys', (args, kw, self) => {
  bind('keys', [], args, kw);
  charge(8 * d(self).m.size + 32);
  work(d(self).m.size);
  return new SList(d(self).keys());
});
def(dictMethods, 'values', (args, kw, self) => {
  bind('values', [], args, kw);
  charge(8 * d(self).m.size + 32);
  work(d(self).m.size);
  return new SList([...d(self).m.values()]);
});
def(dictMethods, 'pop', (args, kw, self) => {
  const [k, dflt] = bind('pop', ['$key', '$default?'], args, kw);
  const dict = d(self);
  dict.checkMutable('delete from dict');
  const c = keyOf(k!);
  const v = dict.m.get(c);
  if (v === undefined) {
    if (dflt !== undefined) return dflt;
    throw runtimeError(`pop: missing key ${repr(k!)}`);
  }
  dict.delete(c);
  return v;
});
def(dictMethods, 'popitem', (args, kw, self) => {
  bind('popitem', [], args, kw);
  const dict = d(self);
  dict.checkMutable('delete from dict');
  const first = firstEntry(dict.m);
  if (first === undefined) throw runtimeError('popitem: empty dict');
  const [c, v] = first;
  const k = dict.key(c);
  dict.delete(c);
  return new STuple([k, v]);
});
def(dictMethods, 'setdefault', (args, kw, self) => {
  const [k, dflt] = bind('setdefault', ['$key', '$default?'], args, kw);
  const dict = d(self);
  const v = dict.get(k!);
  if (v !== undefined) return v;
  dict.checkMutable('insert into dict');
  charge(32);
  dict.set(k!, dflt ?? null);
  return dflt ?? null;
});
def(dictMethods, 'update', (args, kw, self) => {
  if (args.length > 1) throw runtimeError(`update: got ${args.length} arguments, want at most 1`);
  const dict = d(self);
  dict.checkMutable('update dict');
  updateDict(dict, args[0], kw, 'update');
  return null;
});

/** dict(pairs_or_mapping, **kwargs) and dict.update share this. */
export function updateDict(dict: SDict, src: Value | undefined, kw: Kwargs, fname: string): void {
  if (src !== undefined) {
    if (src instanceof SDict) {
      charge(32 * src.m.size);
      work(src.m.size);
      for (const [c, v] of src.m) dict.set(src.key(c), v);
    } else {
      const items = iterate(src);
      charge(32 * items.length);
      work(items.length);
      let i = 0;
      for (const pair of items) {
        if (!(pair instanceof STuple || pair instanceof SList))
          throw runtimeError(
            `${fname}: dictionary update sequence element #${i} is not iterable (${typeName(pair)})`,
          );
        if (pair.items.length !== 2)
          throw runtimeError(
            `${fname}: dictionary update sequence element #${i} has length ${pair.items.length}, want 2`,
          );
        dict.set(pair.items[0]!, pair.items[1]!);
        i++;
      }
    }
  }
  if (kw !== null) {
    charge(32 * kw.length);
    for (const [k, v] of kw) dict.set(k, v);
  }
}

/** An iterator per map that popitem / set.pop have taken entries from, at the first one left. */
const fronts = new WeakMap<Map<unknown, Value>, MapIterator<[unknown, Value]>>();

/**
 * The first entry of a map, to be deleted by the caller. A host map keeps deleted entries as holes
 * that every new iterator skips, so taking the first entry of a fresh iterator again and again
 * would cost the number taken so far, each time; an iterator kept per map goes past each hole
 * once (a map's iterators stay valid while it changes, and new entries come after the rest).
 */
function firstEntry(m: Map<unknown, Value>): [unknown, Value] | undefined {
  let it = fronts.get(m);
  let r = it?.next();
  if (r === undefined || r.done) {
    // None yet, or one that had finished (entries may have been added since).
    it = m.entries();
    r = it.next();
    if (r.done) {
      fronts.delete(m);
      return undefined;
    }
    fronts.set(m, it);
  }
  return r.value;
}

// ---- sets ----------------------------------------------------------------------------

function st(self: Value): SSet {
  return self as SSet;
}

function toSet(v: Value, fname: string): SSet {
  if (v instanceof SSet) return v;
  const r = new SSet();
  const items = iterate(v, `iterable (${fname})`);
  work(items.length);
  for (const x of items) r.add(x);
  return r;
}

def(setMethods, 'add', (args, kw, self) => {
  const [x] = bind('add', ['$elem'], args, kw);
  const set = st(self);
  if (set.has(x!)) return null;
  set.checkMutable('insert into set');
  charge(32);
  set.add(x!);
  return null;
});
def(setMethods, 'clear', (args, kw, self) => {
  bind('clear', [], args, kw);
  st(self).checkMutable('clear set');
  st(self).m.clear();
  return null;
});
def(setMethods, 'discard', (args, kw, self) => {
  const [x] = bind('discard', ['$elem'], args, kw);
  const set = st(self);
  const c = keyOf(x!);
  if (!set.m.has(c)) return null;
  set.checkMutable('delete from set');
  set.m.delete(c);
  return null;
});
def(setMethods, 'remove', (args, kw, self) => {
  const [x] = bind('remove', ['$elem'], args, kw);
  const set = st(self);
  const c = keyOf(x!);
  if (!set.m.has(c)) throw runtimeError(`remove: missing key ${repr(x!)}`);
  set.checkMutable('delete from set');
  set.m.delete(c);
  return null;
});
def(setMethods, 'pop', (args, kw, self) => {
  bind('pop', [], args, kw);
  const set = st(self);
  set.checkMutable('pop from set');
  const first = firstEntry(set.m);
  if (first === undefined) throw runtimeError('pop: empty set');
  set.m.delete(first[0]);
  return first[1];
});
function setAlgebra(name: string, f: (a: SSet, others: SSet[]) => SSet): BuiltinImpl {
  return (args, kw, self) => {
    noKw(name, kw);
    const a = st(self);
    const others = args.map((x) => toSet(x, name));
    // The result holds at most the elements of all of them: refused before it is built.
    const most = others.reduce((n, o) => n + o.m.size, a.m.size);
    affordable(32 * (name === 'union' ? most : a.m.size));
    work(most);
    const r = f(a, others);
    charge(32 * r.m.size);
    return r;
  };
}
def(
  setMethods,
  'union',
  setAlgebra('union', (a, os) => {
    const r = new SSet();
    for (const v of a.m.values()) r.add(v);
    for (const o of os) for (const v of o.m.values()) r.add(v);
    return r;
  }),
);
def(
  setMethods,
  'intersection',
  setAlgebra('intersection', (a, os) => {
    const r = new SSet();
    for (const [c, v] of a.m) if (os.every((o) => o.m.has(c))) r.add(v);
    return r;
  }),
);
def(
  setMethods,
  'difference',
  setAlgebra('difference', (a, os) => {
    const r = new SSet();
    for (const [c, v] of a.m) if (!os.some((o) => o.m.has(c))) r.add(v);
    return r;
  }),
);
def(setMethods, 'symmetric_difference', (args, kw, self) => {
  const [o] = bind('symmetric_difference', ['$other'], args, kw);
  const a = st(self);
  const b = toSet(o!, 'symmetric_difference');
  affordable(32 * (a.m.size + b.m.size));
  work(a.m.size + b.m.size);
  const r = new SSet();
  for (const [c, v] of a.m) if (!b.m.has(c)) r.add(v);
  for (const [c, v] of b.m) if (!a.m.has(c)) r.add(v);
  charge(32 * r.m.size);
  return r;
});
def(setMethods, 'issubset', (args, kw, self) => {
  const [o] = bind('issubset', ['$other'], args, kw);
  const b = toSet(o!, 'issubset');
  work(st(self).m.size);
  for (const c of st(self).m.keys()) if (!b.m.has(c)) return false;
  return true;
});
def(setMethods, 'issuperset', (args, kw, self) => {
  const [o] = bind('issuperset', ['$other'], args, kw);
  const b = toSet(o!, 'issuperset');
  work(b.m.size);
  for (const c of b.m.keys()) if (!st(self).m.has(c)) return false;
  return true;
});
def(setMethods, 'isdisjoint', (args, kw, self) => {
  const [o] = bind('isdisjoint', ['$other'], args, kw);
  const b = toSet(o!, 'isdisjoint');
  work(b.m.size);
  for (const c of b.m.keys()) if (st(self).m.has(c)) return false;
  return true;
});
def(setMethods, 'update', (args, kw, self) => {
  noKw('update', kw);
  const set = st(self);
  set.checkMutable('update set');
  for (const a of args) {
    const items = iterate(a);
    affordable(32 * (set.m.size + items.length));
    work(items.length);
    for (const v of items) set.add(v);
  }
  charge(32 * set.m.size);
  return null;
});

// ---- bytes ---------------------------------------------------------------------------

def(bytesMethods, 'elems', (args, kw, self) => {
  bind('elems', [], args, kw);
  const b = (self as SBytes).b;
  charge(8 * b.length + 32);
  work(b.length);
  return new SList([...b]);
});
