/**
 * The body text of Responses the gateway built from a string it still holds (its JSON answers),
 * so the node bridge can send it in one write instead of reading the Response's stream back.
 * The Response keeps its own body: anyone else (Hono, a test) reads it as usual.
 */

const bodies = new WeakMap<Response, string>();

/** A `Response` of `text`, remembered so `knownBody` can hand the text back. */
export function textResponse(text: string, init: ResponseInit): Response {
  const response = new Response(text, init);
  bodies.set(response, text);
  return response;
}

/** The text `response` was built from, unless its body was read (or it is not ours). */
export function knownBody(response: Response): string | undefined {
  const text = bodies.get(response);
  return text === undefined || response.bodyUsed ? undefined : text;
}
