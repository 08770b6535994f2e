import vm from 'node:vm';
import {
  GUEST_EXACT_JSON,
  type InvokeResult,
  type JsonValue,
  type SandboxBackend,
  type SandboxCapabilities,
  type SandboxLimits,
  SandboxLoadError,
  trustedBackend,
} from '@wardwright/core';
import {
  allConformanceCases,
  type ConformanceCase,
  ConformanceFailure,
  conformanceCases,
  corpus,
} from '@wardwright/core/testing';
import { isolatedVmSandbox, memoryGuarantee } from '@wardwright/sandbox-isolated-vm';
import { quickjsSandbox } from '@wardwright/sandbox-quickjs';
import { starlarkSandbox } from '@wardwright/starlark';
import { describe, expect, it } from 'vitest';
import { conformanceSuite } from './conformance.fixtures.ts';

// One backend instance per backend under test, disposed at the end, and the cases each one is
// exempt from by its capabilities: a capability change must show up here, not pass silently.
const backends: [string, () => SandboxBackend, string[]][] = [
  // Inline, no backend holds availability (a guest runs on the event loop): the availability
  // battery runs in the execution modes that claim it (sandbox-conformance-modes.test.ts).
  [
    'trusted',
    () => trustedBackend(),
    ['escape', 'hardKill', 'isolated', 'memory', 'steps', 'availability'],
  ],
  ['quickjs', () => quickjsSandbox(), ['availability']],
  // Every call restored from a memory snapshot: the whole battery must hold there too.
  ['quickjs (per-call)', () => quickjsSandbox({ fresh: 'per-call' }), ['availability']],
  [
    'isolated-vm',
    () => isolatedVmSandbox(),
    // On V8 13+ (Node 24) isolated-vm's memory limit is soft: see memory-guarantee.ts.
    [
      'failures/step-limit',
      'availability',
      ...(memoryGuarantee() === 'hard' ? [] : ["memory: 'hard'"]),
    ],
  ],
];

const cases = conformanceCases();

describe.each(backends)('sandbox conformance: %s', (_name, create, exempt) => {
  conformanceSuite(create, exempt);
});

// Starlark's allocation budget is not a cap on the host heap (memory: 'soft'): the cases that
// need a hard memory limit do not apply; the allocation-budget cases do.
describe('sandbox conformance: starlark', () => {
  conformanceSuite(() => starlarkSandbox(), ["memory: 'hard'", 'availability']);
});

// With every dialect option on, the cases that depend on them take their other branch:
// recursion ends in stack_overflow at the depth limit, and a set in the result is invalid_output.
describe('sandbox conformance: starlark with recursion, while, set and top-level control', () => {
  conformanceSuite(
    () =>
      starlarkSandbox({
        name: 'starlark-full-dialect',
        dialect: { recursion: true, while: true, set: true, toplevelControl: true },
      }),
    ["memory: 'hard'", 'availability'],
  );
});

const starlarkKit = conformanceCases({ language: 'starlark' });

describe('the conformance kit itself', () => {
  const all = allConformanceCases();
  const byCategory = (category: ConformanceCase['category']) =>
    cases.filter((c) => c.category === category);

  it('is one list: unique ids, each case in at least one language, at least 229 (case, language) pairs', () => {
    expect(new Set(all.map((c) => c.id)).size).toBe(all.length);
    for (const c of all) {
      expect(c.id.startsWith(`${c.category}/`), c.id).toBe(true);
      expect(c.languages.length, c.id).toBeGreaterThanOrEqual(1);
      expect(new Set(c.languages).size, c.id).toBe(c.languages.length);
    }
    // 123 JavaScript and 106 Starlark cases when the kit was two lists (57 ids in both).
    expect(all.flatMap((c) => c.languages).length).toBeGreaterThanOrEqual(229);
    expect(cases.length).toBeGreaterThanOrEqual(123);
    expect(starlarkKit.length).toBeGreaterThanOrEqual(106);
    expect(all.filter((c) => c.languages.length === 2).length).toBeGreaterThanOrEqual(57);
  });

  it('selects by language in the order of the one list; no language means JavaScript', () => {
    for (const language of ['javascript', 'starlark'] as const) {
      expect(conformanceCases({ language })).toEqual(
        all.filter((c) => c.languages.includes(language)),
      );
    }
    expect(cases).toEqual(conformanceCases({ language: 'javascript' }));
  });

  it('has the minimum numbers of cases the issue asks for', () => {
    expect(byCategory('semantics').length).toBeGreaterThanOrEqual(25);
    expect(byCategory('escape').length).toBeGreaterThanOrEqual(30);
    const twins = corpus.filter((p) => p.policy.starlark !== undefined);
    expect(twins.length).toBeGreaterThanOrEqual(25);
    for (const p of twins) {
      expect(all.find((c) => c.id === `semantics/${p.id}`)?.languages).toEqual([
        'javascript',
        'starlark',
      ]);
    }
    expect(starlarkKit.filter((c) => c.category === 'escape').length).toBeGreaterThanOrEqual(15);
  });

  it('runs the policy in the language of the backend, and refuses a case without one', async () => {
    const loaded: string[] = [];
    const recording = (backend: SandboxBackend): SandboxBackend => ({
      ...backend,
      load: (source, limits) => {
        loaded.push(`${source.language}: ${source.code}`);
        return backend.load(source, limits);
      },
    });
    const timeout = all.find((c) => c.id === 'failures/timeout')!;
    const trusted = trustedBackend();
    const starlark = starlarkSandbox();
    try {
      await timeout.run(recording(trusted));
      await timeout.run(recording(starlark));
      expect(loaded).toEqual([
        expect.stringMatching(/^javascript: function busy\(input\)/),
        expect.stringMatching(/^starlark: def busy\(input\):/),
      ]);
      const starlarkOnly = all.find((c) => c.id === 'failures/undefined-name')!;
      expect(starlarkOnly.languages).toEqual(['starlark']);
      const refused = starlarkOnly.run(trusted);
      await expect(refused).rejects.toThrow(/has no javascript policy/);
      await expect(refused).rejects.not.toBeInstanceOf(ConformanceFailure);
    } finally {
      await trusted.dispose();
      await starlark.dispose();
    }
  });

  it('a requirement may differ by language, and says so', () => {
    const recovery = all.find((c) => c.id === 'recovery/after-memory-limit')!;
    const soft = { ...trustedBackend().capabilities, memory: 'soft' as const };
    expect(recovery.applies(soft, 'starlark')).toBe(true);
    expect(recovery.applies(soft, 'javascript')).toBe(false);
    expect(recovery.applies(soft)).toBe(false);
    expect(recovery.applies({ ...soft, memory: 'hard' }, 'javascript')).toBe(true);
    expect(recovery.applies({ ...soft, memory: 'none' }, 'starlark')).toBe(false);
    expect(recovery.requirement).toBe(
      "memory: 'hard' for javascript; memory: 'soft' or 'hard' for starlark",
    );
  });
});

/**
 * A node:vm backend, for testing the kit only (node:vm is NOT a security boundary): a separate
 * context with a preemptive timeout, enough to show that the isolated-only cases can pass and
 * that they fail for the right reasons. Errors and results are formatted inside the guest, under
 * the same timeout, so the host never touches a guest object.
 */
function vmBackend(): SandboxBackend {
  const DISPATCH = `(function () {
    'use strict';
    const parse = JSON.parse;
    // The serialiser every JavaScript backend runs in its guest: exact JSON or a refusal.
    const serialise = (${GUEST_EXACT_JSON})(globalThis);
    let entries;
    globalThis.__setEntries = (table) => { entries = table; delete globalThis.__setEntries; };
    const describe = (e) => {
      try {
        if (e instanceof Error) return String(e.name) + ': ' + String(e.message);
      } catch (_) { return 'threw an unreadable error'; }
      return 'threw ' + typeof e;
    };
    return function (name, json) {
      let value;
      try { value = entries[name](parse(json)); }
      catch (e) { return [e instanceof RangeError && /call stack/.test(e.message) ? 'stack_overflow' : 'runtime_error', describe(e)]; }
      if (value !== null && typeof value === 'object' && typeof value.then === 'function') return ['invalid_output', 'returned a promise'];
      let out;
      try { out = serialise(value); } catch (e) {
        return ['invalid_output', e !== null && typeof e === 'object' && typeof e.notJson === 'string' ? 'result is not JSON: ' + e.notJson : describe(e)];
      }
      return ['ok', out];
    };
  })()`;
  return {
    specificationVersion: 'v1',
    name: 'node-vm',
    language: 'javascript',
    capabilities: {
      isolated: true,
      wallClock: true,
      steps: 'none',
      memory: 'none',
      cpuTime: false,
      hardKill: true,
      // node:vm has no memory limit: no execution mode contains a hostile guest.
      execution: 'inline',
      containedBy: 'none',
      availability: false,
    },
    async load(source, loadLimits) {
      const context = vm.createContext({}, { codeGeneration: { strings: true, wasm: false } });
      vm.runInContext(
        'delete Math.random; delete globalThis.Date; Promise.prototype.then = function () { return this; };',
        context,
      );
      const dispatch: (name: string, json: string) => [string, string] = vm.runInContext(
        DISPATCH,
        context,
      );
      const names = [...source.code.matchAll(/\bfunction\s*\*?\s*([A-Za-z_$][\w$]*)\s*\(/g)].map(
        (m) => m[1]!,
      );
      const body = source.code.replace(/^(\s*)export\s+(?=(?:async\s+)?function)/gm, '$1');
      const table = names.map(
        (n) => `${JSON.stringify(n)}: typeof ${n} === 'function' ? ${n} : undefined`,
      );
      let entries: string[];
      try {
        entries = String(
          vm.runInContext(
            `'use strict';\n${body}\n;{ const t = {${table.join(', ')}}; __setEntries(t); Object.keys(t).filter((k) => t[k]).join(','); }`,
            context,
            { timeout: 1000 },
          ),
        )
          .split(',')
          .filter(Boolean);
      } catch (error) {
        const message = String((error as Error).message)
          .split('\n')[0]!
          .slice(0, 200);
        throw new SandboxLoadError(source.name, {
          kind: (error as Error).name === 'SyntaxError' ? 'compile_error' : 'runtime_error',
          message,
        });
      }
      return {
        entries,
        async invoke(
          entry: string,
          input: JsonValue,
          callLimits?: Partial<SandboxLimits>,
        ): Promise<InvokeResult> {
          const limits = {
            timeout_ms: 50,
            max_output_bytes: 65536,
            max_input_bytes: 1 << 20,
            ...loadLimits,
            ...callLimits,
          };
          const usage = { wall_ms: 0 };
          const failure = (
            kind: 'missing_entry' | 'input_limit' | 'output_limit' | 'timeout',
            message: string,
          ): InvokeResult => ({ ok: false, failure: { kind, message }, usage });
          if (!entries.includes(entry)) return failure('missing_entry', `no function ${entry}`);
          const json = JSON.stringify(input);
          if (json.length > limits.max_input_bytes)
            return failure('input_limit', 'input too large');
          let outcome: [string, string];
          try {
            outcome = vm.runInContext(
              '__call(__entry, __json)',
              Object.assign(context, { __call: dispatch, __entry: entry, __json: json }),
              { timeout: limits.timeout_ms },
            );
          } catch {
            return failure('timeout', 'timed out');
          }
          const [kind, text] = [String(outcome[0]), String(outcome[1])];
          if (kind !== 'ok')
            return {
              ok: false,
              failure: {
                kind: kind as 'runtime_error',
                message: text.split('\n')[0]!.slice(0, 500),
              },
              usage,
            };
          if (text.length > limits.max_output_bytes)
            return failure('output_limit', 'output too large');
          return { ok: true, value: JSON.parse(text), usage };
        },
        async dispose() {},
      };
    },
    async dispose() {},
  };
}

// What node:vm cannot do, and the kit therefore reports: rejections of guest promises reach the
// host's unhandledRejection, and guest stack traces show host frames.
const VM_WEAKNESSES: Record<string, RegExp> = {
  'escape/dynamic-import': /unhandled rejection in the host/,
  'escape/wasm-compile-async': /unhandled rejection in the host/,
  'escape/unhandled-rejection': /unhandled rejection in the host/,
  'escape/async-function-constructor': /unhandled rejection in the host/,
  'escape/stack-reveals-no-host': /host frames in the guest stack/,
};

describe('the kit against a node:vm test backend (isolated, hardKill)', () => {
  const backend = vmBackend();
  const applicable = cases.filter((c) => c.applies(backend.capabilities, backend.language));

  it('runs the isolated-only cases that apply to it', () => {
    expect(applicable.filter((c) => c.category === 'escape').length).toBeGreaterThanOrEqual(30);
  });

  for (const c of applicable) {
    const weakness = VM_WEAKNESSES[c.id];
    if (weakness === undefined) {
      it(`passes ${c.id}`, () => c.run(backend), 30_000);
    } else {
      it(`reports ${c.id} as a node:vm weakness`, async () => {
        await expect(c.run(backend)).rejects.toThrow(weakness);
        await expect(c.run(backend)).rejects.toBeInstanceOf(ConformanceFailure);
      });
    }
  }
});

/** A backend that lies about its capabilities, or bends the results of another one. */
function bent(
  inner: SandboxBackend,
  changes: {
    capabilities?: Partial<SandboxCapabilities>;
    result?: (result: InvokeResult) => InvokeResult;
    /** Answer instead of the inner backend (which then does not run the call at all). */
    instead?: (entry: string) => InvokeResult | undefined;
    load?: 'swallow-errors' | 'throw-plain';
    entries?: string[];
  },
): SandboxBackend {
  return {
    ...inner,
    capabilities: { ...inner.capabilities, ...changes.capabilities },
    async load(source, limits) {
      if (changes.load === 'throw-plain') throw new Error('plain failure');
      try {
        const policy = await inner.load(source, limits);
        return {
          entries: changes.entries ?? policy.entries,
          dispose: () => policy.dispose(),
          invoke: async (entry, input, callLimits) => {
            const answer = changes.instead?.(entry);
            if (answer !== undefined) return answer;
            const result = await policy.invoke(entry, input, callLimits);
            return changes.result === undefined ? result : changes.result(result);
          },
        };
      } catch (error) {
        if (changes.load !== 'swallow-errors') throw error;
        return {
          entries: [],
          invoke: async () => ({ ok: true, value: 1, usage: { wall_ms: 0 } }),
          dispose: async () => {},
        };
      }
    },
  };
}

/** Answers every call with one failure kind, except entries named `echo`, which echo. */
function canned(kind: 'memory_limit' | 'step_limit' | 'runtime_error'): SandboxBackend {
  return bent(trustedBackend(), {
    capabilities: { isolated: true, memory: 'hard', steps: 'coarse', hardKill: true },
    instead: (entry) =>
      entry === 'echo'
        ? undefined
        : { ok: false, failure: { kind, message: `canned ${kind}` }, usage: { wall_ms: 0 } },
  });
}

// A corpus case whose result is plain JSON on every backend, so that a failure below comes from the
// bend, not from the policy.
const PLAIN = 'semantics/classify-numbers';

const byId = (id: string) => {
  const found = cases.find((c) => c.id === id);
  if (found === undefined) throw new Error(`no case ${id}`);
  return found;
};

const failsWith = async (id: string, backend: SandboxBackend, message: RegExp) => {
  const c = byId(id);
  await expect(c.run(backend)).rejects.toThrow(message);
  await expect(c.run(backend)).rejects.toBeInstanceOf(ConformanceFailure);
};

describe('the kit fails backends that misbehave', () => {
  const memoryIds = cases
    .filter((c) => /memory/.test(c.id) && c.category !== 'escape')
    .map((c) => c.id);

  it('memory and step cases pass on a backend that reports the limit, fail on one that does not', async () => {
    expect(memoryIds.length).toBeGreaterThanOrEqual(6);
    for (const id of memoryIds) {
      await byId(id).run(canned('memory_limit'));
      await failsWith(id, canned('runtime_error'), /expected memory_limit, got runtime_error/);
    }
    await byId('failures/step-limit').run(canned('step_limit'));
    await failsWith('failures/step-limit', canned('memory_limit'), /expected step_limit/);
  });

  it('wrong values, kinds and messages are reported with what the backend did', async () => {
    const wrongValue = bent(trustedBackend(), {
      result: (r) => (r.ok ? { ...r, value: { different: true } } : r),
    });
    await failsWith(PLAIN, wrongValue, /expected \{"above":19.*got \{"different":true\}/);
    await failsWith(
      'semantics/entries',
      bent(trustedBackend(), { entries: ['decide', 'helper', 'inner'] }),
      /expected entries \["decide","helper"\], got \["decide","helper","inner"\]/,
    );
    await failsWith(
      'determinism/repeat-calls',
      bent(trustedBackend(), {
        result: (r) => (r.ok ? { ...r, value: Math.random() } : r),
      }),
      /outputs differ/,
    );
    const allRuntime = bent(trustedBackend(), {
      result: (r) => (r.ok ? r : { ...r, failure: { kind: 'runtime_error', message: 'x' } }),
    });
    await failsWith(
      'failures/output-limit',
      allRuntime,
      /expected output_limit, got runtime_error/,
    );
    await failsWith('failures/runtime-error', allRuntime, /should name TypeError/);
    const multiLine = bent(trustedBackend(), {
      result: (r) => (r.ok ? r : { ...r, failure: { ...r.failure, message: 'two\nlines' } }),
    });
    await failsWith('failures/stack-overflow', multiLine, /line break/);
    const alwaysOk = bent(trustedBackend(), {
      result: (r) => ({ ok: true, value: 'fine', usage: r.usage }),
    });
    await failsWith('failures/timeout', alwaysOk, /expected timeout, got ok "fine"/);
    await failsWith(
      'isolation/concurrent-one-policy',
      alwaysOk,
      /call 0 \(input 0\): expected 0, got "fine"/,
    );
  });

  it('load errors must be SandboxLoadErrors of the right kind', async () => {
    await failsWith(
      'failures/compile-error',
      bent(trustedBackend(), { load: 'swallow-errors' }),
      /load succeeded/,
    );
    await failsWith(
      'failures/compile-error',
      bent(trustedBackend(), { load: 'throw-plain' }),
      /not a SandboxLoadError/,
    );
    await failsWith(
      'failures/load-time-throw',
      {
        ...trustedBackend(),
        load: async (source) => {
          throw new SandboxLoadError(source.name, { kind: 'compile_error', message: 'no' });
        },
      },
      /expected a runtime_error load error, got compile_error/,
    );
  });

  it('the escape battery catches host code running (the trusted backend, pretending to be isolated)', async () => {
    const pretending = bent(trustedBackend(), { capabilities: { isolated: true, hardKill: true } });
    await failsWith(
      'escape/host-process',
      pretending,
      /host process.exit\(\[70\]\) was called.*canary is 1/,
    );
    await failsWith('escape/function-this', pretending, /host code ran/);
    await failsWith('escape/global-keys', pretending, /host-only globals visible: process/);
    await failsWith('escape/eval-inside', pretending, /host code ran: the host canary is 1/);
    await failsWith(
      'escape/generator-function-constructor',
      pretending,
      /expected "undefined", got "object"/,
    );
    expect((globalThis as Record<string, unknown>).__wardwrightCanary).toBeUndefined();
  });

  it('the escape battery rejects results that are not plain data', async () => {
    const accessor = bent(vmBackend(), {
      result: (r) =>
        r.ok
          ? { ...r, value: Object.defineProperty({}, 'x', { get: () => 1, enumerable: true }) }
          : r,
    });
    await failsWith('escape/constructor-prototype-output', accessor, /an accessor property "x"/);
    const shared: JsonValue[] = [];
    const sharing = bent(vmBackend(), {
      result: (r) => (r.ok ? { ...r, value: [shared, shared] } : r),
    });
    await failsWith('escape/constructor-prototype-output', sharing, /shared or cyclic/);
    const foreign = bent(vmBackend(), {
      result: (r) => (r.ok ? { ...r, value: new Map() as never } : r),
    });
    await failsWith('escape/constructor-prototype-output', foreign, /foreign prototype/);
    const nonFinite = bent(vmBackend(), {
      result: (r) => (r.ok ? { ...r, value: [Number.NaN] } : r),
    });
    await failsWith('escape/constructor-prototype-output', nonFinite, /non-finite/);
    const symbolKey = bent(vmBackend(), {
      result: (r) => (r.ok ? { ...r, value: { [Symbol('k')]: 1 } as never } : r),
    });
    await failsWith('escape/constructor-prototype-output', symbolKey, /symbol key/);
    const fn = bent(vmBackend(), {
      result: (r) => (r.ok ? { ...r, value: [() => 1] as never } : r),
    });
    await failsWith('escape/constructor-prototype-output', fn, /a function in the result/);
    const okFailure = bent(vmBackend(), {
      result: (r) => (r.ok ? r : { ok: true, value: 'swallowed', usage: r.usage }),
    });
    await failsWith('escape/require', okFailure, /expected a typed failure, got ok "swallowed"/);
    const crash = bent(vmBackend(), {
      result: (r) => ({
        ok: false,
        failure: { kind: 'backend_failure', message: 'crashed' },
        usage: r.usage,
      }),
    });
    await failsWith(
      'escape/pending-promise-after-return',
      crash,
      /expected a value, got backend_failure/,
    );
    await failsWith('escape/require', crash, /expected runtime_error, got backend_failure/);
    const slow = bent(vmBackend(), {
      result: (r) => {
        const end = performance.now() + 1100;
        while (performance.now() < end) {}
        return r;
      },
    });
    await failsWith('escape/tojson-spin', slow, /took \d+ ms, bound 1000 ms/);
  });

  it('messages must carry the error, on one line', async () => {
    const message = (text: string) =>
      bent(trustedBackend(), {
        result: (r) => (r.ok ? r : { ...r, failure: { ...r.failure, message: text } }),
      });
    await failsWith(
      'failures/runtime-error',
      message('TypeError: other'),
      /should carry the error message/,
    );
    await failsWith(
      'failures/uncaught-reference-error',
      message('x'),
      /should name ReferenceError/,
    );
    await failsWith(
      'failures/message-one-line',
      message('first second line'),
      /kept its second line/,
    );
    const big = bent(trustedBackend(), {
      result: (r) => (r.ok ? { ...r, value: 10n as never } : r),
    });
    await failsWith(PLAIN, big, /got 10$/);
  });

  it('bounds on wall time hold for backends that claim hardKill', async () => {
    const slow = bent(vmBackend(), {
      result: (r) => {
        const end = performance.now() + 1100;
        while (performance.now() < end) {}
        return r;
      },
    });
    await failsWith('limits/infinite-loop', slow, /the call took \d+ ms \(bound 1000 ms\)/);
    await failsWith('limits/cpu-heavy-loop', slow, /a backend with hardKill took \d+ ms/);
  });

  it('nondeterminism and live timers are caught (trusted, pretending to be isolated)', async () => {
    const pretending = bent(trustedBackend(), { capabilities: { isolated: true } });
    await failsWith('determinism/math-random', pretending, /pair: two fresh loads disagree/);
    try {
      await failsWith(
        'determinism/no-timers',
        pretending,
        /fired after return: read gave ok [1-9]/,
      );
    } finally {
      delete (globalThis as { __timersFired?: unknown }).__timersFired;
    }
  });

  it('host prototype pollution is caught (and undone here)', async () => {
    const pretending = bent(trustedBackend(), { capabilities: { isolated: true } });
    const trim = String.prototype.trim;
    try {
      await expect(byId('escape/guest-prototype-pollution').run(pretending)).rejects.toThrow(
        /Object.prototype keys changed.*String.prototype.trim was replaced.*\(\{\}\).polluted is set/,
      );
    } finally {
      for (const proto of [Object.prototype, Array.prototype, Function.prototype]) {
        delete (proto as { polluted?: unknown }).polluted;
      }
      String.prototype.trim = trim;
    }
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('escape attempts accept only typed load errors', async () => {
    const refusing = (kind: 'compile_error' | 'runtime_error'): SandboxBackend => ({
      ...vmBackend(),
      load: async (source) => {
        throw new SandboxLoadError(source.name, { kind, message: 'refused' });
      },
    });
    await byId('escape/top-level-this').run(refusing('runtime_error'));
    await byId('escape/pending-promise-after-return').run(refusing('compile_error'));
    await failsWith(
      'escape/pending-promise-after-return',
      refusing('runtime_error'),
      /load failed with runtime_error: refused/,
    );
    const plain = bent(vmBackend(), { load: 'throw-plain' });
    await expect(byId('escape/require').run(plain)).rejects.toThrow('plain failure');
  });

  it('every check of a result can fail', async () => {
    const value = (v: unknown) =>
      bent(vmBackend(), { result: (r) => (r.ok ? { ...r, value: v as JsonValue } : r) });
    await failsWith('escape/global-keys', value('x'), /expected a list of names/);
    await failsWith('escape/proto-key-output', value({ b: 1 }), /as data, or \{"a": 1\}/);
    const answer = bent(vmBackend(), {
      instead: () => ({ ok: true, value: 'x', usage: { wall_ms: 0 } }),
    });
    await failsWith('escape/wasm-compile-async', answer, /unexpected value/);
    await failsWith('escape/caller-climb', value('x'), /unexpected value/);
    await byId('escape/stack-reveals-no-host').run(value('Error: clean'));
    await failsWith(PLAIN, value(undefined), /got undefined/);
    await byId(PLAIN).run(trustedBackend());
    await expect(
      byId(PLAIN).run(
        bent(trustedBackend(), {
          result: (r) => (r.ok ? { ...r, value: { ...(r.value as object), flagged: {} } } : r),
        }),
      ),
    ).rejects.toThrow(/^classify-numbers: expected \{"above":19/);
    const failing = (message: unknown) =>
      bent(trustedBackend(), {
        result: (r) => ({
          ok: false,
          failure: { kind: 'runtime_error', message: message as string },
          usage: r.usage,
        }),
      });
    await failsWith(PLAIN, failing('x'), /expected \{"above".*got runtime_error/);
    await failsWith(
      'determinism/repeat-calls',
      failing('x'),
      /call 1: expected a value, got runtime_error/,
    );
    await failsWith('failures/runtime-error', failing(42), /the failure message is not a string/);
    await failsWith('failures/runtime-error', failing('x'.repeat(600)), /has 600 characters/);
  });

  it('the host canary is restored to what it was, and load errors without kinds are typed', async () => {
    const host = globalThis as Record<string, unknown>;
    host.__wardwrightCanary = 'mine';
    try {
      await byId('escape/host-process').run(vmBackend());
      expect(host.__wardwrightCanary).toBe('mine');
    } finally {
      delete host.__wardwrightCanary;
    }
    await byId('escape/host-process').run({
      ...vmBackend(),
      load: async (source) => {
        throw new SandboxLoadError(source.name, { kind: 'runtime_error', message: 'refused' });
      },
    });
  });
});
