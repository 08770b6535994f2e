import type { JsonValue } from '@wardwright/core';

/**
 * JSON values in QuickJS's own binary object format (what `JS_WriteObject` writes and
 * `JS_ReadObject` reads; quickjs-emscripten exposes the reader as `decodeBinaryJSON`). Decoding it
 * in the guest is about 4× faster than the guest's `JSON.parse` of the same input, which is most of
 * a small policy call's cost.
 *
 * The format is QuickJS's internal one, not a standard, and may change with a QuickJS release: an
 * engine compares this writer's bytes with QuickJS's own for a sample value before it uses them
 * (see `binaryInputWorks` in session.ts) and falls back to JSON text otherwise.
 *
 * Layout: a version byte; the atom table (every property name, in order of first use); then the
 * value. Integers are LEB128; signed ones zigzag-encoded first. A property name that is an array
 * index up to 2^31 - 1 is an integer atom, not a table entry.
 */
export const BINARY_JSON_VERSION = 5;

const TAG_NULL = 1;
const TAG_FALSE = 3;
const TAG_TRUE = 4;
const TAG_INT32 = 5;
const TAG_FLOAT64 = 6;
const TAG_STRING = 7;
const TAG_OBJECT = 8;
const TAG_ARRAY = 9;
/** Atom references count from 1 when no bytecode is written (all atoms go in the table). */
const FIRST_ATOM = 1;
const MAX_INT_ATOM = 2 ** 31 - 1;
const ARRAY_INDEX = /^(?:0|[1-9]\d{0,9})$/;

class Bytes {
  buffer = Buffer.allocUnsafe(256);
  length = 0;

  private reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + extra) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buffer.copy(next, 0, 0, this.length);
    this.buffer = next;
  }

  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  /** Unsigned LEB128 of a value in [0, 2^32). */
  leb128(value: number): void {
    this.reserve(5);
    let v = value >>> 0;
    while (v >= 0x80) {
      this.buffer[this.length++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buffer[this.length++] = v;
  }

  float64(value: number): void {
    this.reserve(8);
    this.buffer.writeDoubleLE(value, this.length);
    this.length += 8;
  }

  /** A QuickJS string: length and width, then Latin-1 bytes or UTF-16LE units. */
  string(text: string): void {
    const n = text.length;
    // Latin-1 first, in one pass; the first wider unit restarts the string as UTF-16.
    const start = this.length;
    this.leb128(n * 2);
    this.reserve(n);
    const { buffer } = this;
    let at = this.length;
    for (let i = 0; i < n; i++) {
      const unit = text.charCodeAt(i);
      if (unit > 0xff) {
        this.length = start;
        this.wide(text);
        return;
      }
      buffer[at++] = unit;
    }
    this.length = at;
  }

  private wide(text: string): void {
    const n = text.length;
    this.leb128(n * 2 + 1);
    this.reserve(n * 2);
    const { buffer } = this;
    let at = this.length;
    for (let i = 0; i < n; i++) {
      const unit = text.charCodeAt(i);
      buffer[at++] = unit & 0xff;
      buffer[at++] = unit >>> 8;
    }
    this.length = at;
  }
}

/**
 * Encode a JSON value: a tree made by `JSON.parse` (no `toJSON`, no `undefined`, no non-finite
 * numbers, no cycles). The caller parses its own JSON text to get one, so the guest sees exactly
 * what it would have parsed from that text. Undefined when arrays and objects nest deeper than
 * `maxDepth` (QuickJS's reader recurses on the host's stack, like its JSON.parse).
 */
export function encodeBinaryJson(
  value: JsonValue,
  maxDepth = Number.POSITIVE_INFINITY,
): Uint8Array | undefined {
  const body = new Bytes();
  const atoms = new Map<string, number>();
  const atomTable = new Bytes();

  const atom = (name: string) => {
    const first = name.charCodeAt(0);
    if (first >= 0x30 && first <= 0x39 && ARRAY_INDEX.test(name)) {
      const index = Number(name);
      if (index <= MAX_INT_ATOM) {
        body.leb128(index * 2 + 1);
        return;
      }
    }
    let id = atoms.get(name);
    if (id === undefined) {
      id = atoms.size;
      atoms.set(name, id);
      atomTable.string(name);
    }
    body.leb128((FIRST_ATOM + id) * 2);
  };

  let depth = 0;
  let tooDeep = false;
  const write = (v: JsonValue): void => {
    if (v === null) body.byte(TAG_NULL);
    else if (v === true) body.byte(TAG_TRUE);
    else if (v === false) body.byte(TAG_FALSE);
    else if (typeof v === 'number') {
      if (Number.isInteger(v) && v >= -(2 ** 31) && v <= MAX_INT_ATOM && !Object.is(v, -0)) {
        body.byte(TAG_INT32);
        // Zigzag: 0, -1, 1, -2… → 0, 1, 2, 3…
        body.leb128(v >= 0 ? v * 2 : -v * 2 - 1);
      } else {
        body.byte(TAG_FLOAT64);
        body.float64(v);
      }
    } else if (typeof v === 'string') {
      body.byte(TAG_STRING);
      body.string(v);
    } else if (++depth > maxDepth || tooDeep) {
      tooDeep = true;
    } else {
      if (Array.isArray(v)) {
        body.byte(TAG_ARRAY);
        body.leb128(v.length);
        for (const item of v) write(item);
      } else {
        const keys = Object.keys(v);
        body.byte(TAG_OBJECT);
        body.leb128(keys.length);
        for (const key of keys) {
          atom(key);
          write(v[key] as JsonValue);
        }
      }
      depth--;
    }
  };

  write(value);
  if (tooDeep) return undefined;
  const header = new Bytes();
  header.byte(BINARY_JSON_VERSION);
  header.leb128(atoms.size);
  const out = new Uint8Array(header.length + atomTable.length + body.length);
  out.set(header.buffer.subarray(0, header.length), 0);
  out.set(atomTable.buffer.subarray(0, atomTable.length), header.length);
  out.set(body.buffer.subarray(0, body.length), header.length + atomTable.length);
  return out;
}
