import Type, { type Static } from 'typebox';
import { hasMarker, WardwrightError } from '../errors/wardwright-error.ts';
import { StringEnum } from '../schema/types.ts';

/**
 * The contract between the engine and a sandbox backend (isolated-vm, QuickJS, Starlark, or the
 * trusted in-process backend for tests). A policy is a pure function of JSON: the engine computes
 * what a script may read, passes it in, validates what comes back, and applies effects itself.
 * Failures are values, never exceptions, so a misbehaving script fails closed in a receipt.
 */

/** Any JSON value: what crosses the sandbox boundary in either direction. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

export type PolicyLanguage = 'javascript' | 'starlark';

export interface PolicySource {
  /** Names the policy in errors and receipts, e.g. the script id in the artifact. */
  name: string;
  language: PolicyLanguage;
  code: string;
  /** Where the code came from, for error locations; e.g. a file path. */
  filename?: string;
}

export const SandboxLimitsSchema = Type.Object(
  {
    timeout_ms: Type.Integer({ minimum: 1, description: 'Wall-clock budget per call.' }),
    memory_bytes: Type.Integer({ minimum: 1, description: 'Memory the guest may use.' }),
    max_steps: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
      description: 'Step budget per call where the backend counts steps; null: none.',
    }),
    max_output_bytes: Type.Integer({ minimum: 1, description: 'Size of the JSON result.' }),
    max_input_bytes: Type.Integer({ minimum: 1, description: 'Size of the JSON input.' }),
  },
  { additionalProperties: false },
);
export type SandboxLimits = Static<typeof SandboxLimitsSchema>;

export const DEFAULT_SANDBOX_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  timeout_ms: 50,
  memory_bytes: 32 * 1024 * 1024,
  max_steps: null,
  max_output_bytes: 64 * 1024,
  max_input_bytes: 1024 * 1024,
});

export const SandboxFailureKindSchema = StringEnum(
  [
    'timeout',
    'step_limit',
    'memory_limit',
    'stack_overflow',
    'output_limit',
    'input_limit',
    'runtime_error',
    'compile_error',
    'invalid_output',
    'missing_entry',
    'backend_failure',
  ],
  { description: 'Why a policy call failed; the same kind for the same cause on every backend.' },
);
export type SandboxFailureKind = Static<typeof SandboxFailureKindSchema>;

export const SandboxLocationSchema = Type.Object(
  {
    filename: Type.Optional(Type.String()),
    line: Type.Integer({ minimum: 1 }),
    column: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

export const SandboxFailureSchema = Type.Object(
  {
    kind: SandboxFailureKindSchema,
    message: Type.String({ description: 'One line, at most 500 characters.' }),
    location: Type.Optional(SandboxLocationSchema),
  },
  { additionalProperties: false },
);
export type SandboxFailure = Static<typeof SandboxFailureSchema>;

export const SandboxUsageSchema = Type.Object(
  {
    wall_ms: Type.Number({ minimum: 0, description: 'Wall-clock time of the call.' }),
    cpu_ms: Type.Optional(Type.Number({ minimum: 0 })),
    steps: Type.Optional(Type.Integer({ minimum: 0 })),
    memory_bytes: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type SandboxUsage = Static<typeof SandboxUsageSchema>;

export type InvokeResult =
  | { ok: true; value: JsonValue; usage: SandboxUsage }
  | { ok: false; failure: SandboxFailure; usage: SandboxUsage };

export interface SandboxCapabilities {
  /**
   * Guest code cannot reach host objects (`process`, `require`, host globals): false only for
   * the in-process trusted backend, which the conformance kit's escape battery does not apply to.
   */
  isolated: boolean;
  wallClock: true;
  steps: 'exact' | 'coarse' | 'none';
  memory: 'hard' | 'soft' | 'none';
  cpuTime: boolean;
  /** A runaway guest is stopped preemptively (not only checked after it returns). */
  hardKill: boolean;
  /**
   * Where calls run: `inline` on the thread that calls `invoke`, `worker` in a pool of worker
   * threads (`workerSandbox`), `process` in a pool of child processes (`processSandbox`).
   */
  execution: ExecutionMode;
  /**
   * The weakest execution mode in which a hostile policy cannot crash, hang or stall the host
   * with this backend: `worker` when terminating a thread stops anything the guest can do,
   * `process` when only killing a process does (a native addon that can abort the process), or
   * `none` when no mode does (the trusted backend has no memory limit at all).
   */
  containedBy: 'worker' | 'process' | 'none';
  /**
   * This backend, in this mode, holds availability against a hostile policy: the host process
   * survives every call, its event loop is never blocked by a guest, and nothing the guest started
   * keeps running after its call is answered. Follows from `execution` and `containedBy`.
   */
  availability: boolean;
}

export type ExecutionMode = 'inline' | 'worker' | 'process';

/** Whether a backend contained by `containedBy` holds availability when run in `execution`. */
export function holdsAvailability(
  execution: ExecutionMode,
  containedBy: SandboxCapabilities['containedBy'],
): boolean {
  switch (containedBy) {
    case 'none':
      return false;
    case 'worker':
      return execution !== 'inline';
    case 'process':
      return execution === 'process';
  }
}

export interface LoadedPolicy {
  /** Functions the policy defines that the engine may call. */
  readonly entries: readonly string[];
  invoke(entry: string, input: JsonValue, limits?: Partial<SandboxLimits>): Promise<InvokeResult>;
  dispose(): Promise<void>;
}

/** `specificationVersion: 'v1'`; a backend never throws from `invoke`, it returns failures. */
export interface SandboxBackend {
  readonly specificationVersion: 'v1';
  readonly name: string;
  readonly language: PolicyLanguage;
  readonly capabilities: SandboxCapabilities;
  /** Rejects with a `SandboxLoadError` when the source does not compile. */
  load(source: PolicySource, limits?: Partial<SandboxLimits>): Promise<LoadedPolicy>;
  dispose(): Promise<void>;
}

const loadMarker = Symbol.for('wardwright.error.sandbox_load');

/** A policy that cannot be loaded: it does not compile, or defines no callable entry. */
export class SandboxLoadError extends WardwrightError {
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: read via the registry symbol in isInstance
  private readonly [loadMarker] = true;
  readonly failure: SandboxFailure;

  constructor(policy: string, failure: SandboxFailure) {
    super({ code: 'policy_load_failed', message: `policy ${policy}: ${failure.message}` });
    this.name = 'SandboxLoadError';
    this.failure = failure;
  }

  static override isInstance(error: unknown): error is SandboxLoadError {
    return hasMarker(error, loadMarker);
  }
}

/** Resolve limits: call overrides over load-time overrides over defaults. */
export function resolveLimits(
  ...layers: (Partial<SandboxLimits> | undefined)[]
): Readonly<SandboxLimits> {
  const limits: SandboxLimits = { ...DEFAULT_SANDBOX_LIMITS };
  for (const layer of layers) {
    if (layer === undefined) continue;
    for (const key of Object.keys(layer) as (keyof SandboxLimits)[]) {
      const value = layer[key];
      if (value !== undefined) (limits as Record<string, unknown>)[key] = value;
    }
  }
  return limits;
}

/** Messages cross into receipts: one line, bounded, no control characters. */
export function sanitizeFailureMessage(message: string): string {
  const line = message.split('\n', 1)[0] ?? '';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
  const clean = line.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
  return clean.length > 500 ? `${clean.slice(0, 497)}...` : clean;
}

// Candidate names only: a nested or expression function matches too; each backend keeps a name
// when it is a function at the top level of the loaded policy.
const FUNCTION_DECLARATION = /\bfunction\s*\*?\s*([A-Za-z_$][\w$]*)\s*\(/g;
const EXPORT_BEFORE_FUNCTION = /^(\s*)export\s+(?=(?:async\s+)?function)/gm;

/**
 * The names a JavaScript policy may offer as entries: every `function NAME(` in its source, once
 * each, in order. The same rule in every JavaScript backend, so they agree on `entries`.
 */
export function entryCandidates(code: string): string[] {
  return [...new Set([...code.matchAll(FUNCTION_DECLARATION)].map((m) => m[1] as string))];
}

/**
 * The source with `export` dropped before function declarations: a policy file can also be
 * imported by its own unit tests, and the backends run it as a script.
 */
export function withoutExports(code: string): string {
  return code.replace(EXPORT_BEFORE_FUNCTION, '$1');
}

/** Refuse a source in another language, the same way in every backend. */
export function assertLanguage(
  backend: string,
  language: PolicyLanguage,
  source: PolicySource,
): void {
  if (source.language !== language) {
    throw new SandboxLoadError(source.name, {
      kind: 'compile_error',
      message: `the ${backend} backend runs ${language}, not ${source.language}`,
    });
  }
}
