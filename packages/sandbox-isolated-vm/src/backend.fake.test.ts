import { SandboxLoadError } from '@wardwright/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

/*
 * Paths real isolates cannot be driven into on purpose (V8 losing control of an isolate, an
 * unexpected host error, a failed re-creation), checked against a stand-in isolated-vm.
 */

interface Plan {
  output: unknown;
  callError: unknown;
  disposeOnCall: boolean;
  createError: unknown;
  compileError: unknown;
  /** When set, importing isolated-vm throws it (as if the package were missing). */
  importError: unknown;
  /** How many times isolated-vm was imported (the mock factory ran). */
  imports: number;
}
let plan: Plan;
let isolates: FakeIsolate[];

class FakeIsolate {
  isDisposed = false;
  cpuTime = 0n;
  heapReads = 0;
  constructor(readonly options: { onCatastrophicError?: (message: string) => void }) {
    if (plan.createError !== undefined) throw plan.createError;
    isolates.push(this);
  }
  createContextSync() {
    const isolate = this;
    const control = {
      applySync(_: unknown, args: unknown[]) {
        // Discovering the entries takes 3 ms of isolate CPU time, each call 2 ms.
        if (args[0] === 0) {
          isolate.cpuTime += 3_000_000n;
          return '["f"]';
        }
        isolate.cpuTime += 2_000_000n;
        if (plan.disposeOnCall) isolate.isDisposed = true;
        if (plan.callError !== undefined) throw plan.callError;
        return plan.output;
      },
    };
    return { evalSync: () => control, release() {} };
  }
  compileScriptSync() {
    if (plan.compileError !== undefined) throw plan.compileError;
    return { runSync() {} };
  }
  getHeapStatisticsSync() {
    this.heapReads++;
    // Heap use grows with every reading, so a test can tell which reading a call reports.
    return { used_heap_size: this.heapReads * 1000 };
  }
  dispose() {
    this.isDisposed = true;
  }
}

const source = { name: 'p', language: 'javascript' as const, code: 'function f() {}' };

beforeEach(() => {
  plan = {
    output: '1',
    callError: undefined,
    disposeOnCall: false,
    createError: undefined,
    compileError: undefined,
    importError: undefined,
    imports: 0,
  };
  isolates = [];
  vi.resetModules();
  // One doMock per test, whose factory the test steers through `plan`: Vitest (4.1) resolves
  // doMocks queued before the same import in parallel and registers them in the order they
  // resolve, so a second doMock of this path in a test could intermittently lose to this one.
  vi.doMock('isolated-vm', () => {
    plan.imports++;
    if (plan.importError !== undefined) throw plan.importError;
    return { default: { Isolate: FakeIsolate } };
  });
});
afterEach(() => vi.doUnmock('isolated-vm'));

const fresh = async (options = {}) => (await import('./backend.ts')).isolatedVmSandbox(options);

describe('isolated-vm backend: defensive paths', () => {
  it('replaces an isolate V8 lost control of, and tells the host', async () => {
    const onCatastrophicError = vi.fn();
    const policy = await (await fresh({ onCatastrophicError })).load(source);
    isolates[0]!.options.onCatastrophicError?.('heap corrupted');
    expect(onCatastrophicError).toHaveBeenCalledWith('heap corrupted', 'p');
    expect(await policy.invoke('f', null)).toMatchObject({ ok: true, value: 1 });
    expect(isolates).toHaveLength(2);
    expect(isolates[0]!.isDisposed).toBe(true);
    plan.disposeOnCall = true;
    await policy.invoke('f', null);
    // Disposing a policy whose isolate is already gone is quiet.
    await policy.dispose();
  });

  it('reports a failed re-creation, an unexpected host error and a non-string as backend_failure', async () => {
    const policy = await (await fresh()).load(source);
    plan.output = 42;
    expect(await policy.invoke('f', null)).toMatchObject({
      failure: { kind: 'backend_failure', message: 'the guest returned a non-string' },
    });
    plan.output = '\u0000z unknown tag';
    expect(await policy.invoke('f', null)).toMatchObject({
      failure: { kind: 'backend_failure', message: 'unknown tag' },
    });
    plan.output = '\u0000';
    expect(await policy.invoke('f', null)).toMatchObject({ failure: { kind: 'backend_failure' } });
    plan.callError = new Error('weird');
    expect(await policy.invoke('f', null)).toMatchObject({
      failure: { kind: 'backend_failure', message: 'Error: weird' },
    });
    plan.disposeOnCall = true;
    expect(await policy.invoke('f', null)).toMatchObject({
      failure: { kind: 'backend_failure', message: 'Error: weird' },
    });
    plan.createError = new Error('no isolate');
    expect(await policy.invoke('f', null)).toMatchObject({
      failure: {
        kind: 'backend_failure',
        message: 'cannot recreate the isolate: Error: no isolate',
      },
    });
    plan.createError = 42;
    expect(await policy.invoke('f', null)).toMatchObject({
      failure: { message: 'cannot recreate the isolate: threw 42' },
    });
    await policy.dispose();
    await policy.dispose();
    expect(isolates.every((isolate) => isolate.isDisposed)).toBe(true);
  });

  it('rejects a load when the isolate cannot be made, or with a compile error without a position', async () => {
    const backend = await fresh();
    plan.compileError = new SyntaxError('odd');
    await expect(backend.load(source)).rejects.toSatisfy(
      (e: unknown) =>
        SandboxLoadError.isInstance(e) &&
        e.failure.kind === 'compile_error' &&
        e.failure.message === 'SyntaxError: odd' &&
        e.failure.location === undefined,
    );
    plan.createError = 'no isolate';
    await expect(backend.load(source)).rejects.toSatisfy(
      (e: unknown) =>
        SandboxLoadError.isInstance(e) &&
        e.failure.kind === 'backend_failure' &&
        e.failure.message === 'threw "no isolate"',
    );
  });

  it('rejects with an install hint when isolated-vm is missing, and retries the import', async () => {
    plan.importError = new Error('Cannot find package isolated-vm');
    const backend = await fresh();
    for (let attempt = 0; attempt < 2; attempt++) {
      await expect(backend.load(source)).rejects.toSatisfy(
        (e: unknown) =>
          SandboxLoadError.isInstance(e) &&
          e.failure.kind === 'backend_failure' &&
          e.failure.message.includes(
            'install isolated-vm (5.x on Node 20, 6.x on Node 22, 7.x on Node 24)',
          ),
      );
    }
    expect(plan.imports).toBe(2);
    // Once the package is there, the next load imports it and succeeds.
    plan.importError = undefined;
    await (await backend.load(source)).dispose();
    expect(plan.imports).toBe(3);
  });

  it('samples heap use by default: first call, every 64th call and every failure', async () => {
    const { MEMORY_SAMPLE_INTERVAL } = await import('./backend.ts');
    const policy = await (await fresh()).load(source);
    const isolate = isolates[0]!;
    const memory = async () => (await policy.invoke('f', null)).usage.memory_bytes;
    expect(await memory()).toBe(1000);
    for (let i = 1; i < MEMORY_SAMPLE_INTERVAL; i++) expect(await memory()).toBe(1000);
    expect(isolate.heapReads).toBe(1);
    // The call after MEMORY_SAMPLE_INTERVAL - 1 unsampled ones reads again.
    expect(await memory()).toBe(2000);
    expect(await memory()).toBe(2000);
    plan.output = '\u0000rError: boom';
    expect(await memory()).toBe(3000);
    plan.output = '1';
    expect(await memory()).toBe(3000);
    expect(isolate.heapReads).toBe(3);
  });

  it('reads heap use on every call with measureMemory: true, never with false', async () => {
    const every = await (await fresh({ measureMemory: true })).load(source);
    for (const expected of [1000, 2000, 3000]) {
      expect((await every.invoke('f', null)).usage.memory_bytes).toBe(expected);
    }
    const never = await (await fresh({ measureMemory: false })).load(source);
    expect((await never.invoke('f', null)).usage).not.toHaveProperty('memory_bytes');
    expect(isolates[1]!.heapReads).toBe(0);
  });

  it('charges each call its own isolate CPU time, not the load or a re-creation', async () => {
    const policy = await (await fresh({ onCatastrophicError: () => undefined })).load(source);
    const cpu = async () => (await policy.invoke('f', null)).usage.cpu_ms;
    expect(await cpu()).toBe(2);
    expect(await cpu()).toBe(2);
    // A call that throws is followed by the host asking for the kept answer: both are the call's.
    plan.callError = new Error('weird');
    expect(await cpu()).toBe(4);
    plan.callError = undefined;
    isolates[0]!.options.onCatastrophicError?.('lost');
    expect(await cpu()).toBe(2);
    expect(isolates).toHaveLength(2);
    expect(await cpu()).toBe(2);
  });

  it('refuses an unknown measureMemory mode', async () => {
    await expect(fresh({ measureMemory: 'always' })).rejects.toThrow(/measureMemory must be/);
  });

  it('refuses an unknown fresh mode', async () => {
    await expect(fresh({ fresh: 'never' })).rejects.toThrow(/fresh must be/);
  });
});

describe('isolated-vm backend: the catastrophic-error hook', () => {
  it('is registered on the isolate only when the host asks for it', async () => {
    // isolated-vm 7 on Node 24 crashes the process on a guest out-of-memory when an isolate has
    // this handler, so by default none is set.
    const plain = await (await fresh()).load(source);
    await plain.invoke('f', null);
    const hooked = await (await fresh({ onCatastrophicError: () => undefined })).load(source);
    await hooked.invoke('f', null);
    expect(isolates.map((i) => typeof i.options.onCatastrophicError)).toEqual([
      'undefined',
      'function',
    ]);
  });
});
