import { readdirSync, readFileSync } from 'node:fs';

/**
 * What a hostile policy can do to its host without escaping: block the event loop, leave a
 * thread or a process spinning after its call was answered. These probes measure both from the
 * host, for the conformance kit's availability cases and for end-to-end tests of a server.
 * Thread, process and CPU counts come from Linux's /proc: elsewhere `sampleProcessTree` returns
 * undefined and the callers check the event loop only.
 */

/** Resolves to the longest gap between event-loop turns while it ran (in ms). */
export function watchEventLoop(intervalMs = 5): { stop(): number } {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last - intervalMs);
    last = now;
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      // The last turn may not have come yet: the time since it counts as a gap too.
      return Math.max(longest, performance.now() - last - intervalMs);
    },
  };
}

export interface ProcessTreeSample {
  /** CPU time used so far by the process and its live child processes, in ms. */
  cpuMs: number;
  /** Threads of the process itself. */
  threads: number;
  /** Its live child processes. */
  children: number[];
  at: number;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

function statOf(pid: number | 'self'): { cpuMs: number; threads: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return;
  }
  // The command name is in parentheses and may hold spaces: fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 (utime, stime) and 20 (num_threads) of proc(5), counted from `state` (3).
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { cpuMs: ticks * TICK_MS, threads: Number(fields[17]) };
}

/** The process at `pid` (default: this one) and its children, or undefined off Linux. */
export function sampleProcessTree(pid: number | 'self' = 'self'): ProcessTreeSample | undefined {
  const own = statOf(pid);
  if (own === undefined) return;
  const children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const list = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (list !== '') children.push(...list.split(' ').map(Number));
    }
  } catch {
    // A thread that ended while listing: its children are reparented, not ours to count.
  }
  let cpuMs = own.cpuMs;
  for (const child of children) cpuMs += statOf(child)?.cpuMs ?? 0;
  return { cpuMs, threads: own.threads, children, at: performance.now() };
}

/**
 * Wait until the process tree is idle again: over one `windowMs` window it used less than
 * `maxShare` of one core, and it has no more threads and child processes than `baseline`.
 * Returns undefined when it got there within `deadlineMs`, or what was still busy. Respawned
 * workers and processes take a moment to start; a thread spinning in native code never settles.
 */
export async function waitForIdleTree(
  baseline: ProcessTreeSample,
  options: {
    pid?: number | 'self';
    windowMs?: number;
    maxShare?: number;
    deadlineMs?: number;
  } = {},
): Promise<string | undefined> {
  const windowMs = options.windowMs ?? 500;
  const maxShare = options.maxShare ?? 0.3;
  const deadline = performance.now() + (options.deadlineMs ?? 15_000);
  let last = 'no sample';
  for (;;) {
    const before = sampleProcessTree(options.pid);
    if (before === undefined) return;
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const after = sampleProcessTree(options.pid);
    if (after === undefined) return;
    const share = (after.cpuMs - before.cpuMs) / (after.at - before.at);
    const moreThreads = after.threads > baseline.threads;
    const moreChildren = after.children.length > baseline.children.length;
    last = `${Math.round(share * 100)}% of a core over ${Math.round(after.at - before.at)} ms, ${after.threads} threads (baseline ${baseline.threads}), ${after.children.length} child processes (baseline ${baseline.children.length})`;
    if (share < maxShare && !moreThreads && !moreChildren) return;
    if (performance.now() > deadline) return last;
  }
}
