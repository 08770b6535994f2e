/**
 * The code each executor of a sandbox pool runs — a worker thread (`workerSandbox`) or a child
 * process (`processSandbox`) — as strings: `new Worker(code, { eval: true })` for threads and
 * `node -e code` for processes. Why strings and not a file next to the bundle: a file would have
 * to be found at run time from the host module's location (`import.meta.url` in the ESM build,
 * `__dirname` in the CJS build, neither after a user re-bundles the gateway), and it would have to
 * be plain JavaScript that no test runner transforms. Evaluated code is the same in both builds,
 * under vitest, and in a user's bundle. It runs as a CommonJS script: `require` for Node
 * built-ins, `import()` (absolute file URLs only, resolved by the host) for the backend module.
 *
 * One handler serves both transports; only how messages travel differs. Messages are flat
 * records with at most one large string, `body` (a policy's code, an input, a result), so the
 * process transport can frame it without escaping it again:
 * - host → executor: `{ t: 'load', id, name, language, filename?, limits?, body: code }`,
 *   `{ t: 'invoke', id, entry, limits?, body: inputJson }`, `{ t: 'unload', id }`
 * - executor → host: `{ t: 'ready', name, language, capabilities }` or `{ t: 'init_error', message }`
 *   once; `{ t: 'loaded', entries }` or `{ t: 'load_error', failure, typed }`;
 *   `{ t: 'result', body: invokeResultJson }`; `{ t: 'failed', message }` for a request the
 *   executor could not handle at all.
 * The host sends one request at a time per executor, so replies need no ids. `typed` says the
 * inner backend threw a `SandboxLoadError` (recognised by its registry symbol, since the inner
 * backend has its own copy of core), so the host can rebuild the same error.
 */

/** The handler: `start(init, send)` returns `receive(message)`. */
const HANDLER = `'use strict';
const LOAD_MARKER = Symbol.for('wardwright.error.sandbox_load');
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

function start(init, send) {
  const policies = new Map();
  let backend;
  let ready;
  async function handle(message) {
    await ready;
    if (message.t === 'load') {
      const source = { name: message.name, language: message.language, code: message.body };
      if (message.filename !== undefined) source.filename = message.filename;
      try {
        const policy = await backend.load(source, message.limits);
        policies.set(message.id, policy);
        send({ t: 'loaded', entries: Array.from(policy.entries) });
      } catch (error) {
        const typed = typeof error === 'object' && error !== null && error[LOAD_MARKER] === true;
        const failure = typed
          ? { kind: error.failure.kind, message: error.failure.message, ...(error.failure.location ? { location: error.failure.location } : {}) }
          : { kind: 'backend_failure', message: describe(error) };
        send({ t: 'load_error', failure, typed });
      }
    } else if (message.t === 'invoke') {
      const policy = policies.get(message.id);
      let body;
      if (policy === undefined) {
        body = brokenResult('the policy is not loaded in this executor');
      } else {
        try {
          const result = await policy.invoke(message.entry, JSON.parse(message.body), message.limits);
          body = JSON.stringify(result);
        } catch (error) {
          // The contract says invoke never throws; a backend that does still gets a typed answer.
          body = brokenResult('the backend threw: ' + describe(error));
        }
      }
      send({ t: 'result', body });
    } else if (message.t === 'unload') {
      const policy = policies.get(message.id);
      policies.delete(message.id);
      if (policy !== undefined) policy.dispose().catch(() => undefined);
    }
  }
  ready = (async () => {
    try {
      const mod = await import(init.module);
      const factory = mod[init.export] ?? (mod.default ? mod.default[init.export] : undefined);
      if (typeof factory !== 'function') {
        throw new TypeError(init.module + ' exports no function ' + init.export);
      }
      backend = await factory(init.options);
      const caps = backend.capabilities;
      send({ t: 'ready', name: backend.name, language: backend.language, capabilities: { ...caps } });
    } catch (error) {
      send({ t: 'init_error', message: describe(error) });
      throw error;
    }
  })();
  ready.catch(() => undefined);
  return (message) => {
    handle(message).catch((error) => {
      if (backend !== undefined) send({ t: 'failed', message: 'the executor failed: ' + describe(error) });
    });
  };
}
`;

/** A worker thread: messages are structured clones over `parentPort`. */
export const WORKER_EXECUTOR_SOURCE = `${HANDLER}
const { parentPort, workerData } = require('node:worker_threads');
const receive = start(workerData, (message) => parentPort.postMessage(message));
parentPort.on('message', receive);
`;

/**
 * A child process: frames on file descriptor 3 (a socket pair the host made), each a 4-byte
 * big-endian length and then UTF-8 text: the message without its body as JSON, a newline, and the
 * body (JSON text never holds a raw newline). The first frame is the init record. When the host
 * goes away (its end closes), the process exits: an executor never outlives its pool.
 */
export const PROCESS_EXECUTOR_SOURCE = `${HANDLER}
const { Socket } = require('node:net');
const channel = new Socket({ fd: 3, readable: true, writable: true });
const encode = (message) => {
  const { body, ...header } = message;
  const text = JSON.stringify(header) + '\\n' + (body === undefined ? '' : body);
  const length = Buffer.byteLength(text);
  const frame = Buffer.allocUnsafe(4 + length);
  frame.writeUInt32BE(length, 0);
  frame.write(text, 4, length, 'utf8');
  return frame;
};
const decode = (payload) => {
  const text = payload.toString('utf8');
  const newline = text.indexOf('\\n');
  const message = JSON.parse(text.slice(0, newline));
  if (message.t === 'load' || message.t === 'invoke') message.body = text.slice(newline + 1);
  return message;
};
let receive;
let pending = [];
let pendingBytes = 0;
channel.on('data', (chunk) => {
  pending.push(chunk);
  pendingBytes += chunk.length;
  for (;;) {
    if (pendingBytes < 4) return;
    if (pending[0].length < 4) pending = [Buffer.concat(pending, pendingBytes)];
    const length = pending[0].readUInt32BE(0);
    // Copied together only once the whole frame is here.
    if (pendingBytes < 4 + length) return;
    const buffer = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
    const message = decode(buffer.subarray(4, 4 + length));
    const rest = buffer.subarray(4 + length);
    pending = rest.length === 0 ? [] : [rest];
    pendingBytes = rest.length;
    if (receive === undefined) receive = start(message, (reply) => channel.write(encode(reply)));
    else receive(message);
  }
});
channel.on('close', () => process.exit(0));
channel.on('error', () => process.exit(0));
`;
