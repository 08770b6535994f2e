import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  hasNoNodeSnapshotFlag,
  SNAPSHOT_WARNING_CODE,
  warnWithoutNoNodeSnapshot,
} from './snapshot-warning.ts';

const marker = Symbol.for('wardwright.sandbox-isolated-vm.snapshot-warning');

afterEach(() => {
  delete (globalThis as { [marker]?: true })[marker];
  vi.restoreAllMocks();
});

describe('the --no-node-snapshot warning', () => {
  it('recognises the flag on the command line or in NODE_OPTIONS', () => {
    expect(hasNoNodeSnapshotFlag(['--no-node-snapshot'], undefined)).toBe(true);
    expect(hasNoNodeSnapshotFlag([], '--max-old-space-size=512 --no-node-snapshot')).toBe(true);
    expect(hasNoNodeSnapshotFlag(['--inspect'], '--no-node-snapshots-please')).toBe(false);
    expect(hasNoNodeSnapshotFlag([], undefined)).toBe(false);
    // The test runner passes it (vitest.config.ts), so the defaults see it.
    expect(warnWithoutNoNodeSnapshot()).toBe(false);
  });

  it('warns once per process, with a code, when the flag is missing', () => {
    const emit = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    expect(warnWithoutNoNodeSnapshot(['--no-node-snapshot'], undefined)).toBe(false);
    expect(emit).not.toHaveBeenCalled();
    expect(warnWithoutNoNodeSnapshot([], undefined)).toBe(true);
    expect(warnWithoutNoNodeSnapshot([], '')).toBe(false);
    expect(emit).toHaveBeenCalledTimes(1);
    expect(emit.mock.calls[0]?.[0]).toMatch(/--no-node-snapshot/);
    expect(emit.mock.calls[0]?.[1]).toMatchObject({ code: SNAPSHOT_WARNING_CODE });
    expect(SNAPSHOT_WARNING_CODE).toBe('WARDWRIGHT_IVM_SNAPSHOT');
  });

  it('is emitted by the backend on load when node runs without the flag', async () => {
    const emit = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const saved = process.execArgv;
    const savedOptions = process.env.NODE_OPTIONS;
    process.execArgv = saved.filter((arg) => arg !== '--no-node-snapshot');
    delete process.env.NODE_OPTIONS;
    try {
      const { isolatedVmSandbox } = await import('./backend.ts');
      const backend = isolatedVmSandbox();
      const code = 'function f() { return 1; }';
      await backend.load({ name: 'a', language: 'javascript', code });
      await backend.load({ name: 'b', language: 'javascript', code });
      await backend.dispose();
    } finally {
      process.execArgv = saved;
      if (savedOptions !== undefined) process.env.NODE_OPTIONS = savedOptions;
    }
    const ours = emit.mock.calls.filter(
      (call) => (call[1] as { code?: string } | undefined)?.code === SNAPSHOT_WARNING_CODE,
    );
    expect(ours).toHaveLength(1);
  });
});
