import { existsSync } from 'node:fs';
import type { SandboxBackend } from '@wardwright/core';
import { processSandbox, workerSandbox } from '@wardwright/core/node';
import { conformanceCases } from '@wardwright/core/testing';
import { memoryGuarantee } from '@wardwright/sandbox-isolated-vm';
import { describe, expect, it } from 'vitest';
import { conformanceSuite } from './conformance.fixtures.ts';

// The same one case list as sandbox-conformance.test.ts, against the worker and process execution
// modes of every backend. Executors load the BUILT backends (vitest does not transform their code).
for (const [pkg, file] of [
  ['core', 'packages/core/dist/index.cjs'],
  ['sandbox-quickjs', 'packages/sandbox-quickjs/dist/index.cjs'],
  ['sandbox-isolated-vm', 'packages/sandbox-isolated-vm/dist/index.cjs'],
  ['starlark', 'packages/starlark-adapter/dist/index.cjs'],
] as const) {
  if (!existsSync(new URL(`../${file}`, import.meta.url))) {
    throw new Error(`${file} is missing: run \`npm run build -w @wardwright/${pkg}\` first`);
  }
}

const TRUSTED = { module: '@wardwright/core', export: 'trustedBackend' };
const QUICKJS = { module: '@wardwright/sandbox-quickjs', export: 'quickjsSandbox' };
const IVM = { module: '@wardwright/sandbox-isolated-vm', export: 'isolatedVmSandbox' };
const STARLARK = { module: '@wardwright/starlark', export: 'starlarkSandbox' };
const ivmMemory = memoryGuarantee() === 'hard' ? [] : ["memory: 'hard'"];

// Exemptions, listed exactly, so a capability change fails here. What the modes change:
// - every backend gains hardKill (the host ends a stuck executor): the infinite-loop cases apply
//   to the trusted backend and Starlark too;
// - availability holds where the mode contains the backend: QuickJS and Starlark in either mode,
//   isolated-vm only in a process. Those combinations run the availability battery; the others
//   are exempt from it by that capability, and docs/sandboxes/choosing.md says so in its table.
const backends: [string, () => Promise<SandboxBackend>, string[]][] = [
  [
    'trusted+worker',
    () => workerSandbox({ backend: TRUSTED, threads: 2 }),
    ['escape', 'isolated', 'memory', 'steps', 'availability'],
  ],
  ['quickjs+worker', () => workerSandbox({ backend: QUICKJS, threads: 2 }), []],
  ['starlark+worker', () => workerSandbox({ backend: STARLARK, threads: 2 }), ["memory: 'hard'"]],
  [
    'isolated-vm+worker',
    () => workerSandbox({ backend: IVM, threads: 2 }),
    ['failures/step-limit', 'availability', ...ivmMemory],
  ],
  ['quickjs+process', () => processSandbox({ backend: QUICKJS, processes: 2 }), []],
  [
    'starlark+process',
    () => processSandbox({ backend: STARLARK, processes: 2 }),
    ["memory: 'hard'"],
  ],
  [
    'isolated-vm+process',
    () => processSandbox({ backend: IVM, processes: 2 }),
    ['failures/step-limit', ...ivmMemory],
  ],
];

const started = new Map<string, SandboxBackend>();
for (const [name, start] of backends) started.set(name, await start());

describe.each(backends)('sandbox conformance, by execution mode: %s', (name, _start, exempt) => {
  conformanceSuite(started.get(name)!, exempt);
});

describe('execution modes change what applies', () => {
  const cases = conformanceCases({ language: 'javascript' });

  it('every mode gains the hardKill cases (the host ends a stuck executor)', () => {
    const trusted = started.get('trusted+worker')!;
    expect(trusted.capabilities.hardKill).toBe(true);
    const killCases = cases.filter((c) => c.requirement === 'hardKill').map((c) => c.id);
    expect(killCases).toEqual(['limits/infinite-loop', 'recovery/after-infinite-loop']);
    for (const id of killCases) {
      expect(cases.find((c) => c.id === id)!.applies(trusted.capabilities, trusted.language)).toBe(
        true,
      );
    }
  });

  it('availability holds exactly where the mode contains the backend', () => {
    const holds = Object.fromEntries(
      [...started].map(([name, backend]) => [name, backend.capabilities.availability]),
    );
    expect(holds).toEqual({
      'trusted+worker': false,
      'quickjs+worker': true,
      'starlark+worker': true,
      'isolated-vm+worker': false,
      'quickjs+process': true,
      'starlark+process': true,
      'isolated-vm+process': true,
    });
  });
});
