/**
 * The only thing the adapters need from a gateway: a WHATWG fetch handler. `createGateway()`
 * returns an object that satisfies it structurally, and so does a Hono app or any other
 * `fetch`-style server, which keeps the adapters testable without the gateway.
 */
export interface FetchHandler {
  fetch(request: Request): Promise<Response>;
}
