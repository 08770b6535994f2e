import { DEFAULT_MAX_BODY_BYTES } from './errors.ts';

/**
 * The only thing the adapters need from a gateway: a WHATWG fetch handler. `createGateway()`
 * returns an object that satisfies it structurally, and so does a Hono app or any other
 * `fetch`-style server, which keeps the adapters testable without the gateway.
 */
export interface FetchHandler {
  fetch(request: Request): Promise<Response>;
  /** A handler with its own body limit (a gateway) lends it to the adapter as its default. */
  readonly maxBodyBytes?: number | undefined;
}

/** The adapter's body limit: its own option, else the handler's, else the shared default. */
export function bodyLimitOf(handler: FetchHandler, own: number | undefined): number {
  return own ?? handler.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
}
