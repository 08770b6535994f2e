/**
 * UTF-8 byte arithmetic over JavaScript (UTF-16) strings, without allocating a buffer.
 *
 * Receipts report byte offsets because that is what crosses the wire; the governors work on
 * strings because that is what providers hand us. A lone surrogate counts as 3 bytes, the size
 * of the U+FFFD that `TextEncoder` would write for it.
 */

// The engine's regex scanner skips an ASCII run several times faster than a charCodeAt loop,
// and model output is mostly ASCII.
const NON_ASCII = /[\u0080-\uffff]/;

/** Number of UTF-8 bytes `text.slice(from, to)` encodes to. */
export function utf8Length(text: string, from = 0, to = text.length): number {
  const part = from === 0 && to === text.length ? text : text.slice(from, to);
  const firstWide = part.search(NON_ASCII);
  if (firstWide < 0) return part.length;
  let bytes = firstWide;
  for (let i = from + firstWide; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < to && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Whether `text` is longer than `maxBytes` in UTF-8, without counting at all when the answer is
 * obvious from its UTF-16 length (a unit is 1 to 3 bytes; a surrogate pair is 4 bytes for 2), and
 * stopping as soon as it is.
 */
export function utf8Exceeds(text: string, maxBytes: number): boolean {
  if (text.length > maxBytes) return true;
  if (text.length * 3 <= maxBytes) return false;
  const firstWide = text.search(NON_ASCII);
  if (firstWide < 0) return false;
  let bytes = firstWide;
  for (let i = firstWide; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (
      c >= 0xd800 &&
      c <= 0xdbff &&
      i + 1 < text.length &&
      isLowSurrogate(text.charCodeAt(i + 1))
    ) {
      bytes += 4;
      i++;
    } else bytes += 3;
    if (bytes > maxBytes) return true;
  }
  return false;
}

/**
 * The largest index `i` in `[from, text.length]` such that `text.slice(from, i)` is at most
 * `budget` bytes and `i` does not fall between the two halves of a surrogate pair.
 */
export function indexWithinBudget(text: string, from: number, budget: number): number {
  let bytes = 0;
  let i = from;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    let width: number;
    let units = 1;
    if (c < 0x80) width = 1;
    else if (c < 0x800) width = 2;
    else if (isHighSurrogate(c) && i + 1 < text.length && isLowSurrogate(text.charCodeAt(i + 1))) {
      width = 4;
      units = 2;
    } else width = 3;
    if (bytes + width > budget) break;
    bytes += width;
    i += units;
  }
  return i;
}

export function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

export function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
