import { runtimeError } from '../errors.ts';
import { Builtin } from '../eval/function.ts';
import { affordable, charge, work } from '../limits/thread.ts';
import { intToString } from '../values/ints.ts';
import { Builder, reprFloat } from '../values/repr.ts';
import {
  SDict,
  SFloat,
  SList,
  SModule,
  SStruct,
  STuple,
  typeName,
  type Value,
} from '../values/values.ts';
import { bind, wantString } from './args.ts';

/**
 * json.encode: built within the allocation budget as it grows (see `Builder`), so a value that
 * shares a few small lists many times over fails with memory_limit before its text is built; each
 * list, tuple, dict and struct visited is charged per element too.
 */
export function encode(v: Value): string {
  const out = new Builder();
  encodeInto(v, out, [], new Set());
  return out.done();
}

/** `path`: list indices and dict keys from the top, for the message about a cycle. */
function encodeInto(v: Value, out: Builder, path: (string | number)[], seen: Set<unknown>): void {
  switch (typeof v) {
    case 'string':
      out.reserve(v.length + 2);
      out.add(JSON.stringify(v));
      return;
    case 'number':
      out.add(String(v));
      return;
    case 'bigint':
      out.add(intToString(v));
      return;
    case 'boolean':
      out.add(v ? 'true' : 'false');
      return;
    default:
  }
  if (v === null) {
    out.add('null');
    return;
  }
  if (v instanceof SFloat) {
    if (!Number.isFinite(v.v))
      throw runtimeError(`json.encode: cannot encode non-finite float ${reprFloat(v.v)}`);
    out.add(String(v.v));
    return;
  }
  if (seen.has(v))
    throw runtimeError(`json.encode: cycle in JSON structure at ${pathText(path) || 'top level'}`);
  if (v instanceof SList || v instanceof STuple) {
    charge(8 * v.items.length);
    seen.add(v);
    out.add('[');
    for (let i = 0; i < v.items.length; i++) {
      if (i > 0) out.add(',');
      path.push(i);
      encodeInto(v.items[i]!, out, path, seen);
      path.pop();
    }
    out.add(']');
    seen.delete(v);
    return;
  }
  if (v instanceof SDict) {
    charge(8 * v.m.size);
    seen.add(v);
    const keys = v.keys();
    for (const k of keys)
      if (typeof k !== 'string')
        throw runtimeError(`json.encode: dict has ${typeName(k)} key, want string`);
    encodeFields(keys as string[], (k) => v.get(k)!, out, path, seen);
    seen.delete(v);
    return;
  }
  if (v instanceof SStruct) {
    charge(8 * v.fields.size);
    encodeFields([...v.fields.keys()], (k) => v.fields.get(k)!, out, path, seen);
    return;
  }
  throw runtimeError(`json.encode: cannot encode ${typeName(v)} as JSON`);
}

function encodeFields(
  keys: string[],
  get: (k: string) => Value,
  out: Builder,
  path: (string | number)[],
  seen: Set<unknown>,
): void {
  keys.sort();
  out.add('{');
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (i > 0) out.add(',');
    out.reserve(k.length + 3);
    out.add(JSON.stringify(k));
    out.add(':');
    path.push(k);
    encodeInto(get(k), out, path, seen);
    path.pop();
  }
  out.add('}');
}

function pathText(path: (string | number)[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
}

/** JSON text → Starlark values: objects → dict, arrays → list, integral numbers → int. */
export function fromJson(x: unknown): Value {
  if (x === null) return null;
  switch (typeof x) {
    case 'string':
    case 'boolean':
      return x;
    case 'number':
      return Number.isSafeInteger(x) ? x : new SFloat(x);
    default:
  }
  if (Array.isArray(x)) {
    const items: Value[] = [];
    for (let i = 0; i < x.length; i++) items.push(fromJson(x[i]));
    return new SList(items);
  }
  const d = new SDict();
  const o = x as Record<string, unknown>;
  // String keys are their own canonical dict keys, so the map can be filled directly.
  for (const k in o) if (Object.hasOwn(o, k)) d.m.set(k, fromJson(o[k]));
  return d;
}

function decode(text: string): Value {
  // Charged before it is parsed: the text, and an element (of a list or a dict) for every `,`,
  // `[` and `{` (an over-estimate when strings contain them).
  work(text.length);
  let open = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 44 || c === 91 || c === 123) open++;
  }
  affordable(2 * text.length + 32 + 16 * open);
  // JSON.parse reads numbers as doubles: integral ones within ±(2^53 − 1) become ints, the
  // rest floats (documented in the dialect notes).
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw runtimeError(`json.decode: ${e instanceof Error ? e.message : String(e)}`);
  }
  charge(2 * text.length + 32 + 16 * open);
  return fromJson(parsed);
}

/**
 * json.indent: the text parsed, then written again with `indent` (its first 10 characters, as
 * JSON.stringify takes them) per level and `prefix` after every newline, within the budget as it
 * grows — both multiply with the number of lines, which the budget does not know in advance.
 */
function indentJson(text: string, prefix: string, indent: string): string {
  work(text.length);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw runtimeError(`json.indent: ${e instanceof Error ? e.message : String(e)}`);
  }
  const out = new Builder();
  const gap = indent.slice(0, 10);
  if (gap === '') out.add(JSON.stringify(parsed) ?? 'null');
  else writeIndented(parsed, out, { gap, newline: `\n${prefix}`, indents: [''] }, 0);
  const s = out.done();
  charge(2 * s.length + 16);
  return s;
}

interface Layout {
  readonly gap: string;
  readonly newline: string;
  /** The indentation of each depth, made as it is first needed. */
  readonly indents: string[];
}

function indentation(layout: Layout, depth: number, out: Builder): string {
  const { indents, gap } = layout;
  while (indents.length <= depth) {
    out.reserve(indents.length * gap.length);
    indents.push(indents[indents.length - 1]! + gap);
  }
  return indents[depth]!;
}

/** As JSON.stringify(x, null, gap) of a parsed value, with `prefix` after each newline. */
function writeIndented(x: unknown, out: Builder, layout: Layout, depth: number): void {
  if (x === null || typeof x !== 'object') {
    if (typeof x === 'string') out.reserve(x.length + 2);
    out.add(JSON.stringify(x) ?? 'null');
    return;
  }
  const array = Array.isArray(x);
  const keys = array ? null : Object.keys(x);
  const n = array ? (x as unknown[]).length : keys!.length;
  if (n === 0) {
    out.add(array ? '[]' : '{}');
    return;
  }
  out.add(array ? '[' : '{');
  const inner = indentation(layout, depth + 1, out);
  for (let i = 0; i < n; i++) {
    if (i > 0) out.add(',');
    out.add(layout.newline);
    out.add(inner);
    if (array) writeIndented((x as unknown[])[i], out, layout, depth + 1);
    else {
      const k = keys![i]!;
      out.reserve(k.length + 4);
      out.add(JSON.stringify(k));
      out.add(': ');
      writeIndented((x as Record<string, unknown>)[k], out, layout, depth + 1);
    }
  }
  out.add(layout.newline);
  out.add(indentation(layout, depth, out));
  out.add(array ? ']' : '}');
}

export const jsonModule = new SModule(
  'json',
  new Map<string, Value>([
    [
      'encode',
      new Builtin('json.encode', (args, kw) => {
        const [x] = bind('json.encode', ['$x'], args, kw);
        const s = encode(x!);
        charge(2 * s.length + 16);
        return s;
      }),
    ],
    [
      'decode',
      new Builtin('json.decode', (args, kw) => {
        const [x] = bind('json.decode', ['$x'], args, kw);
        return decode(wantString('json.decode', 'x', x));
      }),
    ],
    [
      'indent',
      new Builtin('json.indent', (args, kw) => {
        const [x, prefix, indent] = bind('json.indent', ['$str', 'prefix?', 'indent?'], args, kw);
        return indentJson(
          wantString('json.indent', 'str', x),
          prefix === undefined ? '' : wantString('json.indent', 'prefix', prefix),
          indent === undefined ? '\t' : wantString('json.indent', 'indent', indent),
        );
      }),
    ],
    [
      'encode_indent',
      new Builtin('json.encode_indent', (args, kw) => {
        const [x, prefix, indent] = bind(
          'json.encode_indent',
          ['$x', 'prefix?', 'indent?'],
          args,
          kw,
        );
        return indentJson(
          encode(x!),
          prefix === undefined ? '' : wantString('json.encode_indent', 'prefix', prefix),
          indent === undefined ? '\t' : wantString('json.encode_indent', 'indent', indent),
        );
      }),
    ],
  ]),
);
