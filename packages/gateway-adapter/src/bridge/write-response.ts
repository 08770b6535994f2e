import type { ServerResponse } from 'node:http';
import { type AdapterError, newRequestId, REQUEST_ID_HEADER } from './errors.ts';
import { knownBody } from './known-body.ts';

/** Hop-by-hop headers of whoever built the Response (often copied from an upstream). */
const SKIPPED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'set-cookie']);

const kReader = Symbol('wardwright.reader');

type WithReader = ServerResponse & {
  [kReader]?: ReadableStreamDefaultReader<Uint8Array>;
  /** Added by compression middleware (Express `compression()`): pushes buffered bytes out. */
  flush?: () => void;
};

/** A client that disconnects mid-body cancels the body, which aborts the gateway's upstream. */
function cancelOnClose(this: WithReader): void {
  if (!this.writableFinished) this[kReader]?.cancel().catch(ignore);
}

function ignore(): void {}

/**
 * Writes a WHATWG Response to a node response: status, headers (each `set-cookie` kept as its
 * own header), then the body chunk by chunk with backpressure. Server-sent events are flushed
 * per chunk and marked `x-accel-buffering: no` unless the handler chose otherwise. Resolves
 * when the response is finished or the client went away; rejects when the body stream fails
 * (the socket is destroyed then, so the client sees a truncated body rather than a clean end).
 */
export async function writeResponse(res: ServerResponse, response: Response): Promise<void> {
  const out = res as WithReader;
  const headers = response.headers;
  const contentType = headers.get('content-type') ?? '';
  const eventStream = contentType.startsWith('text/event-stream');
  const head = headArray(headers);
  if (eventStream && !headers.has('x-accel-buffering')) head.push('x-accel-buffering', 'no');

  const method = res.req?.method;
  // The gateway's own JSON answers: the text is at hand, send it in one write.
  const known = method === 'HEAD' ? undefined : knownBody(response);
  if (known !== undefined) {
    if (res.destroyed) return;
    if (!headers.has('content-length'))
      head.push('content-length', String(Buffer.byteLength(known)));
    writeHead(res, response, head);
    res.end(known);
    return;
  }

  const body = response.body;
  // (A Response with status 204 or 304 has a null body by construction.)
  if (body === null || method === 'HEAD' || res.destroyed) {
    body?.cancel().catch(ignore);
    if (!res.destroyed) {
      writeHead(res, response, head);
      res.end();
    }
    return;
  }

  const reader = body.getReader();
  out[kReader] = reader;
  res.once('close', cancelOnClose);
  try {
    if (eventStream) {
      writeHead(res, response, head);
      // The client learns the stream is open before the first event.
      res.flushHeaders();
      await pump(out, reader, true);
      return;
    }
    // A JSON body is almost always one chunk: sending it with a content-length (one write,
    // no chunked framing) is cheaper than streaming it. Anything else streams as it comes.
    const first = await reader.read();
    if (first.done) {
      writeHead(res, response, head);
      if (!res.destroyed) res.end();
      return;
    }
    if (contentType.startsWith('application/json')) {
      const second = await reader.read();
      if (second.done) {
        if (res.destroyed) return;
        if (!headers.has('content-length'))
          head.push('content-length', String(first.value.byteLength));
        writeHead(res, response, head);
        res.end(first.value);
        return;
      }
      writeHead(res, response, head);
      if (!(await write(out, first.value, false))) return;
      if (!(await write(out, second.value, false))) return;
    } else {
      writeHead(res, response, head);
      if (!(await write(out, first.value, false))) return;
    }
    await pump(out, reader, false);
  } catch (error) {
    // Headers may be out already: the only honest signal left is to cut the connection.
    if (!res.destroyed) res.destroy();
    throw error;
  }
}

async function pump(
  res: WithReader,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  flush: boolean,
): Promise<void> {
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!(await write(res, value, flush))) return;
  }
  if (!res.destroyed) res.end();
}

/** Writes one chunk; false when the client is gone (the reader is cancelled by then). */
async function write(res: WithReader, chunk: Uint8Array, flush: boolean): Promise<boolean> {
  if (res.destroyed) return false;
  const ok = res.write(chunk);
  if (flush) res.flush?.();
  if (!ok) await drained(res);
  return !res.destroyed;
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function writeHead(res: ServerResponse, response: Response, head: (string | string[])[]): void {
  if (res.headersSent || res.destroyed) return;
  if (response.statusText === '') res.writeHead(response.status, head);
  else res.writeHead(response.status, response.statusText, head);
}

/**
 * Flat `[name, value, …]`: node's fastest header form. All cookies travel as ONE array value:
 * when middleware already set headers on `res`, node merges a flat list with `setHeader`,
 * which would keep only the last of repeated `set-cookie` pairs.
 */
function headArray(headers: Headers): (string | string[])[] {
  const head: (string | string[])[] = [];
  for (const [name, value] of headers) {
    if (!SKIPPED.has(name)) head.push(name, value);
  }
  const cookies = headers.getSetCookie();
  if (cookies.length > 0) head.push('set-cookie', cookies);
  return head;
}

/** Writes one of the adapters' own error answers, unless a response is already under way. */
export function writeError(res: ServerResponse, error: AdapterError): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(error.status, [
    'content-type',
    'application/json',
    'content-length',
    String(Buffer.byteLength(error.body)),
    // Never worth a client retry (see `x-should-retry` in openai/errors.ts).
    'x-should-retry',
    'false',
    REQUEST_ID_HEADER,
    newRequestId(),
  ]);
  res.end(error.body);
}
