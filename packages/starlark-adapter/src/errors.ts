/**
 * Every failure of the interpreter is a StarlarkError: a kind (which maps onto the sandbox
 * failure kinds), a message, the innermost position and the Starlark call stack. Host
 * exceptions never escape the public API; they are converted at the boundary.
 */

export type StarlarkErrorKind =
  | 'syntax'
  | 'resolve'
  | 'runtime'
  | 'step_limit'
  | 'memory_limit'
  | 'stack_overflow'
  | 'timeout';

export interface Position {
  readonly filename: string;
  readonly line: number;
  readonly col: number;
}

export interface StackFrame {
  /** Function name, or `<toplevel>` for module initialisation. */
  readonly name: string;
  readonly position: Position | null;
}

const marker = Symbol.for('wardwright.starlark.error');

export class StarlarkError extends Error {
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: read via the registry symbol in isInstance
  private readonly [marker] = true;
  readonly kind: StarlarkErrorKind;
  position: Position | null;
  /** Innermost frame first. */
  readonly frames: StackFrame[] = [];
  /** The position of the statement or call being unwound, not yet given to a frame. */
  pending: Position | null = null;
  /** Steps and allocation used up to the failure, when it happened during execution. */
  stats: { steps: number; allocBytes: number } | null = null;

  constructor(kind: StarlarkErrorKind, message: string, position: Position | null = null) {
    super(message);
    this.name = 'StarlarkError';
    this.kind = kind;
    this.position = position;
    this.pending = position;
  }

  static isInstance(error: unknown): error is StarlarkError {
    return (
      typeof error === 'object' &&
      error !== null &&
      (error as Record<symbol, unknown>)[marker] === true
    );
  }

  /** `file:line:col: message` plus a traceback, most recent call last. */
  format(): string {
    const where = this.position ? `${formatPosition(this.position)}: ` : '';
    const head = `${where}${this.kind === 'runtime' ? 'Error' : kindLabel(this.kind)}: ${this.message}`;
    if (this.frames.length === 0) return head;
    const lines = ['Traceback (most recent call last):'];
    for (let i = this.frames.length - 1; i >= 0; i--) {
      const f = this.frames[i]!;
      lines.push(`  ${f.position ? formatPosition(f.position) : '?'}: in ${f.name}`);
    }
    lines.push(head);
    return lines.join('\n');
  }
}

function kindLabel(kind: StarlarkErrorKind): string {
  switch (kind) {
    case 'syntax':
      return 'syntax error';
    case 'resolve':
      return 'resolve error';
    case 'runtime':
      return 'Error';
    case 'step_limit':
      return 'step limit';
    case 'memory_limit':
      return 'memory limit';
    case 'stack_overflow':
      return 'stack overflow';
    case 'timeout':
      return 'timeout';
  }
}

export function formatPosition(p: Position): string {
  return `${p.filename}:${p.line}:${p.col}`;
}

/** A runtime error without a position yet: the evaluator adds the statement's position. */
export function runtimeError(message: string): StarlarkError {
  return new StarlarkError('runtime', message);
}
