import { runtimeError } from '../errors.ts';
import type { Kwargs } from '../eval/function.ts';
import { charge, work } from '../limits/thread.ts';
import { intToString } from '../values/ints.ts';
import { Builder, reprFloat, reprInto, strInto } from '../values/repr.ts';
import { SDict, SFloat, STuple, typeName, type Value } from '../values/values.ts';

function toNum(v: Value, conv: string): number | bigint {
  if (typeof v === 'number' || typeof v === 'bigint') return v;
  if (v instanceof SFloat) return v.v;
  throw runtimeError(`%${conv} format requires number, not ${typeName(v)}`);
}

function fmtFloat(x: number, conv: string): string {
  if (!Number.isFinite(x)) return reprFloat(x);
  switch (conv) {
    case 'e':
    case 'E': {
      const [m, e] = x.toExponential(6).split('e') as [string, string];
      const n = Number(e);
      const out = `${m}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
      return conv === 'E' ? out.toUpperCase() : out;
    }
    case 'f':
    case 'F':
      return x.toFixed(6);
    default: {
      // %g: 6 significant digits, trailing zeros removed.
      if (x === 0) return '0';
      const exp = Math.floor(Math.log10(Math.abs(x)));
      let out: string;
      if (exp < -4 || exp >= 6) {
        const [m, e] = x.toExponential(5).split('e') as [string, string];
        const n = Number(e);
        out = `${m.replace(/\.?0+$/, '')}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
      } else out = x.toFixed(Math.max(0, 5 - exp)).replace(/\.?0+$/, '');
      return conv === 'G' ? out.toUpperCase() : out;
    }
  }
}

/** Whether a string is one code point (without listing the code points of a long one). */
function oneCodePoint(s: string): boolean {
  return s.length === 1 || (s.length === 2 && [...s].length === 1);
}

/** The `%` operator on strings. */
export function formatPercent(format: string, arg: Value): string {
  const args: readonly Value[] = arg instanceof STuple ? arg.items : [arg];
  // The result is built within the budget as it grows (each conversion checked before it is
  // kept, a string's before it is copied) and its length charged as steps; the format is read once.
  work(format.length);
  const out = new Builder();
  let ai = 0;
  let usedMapping = false;
  let i = 0;
  while (i < format.length) {
    const pct = format.indexOf('%', i);
    if (pct < 0) {
      out.add(i === 0 ? format : format.slice(i));
      break;
    }
    if (pct > i) out.add(format.slice(i, pct));
    i = pct + 1;
    if (i >= format.length) throw runtimeError('incomplete format');
    let value: Value;
    if (format[i] === '(') {
      const close = format.indexOf(')', i);
      if (close < 0) throw runtimeError('incomplete format key');
      const key = format.slice(i + 1, close);
      if (!(arg instanceof SDict)) throw runtimeError('format requires a mapping');
      const v = arg.get(key);
      if (v === undefined) throw runtimeError(`key ${JSON.stringify(key)} not found`);
      value = v;
      usedMapping = true;
      i = close + 1;
      if (i >= format.length) throw runtimeError('incomplete format');
    } else if (format[i] === '%') {
      out.add('%');
      i++;
      continue;
    } else {
      if (ai >= args.length) throw runtimeError('not enough arguments for format string');
      value = args[ai++]!;
    }
    const conv = format[i]!;
    i++;
    switch (conv) {
      case 's':
        strInto(value, out);
        break;
      case 'r':
        reprInto(value, out, new Set());
        break;
      case 'd':
      case 'i': {
        const n = toNum(value, conv);
        out.add(
          typeof n === 'number' && !(value instanceof SFloat)
            ? String(n)
            : typeof n === 'bigint'
              ? intToString(n)
              : String(Math.trunc(n)),
        );
        break;
      }
      case 'o':
      case 'x':
      case 'X': {
        if (typeof value !== 'number' && typeof value !== 'bigint')
          throw runtimeError(`%${conv} format requires integer: ${typeName(value)}`);
        const s = intToString(value, conv === 'o' ? 8 : 16);
        out.add(conv === 'X' ? s.toUpperCase() : s);
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G':
        out.add(fmtFloat(Number(toNum(value, conv)), conv));
        break;
      case 'c':
        if (typeof value === 'number') {
          if (!Number.isInteger(value) || value < 0 || value > 0x10ffff) {
            throw runtimeError(`%c: code point ${value} is out of range (0 to 0x10ffff)`);
          }
          out.add(String.fromCodePoint(value));
        } else if (typeof value === 'string' && oneCodePoint(value)) out.add(value);
        else
          throw runtimeError(
            `%c format requires a single-character string or int, not ${typeName(value)}`,
          );
        break;
      default:
        throw runtimeError(`unsupported format character '${conv}'`);
    }
  }
  if (!usedMapping && ai < args.length) throw runtimeError('too many arguments for format string');
  const s = out.done();
  charge(2 * s.length + 16);
  return s;
}

/** `str.format`: {} {0} {name}, with {{ and }} escapes and !s / !r conversions. */
export function formatMethod(format: string, args: Value[], kw: Kwargs): string {
  work(format.length);
  const out = new Builder();
  let auto = 0;
  let mode: 'none' | 'auto' | 'manual' = 'none';
  /** Start of the literal text not yet written. */
  let lit = 0;
  for (let i = 0; i < format.length; i++) {
    const c = format.charCodeAt(i);
    if (c !== 123 && c !== 125) continue; // '{', '}'
    if (i > lit) out.add(format.slice(lit, i));
    const ch = format[i]!;
    if (ch === '}') {
      if (format[i + 1] === '}') {
        out.add('}');
        i++;
        lit = i + 1;
        continue;
      }
      throw runtimeError("format: single '}' in format (Found '}' without matching '{')");
    }
    if (format[i + 1] === '{') {
      out.add('{');
      i++;
      lit = i + 1;
      continue;
    }
    const close = format.indexOf('}', i);
    if (close < 0) throw runtimeError("format: unmatched '{' in format");
    let field = format.slice(i + 1, close);
    if (field.includes('{'))
      throw runtimeError('format: Nested replacement fields are not supported');
    i = close;
    lit = i + 1;
    let conv = 's';
    const bang = field.indexOf('!');
    if (bang >= 0) {
      conv = field.slice(bang + 1);
      field = field.slice(0, bang);
      if (conv !== 's' && conv !== 'r') throw runtimeError(`format: unknown conversion "!${conv}"`);
    }
    if (field.includes(':')) throw runtimeError('format: format spec (:) is not supported');
    let value: Value;
    if (field === '') {
      if (mode === 'manual')
        throw runtimeError(
          'format: Cannot switch from manual field specification to automatic field numbering (cannot mix)',
        );
      mode = 'auto';
      if (auto >= args.length)
        throw runtimeError(`format: index out of range: No replacement found for index ${auto}`);
      value = args[auto++]!;
    } else if (/^\d+$/.test(field)) {
      if (mode === 'auto')
        throw runtimeError(
          'format: Cannot switch from automatic field numbering to manual field specification (cannot mix)',
        );
      mode = 'manual';
      const n = Number(field);
      if (n >= args.length)
        throw runtimeError(`format: index out of range: No replacement found for index ${n}`);
      value = args[n]!;
    } else {
      for (const c of ['.', '[', ',']) {
        if (field.includes(c))
          throw runtimeError(
            `format: Invalid character '${c}' inside replacement field (not supported; keyword ${field} not found)`,
          );
      }
      const hit = kw?.find(([k]) => k === field);
      if (hit === undefined)
        throw runtimeError(`format: keyword ${field} not found (Missing argument '${field}')`);
      value = hit[1];
    }
    if (conv === 'r') reprInto(value, out, new Set());
    else strInto(value, out);
  }
  if (lit < format.length) out.add(lit === 0 ? format : format.slice(lit));
  const s = out.done();
  charge(2 * s.length + 16);
  return s;
}
