import type { PolicyLanguage } from '../sandbox/contract.ts';
import { sampleProcessTree, waitForIdleTree, watchEventLoop } from './host-monitor.ts';
import { HOSTILE_CASES, type HostileCase, hostilePolicy } from './hostile.ts';
import {
  type ConformanceCase,
  defineCase,
  expectSafeMessage,
  expectValue,
  fail,
  type PerLanguage,
  REQUIRES,
  withPolicy,
} from './kit.ts';

/**
 * The availability battery: every hostile case (hostile.ts) against a backend that claims
 * `availability` — in this execution mode, no policy can crash, hang or stall its host. Each
 * case checks, from the host, that
 * - the call is answered (any outcome: the point is that it ends, typed, with a safe message),
 *   and the policy's next call works;
 * - the host's event loop was never blocked longer than the call's limit plus 100 ms;
 * - once answered, nothing is left behind: within 15 s the process tree (this process, its
 *   threads and child processes; Linux only) is back to idle, with no more threads or processes
 *   than before the case.
 * The host surviving at all is checked by the runner still being there.
 */

const MIB = 1024 * 1024;
const TIMEOUT_MS = 500;
const MEMORY_BYTES = 32 * MIB;
/** How long past the call's limit the host's event loop may go without a turn. */
const LOOP_SLACK_MS = 100;

function perLanguage(hostile: HostileCase): PerLanguage<string> {
  const languages = (['javascript', 'starlark'] as const).filter(
    (language: PolicyLanguage) => hostile[language] !== undefined,
  );
  const policy: { javascript?: string; starlark?: string } = {};
  for (const language of languages) policy[language] = hostilePolicy(language);
  return policy as PerLanguage<string>;
}

export const availabilityCases: ConformanceCase[] = HOSTILE_CASES.map((hostile) =>
  defineCase({
    id: `availability/${hostile.name}`,
    category: 'availability',
    title: `the host stays available: ${hostile.title}`,
    requirement: REQUIRES.availability,
    policy: perLanguage(hostile),
    async check(backend, source) {
      const timeoutMs = hostile.timeout_ms ?? TIMEOUT_MS;
      const baseline = sampleProcessTree();
      await withPolicy(
        backend,
        source,
        async (policy) => {
          // The hostile call comes first: a freshly loaded policy is where a backend's state is
          // least tried (a first call that exhausted memory once left QuickJS broken for good).
          const loop = watchEventLoop();
          const result = await policy.invoke('decide', { case: hostile.name });
          const blocked = loop.stop();
          if (!result.ok) expectSafeMessage(hostile.name, result.failure.message);
          if (blocked > timeoutMs + LOOP_SLACK_MS) {
            fail(
              `${hostile.name}: the host's event loop went ${Math.round(blocked)} ms without a turn (limit ${timeoutMs} ms + ${LOOP_SLACK_MS} ms)`,
            );
          }
          expectValue('the next call', await policy.invoke('ok', 1), { ok: 1 });
        },
        { timeout_ms: timeoutMs, memory_bytes: MEMORY_BYTES },
      );
      if (baseline !== undefined) {
        const busy = await waitForIdleTree(baseline);
        if (busy !== undefined) fail(`${hostile.name}: work was left behind: ${busy}`);
      }
    },
  }),
);
