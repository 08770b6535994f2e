import { runtimeError } from '../errors.ts';
import { Builtin } from '../eval/function.ts';
import { charge } from '../limits/thread.ts';
import { reprFloat } from '../values/repr.ts';
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

export function encode(v: Value, path = '', seen = new Set<unknown>()): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
    case 'bigint':
      return String(v);
    case 'boolean':
      return v ? 'true' : 'false';
    default:
  }
  if (v === null) return 'null';
  if (v instanceof SFloat) {
    if (!Number.isFinite(v.v))
      throw runtimeError(`json.encode: cannot encode non-finite float ${reprFloat(v.v)}`);
    return Number.isInteger(v.v) && Math.abs(v.v) < 1e16 ? `${v.v}` : String(v.v);
  }
  if (seen.has(v))
    throw runtimeError(`json.encode: cycle in JSON structure at ${path || 'top level'}`);
  if (v instanceof SList || v instanceof STuple) {
    // Charged per element visited, as repr: shared sublists cannot multiply the work for free.
    charge(8 * v.items.length);
    seen.add(v);
    const s = `[${v.items.map((x, i) => encode(x, `${path}[${i}]`, seen)).join(',')}]`;
    seen.delete(v);
    return s;
  }
  if (v instanceof SDict) {
    charge(8 * v.m.size);
    seen.add(v);
    const keys = v.keys();
    for (const k of keys)
      if (typeof k !== 'string')
        throw runtimeError(`json.encode: dict has ${typeName(k)} key, want string`);
    const sorted = (keys as string[]).slice().sort();
    const s = `{${sorted.map((k) => `${JSON.stringify(k)}:${encode(v.get(k)!, `${path}.${k}`, seen)}`).join(',')}}`;
    seen.delete(v);
    return s;
  }
  if (v instanceof SStruct) {
    charge(8 * v.fields.size);
    const keys = [...v.fields.keys()].sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${encode(v.fields.get(k)!, `${path}.${k}`, seen)}`).join(',')}}`;
  }
  throw runtimeError(`json.encode: cannot encode ${typeName(v)} as JSON`);
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
  // JSON.parse reads numbers as doubles: integral ones within ±(2^53 − 1) become ints, the
  // rest floats (documented in the dialect notes).
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw runtimeError(`json.decode: ${e instanceof Error ? e.message : String(e)}`);
  }
  charge(2 * text.length + 32);
  return fromJson(parsed);
}

function indentJson(text: string, prefix: string, indent: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw runtimeError(`json.indent: ${e instanceof Error ? e.message : String(e)}`);
  }
  const out = JSON.stringify(parsed, null, indent === '' ? undefined : indent) ?? 'null';
  return out.split('\n').join(`\n${prefix}`);
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
