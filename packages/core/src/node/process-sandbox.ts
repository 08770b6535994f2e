import { availableParallelism } from 'node:os';
import type { SandboxBackend } from '../sandbox/contract.ts';
import {
  poolSettings,
  type SandboxPoolEvent,
  type SandboxPoolOptions,
  startSandboxPool,
} from './sandbox-pool/pool.ts';
import { processTransport } from './sandbox-pool/transports.ts';

/**
 * The `process` execution mode for any sandbox backend: a pool of child processes, each running
 * the backend. A thread cannot contain a native addon that aborts the whole process (V8 aborts on
 * some out-of-memory paths in isolated-vm) or keeps running after it is told to stop; a process
 * can be killed whatever it is doing. The watchdog SIGKILLs an executor that has not answered by
 * `timeout_ms + graceMs` and starts another; a crash (a signal or an exit) fails that call with
 * `backend_failure` naming the signal, and the next call runs on a fresh process. Messages travel
 * over a socket pair with compact framing (the input and the result cross as raw JSON text).
 *
 * Costs: a process per executor (Node's own ~40 MB resident, plus the backend), tens of
 * milliseconds to start one, and a hop per call (measured by `npm run bench:sandbox`).
 */

export interface ProcessSandboxOptions extends SandboxPoolOptions {
  /** Processes in the pool, all started up front. Default `min(4, availableParallelism())`. */
  processes?: number;
  /**
   * Node flags for each process, e.g. `['--max-old-space-size=256']` for a heap cap. Default:
   * `--no-node-snapshot` when this process runs with it (isolated-vm asks for it); `NODE_OPTIONS`
   * reaches the processes through the environment either way.
   */
  execArgv?: string[];
  /** The processes' environment. Default: this process's. */
  env?: NodeJS.ProcessEnv;
  /** Told when a process starts or ends, and why: for logs and metrics. Must not throw. */
  onProcessEvent?: (event: ProcessSandboxEvent) => void;
}

export type ProcessSandboxEvent = SandboxPoolEvent;

/**
 * Start a process-mode backend. Resolves once every process is up; rejects when the module
 * cannot be resolved or the backend does not start.
 */
export async function processSandbox(options: ProcessSandboxOptions): Promise<SandboxBackend> {
  const processes = options.processes ?? Math.min(4, availableParallelism());
  const settings = poolSettings(options, processes, 'processSandbox: processes');
  const execArgv =
    options.execArgv ??
    (process.execArgv.includes('--no-node-snapshot') ? ['--no-node-snapshot'] : []);
  return startSandboxPool(
    processTransport({ execArgv, env: options.env }),
    options,
    processes,
    settings,
    options.onProcessEvent,
    'processSandbox',
  );
}
