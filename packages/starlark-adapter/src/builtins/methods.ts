import { runtimeError } from '../errors.ts';
import { Builtin, type BuiltinImpl, type Kwargs } from '../eval/function.ts';
import { charge } from '../limits/thread.ts';
import { equal, iterate, toIndex } from '../values/ops.ts';
import { repr } from '../values/repr.ts';
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
  let n = 0;
  let i = 0;
  while (true) {
    const j = hay.indexOf(needle, i);
    if (j < 0) return n;
    n++;
    i = j + needle.length;
  }
});

function affix(name: string, ends: boolean): BuiltinImpl {
  return (args, kw, self) => {
    if (kw === null && args.length === 1 && typeof args[0] === 'string') {
      // The common case: one string, no bounds.
      const str = self as string;
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
      return ends ? hay.endsWith(p) : hay.startsWith(p);
    };
    if (x instanceof STuple) {
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

def(
  strMethods,
  'lower',
  noArgs('lower', (x) => charge2(x.toLowerCase())),
);
def(
  strMethods,
  'upper',
  noArgs('upper', (x) => charge2(x.toUpperCase())),
);
def(
  strMethods,
  'capitalize',
  noArgs('capitalize', (x) => charge2(x.slice(0, 1).toUpperCase() + x.slice(1).toLowerCase())),
);
def(
  strMethods,
  'title',
  noArgs('title', (x) => {
    let out = '';
    let prevLetter = false;
    for (const ch of x) {
      const isLetter = ch.toLowerCase() !== ch.toUpperCase();
      out += isLetter ? (prevLetter ? ch.toLowerCase() : ch.toUpperCase()) : ch;
      prevLetter = isLetter;
    }
    return charge2(out);
  }),
);
const cased = (ch: string): boolean => ch.toLowerCase() !== ch.toUpperCase();
def(
  strMethods,
  'isalpha',
  noArgs('isalpha', (x) => x.length > 0 && /^\p{L}+$/u.test(x)),
);
def(
  strMethods,
  'isalnum',
  noArgs('isalnum', (x) => x.length > 0 && /^[\p{L}\p{N}]+$/u.test(x)),
);
def(
  strMethods,
  'isdigit',
  noArgs('isdigit', (x) => x.length > 0 && /^\p{Nd}+$/u.test(x)),
);
def(
  strMethods,
  'isspace',
  noArgs('isspace', (x) => x.length > 0 && /^\s+$/u.test(x)),
);
def(
  strMethods,
  'islower',
  noArgs('islower', (x) => [...x].some(cased) && x === x.toLowerCase()),
);
def(
  strMethods,
  'isupper',
  noArgs('isupper', (x) => [...x].some(cased) && x === x.toUpperCase()),
);
def(
  strMethods,
  'istitle',
  noArgs('istitle', (x) => {
    let prevCased = false;
    let any = false;
    for (const ch of x) {
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
    let a = 0;
    let b = x.length;
    if (left) while (a < b && set.includes(x[a]!)) a++;
    if (right) while (b > a && set.includes(x[b - 1]!)) b--;
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
  return x.startsWith(pre) ? x.slice(pre.length) : x;
});
def(strMethods, 'removesuffix', (args, kw, self) => {
  const [p] = bind('removesuffix', ['suffix'], args, kw);
  const suf = wantString('removesuffix', 'suffix', p);
  const x = s(self);
  return suf !== '' && x.endsWith(suf) ? x.slice(0, x.length - suf.length) : x;
});

def(strMethods, 'join', (args, kw, self) => {
  const [it] = bind('join', ['iterable'], args, kw);
  const items = iterate(it ?? null);
  let total = 0;
  for (const v of items) {
    if (typeof v !== 'string') throw runtimeError(`join: in list, want string, got ${typeName(v)}`);
    total += v.length;
  }
  charge(2 * (total + s(self).length * items.length) + 16);
  return (items as string[]).join(s(self));
});

def(strMethods, 'replace', (args, kw, self) => {
  const [o, n, c] = bind('replace', ['old', 'new', 'count?'], args, kw);
  const old = wantString('replace', 'old', o);
  const nw = wantString('replace', 'new', n);
  let count = optInt('replace', 'count', c, -1);
  const x = s(self);
  if (count < 0 && old !== '') {
    const parts = x.split(old);
    charge(2 * (x.length + (parts.length - 1) * nw.length) + 16);
    return parts.join(nw);
  }
  if (count < 0) count = Number.MAX_SAFE_INTEGER;
  let out = '';
  let i = 0;
  let done = 0;
  if (old === '') {
    // Python inserts `new` between every character (and at both ends).
    const chars = [...x];
    const parts: string[] = [];
    for (let k = 0; k <= chars.length; k++) {
      if (done < count) {
        parts.push(nw);
        done++;
      }
      if (k < chars.length) parts.push(chars[k]!);
    }
    return charge2(parts.join(''));
  }
  while (done < count) {
    const j = x.indexOf(old, i);
    if (j < 0) break;
    out += x.slice(i, j) + nw;
    i = j + old.length;
    done++;
    charge(2 * (j - i + nw.length));
  }
  return charge2(out + x.slice(i));
});

def(strMethods, 'split', (args, kw, self) => splitImpl('split', args, kw, s(self), false));
def(strMethods, 'rsplit', (args, kw, self) => splitImpl('rsplit', args, kw, s(self), true));

function splitImpl(name: string, args: Value[], kw: Kwargs, x: string, right: boolean): Value {
  const [sepV, maxV] = bind(name, ['sep?', 'maxsplit?'], args, kw);
  let max = optInt(name, 'maxsplit', maxV, -1);
  if (max < 0) max = Number.MAX_SAFE_INTEGER;
  const out: string[] = [];
  if (sepV === undefined || sepV === null) {
    // Whitespace split: runs of whitespace, no empty strings.
    const words: string[] = [];
    for (let i = 0; i < x.length; ) {
      while (i < x.length && isWs(x.charCodeAt(i))) i++;
      const start = i;
      while (i < x.length && !isWs(x.charCodeAt(i))) i++;
      if (i > start) words.push(x.slice(start, i));
    }
    if (max >= words.length - 1) out.push(...words);
    else if (!right) {
      let rest = x.replace(/^[ \t\n\r\v\f]+/, '');
      for (let k = 0; k < max; k++) {
        const m = /[ \t\n\r\v\f]+/.exec(rest)!;
        out.push(rest.slice(0, m.index));
        rest = rest.slice(m.index + m[0].length);
      }
      out.push(rest);
    } else {
      let rest = x.replace(/[ \t\n\r\v\f]+$/, '');
      const tail: string[] = [];
      for (let k = 0; k < max; k++) {
        const m = /[ \t\n\r\v\f]+(?=[^ \t\n\r\v\f]*$)/.exec(rest)!;
        tail.unshift(rest.slice(m.index + m[0].length));
        rest = rest.slice(0, m.index);
      }
      out.push(rest, ...tail);
    }
  } else {
    const sep = wantString(name, 'sep', sepV);
    if (sep === '') throw runtimeError(`${name}: empty separator`);
    if (max === Number.MAX_SAFE_INTEGER) {
      // Unlimited splits are the same from either end.
      const parts = x.split(sep);
      charge(8 * parts.length + 2 * x.length + 32);
      return new SList(parts);
    }
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
        tail.unshift(x.slice(j + sep.length, end));
        end = j;
        k++;
      }
      out.push(x.slice(0, end), ...tail);
    }
  }
  charge(8 * out.length + 2 * x.length + 32);
  return new SList(out);
}

def(strMethods, 'splitlines', (args, kw, self) => {
  const [keep] = bind('splitlines', ['keepends?'], args, kw);
  if (keep !== undefined && typeof keep !== 'boolean')
    throw runtimeError(`splitlines: for parameter keepends: got ${typeName(keep)}, want bool`);
  const keepends = keep === true;
  const x = s(self);
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
    return new SList(x.split(''));
  }),
);
def(
  strMethods,
  'elem_ords',
  noArgs('elem_ords', (x) => {
    const b = new TextEncoder().encode(x);
    charge(8 * b.length + 32);
    return new SList([...b]);
  }),
);
def(
  strMethods,
  'codepoints',
  noArgs('codepoints', (x) => {
    const cps = [...x];
    charge(8 * cps.length + 32);
    return new SList(cps);
  }),
);
def(
  strMethods,
  'codepoint_ords',
  noArgs('codepoint_ords', (x) => {
    const cps = [...x].map((c) => c.codePointAt(0)!);
    charge(8 * cps.length + 32);
    return new SList(cps);
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
  charge(8 * more.length);
  for (const v of more) list.items.push(v);
  return null;
});
def(listMethods, 'index', (args, kw, self) => {
  const [x, start, end] = bind('index', ['$x', '$start?', '$end?'], args, kw);
  const items = l(self).items;
  const [a, b] = bounds(items.length, start, end, 'index');
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
  return list.items.splice(i, 1)[0]!;
});
def(listMethods, 'remove', (args, kw, self) => {
  const [x] = bind('remove', ['$x'], args, kw);
  const list = l(self);
  list.checkMutable('remove from list');
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
  const out: Value[] = [];
  for (const [c, v] of dict.m) out.push(new STuple([dict.key(c), v]));
  charge(48 * out.length + 32);
  return new SList(out);
});
def(dictMethods, 'keys', (args, kw, self) => {
  bind('keys', [], args, kw);
  charge(8 * d(self).m.size + 32);
  return new SList(d(self).keys());
});
def(dictMethods, 'values', (args, kw, self) => {
  bind('values', [], args, kw);
  charge(8 * d(self).m.size + 32);
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
  const first = dict.m.keys().next();
  if (first.done) throw runtimeError('popitem: empty dict');
  const c = first.value;
  const v = dict.m.get(c)!;
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
      for (const [c, v] of src.m) dict.set(src.key(c), v);
      charge(32 * src.m.size);
    } else {
      const items = iterate(src);
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
      charge(32 * items.length);
    }
  }
  if (kw !== null) {
    for (const [k, v] of kw) dict.set(k, v);
    charge(32 * kw.length);
  }
}

// ---- sets ----------------------------------------------------------------------------

function st(self: Value): SSet {
  return self as SSet;
}

function toSet(v: Value, fname: string): SSet {
  if (v instanceof SSet) return v;
  const r = new SSet();
  for (const x of iterate(v, `iterable (${fname})`)) r.add(x);
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
  const first = set.m.entries().next();
  if (first.done) throw runtimeError('pop: empty set');
  set.m.delete(first.value[0]);
  return first.value[1];
});
function setAlgebra(name: string, f: (a: SSet, others: SSet[]) => SSet): BuiltinImpl {
  return (args, kw, self) => {
    noKw(name, kw);
    const r = f(
      st(self),
      args.map((a) => toSet(a, name)),
    );
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
  const r = new SSet();
  for (const [c, v] of a.m) if (!b.m.has(c)) r.add(v);
  for (const [c, v] of b.m) if (!a.m.has(c)) r.add(v);
  charge(32 * r.m.size);
  return r;
});
def(setMethods, 'issubset', (args, kw, self) => {
  const [o] = bind('issubset', ['$other'], args, kw);
  const b = toSet(o!, 'issubset');
  for (const c of st(self).m.keys()) if (!b.m.has(c)) return false;
  return true;
});
def(setMethods, 'issuperset', (args, kw, self) => {
  const [o] = bind('issuperset', ['$other'], args, kw);
  const b = toSet(o!, 'issuperset');
  for (const c of b.m.keys()) if (!st(self).m.has(c)) return false;
  return true;
});
def(setMethods, 'isdisjoint', (args, kw, self) => {
  const [o] = bind('isdisjoint', ['$other'], args, kw);
  const b = toSet(o!, 'isdisjoint');
  for (const c of b.m.keys()) if (st(self).m.has(c)) return false;
  return true;
});
def(setMethods, 'update', (args, kw, self) => {
  noKw('update', kw);
  const set = st(self);
  set.checkMutable('update set');
  for (const a of args) for (const v of iterate(a)) set.add(v);
  charge(32 * set.m.size);
  return null;
});

// ---- bytes ---------------------------------------------------------------------------

def(bytesMethods, 'elems', (args, kw, self) => {
  bind('elems', [], args, kw);
  const b = (self as SBytes).b;
  charge(8 * b.length + 32);
  return new SList([...b]);
});
