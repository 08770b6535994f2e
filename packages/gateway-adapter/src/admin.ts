import { createHash } from 'node:crypto';
import { simulate, WardwrightError } from '@wardwright/core';
import { bodyTooLargeMessage } from './bridge/errors.ts';
import type { GatewayContext } from './context.ts';
import { readBody } from './http/body.ts';
import { unauthorized } from './openai/chat.ts';
import { errorResponse, jsonResponse } from './openai/errors.ts';
import { SSE_HEADERS } from './openai/responses.ts';
import { simulateBody } from './openai/schema.ts';
import { modelSnapshot, type RuntimeSnapshot } from './runtime.ts';

/**
 * `GET /v1/models` and the `/v1/wardwright/*` routes: simulation, receipts, runtime and the
 * event stream. None of them is on the model-call hot path.
 */

export function listModels(ctx: GatewayContext, request: Request): Response {
  const allowed = ctx.auth.modelsFor(request.headers.get('authorization'), [...ctx.models.keys()]);
  if (allowed !== null && allowed.length === 0) return unauthorized();
  const created = Math.floor(ctx.startedAt / 1000);
  const data = [];
  for (const runtime of ctx.models.values()) {
    if (allowed !== null && !allowed.includes(runtime.id)) continue;
    data.push({
      id: runtime.id,
      object: 'model',
      created,
      owned_by: 'wardwright',
      wardwright: { version: runtime.version, artifact_hash: runtime.plan.artifact_hash },
    });
  }
  return jsonResponse({ object: 'list', data });
}

export async function simulateRoute(ctx: GatewayContext, request: Request): Promise<Response> {
  const read = await readBody(request, ctx.maxBodyBytes);
  if (read.kind === 'too_large') {
    return errorResponse(413, bodyTooLargeMessage(read.limit), 'request_too_large');
  }
  if (read.kind === 'unreadable') {
    return errorResponse(400, `the body could not be read: ${read.message}`, 'invalid_body');
  }
  let value: unknown;
  try {
    value = JSON.parse(read.text);
  } catch {
    return errorResponse(400, 'the body is not valid JSON', 'invalid_json');
  }
  if (!simulateBody.check(value)) {
    const issue = simulateBody.issue(value);
    return errorResponse(400, `${issue.param || 'body'}: ${issue.message}`, 'invalid_request', {
      param: issue.param || null,
    });
  }
  const runtime = ctx.models.get(value.model);
  if (runtime === undefined) {
    return errorResponse(
      404,
      `The model \`${value.model}\` does not exist on this gateway; governed models: ${ctx.modelList}`,
      'model_not_found',
      { param: 'model' },
    );
  }
  // Held like a request, so a version replaced meanwhile keeps its plan until this ends.
  ctx.registry.hold(runtime);
  try {
    // The model's own plan with a scripted provider and a manual clock: nothing is stored.
    const result = await simulate(runtime.plan, value.fixture);
    return jsonResponse(result);
  } catch (error) {
    if (WardwrightError.isInstance(error)) {
      return errorResponse(400, error.message, error.code, { param: 'fixture' });
    }
    throw error;
  } finally {
    ctx.registry.release(runtime);
  }
}

const QUERY_PARAMS = new Set(['model', 'session', 'status', 'since', 'until', 'limit', 'cursor']);

export async function listReceipts(ctx: GatewayContext, url: URL): Promise<Response> {
  const query: Record<string, string | number> = {};
  let cursor: string | undefined;
  for (const [key, value] of url.searchParams) {
    if (!QUERY_PARAMS.has(key)) {
      return errorResponse(
        400,
        `unknown query parameter \`${key}\` (known: ${[...QUERY_PARAMS].join(', ')})`,
        'invalid_request',
        { param: key },
      );
    }
    switch (key) {
      case 'model':
        query.model_id = value;
        break;
      case 'session':
        query.session_id = value;
        break;
      case 'status':
        query.status = value;
        break;
      case 'cursor':
        cursor = value;
        break;
      case 'limit': {
        const limit = Number(value);
        if (value === '' || !Number.isInteger(limit)) {
          return errorResponse(400, 'limit must be an integer', 'invalid_request', {
            param: 'limit',
          });
        }
        query.limit = limit;
        break;
      }
      case 'since':
      case 'until': {
        const ms = timeOf(value);
        if (ms === undefined) {
          return errorResponse(
            400,
            `${key} must be milliseconds since the epoch or an ISO 8601 date`,
            'invalid_request',
            { param: key },
          );
        }
        query[key === 'since' ? 'since_ms' : 'until_ms'] = ms;
        break;
      }
    }
  }
  const filters = filterDigest(query);
  if (cursor !== undefined) {
    const dot = cursor.lastIndexOf('.');
    if (dot === -1) {
      return badCursor(
        'cursor is not a cursor returned by this gateway (pass `next_cursor` as is)',
      );
    }
    if (cursor.slice(dot + 1) !== filters) {
      return badCursor(
        'cursor was issued for different filters: page on with the model, session, status, since and until it was issued with, or start again without a cursor',
      );
    }
    query.cursor = cursor.slice(0, dot);
  }
  try {
    const page = await ctx.receipts.list(query);
    return jsonResponse({
      object: 'list',
      data: page.receipts,
      next_cursor: page.next_cursor === null ? null : `${page.next_cursor}.${filters}`,
    });
  } catch (error) {
    // The store checks the query (limit range, a cursor it did not issue): its words are the 400.
    if (WardwrightError.isInstance(error) && error.code === 'invalid_argument') {
      return errorResponse(400, error.message, 'invalid_request');
    }
    throw error;
  }
}

/**
 * The filters a cursor is bound to, as a short digest: the store's position plus this digest is
 * the cursor a client sees, so a cursor passed with other filters (another model's receipts) is
 * refused instead of paging them from the wrong place. `limit` may change from page to page.
 * Times are bound as milliseconds, so an ISO date and its epoch value are the same filter.
 */
function filterDigest(query: Readonly<Record<string, string | number>>): string {
  const filters = ['model_id', 'session_id', 'status', 'since_ms', 'until_ms'].map(
    (key) => query[key] ?? null,
  );
  return createHash('sha256').update(JSON.stringify(filters)).digest('base64url').slice(0, 16);
}

function badCursor(message: string): Response {
  return errorResponse(400, message, 'invalid_request', { param: 'cursor' });
}

function timeOf(value: string): number | undefined {
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

/** `id` is the path segment as sent, still percent-encoded. */
export async function getReceipt(ctx: GatewayContext, id: string): Promise<Response> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(id);
  } catch {
    return errorResponse(
      400,
      `the receipt id in the path is not valid percent-encoding: \`${shown(id)}\``,
      'invalid_request',
    );
  }
  const receipt = await ctx.receipts.get(decoded);
  if (receipt !== undefined) return jsonResponse(receipt);
  // Promised to a client before it was written: still being decided, or its process died.
  const pending = ctx.pending?.get(decoded);
  if (pending !== undefined) {
    return jsonResponse({
      object: 'wardwright.pending_receipt',
      ...pending,
      final: { status: pending.status },
    });
  }
  return errorResponse(404, `no receipt \`${shown(decoded)}\` in the store`, 'receipt_not_found');
}

/** An id as a message quotes it: at most 200 characters. */
function shown(id: string): string {
  return id.length > 200 ? `${id.slice(0, 200)}…` : id;
}

export function runtimeSnapshot(ctx: GatewayContext): RuntimeSnapshot {
  const now = ctx.clock.now();
  return {
    started_at_ms: ctx.startedAt,
    uptime_ms: now - ctx.startedAt,
    models: [...ctx.models.values()].map((runtime) =>
      modelSnapshot(runtime, ctx.registry.draining(runtime.id), ctx.clock.now()),
    ),
    sessions: ctx.sessions.snapshot(),
    events: { subscribers: ctx.events.size },
  };
}

const encoder = new TextEncoder();
const HEARTBEAT = encoder.encode(': heartbeat\n\n');

/** SSE of `receipt`, `alert` and `runtime` events until the client leaves or the gateway closes. */
/**
 * Bytes an events subscriber may leave unread before it is dropped: a client that stops reading
 * must not make the gateway buffer without limit (the socket's own buffers come on top).
 */
export const MAX_UNREAD_EVENT_BYTES = 1024 * 1024;
/** A dropped subscriber gets this long to read what it was sent, then its stream is ended. */
const DROPPED_GRACE_MS = 2000;

export function eventStream(ctx: GatewayContext, request: Request): Response {
  let stop: (() => void) | undefined;
  const stream = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const unsubscribe = ctx.events.subscribe((frame) => {
          controller.enqueue(encoder.encode(frame));
          if ((controller.desiredSize ?? 0) > 0) return;
          // Too far behind: say why, stop sending, and free what it never read soon after.
          controller.enqueue(
            encoder.encode(
              `event: dropped\ndata: ${JSON.stringify({ reason: 'slow_subscriber', unread_bytes: MAX_UNREAD_EVENT_BYTES - (controller.desiredSize ?? 0), limit_bytes: MAX_UNREAD_EVENT_BYTES })}\n\n`,
            ),
          );
          stop?.();
          setTimeout(() => {
            try {
              controller.error(new Error('events subscriber dropped: too slow'));
            } catch {
              // Read to the end in time: nothing left to free.
            }
          }, DROPPED_GRACE_MS).unref?.();
        });
        const heartbeat = setInterval(() => {
          try {
            controller.enqueue(HEARTBEAT);
          } catch {
            stop?.();
          }
        }, ctx.heartbeatMs);
        heartbeat.unref?.();
        stop = () => {
          stop = undefined;
          unsubscribe();
          clearInterval(heartbeat);
          request.signal.removeEventListener('abort', onAbort);
          ctx.closing.removeEventListener('abort', onAbort);
          try {
            controller.close();
          } catch {
            // Already cancelled by the client.
          }
        };
        const onAbort = () => stop?.();
        request.signal.addEventListener('abort', onAbort, { once: true });
        ctx.closing.addEventListener('abort', onAbort, { once: true });
        // A comment first, so proxies and clients see the stream open at once.
        controller.enqueue(encoder.encode(': wardwright events\n\n'));
        if (request.signal.aborted || ctx.closing.aborted) stop();
      },
      cancel() {
        stop?.();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: MAX_UNREAD_EVENT_BYTES }),
  );
  return new Response(stream, { status: 200, headers: SSE_HEADERS });
}
