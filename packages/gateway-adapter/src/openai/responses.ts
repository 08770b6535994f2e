/**
 * The OpenAI chat-completions answer shapes: a `chat.completion` object, and the
 * `chat.completion.chunk` frames of a stream. Stream frames are built by string concatenation
 * around a per-response prefix, so a content delta costs one `JSON.stringify` of its text.
 */

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/**
 * Token counts the gateway can vouch for without the upstream's tokenizer: the engine's prompt
 * estimate and ~4 bytes per token for the answer. Documented as estimates.
 */
export function estimateUsage(prompt_tokens: number, completion_bytes: number): Usage {
  const completion_tokens = Math.ceil(completion_bytes / 4);
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

let idCounter = 0;
const idPrefix = `chatcmpl-${process.pid.toString(36)}${Date.now().toString(36)}`;

/** Unique per process; not a secret and not the receipt id (that is in the header). */
export function completionId(): string {
  idCounter = (idCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${idPrefix}${idCounter.toString(36)}`;
}

export function completionBody(
  id: string,
  created: number,
  model: string,
  text: string,
  usage: Usage,
) {
  return {
    id,
    object: 'chat.completion',
    created,
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: text, refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage,
  };
}

export const DONE_FRAME = 'data: [DONE]\n\n';

/** Frames of one streamed answer. */
export class ChunkFrames {
  readonly #prefix: string;

  constructor(id: string, created: number, model: string) {
    this.#prefix = `data: {"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"choices":`;
  }

  role(): string {
    return `${this.#prefix}[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n`;
  }

  content(text: string): string {
    return `${this.#prefix}[{"index":0,"delta":{"content":${JSON.stringify(text)}},"logprobs":null,"finish_reason":null}]}\n\n`;
  }

  /** The last chunk also names the receipt: a started stream's headers could not. */
  finish(receipt_id: string): string {
    return `${this.#prefix}[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"wardwright":{"receipt_id":${JSON.stringify(receipt_id)}}}\n\n`;
  }

  usage(usage: Usage): string {
    return `${this.#prefix}[],"usage":${JSON.stringify(usage)}}\n\n`;
  }
}

/**
 * The terminal event of a stream that has already sent text (so its HTTP status is 200 and
 * cannot change): the OpenAI error shape as a `data:` frame, which the official clients raise as
 * an `APIError` while iterating. `[DONE]` follows it.
 */
export function errorFrame(body: unknown): string {
  return `data: ${JSON.stringify(body)}\n\n`;
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
} as const;
