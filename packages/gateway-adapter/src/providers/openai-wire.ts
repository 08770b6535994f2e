import {
  type AssistantPart,
  type FinishReason,
  finishReasonOf,
  impliedFinish,
  type ModelReply,
  type ReplyEvent,
  type TokenUsage,
} from '@wardwright/core';

/**
 * OpenAI chat-completions answers, as an upstream sends them, in provider contract v2 terms: a
 * `chat.completion` becomes a message of parts, a `chat.completion.chunk` becomes stream events.
 * Lenient where upstreams differ harmlessly (a missing tool-call `index` or `id`, arguments sent
 * as an object, `reasoning_content` vs `reasoning`); strict where a client would be misled (a
 * tool call without a name), and then the error names the field.
 */

/** A field the answer cannot do without is missing or of the wrong type. */
export class MalformedAnswer extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedAnswer';
  }
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A whole `chat.completion` as a v2 message; throws `MalformedAnswer` naming the field. */
export function completionReply(json: unknown): Extract<ModelReply, { kind: 'message' }> {
  if (!isObject(json) || !Array.isArray(json.choices)) {
    throw new MalformedAnswer('the upstream answer has no `choices` array');
  }
  const choice = json.choices[0];
  if (!isObject(choice) || !isObject(choice.message)) {
    throw new MalformedAnswer('the upstream answer has no `choices[0].message` object');
  }
  const message = choice.message;
  const at = 'choices[0].message';
  const parts: AssistantPart[] = [];
  const reasoning = reasoningOf(message);
  if (reasoning !== '') parts.push({ type: 'reasoning', text: reasoning });
  const content = message.content;
  if (typeof content === 'string') {
    if (content !== '') parts.push({ type: 'text', text: content });
  } else if (Array.isArray(content)) {
    // Some upstreams answer in content parts: their text is the answer's text.
    let text = '';
    for (const part of content)
      if (isObject(part) && typeof part.text === 'string') text += part.text;
    if (text !== '') parts.push({ type: 'text', text });
  } else if (content !== null && content !== undefined) {
    throw new MalformedAnswer(`the upstream answer's \`${at}.content\` is not a string or null`);
  }
  const calls = message.tool_calls;
  if (calls !== undefined && calls !== null) {
    if (!Array.isArray(calls)) {
      throw new MalformedAnswer(`the upstream answer's \`${at}.tool_calls\` is not an array`);
    }
    calls.forEach((call, i) => {
      parts.push(wholeCall(call, i, `${at}.tool_calls[${i}]`));
    });
  }
  if (typeof message.refusal === 'string' && message.refusal !== '') {
    parts.push({ type: 'refusal', text: message.refusal });
  }
  const reply: Extract<ModelReply, { kind: 'message' }> = {
    kind: 'message',
    parts,
    finish_reason: finishReasonOf(choice.finish_reason) ?? impliedFinish(parts),
  };
  const usage = usageOf(json.usage);
  if (usage !== undefined) reply.usage = usage;
  return reply;
}

function wholeCall(call: unknown, i: number, at: string): AssistantPart {
  if (!isObject(call) || !isObject(call.function)) {
    throw new MalformedAnswer(`the upstream answer's \`${at}.function\` is not an object`);
  }
  const name = call.function.name;
  if (typeof name !== 'string' || name === '') {
    throw new MalformedAnswer(`the upstream answer's \`${at}.function.name\` is not a tool name`);
  }
  return {
    type: 'tool_call',
    // An id is what the client answers the call with: make one when the upstream sent none.
    id: typeof call.id === 'string' && call.id !== '' ? call.id : `call_${i}`,
    name,
    arguments: argumentsText(call.function.arguments, `${at}.function.arguments`),
  };
}

function argumentsText(value: unknown, at: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (isObject(value)) return JSON.stringify(value);
  throw new MalformedAnswer(`the upstream answer's \`${at}\` is not JSON text`);
}

function reasoningOf(record: Json): string {
  const value = record.reasoning_content ?? record.reasoning;
  return typeof value === 'string' ? value : '';
}

/** Token usage when the upstream reports it (non-negative integers), else undefined. */
export function usageOf(value: unknown): TokenUsage | undefined {
  if (!isObject(value)) return undefined;
  const prompt = value.prompt_tokens;
  const completion = value.completion_tokens;
  if (!count(prompt) || !count(completion)) return undefined;
  const total = count(value.total_tokens) ? value.total_tokens : prompt + completion;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total };
}

const count = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0;

/**
 * The events of one `chat.completion.chunk` (an object already parsed), appended to `out`.
 * Returns the finish reason when the chunk carries one, so a reader knows the answer ended.
 */
export function chunkEvents(record: Json, out: ReplyEvent[]): FinishReason | null {
  const choices = record.choices;
  if (!Array.isArray(choices)) {
    throw new MalformedAnswer('malformed SSE frame from the upstream (no choices array)');
  }
  let finish: FinishReason | null = null;
  const choice = choices[0];
  if (isObject(choice)) {
    const delta = isObject(choice.delta) ? choice.delta : {};
    const reasoning = reasoningOf(delta);
    if (reasoning !== '') out.push({ type: 'reasoning', text: reasoning });
    if (typeof delta.content === 'string' && delta.content !== '') {
      out.push({ type: 'text', text: delta.content });
    }
    const calls = delta.tool_calls;
    if (Array.isArray(calls)) {
      calls.forEach((call, i) => {
        out.push(callDelta(call, i));
      });
    }
    if (typeof delta.refusal === 'string' && delta.refusal !== '') {
      out.push({ type: 'refusal', text: delta.refusal });
    }
    finish = finishReasonOf(choice.finish_reason);
    if (finish !== null) out.push({ type: 'finish', reason: finish });
  }
  // With `stream_options.include_usage`, the last chunk (no choices) carries the usage.
  const usage = usageOf(record.usage);
  if (usage !== undefined) out.push({ type: 'usage', usage });
  return finish;
}

function callDelta(call: unknown, position: number): ReplyEvent {
  if (!isObject(call)) {
    throw new MalformedAnswer(
      `malformed SSE frame from the upstream (delta.tool_calls[${position}] is not an object)`,
    );
  }
  const event: Extract<ReplyEvent, { type: 'tool_call' }> = {
    type: 'tool_call',
    // Some upstreams leave out `index` when they send one call at a time.
    index: count(call.index) ? call.index : position,
  };
  if (typeof call.id === 'string' && call.id !== '') event.id = call.id;
  const fn = isObject(call.function) ? call.function : {};
  if (typeof fn.name === 'string' && fn.name !== '') event.name = fn.name;
  const args = argumentsText(fn.arguments, `delta.tool_calls[${position}].function.arguments`);
  if (args !== '') event.arguments = args;
  return event;
}
