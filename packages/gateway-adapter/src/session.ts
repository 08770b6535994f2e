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
): Caller {
  const header = headers.get(sessionHeader);
  if (header !== null && header !== '') return { session_id: header };
  const fromMetadata = body.metadata?.session_id;
  if (typeof fromMetadata === 'string' && fromMetadata !== '') return { session_id: fromMetadata };
  const user = body.user;
  if (typeof user === 'string' && user !== '') return { session_id: user };
  return {};
}
