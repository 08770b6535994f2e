import type { SandboxBackend } from '@wardwright/core';
import { type ConformanceCase, conformanceCases } from '@wardwright/core/testing';
import { afterAll, expect, it } from 'vitest';

/**
 * Registers, inside the caller's `describe`, one test per conformance case that applies to the
 * backend (the one list, filtered by the backend's language), and one test that the cases it
 * does not apply are exactly the listed exemptions: each exemption is a case id, a category, or a
 * capability word of the cases' requirements, so a capability change fails here instead of
 * passing silently.
 */
export function conformanceSuite(
  backend: SandboxBackend | (() => SandboxBackend),
  exempt: readonly string[],
): void {
  const resolved = typeof backend === 'function' ? backend() : backend;
  afterAll(() => resolved.dispose());

  const cases = conformanceCases({ language: resolved.language });
  const applies = (c: ConformanceCase) => c.applies(resolved.capabilities, resolved.language);
  const applicable = cases.filter(applies);
  const notApplicable = cases.filter((c) => !applies(c));
  for (const c of applicable) it(c.id, () => c.run(resolved), 30_000);
  // Cases a backend cannot pass by design (no hard memory limit, no isolation…) are not run,
  // and are not hidden either: each names the capability it needs.
  it(`does not apply ${notApplicable.length} cases, each for a capability it lacks`, () => {
    for (const c of notApplicable) {
      expect(c.requirement, c.id).toEqual(expect.any(String));
    }
    const matchesExemption = (c: ConformanceCase) =>
      exempt.some(
        (word) => c.id === word || c.category === word || (c.requirement ?? '').includes(word),
      );
    expect(notApplicable.filter((c) => !matchesExemption(c)).map((c) => c.id)).toEqual([]);
    expect(applicable.filter((c) => exempt.includes(c.id)).map((c) => c.id)).toEqual([]);
    if (exempt.length === 0) expect(notApplicable.map((c) => c.id)).toEqual([]);
  });
}
