/**
 * `@wardwright/gateway/node`: the gateway on plain `node:http` (or anything that hands out
 * IncomingMessage/ServerResponse pairs, e.g. `https.createServer`, Connect).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerClientErrors, type RequestTimeouts } from './bridge/client-errors.ts';
import { dispatch, type NodeAdapterOptions } from './bridge/dispatch.ts';
import { bodyLimitOf, type FetchHandler } from './bridge/fetch-handler.ts';

export {
  answerClientErrors,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type RequestTimeouts,
} from './bridge/client-errors.ts';
export type { NodeAdapterOptions } from './bridge/dispatch.ts';
export { BodyTooLargeError } from './bridge/errors.ts';
export type { FetchHandler } from './bridge/fetch-handler.ts';
export { requestBodyTooLarge, type ToRequestOptions, toRequest } from './bridge/to-request.ts';
export { writeResponse } from './bridge/write-response.ts';

export type NodeListener = (req: IncomingMessage, res: ServerResponse) => void;

/** A `(req, res)` listener for `http.createServer(listener)` or `server.on('request', …)`. */
export function toNodeListener(
  handler: FetchHandler,
  options: NodeAdapterOptions = {},
): NodeListener {
  // One options object for every request: the hot path allocates nothing for configuration.
  const shared = { ...options, maxBodyBytes: bodyLimitOf(handler, options.maxBodyBytes) };
  return (req, res) => {
    void dispatch(handler, req, res, shared);
  };
}

export interface ServeOptions extends NodeAdapterOptions, RequestTimeouts {
  /** 0 picks a free port (read it from `url`). */
  readonly port: number;
  /** Loopback by default: exposing the gateway is an explicit decision. */
  readonly hostname?: string | undefined;
  /** Aborting it closes the server like `close()`. */
  readonly signal?: AbortSignal | undefined;
}

export interface Served {
  /** e.g. `http://127.0.0.1:8787` (no trailing slash). */
  readonly url: string;
  /**
   * Stops listening and ends every connection, idle keep-alive sockets and in-flight streams
   * alike (their `request.signal` aborts), so a test or a shutdown never waits on a client.
   * With `graceMs`, responses still being written get that long to finish first (idle
   * connections close at once, busy ones as their response ends): for a graceful shutdown,
   * call it, then the gateway's `drain`, and await both.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** Starts an HTTP server for the handler on `hostname` (default 127.0.0.1) and `port`. */
export async function serve(handler: FetchHandler, options: ServeOptions): Promise<Served> {
  const {
    port,
    hostname = '127.0.0.1',
    signal,
    headersTimeoutMs,
    requestTimeoutMs,
    ...adapterOptions
  } = options;
  signal?.throwIfAborted();
  // Node checks its timeouts every 30 s by default: a 30 s limit could take a minute.
  const server = createServer(
    { connectionsCheckingInterval: 1000 },
    toNodeListener(handler, adapterOptions),
  );
  answerClientErrors(server, { headersTimeoutMs, requestTimeoutMs });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, hostname, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  const close = (closeOptions: { graceMs?: number } = {}): Promise<void> => {
    const graceMs = closeOptions.graceMs ?? 0;
    closing ??= new Promise<void>((resolve) => {
      signal?.removeEventListener('abort', onAbort);
      // Stops accepting; node then closes each keep-alive connection once it is idle.
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      if (graceMs === 0) server.closeAllConnections();
    });
    return closing;
  };
  const onAbort = (): void => {
    void close();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  return { url: `http://${host}:${address.port}`, close };
}
