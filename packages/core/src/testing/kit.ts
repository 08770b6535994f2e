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

export type ConformanceCategory =
  | 'semantics'
  | 'failures'
  | 'limits'
  | 'determinism'
  | 'isolation'
  | 'recovery'
  | 'escape';

export interface ConformanceCase {
  /** `category/name`: unique and stable, so a backend can pin known differences by id. */
  id: string;
  category: ConformanceCategory;
  title: string;
  /** False when the backend does not claim the capability the case needs; see `requirement`. */
  applies(capabilities: SandboxCapabilities): boolean;
  /** What `applies` looks at, e.g. `isolated` or `memory: 'hard'`; `undefined` when it always applies. */
  requirement?: string;
  /** Resolves, or rejects with a `ConformanceFailure` that says what the backend did instead. */
  run(backend: SandboxBackend): Promise<void>;
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

/** Load a policy (with generous time unless `limits` says otherwise), run `body`, dispose it. */
export async function withPolicy<T>(
  backend: SandboxBackend,
  code: string,
  body: (policy: LoadedPolicy) => Promise<T>,
  limits?: Partial<SandboxLimits>,
  name = 'conformance',
  language: PolicyLanguage = 'javascript',
): Promise<T> {
  const policy = await backend.load({ name, language, code }, { ...GENEROUS_LIMITS, ...limits });
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

/** `load` must reject with a `SandboxLoadError` of the given kind. */
export async function expectLoadError(
  what: string,
  backend: SandboxBackend,
  code: string,
  kind: SandboxFailureKind,
  language: PolicyLanguage = 'javascript',
): Promise<void> {
  let policy: LoadedPolicy;
  try {
    policy = await backend.load({ name: 'conformance', language, code });
  } catch (error) {
    if (!SandboxLoadError.isInstance(error)) {
      fail(`${what}: load threw ${show(String(error))}, not a SandboxLoadError`);
    }
    if (error.failure.kind !== kind) {
      fail(`${what}: expected a ${kind} load error, got ${error.failure.kind}`);
    }
    expectSafeMessage(what, error.failure.message);
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

export const always = (): boolean => true;
