// One definition of these rules for every backend: the core's.
export { resolveLimits, sanitizeFailureMessage } from '@wardwright/core';

/** UTF-8 length without encoding, and without counting at all when the answer is obvious. */
export function exceedsUtf8(text: string, maxBytes: number): boolean {
  // A UTF-16 unit is 1–3 UTF-8 bytes (a surrogate pair is 4 bytes for 2 units).
  if (text.length > maxBytes) return true;
  if (text.length * 3 <= maxBytes) return false;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
    if (bytes > maxBytes) return true;
  }
  return false;
}

/**
 * The deepest JSON nesting that crosses the guest boundary. QuickJS's `JSON.parse` and
 * `JSON.stringify` recurse on the WASM call stack, which is the host's stack, without moving the
 * C stack pointer that `setMaxStackSize` watches: about 5 000 levels overflow the HOST and leave
 * the runtime corrupted. 1 000 keeps a wide margin for whatever the host already has on its stack.
 */
export const MAX_JSON_DEPTH = 1000;

/**
 * Whether a JSON text nests arrays/objects deeper than `maxDepth`, by one scan that skips strings.
 * Texts too short to hold `maxDepth + 1` opening brackets are not scanned.
 */
export function exceedsJsonDepth(json: string, maxDepth: number): boolean {
  if (json.length <= 2 * maxDepth + 1) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const code = json.charCodeAt(i);
    if (inString) {
      if (code === 0x5c)
        i++; // backslash: the next unit is escaped
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) inString = true;
    else if (code === 0x5b || code === 0x7b) {
      if (++depth > maxDepth) return true;
    } else if (code === 0x5d || code === 0x7d) depth--;
  }
  return false;
}

export const WASM_PAGE_BYTES = 64 * 1024;
/** The QuickJS module declares a 16 MiB minimum memory (256 pages) and a 2 GiB maximum. */
export const MIN_WASM_PAGES = 256;
export const MAX_WASM_PAGES = 32768;

/** The fixed WASM memory cap for a memory limit: whole pages, within what the module accepts. */
export function wasmPagesFor(memoryBytes: number): number {
  return Math.min(
    MAX_WASM_PAGES,
    Math.max(MIN_WASM_PAGES, Math.ceil(memoryBytes / WASM_PAGE_BYTES)),
  );
}
