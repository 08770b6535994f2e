import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UnderlyingSource } from 'node:stream/web';
import { BodyTooLargeError, DEFAULT_MAX_BODY_BYTES } from './errors.ts';

export interface ToRequestOptions {
  /**
   * Origin the handler sees in `request.url` (e.g. `https://llm.example.com`). Default: the
   * scheme of the socket and the `Host` header. Only the path is used for routing.
   */
  readonly baseURL?: string | undefined;
  /** Body limit in bytes (default 10 MiB); `Infinity` disables it. */
  readonly maxBodyBytes?: number | undefined;
  /** Path and query the handler sees; adapters pass it with their mount prefix stripped. */
  readonly url?: string | undefined;
  /**
   * A body a framework parsed already (Fastify's `request.body`). Without it, a consumed
   * stream's `req.body` (Express body parsers) is used.
   */
  readonly parsedBody?: unknown;
}

/** Headers that describe one hop (or the old body), never the request the handler sees. */
const DROPPED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'expect',
]);
/** A re-serialised body has its own length and no longer carries the original encoding. */
const DROPPED_FOR_PARSED = new Set([...DROPPED, 'content-length', 'content-encoding']);

const kExchange = Symbol('wardwright.exchange');

type WithExchange = { [kExchange]?: Exchange };

/**
 * Per-request state, also the body stream's underlying source. It hangs off `req` and `res`
 * so the event listeners below are shared module functions (`this` is the emitter) instead
 * of closures allocated per request.
 */
class Exchange implements UnderlyingSource<Uint8Array> {
  readonly abort = new AbortController();
  controller: ReadableStreamDefaultController<Uint8Array> | undefined = undefined;
  received = 0;
  /** Listeners attached: the handler started reading the body. */
  reading = false;
  /** The body stream is closed, errored or cancelled. */
  settled = false;
  tooLarge = false;

  constructor(
    readonly req: IncomingMessage,
    readonly limit: number,
  ) {}

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.controller = controller;
  }

  /**
   * Listeners are attached on the first read, not at construction: a handler that never reads
   * the body (a 404 falling through in Express) leaves `req` untouched for the next middleware.
   */
  pull(): void {
    const req = this.req;
    if (!this.reading) {
      if (req.destroyed || req.readableEnded) {
        this.fail(new Error('The client closed the connection before sending the whole body'));
        return;
      }
      this.reading = true;
      req.on('data', onData);
      req.once('end', onEnd);
      req.once('error', onError);
    }
    req.resume();
  }

  cancel(): void {
    this.settled = true;
    this.release();
  }

  fail(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.controller?.error(error);
    this.release();
  }

  /** Stop listening and discard the rest, so the connection can serve its next request. */
  release(): void {
    if (!this.reading) return;
    const req = this.req;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
    if (!req.readableEnded && !req.destroyed) req.resume();
  }
}

function onData(this: IncomingMessage, chunk: Buffer): void {
  const ex = (this as WithExchange)[kExchange] as Exchange;
  ex.received += chunk.byteLength;
  if (ex.received > ex.limit) {
    ex.tooLarge = true;
    ex.fail(new BodyTooLargeError(ex.limit));
    return;
  }
  const controller = ex.controller as ReadableStreamDefaultController<Uint8Array>;
  // A view on the same memory: the handler gets a plain Uint8Array without a copy.
  controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  // Backpressure: stop the socket until the handler asks for more (pull resumes).
  if ((controller.desiredSize ?? 0) <= 0) this.pause();
}

function onEnd(this: IncomingMessage): void {
  const ex = (this as WithExchange)[kExchange] as Exchange;
  if (ex.settled) return;
  ex.settled = true;
  ex.controller?.close();
  ex.release();
}

function onError(this: IncomingMessage, error: Error): void {
  ((this as WithExchange)[kExchange] as Exchange).fail(error);
}

/** `close` without a finished response: the client went away (or the socket died). */
function onResponseClose(this: ServerResponse): void {
  const ex = (this as WithExchange)[kExchange] as Exchange;
  if (!this.writableFinished) {
    ex.abort.abort(new Error('The client closed the connection'));
    ex.fail(new Error('The client closed the connection'));
  } else {
    // The response is done; a body the handler left half-read must not stall keep-alive.
    ex.release();
  }
}

/**
 * A WHATWG Request for a node request. The body is streamed (never buffered) with
 * backpressure; `request.signal` aborts when the client goes away before the response
 * finished. Throws `BodyTooLargeError` when `content-length` is over the limit, and a
 * `TypeError` when the Host header or target does not make a URL.
 *
 * Already-consumed bodies: when a body parser read the stream before us (Express's
 * `express.json()`), the parsed `req.body` is re-serialised (JSON for objects, as-is for
 * strings and buffers) and `content-length`/`content-encoding` are dropped.
 */
export function toRequest(
  req: IncomingMessage,
  res: ServerResponse,
  options: ToRequestOptions = {},
  buffered?: Buffer,
): Request {
  const limit = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const target = options.url ?? req.url ?? '/';
  const url =
    target.charCodeAt(0) === 47 /* '/' */
      ? `${options.baseURL ?? `${isEncrypted(req) ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`}${target}`
      : target;
  const method = req.method ?? 'GET';
  const ex = new Exchange(req, limit);
  (req as WithExchange)[kExchange] = ex;
  (res as WithExchange)[kExchange] = ex;
  res.once('close', onResponseClose);

  if (buffered !== undefined) {
    // The whole body, read by `bufferBody` (dispatch): no stream between it and the handler.
    const request = new Request(url, {
      method,
      headers: headersOf(req, DROPPED),
      body: buffered,
      signal: ex.abort.signal,
    });
    bufferedBodies.set(request, buffered);
    return request;
  }

  const consumed = req.readableDidRead || req.readableEnded;
  if (options.parsedBody !== undefined || consumed) {
    const parsed = options.parsedBody !== undefined ? options.parsedBody : bodyOf(req);
    if (parsed === undefined || method === 'GET' || method === 'HEAD') {
      return new Request(url, {
        method,
        headers: headersOf(req, DROPPED),
        signal: ex.abort.signal,
      });
    }
    const json = typeof parsed !== 'string' && !(parsed instanceof Uint8Array);
    const body = json ? JSON.stringify(parsed) : (parsed as string | Uint8Array);
    const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    if (size > limit) throw new BodyTooLargeError(limit);
    const headers = headersOf(req, DROPPED_FOR_PARSED);
    if (json) headers['content-type'] = 'application/json';
    return new Request(url, { method, headers, body, signal: ex.abort.signal });
  }

  // HTTP/1.1: a request has a body exactly when it declares a length or a transfer coding.
  const declared = req.headers['content-length'];
  const hasBody =
    method !== 'GET' &&
    method !== 'HEAD' &&
    (req.headers['transfer-encoding'] !== undefined ||
      (declared !== undefined && declared !== '0'));
  if (!hasBody) {
    return new Request(url, { method, headers: headersOf(req, DROPPED), signal: ex.abort.signal });
  }
  if (declared !== undefined && Number(declared) > limit) {
    ex.tooLarge = true;
    throw new BodyTooLargeError(limit);
  }
  // highWaterMark 0: nothing is read from the socket until the handler reads.
  const body = new ReadableStream<Uint8Array>(ex, { highWaterMark: 0 });
  return new Request(url, {
    method,
    headers: headersOf(req, DROPPED),
    body,
    duplex: 'half',
    signal: ex.abort.signal,
  } as RequestInit);
}

const bufferedBodies = new WeakMap<Request, Uint8Array>();

/** The bytes a Request was built from by `toRequest`, unless its body was read meanwhile. */
export function bufferedBody(request: Request): Uint8Array | undefined {
  const bytes = bufferedBodies.get(request);
  return bytes === undefined || request.bodyUsed ? undefined : bytes;
}

/**
 * Whether `bufferBody` may read this request's body up front: a fresh POST-like request that
 * declares a length within the limit (no transfer coding, nothing read yet). Bodies of unknown
 * length keep streaming, so the limit still cuts them off as they arrive.
 */
export function canBufferBody(req: IncomingMessage, limit: number): boolean {
  const method = req.method;
  if (method === 'GET' || method === 'HEAD') return false;
  if (req.headers['transfer-encoding'] !== undefined) return false;
  if (req.readableDidRead || req.readableEnded || bodyOf(req) !== undefined) return false;
  const declared = req.headers['content-length'];
  if (declared === undefined) return false;
  const size = Number(declared);
  return Number.isInteger(size) && size > 0 && size <= limit;
}

/** The whole body of a request `canBufferBody` accepted; undefined if the client went away. */
export function bufferBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let size = 0;
    const finish = (value: Buffer | undefined): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onFail);
      req.off('close', onClose);
      resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      parts.push(chunk);
      size += chunk.byteLength;
    };
    const onEnd = (): void => finish(parts.length === 1 ? parts[0]! : Buffer.concat(parts, size));
    const onFail = (): void => finish(undefined);
    const onClose = (): void => {
      if (!req.readableEnded) finish(undefined);
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onFail);
    req.once('close', onClose);
  });
}

/** True once the request's body went over `maxBodyBytes` (declared or while streaming). */
export function requestBodyTooLarge(req: IncomingMessage): boolean {
  return (req as WithExchange)[kExchange]?.tooLarge === true;
}

function isEncrypted(req: IncomingMessage): boolean {
  return (req.socket as { encrypted?: boolean } | null)?.encrypted === true;
}

function bodyOf(req: IncomingMessage): unknown {
  return (req as { body?: unknown }).body;
}

function headersOf(req: IncomingMessage, dropped: ReadonlySet<string>): Record<string, string> {
  const out: Record<string, string> = {};
  const source = req.headers;
  for (const name in source) {
    if (dropped.has(name)) continue;
    const value = source[name];
    if (value === undefined) continue;
    out[name] = typeof value === 'string' ? value : value.join(', ');
  }
  return out;
}
