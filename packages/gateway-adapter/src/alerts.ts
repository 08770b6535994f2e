import type { AlertDeadLetter, AlertQueue } from '@wardwright/core';
import { bodyTooLargeMessage } from './bridge/errors.ts';
import type { GatewayContext } from './context.ts';
import {
  type AlertRecord,
  DEFAULT_ALERT_LIST_LIMIT,
  type GatewayAlertStore,
  MAX_ALERT_LIST_LIMIT,
  outboxEntryOf,
} from './durable/alert-records.ts';
import { readBody } from './http/body.ts';
import { errorResponse, jsonResponse } from './openai/errors.ts';
import type { ModelRuntime } from './runtime.ts';

/**
 * Alerts beyond one request: what a restarted gateway still owes (restored from the durable
 * outbox), what a replaced model version still held (handed to the new one), and the admin
 * routes over dead letters — listed, redriven — and an alert's fate by its receipt.
 */

/** A model that starts takes back what the outbox still owes on each of its sinks. */
export async function restoreOwed(
  runtime: ModelRuntime,
  store: GatewayAlertStore,
  now_ms: number,
): Promise<number> {
  const outbox = store.outboxFor(runtime.id);
  let restored = 0;
  for (const [sink, queue] of runtime.engine.alert_queues) {
    restored += countRestored(queue.restore(await outbox.pending(sink), now_ms));
  }
  return restored;
}

/**
 * A replaced version's queues stopped with alerts still waiting: the serving version takes them
 * (on the sinks it still has), so a reload loses none, durable store or not.
 */
export function handOver(from: ModelRuntime, to: ModelRuntime, now_ms: number): void {
  for (const [sink, old] of from.engine.alert_queues) {
    const queue = to.engine.alert_queues.get(sink);
    if (queue === undefined) continue;
    queue.restore(
      old.snapshot().queue.map((item) => ({
        sink,
        key: item.key,
        alert: item.alert,
        receipt_id: null,
        enqueued_at_ms: item.enqueued_at_ms,
        attempts: item.attempts,
        next_attempt_at_ms: item.next_attempt_at_ms,
      })),
      now_ms,
    );
  }
}

function countRestored(decisions: ReturnType<AlertQueue['restore']>): number {
  return decisions.filter((d) => d.kind === 'restore' && d.outcome === 'restored').length;
}

// ---------------------------------------------------------------------------------------------
// Admin routes
// ---------------------------------------------------------------------------------------------

interface Filter {
  model_id?: string;
  sink?: string;
  keys?: string[];
  limit: number;
}

const LIST_PARAMS = new Set(['model', 'sink', 'limit']);

/** `GET /v1/wardwright/alerts/dead-letters?model=&sink=&limit=`, newest first. */
export async function listDeadLetters(ctx: GatewayContext, url: URL): Promise<Response> {
  const filter: Filter = { limit: DEFAULT_ALERT_LIST_LIMIT };
  for (const [key, value] of url.searchParams) {
    if (!LIST_PARAMS.has(key)) {
      return badRequest(
        `unknown query parameter \`${key}\` (known: ${[...LIST_PARAMS].join(', ')})`,
        key,
      );
    }
    if (key === 'model') filter.model_id = value;
    else if (key === 'sink') filter.sink = value;
    else {
      const limit = Number(value);
      if (value === '' || !Number.isInteger(limit) || limit < 1 || limit > MAX_ALERT_LIST_LIMIT) {
        return badRequest(`limit must be an integer from 1 to ${MAX_ALERT_LIST_LIMIT}`, 'limit');
      }
      filter.limit = limit;
    }
  }
  const store = ctx.alerts;
  const data =
    store === undefined ? memoryDeadLetters(ctx, filter) : await store.deadLetters(filter);
  return jsonResponse({ object: 'list', durable: store !== undefined, data });
}

/**
 * `POST /v1/wardwright/alerts/redrive` with `{ model?, sink?, keys? }`: matching dead letters
 * are queued again (attempts from zero) on the serving version of their model. A durable store
 * records it first, so a redrive survives a restart too.
 */
export async function redrive(ctx: GatewayContext, request: Request): Promise<Response> {
  const read = await readBody(request, ctx.maxBodyBytes);
  if (read.kind === 'too_large') {
    return errorResponse(413, bodyTooLargeMessage(read.limit), 'request_too_large');
  }
  if (read.kind === 'unreadable') {
    return errorResponse(400, `the body could not be read: ${read.message}`, 'invalid_body');
  }
  const parsed = parseRedrive(read.text);
  if (typeof parsed === 'string') return badRequest(parsed, null);
  const now = ctx.clock.now();
  const store = ctx.alerts;
  let data: AlertRecord[];
  if (store !== undefined) {
    data = await store.redrive(parsed, now);
    for (const record of data) {
      ctx.models
        .get(record.model_id)
        ?.engine.alert_queues.get(record.sink)
        ?.restore([outboxEntryOf(record)], now);
    }
  } else {
    data = memoryDeadLetters(ctx, { ...parsed, limit: MAX_ALERT_LIST_LIMIT });
    for (const record of data) {
      ctx.models
        .get(record.model_id)
        ?.engine.alert_queues.get(record.sink)
        ?.restore([{ ...outboxEntryOf(record), attempts: 0, next_attempt_at_ms: now }], now);
    }
  }
  return jsonResponse({ object: 'list', redriven: data.length, data });
}

/** `GET /v1/wardwright/receipts/:id/alerts`: each alert the request raised, as it stands now. */
export async function receiptAlerts(ctx: GatewayContext, receipt_id: string): Promise<Response> {
  const store = ctx.alerts;
  if (store === undefined) {
    return errorResponse(
      404,
      'alert records are kept only with a durable store (this gateway keeps alerts in memory); the receipt itself lists each alert as its queue decided it',
      'alert_records_unavailable',
    );
  }
  return jsonResponse({ object: 'list', data: await store.ofReceipt(receipt_id) });
}

function parseRedrive(text: string): Omit<Filter, 'limit'> | string {
  let body: unknown;
  try {
    body = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    return 'the body must be a JSON object: { "model"?: string, "sink"?: string, "keys"?: string[] }';
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return 'the body must be a JSON object: { "model"?: string, "sink"?: string, "keys"?: string[] }';
  }
  const out: Omit<Filter, 'limit'> = {};
  for (const [key, value] of Object.entries(body)) {
    switch (key) {
      case 'model':
      case 'sink':
        if (typeof value !== 'string' || value === '') return `${key} must be a non-empty string`;
        if (key === 'model') out.model_id = value;
        else out.sink = value;
        break;
      case 'keys':
        if (!Array.isArray(value) || value.some((k) => typeof k !== 'string')) {
          return 'keys must be an array of idempotency keys (strings)';
        }
        out.keys = value as string[];
        break;
      default:
        return `unknown field \`${key}\` (known: model, sink, keys)`;
    }
  }
  return out;
}

/** Without a durable store: the dead letters each serving queue still keeps in memory. */
function memoryDeadLetters(ctx: GatewayContext, filter: Filter): AlertRecord[] {
  const records: AlertRecord[] = [];
  for (const runtime of ctx.models.values()) {
    if (filter.model_id !== undefined && runtime.id !== filter.model_id) continue;
    for (const [sink, queue] of runtime.engine.alert_queues) {
      if (filter.sink !== undefined && sink !== filter.sink) continue;
      for (const letter of queue.snapshot().dead_letters) {
        if (filter.keys !== undefined && !filter.keys.includes(letter.key)) continue;
        records.push(recordOfLetter(runtime.id, sink, letter));
      }
    }
  }
  records.sort((a, b) => b.updated_at_ms - a.updated_at_ms);
  return records.slice(0, filter.limit);
}

function recordOfLetter(model_id: string, sink: string, letter: AlertDeadLetter): AlertRecord {
  return {
    model_id,
    sink,
    idempotency_key: letter.key,
    status: 'dead_lettered',
    receipt_id: null,
    alert: letter.alert,
    enqueued_at_ms: letter.dead_lettered_at_ms,
    attempts: letter.attempts,
    next_attempt_at_ms: letter.dead_lettered_at_ms,
    reason: letter.reason,
    error: letter.error ?? null,
    updated_at_ms: letter.dead_lettered_at_ms,
  };
}

function badRequest(message: string, param: string | null): Response {
  return errorResponse(400, message, 'invalid_request', { param });
}
