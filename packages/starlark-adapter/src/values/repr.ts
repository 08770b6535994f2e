import { charge } from '../limits/thread.ts';
import {
  Callable,
  SBytes,
  SDict,
  SFloat,
  SList,
  SModule,
  SRange,
  SSet,
  SStruct,
  STuple,
  type Value,
} from './values.ts';

/** Python-style shortest float formatting: fixed for 1e-4 ≤ |x| < 1e16, else exponent. */
export function reprFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Number.POSITIVE_INFINITY) return '+inf';
  if (x === Number.NEGATIVE_INFINITY) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expText] = x.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  let out: string;
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
      const frac = digits.slice(exp + 1);
      out = `${intPart}.${frac === '' ? '0' : frac}`;
    } else out = `0.${'0'.repeat(-exp - 1)}${digits}`;
  } else {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    out = `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return neg ? `-${out}` : out;
}

export function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i]!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c < 32 || c === 127) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function quoteBytes(b: Uint8Array): string {
  let out = 'b"';
  for (const c of b) {
    if (c === 34) out += '\\"';
    else if (c === 92) out += '\\\\';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c < 32 || c >= 127) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += String.fromCharCode(c);
  }
  return `${out}"`;
}

/** repr(): strings quoted; containers recurse. Cycles print as `[...]`. */
export function repr(v: Value, seen: Set<unknown> = new Set()): string {
  switch (typeof v) {
    case 'string':
      return quote(v);
    case 'number':
    case 'bigint':
      return String(v);
    case 'boolean':
      return v ? 'True' : 'False';
    default:
  }
  if (v === null) return 'None';
  if (v instanceof SFloat) return reprFloat(v.v);
  if (v instanceof SList || v instanceof STuple || v instanceof SDict || v instanceof SSet) {
    if (seen.has(v)) return v instanceof SDict ? '{...}' : '[...]';
    // Charged per element visited, so a small value that shares one list many times over
    // (`[[[0] * 100] * 100] * 100`) cannot make repr build a huge string outside the budget.
    charge(8 * (v instanceof SList || v instanceof STuple ? v.items.length : v.m.size));
    seen.add(v);
    let s: string;
    if (v instanceof SList) s = `[${v.items.map((x) => repr(x, seen)).join(', ')}]`;
    else if (v instanceof STuple)
      s =
        v.items.length === 1
          ? `(${repr(v.items[0]!, seen)},)`
          : `(${v.items.map((x) => repr(x, seen)).join(', ')})`;
    else if (v instanceof SDict) {
      const parts: string[] = [];
      for (const [k, x] of v.m) parts.push(`${repr(v.key(k), seen)}: ${repr(x, seen)}`);
      s = `{${parts.join(', ')}}`;
    } else s = `set([${[...v.m.values()].map((x) => repr(x, seen)).join(', ')}])`;
    seen.delete(v);
    return s;
  }
  if (v instanceof SRange) {
    if (v.step === 1) return v.start === 0 ? `range(${v.stop})` : `range(${v.start}, ${v.stop})`;
    return `range(${v.start}, ${v.stop}, ${v.step})`;
  }
  if (v instanceof SBytes) return quoteBytes(v.b);
  if (v instanceof SStruct) {
    const parts: string[] = [];
    for (const [k, x] of v.fields) parts.push(`${k} = ${repr(x, seen)}`);
    return `struct(${parts.join(', ')})`;
  }
  if (v instanceof SModule) return `<module ${v.name}>`;
  if (v instanceof Callable) {
    const label = (v as { typeLabel?: string }).typeLabel;
    return label === 'builtin_function_or_method'
      ? `<built-in function ${v.name}>`
      : `<function ${v.name}>`;
  }
  return '?';
}

/** str(): like repr except that a string is itself. */
export function str(v: Value): string {
  if (typeof v === 'string') return v;
  if (v instanceof SBytes) return new TextDecoder().decode(v.b);
  return repr(v);
}
