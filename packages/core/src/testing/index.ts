/**
 * @wardwright/core/testing — the sandbox conformance kit: the cases every `SandboxBackend` must
 * pass, as data and plain async checks, so any test runner can run them. One list: each case is
 * written once, with its policy in every language it can exist in, and runs with the policy in
 * the language of the backend it is given.
 */
import type { PolicyLanguage } from '../sandbox/contract.ts';
import { availabilityCases } from './availability.ts';
import { determinismCases, isolationCases } from './behaviour.ts';
import { escapeCases } from './escape.ts';
import { failureCases } from './failures.ts';
import type { ConformanceCase } from './kit.ts';
import { limitCases, recoveryCases } from './limits.ts';
import { meteringCases } from './metering.ts';
import { semanticsCases } from './semantics.ts';

export { type CorpusPolicy, corpus } from './corpus.ts';
export { HOST_ONLY_GLOBALS } from './escape.ts';
export {
  type ProcessTreeSample,
  sampleProcessTree,
  waitForIdleTree,
  watchEventLoop,
} from './host-monitor.ts';
export { HOSTILE_CASES, type HostileCase, hostileCases, hostilePolicy } from './hostile.ts';
export {
  type ConformanceCase,
  type ConformanceCategory,
  ConformanceFailure,
  type PerLanguage,
  POLICY_LANGUAGES,
} from './kit.ts';

// In category order (semantics, failures, limits, determinism, isolation, recovery, escape,
// availability, metering).
const CASES: readonly ConformanceCase[] = Object.freeze([
  ...semanticsCases,
  ...failureCases,
  ...limitCases,
  ...determinismCases,
  ...isolationCases,
  ...recoveryCases,
  ...escapeCases,
  ...availabilityCases,
  ...meteringCases,
]);

/** The one list: every case, each with the languages it has a policy in (`languages`). */
export function allConformanceCases(): ConformanceCase[] {
  return [...CASES];
}

/**
 * The cases with a policy in `language` (default JavaScript), in the stable order of the one
 * list. Each case loads and disposes its own policies; run them one after another against one
 * backend of that language, skipping those whose `applies(capabilities, language)` is false.
 */
export function conformanceCases(options: { language?: PolicyLanguage } = {}): ConformanceCase[] {
  const language = options.language ?? 'javascript';
  return CASES.filter((c) => c.languages.includes(language));
}
