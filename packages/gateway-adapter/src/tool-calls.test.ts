import type OpenAI from 'openai';
import type { RunnableToolFunctionWithParse } from 'openai/lib/RunnableFunction';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAICompatible } from './providers/openai-compatible.ts';
import { type ScriptedUpstream, startScriptedUpstream } from './providers/scripted.ts';
import {
  agentArtifact,
  agentReply,
  CALL_USAGE,
  AGENT_CALLS as CALLS,
  FINAL_TEXT,
  FINAL_USAGE,
  timeIn,
  weatherIn,
} from './testing/agent.ts';
import { type Served, serveGateway, sseData } from './testing/fixtures.ts';

/**
 * Agent traffic through the real gateway: a scripted upstream over HTTP that answers like a
 * model with parallel tool calls, the gateway in front of it, and the official `openai` client
 * running the agent loop (call → the client runs the tools → results → the final answer).
 */

const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } } },
    },
  },
  {
    type: 'function',
    function: {
      name: 'clock',
      parameters: { type: 'object', properties: { tz: { type: 'string' } } },
    },
  },
];

let upstream: ScriptedUpstream;
let served: Served;

beforeAll(async () => {
  upstream = await startScriptedUpstream({
    replies: agentReply,
  });
  served = await serveGateway({
    models: [{ artifact: agentArtifact, provider: openAICompatible({ baseURL: upstream.url }) }],
  });
});

afterAll(async () => {
  await served?.close();
  await upstream?.close();
});

async function receipt(id: string | null | undefined) {
  const found = await served.gateway.runtime.receipts.get(id ?? '');
  if (found === undefined) throw new Error(`no receipt ${id}`);
  return found;
}

const question = (): OpenAI.Chat.Completions.ChatCompletionMessageParam[] => [
  { role: 'user', content: 'Weather and time in Oslo?' },
];

const runTool = (name: string, args: string): string => {
  const parsed = JSON.parse(args) as { city: string; tz: string };
  return name === 'weather' ? weatherIn(parsed.city) : timeIn(parsed.tz);
};

describe('tool calls through the gateway (official openai client)', () => {
  it('runs an agent loop with parallel calls, whole answers, and passes the upstream usage', async () => {
    const messages = question();
    const first = await served.client.chat.completions
      .create({ model: 'agent', messages, tools, tool_choice: 'auto' })
      .withResponse();
    const choice = first.data.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    expect(choice.message.tool_calls).toEqual(
      CALLS.map((c) => ({
        id: c.id,
        type: 'function',
        function: { name: c.name, arguments: c.arguments },
      })),
    );
    expect(first.data.usage).toEqual(CALL_USAGE);
    // The client's tools and tool_choice reached the upstream.
    expect(upstream.requests.at(-1)?.body).toMatchObject({ tools, tool_choice: 'auto' });
    const firstReceipt = await receipt(first.response.headers.get('x-wardwright-receipt-id'));
    expect(firstReceipt.response).toMatchObject({
      finish_reason: 'tool_calls',
      tool_calls: CALLS.map((c) => ({ id: c.id, name: c.name })),
      usage: { ...CALL_USAGE, estimated: false },
    });

    messages.push(choice.message as OpenAI.Chat.Completions.ChatCompletionMessageParam);
    for (const call of choice.message.tool_calls ?? []) {
      if (call.type !== 'function') throw new Error('expected a function call');
      messages.push({
        role: 'tool',
        tool_call_id: call.id,
        content: runTool(call.function.name, call.function.arguments),
      });
    }
    const second = await served.client.chat.completions
      .create({ model: 'agent', messages, tools })
      .withResponse();
    expect(second.data.choices[0]?.message.content).toBe(FINAL_TEXT);
    expect(second.data.choices[0]?.finish_reason).toBe('stop');
    expect(second.data.usage).toEqual(FINAL_USAGE);
    // The upstream saw the assistant's calls and both results, as the client sent them.
    const sent = upstream.requests.at(-1)?.body.messages as Record<string, unknown>[];
    expect(sent.at(-3)).toMatchObject({
      role: 'assistant',
      tool_calls: [{ id: 'call_w' }, { id: 'call_c' }],
    });
    expect(sent.slice(-2).map((m) => m.tool_call_id)).toEqual(['call_w', 'call_c']);
    const secondReceipt = await receipt(second.response.headers.get('x-wardwright-receipt-id'));
    expect(secondReceipt.request.tool_context).toMatchObject({ phase: 'result_interpretation' });
    expect(secondReceipt.response?.usage).toEqual({ ...FINAL_USAGE, estimated: false });
  });

  it('streams the calls in OpenAI’s shape, with usage when asked, and the loop completes', async () => {
    const messages = question();
    const stream = await served.client.chat.completions.create({
      model: 'agent',
      messages,
      tools,
      stream: true,
      stream_options: { include_usage: true },
    });
    const calls: { id: string; name: string; arguments: string }[] = [];
    let finish: string | null = null;
    let usage: unknown = null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (choice === undefined) continue;
      finish = choice.finish_reason ?? finish;
      for (const delta of choice.delta.tool_calls ?? []) {
        calls[delta.index] ??= { id: '', name: '', arguments: '' };
        const call = calls[delta.index]!;
        call.id = delta.id ?? call.id;
        call.name += delta.function?.name ?? '';
        call.arguments += delta.function?.arguments ?? '';
      }
    }
    expect(calls).toEqual(CALLS);
    expect(finish).toBe('tool_calls');
    expect(usage).toEqual(CALL_USAGE);
    // The gateway asked the upstream for usage on its own stream.
    expect(upstream.requests.at(-1)?.body.stream_options).toEqual({ include_usage: true });

    messages.push({
      role: 'assistant',
      content: null,
      tool_calls: calls.map((c) => ({
        id: c.id,
        type: 'function' as const,
        function: { name: c.name, arguments: c.arguments },
      })),
    });
    for (const c of calls) {
      messages.push({ role: 'tool', tool_call_id: c.id, content: runTool(c.name, c.arguments) });
    }
    const final = served.client.chat.completions.stream({ model: 'agent', messages, tools });
    const completion = await final.finalChatCompletion();
    expect(completion.choices[0]?.message.content).toBe(FINAL_TEXT);
    expect(completion.choices[0]?.finish_reason).toBe('stop');
  });

  it('runs the whole loop with the client’s own tool runner, streaming and not', async () => {
    const functions: RunnableToolFunctionWithParse<Record<string, string>>[] = [
      {
        type: 'function',
        function: {
          name: 'weather',
          description: 'The weather in a city.',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
          function: (args: Record<string, string>) => weatherIn(args.city ?? ''),
          parse: JSON.parse,
        },
      },
      {
        type: 'function',
        function: {
          name: 'clock',
          description: 'The time in a time zone.',
          parameters: { type: 'object', properties: { tz: { type: 'string' } } },
          function: (args: Record<string, string>) => timeIn(args.tz ?? ''),
          parse: JSON.parse,
        },
      },
    ];
    const completions = served.client.chat.completions;
    for (const runner of [
      completions.runTools({ model: 'agent', messages: question(), tools: functions }),
      completions.runTools({
        model: 'agent',
        messages: question(),
        tools: functions,
        stream: true,
      }),
    ]) {
      expect(await runner.finalContent()).toBe(FINAL_TEXT);
      const roles = runner.messages.map((m) => m.role);
      expect(roles.filter((r) => r === 'tool')).toHaveLength(2);
    }
  });

  it('a streamed answer of calls only is a well-formed stream: role, calls, finish, [DONE]', async () => {
    const response = await fetch(`${served.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'agent', messages: question(), stream: true }),
    });
    const frames = sseData(await response.text());
    expect(frames.at(-1)).toBe('[DONE]');
    const chunks = frames.slice(0, -1).map(
      (f) =>
        JSON.parse(f) as {
          choices: { delta: Record<string, unknown>; finish_reason: string | null }[];
        },
    );
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.slice(1, 3).map((c) => c.choices[0]?.delta.tool_calls)).toEqual(
      CALLS.map((c, index) => [
        { index, id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } },
      ]),
    );
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('tool_calls');
  });
});
