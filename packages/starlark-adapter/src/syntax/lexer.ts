import { StarlarkError } from '../errors.ts';
import { MAX_INT_BITS } from '../values/ints.ts';
import { KEYWORDS, type Keyword, PUNCTS, type Punct, RESERVED, type Token } from './tokens.ts';

const keywordSet = new Set<string>(KEYWORDS);
const PUNCT_BY_FIRST = new Map<string, Punct[]>();
for (const p of PUNCTS) {
  const list = PUNCT_BY_FIRST.get(p[0]!) ?? [];
  list.push(p);
  PUNCT_BY_FIRST.set(p[0]!, list);
}

function isIdentStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c > 127;
}
function isIdentPart(c: number): boolean {
  return isIdentStart(c) || (c >= 48 && c <= 57);
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Turn source text into tokens, with NEWLINE/INDENT/OUTDENT synthesised from indentation
 * outside brackets. Columns count UTF-16 code units from 1; a tab counts as one column.
 */
export function tokenize(src: string, filename = '<input>'): Token[] {
  const out: Token[] = [];
  const indents = [0];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  let depth = 0;
  let atLineStart = true;
  const n = src.length;
  const fail = (msg: string, l = line, c = i - lineStart + 1): never => {
    throw new StarlarkError('syntax', msg, { filename, line: l, col: c });
  };
  const push = (kind: Token['kind'], value: Token['value'], l: number, c: number): void => {
    out.push({ kind, value, line: l, col: c });
  };

  while (true) {
    if (atLineStart && depth === 0) {
      // Measure indentation; blank and comment-only lines do not count.
      let col = 0;
      let j = i;
      while (j < n) {
        const c = src.charCodeAt(j);
        if (c === 32) col++;
        else if (c === 9) col += 8 - (col % 8);
        else if (c === 12) col = 0;
        else break;
        j++;
      }
      const c = j < n ? src.charCodeAt(j) : -1;
      if (c === 10 || c === 13 || c === 35 || c === -1) {
        i = j;
        if (c === 35) while (i < n && src.charCodeAt(i) !== 10) i++;
        if (i >= n) break;
        if (src.charCodeAt(i) === 13) i++;
        if (i < n && src.charCodeAt(i) === 10) i++;
        line++;
        lineStart = i;
        continue;
      }
      if (c === 92 && src.charCodeAt(j + 1) === 10) {
        // A line that starts with a continuation: treat as part of the indentation.
      }
      i = j;
      atLineStart = false;
      const top = indents[indents.length - 1]!;
      if (col > top) {
        indents.push(col);
        push('INDENT', null, line, i - lineStart + 1);
      } else if (col < top) {
        while (col < indents[indents.length - 1]!) {
          indents.pop();
          push('OUTDENT', null, line, i - lineStart + 1);
        }
        if (col !== indents[indents.length - 1])
          fail('unindent does not match any outer indentation level');
      }
    }
    if (i >= n) break;
    const c = src.charCodeAt(i);
    const tokCol = i - lineStart + 1;
    if (c === 32 || c === 9 || c === 12) {
      i++;
      continue;
    }
    if (c === 13 && src.charCodeAt(i + 1) === 10) {
      i++;
      continue;
    }
    if (c === 10 || c === 13) {
      if (depth === 0) push('NEWLINE', null, line, tokCol);
      i++;
      line++;
      lineStart = i;
      atLineStart = depth === 0;
      continue;
    }
    if (c === 35) {
      while (i < n && src.charCodeAt(i) !== 10) i++;
      continue;
    }
    if (c === 92) {
      // Explicit line continuation.
      if (src.charCodeAt(i + 1) === 10) {
        i += 2;
        line++;
        lineStart = i;
        continue;
      }
      if (src.charCodeAt(i + 1) === 13 && src.charCodeAt(i + 2) === 10) {
        i += 3;
        line++;
        lineStart = i;
        continue;
      }
      fail('unexpected backslash: a continuation must end the line');
    }
    // String and bytes literals, with optional r/b prefixes.
    if (c === 34 || c === 39 || isStringPrefix(src, i)) {
      let raw = false;
      let bytes = false;
      let j = i;
      while (src.charCodeAt(j) !== 34 && src.charCodeAt(j) !== 39) {
        const p = src[j]!.toLowerCase();
        if (p === 'r') raw = true;
        else bytes = true;
        j++;
      }
      const startLine = line;
      const r = scanString(src, j, raw, bytes, (msg, at) => {
        let l = startLine;
        let ls = lineStart;
        for (let k = i; k < at; k++)
          if (src.charCodeAt(k) === 10) {
            l++;
            ls = k + 1;
          }
        return fail(msg, l, at - ls + 1);
      });
      for (let k = i; k < r.end; k++)
        if (src.charCodeAt(k) === 10) {
          line++;
          lineStart = k + 1;
        }
      i = r.end;
      push(bytes ? 'BYTES' : 'STRING', r.value, startLine, tokCol);
      continue;
    }
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentPart(src.charCodeAt(j))) j++;
      const word = src.slice(i, j);
      i = j;
      if (keywordSet.has(word)) push(word as Keyword, null, line, tokCol);
      else if (RESERVED.has(word)) fail(`keyword '${word}' is reserved`, line, tokCol);
      else push('IDENT', word, line, tokCol);
      continue;
    }
    if (isDigit(c) || (c === 46 && isDigit(src.charCodeAt(i + 1)))) {
      const r = scanNumber(src, i, (msg) => fail(msg, line, tokCol));
      i = r.end;
      push(r.float ? 'FLOAT' : 'INT', r.value, line, tokCol);
      continue;
    }
    const candidates = PUNCT_BY_FIRST.get(src[i]!);
    if (candidates) {
      let matched: Punct | undefined;
      for (const p of candidates) {
        if (src.startsWith(p, i) && (matched === undefined || p.length > matched.length))
          matched = p;
      }
      if (matched === undefined) fail(`unexpected character ${JSON.stringify(src[i])}`);
      const p = matched as Punct;
      if (p === '(' || p === '[' || p === '{') depth++;
      else if (p === ')' || p === ']' || p === '}') depth = Math.max(0, depth - 1);
      i += p.length;
      push(p, null, line, tokCol);
      continue;
    }
    fail(`unexpected character ${JSON.stringify(src[i])}`);
  }
  const last = out[out.length - 1];
  if (last !== undefined && last.kind !== 'NEWLINE' && last.kind !== 'OUTDENT')
    push('NEWLINE', null, line, i - lineStart + 1);
  while (indents.length > 1) {
    indents.pop();
    push('OUTDENT', null, line, i - lineStart + 1);
  }
  push('EOF', null, line, i - lineStart + 1);
  return out;
}

function isStringPrefix(src: string, i: number): boolean {
  const a = src[i]?.toLowerCase();
  if (a !== 'r' && a !== 'b') return false;
  const b = src[i + 1];
  if (b === '"' || b === "'") return true;
  const bl = b?.toLowerCase();
  if ((a === 'r' && bl === 'b') || (a === 'b' && bl === 'r')) {
    const q = src[i + 2];
    return q === '"' || q === "'";
  }
  return false;
}

function scanString(
  src: string,
  start: number,
  raw: boolean,
  bytes: boolean,
  fail: (msg: string, at: number) => never,
): { value: string | Uint8Array; end: number } {
  const q = src[start]!;
  const triple = src[start + 1] === q && src[start + 2] === q;
  let i = start + (triple ? 3 : 1);
  // Text pieces; for bytes, every piece becomes UTF-8 except \x and octal escapes (raw bytes).
  const parts: (string | number)[] = [];
  let buf = '';
  const n = src.length;
  while (true) {
    if (i >= n) fail(triple ? 'unterminated triple-quoted string' : 'unterminated string', start);
    const ch = src[i]!;
    if (ch === q) {
      if (!triple) {
        i++;
        break;
      }
      if (src[i + 1] === q && src[i + 2] === q) {
        i += 3;
        break;
      }
      buf += ch;
      i++;
      continue;
    }
    if ((ch === '\n' || ch === '\r') && !triple)
      fail('unterminated string: newline in literal', start);
    if (ch === '\r') {
      // Normalise CRLF inside triple-quoted strings.
      i++;
      continue;
    }
    if (ch !== '\\') {
      buf += ch;
      i++;
      continue;
    }
    const e = src[i + 1];
    if (e === undefined) fail('unterminated string', start);
    if (raw) {
      // In a raw string a backslash is literal, but it still protects the next quote.
      if (e === '\n') {
        buf += '\\\n';
        i += 2;
        continue;
      }
      buf += `\\${e}`;
      i += 2;
      continue;
    }
    i += 2;
    switch (e) {
      case '\n':
        break;
      case '\r':
        if (src[i] === '\n') i++;
        break;
      case 'n':
        buf += '\n';
        break;
      case 't':
        buf += '\t';
        break;
      case 'r':
        buf += '\r';
        break;
      case 'a':
        buf += '\x07';
        break;
      case 'b':
        buf += '\b';
        break;
      case 'f':
        buf += '\f';
        break;
      case 'v':
        buf += '\v';
        break;
      case '\\':
      case "'":
      case '"':
        buf += e;
        break;
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7': {
        let j = i - 1;
        let v = 0;
        let k = 0;
        while (k < 3 && j < n && src[j]! >= '0' && src[j]! <= '7') {
          v = v * 8 + (src.charCodeAt(j) - 48);
          j++;
          k++;
        }
        i = j;
        if (v > 255) fail('octal escape value > 255', i);
        if (bytes) {
          parts.push(buf, v);
          buf = '';
        } else {
          if (v > 127) fail('non-ASCII octal escape in string; use \\u', i);
          buf += String.fromCharCode(v);
        }
        break;
      }
      case 'x': {
        const hex = src.slice(i, i + 2);
        if (!/^[0-9a-fA-F]{2}$/.test(hex))
          fail('invalid escape sequence \\x: want two hex digits', i);
        const v = Number.parseInt(hex, 16);
        i += 2;
        if (bytes) {
          parts.push(buf, v);
          buf = '';
        } else {
          if (v > 127) fail('non-ASCII hex escape in string; use \\u', i);
          buf += String.fromCharCode(v);
        }
        break;
      }
      case 'u':
      case 'U': {
        const len = e === 'u' ? 4 : 8;
        const hex = src.slice(i, i + len);
        if (hex.length !== len || !/^[0-9a-fA-F]+$/.test(hex))
          fail(`invalid escape sequence \\${e}: want ${len} hex digits`, i);
        const v = Number.parseInt(hex, 16);
        if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000))
          fail(`invalid Unicode code point U+${hex}`, i);
        i += len;
        buf += String.fromCodePoint(v);
        break;
      }
      default:
        fail(`invalid escape sequence \\${e}`, i - 2);
    }
  }
  if (!bytes) return { value: buf, end: i };
  parts.push(buf);
  const enc = new TextEncoder();
  const chunks: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') chunks.push(p);
    else for (const b of enc.encode(p)) chunks.push(b);
  }
  return { value: Uint8Array.from(chunks), end: i };
}

function scanNumber(
  src: string,
  start: number,
  fail: (msg: string) => never,
): { value: number | bigint; end: number; float: boolean } {
  let i = start;
  const n = src.length;
  const c0 = src[i];
  const c1 = src[i + 1]?.toLowerCase();
  if (c0 === '0' && (c1 === 'x' || c1 === 'o' || c1 === 'b')) {
    const base = c1 === 'x' ? 16 : c1 === 'o' ? 8 : 2;
    i += 2;
    const s = i;
    while (i < n && /[0-9a-zA-Z_]/.test(src[i]!)) i++;
    const digits = src.slice(s, i);
    const valid = base === 16 ? /^[0-9a-fA-F]+$/ : base === 8 ? /^[0-7]+$/ : /^[01]+$/;
    if (!valid.test(digits))
      fail(`invalid ${base === 16 ? 'hex' : base === 8 ? 'octal' : 'binary'} literal`);
    const prefix = base === 16 ? '0x' : base === 8 ? '0o' : '0b';
    if (digits.length * Math.log2(base) > MAX_INT_BITS) fail(tooLarge(digits.length));
    return { value: normInt(BigInt(prefix + digits)), end: i, float: false };
  }
  while (i < n && isDigit(src.charCodeAt(i))) i++;
  let float = false;
  if (src[i] === '.') {
    float = true;
    i++;
    while (i < n && isDigit(src.charCodeAt(i))) i++;
  }
  if (src[i] === 'e' || src[i] === 'E') {
    let j = i + 1;
    if (src[j] === '+' || src[j] === '-') j++;
    if (isDigit(src.charCodeAt(j))) {
      float = true;
      while (j < n && isDigit(src.charCodeAt(j))) j++;
      i = j;
    } else fail('invalid float literal: exponent has no digits');
  }
  const text = src.slice(start, i);
  if (float) {
    const v = Number(text);
    if (!Number.isFinite(v)) fail(`floating-point literal ${text} is too large`);
    return { value: v, end: i, float: true };
  }
  if (text.length > 1 && text[0] === '0') {
    if (!/^0+$/.test(text))
      fail(`invalid int literal ${text}: leading zeros are not allowed; use 0o for octal`);
  }
  if (text.length * Math.log2(10) > MAX_INT_BITS) fail(tooLarge(text.length));
  return { value: normInt(BigInt(text)), end: i, float: false };
}

function tooLarge(digits: number): string {
  return `int literal of ${digits} digits is over the ${MAX_INT_BITS}-bit bound for ints`;
}

function normInt(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(-Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v;
}
