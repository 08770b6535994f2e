import { describe, expect, it } from 'vitest';
import { ConfigError } from './config-error.ts';
import { WardwrightError } from './wardwright-error.ts';

describe('error classes', () => {
  it('recognises errors by marker, not by prototype, so duplicate installs still match', () => {
    const error = new ConfigError('x', [{ path: '$.a', message: 'is required' }]);
    expect(WardwrightError.isInstance(error)).toBe(true);
    expect(ConfigError.isInstance(error)).toBe(true);

    // A structurally identical object from another copy of the package carries the same
    // registry symbols; a lookalike without them is not recognised.
    const foreign = Object.assign(new Error('other copy'), {
      [Symbol.for('wardwright.error')]: true,
      [Symbol.for('wardwright.error.config_invalid')]: true,
    });
    expect(ConfigError.isInstance(foreign)).toBe(true);
    expect(ConfigError.isInstance(new Error('plain'))).toBe(false);
    expect(WardwrightError.isInstance({ code: 'config_invalid' })).toBe(false);
    expect(
      ConfigError.isInstance(new WardwrightError({ code: 'invalid_argument', message: 'm' })),
    ).toBe(false);
  });

  it('keeps the cause', () => {
    const cause = new Error('root');
    const error = new WardwrightError({ code: 'invalid_argument', message: 'wrapped', cause });
    expect(error.cause).toBe(cause);
    expect(error.name).toBe('WardwrightError');
  });
});
