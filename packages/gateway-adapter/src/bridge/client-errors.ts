/**
 * What a node HTTP server answers when a request never reaches a handler: headers or a body
 * that do not arrive in time, or bytes that are not HTTP. Node's own answer is a bare status
 * line (`408`, `400`) after its defaults (headers 60 s, whole request 300 s, checked only every
 * 30 s); ours is the OpenAI error shape, after documented, shorter limits, so an OpenAI client
 * raises a typed error naming the cause instead of waiting five minutes for an empty reply.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { newRequestId, REQUEST_ID_HEADER } from './errors.ts';

/** Headers must arrive within this (node's `headersTimeout`). */
export const DEFAULT_HEADERS_TIMEOUT_MS = 30_000;
/** The whole request, headers and body, within this (node's `requestTimeout`). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

export interface RequestTimeouts {
  /** Milliseconds for the request headers to arrive. Default 30 000. */
  readonly headersTimeoutMs?: number | undefined;
  /** Milliseconds for the whole request (headers and body) to arrive. Default 60 000. */
  readonly requestTimeoutMs?: number | undefined;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  const ms = value ?? fallback;
  if (!Number.isSafeInteger(ms) || ms < 1) {
    throw new TypeError(`${name} must be a positive integer number of milliseconds, not ${value}`);
  }
  return ms;
}

// Node keeps the response in flight on the socket; once its headers are out, a second status
// line would corrupt the stream, so the connection is only closed.
function responseStarted(socket: Socket): boolean {
  return (
    (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true
  );
}

/**
 * Sets the server's header and request timeouts and answers every client error (a timeout, a
 * malformed request) in the OpenAI error shape, then closes the connection. Call it on a
 * server you create yourself; `serve()` does it for its own.
 */
export function answerClientErrors(server: Server, timeouts: RequestTimeouts = {}): void {
  const headersMs = positive(
    timeouts.headersTimeoutMs,
    DEFAULT_HEADERS_TIMEOUT_MS,
    'headersTimeoutMs',
  );
  const requestMs = positive(
    timeouts.requestTimeoutMs,
    DEFAULT_REQUEST_TIMEOUT_MS,
    'requestTimeoutMs',
  );
  // Node refuses a headers timeout longer than the request timeout.
  server.headersTimeout = Math.min(headersMs, requestMs);
  server.requestTimeout = requestMs;
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || responseStarted(socket)) {
      socket.destroy();
      return;
    }
    const timedOut = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const [status, reason, message, code] = timedOut
      ? [
          408,
          'Request Timeout',
          `the request did not arrive in time: headers within ${server.headersTimeout} ms (headersTimeoutMs), the whole request within ${requestMs} ms (requestTimeoutMs)`,
          'request_timeout',
        ]
      : [400, 'Bad Request', 'the request is not valid HTTP', 'bad_request'];
    const body = JSON.stringify({
      error: { message, type: 'invalid_request_error', param: null, code },
    });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-should-retry: false\r\n${REQUEST_ID_HEADER}: ${newRequestId()}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
}
