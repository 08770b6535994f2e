import {
  defineSandboxBackend,
  type GuestCall,
  type GuestOutcome,
  type GuestPolicy,
  type JsonValue,
  type PolicySource,
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

/**
 * The Starlark sandbox backend. Policies run on the caller's thread; they stop themselves through
 * the exact step budget, the allocation budget and the wall-clock deadline (read every 1024
 * steps), so there is no preemptive kill inline. The interpreter is plain JavaScript, so a worker
 * thread contains it fully (`containedBy: 'worker'`). What every backend checks the same way
 * (entries, input, output, final deadlines) is done by core's `defineSandboxBackend`.
 */
export function starlarkSandbox(options: StarlarkSandboxOptions = {}): SandboxBackend {
  return defineSandboxBackend({
    name: options.name ?? 'starlark',
    language: 'starlark',
    capabilities: {
      isolated: true,
      wallClock: true,
      steps: 'exact',
      memory: 'soft',
      cpuTime: false,
      hardKill: false,
      containedBy: 'worker',
    },
    async load(source: PolicySource, limits: Readonly<SandboxLimits>): Promise<GuestPolicy> {
      const filename = source.filename ?? source.name;
      let module: ModuleInstance;
      try {
        const program = Program.compile(source.code, {
          filename,
          ...(options.dialect === undefined ? {} : { dialect: options.dialect }),
        });
        module = program.init({ limits: execLimits(limits, options.maxDepth) }).module;
      } catch (e) {
        if (SE.isInstance(e)) throw new SandboxLoadError(source.name, toFailure(e));
        throw new SandboxLoadError(source.name, {
          kind: 'backend_failure',
          message: sanitizeFailureMessage(String(e)),
        });
      }
      const functions = new Map<string, SFunction>();
      for (const [k, v] of module.globals) if (v instanceof SFunction) functions.set(k, v);
      const defaultExec = execLimits(limits, options.maxDepth);
      return {
        entries: [...functions.keys()],
        call(call: GuestCall): GuestOutcome {
          const start = performance.now();
          const exec =
            call.callLimits === undefined ? defaultExec : execLimits(call.limits, options.maxDepth);
          let steps = 0;
          let alloc = 0;
          const usage = () => ({ steps, memory_bytes: alloc });
          let value: Value;
          try {
            const r = module.call(functions.get(call.entry)!, [fromJson(call.input)], {
              limits: exec,
              startedAt: start,
              // The input is the guest's to hold: twice its JSON size (UTF-16 text and the
              // containers around it, at the least) counts against its allocation budget.
              inputBytes: 2 * call.inputBytes,
            });
            value = r.value;
            steps = r.stats.steps;
            alloc = r.stats.allocBytes;
          } catch (e) {
            if (!SE.isInstance(e)) throw e;
            if (e.stats !== null) {
              steps = e.stats.steps;
              alloc = e.stats.allocBytes;
            }
            return { ok: false, failure: toFailure(e), usage: usage() };
          }
          try {
            const json = toJson(value, '$', 0, { left: call.limits.max_output_bytes });
            return { ok: true, value: json, usage: usage() };
          } catch (e) {
            if (e instanceof InvalidOutput) {
              return {
                ok: false,
                failure: { kind: 'invalid_output', message: e.message },
                usage: usage(),
              };
            }
            if (e instanceof OutputTooLarge) {
              const message = `result is larger than ${call.limits.max_output_bytes} bytes`;
              return { ok: false, failure: { kind: 'output_limit', message }, usage: usage() };
            }
            throw e;
          }
        },
        dispose() {},
      };
    },
  });
}
