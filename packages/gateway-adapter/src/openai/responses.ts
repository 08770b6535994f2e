/**
 * The OpenAI chat-completions answer shapes: a `chat.completion` object, and the
 * `chat.completion.chunk` frames of a stream. Stream frames are built by string concatenation
 * around a per-response prefix, so a content delta costs one `JSON.stringify` of its text.
 */

import type { EngineAnswer, EngineResult } from '@wardwright/core';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** The rest of a 200 answer: what the engine decided, or an empty stop for an empty answer. */
export function answerOf(result: EngineResult): EngineAnswer {
  return (
    result.answer ?? {
      tool_calls: [],
      refusal: null,
      finish_reason: 'stop',
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, estimated: true },
    }
  );
}

/** OpenAI's finish reasons; ours adds `other`, which its clients do not know: it goes out as `stop`. */
function wireFinish(answer: EngineAnswer): string {
  return answer.finish_reason === 'other' ? 'stop' : answer.finish_reason;
}

/** The upstream's usage, or the engine's estimate (the receipt says which). */
export function wireUsage(answer: EngineAnswer): Usage {
  const { prompt_tokens, completion_tokens, total_tokens } = answer.usage;
  return { prompt_tokens, completion_tokens, total_tokens };
}

function wireCalls(answer: EngineAnswer) {
  return answer.tool_calls.map((call) => ({
    id: call.id,
    type: 'function' as const,
    function: { name: call.name, arguments: call.arguments },
  }));
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
  answer: EngineAnswer,
) {
  const calls = answer.tool_calls.length > 0;
  const message: Record<string, unknown> = {
    role: 'assistant',
    // OpenAI sends null content beside tool calls when the model said nothing.
    content: text === '' && calls ? null : text,
    refusal: answer.refusal,
  };
  if (calls) message.tool_calls = wireCalls(answer);
  return {
    id,
    object: 'chat.completion',
    created,
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: wireFinish(answer) }],
    usage: wireUsage(answer),
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

  /**
   * What follows the text: the tool calls (each whole, in one frame: clients join fragments, so
   * one fragment is a valid stream), the refusal, and the last chunk with the finish reason,
   * which also names the receipt (a started stream's headers could not).
   */
  end(answer: EngineAnswer, receipt_id: string): string {
    let out = '';
    wireCalls(answer).forEach((call, index) => {
      out += `${this.#prefix}[{"index":0,"delta":{"tool_calls":[${JSON.stringify({ index, ...call })}]},"logprobs":null,"finish_reason":null}]}\n\n`;
    });
    if (answer.refusal !== null) {
      out += `${this.#prefix}[{"index":0,"delta":{"refusal":${JSON.stringify(answer.refusal)}},"logprobs":null,"finish_reason":null}]}\n\n`;
    }
    out += `${this.#prefix}[{"index":0,"delta":{},"logprobs":null,"finish_reason":${JSON.stringify(wireFinish(answer))}}],"wardwright":{"receipt_id":${JSON.stringify(receipt_id)}}}\n\n`;
    return out;
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
