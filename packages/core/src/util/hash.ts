import { hash } from 'node:crypto';

/**
 * Canonical JSON (object keys sorted by code unit, no whitespace, `undefined` members dropped)
 * so that the same value always hashes the same, whatever order its keys were written in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    return text === undefined ? 'null' : text;
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += canonicalJson(value[i]);
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const member = record[key];
    if (member === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += `${JSON.stringify(key)}:${canonicalJson(member)}`;
  }
  return `${out}}`;
}

/** `sha256:` + hex of the UTF-8 bytes of `text`. */
export function sha256(text: string): string {
  // The one-shot `hash` (Node 20.12+) costs a third of createHash().update().digest().
  return `sha256:${hash('sha256', text, 'hex')}`;
}

/** The digest of a JSON value's canonical form. */
export function digestJson(value: unknown): string {
  return sha256(canonicalJson(value));
}

/**
 * A fast 64-bit non-cryptographic hash (two interleaved 32-bit multiply-xorshift lanes), as
 * 16 hex digits. For identifiers derived from values that are already digests: it only has to
 * spread them, not resist an attacker.
 */
export function hash64Hex(text: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h2 >>> 0).toString(16).padStart(8, '0') + (h1 >>> 0).toString(16).padStart(8, '0');
}
