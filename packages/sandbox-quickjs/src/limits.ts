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
