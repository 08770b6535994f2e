/**
 * `@wardwright/gateway/fastify`: the gateway as a Fastify 5 plugin. Only fastify types and
 * `fastify-plugin` (a dependency of this package) are imported; fastify itself comes from
 * the application.
 */
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import { type DispatchOptions, dispatch, type NodeAdapterOptions } from './bridge/dispatch.ts';
import { bodyLimitOf, type FetchHandler } from './bridge/fetch-handler.ts';

export type { FetchHandler } from './bridge/fetch-handler.ts';

export interface WardwrightFastifyOptions extends NodeAdapterOptions {
  /** The gateway (or any WHATWG fetch handler). */
  readonly handler: FetchHandler;
  /** Fastify's own register option; the routes live at `${prefix}/v1/*`. */
  readonly prefix?: string;
  /**
   * 'stream' (default): the gateway's routes get their own catch-all content-type parser that
   * leaves the body unread, so it streams to the handler once (no double parse; the limit is
   * `maxBodyBytes`). 'fastify': keep the content-type parsers inherited from the enclosing
   * scope and re-serialise the parsed `request.body` (Fastify's `bodyLimit` applies then).
   */
  readonly bodyParsing?: 'stream' | 'fastify' | undefined;
}

/**
 * The routes, in their own encapsulated context: the catch-all parser and the routes never
 * leak into the application's scope, and the prefix applies.
 */
function routes(
  instance: FastifyInstance,
  options: WardwrightFastifyOptions,
  done: (error?: Error) => void,
): void {
  const { handler } = options;
  const stream = options.bodyParsing !== 'fastify';
  if (stream) {
    instance.removeAllContentTypeParsers();
    instance.addContentTypeParser('*', leaveBodyUnread);
  }
  const prefix = instance.prefix;
  const shared = {
    baseURL: options.baseURL,
    maxBodyBytes: bodyLimitOf(handler, options.maxBodyBytes),
    onError: options.onError,
  };
  instance.all('/v1/*', (request: FastifyRequest, reply: FastifyReply) => {
    // We write the response ourselves (streamed, flushed per SSE event, cancelled on
    // disconnect): Fastify must not send anything for this request.
    reply.hijack();
    const raw = reply.raw;
    // Headers hooks set on the reply (e.g. @fastify/cors) live on Fastify's reply, not on the
    // node response that hijack leaves us: carry them over.
    const pending = reply.getHeaders();
    for (const name in pending) {
      const value = pending[name];
      if (value !== undefined) raw.setHeader(name, value);
    }
    const url = request.raw.url ?? '/';
    const dispatchOptions: DispatchOptions = {
      ...shared,
      url: prefix !== '' && url.startsWith(prefix) ? url.slice(prefix.length) : url,
      parsedBody: stream ? undefined : request.body,
    };
    return dispatch(handler, request.raw, raw, dispatchOptions);
  });
  done();
}

function leaveBodyUnread(
  _request: FastifyRequest,
  _payload: unknown,
  done: (error: Error | null, body?: unknown) => void,
): void {
  done(null, undefined);
}

const plugin: FastifyPluginCallback<WardwrightFastifyOptions> = (fastify, options, done) => {
  // fastify-plugin skips the encapsulation (and with it the prefix) for this function, so the
  // routes are registered one level down, where the prefix applies again.
  fastify.register(routes, options);
  done();
};

/**
 * `fastify.register(wardwrightPlugin, { handler, prefix: '/llm' })` serves
 * `/llm/v1/*`; the handler sees `/v1/…`. Register it several times for several prefixes.
 */
export const wardwrightPlugin = fastifyPlugin(plugin, {
  fastify: '5.x',
  name: '@wardwright/gateway',
});
