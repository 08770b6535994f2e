import { utf8Length } from '../text/utf8.ts';
import {
  assertLanguage,
  entryCandidates,
  type InvokeResult,
  type JsonValue,
  type LoadedPolicy,
  type PolicySource,
  resolveLimits,
  type SandboxBackend,
  type SandboxFailure,
  type SandboxLimits,
  SandboxLoadError,
  sanitizeFailureMessage,
  withoutExports,
} from './contract.ts';

/**
 * The trusted backend: JavaScript policies run in the host process, as plain functions.
 * It is NOT a sandbox — no memory limit, and a runaway loop blocks the thread until it ends
 * (the time limit is checked after the call returns). It exists for tests, for simulation of
 * policies you wrote yourself, and as the reference the real sandboxes are compared against.
 * What it does enforce like the others: JSON in and out, input and output size, the failure
 * taxonomy, and no state shared between policies.
 */

export function trustedBackend(options: { name?: string } = {}): SandboxBackend {
  const name = options.name ?? 'trusted';
  const loaded = new Set<LoadedPolicy>();
  return {
    specificationVersion: 'v1',
    name,
    language: 'javascript',
    capabilities: {
      isolated: false,
      wallClock: true,
      steps: 'none',
      memory: 'none',
      cpuTime: false,
      hardKill: false,
    },
    async load(source: PolicySource, loadLimits?: Partial<SandboxLimits>): Promise<LoadedPolicy> {
      assertLanguage(name, 'javascript', source);
      // A candidate is dropped below when `typeof name` at the top level is not a function.
      const names = entryCandidates(source.code);
      const body = withoutExports(source.code);
      let factory: () => unknown;
      try {
        factory = new Function(
          `"use strict";\n${body}\n;return {${names.map((n) => `${JSON.stringify(n)}: typeof ${n} === 'function' ? ${n} : undefined`).join(', ')}};`,
        ) as () => unknown;
        factory();
      } catch (error) {
        throw new SandboxLoadError(source.name, {
          kind: error instanceof SyntaxError ? 'compile_error' : 'runtime_error',
          message: sanitizeFailureMessage(
            error instanceof Error ? `${error.name}: ${error.message}` : String(error),
          ),
        });
      }
      // Module state is fresh for every call (the factory runs again), as in a sandbox that
      // discards a policy's globals: one call can never change the next one's answer.
      const freshEntries = (): Map<string, (input: unknown) => unknown> => {
        const current = factory() as Record<string, unknown>;
        const functions = new Map<string, (input: unknown) => unknown>();
        for (const fn of names) {
          const value = current[fn];
          if (typeof value === 'function') functions.set(fn, value as (input: unknown) => unknown);
        }
        return functions;
      };
      const entries = Object.freeze([...freshEntries().keys()]);
      let disposed = false;
      const policy: LoadedPolicy = {
        entries,
        async invoke(
          entry: string,
          input: JsonValue,
          callLimits?: Partial<SandboxLimits>,
        ): Promise<InvokeResult> {
          const limits = resolveLimits(loadLimits, callLimits);
          const start = performance.now();
          const fail = (failure: SandboxFailure): InvokeResult => ({
            ok: false,
            failure,
            usage: { wall_ms: performance.now() - start },
          });
          if (disposed || !entries.includes(entry)) {
            return fail({
              kind: 'missing_entry',
              message: `the policy defines no function ${entry}`,
            });
          }
          const inputJson = JSON.stringify(input);
          if (utf8Length(inputJson) > limits.max_input_bytes) {
            return fail({
              kind: 'input_limit',
              message: `input is larger than ${limits.max_input_bytes} bytes`,
            });
          }
          let value: unknown;
          try {
            const fn = freshEntries().get(entry)!;
            value = fn(JSON.parse(inputJson));
          } catch (error) {
            if (error instanceof RangeError && /call stack/i.test(error.message)) {
              return fail({ kind: 'stack_overflow', message: 'maximum call stack size exceeded' });
            }
            return fail({
              kind: 'runtime_error',
              message: sanitizeFailureMessage(
                error instanceof Error
                  ? `${error.name}: ${error.message}`
                  : `threw ${describe(error)}`,
              ),
            });
          }
          const elapsed = performance.now() - start;
          if (elapsed > limits.timeout_ms) {
            return fail({
              kind: 'timeout',
              // The measured time is not in the message: receipts must not vary run to run.
              message: `ran over the ${limits.timeout_ms} ms limit`,
            });
          }
          // Probing and serialising run policy code (getters, proxies, toJSON): both are guarded.
          let output: string | undefined;
          try {
            if (
              typeof value === 'object' &&
              value !== null &&
              typeof (value as { then?: unknown }).then === 'function'
            ) {
              // A rejected promise nobody awaits would be an unhandled rejection in the host.
              Promise.resolve(value).catch(() => undefined);
              return fail({
                kind: 'invalid_output',
                message: 'returned a promise; a policy returns its result directly',
              });
            }
            output = JSON.stringify(value);
          } catch (error) {
            return fail({
              kind: 'invalid_output',
              message: sanitizeFailureMessage(
                `result is not JSON: ${error instanceof Error ? error.message : String(error)}`,
              ),
            });
          }
          if (output === undefined)
            return fail({
              kind: 'invalid_output',
              message: 'returned undefined, not a JSON value',
            });
          if (utf8Length(output) > limits.max_output_bytes) {
            return fail({
              kind: 'output_limit',
              message: `result is larger than ${limits.max_output_bytes} bytes`,
            });
          }
          return {
            ok: true,
            value: JSON.parse(output) as JsonValue,
            usage: { wall_ms: performance.now() - start },
          };
        },
        async dispose() {
          loaded.delete(policy);
          disposed = true;
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

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 100));
  if (value === null || typeof value !== 'object') return String(value);
  return Object.prototype.toString.call(value);
}
