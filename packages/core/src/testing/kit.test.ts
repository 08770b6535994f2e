import { describe, expect, it } from 'vitest';
import {
  type InvokeResult,
  type PolicyLanguage,
  type SandboxBackend,
  type SandboxCapabilities,
  type SandboxFailure,
  SandboxLoadError,
} from '../sandbox/contract.ts';
import { trustedBackend } from '../sandbox/trusted-backend.ts';
import {
  ConformanceFailure,
  defineCase,
  expectEndlessRecursionStopped,
  expectLoadError,
  POLICY_LANGUAGES,
  REQUIRES,
} from './kit.ts';

type Location = SandboxFailure['location'];

const capabilities: SandboxCapabilities = trustedBackend().capabilities;

/** A backend of `language` whose load fails with a compile_error at `location`. */
function refusing(language: PolicyLanguage, location?: Location): SandboxBackend {
  return {
    ...trustedBackend(),
    language,
    load: async (source) => {
      throw new SandboxLoadError(source.name, {
        kind: 'compile_error',
        message: 'no',
        ...(location === undefined ? {} : { location }),
      });
    },
  };
}

const failure = (kind: 'stack_overflow' | 'runtime_error', message: string): InvokeResult => ({
  ok: false,
  failure: { kind, message },
  usage: { wall_ms: 0 },
});

describe('defineCase', () => {
  it('lists its languages in POLICY_LANGUAGES order and runs the policy of the backend language', async () => {
    const seen: string[] = [];
    const c = defineCase({
      id: 'semantics/probe',
      category: 'semantics',
      title: 'probe',
      policy: { starlark: 'star', javascript: 'js' },
      check: async (backend, code) => {
        seen.push(`${backend.language}: ${code}`);
      },
    });
    expect(POLICY_LANGUAGES).toEqual(['javascript', 'starlark']);
    expect(c.languages).toEqual(['javascript', 'starlark']);
    expect(c.requirement).toBeUndefined();
    expect(c.applies(capabilities, 'starlark')).toBe(true);
    await c.run(refusing('starlark'));
    await c.run(refusing('javascript'));
    expect(seen).toEqual(['starlark: star', 'javascript: js']);
  });

  it('refuses a backend of a language it has no policy in, without running the check', async () => {
    let ran = false;
    const c = defineCase({
      id: 'failures/only-starlark',
      category: 'failures',
      title: 'only Starlark',
      policy: { starlark: 'star' },
      check: async () => {
        ran = true;
      },
    });
    const run = c.run(refusing('javascript'));
    await expect(run).rejects.toThrow(/failures\/only-starlark has no javascript policy/);
    await expect(run).rejects.not.toBeInstanceOf(ConformanceFailure);
    expect(ran).toBe(false);
  });

  it('checks its requirement, shared or per language (JavaScript without a language)', () => {
    const shared = defineCase({
      id: 'limits/shared',
      category: 'limits',
      title: 'shared',
      requirement: REQUIRES.hardMemory,
      policy: { javascript: 'js', starlark: 'star' },
      check: async () => {},
    });
    const soft: SandboxCapabilities = { ...capabilities, memory: 'soft' };
    expect(shared.requirement).toBe("memory: 'hard'");
    expect(shared.applies(soft, 'starlark')).toBe(false);
    expect(shared.applies({ ...soft, memory: 'hard' }, 'starlark')).toBe(true);
    const byLanguage = defineCase({
      id: 'recovery/per-language',
      category: 'recovery',
      title: 'per language',
      requirement: { byLanguage: { javascript: REQUIRES.hardMemory, starlark: undefined } },
      policy: { javascript: 'js', starlark: 'star' },
      check: async () => {},
    });
    expect(byLanguage.requirement).toBe("memory: 'hard' for javascript; nothing for starlark");
    expect(byLanguage.applies(soft, 'starlark')).toBe(true);
    expect(byLanguage.applies(soft, 'javascript')).toBe(false);
    expect(byLanguage.applies(soft)).toBe(false);
  });

  it('refuses an id outside its category', () => {
    expect(() =>
      defineCase({
        id: 'limits/misfiled',
        category: 'failures',
        title: 'misfiled',
        policy: { javascript: 'js' },
        check: async () => {},
      }),
    ).toThrow(/limits\/misfiled is not in failures\//);
  });
});

describe('kit expectations', () => {
  it('a load error with a line must name that line and a column', async () => {
    const loadFailsAt = (location?: Location) =>
      expectLoadError('what', refusing('starlark', location), 'code', 'compile_error', 2);
    await loadFailsAt({ line: 2, column: 5 });
    await expect(loadFailsAt({ line: 3, column: 5 })).rejects.toThrow(/location on line 2/);
    await expect(loadFailsAt({ line: 2 })).rejects.toThrow(/location on line 2/);
    await expect(loadFailsAt()).rejects.toThrow(/location on line 2, got undefined/);
    // Without a line, no location is needed.
    await expectLoadError('what', refusing('javascript'), 'code', 'compile_error');
  });

  it('endless recursion stops by language: a stack overflow, or Starlark refusing it', () => {
    const overflow = failure('stack_overflow', 'too deep');
    const refused = failure('runtime_error', 'function rec called recursively');
    expectEndlessRecursionStopped('javascript', 'rec', overflow);
    expect(() => expectEndlessRecursionStopped('javascript', 'rec', refused)).toThrow(
      /expected stack_overflow, got runtime_error/,
    );
    expectEndlessRecursionStopped('starlark', 'rec', overflow);
    expectEndlessRecursionStopped('starlark', 'rec', refused);
    expect(() =>
      expectEndlessRecursionStopped('starlark', 'rec', failure('runtime_error', 'boom')),
    ).toThrow(/must say recursion is refused/);
  });
});
