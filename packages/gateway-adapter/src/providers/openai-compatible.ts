import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import {
  type ModelProvider,
  type ModelReply,
  type ProviderCall,
  type ReplyEvent,
  type UpstreamRetry,
  upstreamErrorStatus,
} from '@wardwright/core';
import { GatewayError } from '../errors.ts';
import { chunkEvents, completionReply, MalformedAnswer } from './openai-wire.ts';
import { SseDecoder, type SseEvent } from './sse.ts';

/**
 * A provider (contract v2) for any OpenAI-compatible upstream (`POST {baseURL}/chat/completions`)
 * over `node:http(s)` with a keep-alive agent (or over a `fetch` you pass): whole answers and SSE
 * streams with their tool calls, refusals, finish reason and usage; a timeout (to the first
 * byte, then between stream reads); bounded retries on 429/5xx honouring `Retry-After`; and
 * abort propagation — the engine's signal (a halted stream, a client that left) aborts the
 * upstream request.
 */

export interface OpenAICompatibleOptions {
  /** E.g. `https://api.openai.com/v1`; `/chat/completions` is appended. */
  baseURL: string;
  /** Sent as `Authorization: Bearer …`; never written to a receipt or an error message. */
  apiKey?: string;
  /** Extra headers on every upstream request. */
  headers?: Record<string, string>;
  /** No response (or no stream data) for this long fails the attempt. Default 60 000. */
  timeoutMs?: number;
  /** Retries of a 429 or 5xx answer, each after `Retry-After` or a backoff. Default 2. */
  maxRetries?: number;
  /** Cap on one retry delay, whatever `Retry-After` asks. Default 5 000. */
  maxRetryDelayMs?: number;
  /**
   * The largest answer read from the upstream, whole or streamed, in bytes: past it the call
   * fails (`upstream_too_large` for a whole answer; a broken stream) instead of buffering it.
   * Default 4 MiB (`DEFAULT_MAX_RESPONSE_BYTES`).
   */
  maxResponseBytes?: number;
  /** A fetch to use instead of the built-in `node:http(s)` client (keep-alive, one agent each). */
  fetch?: typeof fetch;
  /**
   * Ask a streaming upstream for its token usage (`stream_options.include_usage`), so answers
   * and receipts carry real counts. Default true; turn off for an upstream that rejects the
   * field (the usage is then estimated).
   */
  streamUsage?: boolean;
}

export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_RETRIES = 2;
export const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_RETRY_DELAY_MS = 5_000;
const BASE_BACKOFF_MS = 200;
const ERROR_BODY_LIMIT = 4096;

class UpstreamTimeout extends Error {
  constructor(ms: number) {
    super(`the upstream sent nothing for ${ms} ms`);
    this.name = 'UpstreamTimeout';
  }
}

class MalformedStream extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedStream';
  }
}

/** Shorter than any real provider key: such a value is a mistake, and scrubbing it would mangle text. */
export const MIN_API_KEY_LENGTH = 8;

const TOKEN_CHAR = /[A-Za-z0-9_-]/;

/**
 * Replaces whole-token occurrences of `secret` with `[redacted]`: one not preceded or followed
 * by a character a key could continue with, so text that merely contains the key's letters
 * inside a longer word is left alone.
 */
export function redactToken(text: string, secret: string): string {
  let out = '';
  let from = 0;
  for (let at = text.indexOf(secret); at !== -1; at = text.indexOf(secret, at + 1)) {
    const end = at + secret.length;
    if (at < from) continue;
    if (TOKEN_CHAR.test(text[at - 1] ?? '') || TOKEN_CHAR.test(text[end] ?? '')) continue;
    out += `${text.slice(from, at)}[redacted]`;
    from = end;
  }
  return from === 0 ? text : out + text.slice(from);
}

export function openAICompatible(options: OpenAICompatibleOptions): ModelProvider {
  const known = [
    'baseURL',
    'apiKey',
    'headers',
    'timeoutMs',
    'maxRetries',
    'maxRetryDelayMs',
    'fetch',
    'streamUsage',
    'maxResponseBytes',
  ];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new GatewayError(
        'invalid_option',
        `openAICompatible: unknown option \`${key}\` (known: ${known.join(', ')})`,
      );
    }
  }
  if (typeof options.baseURL !== 'string' || !/^https?:\/\//.test(options.baseURL)) {
    throw new GatewayError('invalid_option', 'openAICompatible: baseURL must be an http(s) URL');
  }
  const timeoutMs = positive(options.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs');
  const maxRetries = nonNegative(options.maxRetries, DEFAULT_MAX_RETRIES, 'maxRetries');
  const maxResponseBytes = positive(
    options.maxResponseBytes,
    DEFAULT_MAX_RESPONSE_BYTES,
    'maxResponseBytes',
  );
  const maxDelay = nonNegative(
    options.maxRetryDelayMs,
    DEFAULT_MAX_RETRY_DELAY_MS,
    'maxRetryDelayMs',
  );
  if (options.streamUsage !== undefined && typeof options.streamUsage !== 'boolean') {
    throw new GatewayError('invalid_option', 'openAICompatible: streamUsage must be a boolean');
  }
  const streamUsage = options.streamUsage ?? true;
  const url = `${options.baseURL.replace(/\/+$/, '')}/chat/completions`;
  const apiKey = options.apiKey;
  if (apiKey !== undefined && (typeof apiKey !== 'string' || apiKey.length < MIN_API_KEY_LENGTH)) {
    throw new GatewayError(
      'invalid_option',
      `openAICompatible: apiKey must be a string of at least ${MIN_API_KEY_LENGTH} characters, not ${typeof apiKey === 'string' ? `${apiKey.length} (is it the real key?)` : typeof apiKey}; leave it out for an upstream that needs none`,
    );
  }
  const headers: Record<string, string> = {
    ...options.headers,
    'content-type': 'application/json',
  };
  if (apiKey !== undefined) headers.authorization = `Bearer ${apiKey}`;
  // Whatever an upstream echoes back (some echo the request headers in errors) is scrubbed.
  const scrub = (text: string): string => (apiKey === undefined ? text : redactToken(text, apiKey));

  const send: Send =
    options.fetch !== undefined ? fetchSend(options.fetch, url, headers) : nodeSend(url, headers);

  return { specificationVersion: 'v2', call: callUpstream };

  async function callUpstream(call: ProviderCall): Promise<ModelReply> {
    const body = JSON.stringify(upstreamBody(call, streamUsage));
    const callSignal = call.signal;
    const accept = call.stream ? 'text/event-stream' : 'application/json';
    /** The upstream answers retried so far: every reply carries them, so receipts list them. */
    const retried: UpstreamRetry[] = [];
    const withRetries = (reply: ModelReply): ModelReply =>
      retried.length === 0 ? reply : { ...reply, upstream_retries: retried };
    for (let retry = 0; ; retry++) {
      if (callSignal.aborted) return aborted(callSignal);
      const timer = new IdleTimer(timeoutMs);
      let response: UpstreamAnswer;
      try {
        response = await send(body, accept, callSignal, timer);
      } catch (error) {
        timer.clear();
        if (callSignal.aborted) return aborted(callSignal);
        if (timer.fired) {
          return withRetries({ kind: 'error', status: 'upstream_timeout', message: timer.message });
        }
        return withRetries({
          kind: 'error',
          status: 'upstream_unreachable',
          message: scrub(`could not reach the upstream: ${causeOf(error)}`),
        });
      }
      const status = response.status;
      if (status === 429 || status >= 500) {
        if (retry < maxRetries) {
          timer.clear();
          response.discard();
          const delay = Math.min(maxDelay, retryDelay(response, retry));
          retried.push({ status: upstreamErrorStatus(status), delay_ms: delay });
          if (!(await sleep(delay, callSignal))) return aborted(callSignal);
          continue;
        }
      }
      if (status < 200 || status > 299) {
        const text = await response.text(ERROR_BODY_LIMIT).catch(() => '');
        timer.clear();
        const asked = retryAfterMs(response);
        return withRetries({
          kind: 'error',
          status: upstreamErrorStatus(status),
          message: scrub(
            `the upstream answered ${status}${retry > 0 ? ` after ${retry} retr${retry === 1 ? 'y' : 'ies'}` : ''}: ${errorMessageOf(text)}`,
          ),
          ...(asked === undefined ? {} : { retry_after_ms: asked }),
        });
      }
      if (!call.stream) {
        let json: unknown;
        try {
          json = await response.json(maxResponseBytes);
        } catch (error) {
          timer.clear();
          if (callSignal.aborted) return aborted(callSignal);
          if (error instanceof AnswerTooLarge) {
            return withRetries({
              kind: 'error',
              status: 'upstream_too_large',
              message: error.message,
            });
          }
          if (timer.fired) {
            return withRetries({
              kind: 'error',
              status: 'upstream_timeout',
              message: timer.message,
            });
          }
          return withRetries({
            kind: 'error',
            status: 'upstream_malformed',
            message: `the upstream's answer is not JSON: ${causeOf(error)}`,
          });
        }
        timer.clear();
        try {
          return withRetries(completionReply(json));
        } catch (error) {
          if (!(error instanceof MalformedAnswer)) throw error;
          return withRetries({
            kind: 'error',
            status: 'upstream_malformed',
            message: error.message,
          });
        }
      }
      const stream = response.reader();
      if (stream === null) {
        timer.clear();
        return {
          kind: 'error',
          status: 'upstream_malformed',
          message: 'the upstream sent no body',
        };
      }
      return withRetries({
        kind: 'stream',
        events: streamEvents(stream, timer, callSignal, scrub, maxResponseBytes),
      });
    }
  }
}

/**
 * The client's body — `tools`, `tool_choice` and the rest pass through — with the engine's
 * messages and the routed model; `stream` as asked, and a stream asks for usage.
 */
function upstreamBody(call: ProviderCall, streamUsage: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = { ...call.request };
  body.model = call.model;
  body.messages = call.messages;
  body.stream = call.stream;
  if (!call.stream) delete body.stream_options;
  else if (streamUsage) {
    const asked = body.stream_options;
    body.stream_options = {
      ...(typeof asked === 'object' && asked !== null ? asked : {}),
      include_usage: true,
    };
  }
  return body;
}

async function* streamEvents(
  reader: ChunkReader,
  timer: IdleTimer,
  callSignal: AbortSignal,
  scrub: (text: string) => string,
  maxBytes: number,
): AsyncGenerator<ReplyEvent> {
  const decoder = new TextDecoder();
  let bytes = 0;
  const sse = new SseDecoder();
  const frames: SseEvent[] = [];
  const events: ReplyEvent[] = [];
  const calls = new CallIds();
  let finished = false;
  let done = false;
  try {
    for (;;) {
      timer.arm();
      let read: { done: boolean; value?: Uint8Array | undefined };
      try {
        read = await reader.read();
      } catch (error) {
        if (timer.fired) throw new UpstreamTimeout(timer.ms);
        if (callSignal.aborted) {
          // Hand control back once more: the engine checks its own signal before each event and
          // records the client's departure (`client_disconnected`), which a throw would hide as a
          // provider error. If it keeps reading anyway, the abort is an error after all.
          yield { type: 'text', text: '' };
          throw abortError(callSignal);
        }
        throw new Error(`the upstream stream broke: ${causeOf(error)}`);
      }
      if (read.done) break;
      bytes += read.value?.byteLength ?? 0;
      if (bytes > maxBytes) throw new AnswerTooLarge(maxBytes);
      sse.push(decoder.decode(read.value, { stream: true }), frames);
      for (const frame of frames) {
        if (frame.data === '[DONE]') {
          done = true;
          break;
        }
        // Each frame's events go out before the next frame is read: a malformed frame after
        // good ones fails the stream after what came before it, as the upstream sent it.
        if (frameEvents(frame, scrub, events)) finished = true;
        for (const event of events) yield calls.fill(event);
        events.length = 0;
      }
      frames.length = 0;
      if (done) {
        calls.check();
        return;
      }
    }
    sse.push(decoder.decode(), frames);
    sse.push('\n\n', frames);
    for (const frame of frames) {
      if (frame.data === '[DONE]') {
        done = true;
        break;
      }
      if (frameEvents(frame, scrub, events)) finished = true;
      for (const event of events) yield calls.fill(event);
      events.length = 0;
    }
    // Without `[DONE]` or a finish reason, the answer may be cut short: say so, do not pass it.
    if (!done && !finished) throw new Error('the upstream stream ended before [DONE]');
    calls.check();
  } finally {
    timer.clear();
    // Stops the upstream download when the engine stops reading (a halt, a client that left).
    reader.cancel().catch(() => undefined);
  }
}

/**
 * The ids and names of a stream's tool calls: a call whose first fragment has no id gets one (the
 * client answers the call by it), and a call that never got a name fails the stream.
 */
class CallIds {
  readonly #named = new Map<number, boolean>();

  fill(event: ReplyEvent): ReplyEvent {
    if (event.type !== 'tool_call') return event;
    const named = this.#named.get(event.index);
    if (named === undefined) {
      this.#named.set(event.index, event.name !== undefined);
      return event.id === undefined ? { ...event, id: `call_${event.index}` } : event;
    }
    if (!named && event.name !== undefined) this.#named.set(event.index, true);
    // The id given with the first fragment stands.
    if (event.id === undefined) return event;
    const { id: _id, ...rest } = event;
    return rest;
  }

  check(): void {
    for (const [index, named] of this.#named) {
      if (!named) throw new MalformedStream(`the upstream's tool call ${index} has no name`);
    }
  }
}

/** Appends the frame's events; true when it carries a finish reason. */
function frameEvents(frame: SseEvent, scrub: (text: string) => string, out: ReplyEvent[]): boolean {
  let json: unknown;
  try {
    json = JSON.parse(frame.data);
  } catch {
    throw new MalformedStream(
      `malformed SSE frame from the upstream (not JSON): ${JSON.stringify(frame.data.slice(0, 80))}`,
    );
  }
  if (typeof json !== 'object' || json === null) {
    throw new MalformedStream('malformed SSE frame from the upstream (not an object)');
  }
  const record = json as Record<string, unknown>;
  if (record.error !== undefined || frame.event === 'error') {
    throw new Error(scrub(`the upstream sent an error event: ${errorMessageOf(frame.data)}`));
  }
  try {
    return chunkEvents(record, out) !== null;
  } catch (error) {
    if (error instanceof MalformedAnswer) throw new MalformedStream(error.message);
    throw error;
  }
}

/** A one-line reason from an upstream error body (OpenAI shape, else its first line). */
function errorMessageOf(text: string): string {
  try {
    const json = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    const error = json.error;
    if (typeof error === 'string') return oneLine(error);
    if (typeof error?.message === 'string') return oneLine(error.message);
    if (typeof json.message === 'string') return oneLine(json.message);
  } catch {
    // Not JSON: the text itself.
  }
  return text === '' ? 'no error message' : oneLine(text);
}

function oneLine(text: string): string {
  return text.split('\n', 1)[0]!.slice(0, 200);
}

/** `Retry-After-Ms`, else `Retry-After` (seconds or an HTTP date), else exponential backoff. */
export function retryDelay(headers: HeaderReader, retry: number, now = Date.now()): number {
  return retryAfterMs(headers, now) ?? BASE_BACKOFF_MS * 2 ** retry;
}

/** How long an answer asks the client to wait (`retry-after-ms`, `retry-after`), if it does. */
export function retryAfterMs(headers: HeaderReader, now = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms);
  const after = headers.get('retry-after');
  if (after !== null) {
    const seconds = Number(after);
    if (after.trim() !== '' && Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(after);
    if (Number.isFinite(date)) return Math.max(0, date - now);
  }
  return undefined;
}

async function boundedText(response: Response, limit: number): Promise<string> {
  const body = response.body;
  if (body === null) return '';
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
  return text.slice(0, limit);
}

interface HeaderReader {
  get(name: string): string | null;
}

interface ChunkReader {
  read(): Promise<{ done: boolean; value?: Uint8Array | undefined }>;
  cancel(): Promise<unknown>;
}

/** One upstream answer, whichever client fetched it. */
interface UpstreamAnswer extends HeaderReader {
  readonly status: number;
  /** Drops the body (before a retry). */
  discard(): void;
  /** At most `limit` characters of the body. */
  text(limit: number): Promise<string>;
  /** The body as JSON; throws `AnswerTooLarge` past `limit` bytes (and stops reading). */
  json(limit: number): Promise<unknown>;
  /** The body's chunks; null when there is no body. */
  reader(): ChunkReader | null;
}

type Send = (
  body: string,
  accept: string,
  callSignal: AbortSignal,
  timer: IdleTimer,
) => Promise<UpstreamAnswer>;

function fetchSend(doFetch: typeof fetch, url: string, headers: Record<string, string>): Send {
  return async (body, accept, callSignal, timer) => {
    const response = await doFetch(url, {
      method: 'POST',
      headers: { ...headers, accept },
      body,
      signal: AbortSignal.any([callSignal, timer.signal]),
    });
    return {
      status: response.status,
      get: (name) => response.headers.get(name),
      discard: () => void response.body?.cancel().catch(() => undefined),
      text: (limit) => boundedText(response, limit),
      json: async (limit) => {
        const reader = response.body?.getReader();
        if (reader === undefined) throw new SyntaxError('no body');
        const chunks: Uint8Array[] = [];
        let size = 0;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          size += value.byteLength;
          if (size > limit) {
            await reader.cancel().catch(() => undefined);
            throw new AnswerTooLarge(limit);
          }
          chunks.push(value);
        }
        return JSON.parse(Buffer.concat(chunks, size).toString('utf8'));
      },
      reader: () => response.body?.getReader() ?? null,
    };
  };
}

/**
 * The built-in client: `node:http(s)` over one keep-alive agent per provider, the body sent as
 * one string with its length. The call's abort and the idle timer destroy the request (and its
 * response), which closes the upstream socket at once.
 */
function nodeSend(url: string, headers: Record<string, string>): Send {
  const target = new URL(url);
  const https = target.protocol === 'https:';
  const agent = https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const request = https ? httpsRequest : httpRequest;
  const attempt = (
    body: string,
    accept: string,
    callSignal: AbortSignal,
    timer: IdleTimer,
    mayResend: boolean,
  ): Promise<UpstreamAnswer> =>
    new Promise((resolve, reject) => {
      let res: IncomingMessage | undefined;
      const req = request(target, {
        method: 'POST',
        agent,
        headers: { ...headers, accept, 'content-length': Buffer.byteLength(body) },
      });
      const kill = (reason: Error) => {
        req.destroy(reason);
        res?.destroy(reason);
      };
      const onAbort = () => kill(abortError(callSignal));
      const detach = () => callSignal.removeEventListener('abort', onAbort);
      callSignal.addEventListener('abort', onAbort, { once: true });
      timer.onFire = () => kill(new UpstreamTimeout(timer.ms));
      req.on('error', (error: Error & { code?: string }) => {
        detach();
        if (res !== undefined) return;
        // A kept-alive socket the upstream closed meanwhile: send once more on a fresh one.
        if (
          mayResend &&
          req.reusedSocket &&
          error.code === 'ECONNRESET' &&
          !callSignal.aborted &&
          !timer.fired
        ) {
          resolve(attempt(body, accept, callSignal, timer, false));
          return;
        }
        reject(error);
      });
      req.once('response', (response) => {
        res = response;
        // Errors reach whoever reads the body; an unread body must not crash the process.
        response.on('error', () => undefined);
        response.once('close', detach);
        resolve(nodeAnswer(response, timer));
      });
      req.end(body);
    });
  return (body, accept, callSignal, timer) => attempt(body, accept, callSignal, timer, true);
}

function nodeAnswer(res: IncomingMessage, timer: IdleTimer): UpstreamAnswer {
  return {
    status: res.statusCode ?? 0,
    get: (name) => {
      const value = res.headers[name];
      return typeof value === 'string' ? value : null;
    },
    discard: () => void res.destroy(),
    text: async (limit) => {
      const decoder = new TextDecoder();
      let text = '';
      for await (const chunk of res) {
        text += decoder.decode(chunk as Buffer, { stream: true });
        if (text.length >= limit) break;
      }
      return text.slice(0, limit);
    },
    json: async (limit) => {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res) {
        timer.arm();
        size += (chunk as Buffer).byteLength;
        if (size > limit) {
          res.destroy();
          throw new AnswerTooLarge(limit);
        }
        chunks.push(chunk as Buffer);
      }
      return JSON.parse(
        chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'),
      );
    },
    reader: () => {
      const chunks = res[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
      return {
        read: () => chunks.next() as Promise<{ done: boolean; value?: Uint8Array }>,
        cancel: async () => {
          if (!res.complete) res.destroy();
        },
      };
    },
  };
}

/** Past `maxResponseBytes`: the answer is not read further. */
class AnswerTooLarge extends Error {
  constructor(limit: number) {
    super(`the upstream's answer is over ${limit} bytes (maxResponseBytes)`);
    this.name = 'AnswerTooLarge';
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A timeout re-armed before each wait, so it bounds silence rather than a whole stream. */
class IdleTimer {
  readonly ms: number;
  #controller: AbortController | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  fired = false;
  /** Called once when the timer fires (the node client destroys its request with it). */
  onFire: (() => void) | undefined;

  constructor(ms: number) {
    this.ms = ms;
    this.arm();
  }

  /** Aborts when the timer fires (the fetch client's signal); made on first use. */
  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    if (this.fired) this.#controller.abort(new UpstreamTimeout(this.ms));
    return this.#controller.signal;
  }

  get message(): string {
    return `the upstream sent nothing for ${this.ms} ms`;
  }

  arm(): void {
    if (this.#timer !== undefined) this.#timer.refresh();
    else
      this.#timer = setTimeout(() => {
        this.fired = true;
        this.#controller?.abort(new UpstreamTimeout(this.ms));
        this.onFire?.();
      }, this.ms);
  }

  clear(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }
}

function aborted(signal: AbortSignal): ModelReply {
  return {
    kind: 'error',
    status: 'aborted',
    message: `the call was aborted: ${causeOf(signal.reason)}`,
  };
}

function abortError(signal: AbortSignal): Error {
  return new Error(`the call was aborted: ${causeOf(signal.reason)}`);
}

function causeOf(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw new GatewayError('invalid_option', `openAICompatible: ${name} must be a positive number`);
  }
  return value;
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) {
    throw new GatewayError(
      'invalid_option',
      `openAICompatible: ${name} must be a non-negative integer`,
    );
  }
  return value;
}
