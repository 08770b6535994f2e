import {
  type InvokeResult,
  type JsonValue,
  type LoadedPolicy,
  type PolicyLanguage,
  type SandboxBackend,
  type SandboxCapabilities,
  type SandboxFailureKind,
  type SandboxLimits,
  SandboxLoadError,
} from '../sandbox/contract.ts';
import { assertNever } from '../util/assert-never.ts';

export type ConformanceCategory =
  | 'semantics'
  | 'failures'
  | 'limits'
  | 'determinism'
  | 'isolation'
  | 'recovery'
  | 'escape'
  | 'availability'
  | 'metering';

/**
 * Every policy language, in the order a case lists its languages. Keys of a record, so that a new
 * `PolicyLanguage` is a compile error here rather than a language the kit silently ignores.
 */
const LANGUAGES: Record<PolicyLanguage, true> = { javascript: true, starlark: true };
export const POLICY_LANGUAGES: readonly PolicyLanguage[] = Object.freeze(
  Object.keys(LANGUAGES) as PolicyLanguage[],
);

/**
 * One value per language a case is written in: at least one. A language left out is one the case
 * cannot exist in (docs/sandboxes/conformance.md says why for each).
 */
export type PerLanguage<T> =
  | { readonly javascript: T; readonly starlark?: T }
  | { readonly javascript?: T; readonly starlark: T };

function languagesOf(values: PerLanguage<unknown>): PolicyLanguage[] {
  return POLICY_LANGUAGES.filter((language) => values[language] !== undefined);
}

export interface ConformanceCase {
  /** `category/name`: unique and stable, so a backend can pin known differences by id. */
  id: string;
  category: ConformanceCategory;
  title: string;
  /** The languages the case has a policy in; it runs against backends of these languages only. */
  languages: readonly PolicyLanguage[];
  /**
   * False when the backend does not claim the capability the case needs; see `requirement`.
   * Pass the backend's `language`: a case may need a different capability per language
   * (`recovery/after-memory-limit`). Without it, JavaScript, as `conformanceCases()`.
   */
  applies(capabilities: SandboxCapabilities, language?: PolicyLanguage): boolean;
  /** What `applies` looks at, e.g. `isolated` or `memory: 'hard'`; `undefined` when it always applies. */
  requirement?: string;
  /**
   * Runs the case with the policy in `backend.language`. Resolves, or rejects with a
   * `ConformanceFailure` that says what the backend did instead.
   */
  run(backend: SandboxBackend): Promise<void>;
}

/** A capability a case needs: the words runners report (and backends exempt by), and the test. */
export interface Requirement {
  readonly text: string;
  holds(capabilities: SandboxCapabilities): boolean;
}

const requirement = (text: string, holds: Requirement['holds']): Requirement =>
  Object.freeze({ text, holds });

export const REQUIRES = Object.freeze({
  isolated: requirement('isolated', (c) => c.isolated),
  hardKill: requirement('hardKill', (c) => c.hardKill),
  hardMemory: requirement("memory: 'hard'", (c) => c.memory === 'hard'),
  anyMemory: requirement("memory: 'soft' or 'hard'", (c) => c.memory !== 'none'),
  anySteps: requirement("steps: 'exact' or 'coarse'", (c) => c.steps !== 'none'),
  exactSteps: requirement("steps: 'exact'", (c) => c.steps === 'exact'),
  wallClock: requirement('wallClock', (c) => c.wallClock),
  availability: requirement('availability', (c) => c.availability),
  isolatedAndHardKill: requirement('isolated and hardKill', (c) => c.isolated && c.hardKill),
  isolatedAndHardMemory: requirement(
    "isolated and memory: 'hard'",
    (c) => c.isolated && c.memory === 'hard',
  ),
});

/** The requirement of a case whose needed capability differs by language (each says why). */
export interface RequirementByLanguage {
  readonly byLanguage: { readonly [L in PolicyLanguage]: Requirement | undefined };
}

/**
 * One conformance case, written once: a policy per language it exists in and one check. `P` is
 * what the case needs per language: usually the source, sometimes the source with what differs
 * between languages (an entry, an expected message), stated next to it.
 */
export interface CaseDefinition<P> {
  id: string;
  category: ConformanceCategory;
  title: string;
  /** Omitted when the case always applies. */
  requirement?: Requirement | RequirementByLanguage;
  policy: PerLanguage<P>;
  /** The check, with the policy in the backend's language. */
  check(backend: SandboxBackend, policy: P): Promise<void>;
}

function describeRequirement(
  needs: Requirement | RequirementByLanguage | undefined,
): string | undefined {
  if (needs === undefined || !('byLanguage' in needs)) return needs?.text;
  return POLICY_LANGUAGES.map(
    (language) => `${needs.byLanguage[language]?.text ?? 'nothing'} for ${language}`,
  ).join('; ');
}

/** The runnable case of a definition: `run` picks the policy for the backend's language. */
export function defineCase<P>(definition: CaseDefinition<P>): ConformanceCase {
  const { id, category, title, policy, check } = definition;
  const needs = definition.requirement;
  // Definitions are module constants: a wrong id fails at import, before any backend runs.
  if (!id.startsWith(`${category}/`)) throw new Error(`case ${id} is not in ${category}/`);
  const languages = Object.freeze(languagesOf(policy));
  const text = describeRequirement(needs);
  return {
    id,
    category,
    title,
    languages,
    ...(text === undefined ? {} : { requirement: text }),
    applies: (capabilities, language = 'javascript') => {
      const needed =
        needs !== undefined && 'byLanguage' in needs ? needs.byLanguage[language] : needs;
      return needed === undefined || needed.holds(capabilities);
    },
    run: async (backend) => {
      const source = policy[backend.language];
      if (source === undefined) {
        // Not the backend's fault: the runner picked a case of another language.
        throw new Error(
          `${id} has no ${backend.language} policy (only ${languages.join(', ')}): select cases with conformanceCases({ language: backend.language })`,
        );
      }
      await check(backend, source);
    },
  };
}

/** A backend did not do what a conformance case requires. */
export class ConformanceFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConformanceFailure';
  }
}

export function fail(message: string): never {
  throw new ConformanceFailure(message);
}

/** Compact, bounded rendering of a value for failure messages. */
export function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

export function showResult(result: InvokeResult): string {
  return result.ok
    ? `ok ${show(result.value)}`
    : `${result.failure.kind} (${show(result.failure.message)})`;
}

/**
 * Wall-clock budget for calls that test something else than time: a cold interpreter (QuickJS
 * before WASM tier-up) on a busy CI machine can need more than the 50 ms default. Cases about
 * time pass their own `timeout_ms`.
 */
export const GENEROUS_LIMITS: Readonly<Partial<SandboxLimits>> = Object.freeze({
  timeout_ms: 5000,
});

/**
 * Load a policy in the backend's language (with generous time unless `limits` says otherwise),
 * run `body`, dispose it.
 */
export async function withPolicy<T>(
  backend: SandboxBackend,
  code: string,
  body: (policy: LoadedPolicy) => Promise<T>,
  limits?: Partial<SandboxLimits>,
): Promise<T> {
  const policy = await backend.load(
    { name: 'conformance', language: backend.language, code },
    { ...GENEROUS_LIMITS, ...limits },
  );
  try {
    return await body(policy);
  } finally {
    await policy.dispose();
  }
}

/** Order-insensitive deep equality of JSON values; `-0` equals `0` as it does after JSON. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((item, i) => jsonEqual(item, other[i]));
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = Object.keys(left);
  return (
    keys.length === Object.keys(right).length &&
    keys.every((key) => Object.hasOwn(right, key) && jsonEqual(left[key], right[key]))
  );
}

export function expectValue(what: string, result: InvokeResult, expected: JsonValue): void {
  if (!result.ok) fail(`${what}: expected ${show(expected)}, got ${showResult(result)}`);
  if (!jsonEqual(result.value, expected)) {
    fail(`${what}: expected ${show(expected)}, got ${show(result.value)}`);
  }
}

export function expectOk(what: string, result: InvokeResult): JsonValue {
  if (!result.ok) fail(`${what}: expected a value, got ${showResult(result)}`);
  return result.value;
}

/** The failure must be of one of `kinds`, with a message fit for a receipt. */
export function expectFailure(
  what: string,
  result: InvokeResult,
  ...kinds: SandboxFailureKind[]
): void {
  if (result.ok) fail(`${what}: expected ${kinds.join(' or ')}, got ok ${show(result.value)}`);
  if (!kinds.includes(result.failure.kind)) {
    fail(`${what}: expected ${kinds.join(' or ')}, got ${showResult(result)}`);
  }
  expectSafeMessage(what, result.failure.message);
}

export function expectSafeMessage(what: string, message: unknown): void {
  if (typeof message !== 'string') fail(`${what}: the failure message is not a string`);
  if (message.length > 500) fail(`${what}: the failure message has ${message.length} characters`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are the point
  if (/[\u0000-\u001f\u007f]/.test(message)) {
    fail(`${what}: the failure message has a line break or control character: ${show(message)}`);
  }
}

/**
 * `load` must reject with a `SandboxLoadError` of the given kind; with `line`, the failure must
 * also name that line and a column.
 */
export async function expectLoadError(
  what: string,
  backend: SandboxBackend,
  code: string,
  kind: SandboxFailureKind,
  line?: number,
): Promise<void> {
  let policy: LoadedPolicy;
  try {
    policy = await backend.load({ name: 'conformance', language: backend.language, code });
  } catch (error) {
    if (!SandboxLoadError.isInstance(error)) {
      fail(`${what}: load threw ${show(String(error))}, not a SandboxLoadError`);
    }
    if (error.failure.kind !== kind) {
      fail(`${what}: expected a ${kind} load error, got ${error.failure.kind}`);
    }
    expectSafeMessage(what, error.failure.message);
    const location = error.failure.location;
    if (
      line !== undefined &&
      (location?.line !== line || typeof location.column !== 'number' || location.column < 1)
    ) {
      fail(`${what}: expected a location on line ${line}, got ${show(location)}`);
    }
    return;
  }
  await policy.dispose();
  fail(`${what}: load succeeded, expected a ${kind} SandboxLoadError`);
}

export function elapsedSince(start: number): number {
  return performance.now() - start;
}

/** Let the host run pending microtasks and timers, so effects scheduled by a call can show. */
export async function settleHost(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 1));
}

/**
 * A Starlark function reaching itself is refused (runtime_error saying so) unless the dialect
 * enables recursion; then the depth limit ends it (stack_overflow). Both conform, nothing else.
 */
export function expectRecursionStopped(what: string, result: InvokeResult): void {
  expectFailure(what, result, 'runtime_error', 'stack_overflow');
  if (
    !result.ok &&
    result.failure.kind === 'runtime_error' &&
    !/recurs/i.test(result.failure.message)
  ) {
    fail(`${what}: a runtime_error must say recursion is refused: ${result.failure.message}`);
  }
}

/**
 * How a call that recurses without end must stop, by language: a JavaScript stack overflows;
 * Starlark refuses recursion unless the dialect enables it (see `expectRecursionStopped`).
 */
export function expectEndlessRecursionStopped(
  language: PolicyLanguage,
  what: string,
  result: InvokeResult,
): void {
  switch (language) {
    case 'javascript':
      expectFailure(what, result, 'stack_overflow');
      return;
    case 'starlark':
      expectRecursionStopped(what, result);
      return;
    default:
      assertNever(language, 'policy language');
  }
}

/** A Starlark function `decide(input)` whose body is `body` (lines at any indentation). */
export const starlarkDecide = (body: string): string =>
  `def decide(input):\n    ${body.split('\n').join('\n    ')}\n`;
