import { DEFAULT_SANDBOX_LIMITS, type SandboxLimits } from '@wardwright/core';
import { describe, expect, it } from 'vitest';
import { classifyException, type GuestException, locate } from './classify.ts';
import {
  MAX_WASM_PAGES,
  MIN_WASM_PAGES,
  resolveLimits,
  sanitizeFailureMessage,
  wasmPagesFor,
} from './limits.ts';

const base = {
  interrupted: null,
  limits: DEFAULT_SANDBOX_LIMITS,
  elapsedMs: 12.4,
  filename: 'p.js',
  loading: false,
  memoryExhausted: false,
} as const;

const error = (
  name: string,
  message: string,
  extra: Record<string, unknown> = {},
): GuestException => ({
  type: 'object',
  dumped: { name, message, stack: '    at decide (p.js:3:7)\n', ...extra },
});

describe('classifyException', () => {
  it('the interrupt reason wins over what the guest saw', () => {
    const interrupted = error('InternalError', 'interrupted');
    expect(classifyException(interrupted, { ...base, interrupted: 'timeout' })).toEqual({
      kind: 'timeout',
      message: 'ran 12 ms, over the 50 ms limit',
    });
    expect(
      classifyException(interrupted, {
        ...base,
        interrupted: 'step_limit',
        limits: { ...DEFAULT_SANDBOX_LIMITS, max_steps: 3 },
      }).kind,
    ).toBe('step_limit');
  });

  it('maps resource errors to limit kinds', () => {
    for (const message of ['out of memory', 'string too long']) {
      expect(classifyException(error('InternalError', message), base).kind).toBe('memory_limit');
    }
    expect(classifyException(error('InternalError', 'stack overflow'), base).kind).toBe(
      'stack_overflow',
    );
    expect(
      classifyException(error('RangeError', 'Maximum call stack size exceeded'), base).kind,
    ).toBe('stack_overflow');
    // QuickJS's parsers say so as a SyntaxError; a syntax error that merely mentions it does not.
    expect(classifyException(error('SyntaxError', 'stack overflow'), base).kind).toBe(
      'stack_overflow',
    );
    expect(
      classifyException(error('SyntaxError', 'unexpected token near stack overflow'), base).kind,
    ).toBe('runtime_error');
    // Same words from a user error class are an ordinary runtime error.
    expect(classifyException(error('Error', 'out of memory'), base).kind).toBe('runtime_error');
    expect(classifyException(error('RangeError', 'invalid array length'), base).kind).toBe(
      'runtime_error',
    );
  });

  it('an exception that cannot be read as an Error is memory_limit when the memory is exhausted', () => {
    const unreadable = { type: 'object', dumped: {} };
    expect(classifyException(unreadable, { ...base, memoryExhausted: true }).kind).toBe(
      'memory_limit',
    );
    expect(classifyException(unreadable, base)).toEqual({
      kind: 'runtime_error',
      message: 'threw [object Object]',
    });
  });

  it('a thrown null is memory_limit only when the WASM memory is exhausted', () => {
    const thrownNull: GuestException = { type: 'object', dumped: null };
    expect(classifyException(thrownNull, { ...base, memoryExhausted: true }).kind).toBe(
      'memory_limit',
    );
    expect(classifyException(thrownNull, base)).toEqual({
      kind: 'runtime_error',
      message: 'threw null',
    });
  });

  it('a SyntaxError is a compile error only at load', () => {
    const syntax = error('SyntaxError', 'unexpected token');
    expect(classifyException(syntax, { ...base, loading: true }).kind).toBe('compile_error');
    expect(classifyException(syntax, base).kind).toBe('runtime_error');
  });

  it('objects without a stack are reported as non-Error throws', () => {
    expect(
      classifyException({ type: 'object', dumped: { name: 'X', message: 'y' } }, base).message,
    ).toBe('threw [object Object]');
    expect(classifyException({ type: 'object', dumped: { name: 1 } }, base).message).toBe(
      'threw [object Object]',
    );
    expect(classifyException({ type: 'boolean', dumped: true }, base).message).toBe('threw true');
  });
});

describe('locate', () => {
  const err = (stack: string | undefined, lineNumber?: number) => ({
    name: 'E',
    message: 'm',
    stack,
    lineNumber,
  });
  it('takes the first frame in the policy file', () => {
    expect(locate(err('    at f (<wardwright>:1:2)\n    at decide (p.js:4:9)\n'), 'p.js')).toEqual({
      filename: 'p.js',
      line: 4,
      column: 9,
    });
  });
  it('falls back to lineNumber, else nothing', () => {
    expect(locate(err('', 7), 'p.js')).toEqual({ filename: 'p.js', line: 7 });
    expect(locate(err(undefined), 'p.js')).toBeUndefined();
    expect(locate(err('    at other.js:1:1', 0), 'p.js')).toBeUndefined();
    expect(locate(err('    at /elsewhere/p.js:1:1\n    at p.js:2:3'), 'p.js')).toEqual({
      filename: 'p.js',
      line: 2,
      column: 3,
    });
  });
  it('scans a stack the guest made up in linear time', () => {
    // A backtracking pattern took seconds on 1e5 characters and would not finish on these.
    for (const stack of ['a'.repeat(2e6), 'p.js:'.repeat(4e5), `(p.js:${'1'.repeat(2e6)}`]) {
      expect(locate(err(stack), 'p.js')).toBeUndefined();
    }
  });
});

describe('limits helpers', () => {
  it('wasmPagesFor rounds up to pages within the module bounds', () => {
    expect(wasmPagesFor(1)).toBe(MIN_WASM_PAGES);
    expect(wasmPagesFor(32 * 1024 * 1024)).toBe(512);
    expect(wasmPagesFor(32 * 1024 * 1024 + 1)).toBe(513);
    expect(wasmPagesFor(2 ** 40)).toBe(MAX_WASM_PAGES);
  });

  it('resolveLimits layers overrides; sanitize keeps one bounded line', () => {
    expect(
      resolveLimits(undefined, { timeout_ms: 5 }, {
        memory_bytes: 7,
        timeout_ms: undefined,
      } as unknown as Partial<SandboxLimits>),
    ).toMatchObject({
      timeout_ms: 5,
      memory_bytes: 7,
      max_output_bytes: DEFAULT_SANDBOX_LIMITS.max_output_bytes,
    });
    expect(sanitizeFailureMessage('a\tb\nc')).toBe('a b');
    expect(sanitizeFailureMessage('x'.repeat(600))).toHaveLength(500);
  });
});
