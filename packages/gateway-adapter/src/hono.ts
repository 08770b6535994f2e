/**
 * `@wardwright/gateway/hono`: Hono already speaks Request/Response, so the gateway gets
 * `c.req.raw` itself (its body unread, its signal intact). Web-only: no node imports, so this
 * entry also runs on Bun, Deno and edge runtimes.
 */
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { basePath } from 'hono/route';
import { bodyTooLarge, errorResponse, INTERNAL_ERROR, logError } from './bridge/errors.ts';
import { bodyLimitOf, type FetchHandler } from './bridge/fetch-handler.ts';

export type { FetchHandler } from './bridge/fetch-handler.ts';

export interface HonoAdapterOptions {
  /** Request body limit in bytes, answered with 413 (default: the handler's `maxBodyBytes`, else 10 MiB; `Infinity` disables). */
  readonly maxBodyBytes?: number | undefined;
  /** Called with what the handler threw (answered 500 without details). Default: console.error. */
  readonly onError?: ((error: unknown) => void) | undefined;
}

export interface HonoMiddlewareOptions extends HonoAdapterOptions {
  /** Path prefix stripped before the handler sees the URL (e.g. '/llm'). Default ''. */
  readonly mount?: string | undefined;
  /** Let requests the handler answers 404 continue to `next()`. Default false. */
  readonly fallthrough?: boolean | undefined;
}

/**
 * A Hono app serving the handler at `/v1/*`: `app.route('/', wardwrightHono(gateway))`, or
 * `app.route('/llm', …)` to serve `/llm/v1/*` (the handler still sees `/v1/…`).
 */
export function wardwrightHono(handler: FetchHandler, options: HonoAdapterOptions = {}): Hono {
  const app = new Hono();
  app.all('/v1/*', (c) => {
    // `app.route(base, sub)` copies our route under `base`; basePath() resolves it against
    // the request, parameters included ('/t/:tenant' → '/t/acme').
    const base = basePath(c);
    return forward(handler, c, base === '/' ? '' : base, options);
  });
  return app;
}

/**
 * Middleware form: `app.use('/llm/*', wardwrightMiddleware(gateway, { mount: '/llm' }))`.
 * Everything reaching it goes to the handler; with `fallthrough`, a handler 404 continues.
 */
export function wardwrightMiddleware(
  handler: FetchHandler,
  options: HonoMiddlewareOptions = {},
): MiddlewareHandler {
  const mount = normaliseMount(options.mount);
  const fallthrough = options.fallthrough === true;
  return async (c: Context, next) => {
    const response = await forward(handler, c, mount, options);
    if (fallthrough && response.status === 404) {
      response.body?.cancel().catch(ignore);
      await next();
      return;
    }
    return response;
  };
}

async function forward(
  handler: FetchHandler,
  c: Context,
  prefix: string,
  options: HonoAdapterOptions,
): Promise<Response> {
  const raw = c.req.raw;
  const limit = bodyLimitOf(handler, options.maxBodyBytes);
  const declared = raw.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) return errorResponse(bodyTooLarge(limit));
  let request = raw;
  let counter: LimitCounter | undefined;
  if (raw.bodyUsed) {
    // A middleware in front read the body through Hono (`c.req.json()` and friends): Hono
    // cached it and hands the bytes out again.
    const bytes = await c.req.arrayBuffer();
    if (bytes.byteLength > limit) return errorResponse(bodyTooLarge(limit));
    const headers = new Headers(raw.headers);
    headers.delete('content-length');
    request = new Request(stripPrefix(raw.url, prefix), {
      method: raw.method,
      headers,
      body: bytes,
      signal: raw.signal,
    });
  } else if (prefix !== '' || (declared === null && raw.body !== null && limit !== Infinity)) {
    let body = raw.body;
    // No declared length: count while the handler reads (a rare path; OpenAI clients send one).
    if (declared === null && body !== null && limit !== Infinity) {
      counter = { limit, received: 0, tooLarge: false };
      body = body.pipeThrough(limitStream(counter));
    }
    request = new Request(stripPrefix(raw.url, prefix), {
      method: raw.method,
      headers: raw.headers,
      body,
      signal: raw.signal,
      duplex: 'half',
    } as RequestInit);
  }
  let response: Response;
  try {
    response = await handler.fetch(request);
  } catch (error) {
    if (counter?.tooLarge === true) return errorResponse(bodyTooLarge(limit));
    try {
      (options.onError ?? logError)(error);
    } catch {
      // A failing reporter must not turn into an unhandled error of the host.
    }
    return errorResponse(INTERNAL_ERROR);
  }
  if (counter?.tooLarge === true) {
    response.body?.cancel().catch(ignore);
    return errorResponse(bodyTooLarge(limit));
  }
  return unbufferedEvents(response);
}

/** Same promise as the node adapters: proxies such as nginx must not hold SSE events back. */
function unbufferedEvents(response: Response): Response {
  const headers = response.headers;
  if (
    headers.has('x-accel-buffering') ||
    !(headers.get('content-type') ?? '').startsWith('text/event-stream')
  ) {
    return response;
  }
  try {
    headers.set('x-accel-buffering', 'no');
    return response;
  } catch {
    // Headers of a Response from fetch() are immutable: re-wrap, keeping the body stream.
    const copy = new Headers(headers);
    copy.set('x-accel-buffering', 'no');
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers: copy,
    });
  }
}

interface LimitCounter {
  readonly limit: number;
  received: number;
  tooLarge: boolean;
}

function limitStream(counter: LimitCounter): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    transform(chunk, controller) {
      counter.received += chunk.byteLength;
      if (counter.received > counter.limit) {
        counter.tooLarge = true;
        controller.error(new Error(`The request body exceeds the limit of ${counter.limit} bytes`));
        return;
      }
      controller.enqueue(chunk);
    },
  });
}

function stripPrefix(href: string, prefix: string): URL {
  const url = new URL(href);
  if (prefix !== '' && url.pathname.startsWith(prefix)) {
    url.pathname = url.pathname.slice(prefix.length) || '/';
  }
  return url;
}

function normaliseMount(mount: string | undefined): string {
  if (mount === undefined || mount === '' || mount === '/') return '';
  const withSlash = mount.startsWith('/') ? mount : `/${mount}`;
  return withSlash.endsWith('/') ? withSlash.slice(0, -1) : withSlash;
}

function ignore(): void {}
