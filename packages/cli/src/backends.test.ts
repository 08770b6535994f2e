import { describe, expect, it } from 'vitest';
import { optional } from './backends.ts';
import { SetupError } from './errors.ts';

function moduleError(message: string): Error {
  return Object.assign(new Error(message), { code: 'ERR_MODULE_NOT_FOUND' });
}

describe('optional sandbox packages', () => {
  it('treats a package that is not installed as absent', async () => {
    const load = () => Promise.reject(moduleError("Cannot find package '@wardwright/starlark'"));
    expect(await optional(load, '@wardwright/starlark', 'starlarkSandbox')).toBeUndefined();
  });

  it('says so when an installed package does not load (a checkout never built)', async () => {
    const load = () =>
      Promise.reject(
        moduleError(
          "Cannot find module '/repo/node_modules/@wardwright/starlark/dist/index.js' imported from /repo/packages/cli/dist/cli.js",
        ),
      );
    const error = await optional(load, '@wardwright/starlark', 'starlarkSandbox').catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SetupError);
    expect((error as Error).message).toMatch(
      /^@wardwright\/starlark is installed but does not load \(Cannot find module .*dist\/index\.js.*\); in a checkout of the repository run `npm run build`/,
    );
  });

  it('returns the named factory of a package that loads', async () => {
    const factory = () => ({});
    expect(await optional(async () => ({ starlarkSandbox: factory }), 'x', 'starlarkSandbox')).toBe(
      factory,
    );
  });
});
