import { utf8Exceeds } from '../text/utf8.ts';
import {
  assertLanguage,
  type ExecutionMode,
  holdsAvailability,
  type InvokeResult,
  type JsonValue,
  type LoadedPolicy,
  type PolicyLanguage,
  type PolicySource,
  resolveLimits,
  type SandboxBackend,
  type SandboxCapabilities,
  type SandboxFailure,
  type SandboxLimits,
  SandboxLoadError,
  type SandboxUsage,
  sanitizeFailureMessage,
} from './contract.ts';
import { checkJsonValue, type JsonCheck, MAX_JSON_DEPTH } from './json-value.ts';

/**
 * The one call wrapper every sandbox backend goes through. What every backend must do the same
 * way lives here, once: refusing calls after dispose and to unknown entries, checking the input
 * (bounded, before anything serialises it), checking the output (size, exact JSON), measuring
 * usage, making deadlines and memory limits final, and sanitising messages. A backend implements
 * only loading a policy and calling its guest.
 */

/** Usage a backend can measure better than the wrapper; all optional. */
export interface GuestUsage {
  cpu_ms?: number;
  steps?: number;
  memory_bytes?: number;
  /**
   * How long the guest itself ran, when the backend knows it better than the wrapper's clock
   * around `call` (a pool: the time in the worker, without the queue and the hop). The deadline
   * is checked against it; `usage.wall_ms` stays what the caller waited.
   */
  guest_ms?: number;
}

/**
 * What one guest call produced. `json` is the result's JSON text (checked for size, then
 * parsed); `value` is a result the backend built itself (checked by a bounded walk).
 */
export type GuestOutcome =
  | { ok: true; json: string; usage?: GuestUsage }
  | { ok: true; value: JsonValue; usage?: GuestUsage }
  | { ok: false; failure: SandboxFailure; usage?: GuestUsage };

export interface GuestCall {
  readonly entry: string;
  /** The input, checked: JSON, within `max_input_bytes` and the depth limit. */
  readonly input: JsonValue;
  /** The input's JSON text (serialised on first read, at most once). */
  readonly json: string;
  /**
   * A lower bound of the input's JSON size in UTF-8 bytes, known without serialising it: for a
   * backend that charges the input to the guest's budget (Starlark does).
   */
  readonly inputBytes: number;
  /** The call's limits: its own over the policy's load limits over the defaults. */
  readonly limits: Readonly<SandboxLimits>;
  /** The limits the caller passed to `invoke`, as given (a pool forwards these). */
  readonly callLimits: Partial<SandboxLimits> | undefined;
}

export interface GuestPolicy {
  /** The functions the policy defines that may be called. */
  readonly entries: readonly string[];
  /** Never called after `dispose`, nor for an entry not in `entries`. May throw: a backend bug. */
  call(call: GuestCall): GuestOutcome | Promise<GuestOutcome>;
  dispose(): void | Promise<void>;
}

export interface SandboxBackendDefinition {
  name: string;
  language: PolicyLanguage;
  /** `availability` follows from `execution` (default `inline`) and `containedBy`. */
  capabilities: Omit<SandboxCapabilities, 'availability' | 'execution'> & {
    execution?: ExecutionMode;
  };
  /**
   * Load a policy under `limits` (the load-time limits over the defaults; `loadLimits` as the
   * caller gave them). Throw a `SandboxLoadError` for a policy that does not compile or whose
   * top level fails; anything else thrown becomes a `backend_failure` load error.
   */
  load(
    source: PolicySource,
    limits: Readonly<SandboxLimits>,
    loadLimits: Partial<SandboxLimits> | undefined,
  ): Promise<GuestPolicy>;
  /** After every loaded policy is disposed: release what the backend holds itself. */
  dispose?(): Promise<void>;
  /**
   * The most `usage.memory_bytes` a call may report under `limits` before it counts as over the
   * memory limit. Default `limits.memory_bytes`; a backend whose figure includes fixed overhead
   * (QuickJS reports its whole WebAssembly memory, at least 16 MiB) says so here.
   */
  memoryCeiling?(limits: Readonly<SandboxLimits>): number;
}

/** Outcomes that a late answer or a memory overshoot replaces: the guest's own answers. */
const REPLACEABLE = new Set<SandboxFailure['kind']>([
  'runtime_error',
  'invalid_output',
  'output_limit',
]);

/** Build a `SandboxBackend` from a definition: the contract's checks are done here, once. */
export function defineSandboxBackend(definition: SandboxBackendDefinition): SandboxBackend {
  const { name, language } = definition;
  const execution = definition.capabilities.execution ?? 'inline';
  const capabilities: SandboxCapabilities = Object.freeze({
    ...definition.capabilities,
    execution,
    availability: holdsAvailability(execution, definition.capabilities.containedBy),
  });
  const loaded = new Set<WrappedPolicy>();
  let disposed = false;
  return {
    specificationVersion: 'v1',
    name,
    language,
    capabilities,
    async load(source, loadLimits) {
      if (disposed) {
        throw new SandboxLoadError(source.name, {
          kind: 'backend_failure',
          message: `the ${name} backend is disposed`,
        });
      }
      assertLanguage(name, language, source);
      const limits = resolveLimits(loadLimits);
      let guest: GuestPolicy;
      try {
        guest = await definition.load(source, limits, loadLimits);
      } catch (error) {
        throw asLoadError(source.name, error);
      }
      const policy = new WrappedPolicy(definition, guest, limits, loadLimits, () =>
        loaded.delete(policy),
      );
      loaded.add(policy);
      return policy;
    },
    async dispose() {
      disposed = true;
      await Promise.all([...loaded].map((policy) => policy.dispose()));
      await definition.dispose?.();
    },
  };
}

function asLoadError(policy: string, error: unknown): SandboxLoadError {
  if (SandboxLoadError.isInstance(error)) {
    const failure: SandboxFailure = {
      ...error.failure,
      message: sanitizeFailureMessage(error.failure.message),
    };
    return failure.message === error.failure.message
      ? error
      : new SandboxLoadError(policy, failure);
  }
  return new SandboxLoadError(policy, {
    kind: 'backend_failure',
    message: sanitizeFailureMessage(`the backend failed to load the policy: ${describe(error)}`),
  });
}

class WrappedPolicy implements LoadedPolicy {
  readonly entries: readonly string[];
  private disposed = false;
  private disposing: Promise<void> | undefined;

  constructor(
    private readonly definition: SandboxBackendDefinition,
    private readonly guest: GuestPolicy,
    private readonly limits: Readonly<SandboxLimits>,
    private readonly loadLimits: Partial<SandboxLimits> | undefined,
    private readonly onDispose: () => void,
  ) {
    this.entries = Object.freeze([...guest.entries]);
  }

  async invoke(
    entry: string,
    input: JsonValue,
    callLimits?: Partial<SandboxLimits>,
  ): Promise<InvokeResult> {
    const start = performance.now();
    if (this.disposed) return failed(start, 'backend_failure', 'the policy is disposed');
    if (!this.entries.includes(entry)) {
      return failed(start, 'missing_entry', `the policy defines no function ${entry}`);
    }
    const limits =
      callLimits === undefined ? this.limits : resolveLimits(this.loadLimits, callLimits);
    const call = checkedCall(entry, input, limits, callLimits);
    if (!(call instanceof Call)) return failed(start, 'input_limit', call);
    const guestStart = performance.now();
    let outcome: GuestOutcome;
    try {
      outcome = await this.guest.call(call);
    } catch (error) {
      return failed(start, 'backend_failure', `the backend threw: ${describe(error)}`);
    }
    const guestMs = outcome.usage?.guest_ms ?? performance.now() - guestStart;
    const result = checkedOutcome(outcome, limits);
    const usage = usageOf(start, outcome.usage);
    const overshoot = this.overshoot(result, guestMs, usage, limits);
    if (overshoot !== undefined) return { ok: false, failure: overshoot, usage };
    if (result.ok) return { ok: true, value: result.value, usage };
    return {
      ok: false,
      failure: { ...result.failure, message: sanitizeFailureMessage(result.failure.message) },
      usage,
    };
  }

  /** A late answer is a timeout, one that used too much memory a memory_limit: limits are final. */
  private overshoot(
    result: { ok: true } | { ok: false; failure: SandboxFailure },
    guestMs: number,
    usage: SandboxUsage,
    limits: Readonly<SandboxLimits>,
  ): SandboxFailure | undefined {
    if (!result.ok && !REPLACEABLE.has(result.failure.kind)) return;
    if (guestMs > limits.timeout_ms) {
      return { kind: 'timeout', message: `ran over the ${limits.timeout_ms} ms limit` };
    }
    const ceiling = this.definition.memoryCeiling?.(limits) ?? limits.memory_bytes;
    if (usage.memory_bytes !== undefined && usage.memory_bytes > ceiling) {
      return {
        kind: 'memory_limit',
        message: `used ${usage.memory_bytes} bytes, over the ${limits.memory_bytes}-byte memory limit`,
      };
    }
    return;
  }

  dispose(): Promise<void> {
    if (this.disposing === undefined) {
      this.disposed = true;
      this.onDispose();
      this.disposing = (async () => {
        try {
          await this.guest.dispose();
        } catch {
          // A policy that cannot be released cleanly is gone all the same.
        }
      })();
    }
    return this.disposing;
  }
}

/** The input as a call, or why it cannot be one (the message of an `input_limit`). */
function checkedCall(
  entry: string,
  input: JsonValue,
  limits: Readonly<SandboxLimits>,
  callLimits: Partial<SandboxLimits> | undefined,
): Call | string {
  const max = limits.max_input_bytes;
  const check = checkJsonValue(input, { maxBytes: max, undefinedProperty: 'omit' });
  if (!check.ok) return inputProblem(check, max);
  const call = new Call(entry, input, check.minBytes, limits, callLimits);
  // The bounds straddle the limit: only the text tells, and it is at most 6 × max long.
  if (check.maxBytes > max && utf8Exceeds(call.json, max)) {
    return `input is larger than ${max} bytes`;
  }
  return call;
}

function inputProblem(check: Exclude<JsonCheck, { ok: true }>, max: number): string {
  switch (check.reason) {
    case 'too_large':
      return `input is larger than ${max} bytes`;
    case 'too_deep':
      return `input is nested deeper than ${MAX_JSON_DEPTH} levels (or is cyclic)`;
    case 'not_json':
      return `input is not JSON: ${check.found} at ${check.path}`;
  }
}

class Call implements GuestCall {
  private text: string | undefined;

  constructor(
    readonly entry: string,
    readonly input: JsonValue,
    readonly inputBytes: number,
    readonly limits: Readonly<SandboxLimits>,
    readonly callLimits: Partial<SandboxLimits> | undefined,
  ) {}

  get json(): string {
    this.text ??= JSON.stringify(this.input);
    return this.text;
  }
}

type Checked = { ok: true; value: JsonValue } | { ok: false; failure: SandboxFailure };

function checkedOutcome(outcome: GuestOutcome, limits: Readonly<SandboxLimits>): Checked {
  if (!outcome.ok) return outcome;
  const max = limits.max_output_bytes;
  const tooLarge: Checked = {
    ok: false,
    failure: { kind: 'output_limit', message: `result is larger than ${max} bytes` },
  };
  if ('json' in outcome) {
    if (typeof outcome.json !== 'string') {
      return brokenBackend('the backend answered something other than JSON text');
    }
    if (utf8Exceeds(outcome.json, max)) return tooLarge;
    try {
      return { ok: true, value: JSON.parse(outcome.json) as JsonValue };
    } catch {
      return brokenBackend('the backend answered text that is not JSON');
    }
  }
  // The guests' rule (GUEST_EXACT_JSON): a property without a value is left out.
  const check = checkJsonValue(outcome.value, { maxBytes: max, undefinedProperty: 'omit' });
  if (!check.ok) {
    switch (check.reason) {
      case 'too_large':
        return tooLarge;
      case 'too_deep':
        return {
          ok: false,
          failure: {
            kind: 'invalid_output',
            message: `result is nested deeper than ${MAX_JSON_DEPTH} levels (or is cyclic)`,
          },
        };
      case 'not_json':
        return {
          ok: false,
          failure: {
            kind: 'invalid_output',
            message: `result is not JSON: ${check.found} at ${check.path}`,
          },
        };
    }
  }
  if (check.maxBytes > max && utf8Exceeds(JSON.stringify(outcome.value), max)) return tooLarge;
  return { ok: true, value: outcome.value };
}

function brokenBackend(message: string): Checked {
  return { ok: false, failure: { kind: 'backend_failure', message } };
}

function usageOf(start: number, guest: GuestUsage | undefined): SandboxUsage {
  const usage: SandboxUsage = { wall_ms: performance.now() - start };
  if (guest === undefined) return usage;
  if (guest.cpu_ms !== undefined) usage.cpu_ms = guest.cpu_ms;
  if (guest.steps !== undefined) usage.steps = guest.steps;
  if (guest.memory_bytes !== undefined) usage.memory_bytes = guest.memory_bytes;
  return usage;
}

function failed(start: number, kind: SandboxFailure['kind'], message: string): InvokeResult {
  return {
    ok: false,
    failure: { kind, message: sanitizeFailureMessage(message) },
    usage: { wall_ms: performance.now() - start },
  };
}

function describe(error: unknown): string {
  try {
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  } catch {
    return 'an unprintable error';
  }
}
