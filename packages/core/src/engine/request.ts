import Type, { type Static } from 'typebox';
import { StringEnum } from '../schema/types.ts';
import { type ToolPhase, ToolPhaseSchema } from './artifact.ts';

/**
 * What the engine is asked: an OpenAI-style chat request (only the fields policy reads are
 * checked; the rest pass through to the provider untouched) and who is asking.
 */

const ContentPartSchema = Type.Object(
  {
    type: Type.String({ minLength: 1 }),
    text: Type.Optional(Type.String()),
  },
  { additionalProperties: true, description: 'Only `text` parts are read by policy.' },
);

export const ChatMessageSchema = Type.Object(
  {
    role: StringEnum(['system', 'developer', 'user', 'assistant', 'tool']),
    content: Type.Optional(Type.Union([Type.String(), Type.Null(), Type.Array(ContentPartSchema)])),
    name: Type.Optional(Type.String()),
    tool_calls: Type.Optional(
      Type.Array(
        Type.Object(
          {
            id: Type.String(),
            type: Type.Optional(Type.String()),
            function: Type.Object(
              { name: Type.String({ minLength: 1 }), arguments: Type.Optional(Type.String()) },
              { additionalProperties: true },
            ),
          },
          { additionalProperties: true },
        ),
      ),
    ),
    tool_call_id: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
export type ChatMessage = Static<typeof ChatMessageSchema>;

export const ChatRequestSchema = Type.Object(
  {
    model: Type.Optional(Type.String()),
    messages: Type.Array(ChatMessageSchema, { minItems: 1 }),
    stream: Type.Optional(Type.Boolean()),
    tools: Type.Optional(
      Type.Array(
        Type.Object(
          {
            type: Type.Optional(Type.String()),
            function: Type.Object(
              { name: Type.String({ minLength: 1 }) },
              { additionalProperties: true },
            ),
          },
          { additionalProperties: true },
        ),
      ),
    ),
  },
  {
    additionalProperties: true,
    description: 'An OpenAI chat completion request; unknown keys pass through to the provider.',
  },
);
export type ChatRequest = Static<typeof ChatRequestSchema>;

export const CALLER_KEYS = [
  'tenant_id',
  'application_id',
  'consuming_agent_id',
  'consuming_user_id',
  'session_id',
  'run_id',
] as const;

export const CallerSchema = Type.Object(
  {
    tenant_id: Type.Optional(Type.String({ minLength: 1 })),
    application_id: Type.Optional(Type.String({ minLength: 1 })),
    consuming_agent_id: Type.Optional(Type.String({ minLength: 1 })),
    consuming_user_id: Type.Optional(Type.String({ minLength: 1 })),
    session_id: Type.Optional(Type.String({ minLength: 1 })),
    run_id: Type.Optional(Type.String({ minLength: 1 })),
  },
  {
    additionalProperties: false,
    description: 'Who is asking; each value scopes history and state machines.',
  },
);
export type Caller = Static<typeof CallerSchema>;

/** The text of a message's content: strings as is, `text` parts joined by newlines. */
export function contentText(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  let text = '';
  for (const part of content) {
    if (typeof part.text !== 'string') continue;
    text = text === '' ? part.text : `${text}\n${part.text}`;
  }
  return text;
}

/** Every message as `role\ncontent`, joined by newlines: what `match` rules read by default. */
export function renderRequestText(messages: readonly ChatMessage[]): string {
  let text = '';
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    const rendered = `${message.role}\n${contentText(message.content)}`;
    text = i === 0 ? rendered : `${text}\n${rendered}`;
  }
  return text;
}

export function lastUserMessage(messages: readonly ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!;
    if (message.role === 'user') return contentText(message.content);
  }
  return '';
}

export const ToolContextSchema = Type.Object(
  {
    phase: Type.Union([ToolPhaseSchema, Type.Null()], {
      description: 'null when the request neither offers tools nor carries a tool result.',
    }),
    names: Type.Array(Type.String(), {
      description:
        'For `result_interpretation`: the tool whose result is last; for `planning`: the tools offered.',
    }),
    arguments: Type.Optional(
      Type.String({ description: 'Arguments of the call the result answers.' }),
    ),
  },
  { additionalProperties: false },
);
export type ToolContext = Static<typeof ToolContextSchema>;

/**
 * Which tool the request is about. A trailing `tool` message means the model is reading a tool
 * result (the call it answers names the tool); otherwise offered `tools` mean it is planning.
 */
export function toolContextOf(request: ChatRequest): ToolContext {
  const messages = request.messages;
  const last = messages[messages.length - 1];
  if (last?.role === 'tool') {
    const callId = last.tool_call_id;
    for (let i = messages.length - 2; i >= 0; i--) {
      const calls = messages[i]!.tool_calls;
      if (calls === undefined) continue;
      const call =
        calls.find((c) => c.id === callId) ?? (callId === undefined ? calls[0] : undefined);
      if (call === undefined) continue;
      const context: ToolContext = { phase: 'result_interpretation', names: [call.function.name] };
      if (call.function.arguments !== undefined) context.arguments = call.function.arguments;
      return context;
    }
    return { phase: 'result_interpretation', names: [] };
  }
  const tools = request.tools;
  if (tools !== undefined && tools.length > 0) {
    return { phase: 'planning', names: tools.map((t) => t.function.name) };
  }
  return { phase: null, names: [] };
}

/** A tool's result the request carries back to the model. */
export interface ToolResult {
  /** The tool whose call it answers; '' when no earlier call has its `tool_call_id`. */
  name: string;
  tool_call_id: string | null;
  content: string;
}

/**
 * The tool results at the end of the request: the trailing `tool` messages, one per call the
 * model made in its last turn (parallel calls come back together), in order.
 */
export function toolResultsOf(request: ChatRequest): ToolResult[] {
  const messages = request.messages;
  let first = messages.length;
  while (first > 0 && messages[first - 1]!.role === 'tool') first--;
  const results: ToolResult[] = [];
  for (let i = first; i < messages.length; i++) {
    const message = messages[i]!;
    const id = message.tool_call_id ?? null;
    let name = '';
    for (let j = first - 1; j >= 0 && name === ''; j--) {
      const call = messages[j]!.tool_calls?.find((c) => c.id === id);
      if (call !== undefined) name = call.function.name;
    }
    results.push({ name, tool_call_id: id, content: contentText(message.content) });
  }
  return results;
}

// One definition for request `tool` rules and tool-call rules.
export { toolNamespace } from '../decisions/tool-call-policy.ts';

export function toolPhaseMatches(
  phases: readonly ToolPhase[] | undefined,
  phase: ToolPhase | null,
) {
  return phases === undefined || (phase !== null && phases.includes(phase));
}
