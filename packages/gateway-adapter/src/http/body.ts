/**
 * Reading a request body under a byte limit without trusting `content-length`: a declared
 * length over the limit is refused before reading, and a body that keeps coming is cut off as
 * soon as it passes the limit (its stream is cancelled, so the client's upload stops).
 */

import { bufferedBody } from '../bridge/to-request.ts';

export type BodyResult =
  | { kind: 'ok'; text: string }
  | { kind: 'too_large'; limit: number }
  | { kind: 'unreadable'; message: string };

const decoder = new TextDecoder('utf-8', { fatal: true });

export async function readBody(request: Request, limit: number): Promise<BodyResult> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) return { kind: 'too_large', limit };
  const buffered = bufferedBody(request);
  if (buffered !== undefined) {
    if (buffered.byteLength > limit) return { kind: 'too_large', limit };
    try {
      return { kind: 'ok', text: decoder.decode(buffered) };
    } catch {
      return { kind: 'unreadable', message: 'the body is not valid UTF-8' };
    }
  }
  const body = request.body;
  if (body === null) return { kind: 'ok', text: '' };
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel().catch(() => undefined);
        return { kind: 'too_large', limit };
      }
      parts.push(value);
    }
  } catch (error) {
    return { kind: 'unreadable', message: error instanceof Error ? error.message : String(error) };
  }
  // One part is the common case (a small JSON body): decode it without a copy.
  const bytes = parts.length === 1 ? parts[0]! : concat(parts, size);
  try {
    return { kind: 'ok', text: decoder.decode(bytes) };
  } catch {
    return { kind: 'unreadable', message: 'the body is not valid UTF-8' };
  }
}

function concat(parts: readonly Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
