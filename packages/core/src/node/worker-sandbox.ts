import { availableParallelism } from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';
import type { SandboxBackend } from '../sandbox/contract.ts';
import {
  type ExecutorExitCause,
  poolSettings,
  type SandboxPoolEvent,
  type SandboxPoolOptions,
  startSandboxPool,
} from './sandbox-pool/pool.ts';
import { workerTransport } from './sandbox-pool/transports.ts';

/**
 * The `worker` execution mode for any sandbox backend. Every backend runs a guest on the thread
 * that calls it, so a runaway policy blocks that thread until its limit stops it (and the trusted
 * backend cannot stop it at all). `workerSandbox` runs the backend in a pool of worker threads
 * instead: the host's event loop keeps answering while a policy burns its budget, and a host-side
 * watchdog terminates a worker that has not answered by `timeout_ms + graceMs`, so every backend
 * gets a hard kill. The price is a thread hop per call (measured in docs/sandboxes/choosing.md).
 *
 * A thread contains a backend whose guest runs JavaScript or WebAssembly (QuickJS, Starlark):
 * terminating the worker stops it. It does not contain a native addon that can abort the process
 * or keep running after the thread is told to stop (isolated-vm): use `processSandbox` for that.
 */

export interface WorkerSandboxOptions extends SandboxPoolOptions {
  /** Worker threads in the pool, all started up front. Default `min(4, availableParallelism())`. */
  threads?: number;
  /** Passed to `new Worker`: e.g. `maxOldGenerationSizeMb`, a hard heap cap per worker. */
  resourceLimits?: ResourceLimits;
  /**
   * Passed to `new Worker` (default: the process's own). Node refuses process-wide flags here:
   * `--no-node-snapshot`, which isolated-vm needs, goes on the `node` command line or in
   * `NODE_OPTIONS`, and the workers inherit it.
   */
  execArgv?: string[];
  /** Told when a worker starts or ends, and why: for logs and metrics. Must not throw. */
  onWorkerEvent?: (event: WorkerSandboxEvent) => void;
}

export type WorkerExitCause = ExecutorExitCause;

export type WorkerSandboxEvent =
  | { type: 'spawn'; slot: number; threadId: number }
  | { type: 'exit'; slot: number; threadId: number; cause: WorkerExitCause; exitCode: number }
  /** A policy was refused for a while after its calls kept losing their worker. */
  | { type: 'cooldown'; policy: string; losses: number; ms: number };

/**
 * Start a worker-mode backend. Resolves once every worker is up; rejects when the module cannot
 * be resolved or the backend does not start.
 */
export async function workerSandbox(options: WorkerSandboxOptions): Promise<SandboxBackend> {
  const threads = options.threads ?? Math.min(4, availableParallelism());
  const settings = poolSettings(options, threads, 'workerSandbox: threads');
  const hook = options.onWorkerEvent;
  return startSandboxPool(
    workerTransport({ resourceLimits: options.resourceLimits, execArgv: options.execArgv }),
    options,
    threads,
    settings,
    hook === undefined ? undefined : (event) => hook(asWorkerEvent(event)),
    'workerSandbox',
  );
}

function asWorkerEvent(event: SandboxPoolEvent): WorkerSandboxEvent {
  switch (event.type) {
    case 'spawn':
      return { type: 'spawn', slot: event.slot, threadId: event.id };
    case 'exit':
      return {
        type: 'exit',
        slot: event.slot,
        threadId: event.id,
        cause: event.cause,
        exitCode: event.exitCode ?? 1,
      };
    case 'cooldown':
      return event;
  }
}
