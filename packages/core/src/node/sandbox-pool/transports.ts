import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { type ResourceLimits, Worker } from 'node:worker_threads';
import type { JsonValue } from '../../sandbox/contract.ts';
import { PROCESS_EXECUTOR_SOURCE, WORKER_EXECUTOR_SOURCE } from './executor-source.ts';
import { encodeFrame, type FramedMessage, FrameReader } from './frames.ts';

/**
 * How a sandbox pool starts and talks to its executors: worker threads or child processes. The
 * pool (queue, watchdog, replacement, back-off) is the same for both; a transport only starts an
 * executor, carries messages, and reports how the executor ended.
 */

/** What an executor needs to start its backend (see executor-source.ts). */
export interface ExecutorInit {
  module: string;
  export: string;
  options: JsonValue | undefined;
}

export interface ExecutorExit {
  /** The exit code, when it exited on its own terms. */
  code: number | null;
  /** The signal that ended a process (SIGKILL from the watchdog, SIGABRT from V8…). */
  signal: NodeJS.Signals | null;
  /** A worker ran out of its `resourceLimits` heap. */
  outOfMemory: boolean;
  /** What the executor threw (a worker), or why a process could not be started. */
  error: unknown;
}

export interface Executor {
  /** The thread id or process id, for events. */
  readonly id: number;
  /** Throws when the message cannot be sent (structured clone refuses a function…). */
  send(message: FramedMessage): void;
  /** End it now (`terminate()` or SIGKILL); `exit` is reported when it is gone. */
  kill(): void;
  /** While busy an executor keeps the host alive; an idle one never does. */
  ref(): void;
  unref(): void;
}

export interface ExecutorHandlers {
  message(message: FramedMessage): void;
  /** Called once, when the executor is gone. */
  exit(exit: ExecutorExit): void;
}

export interface Transport {
  readonly mode: 'worker' | 'process';
  start(init: ExecutorInit, handlers: ExecutorHandlers): Executor;
}

export function workerTransport(options: {
  resourceLimits?: ResourceLimits | undefined;
  execArgv?: string[] | undefined;
}): Transport {
  return {
    mode: 'worker',
    start(init, handlers) {
      const worker = new Worker(WORKER_EXECUTOR_SOURCE, {
        eval: true,
        workerData: init,
        ...(options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits }),
        ...(options.execArgv === undefined ? {} : { execArgv: options.execArgv }),
      });
      let lastError: unknown;
      worker.on('message', (message: FramedMessage) => handlers.message(message));
      // Without a listener, an error in the worker would be thrown in the host.
      worker.on('error', (error) => {
        lastError = error;
      });
      worker.on('exit', (code) => {
        handlers.exit({
          code,
          signal: null,
          outOfMemory: (lastError as { code?: unknown })?.code === 'ERR_WORKER_OUT_OF_MEMORY',
          error: lastError,
        });
      });
      return {
        id: worker.threadId,
        send: (message) => worker.postMessage(message),
        kill: () => void worker.terminate(),
        ref: () => worker.ref(),
        unref: () => worker.unref(),
      };
    },
  };
}

export function processTransport(options: {
  execArgv: string[];
  env?: NodeJS.ProcessEnv | undefined;
}): Transport {
  return {
    mode: 'process',
    start(init, handlers) {
      const child = spawn(process.execPath, [...options.execArgv, '-e', PROCESS_EXECUTOR_SOURCE], {
        // fd 3 is the message channel; the executor never writes to stdout, V8 and Node report
        // fatal errors on stderr, which the host's own stderr shows.
        stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
        env: options.env ?? process.env,
        windowsHide: true,
      });
      const channel = child.stdio[3] as Socket;
      const reader = new FrameReader();
      let exited = false;
      let lastError: unknown;
      const exit = (code: number | null, signal: NodeJS.Signals | null) => {
        if (exited) return;
        exited = true;
        handlers.exit({ code, signal, outOfMemory: false, error: lastError });
      };
      channel.on('data', (chunk: Buffer) => {
        let messages: FramedMessage[];
        try {
          messages = reader.push(chunk);
        } catch (error) {
          // A frame that does not parse: the channel can no longer be trusted.
          lastError = error;
          child.kill('SIGKILL');
          return;
        }
        for (const message of messages) handlers.message(message);
      });
      // A channel error follows the process going away; the exit says why.
      channel.on('error', () => undefined);
      child.on('error', (error) => {
        lastError = error;
        // A process that never started reports no exit of its own.
        if (child.pid === undefined) exit(null, null);
      });
      child.on('exit', (code, signal) => exit(code, signal));
      channel.write(encodeFrame({ t: 'init', ...init }));
      return {
        id: child.pid ?? -1,
        send: (message) => {
          if (exited) throw new Error('the process has exited');
          channel.write(encodeFrame(message));
        },
        kill: () => {
          if (!exited) child.kill('SIGKILL');
        },
        ref: () => {
          child.ref();
          channel.ref();
        },
        unref: () => {
          child.unref();
          channel.unref();
        },
      };
    },
  };
}
