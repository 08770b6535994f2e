import { DEFAULT_SANDBOX_LIMITS } from '@wardwright/core';
import { describe, expect, it } from 'vitest';
import { resolveLimits, sanitizeFailureMessage } from './limits.ts';

describe('limits helpers (copies of core)', () => {
  it('layers call limits over load limits over the defaults, skipping undefined', () => {
    expect(resolveLimits()).toEqual(DEFAULT_SANDBOX_LIMITS);
    expect(
      resolveLimits(undefined, { timeout_ms: 10, max_steps: 5 }, { timeout_ms: 20 }, {
        max_steps: undefined,
      } as unknown as Partial<typeof DEFAULT_SANDBOX_LIMITS>),
    ).toEqual({ ...DEFAULT_SANDBOX_LIMITS, timeout_ms: 20, max_steps: 5 });
  });

  it('keeps messages to one clean, bounded line', () => {
    expect(sanitizeFailureMessage('first\tpart\nsecond')).toBe('first part');
    expect(sanitizeFailureMessage('')).toBe('');
    const long = sanitizeFailureMessage('x'.repeat(600));
    expect(long).toHaveLength(500);
    expect(long.endsWith('...')).toBe(true);
  });
});
