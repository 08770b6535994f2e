/**
 * Whether isolated-vm holds its memory limit hard on the running V8.
 *
 * On V8 13 (Node 24, isolated-vm 7.0.1) a guest that keeps preallocated arrays
 * (`keep.push(new Array(1000))`) grows the isolate's heap to about 8 GiB and runs for 20-40 s,
 * past its wall-clock timeout too, before isolated-vm disposes it: isolated-vm's near-heap-limit
 * callback grants another GiB each time and its kill in the GC epilogue does not fire. The same
 * guest is stopped within 100 ms on V8 11 and 12 (Node 20 with isolated-vm 5, Node 22 with 6).
 * So on V8 13 and later the backend reports `memory: 'soft'` instead of claiming a hard limit.
 */
export function memoryGuarantee(v8Version: string = process.versions.v8): 'hard' | 'soft' {
  const major = Number.parseInt(v8Version, 10);
  return Number.isFinite(major) && major < 13 ? 'hard' : 'soft';
}
