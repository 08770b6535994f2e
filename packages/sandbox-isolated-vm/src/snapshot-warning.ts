/**
 * isolated-vm asks for `node --no-node-snapshot` on Node 20+: V8's shared read-only heap can
 * crash the process when isolates start from different snapshots (laverdet/isolated-vm#420).
 * It is platform-dependent, so the backend warns rather than refusing to run.
 */

export const SNAPSHOT_WARNING_CODE = 'WARDWRIGHT_IVM_SNAPSHOT';

// A process-wide marker, not a module variable: the ESM and CJS builds may both be loaded.
const warned = Symbol.for('wardwright.sandbox-isolated-vm.snapshot-warning');

export function hasNoNodeSnapshotFlag(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): boolean {
  return (
    execArgv.includes('--no-node-snapshot') ||
    (nodeOptions ?? '').split(/\s+/).includes('--no-node-snapshot')
  );
}

/** Emits the warning at most once per process; returns whether it emitted it now. */
export function warnWithoutNoNodeSnapshot(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
): boolean {
  const registry = globalThis as { [warned]?: true };
  if (registry[warned] || hasNoNodeSnapshotFlag(execArgv, nodeOptions)) return false;
  registry[warned] = true;
  process.emitWarning(
    'isolated-vm needs node to run with --no-node-snapshot on Node 20 and later; without it ' +
      'V8 may crash the process on some platforms. Pass it on the command line or in NODE_OPTIONS.',
    { code: SNAPSHOT_WARNING_CODE, type: 'Warning' },
  );
  return true;
}
