/**
 * Every error the gateway answers uses the OpenAI error shape, so the official clients raise
 * their typed errors (`PermissionDeniedError` on 403, `BadRequestError` on 400, …) and read
 * `message`, `type`, `param` and `code` where they expect them.
 */

import { textResponse } from '../bridge/known-body.ts';

export type OpenAIErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'policy_error'
  | 'upstream_error'
  | 'overloaded_error'
  | 'server_error';

export interface OpenAIErrorBody {
  error: { message: string; type: OpenAIErrorType; param: string | null; code: string };
}

export function errorBody(
  message: string,
  type: OpenAIErrorType,
  code: string,
  param: string | null = null,
): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

/** The error type a status implies when no more specific one is known. */
export function errorTypeOf(status: number): OpenAIErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 403 || status === 409 || status === 422) return 'policy_error';
  if (status === 502 || status === 504) return 'upstream_error';
  if (status === 503) return 'overloaded_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

/**
 * The official OpenAI clients retry 408, 409, 429 and 5xx twice by default, and read
 * `x-should-retry` to decide. Only a 429 or 503 (with `retry-after`) can go better on a retry;
 * anything else — a policy decision, an upstream the gateway already retried, bad input —
 * would only multiply the calls, so the header says not to.
 */
export function shouldRetry(status: number): boolean {
  return status === 429 || status === 503;
}

const NO_RETRY_HEADERS = { ...JSON_HEADERS, 'x-should-retry': 'false' } as const;

export function errorResponse(
  status: number,
  message: string,
  code: string,
  options: { param?: string | null; headers?: Record<string, string>; type?: OpenAIErrorType } = {},
): Response {
  const body = errorBody(message, options.type ?? errorTypeOf(status), code, options.param ?? null);
  const base = shouldRetry(status) ? JSON_HEADERS : NO_RETRY_HEADERS;
  return textResponse(JSON.stringify(body), {
    status,
    headers: options.headers === undefined ? base : { ...base, ...options.headers },
  });
}

export function jsonResponse(
  value: unknown,
  status = 200,
  headers?: Record<string, string>,
): Response {
  return textResponse(JSON.stringify(value), {
    status,
    headers: headers === undefined ? JSON_HEADERS : { ...JSON_HEADERS, ...headers },
  });
}
