import { existsSync } from 'node:fs';
import type { SandboxBackend } from '@wardwright/core';
import { workerSandbox } from '@wardwright/core/node';
import { conformanceCases } from '@wardwright/core/testing';
import { describe, expect, it } from 'vitest';
import { conformanceSuite } from './conformance.fixtures.ts';

// The same kit as sandbox-conformance.test.ts, against the worker execution mode. The workers
// load the BUILT backends (vitest does not transform worker code).
for (const [pkg, file] of [
  ['core', 'packages/core/dist/index.cjs'],
  ['sandbox-quickjs', 'packages/sandbox-quickjs/dist/index.cjs'],
] as const) {
  if (!existsSync(new URL(`../${file}`, import.meta.url))) {
    throw new Error(`${file} is missing: run \`npm run build -w @wardwright/${pkg}\` first`);
  }
}

// Exemptions, listed exactly as for inline mode so a capability change fails here. Differences
// from inline: trusted+worker claims hardKill (the host terminates a stuck worker), so the
// infinite-loop cases now apply to it and pass; QuickJS has none, as inline.
const backends: [string, SandboxBackend, string[]][] = [
  [
    'trusted+worker',
    await workerSandbox({
      backend: { module: '@wardwright/core', export: 'trustedBackend' },
      threads: 2,
    }),
    ['escape', 'isolated', 'memory', 'steps'],
  ],
  [
    'quickjs+worker',
    await workerSandbox({
      backend: { module: '@wardwright/sandbox-quickjs', export: 'quickjsSandbox' },
      threads: 2,
    }),
    [],
  ],
];

const cases = conformanceCases({ language: 'javascript' });

describe.each(backends)('sandbox conformance, worker mode: %s', (_name, backend, exempt) => {
  conformanceSuite(backend, exempt);
});

describe('worker mode changes what applies to the trusted backend', () => {
  it('gains the hardKill cases (the watchdog terminates a stuck worker)', () => {
    const trusted = backends[0]![1];
    expect(trusted.capabilities.hardKill).toBe(true);
    const killCases = cases.filter((c) => c.requirement === 'hardKill').map((c) => c.id);
    expect(killCases).toEqual(['limits/infinite-loop', 'recovery/after-infinite-loop']);
    for (const id of killCases) {
      expect(cases.find((c) => c.id === id)!.applies(trusted.capabilities, trusted.language)).toBe(
        true,
      );
    }
  });
});
