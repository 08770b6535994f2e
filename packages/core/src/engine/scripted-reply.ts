import Type, { type Static } from 'typebox';
import { StringEnum } from '../schema/types.ts';
import {
  type AssistantPart,
  assembleEvent,
  EMPTY_MESSAGE,
  impliedFinish,
  type ModelReply,
  messageEvents,
  type ReplyEvent,
} from './model-reply.ts';

/**
 * A scripted model answer: the one shape that simulation fixtures, `scriptedProvider` and the
 * `scripted` provider of `wardwright serve` share. A whole answer (text, tool calls, a refusal),
 * a stream of chunks (text and tool-call fragments), or an error — with the finish reason and
 * usage the upstream would report.
 */

const ToolCallSchema = Type.Object(
  {
    id: Type.String({ minLength: 1 }),
    name: Type.String({ minLength: 1 }),
    arguments: Type.String({
      description: 'The arguments as JSON text, as the model writes them.',
    }),
  },
  { additionalProperties: false },
);

const UsageSchema = Type.Object(
  {
    prompt_tokens: Type.Integer({ minimum: 0 }),
    completion_tokens: Type.Integer({ minimum: 0 }),
    total_tokens: Type.Integer({ minimum: 0 }),
  },
  {
    additionalProperties: false,
    description: 'The usage the upstream reports. Omit and the engine estimates it.',
  },
);

export const ScriptedFinishSchema = StringEnum(
  ['stop', 'length', 'tool_calls', 'content_filter', 'other'],
  { description: 'Default: `tool_calls` when the answer has calls, else `stop`.' },
);

const Delay = Type.Optional(
  Type.Integer({ minimum: 0, description: 'Time before this chunk (simulation). Default 10.' }),
);

const ChunkSchema = Type.Union([
  Type.String({ description: 'A text chunk.' }),
  Type.Object({ text: Type.String(), delay_ms: Delay }, { additionalProperties: false }),
  Type.Object(
    {
      tool_call: Type.Object(
        {
          index: Type.Integer({
            minimum: 0,
            description: 'Which call of the answer (0, 1, …): fragments of one call share it.',
          }),
          id: Type.Optional(Type.String({ minLength: 1 })),
          name: Type.Optional(Type.String({ minLength: 1 })),
          arguments: Type.Optional(Type.String({ description: 'A fragment of the arguments.' })),
        },
        { additionalProperties: false },
      ),
      delay_ms: Delay,
    },
    { additionalProperties: false },
  ),
]);

export const ScriptedReplySchema = Type.Union([
  Type.Object(
    {
      text: Type.Optional(Type.String({ description: 'The answer’s text.' })),
      tool_calls: Type.Optional(
        Type.Array(ToolCallSchema, { description: 'Calls the model asks for, in order.' }),
      ),
      refusal: Type.Optional(Type.String({ description: 'The model refuses, saying this.' })),
      finish_reason: Type.Optional(ScriptedFinishSchema),
      usage: Type.Optional(UsageSchema),
      latency_ms: Type.Optional(
        Type.Integer({ minimum: 0, description: 'Time it takes (simulation). Default 0.' }),
      ),
    },
    {
      additionalProperties: false,
      description: 'A whole answer: text, tool calls and/or a refusal.',
    },
  ),
  Type.Object(
    {
      chunks: Type.Array(ChunkSchema, {
        description: 'A streamed answer, chunk by chunk: text and tool-call fragments.',
      }),
      finish_reason: Type.Optional(ScriptedFinishSchema),
      usage: Type.Optional(UsageSchema),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      error: Type.Object(
        {
          status: Type.Union(
            [
              Type.Integer({
                minimum: 100,
                maximum: 599,
                description:
                  'The HTTP status the upstream answered; recorded as `upstream_<status>`.',
              }),
              Type.String({
                minLength: 1,
                description: 'A provider error status as recorded, e.g. `upstream_timeout`.',
              }),
            ],
            {
              description: 'An HTTP status (500) or a provider error status (`upstream_timeout`).',
            },
          ),
          message: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false },
  ),
]);
export type ScriptedReply = Static<typeof ScriptedReplySchema>;
export type ScriptedChunk = Extract<ScriptedReply, { chunks: unknown }>['chunks'][number];

/** How an upstream's HTTP error status is recorded in receipts: `upstream_503`. */
export function upstreamErrorStatus(httpStatus: number): string {
  return `upstream_${httpStatus}`;
}

export interface ScriptedReplyOptions {
  /** The call streams: a whole answer is sent as events, chunks as they are. Default: as scripted. */
  stream?: boolean;
  /** Time passes (simulation advances its clock): `latency_ms`, and each chunk's `delay_ms`. */
  advance?: (ms: number) => void;
}

/**
 * A scripted answer as a provider's reply (contract v2). A whole answer to a streaming call is
 * one event per part; chunks to a whole-answer call are joined into one message.
 */
export function scriptedReply(
  reply: ScriptedReply,
  options: ScriptedReplyOptions = {},
): ModelReply {
  if ('error' in reply) {
    const given = reply.error.status;
    const status = typeof given === 'number' ? upstreamErrorStatus(given) : given;
    return reply.error.message === undefined
      ? { kind: 'error', status }
      : { kind: 'error', status, message: reply.error.message };
  }
  const advance = options.advance;
  if ('chunks' in reply) {
    const events = chunkEvents(reply, advance);
    if (options.stream === false) return wholeOf(events);
    return { kind: 'stream', events: fromIterable(events) };
  }
  advance?.(reply.latency_ms ?? 0);
  const parts: AssistantPart[] = [];
  if (reply.text !== undefined && reply.text !== '') parts.push({ type: 'text', text: reply.text });
  for (const call of reply.tool_calls ?? []) parts.push({ type: 'tool_call', ...call });
  if (reply.refusal !== undefined) parts.push({ type: 'refusal', text: reply.refusal });
  const finish_reason = reply.finish_reason ?? impliedFinish(parts);
  if (options.stream === true) {
    return {
      kind: 'stream',
      events: fromIterable(messageEvents(parts, finish_reason, reply.usage)),
    };
  }
  const message: ModelReply = { kind: 'message', parts, finish_reason };
  if (reply.usage !== undefined) message.usage = reply.usage;
  return message;
}

/** The events of scripted chunks, lazily: time advances as each chunk is read. */
function* chunkEvents(
  reply: Extract<ScriptedReply, { chunks: unknown }>,
  advance: ((ms: number) => void) | undefined,
): Generator<ReplyEvent> {
  let calls = false;
  for (const chunk of reply.chunks) {
    if (typeof chunk === 'string') {
      advance?.(10);
      yield { type: 'text', text: chunk };
      continue;
    }
    advance?.(chunk.delay_ms ?? 10);
    if ('text' in chunk) yield { type: 'text', text: chunk.text };
    else {
      calls = true;
      yield { type: 'tool_call', ...chunk.tool_call };
    }
  }
  yield { type: 'finish', reason: reply.finish_reason ?? (calls ? 'tool_calls' : 'stop') };
  if (reply.usage !== undefined) yield { type: 'usage', usage: reply.usage };
}

function wholeOf(events: Iterable<ReplyEvent>): ModelReply {
  let message = EMPTY_MESSAGE;
  for (const event of events) message = assembleEvent(message, event);
  return {
    kind: 'message',
    parts: [...message.parts],
    finish_reason: message.finish_reason ?? impliedFinish(message.parts),
    ...(message.usage === null ? {} : { usage: message.usage }),
  };
}

async function* fromIterable<T>(items: Iterable<T>): AsyncGenerator<T> {
  for (const item of items) yield item;
}
