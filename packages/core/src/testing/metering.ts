import { resourceUsage } from 'node:process';
import type { JsonValue, SandboxFailureKind } from '../sandbox/contract.ts';
import {
  type ConformanceCase,
  defineCase,
  elapsedSince,
  expectFailure,
  expectValue,
  fail,
  REQUIRES,
  withPolicy,
} from './kit.ts';

/**
 * The metering battery: work a builtin or operator does in the host on the guest's behalf must be
 * charged before it is done, and must stop at the deadline, whatever one call asks for. Each case
 * is a Starlark policy doing one such thing far past its limits, and must end
 * - in the typed limit failure it names,
 * - within max(2 × its time limit, its time limit + 100 ms) of wall time (500 ms for a case that
 *   expects a timeout; 10 s for the others, a deadline a busy machine cannot race and that a
 *   copy which was not refused would still run past),
 * - with the process's peak resident memory grown by at most 2 × its allocation budget (measured
 *   for inline and worker mode; a child process's memory is not this process's),
 * and the policy's next call must work. Starlark is the backend for the least trusted authors,
 * and its limits are exact on paper: these are the classes an outside battery found escaping them.
 */

const MIB = 1024 * 1024;
/** The deadline of a case that expects `timeout`. */
const TIMEOUT_MS = 500;
/**
 * The deadline of a case that expects another limit: one it cannot race on a busy machine,
 * since a copy that was not refused would take far longer than this.
 */
const GENEROUS_MS = 10_000;
const BUDGET = 32 * MIB;
const boundMs = (limit: number) => Math.max(2 * limit, limit + 100);

interface MeteringCase {
  name: string;
  title: string;
  /** The body of `decide(input)`. */
  body: string;
  kinds: SandboxFailureKind[];
  input?: JsonValue;
  /** Limits other than the battery's 32 MiB. */
  limits?: { memory_bytes?: number; max_input_bytes?: number };
  /**
   * False when the process's memory says nothing of the guest: the host allocated the input
   * itself, and copies it on its way to a worker.
   */
  measureMemory?: boolean;
}

// A tuple that contains itself twice, 30 levels deep: 2^30 leaves reached through 30 objects.
const SHARED_TUPLE = 't = (1,)\nfor i in range(30):\n    t = (t, t)';
const SHARED_LIST = 'l = [1]\nfor i in range(30):\n    l = [l, l]';
// The largest power of two within the int bound (2^262143), built by shifts.
const NEAR_BOUND_INT = 'x = 1\nfor i in range(513):\n    x = x << 511';

const CASES: MeteringCase[] = [
  {
    name: 'int-parse',
    title: 'int() of a 300 000-digit string',
    body: 'return int("9" * 300000)',
    kinds: ['memory_limit'],
  },
  {
    name: 'int-parse-million',
    title: 'int() of a 1 000 000-digit string',
    body: 'return int("9" * 1000000)',
    kinds: ['memory_limit'],
  },
  {
    name: 'int-squaring',
    title: 'an int squared until it has millions of digits',
    body: 'x = 3\nfor i in range(40):\n    x = x * x\nreturn 1',
    kinds: ['memory_limit'],
  },
  {
    name: 'int-to-text',
    title: 'str() of an int at the bound, again and again',
    body: `${NEAR_BOUND_INT}\nn = 0\nfor i in range(100000):\n    n += len(str(x))\nreturn n`,
    kinds: ['timeout', 'memory_limit'],
  },
  {
    name: 'int-percent-d',
    title: '"%d" of an int at the bound, again and again',
    body: `${NEAR_BOUND_INT}\nn = 0\nfor i in range(100000):\n    n += len("%d" % x)\nreturn n`,
    kinds: ['timeout', 'memory_limit'],
  },
  {
    name: 'replace-empty',
    title: 'replace("", …) on a 4 million-character string (the result is four times larger)',
    body: 'return len(("ab" * 2000000).replace("", "xyz"))',
    kinds: ['memory_limit'],
  },
  {
    name: 'join-amplified',
    title: 'join of one 1 000-character string repeated 100 000 times',
    body: 'return len(",".join(["x" * 1000] * 100000))',
    kinds: ['memory_limit'],
  },
  {
    name: 'percent-amplified',
    title: '"%s" formatting of 100 000 copies of a 1 000-character string',
    body: 'return len(("%s" * 100000) % tuple(["x" * 1000] * 100000))',
    kinds: ['memory_limit'],
  },
  {
    name: 'shared-tuple-key',
    title: 'a self-sharing tuple, 2^30 leaves, used as a dict key',
    body: `${SHARED_TUPLE}\nreturn len({t: 1})`,
    kinds: ['memory_limit', 'timeout'],
  },
  {
    name: 'shared-tuple-lookup',
    title: 'a self-sharing tuple with 2^30 leaves looked up in a dict (hashed to find its key)',
    body: `${SHARED_TUPLE}\nreturn t in {"a": 1}`,
    kinds: ['memory_limit', 'timeout'],
  },
  {
    name: 'shared-repr',
    title: 'str() of a self-sharing list with 2^30 leaves',
    body: `${SHARED_LIST}\nreturn len(str(l))`,
    kinds: ['memory_limit', 'timeout'],
  },
  {
    name: 'shared-json',
    title: 'json.encode of a self-sharing list with 2^30 leaves',
    body: `${SHARED_LIST}\nreturn len(json.encode(l))`,
    kinds: ['memory_limit', 'timeout'],
  },
  {
    name: 'input-charged',
    title: 'the host input counts against the budget: 600 kB of input under a 1 MiB budget',
    body: 'return len(input["text"])',
    input: { text: 'x'.repeat(600_000) },
    kinds: ['memory_limit'],
    limits: { memory_bytes: MIB },
    measureMemory: false,
  },
];

function peakRssBytes(): number {
  return resourceUsage().maxRSS * 1024;
}

export const meteringCases: ConformanceCase[] = CASES.map((c) =>
  defineCase({
    id: `metering/${c.name}`,
    category: 'metering',
    title: `host work is charged before it is done: ${c.title}`,
    requirement: REQUIRES.wallClock,
    policy: {
      starlark: `def decide(input):\n${indent(c.body)}\n\ndef ok(input):\n    return {"ok": input}\n`,
    },
    async check(backend, source) {
      const budget = c.limits?.memory_bytes ?? BUDGET;
      const timeoutMs = c.kinds.includes('timeout') ? TIMEOUT_MS : GENEROUS_MS;
      const measureMemory =
        c.measureMemory !== false && backend.capabilities.execution !== 'process';
      await withPolicy(
        backend,
        source,
        async (policy) => {
          const peakBefore = peakRssBytes();
          const start = performance.now();
          const result = await policy.invoke('decide', c.input ?? null);
          const elapsed = elapsedSince(start);
          const grown = peakRssBytes() - peakBefore;
          expectFailure(c.name, result, ...c.kinds);
          if (elapsed > boundMs(timeoutMs)) {
            fail(`${c.name}: took ${Math.round(elapsed)} ms (bound ${boundMs(timeoutMs)} ms)`);
          }
          if (measureMemory && grown > 2 * budget) {
            fail(
              `${c.name}: the process's peak memory grew by ${Math.round(grown / MIB)} MiB (bound ${(2 * budget) / MIB} MiB)`,
            );
          }
          expectValue('the next call', await policy.invoke('ok', 1), { ok: 1 });
        },
        {
          timeout_ms: timeoutMs,
          memory_bytes: budget,
          ...(c.limits?.max_input_bytes === undefined
            ? {}
            : { max_input_bytes: c.limits.max_input_bytes }),
        },
      );
    },
  }),
);

function indent(body: string): string {
  return body
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}
