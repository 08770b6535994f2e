import type { JsonValue } from '../sandbox/contract.ts';

/**
 * Provider contract v2: what a model answers. An answer is an assistant message of parts — text,
 * tool calls, a refusal, reasoning text where the upstream sends it, and opaque parts for
 * anything else — with a finish reason and the token usage the upstream reported. A stream is
 * the same answer as events. The shapes are the API surfaces' common ground (OpenAI chat
 * completions and Responses, Anthropic Messages), so each surface is a mapping to and from them.
 */

/** One part of an assistant message, in the order the model produced them. */
export type AssistantPart =
  | { type: 'text'; text: string }
  /** A call the model wants made: `arguments` is its JSON text, exactly as the model wrote it. */
  | { type: 'tool_call'; id: string; name: string; arguments: string }
  | { type: 'refusal'; text: string }
  | { type: 'reasoning'; text: string }
  /** Something no surface here knows: kept under its upstream key, passed on as it came. */
  | { type: 'opaque'; key: string; value: JsonValue };

/** Why the model stopped. `other` covers what an upstream names that no other value means. */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'other';

/** Tokens as the upstream counted them. */
export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** A streamed answer, one event at a time. Tool calls arrive in fragments, keyed by `index`. */
export type ReplyEvent =
  | { type: 'text'; text: string }
  | {
      type: 'tool_call';
      /** Which call of the message this fragment belongs to (0, 1, … in order of first appearance). */
      index: number;
      /** Sent once per call, usually with its first fragment. */
      id?: string;
      name?: string;
      /** A piece of the arguments' JSON text: the pieces concatenate to the whole. */
      arguments?: string;
    }
  | { type: 'refusal'; text: string }
  | { type: 'reasoning'; text: string }
  | { type: 'opaque'; key: string; value: JsonValue }
  | { type: 'finish'; reason: FinishReason }
  | { type: 'usage'; usage: TokenUsage };

/** A provider's answer to one call. */
/** An upstream answer a provider retried itself before this reply (its own retry policy). */
export interface UpstreamRetry {
  /** How that answer failed, as a provider error status (`upstream_429`, `upstream_timeout`…). */
  status: string;
  /** How long the provider waited before trying again. */
  delay_ms: number;
}

/**
 * `upstream_retries` (any kind): the upstream answers the provider retried on its own before
 * this one, so a receipt lists every upstream attempt. `retry_after_ms` (an error): how long
 * the upstream asked to wait (its `Retry-After`), passed on to the client.
 */
export type ModelReply =
  | {
      kind: 'message';
      parts: AssistantPart[];
      finish_reason: FinishReason;
      usage?: TokenUsage;
      upstream_retries?: readonly UpstreamRetry[];
    }
  | {
      kind: 'stream';
      events: AsyncIterable<ReplyEvent>;
      upstream_retries?: readonly UpstreamRetry[];
    }
  | {
      kind: 'error';
      status: string;
      message?: string;
      retry_after_ms?: number;
      upstream_retries?: readonly UpstreamRetry[];
    };

/** A whole message, as events: what a provider that has a whole answer streams. */
export function* messageEvents(
  parts: readonly AssistantPart[],
  finish_reason: FinishReason,
  usage?: TokenUsage,
): Generator<ReplyEvent> {
  let calls = 0;
  for (const part of parts) {
    if (part.type === 'tool_call') {
      yield {
        type: 'tool_call',
        index: calls++,
        id: part.id,
        name: part.name,
        arguments: part.arguments,
      };
    } else yield part;
  }
  yield { type: 'finish', reason: finish_reason };
  if (usage !== undefined) yield { type: 'usage', usage };
}

/** A message assembled from events so far: what `assembleEvent` folds over. */
export interface AssembledMessage {
  readonly parts: readonly AssistantPart[];
  readonly finish_reason: FinishReason | null;
  readonly usage: TokenUsage | null;
  /** Where each tool call sits in `parts`, by its index. */
  readonly call_at: Readonly<Record<number, number>>;
}

export const EMPTY_MESSAGE: AssembledMessage = Object.freeze({
  parts: [],
  finish_reason: null,
  usage: null,
  call_at: {},
});

/**
 * One event folded into the message, without changing it: text, refusal and reasoning
 * fragments that follow each other join into one part, a tool call's fragments join under its
 * index (at the position of its first fragment), the last finish and usage win.
 */
export function assembleEvent(message: AssembledMessage, event: ReplyEvent): AssembledMessage {
  switch (event.type) {
    case 'text':
    case 'refusal':
    case 'reasoning': {
      if (event.text === '') return message;
      const parts = message.parts.slice();
      const last = parts[parts.length - 1];
      if (last !== undefined && last.type === event.type) {
        parts[parts.length - 1] = { type: event.type, text: last.text + event.text };
      } else parts.push({ type: event.type, text: event.text });
      return messageWith(message, parts, message.call_at);
    }
    case 'tool_call': {
      const parts = message.parts.slice();
      const at = message.call_at[event.index];
      if (at === undefined) {
        parts.push({
          type: 'tool_call',
          id: event.id ?? '',
          name: event.name ?? '',
          arguments: event.arguments ?? '',
        });
        return messageWith(message, parts, { ...message.call_at, [event.index]: parts.length - 1 });
      }
      const call = parts[at] as Extract<AssistantPart, { type: 'tool_call' }>;
      parts[at] = {
        type: 'tool_call',
        id: event.id ?? call.id,
        name: call.name + (event.name ?? ''),
        arguments: call.arguments + (event.arguments ?? ''),
      };
      return messageWith(message, parts, message.call_at);
    }
    case 'opaque':
      return messageWith(message, [...message.parts, event], message.call_at);
    case 'finish':
      return {
        parts: message.parts,
        finish_reason: event.reason,
        usage: message.usage,
        call_at: message.call_at,
      };
    case 'usage':
      return {
        parts: message.parts,
        finish_reason: message.finish_reason,
        usage: event.usage,
        call_at: message.call_at,
      };
  }
}

// Fields spelled out: `{ ...message, parts }` is a slow path in V8, and this runs per event.
function messageWith(
  message: AssembledMessage,
  parts: readonly AssistantPart[],
  call_at: Readonly<Record<number, number>>,
): AssembledMessage {
  return { parts, finish_reason: message.finish_reason, usage: message.usage, call_at };
}

/** The tool calls of a message, in order. */
export function toolCallsOf(
  parts: readonly AssistantPart[],
): Extract<AssistantPart, { type: 'tool_call' }>[] {
  return parts.filter(
    (part): part is Extract<AssistantPart, { type: 'tool_call' }> => part.type === 'tool_call',
  );
}

/** `assembleEvent` for a caller that holds one message and feeds it events as they come. */
export class MessageAssembler {
  private message: AssembledMessage = EMPTY_MESSAGE;

  add(event: ReplyEvent): void {
    this.message = assembleEvent(this.message, event);
  }

  get parts(): readonly AssistantPart[] {
    return this.message.parts;
  }

  get finish_reason(): FinishReason | null {
    return this.message.finish_reason;
  }

  get usage(): TokenUsage | null {
    return this.message.usage;
  }

  /** The text parts joined: what a client that reads `content` sees. */
  get text(): string {
    let text = '';
    for (const part of this.message.parts) if (part.type === 'text') text += part.text;
    return text;
  }

  /** The tool calls, in order. */
  get toolCalls(): Extract<AssistantPart, { type: 'tool_call' }>[] {
    return toolCallsOf(this.message.parts);
  }
}

/** The finish reason a message with these parts implies when the upstream named none. */
export function impliedFinish(parts: readonly AssistantPart[]): FinishReason {
  return parts.some((part) => part.type === 'tool_call') ? 'tool_calls' : 'stop';
}

/** An upstream's finish reason in our terms (OpenAI's names are ours; unknown ones are `other`). */
export function finishReasonOf(value: unknown): FinishReason | null {
  switch (value) {
    case 'stop':
    case 'length':
    case 'tool_calls':
    case 'content_filter':
      return value;
    case 'function_call':
      return 'tool_calls';
    case null:
    case undefined:
      return null;
    default:
      return 'other';
  }
}
