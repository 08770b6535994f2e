import type { SandboxFailure, SandboxLimits } from '@wardwright/core';
import { sanitizeFailureMessage } from './limits.ts';

/** What the host's interrupt handler decided, if it stopped the guest. */
export type InterruptReason = 'timeout' | 'step_limit';

/** A guest exception as the host sees it: `ctx.typeof` of the value and `ctx.dump` of it. */
export interface GuestException {
  type: string;
  dumped: unknown;
}

type Location = NonNullable<SandboxFailure['location']>;

interface ErrorLike {
  name: string;
  message: string;
  stack: string | undefined;
  lineNumber: number | undefined;
}

/**
 * QuickJS dumps an Error as `{name, message, stack}` (plus `fileName`/`lineNumber` for syntax
 * errors). A thrown plain object has no `stack`, and is reported like the trusted backend
 * reports non-Error throws.
 */
function asError(exception: GuestException): ErrorLike | undefined {
  const { dumped } = exception;
  if (exception.type !== 'object' || dumped === null || typeof dumped !== 'object') return;
  const record = dumped as Record<string, unknown>;
  if (typeof record.name !== 'string' || typeof record.message !== 'string') return;
  if (typeof record.stack !== 'string') return;
  return {
    name: record.name,
    message: record.message,
    stack: record.stack,
    lineNumber: typeof record.lineNumber === 'number' ? record.lineNumber : undefined,
  };
}

function describeThrown(exception: GuestException): string {
  const { type, dumped } = exception;
  if (type === 'string' && typeof dumped === 'string') {
    return `threw ${JSON.stringify(dumped.slice(0, 100))}`;
  }
  if (type === 'symbol') return 'threw a symbol';
  if (type === 'object' && dumped !== null) {
    return `threw ${Array.isArray(dumped) ? '[object Array]' : '[object Object]'}`;
  }
  return `threw ${String(dumped)}`;
}

/**
 * The first `file:line:col` of a QuickJS stack naming the policy file. The stack is the guest's
 * own text (a thrown object can carry any `stack` it likes), so it is scanned in linear time: a
 * backtracking regex here once let `{ stack: 'a'.repeat(1e5) }` hold the host for 12 seconds.
 */
export function locate(error: ErrorLike, filename: string): Location | undefined {
  const stack = error.stack ?? '';
  const needle = `${filename}:`;
  for (let at = stack.indexOf(needle); at >= 0; at = stack.indexOf(needle, at + 1)) {
    const before = at === 0 ? ' ' : stack[at - 1]!;
    if (before !== ' ' && before !== '(' && before !== '\t' && before !== '\n') continue;
    const line = digitsAt(stack, at + needle.length);
    if (line === undefined || stack[line.end] !== ':') continue;
    const column = digitsAt(stack, line.end + 1);
    if (column === undefined) continue;
    return { filename, line: line.value, column: column.value };
  }
  if (error.lineNumber !== undefined && error.lineNumber >= 1) {
    return { filename, line: error.lineNumber };
  }
  return;
}

/** The decimal number starting at `from` (1 to 9 digits), and where it ends. */
function digitsAt(text: string, from: number): { value: number; end: number } | undefined {
  let end = from;
  while (end < text.length && end - from < 9) {
    const code = text.charCodeAt(end);
    if (code < 0x30 || code > 0x39) break;
    end++;
  }
  return end === from ? undefined : { value: Number(text.slice(from, end)), end };
}

const MEMORY = /out of memory|string too long/i;
const STACK = /stack overflow|call stack/i;

/** Map a guest exception to the failure taxonomy shared by every backend. */
export function classifyException(
  exception: GuestException,
  context: {
    interrupted: InterruptReason | null;
    limits: Readonly<SandboxLimits>;
    elapsedMs: number;
    filename: string;
    /** At load, a SyntaxError is a compile error; during a call it is a runtime error. */
    loading: boolean;
    /** The WASM memory is at its cap. */
    memoryExhausted: boolean;
  },
): SandboxFailure {
  const { limits } = context;
  // The host knows why it interrupted; the guest only sees "InternalError: interrupted".
  if (context.interrupted === 'step_limit') {
    return {
      kind: 'step_limit',
      message: `used more than ${limits.max_steps} steps (1 step is one interrupt poll, about 5k operations)`,
    };
  }
  if (context.interrupted === 'timeout') {
    return {
      kind: 'timeout',
      message: `ran ${Math.round(context.elapsedMs)} ms, over the ${limits.timeout_ms} ms limit`,
    };
  }
  const error = asError(exception);
  // When even the InternalError cannot be allocated, QuickJS throws `null` instead; when the error
  // exists but reading it (`dump`) cannot allocate, the host sees an object without a stack.
  if (exception.type === 'object' && error === undefined && context.memoryExhausted) {
    return {
      kind: 'memory_limit',
      message: `out of memory: over the ${limits.memory_bytes}-byte memory limit`,
    };
  }
  if (error === undefined) {
    return { kind: 'runtime_error', message: sanitizeFailureMessage(describeThrown(exception)) };
  }
  if (error.name === 'InternalError' && MEMORY.test(error.message)) {
    return {
      kind: 'memory_limit',
      message: sanitizeFailureMessage(
        `${error.message}: over the ${limits.memory_bytes}-byte memory limit`,
      ),
    };
  }
  if (
    // QuickJS's own parsers (JSON, regex, source) say `SyntaxError: stack overflow` when nested
    // too deep for their recursion.
    (error.name === 'InternalError' ||
      error.name === 'RangeError' ||
      (error.name === 'SyntaxError' && error.message === 'stack overflow')) &&
    STACK.test(error.message)
  ) {
    return { kind: 'stack_overflow', message: 'maximum call stack size exceeded' };
  }
  const failure: SandboxFailure = {
    kind: context.loading && error.name === 'SyntaxError' ? 'compile_error' : 'runtime_error',
    message: sanitizeFailureMessage(`${error.name}: ${error.message}`),
  };
  const location = locate(error, context.filename);
  if (location !== undefined) failure.location = location;
  return failure;
}
