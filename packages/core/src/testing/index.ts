/**
 * @wardwright/core/testing — the sandbox conformance kit: the cases every `SandboxBackend` must
 * pass, as data and plain async checks, so any test runner can run them.
 */
import { determinismCases, isolationCases } from './behaviour.ts';
import { escapeCases } from './escape.ts';
import { failureCases } from './failures.ts';
import type { ConformanceCase } from './kit.ts';
import { limitCases, recoveryCases } from './limits.ts';
import { semanticsCases } from './semantics.ts';

export { type CorpusPolicy, corpus } from './corpus.ts';
export { HOST_ONLY_GLOBALS } from './escape.ts';
export { type ConformanceCase, type ConformanceCategory, ConformanceFailure } from './kit.ts';

/**
 * Every conformance case, in a stable order (semantics, failures, limits, determinism,
 * isolation, recovery, escape). Each case loads and disposes its own policies; run them
 * one after another against one backend, skipping those whose `applies` is false.
 */
export function conformanceCases(
  // Only JavaScript policies exist so far; the option keeps the signature for Starlark twins.
  _options: { language?: 'javascript' } = {},
): ConformanceCase[] {
  return [
    ...semanticsCases,
    ...failureCases,
    ...limitCases,
    ...determinismCases,
    ...isolationCases,
    ...recoveryCases,
    ...escapeCases,
  ];
}
