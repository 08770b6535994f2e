import type { Caller } from '@wardwright/core';

/**
 * The session a request belongs to, which scopes history, state machines and receipts:
 * the session header (default `x-wardwright-session-id`), else `metadata.session_id` in the
 * body, else the body's `user`. Empty values are skipped; none of them → no session.
 */
export function callerOf(
  headers: Headers,
  sessionHeader: string,
  body: { metadata?: { session_id?: string } | null; user?: string },
): Caller & { from?: string } {
  const header = headers.get(sessionHeader);
  if (header !== null && header !== '') return { session_id: header, from: sessionHeader };
  const fromMetadata = body.metadata?.session_id;
  if (typeof fromMetadata === 'string' && fromMetadata !== '') {
    return { session_id: fromMetadata, from: 'metadata.session_id' };
  }
  const user = body.user;
  if (typeof user === 'string' && user !== '') return { session_id: user, from: 'user' };
  return {};
}

/**
 * A client chooses its session id, and the gateway keeps it: in history, state, receipts, the
 * runtime view and every event. So its length is bounded (in UTF-16 code units).
 */
export const MAX_SESSION_ID_LENGTH = 256;

/** Why a session id is refused, naming where it came from; undefined when it is fine. */
export function sessionIdProblem(caller: Caller & { from?: string }): string | undefined {
  const id = caller.session_id;
  if (id === undefined || id.length <= MAX_SESSION_ID_LENGTH) return undefined;
  return `${caller.from ?? 'the session id'}: the session id is ${id.length} characters; at most ${MAX_SESSION_ID_LENGTH}`;
}
