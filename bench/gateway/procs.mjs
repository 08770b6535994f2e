// Starting and stopping the benchmark's target processes: each target (the scripted upstream,
// every Wardwright configuration, the Portkey gateway) runs in a process of its own on
// 127.0.0.1, and every process started here is stopped by `stopAll` (also on error or Ctrl-C).
import { fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const here = (/** @type {string} */ file) => fileURLToPath(new URL(file, import.meta.url));
const require = createRequire(import.meta.url);

/** @typedef {{ name: string, url: string, child: import('node:child_process').ChildProcess, log: () => string, stop: () => Promise<void> }} Proc */

/** @type {Set<Proc>} */
const running = new Set();

/** @param {import('node:child_process').ChildProcess} child */
function capture(child) {
  let tail = '';
  const keep = (/** @type {Buffer} */ data) => {
    tail = (tail + data.toString('utf8')).slice(-8192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => tail;
}

/**
 * @param {import('node:child_process').ChildProcess} child
 * @param {() => void} ask  asks the child to stop; SIGKILL follows after 5 s
 */
function stopper(child, ask) {
  /** @type {Promise<void> | undefined} */
  let stopped;
  return () => {
    stopped ??= new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      try {
        ask();
      } catch {
        child.kill('SIGKILL');
      }
    });
    return stopped;
  };
}

/**
 * A target from target.mjs, forked with an IPC channel; resolves once it listens.
 * @param {string} name @param {string[]} args @param {{ execArgv?: string[] }} [options]
 */
export function startTarget(name, args, options = {}) {
  const child = fork(here('./target.mjs'), args, {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    execArgv: options.execArgv ?? [],
  });
  const log = capture(child);
  const stop = stopper(child, () => {
    if (child.connected) child.send('stop');
    else child.kill('SIGTERM');
  });
  /** @type {Proc} */
  const proc = { name, url: '', child, log, stop };
  running.add(proc);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('did not start within 30 s')), 30_000);
    const fail = (/** @type {Error} */ error) => {
      clearTimeout(timer);
      reject(new Error(`${name}: ${error.message}\n${log()}`));
    };
    child.once('exit', (code, signal) => fail(new Error(`exited (${code ?? signal})`)));
    child.once('message', (/** @type {{ url: string }} */ message) => {
      clearTimeout(timer);
      proc.url = message.url;
      resolve(proc);
    });
  });
}

/** A free port on 127.0.0.1 (for servers that cannot report the one they got). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export const portkeyDir = require
  .resolve('@portkey-ai/gateway/package.json')
  .replace(/package\.json$/, '');
export const portkeyVersion = JSON.parse(readFileSync(`${portkeyDir}package.json`, 'utf8')).version;

/**
 * The Portkey gateway's own server (build/start-server.js, `--port=N --headless`), bound to
 * 127.0.0.1 by loopback-only.mjs; resolves once it answers HTTP.
 */
export async function startPortkey() {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      '--import',
      here('./loopback-only.mjs'),
      `${portkeyDir}build/start-server.js`,
      `--port=${port}`,
      '--headless',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const log = capture(child);
  const stop = stopper(child, () => child.kill('SIGTERM'));
  /** @type {Proc} */
  const proc = { name: 'portkey', url: `http://127.0.0.1:${port}`, child, log, stop };
  running.add(proc);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`portkey exited (${child.exitCode})\n${log()}`);
    try {
      await fetch(`${proc.url}/`, { signal: AbortSignal.timeout(1000) });
      return proc;
    } catch {
      if (Date.now() > deadline) throw new Error(`portkey did not start within 30 s\n${log()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Stops every process started here (each asked first, killed after 5 s). */
export async function stopAll() {
  const all = [...running];
  running.clear();
  await Promise.all(all.map((p) => p.stop()));
}

/** Synchronous last resort on exit: kill whatever is still alive. */
export function killAllNow() {
  for (const p of running) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  }
}
