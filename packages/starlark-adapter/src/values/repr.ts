import { charge, thread, WORK_PER_STEP, work } from '../limits/thread.ts';
import { intToString } from './ints.ts';
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

/**
 * A string that grows piece by piece within the allocation budget: every piece is checked before
 * it is kept (`reserve` checks one whose size is known before it is built), so a value that
 * expands far beyond its own size (a list shared many times over, a string shared by many
 * elements) fails with memory_limit before the host builds it. The units written are charged as
 * steps (one per WORK_PER_STEP, see `work`) every METER units, and the clock read with them, so
 * neither the step budget nor the deadline is outrun inside one conversion; small outputs cost no
 * step. The result itself is charged by whoever keeps it, once it is done.
 */
export class Builder {
  /** Code units written so far. */
  length = 0;
  /** Units already charged as steps (a multiple of WORK_PER_STEP). */
  private metered = 0;
  /** The length at which the budget is checked (and steps charged) next. */
  private next = 0;
  private parts: string[] = [];
  private chunks: string[] = [];

  /**
   * `paid`: the result's size was charged and its work counted before it is built, so the builder
   * only joins its pieces.
   */
  constructor(private readonly paid = false) {}

  /** Refuse, before it is built, a piece of `n` units that the budget cannot pay for. */
  reserve(n: number): void {
    if (this.paid) return;
    const t = thread();
    if (t.alloc + 2 * (this.length + n) > t.allocMax) t.memFail();
  }

  /**
   * Keep a piece. A long one is checked against the budget first; short ones (punctuation, small
   * numbers) every CHECK units, which lets the text pass the budget by at most that much.
   */
  add(piece: string): void {
    const n = piece.length;
    if (n > CHECK) this.reserve(n);
    this.parts.push(piece);
    this.length += n;
    // Small pieces are joined as they come, so the host keeps flat strings, not a rope of them.
    if (this.parts.length >= JOIN_EVERY) {
      this.chunks.push(this.parts.join(''));
      this.parts.length = 0;
    }
    if (this.length >= this.next) this.checkpoint();
  }

  private checkpoint(): void {
    this.reserve(0);
    if (this.length - this.metered >= METER) this.meter();
    this.next = this.length + CHECK;
  }

  private meter(): void {
    const units = this.length - this.metered;
    if (!this.paid) work(units);
    this.metered += units - (units % WORK_PER_STEP);
  }

  done(): string {
    this.reserve(0);
    this.meter();
    if (this.chunks.length === 0)
      return this.parts.length === 1 ? this.parts[0]! : this.parts.join('');
    this.chunks.push(this.parts.join(''));
    this.parts.length = 0;
    return this.chunks.join('');
  }
}

const JOIN_EVERY = 1024;
const CHECK = 4096;
const METER = 1 << 16;

/** A character that repr escapes. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const ESCAPED = /["\\\x00-\x1f\x7f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const ESCAPED_ALL = /["\\\x00-\x1f\x7f]/g;

function escapeChar(ch: string): string {
  switch (ch) {
    case '"':
      return '\\"';
    case '\\':
      return '\\\\';
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default:
      return `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
  }
}

/** The length of a character's escape (1 when it is not escaped). */
function escapedLength(c: number): number {
  if (c === 34 || c === 92 || c === 10 || c === 13 || c === 9) return 2;
  return c < 32 || c === 127 ? 4 : 1;
}

function quoteInto(s: string, b: Builder): void {
  b.reserve(s.length + 2);
  if (!ESCAPED.test(s)) {
    b.add('"');
    b.add(s);
    b.add('"');
    return;
  }
  // The exact size first (one scan, nothing allocated), then the escaped text natively.
  let n = 2;
  for (let i = 0; i < s.length; i++) n += escapedLength(s.charCodeAt(i));
  b.reserve(n);
  b.add(`"${s.replace(ESCAPED_ALL, escapeChar)}"`);
}

export function quote(s: string): string {
  const b = new Builder();
  quoteInto(s, b);
  return b.done();
}

/** repr of each byte value inside b"...". */
const BYTE_REPR: readonly string[] = Array.from({ length: 256 }, (_, c) => {
  if (c === 34) return '\\"';
  if (c === 92) return '\\\\';
  if (c === 10) return '\\n';
  if (c === 13) return '\\r';
  if (c === 9) return '\\t';
  if (c < 32 || c >= 127) return `\\x${c.toString(16).padStart(2, '0')}`;
  return String.fromCharCode(c);
});

function quoteBytesInto(bytes: Uint8Array, b: Builder): void {
  let n = 3;
  for (let i = 0; i < bytes.length; i++) n += BYTE_REPR[bytes[i]!]!.length;
  b.reserve(n);
  b.add('b"');
  const piece: string[] = [];
  for (let i = 0; i < bytes.length; i += JOIN_EVERY) {
    const end = Math.min(i + JOIN_EVERY, bytes.length);
    piece.length = 0;
    for (let j = i; j < end; j++) piece.push(BYTE_REPR[bytes[j]!]!);
    b.add(piece.join(''));
  }
  b.add('"');
}

/** repr(): strings quoted; containers recurse. Cycles print as `[...]`. */
export function repr(v: Value): string {
  const b = new Builder();
  reprInto(v, b, new Set());
  return b.done();
}

/** Write repr(v) to `b`; `seen` holds the containers being written, for cycles. */
export function reprInto(v: Value, b: Builder, seen: Set<unknown>): void {
  switch (typeof v) {
    case 'string':
      quoteInto(v, b);
      return;
    case 'number':
      b.add(String(v));
      return;
    case 'bigint':
      b.add(intToString(v));
      return;
    case 'boolean':
      b.add(v ? 'True' : 'False');
      return;
    default:
  }
  if (v === null) b.add('None');
  else if (v instanceof SFloat) b.add(reprFloat(v.v));
  else if (v instanceof SList || v instanceof STuple) {
    if (seen.has(v)) {
      b.add('[...]');
      return;
    }
    const items = v.items;
    // Charged per element visited, as before the output was bounded too.
    charge(8 * items.length);
    seen.add(v);
    const tuple = v instanceof STuple;
    b.add(tuple ? '(' : '[');
    for (let i = 0; i < items.length; i++) {
      if (i > 0) b.add(', ');
      reprInto(items[i]!, b, seen);
    }
    b.add(tuple ? (items.length === 1 ? ',)' : ')') : ']');
    seen.delete(v);
  } else if (v instanceof SDict || v instanceof SSet) {
    if (seen.has(v)) {
      b.add(v instanceof SDict ? '{...}' : '[...]');
      return;
    }
    charge(8 * v.m.size);
    seen.add(v);
    let first = true;
    if (v instanceof SDict) {
      b.add('{');
      for (const [k, x] of v.m) {
        if (!first) b.add(', ');
        first = false;
        reprInto(v.key(k), b, seen);
        b.add(': ');
        reprInto(x, b, seen);
      }
      b.add('}');
    } else {
      b.add('set([');
      for (const x of v.m.values()) {
        if (!first) b.add(', ');
        first = false;
        reprInto(x, b, seen);
      }
      b.add('])');
    }
    seen.delete(v);
  } else if (v instanceof SRange) {
    if (v.step === 1) b.add(v.start === 0 ? `range(${v.stop})` : `range(${v.start}, ${v.stop})`);
    else b.add(`range(${v.start}, ${v.stop}, ${v.step})`);
  } else if (v instanceof SBytes) quoteBytesInto(v.b, b);
  else if (v instanceof SStruct) {
    b.add('struct(');
    let first = true;
    for (const [k, x] of v.fields) {
      if (!first) b.add(', ');
      first = false;
      b.add(`${k} = `);
      reprInto(x, b, seen);
    }
    b.add(')');
  } else if (v instanceof SModule) b.add(`<module ${v.name}>`);
  else if (v instanceof Callable) {
    const label = (v as { typeLabel?: string }).typeLabel;
    b.add(
      label === 'builtin_function_or_method'
        ? `<built-in function ${v.name}>`
        : `<function ${v.name}>`,
    );
  } else b.add('?');
}

/** str(): like repr except that a string is itself. */
export function str(v: Value): string {
  if (typeof v === 'string') return v;
  const b = new Builder();
  strInto(v, b);
  return b.done();
}

/** Write str(v) to `b`. */
export function strInto(v: Value, b: Builder): void {
  if (typeof v === 'string') b.add(v);
  else if (v instanceof SBytes) {
    // Decoding yields at most one UTF-16 unit per byte.
    b.reserve(v.b.length);
    b.add(new TextDecoder().decode(v.b));
  } else reprInto(v, b, new Set());
}
