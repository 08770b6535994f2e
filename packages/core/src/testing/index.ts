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
import { starlarkCases } from './starlark.ts';
import { starlarkEscapeCases } from './starlark-escape.ts';

export { type CorpusPolicy, corpus } from './corpus.ts';
export { HOST_ONLY_GLOBALS } from './escape.ts';
export { type ConformanceCase, type ConformanceCategory, ConformanceFailure } from './kit.ts';

/**
 * Every conformance case for policies in `language` (default JavaScript), in a stable order (semantics, failures, limits, determinism,
 * isolation, recovery, escape). Each case loads and disposes its own policies; run them
 * one after another against one backend, skipping those whose `applies` is false.
 */
export function conformanceCases(
  options: { language?: 'javascript' | 'starlark' } = {},
): ConformanceCase[] {
  // Starlark: the same families with Starlark policies (see docs/sandboxes/conformance.md).
  if (options.language === 'starlark') return [...starlarkCases, ...starlarkEscapeCases];
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
