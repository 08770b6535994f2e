import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  BAD_REQUEST,
  BodyTooLargeError,
  bodyTooLarge,
  DEFAULT_MAX_BODY_BYTES,
  INTERNAL_ERROR,
  logError,
} from './errors.ts';
import type { FetchHandler } from './fetch-handler.ts';
import {
  bufferBody,
  canBufferBody,
  requestBodyTooLarge,
  type ToRequestOptions,
  toRequest,
} from './to-request.ts';
import { writeError, writeResponse } from './write-response.ts';

export interface NodeAdapterOptions {
  /** Origin for `request.url` (default: socket scheme + Host header). */
  readonly baseURL?: string | undefined;
  /** Request body limit in bytes, answered with 413 (default: the handler's `maxBodyBytes`, else 10 MiB; `Infinity` disables). */
  readonly maxBodyBytes?: number | undefined;
  /**
   * Called with what the handler threw (answered 500 without details) or a body stream that
   * failed mid-response. Default: `console.error`.
   */
  readonly onError?: ((error: unknown) => void) | undefined;
}

export interface DispatchOptions extends ToRequestOptions, NodeAdapterOptions {
  /** Express `fallthrough`: a 404 from the handler is not written; this is called instead. */
  readonly notFound?: (() => void) | undefined;
  /** Express `errors: 'next'`: handler failures go here instead of a 500 answer. */
  readonly forwardError?: ((error: unknown) => void) | undefined;
}

/**
 * One request through the handler: node → Request, handler, Response → node, with the
 * adapters' own answers (400 bad target, 413 over the body limit, 500 on a throw). Never
 * rejects: failures are answered and reported.
 */
export async function dispatch(
  handler: FetchHandler,
  req: IncomingMessage,
  res: ServerResponse,
  options: DispatchOptions,
): Promise<void> {
  // A body of known, allowed length is read whole first (cheaper than a web stream), except
  // under Express fallthrough, where a 404 must leave `req` unread for the next middleware.
  let buffered: Buffer | undefined;
  if (
    options.parsedBody === undefined &&
    options.notFound === undefined &&
    canBufferBody(req, options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES)
  ) {
    buffered = await bufferBody(req);
    if (buffered === undefined) {
      // The client left mid-upload: nobody is there to answer.
      if (!res.destroyed) res.destroy();
      return;
    }
  }
  let request: Request;
  try {
    request = toRequest(req, res, options, buffered);
  } catch (error) {
    writeError(res, error instanceof BodyTooLargeError ? bodyTooLarge(error.limit) : BAD_REQUEST);
    return;
  }
  let response: Response;
  try {
    response = await handler.fetch(request);
  } catch (error) {
    // A handler that fails on a truncated body is reporting our 413, not a bug.
    if (requestBodyTooLarge(req)) writeError(res, tooLarge(options));
    else failed(res, options, error);
    return;
  }
  // Also guards against a handler resolving to something that is not a Response.
  try {
    if (requestBodyTooLarge(req)) {
      response.body?.cancel().catch(ignore);
      writeError(res, tooLarge(options));
      return;
    }
    if (response.status === 404 && options.notFound !== undefined) {
      response.body?.cancel().catch(ignore);
      options.notFound();
      return;
    }
    await writeResponse(res, response);
  } catch (error) {
    failed(res, options, error);
  }
}

function tooLarge(options: DispatchOptions) {
  return bodyTooLarge(options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
}

function failed(res: ServerResponse, options: DispatchOptions, error: unknown): void {
  if (options.forwardError !== undefined) {
    options.forwardError(error);
    return;
  }
  try {
    (options.onError ?? logError)(error);
  } catch {
    // A failing reporter must neither take the process down nor keep the client waiting.
  }
  writeError(res, INTERNAL_ERROR);
}

function ignore(): void {}
