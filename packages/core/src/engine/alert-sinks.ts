import type { Alert } from '../decisions/alert-backpressure.ts';
import { WardwrightError } from '../errors/wardwright-error.ts';
import { hash64Hex } from '../util/hash.ts';
import { checkOptions, describeValue } from './receipt-store.ts';

/**
 * Alert sinks: where a delivery worker sends an alert. A sink makes one attempt per call;
 * retries, backoff and dead letters belong to the alert queue, so a sink only has to resolve
 * (delivered) or reject (this attempt failed, with a message worth keeping in a dead letter).
 */

export interface AlertDelivery {
  alert: Alert;
  model_id: string;
  model_version: string;
  /** This attempt, counting from 1. */
  attempt: number;
  /** Aborted when the queue stops; a sink should give up promptly. */
  signal: AbortSignal;
}

export interface AlertSink {
  readonly name: string;
  /** Resolve when delivered; throw or reject when this attempt failed. */
  deliver(delivery: AlertDelivery): Promise<void>;
  /**
   * Optional: deliver several alerts in one attempt (one write, one request), all or none —
   * resolve when every one is delivered, reject when the attempt failed (each is retried).
   * A queue hands a sink that has it every due alert at once, up to its `batch_max`.
   */
  deliverBatch?(deliveries: readonly AlertDelivery[]): Promise<void>;
}

export const ALERT_PAYLOAD_SCHEMA = 'wardwright.alert.v1';

/** What the webhook posts and the file sink writes, one per attempt. */
export interface AlertPayload {
  schema: typeof ALERT_PAYLOAD_SCHEMA;
  model: { id: string; version: string };
  attempt: number;
  alert: Alert;
}

export function alertPayload(delivery: AlertDelivery): AlertPayload {
  return {
    schema: ALERT_PAYLOAD_SCHEMA,
    model: { id: delivery.model_id, version: delivery.model_version },
    attempt: delivery.attempt,
    alert: delivery.alert,
  };
}

export const ALERT_BATCH_SCHEMA = 'wardwright.alert_batch.v1';

/** What a batching webhook posts: the payload of each alert, in queue order. */
export interface AlertBatchPayload {
  schema: typeof ALERT_BATCH_SCHEMA;
  alerts: AlertPayload[];
}

export function alertBatchPayload(deliveries: readonly AlertDelivery[]): AlertBatchPayload {
  return { schema: ALERT_BATCH_SCHEMA, alerts: deliveries.map(alertPayload) };
}

/** The reason an aborted delivery gives. */
export function abortedError(sink: string, signal: AbortSignal): Error {
  return new Error(`${sink}: delivery aborted`, { cause: signal.reason });
}

// ---------------------------------------------------------------------------------------------
// Memory sink (tests, simulation)
// ---------------------------------------------------------------------------------------------

export interface MemoryAlertSink extends AlertSink {
  /** Successful deliveries, in order. */
  readonly delivered: readonly AlertDelivery[];
  /** Make the next `count` attempts fail with `message` (replaces any pending count). */
  failNext(count: number, message?: string): void;
}

export function memoryAlertSink(options: { name?: string } = {}): MemoryAlertSink {
  checkOptions(options, ['name'], 'memoryAlertSink');
  const name = sinkName(options.name, 'memory', 'memoryAlertSink');
  const delivered: AlertDelivery[] = [];
  let failures = 0;
  let failure = 'simulated failure';
  return {
    name,
    delivered,
    failNext(count, message = 'simulated failure') {
      if (!Number.isSafeInteger(count) || count < 0) {
        throw invalid(
          `failNext: count must be a non-negative integer, got ${describeValue(count)}`,
        );
      }
      if (typeof message !== 'string') {
        throw invalid(`failNext: message must be a string, got ${describeValue(message)}`);
      }
      failures = count;
      failure = message;
    },
    async deliver(delivery) {
      if (delivery.signal.aborted) throw abortedError(name, delivery.signal);
      if (failures > 0) {
        failures--;
        throw new Error(failure);
      }
      delivered.push(delivery);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Webhook sink
// ---------------------------------------------------------------------------------------------

export interface WebhookAlertSinkOptions {
  /** An http: or https: URL. */
  url: string;
  name?: string;
  /** Extra request headers (an `authorization` token, say); `content-type` is always JSON. */
  headers?: Record<string, string>;
  /** Per attempt, body included; default 1000. */
  timeout_ms?: number;
  /** For tests and custom agents; default the global `fetch`. */
  fetch?: typeof fetch;
  /**
   * POST due alerts together, as one `wardwright.alert_batch.v1` document
   * (`{ schema, alerts: [payload…] }`), when several are waiting: fewer requests under load.
   * Default false (one `wardwright.alert.v1` payload per request).
   */
  batch?: boolean;
}

export const DEFAULT_WEBHOOK_TIMEOUT_MS = 1000;
const MAX_TIMER_MS = 2_147_483_647;
const ERROR_BODY_CHARS = 200;

/**
 * POST each attempt as JSON to a URL. Any status outside 200–299 is a failed attempt, 3xx
 * included: a redirect is not followed, because following one would resend the alert to an
 * address nobody configured (and turn the POST into a GET on 301/302).
 */
export function webhookAlertSink(options: WebhookAlertSinkOptions): AlertSink {
  checkOptions(
    options,
    ['url', 'name', 'headers', 'timeout_ms', 'fetch', 'batch'],
    'webhookAlertSink',
  );
  const name = sinkName(options.name, 'webhook', 'webhookAlertSink');
  const url = webhookUrl(options.url);
  const headers = webhookHeaders(options.headers);
  const timeout_ms = options.timeout_ms ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  if (!Number.isInteger(timeout_ms) || timeout_ms < 1 || timeout_ms > MAX_TIMER_MS) {
    throw invalid(
      `webhookAlertSink: timeout_ms must be an integer from 1 to ${MAX_TIMER_MS}, got ${describeValue(timeout_ms)}`,
    );
  }
  const doFetch = options.fetch ?? globalThis.fetch;
  if (typeof doFetch !== 'function') {
    throw invalid('webhookAlertSink: fetch must be a function (no global fetch is available)');
  }

  if (options.batch !== undefined && typeof options.batch !== 'boolean') {
    throw invalid(`webhookAlertSink: batch must be a boolean, got ${describeValue(options.batch)}`);
  }

  /** One POST: resolves on a 2xx, rejects with what went wrong otherwise. */
  async function post(body: string, idempotencyKey: string, abort: AbortSignal): Promise<void> {
    if (abort.aborted) throw abortedError(name, abort);
    const timeout = AbortSignal.timeout(timeout_ms);
    const signal = AbortSignal.any([abort, timeout]);
    const request = new Headers(headers);
    request.set('content-type', 'application/json');
    // Receivers can drop the repeats a retry after a lost response produces.
    request.set('idempotency-key', idempotencyKey);
    let status: Error | undefined;
    try {
      const response = await doFetch(url, {
        method: 'POST',
        headers: request,
        body,
        signal,
        redirect: 'manual',
      });
      if (response.status >= 200 && response.status < 300) {
        await response.body?.cancel();
        return;
      }
      const text = await bodyPrefix(response);
      status = new Error(
        `${name}: POST ${url} answered ${response.status}${text === '' ? '' : `: ${text}`}`,
      );
    } catch (error) {
      if (abort.aborted) throw abortedError(name, abort);
      if (timeout.aborted) {
        throw new Error(`${name}: timed out after ${timeout_ms} ms`, { cause: error });
      }
      throw new Error(`${name}: POST ${url} failed: ${causeText(error)}`, { cause: error });
    }
    throw status;
  }

  const sink: AlertSink = {
    name,
    deliver: (delivery) =>
      post(JSON.stringify(alertPayload(delivery)), delivery.alert.idempotency_key, delivery.signal),
  };
  if (options.batch === true) {
    sink.deliverBatch = (deliveries) =>
      post(
        JSON.stringify(alertBatchPayload(deliveries)),
        // One key for the batch: the same alerts in the same order make the same key.
        `batch-${hash64Hex(deliveries.map((d) => d.alert.idempotency_key).join('\n'))}`,
        deliveries[0]!.signal,
      );
  }
  return sink;
}

function webhookUrl(value: unknown): string {
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw invalid(
      `webhookAlertSink: url must be an absolute http: or https: URL, got ${describeValue(value)}`,
    );
  }
  return url.href;
}

function webhookHeaders(value: unknown): Headers {
  if (value === undefined) return new Headers();
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`webhookAlertSink: headers must be an object, got ${describeValue(value)}`);
  }
  for (const [key, header] of Object.entries(value)) {
    if (typeof header !== 'string') {
      throw invalid(
        `webhookAlertSink: headers.${key} must be a string, got ${describeValue(header)}`,
      );
    }
  }
  try {
    return new Headers(value as Record<string, string>);
  } catch (error) {
    throw invalid(`webhookAlertSink: headers are not valid HTTP headers: ${causeText(error)}`);
  }
}

/** The start of an error body, without reading a huge one to the end. */
async function bodyPrefix(response: Response): Promise<string> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length < ERROR_BODY_CHARS) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += decoder.decode(chunk.value, { stream: true });
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  return text.slice(0, ERROR_BODY_CHARS);
}

/** Node's fetch says only "fetch failed"; the reason (ECONNREFUSED …) is in its cause. */
function causeText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error ? error.cause : undefined;
  return cause instanceof Error ? `${message} (${cause.message})` : message;
}

// ---------------------------------------------------------------------------------------------

/** A sink name: a non-empty string, or the default. */
export function sinkName(value: unknown, fallback: string, subject: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') {
    throw invalid(`${subject}: name must be a non-empty string, got ${describeValue(value)}`);
  }
  return value;
}

function invalid(message: string): WardwrightError {
  return new WardwrightError({ code: 'invalid_argument', message });
}
