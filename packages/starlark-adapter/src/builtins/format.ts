import { runtimeError } from '../errors.ts';
import type { Kwargs } from '../eval/function.ts';
import { affordable, charge } from '../limits/thread.ts';
import { repr, reprFloat, str } from '../values/repr.ts';
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

/** The `%` operator on strings. */
export function formatPercent(format: string, arg: Value): string {
  const args: readonly Value[] = arg instanceof STuple ? arg.items : [arg];
  let ai = 0;
  let out = '';
  let usedMapping = false;
  for (let i = 0; i < format.length; i++) {
    const ch = format[i]!;
    if (ch !== '%') {
      out += ch;
      continue;
    }
    // Checked before each substitution, so a huge expansion fails before the host builds it.
    affordable(2 * out.length);
    i++;
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
      out += '%';
      continue;
    } else {
      if (ai >= args.length) throw runtimeError('not enough arguments for format string');
      value = args[ai++]!;
    }
    const conv = format[i]!;
    switch (conv) {
      case 's':
        out += str(value);
        break;
      case 'r':
        out += repr(value);
        break;
      case 'd':
      case 'i': {
        const n = toNum(value, conv);
        out +=
          typeof n === 'number' && !(value instanceof SFloat)
            ? String(n)
            : typeof n === 'bigint'
              ? String(n)
              : String(Math.trunc(n));
        break;
      }
      case 'o':
      case 'x':
      case 'X': {
        if (typeof value !== 'number' && typeof value !== 'bigint')
          throw runtimeError(`%${conv} format requires integer: ${typeName(value)}`);
        const s = BigInt(value).toString(conv === 'o' ? 8 : 16);
        out += conv === 'X' ? s.toUpperCase() : s;
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G':
        out += fmtFloat(Number(toNum(value, conv)), conv);
        break;
      case 'c':
        if (typeof value === 'number') out += String.fromCodePoint(value);
        else if (typeof value === 'string' && [...value].length === 1) out += value;
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
  charge(2 * out.length + 16);
  return out;
}

/** `str.format`: {} {0} {name}, with {{ and }} escapes and !s / !r conversions. */
export function formatMethod(format: string, args: Value[], kw: Kwargs): string {
  let out = '';
  let auto = 0;
  let mode: 'none' | 'auto' | 'manual' = 'none';
  for (let i = 0; i < format.length; i++) {
    const ch = format[i]!;
    if (ch === '}') {
      if (format[i + 1] === '}') {
        out += '}';
        i++;
        continue;
      }
      throw runtimeError("format: single '}' in format (Found '}' without matching '{')");
    }
    if (ch !== '{') {
      out += ch;
      continue;
    }
    if (format[i + 1] === '{') {
      out += '{';
      i++;
      continue;
    }
    const close = format.indexOf('}', i);
    if (close < 0) throw runtimeError("format: unmatched '{' in format");
    let field = format.slice(i + 1, close);
    if (field.includes('{'))
      throw runtimeError('format: Nested replacement fields are not supported');
    i = close;
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
    out += conv === 'r' ? repr(value) : str(value);
    affordable(2 * out.length);
  }
  charge(2 * out.length + 16);
  return out;
}
