/**
 * Error answers the adapters produce themselves (before or instead of the handler), in the
 * OpenAI error shape so the official clients raise their typed errors. Web-only (no node
 * imports): the Hono adapter uses it on edge runtimes too.
 */

/** Default request body limit of every adapter: generous for image-bearing chat requests. */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

/** Thrown by `toRequest` when `content-length` already announces a body over the limit. */
export class BodyTooLargeError extends Error {
  readonly code = 'request_too_large';
  constructor(readonly limit: number) {
    super(`The request body exceeds the limit of ${limit} bytes`);
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
    `The request body exceeds the limit of ${limit} bytes`,
    'invalid_request_error',
    'request_too_large',
  );
}

export function errorResponse(error: AdapterError): Response {
  return new Response(error.body, {
    status: error.status,
    headers: { 'content-type': 'application/json' },
  });
}

/** Default `onError`: a handler that throws is a bug worth seeing in the server log. */
export function logError(error: unknown): void {
  console.error('[wardwright] the gateway handler failed:', error);
}
