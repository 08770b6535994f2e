// One definition of these rules for every backend: the core's.
/**
 * Core's MAX_JSON_DEPTH is what QuickJS needs: its `JSON.parse` and `JSON.stringify` recurse on
 * the WASM call stack, which is the host's stack, without moving the C stack pointer that
 * `setMaxStackSize` watches. About 5 000 levels overflow the HOST and leave the runtime corrupted;
 * 1 000 keeps a wide margin. The call wrapper refuses deeper input before it reaches the guest.
 */
export { MAX_JSON_DEPTH, resolveLimits, sanitizeFailureMessage } from '@wardwright/core';

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
