/**
 * Error answers the adapters produce themselves (before or instead of the handler), in the
 * OpenAI error shape so the official clients raise their typed errors. Web-only (no node
 * imports): the Hono adapter uses it on edge runtimes too.
 */

/**
 * The one request body limit, for the gateway and every adapter: generous for image-bearing
 * chat requests. An adapter serving a gateway takes the gateway's `maxBodyBytes` unless given
 * its own, so raising the limit in one place raises it everywhere.
 */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

/** The one 413 message, answered by the adapters and the gateway alike (`request_too_large`). */
export function bodyTooLargeMessage(limit: number): string {
  return `The request body is over the limit of ${limit} bytes (maxBodyBytes)`;
}

/** Thrown by `toRequest` when `content-length` already announces a body over the limit. */
export class BodyTooLargeError extends Error {
  readonly code = 'request_too_large';
  constructor(readonly limit: number) {
    super(bodyTooLargeMessage(limit));
    this.name = 'BodyTooLargeError';
  }
}

export interface AdapterError {
  readonly status: number;
  /** Serialised once per process: these are answered on hot error paths. */
  readonly body: string;
}

function adapterError(status: number, message: string, type: string, code: string): AdapterError {
  return { status, body: JSON.stringify({ error: { message, type, param: null, code } }) };
}

/** The message never carries the thrown error: stacks and internals stay in `onError`. */
export const INTERNAL_ERROR = adapterError(
  500,
  'Internal server error',
  'server_error',
  'internal_error',
);

export const BAD_REQUEST = adapterError(
  400,
  'The request cannot be served: invalid Host header, target or method',
  'invalid_request_error',
  'bad_request',
);

export function bodyTooLarge(limit: number): AdapterError {
  return adapterError(
    413,
    bodyTooLargeMessage(limit),
    'invalid_request_error',
    'request_too_large',
  );
}

/** The header every answer carries so a client can report it: the receipt id where there is one. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** An id for an answer that has no receipt (bad input, an unknown route, an adapter's own). */
export function newRequestId(): string {
  return `req_${globalThis.crypto.randomUUID().replaceAll('-', '')}`;
}

/** The adapters' own answers are never worth a client retry (see `x-should-retry`). */
export function errorResponse(error: AdapterError): Response {
  return new Response(error.body, {
    status: error.status,
    headers: {
      'content-type': 'application/json',
      'x-should-retry': 'false',
      [REQUEST_ID_HEADER]: newRequestId(),
    },
  });
}

/** Default `onError`: a handler that throws is a bug worth seeing in the server log. */
export function logError(error: unknown): void {
  console.error('[wardwright] the gateway handler failed:', error);
}
