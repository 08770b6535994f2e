import { StarlarkError } from '../errors.ts';

/**
 * Per-execution state: budgets and the output sink. The interpreter is synchronous, so one
 * current thread at a time is enough; `withThread` installs one and restores the previous one
 * (a builtin never re-enters another module's execution, but tests nest runs).
 *
 * A step is: one per statement executed, one per loop iteration (for, while and each
 * comprehension `for` clause), and one per function call (Starlark or builtin). The counter
 * is a decrementing integer; the clock is read only every 1024 steps.
 */
export interface ThreadLimits {
  /** null: unlimited. */
  readonly maxSteps: number | null;
  /** Allocation budget in bytes (approximate, monotone). */
  readonly maxAllocBytes: number;
  readonly maxDepth: number;
  /** Absolute deadline in `performance.now()` milliseconds; Infinity for none. */
  readonly deadline: number;
  readonly maxOutputBytes: number;
  /** A bound on live memory, read whenever the clock is (see ExecLimits.maxLiveBytes). */
  readonly live?: { readonly maxBytes: number; readonly read: () => number };
}

export const DEFAULT_THREAD_LIMITS: ThreadLimits = {
  maxSteps: null,
  maxAllocBytes: 256 * 1024 * 1024,
  maxDepth: 200,
  deadline: Number.POSITIVE_INFINITY,
  maxOutputBytes: 16 * 1024 * 1024,
};

const CLOCK_EVERY = 1024;
/**
 * The hot counter is refilled in chunks of at most 2^29 so it stays a small integer (a V8 Smi):
 * a counter beyond 2^31 would be a heap number and every decrement would box it.
 */
const CHUNK = 2 ** 29;

export class Thread {
  steps: number;
  chk: number;
  /** The step budget (Infinity when unlimited). */
  readonly budget: number;
  /** Steps handed to the counter so far; the rest of the budget is `reserve`. */
  private granted: number;
  private reserve: number;
  alloc = 0;
  readonly allocMax: number;
  depth = 0;
  readonly maxDepth: number;
  readonly deadline: number;
  printed = 0;
  readonly maxOutput: number;
  readonly live: ThreadLimits['live'];

  constructor(
    limits: ThreadLimits,
    readonly print: (line: string) => void,
  ) {
    this.budget = limits.maxSteps ?? Number.POSITIVE_INFINITY;
    this.granted = Math.min(this.budget, CHUNK);
    this.reserve = this.budget - this.granted;
    this.steps = this.granted;
    this.chk = Math.max(this.steps - CLOCK_EVERY, 0);
    this.allocMax = limits.maxAllocBytes;
    this.maxDepth = limits.maxDepth;
    this.deadline = limits.deadline;
    this.maxOutput = limits.maxOutputBytes;
    this.live = limits.live;
  }

  get stepsUsed(): number {
    return Math.min(this.granted - this.steps, this.granted);
  }

  /** Slow path of a step: the counter ran out, or it is time to read the clock. */
  tick(): void {
    // A builtin's work can take many steps at once: refill until the counter is whole again.
    while (this.steps < 0) {
      if (this.reserve > 0) {
        const add = Math.min(this.reserve, CHUNK);
        this.reserve -= add;
        this.granted += add;
        this.steps += add;
      } else {
        this.steps = -1;
        this.chk = -1;
        throw new StarlarkError('step_limit', `step budget of ${this.budget} steps exhausted`);
      }
    }
    if (this.deadline !== Number.POSITIVE_INFINITY && performance.now() > this.deadline) {
      this.chk = this.steps + 1;
      throw new StarlarkError('timeout', 'wall-clock deadline exceeded');
    }
    this.checkLive();
    this.chk = Math.max(this.steps - CLOCK_EVERY, 0);
  }

  checkLive(): void {
    const live = this.live;
    if (live === undefined) return;
    const used = live.read();
    if (used > live.maxBytes) {
      throw new StarlarkError(
        'memory_limit',
        `live memory of ${used} bytes is over the ${live.maxBytes}-byte bound`,
      );
    }
  }

  memFail(): never {
    throw new StarlarkError('memory_limit', `allocation budget of ${this.allocMax} bytes exceeded`);
  }
}

let current: Thread = new Thread(DEFAULT_THREAD_LIMITS, () => undefined);

export function thread(): Thread {
  return current;
}

export function withThread<T>(t: Thread, f: () => T): T {
  const saved = current;
  current = t;
  try {
    return f();
  } finally {
    current = saved;
  }
}

/** Charge an allocation of `n` bytes; never refunded within an execution. */
export function charge(n: number): void {
  const t = current;
  t.alloc += n;
  if (t.alloc > t.allocMax) t.memFail();
}

let polls = 0;

/**
 * Read the clock every 4096 calls, without using steps: for host loops whose length the guest
 * controls without allocating (comparing shared or deeply nested values), so the wall-clock
 * deadline holds inside one builtin or operator too.
 */
export function poll(): void {
  if ((++polls & 4095) !== 0) return;
  const t = current;
  if (t.deadline !== Number.POSITIVE_INFINITY && performance.now() > t.deadline) {
    throw new StarlarkError('timeout', 'wall-clock deadline exceeded');
  }
}

/**
 * Fail with memory_limit if `n` more bytes would exceed the budget, without charging them: for
 * builtins that grow one result piece by piece and charge it once, at the end.
 */
export function affordable(n: number): void {
  const t = current;
  if (t.alloc + n > t.allocMax) t.memFail();
}

/** One step; used by builtins that loop over caller-controlled sizes. */
export function step(): void {
  const t = current;
  if (--t.steps < t.chk) t.tick();
}

/** Elements or bytes of host work per step (see `work`). */
export const WORK_PER_STEP = 256;

/**
 * Host work a builtin or operator is about to do on the guest's behalf — `units` elements or
 * bytes it will process or produce — charged before it is done: one step per WORK_PER_STEP
 * units (nothing below that, so small operations keep their one step), and the clock read at
 * once, so neither the step budget nor the deadline can be outrun inside one operation. A
 * function of sizes only: the same program is charged the same steps.
 */
export function work(units: number): void {
  if (!(units >= WORK_PER_STEP)) return;
  const t = current;
  t.steps -= Math.floor(units / WORK_PER_STEP);
  if (t.steps < 0) t.tick();
  else checkClock(t);
}

/** Read the clock now (no step): after a host operation whose cost was not known before it. */
export function clock(): void {
  checkClock(current);
}

function checkClock(t: Thread): void {
  if (t.deadline !== Number.POSITIVE_INFINITY && performance.now() > t.deadline) {
    t.chk = t.steps + 1;
    throw new StarlarkError('timeout', 'wall-clock deadline exceeded');
  }
  t.checkLive();
}
