import {
  assertLanguage,
  type InvokeResult,
  type JsonValue,
  type LoadedPolicy,
  type PolicySource,
  resolveLimits,
  type SandboxBackend,
  type SandboxFailure,
  type SandboxFailureKind,
  type SandboxLimits,
  SandboxLoadError,
  sanitizeFailureMessage,
} from '@wardwright/core';
import { fromJson } from './builtins/json.ts';
import type { Dialect } from './dialect.ts';
import type { StarlarkError, StarlarkErrorKind } from './errors.ts';
import { SFunction } from './eval/function.ts';
import {
  type ExecLimits,
  type ModuleInstance,
  Program,
  StarlarkError as SE,
} from './interpreter.ts';
import { reprFloat } from './values/repr.ts';
import { SDict, SFloat, SList, SStruct, STuple, typeName, type Value } from './values/values.ts';

export interface StarlarkSandboxOptions {
  /** Backend name in receipts; default `starlark`. */
  readonly name?: string;
  /** Dialect options; all off by default (no recursion, no while, no top-level if/for, no set). */
  readonly dialect?: Partial<Dialect>;
  /** Maximum Starlark call depth; default 200. */
  readonly maxDepth?: number;
}

const KIND: Record<StarlarkErrorKind, SandboxFailureKind> = {
  syntax: 'compile_error',
  resolve: 'compile_error',
  runtime: 'runtime_error',
  step_limit: 'step_limit',
  memory_limit: 'memory_limit',
  stack_overflow: 'stack_overflow',
  timeout: 'timeout',
};

function toFailure(e: StarlarkError, prefix = ''): SandboxFailure {
  const frames = e.frames
    .filter((f) => f.position !== null)
    .map((f) => `${f.name}@${f.position!.line}:${f.position!.col}`);
  const stack = frames.length > 0 ? ` [stack: ${frames.join(' < ')}]` : '';
  const failure: SandboxFailure = {
    kind: KIND[e.kind],
    message: sanitizeFailureMessage(`${prefix}${e.message}${stack}`),
  };
  if (e.position !== null) {
    failure.location = {
      filename: e.position.filename,
      line: e.position.line,
      column: e.position.col,
    };
  }
  return failure;
}

function execLimits(l: Readonly<SandboxLimits>, maxDepth: number | undefined): ExecLimits {
  return {
    maxSteps: l.max_steps,
    maxAllocBytes: l.memory_bytes,
    timeoutMs: l.timeout_ms,
    // print() output is discarded by the backend; the result's size is what max_output_bytes bounds.
    maxOutputBytes: Number.MAX_SAFE_INTEGER,
    ...(maxDepth === undefined ? {} : { maxDepth }),
  };
}

class InvalidOutput extends Error {}

/** The result is larger than `max_output_bytes`: found while converting it, before finishing. */
class OutputTooLarge extends Error {}

/** A plain assignment, except that `__proto__` becomes an own property as in JSON.parse. */
function setKey(out: { [k: string]: JsonValue }, k: string, v: JsonValue): void {
  if (k === '__proto__')
    Object.defineProperty(out, k, {
      value: v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  else out[k] = v;
}

/**
 * Starlark result → JSON, naming the offending type and path when it is not JSON. `budget`
 * bounds the work: it counts down a lower bound of the JSON text's size (every value and
 * separator is at least one byte), so a small value that shares one list many times over
 * (`[[[0] * 100] * 100] * 100`) stops with `OutputTooLarge` instead of expanding in the host.
 */
export function toJson(
  v: Value,
  path = '$',
  depth = 0,
  budget: { left: number } = { left: Number.POSITIVE_INFINITY },
): JsonValue {
  if (depth > 100) throw new InvalidOutput(`result nests deeper than 100 levels at ${path}`);
  if (--budget.left < 0) throw new OutputTooLarge();
  switch (typeof v) {
    case 'string':
      budget.left -= v.length + 1;
      if (budget.left < 0) throw new OutputTooLarge();
      return v;
    case 'boolean':
      return v;
    case 'number':
      return v;
    case 'bigint':
      throw new InvalidOutput(`int ${v} at ${path} is outside the JSON-safe range (±2^53)`);
    default:
  }
  if (v === null) return null;
  if (v instanceof SFloat) {
    if (!Number.isFinite(v.v))
      throw new InvalidOutput(`float ${reprFloat(v.v)} at ${path} is not finite`);
    return v.v;
  }
  if (v instanceof SList || v instanceof STuple)
    return v.items.map((x, i) => toJson(x, `${path}[${i}]`, depth + 1, budget));
  if (v instanceof SDict) {
    const out: { [k: string]: JsonValue } = {};
    for (const [c, x] of v.m) {
      const k = v.key(c);
      if (typeof k !== 'string')
        throw new InvalidOutput(`dict at ${path} has a ${typeName(k)} key; JSON keys are strings`);
      budget.left -= k.length + 3;
      setKey(out, k, toJson(x, `${path}.${k}`, depth + 1, budget));
    }
    return out;
  }
  if (v instanceof SStruct) {
    const out: { [k: string]: JsonValue } = {};
    for (const [k, x] of v.fields) {
      budget.left -= k.length + 3;
      setKey(out, k, toJson(x, `${path}.${k}`, depth + 1, budget));
    }
    return out;
  }
  throw new InvalidOutput(`result contains a ${typeName(v)} at ${path}, which is not JSON`);
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/**
 * An upper bound of the UTF-8 size of `JSON.stringify(v)`, or -1 when `v` is not plain JSON
 * (then the caller falls back to a real JSON round trip). Cheaper than serialising for the
 * common case of small values far below the limit.
 */
function jsonBound(v: unknown, depth = 0): number {
  if (depth > 200) return -1;
  switch (typeof v) {
    case 'string':
      // Worst case per UTF-16 unit: a 6-byte \u escape.
      return 6 * v.length + 2;
    case 'number':
      return Number.isFinite(v) ? 25 : -1;
    case 'boolean':
      return 5;
    case 'object': {
      if (v === null) return 4;
      let n = 2;
      if (Array.isArray(v)) {
        for (const x of v) {
          const b = jsonBound(x, depth + 1);
          if (b < 0) return -1;
          n += b + 1;
        }
        return n;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return -1;
      for (const k of Object.keys(v)) {
        const b = jsonBound((v as Record<string, unknown>)[k], depth + 1);
        if (b < 0) return -1;
        n += 6 * k.length + 3 + b + 1;
      }
      return n;
    }
    default:
      return -1;
  }
}

/**
 * The Starlark sandbox backend. Policies run inline on the caller's thread; they stop
 * themselves through the exact step budget, the allocation budget and the wall-clock deadline
 * (read every 1024 steps), so there is no preemptive kill.
 */
export function starlarkSandbox(options: StarlarkSandboxOptions = {}): SandboxBackend {
  const name = options.name ?? 'starlark';
  const loaded = new Set<LoadedPolicy>();
  return {
    specificationVersion: 'v1',
    name,
    language: 'starlark',
    capabilities: {
      isolated: true,
      wallClock: true,
      steps: 'exact',
      memory: 'soft',
      cpuTime: false,
      hardKill: false,
      execution: 'inline',
      containedBy: 'worker',
      availability: false,
    },
    async load(source: PolicySource, loadLimits?: Partial<SandboxLimits>): Promise<LoadedPolicy> {
      assertLanguage(name, 'starlark', source);
      const filename = source.filename ?? source.name;
      let module: ModuleInstance;
      try {
        const program = Program.compile(source.code, {
          filename,
          ...(options.dialect === undefined ? {} : { dialect: options.dialect }),
        });
        module = program.init({
          limits: execLimits(resolveLimits(loadLimits), options.maxDepth),
        }).module;
      } catch (e) {
        if (SE.isInstance(e)) throw new SandboxLoadError(source.name, toFailure(e));
        throw new SandboxLoadError(source.name, {
          kind: 'backend_failure',
          message: sanitizeFailureMessage(String(e)),
        });
      }
      const functions = new Map<string, SFunction>();
      for (const [k, v] of module.globals) if (v instanceof SFunction) functions.set(k, v);
      const entries = Object.freeze([...functions.keys()]);
      let disposed = false;
      const defaultLimits = resolveLimits(loadLimits);
      const defaultExec = execLimits(defaultLimits, options.maxDepth);
      const policy: LoadedPolicy = {
        entries,
        async invoke(
          entry: string,
          input: JsonValue,
          callLimits?: Partial<SandboxLimits>,
        ): Promise<InvokeResult> {
          const start = performance.now();
          let steps = 0;
          let alloc = 0;
          const usage = () => ({ wall_ms: performance.now() - start, steps, memory_bytes: alloc });
          const fail = (failure: SandboxFailure): InvokeResult => ({
            ok: false,
            failure,
            usage: usage(),
          });
          try {
            const limits =
              callLimits === undefined ? defaultLimits : resolveLimits(loadLimits, callLimits);
            const exec =
              callLimits === undefined ? defaultExec : execLimits(limits, options.maxDepth);
            const fn = functions.get(entry);
            if (disposed || fn === undefined)
              return fail({
                kind: 'missing_entry',
                message: `the policy defines no function ${entry}`,
              });
            let plain: unknown = input;
            const bound = jsonBound(input);
            if (bound < 0 || bound > limits.max_input_bytes) {
              // Not plain JSON, or possibly too large: measure the real serialisation.
              let inputJson: string;
              try {
                inputJson = JSON.stringify(input);
              } catch (e) {
                return fail({
                  kind: 'input_limit',
                  message: sanitizeFailureMessage(`input is not JSON: ${String(e)}`),
                });
              }
              if (utf8Length(inputJson) > limits.max_input_bytes)
                return fail({
                  kind: 'input_limit',
                  message: `input is larger than ${limits.max_input_bytes} bytes`,
                });
              plain = JSON.parse(inputJson) as unknown;
            }
            const arg = fromJson(plain);
            let value: Value;
            try {
              const r = module.call(fn, [arg], { limits: exec, startedAt: start });
              value = r.value;
              steps = r.stats.steps;
              alloc = r.stats.allocBytes;
            } catch (e) {
              if (!SE.isInstance(e)) throw e;
              if (e.stats !== null) {
                steps = e.stats.steps;
                alloc = e.stats.allocBytes;
              }
              return fail(toFailure(e));
            }
            let json: JsonValue;
            try {
              json = toJson(value, '$', 0, { left: limits.max_output_bytes });
            } catch (e) {
              if (e instanceof InvalidOutput)
                return fail({ kind: 'invalid_output', message: sanitizeFailureMessage(e.message) });
              if (e instanceof OutputTooLarge)
                return fail({
                  kind: 'output_limit',
                  message: `result is larger than ${limits.max_output_bytes} bytes`,
                });
              throw e;
            }
            const outBound = jsonBound(json);
            if (
              outBound > limits.max_output_bytes &&
              utf8Length(JSON.stringify(json)) > limits.max_output_bytes
            )
              return fail({
                kind: 'output_limit',
                message: `result is larger than ${limits.max_output_bytes} bytes`,
              });
            return {
              ok: true,
              value: json,
              usage: { wall_ms: performance.now() - start, steps, memory_bytes: alloc },
            };
          } catch (e) {
            return fail({
              kind: 'backend_failure',
              message: sanitizeFailureMessage(
                `starlark backend: ${e instanceof Error ? e.message : String(e)}`,
              ),
            });
          }
        },
        async dispose() {
          disposed = true;
          loaded.delete(policy);
        },
      };
      loaded.add(policy);
      return policy;
    },
    async dispose() {
      await Promise.all([...loaded].map((p) => p.dispose()));
    },
  };
}
