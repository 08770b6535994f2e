/**
 * `@wardwright/gateway/express`: the gateway as Express middleware (Express 4.21+ and 5).
 * Type-only import of express: nothing from express is loaded at runtime, so this entry
 * works with whichever express the application has installed.
 */
import type { Request as ExpressRequest, Response as ExpressResponse, NextFunction } from 'express';
import { type DispatchOptions, dispatch, type NodeAdapterOptions } from './bridge/dispatch.ts';
import { bodyLimitOf, type FetchHandler } from './bridge/fetch-handler.ts';

export type { FetchHandler } from './bridge/fetch-handler.ts';

export interface ExpressAdapterOptions extends NodeAdapterOptions {
  /**
   * Path prefix (relative to where the middleware is used) the gateway answers under, stripped
   * before the handler sees the URL: `mount: '/llm'` serves `/llm/v1/chat/completions`.
   * Requests outside it go straight to `next()`. Default: '' (everything reaching the
   * middleware). `app.use('/llm', wardwright(gateway))` is the Express-native equivalent.
   */
  readonly mount?: string | undefined;
  /** Let requests the handler answers 404 continue to the next middleware. Default false. */
  readonly fallthrough?: boolean | undefined;
  /**
   * What happens when the handler throws: 'respond' (default) answers 500 in the OpenAI error
   * shape and reports to `onError`; 'next' passes the error to `next(err)` for the
   * application's error middleware (which then decides what the client sees).
   */
  readonly errors?: 'respond' | 'next' | undefined;
}

export type WardwrightMiddleware = (
  req: ExpressRequest,
  res: ExpressResponse,
  next: NextFunction,
) => void;

/**
 * Express middleware forwarding requests to the handler. Bodies already read by a body
 * parser in front (`express.json()`, `express.text()`, `express.raw()`) are re-serialised from
 * `req.body`; without one the body streams through untouched (preferred: no double parse).
 */
export function wardwright(
  handler: FetchHandler,
  options: ExpressAdapterOptions = {},
): WardwrightMiddleware {
  const mount = normaliseMount(options.mount);
  const fallthrough = options.fallthrough === true;
  const forward = options.errors === 'next';
  const shared: DispatchOptions = {
    baseURL: options.baseURL,
    maxBodyBytes: bodyLimitOf(handler, options.maxBodyBytes),
    onError: options.onError,
  };
  const perRequest = mount !== '' || fallthrough || forward;
  return function wardwrightMiddleware(req, res, next) {
    let url = req.url;
    if (mount !== '') {
      if (!url.startsWith(mount)) {
        next();
        return;
      }
      const rest = url.slice(mount.length);
      const first = rest.charCodeAt(0);
      // '/llmx' is not under '/llm'; '/llm' and '/llm?x' are (as '/' and '/?x').
      if (rest !== '' && first !== 47 /* '/' */ && first !== 63 /* '?' */) {
        next();
        return;
      }
      url = first === 47 ? rest : `/${rest}`;
    }
    // Options that capture `next` are built only when a feature needs them.
    const dispatchOptions: DispatchOptions = perRequest
      ? {
          ...shared,
          url,
          notFound: fallthrough ? () => next() : undefined,
          forwardError: forward ? (error: unknown) => next(error) : undefined,
        }
      : shared;
    dispatch(handler, req, res, dispatchOptions).catch(next);
  };
}

function normaliseMount(mount: string | undefined): string {
  if (mount === undefined || mount === '' || mount === '/') return '';
  const withSlash = mount.startsWith('/') ? mount : `/${mount}`;
  return withSlash.endsWith('/') ? withSlash.slice(0, -1) : withSlash;
}
