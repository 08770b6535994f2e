/**
 * The code each worker thread of `workerSandbox` runs, as a string for `new Worker(code, { eval:
 * true })`. Why a string and not a file next to the bundle: a file would have to be found at run
 * time from the host module's location (`import.meta.url` in the ESM build, `__dirname` in the
 * CJS build, neither after a user re-bundles the gateway), and it would have to be plain
 * JavaScript that no test runner transforms. An eval'd worker has none of those problems: it is
 * the same in both builds, under vitest, and in a user's bundle. It runs as a CommonJS script, so
 * it uses `require` for Node built-ins and `import()` (absolute file URLs only, resolved by the
 * host) for the backend module, which works for ESM and CJS backend packages alike.
 *
 * Protocol (the host sends one request at a time per worker, so replies need no ids):
 * - worker → host, once: `{ t: 'ready', name, language, capabilities }` or `{ t: 'init_error', message }`
 * - `{ t: 'load', id, source, limits }` → `{ t: 'loaded', entries }` or `{ t: 'load_error', failure, typed }`
 * - `{ t: 'invoke', id, entry, input, limits }` → `{ t: 'result', json }` (input and json are JSON
 *   strings: a structured clone of one string is the cheapest way across)
 * - `{ t: 'unload', id }` → no reply
 * - `{ t: 'failed', message }` answers a request the worker could not handle at all
 * `typed` says the inner backend threw a `SandboxLoadError` (recognised by its registry symbol,
 * since the inner backend has its own copy of core), so the host can rebuild the same error.
 */
export const SANDBOX_WORKER_SOURCE = `'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const LOAD_MARKER = Symbol.for('wardwright.error.sandbox_load');
const policies = new Map();
let backend;

const describe = (error) => {
  try {
    if (error instanceof Error) return error.name + ': ' + error.message;
    return String(error);
  } catch {
    return 'an unprintable error';
  }
};
const brokenResult = (message) =>
  JSON.stringify({ ok: false, failure: { kind: 'backend_failure', message }, usage: { wall_ms: 0 } });

async function handle(message) {
  if (message.t === 'load') {
    try {
      const policy = await backend.load(message.source, message.limits);
      policies.set(message.id, policy);
      parentPort.postMessage({ t: 'loaded', entries: Array.from(policy.entries) });
    } catch (error) {
      const typed = typeof error === 'object' && error !== null && error[LOAD_MARKER] === true;
      const failure = typed
        ? { kind: error.failure.kind, message: error.failure.message, ...(error.failure.location ? { location: error.failure.location } : {}) }
        : { kind: 'backend_failure', message: describe(error) };
      parentPort.postMessage({ t: 'load_error', failure, typed });
    }
  } else if (message.t === 'invoke') {
    const policy = policies.get(message.id);
    let json;
    if (policy === undefined) {
      json = brokenResult('the policy is not loaded in this worker');
    } else {
      try {
        const result = await policy.invoke(message.entry, JSON.parse(message.input), message.limits);
        json = JSON.stringify(result);
      } catch (error) {
        // The contract says invoke never throws; a backend that does still gets a typed answer.
        json = brokenResult('the backend threw: ' + describe(error));
      }
    }
    parentPort.postMessage({ t: 'result', json });
  } else if (message.t === 'unload') {
    const policy = policies.get(message.id);
    policies.delete(message.id);
    if (policy !== undefined) policy.dispose().catch(() => undefined);
  }
}

(async () => {
  try {
    const mod = await import(workerData.module);
    const factory = mod[workerData.export] ?? (mod.default ? mod.default[workerData.export] : undefined);
    if (typeof factory !== 'function') {
      throw new TypeError(workerData.module + ' exports no function ' + workerData.export);
    }
    backend = await factory(workerData.options);
    const caps = backend.capabilities;
    parentPort.postMessage({ t: 'ready', name: backend.name, language: backend.language, capabilities: { ...caps } });
  } catch (error) {
    parentPort.postMessage({ t: 'init_error', message: describe(error) });
    return;
  }
  parentPort.on('message', (message) => {
    handle(message).catch((error) => {
      parentPort.postMessage({ t: 'failed', message: 'the worker failed: ' + describe(error) });
    });
  });
})();
`;
