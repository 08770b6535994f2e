import {
  entryCandidates,
  type SandboxBackend,
  type SandboxFailure,
  SandboxLoadError,
  sanitizeFailureMessage,
  withoutExports,
} from './contract.ts';
import { defineSandboxBackend, type GuestOutcome } from './define-backend.ts';
import { GUEST_EXACT_JSON } from './guest-source.ts';

/**
 * The trusted backend: JavaScript policies run in the host process, as plain functions.
 * It is NOT a sandbox — no memory limit, and a runaway loop blocks the thread until it ends
 * (the time limit is checked after the call returns). It exists for tests, for simulation of
 * policies you wrote yourself, and as the reference the real sandboxes are compared against.
 * What it does enforce like the others (through the same call wrapper): JSON in and out, input
 * and output size, the failure taxonomy, and no state shared between policies.
 */

export function trustedBackend(options: { name?: string } = {}): SandboxBackend {
  return defineSandboxBackend({
    name: options.name ?? 'trusted',
    language: 'javascript',
    capabilities: {
      isolated: false,
      wallClock: true,
      steps: 'none',
      memory: 'none',
      cpuTime: false,
      hardKill: false,
      containedBy: 'none',
    },
    async load(source) {
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
      return {
        entries: [...freshEntries().keys()],
        call({ entry, json }): GuestOutcome {
          let value: unknown;
          try {
            const fn = freshEntries().get(entry)!;
            value = fn(JSON.parse(json));
          } catch (error) {
            if (error instanceof RangeError && /call stack/i.test(error.message)) {
              return fail('stack_overflow', 'maximum call stack size exceeded');
            }
            return fail(
              'runtime_error',
              error instanceof Error
                ? `${error.name}: ${error.message}`
                : `threw ${describe(error)}`,
            );
          }
          // Probing and serialising run policy code (getters, proxies, toJSON): both are guarded.
          try {
            if (
              typeof value === 'object' &&
              value !== null &&
              typeof (value as { then?: unknown }).then === 'function'
            ) {
              // A rejected promise nobody awaits would be an unhandled rejection in the host.
              Promise.resolve(value).catch(() => undefined);
              return fail(
                'invalid_output',
                'returned a promise; a policy returns its result directly',
              );
            }
            return { ok: true, json: exactJson()(value) };
          } catch (error) {
            return fail('invalid_output', notJsonMessage(error));
          }
        },
        dispose() {},
      };
    },
  });
}

let serialise: ((value: unknown) => string) | undefined;

/** The guests' exact serialiser, evaluated in the host once, on first use. */
function exactJson(): (value: unknown) => string {
  serialise ??= (new Function(`return ${GUEST_EXACT_JSON}`)() as (g: unknown) => typeof serialise)(
    globalThis,
  ) as (value: unknown) => string;
  return serialise;
}

/** The message of what the exact serialiser threw (see GUEST_EXACT_JSON). */
function notJsonMessage(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const record = error as { notJson?: unknown; tooDeep?: unknown };
    if (typeof record.notJson === 'string') return `result is not JSON: ${record.notJson}`;
    if (record.tooDeep === true) return 'result is nested too deep';
  }
  return `result is not JSON: ${error instanceof Error ? error.message : String(error)}`;
}

function fail(kind: SandboxFailure['kind'], message: string): GuestOutcome {
  return { ok: false, failure: { kind, message } };
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 100));
  if (value === null || typeof value !== 'object') return String(value);
  return Object.prototype.toString.call(value);
}
