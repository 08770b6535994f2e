import {
  type Caller,
  type EngineResult,
  type HandleOptions,
  InvalidRequestError,
  WardwrightError,
} from '@wardwright/core';
import { bodyTooLargeMessage } from '../bridge/errors.ts';
import { type GatewayContext, RECEIPT_HEADER } from '../context.ts';
import { DEADLINE_HEADER } from '../deadline.ts';
import { readBody } from '../http/body.ts';
import {
  countFailure,
  countResult,
  FAILURE_DOMAIN_HEADER,
  failureDomainHeader,
  failureDomainOf,
  type ModelRuntime,
} from '../runtime.ts';
import { callerOf, sessionIdProblem } from '../session.ts';
import { errorBody, errorResponse, errorTypeOf, jsonResponse } from './errors.ts';
import {
  answerOf,
  ChunkFrames,
  completionBody,
  completionId,
  DONE_FRAME,
  errorFrame,
  SSE_HEADERS,
  wireUsage,
} from './responses.ts';
import { type ChatCompletionBody, chatCompletionBody } from './schema.ts';

/**
 * `POST /v1/chat/completions`: read and check the body, find the governed model, run its engine,
 * and answer as OpenAI does — one `chat.completion`, or `chat.completion.chunk` SSE frames as the
 * engine releases text. A stream's status is decided by what happens first: a failure before any
 * text is released is an ordinary JSON error with its own status (403, 422, …); once text has
 * gone out the status is 200 and a failure ends the stream with a terminal error frame.
 */

const encoder = new TextEncoder();

type Parsed =
  | { kind: 'ok'; body: ChatCompletionBody; runtime: ModelRuntime }
  | { kind: 'rejected'; response: Response };

export async function chatCompletions(ctx: GatewayContext, request: Request): Promise<Response> {
  if (ctx.draining) return shuttingDown(ctx);
  const parsed = await parseChat(ctx, request);
  if (parsed.kind === 'rejected') return parsed.response;
  const { body } = parsed;
  // Looked up again with no await before `track` holds it: a version swapped in while the body
  // was read serves this request, and the one it replaced cannot close under it.
  const runtime = ctx.models.get(parsed.runtime.id) ?? parsed.runtime;
  const deadline = deadlineOf(ctx, request.headers);
  if (typeof deadline === 'string') {
    runtime.counters.rejected++;
    return errorResponse(400, deadline, 'invalid_request', { param: DEADLINE_HEADER });
  }
  const { from, ...caller } = callerOf(request.headers, ctx.sessionHeader, body);
  const tooLong = sessionIdProblem({ ...caller, ...(from === undefined ? {} : { from }) });
  if (tooLong !== undefined) {
    runtime.counters.rejected++;
    return errorResponse(400, tooLong, 'invalid_request', { param: from ?? null });
  }
  if (caller.session_id !== undefined) {
    ctx.sessions.touch(caller.session_id, runtime.id, ctx.clock.now());
  }
  runtime.counters.requests++;
  runtime.requests++;
  return body.stream === true
    ? streamChat(ctx, request, runtime, body, caller, deadline)
    : wholeChat(ctx, request, runtime, body, caller, deadline);
}

/** When this request must be over (engine clock): the gateway's limit, or less if asked. */
function deadlineOf(ctx: GatewayContext, headers: Headers): number | string {
  const asked = headers.get(DEADLINE_HEADER);
  let ms = ctx.deadlineMs;
  if (asked !== null) {
    const value = Number(asked);
    if (asked.trim() === '' || !Number.isSafeInteger(value) || value < 1) {
      return `${DEADLINE_HEADER} must be a positive integer of milliseconds, not ${JSON.stringify(asked.slice(0, 40))}`;
    }
    ms = Math.min(ms, value);
  }
  return ctx.clock.now() + ms;
}

/** The gateway is stopping: this one is not started (a retry, elsewhere or later, can help). */
function shuttingDown(ctx: GatewayContext): Response {
  return errorResponse(
    503,
    'the gateway is shutting down; retry on another instance or later',
    'shutting_down',
    {
      headers: { 'retry-after': ctx.retryAfter, connection: 'close' },
    },
  );
}

/**
 * Runs one engine call, counted as in flight on its version (which stays open until it ends)
 * and awaited by `close()` until it settles.
 */
function track<T>(ctx: GatewayContext, runtime: ModelRuntime, run: () => Promise<T>): Promise<T> {
  runtime.counters.in_flight++;
  ctx.registry.hold(runtime);
  let running: Promise<T>;
  try {
    running = run();
  } catch (error) {
    running = Promise.reject(error);
  }
  ctx.inflight.add(running);
  const done = () => {
    runtime.counters.in_flight--;
    ctx.registry.release(runtime);
    ctx.inflight.delete(running);
  };
  running.then(done, done);
  return running;
}

function isStoreFailure(error: unknown): error is WardwrightError {
  return WardwrightError.isInstance(error) && error.code === 'store_failed';
}

/** A store failed a write: counted against the model, reported, and nothing acknowledged. */
function countStoreFailure(
  ctx: GatewayContext,
  runtime: ModelRuntime,
  error: WardwrightError,
): void {
  countFailure(
    runtime.counters,
    ctx.sessions,
    {
      scope: 'model',
      cause: 'store',
      model: { id: runtime.id, version: runtime.version },
      session_id: null,
      detail: error.message.slice(0, 200),
    },
    ctx.clock.now(),
    null,
  );
  ctx.onError(error, 'chat completion: a store failed a write');
}

/** 503: the request failed closed, its answer withheld; retrying later (or elsewhere) may work. */
function storeFailedResponse(
  ctx: GatewayContext,
  runtime: ModelRuntime,
  error: WardwrightError,
): Response {
  countStoreFailure(ctx, runtime, error);
  return errorResponse(503, error.message, 'store_failed', {
    headers: { 'retry-after': ctx.retryAfter },
  });
}

/** The engine threw (not a verdict on the request): the model's plan is failing. */
function planFailed(ctx: GatewayContext, runtime: ModelRuntime, error: unknown): void {
  countFailure(
    runtime.counters,
    ctx.sessions,
    {
      scope: 'model',
      cause: 'plan',
      model: { id: runtime.id, version: runtime.version },
      session_id: null,
      detail: error instanceof Error ? error.message.slice(0, 200) : String(error).slice(0, 200),
    },
    ctx.clock.now(),
    null,
  );
}

async function parseChat(ctx: GatewayContext, request: Request): Promise<Parsed> {
  const read = await readBody(request, ctx.maxBodyBytes);
  switch (read.kind) {
    case 'too_large':
      return rejected(errorResponse(413, bodyTooLargeMessage(read.limit), 'request_too_large'));
    case 'unreadable':
      return rejected(
        errorResponse(400, `the body could not be read: ${read.message}`, 'invalid_body'),
      );
    case 'ok':
      break;
  }
  let value: unknown;
  try {
    value = JSON.parse(read.text);
  } catch (error) {
    return rejected(
      errorResponse(
        400,
        `the body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
        'invalid_json',
      ),
    );
  }
  if (!chatCompletionBody.check(value)) {
    const issue = chatCompletionBody.issue(value);
    return rejected(
      errorResponse(400, `${issue.param || 'body'}: ${issue.message}`, 'invalid_request', {
        param: issue.param || null,
      }),
    );
  }
  const runtime = ctx.models.get(value.model);
  if (runtime === undefined) {
    return rejected(
      errorResponse(
        404,
        `The model \`${value.model}\` does not exist on this gateway; governed models: ${ctx.modelList}`,
        'model_not_found',
        { param: 'model' },
      ),
    );
  }
  if (!ctx.auth.model(request.headers.get('authorization'), runtime.id)) {
    runtime.counters.rejected++;
    return rejected(unauthorized());
  }
  return { kind: 'ok', body: value, runtime };
}

function rejected(response: Response): Parsed {
  return { kind: 'rejected', response };
}

export function unauthorized(): Response {
  return errorResponse(
    401,
    'missing or invalid API key (Authorization: Bearer …)',
    'invalid_api_key',
    {
      headers: { 'www-authenticate': 'Bearer' },
    },
  );
}

/** The engine's verdict on a malformed request, as the 400 naming the first field. */
function invalidRequest(error: InvalidRequestError): Response {
  const issue = error.issues[0];
  // An issue with the whole body (its depth) names no field.
  const param = issue === undefined ? null : issue.path.replace(/^request\.?/, '') || null;
  return errorResponse(
    400,
    issue === undefined
      ? error.message
      : param === null
        ? `the request ${issue.message}`
        : `${param}: ${issue.message}`,
    'invalid_request',
    { param },
  );
}

function failureHeaders(result: EngineResult, retryAfter: string): Record<string, string> {
  const headers: Record<string, string> = { [RECEIPT_HEADER]: result.receipt.receipt_id };
  if (result.http_status === 503) headers['retry-after'] = retryAfter;
  if (result.status === 'provider_rate_limited') {
    // The upstream's own wait, passed on (whole seconds, rounded up).
    const asked = result.receipt.attempts.at(-1)?.error?.retry_after_ms;
    if (asked !== undefined) headers['retry-after'] = String(Math.ceil(asked / 1000));
  }
  const domain = failureDomainOf(result.receipt);
  if (domain !== null) headers[FAILURE_DOMAIN_HEADER] = failureDomainHeader(domain);
  return headers;
}

/** A request that ended without an answer, before any byte was sent: an OpenAI error. */
function failureResponse(ctx: GatewayContext, result: EngineResult): Response {
  return errorResponse(result.http_status, failureMessage(result), result.status, {
    headers: failureHeaders(result, ctx.retryAfter),
    // Where OpenAI names the field at fault, so do we: the prompt is in `messages`.
    param: result.status === 'context_length_exceeded' ? 'messages' : null,
  });
}

function failureMessage(result: EngineResult): string {
  return result.message ?? `the request ended with status ${result.status}`;
}

async function wholeChat(
  ctx: GatewayContext,
  request: Request,
  runtime: ModelRuntime,
  body: ChatCompletionBody,
  caller: Caller,
  deadline: number,
): Promise<Response> {
  let result: EngineResult;
  try {
    result = await track(ctx, runtime, () =>
      runtime.engine.handle(body, {
        caller,
        signal: request.signal,
        shutdown: ctx.shutdown.signal,
        deadline_at_ms: deadline,
      }),
    );
  } catch (error) {
    if (InvalidRequestError.isInstance(error)) {
      runtime.counters.rejected++;
      return invalidRequest(error);
    }
    if (isStoreFailure(error)) return storeFailedResponse(ctx, runtime, error);
    planFailed(ctx, runtime, error);
    throw error;
  }
  countResult(runtime.counters, result.receipt);
  if (result.http_status !== 200) return failureResponse(ctx, result);
  const text = result.text ?? '';
  return jsonResponse(
    completionBody(
      completionId(),
      Math.floor(ctx.clock.now() / 1000),
      runtime.id,
      text,
      answerOf(result),
    ),
    200,
    { [RECEIPT_HEADER]: result.receipt.receipt_id },
  );
}

/**
 * Writes a stream's receipt id to the pending journal before the id goes out. Without a
 * journal the id is sent as it is (the receipt follows when the stream ends); if the journal
 * fails a write, the id is not sent — a client must never hold an id that cannot resolve.
 */
function promise(
  ctx: GatewayContext,
  runtime: ModelRuntime,
  receipt_id: string,
  caller: Caller,
): boolean {
  if (ctx.pending === undefined) return true;
  try {
    ctx.pending.begin({
      receipt_id,
      model: { id: runtime.id, version: runtime.version },
      session_id: caller.session_id ?? null,
      created_at_ms: ctx.clock.now(),
    });
    return true;
  } catch (error) {
    ctx.onError(error, 'chat completion: the pending-receipt journal failed a write');
    return false;
  }
}

/** Thrown into the engine from `onRelease` when the client's stream is gone. */
class StreamClosed extends Error {}

async function streamChat(
  ctx: GatewayContext,
  request: Request,
  runtime: ModelRuntime,
  body: ChatCompletionBody,
  caller: Caller,
  deadline: number,
): Promise<Response> {
  const frames = new ChunkFrames(completionId(), Math.floor(ctx.clock.now() / 1000), runtime.id);
  const includeUsage = body.stream_options?.include_usage === true;
  // The engine's signal: the client going away (request signal or a cancelled body) aborts it.
  const abort = new AbortController();
  const onClientAbort = () => abort.abort(request.signal.reason);
  if (request.signal.aborted) abort.abort(request.signal.reason);
  else request.signal.addEventListener('abort', onClientAbort, { once: true });

  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  let waiting: (() => void) | undefined;
  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      pull() {
        const resume = waiting;
        waiting = undefined;
        resume?.();
      },
      cancel(reason) {
        closed = true;
        abort.abort(reason ?? 'the client cancelled the stream');
        const resume = waiting;
        waiting = undefined;
        resume?.();
      },
    },
    // Frames are counted, not measured: a few in flight is enough to keep the socket busy.
    { highWaterMark: 8 },
  );

  let started = false;
  let receiptId: string | undefined;
  let respond!: (response: Response) => void;
  const first = new Promise<Response>((resolve) => {
    respond = resolve;
  });
  const write = (frame: string): void => {
    controller.enqueue(encoder.encode(frame));
  };
  const onRelease: HandleOptions['onRelease'] = (text) => {
    if (closed) throw new StreamClosed();
    if (!started) {
      started = true;
      write(frames.role());
      // Headers go out with the first released text, the receipt id among them (the engine
      // tells it before any rule runs) — promised in the store's journal first, so the id
      // resolves even if the process dies before the receipt is written.
      const promised = receiptId !== undefined && promise(ctx, runtime, receiptId, caller);
      respond(
        new Response(stream, {
          status: 200,
          headers: promised ? { ...SSE_HEADERS, [RECEIPT_HEADER]: receiptId! } : SSE_HEADERS,
        }),
      );
    }
    write(frames.content(text));
    if ((controller.desiredSize ?? 1) > 0) return;
    return new Promise<void>((resolve) => {
      waiting = resolve;
    }).then(() => {
      if (closed) throw new StreamClosed();
    });
  };

  const finish = (result: EngineResult): void => {
    request.signal.removeEventListener('abort', onClientAbort);
    countResult(runtime.counters, result.receipt);
    const receipt_id = result.receipt.receipt_id;
    if (!started) {
      respond(unstartedStream(ctx, frames, result, includeUsage));
      return;
    }
    if (closed) return;
    try {
      if (result.http_status === 200) {
        const answer = answerOf(result);
        write(frames.end(answer, receipt_id));
        if (includeUsage) write(frames.usage(wireUsage(answer)));
      } else {
        write(
          errorFrame({
            ...errorBody(failureMessage(result), errorTypeOf(result.http_status), result.status),
            wardwright: {
              receipt_id,
              http_status: result.http_status,
              failure_domain: failureDomainOf(result.receipt),
            },
          }),
        );
      }
      write(DONE_FRAME);
      controller.close();
    } catch {
      // The client left between the last check and now: nothing to tell it.
    }
  };
  const fail = (error: unknown): void => {
    request.signal.removeEventListener('abort', onClientAbort);
    if (!started) {
      if (InvalidRequestError.isInstance(error)) {
        runtime.counters.rejected++;
        respond(invalidRequest(error));
        return;
      }
      if (isStoreFailure(error)) {
        respond(storeFailedResponse(ctx, runtime, error));
        return;
      }
      planFailed(ctx, runtime, error);
      ctx.onError(error, 'chat completion');
      respond(errorResponse(500, 'internal gateway error', 'internal_error'));
      return;
    }
    const storeFailure = isStoreFailure(error);
    if (storeFailure) countStoreFailure(ctx, runtime, error);
    else {
      planFailed(ctx, runtime, error);
      ctx.onError(error, 'chat completion stream');
    }
    if (closed) return;
    try {
      write(
        errorFrame(
          storeFailure
            ? errorBody((error as Error).message, 'server_error', 'store_failed')
            : errorBody('internal gateway error', 'server_error', 'internal_error'),
        ),
      );
      write(DONE_FRAME);
      controller.close();
    } catch {
      // Already closed by the client.
    }
  };
  void track(ctx, runtime, () =>
    runtime.engine.handle(body, {
      caller,
      signal: abort.signal,
      shutdown: ctx.shutdown.signal,
      deadline_at_ms: deadline,
      onRelease,
      onReceiptId: (id) => {
        receiptId = id;
      },
    }),
  ).then(finish, fail);
  return first;
}

/** The engine finished before releasing any text: the status is still ours to choose. */
function unstartedStream(
  ctx: GatewayContext,
  frames: ChunkFrames,
  result: EngineResult,
  includeUsage: boolean,
): Response {
  const receipt_id = result.receipt.receipt_id;
  if (result.http_status !== 200) return failureResponse(ctx, result);
  // A complete answer that released nothing (an empty one): still a well-formed stream.
  const text = result.text ?? '';
  let out = frames.role();
  if (text !== '') out += frames.content(text);
  const answer = answerOf(result);
  out += frames.end(answer, receipt_id);
  if (includeUsage) out += frames.usage(wireUsage(answer));
  out += DONE_FRAME;
  return new Response(out, {
    status: 200,
    headers: { ...SSE_HEADERS, [RECEIPT_HEADER]: receipt_id },
  });
}
