import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { AIMessageChunk } from '@langchain/core/messages';
import { tool as langchainTool } from '@langchain/core/tools';
import { concat } from '@langchain/core/utils/stream';
import { ChatOpenAI } from '@langchain/openai';
import { generateText, stepCountIs, streamText, tool } from 'ai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openAICompatible } from './providers/openai-compatible.ts';
import { type ScriptedUpstream, startScriptedUpstream } from './providers/scripted.ts';
import {
  AGENT_CALLS,
  agentArtifact,
  agentReply,
  CALL_USAGE,
  FINAL_USAGE,
  timeIn,
  weatherIn,
} from './testing/agent.ts';
import { type Served, serveGateway } from './testing/fixtures.ts';

/**
 * The agent loop through the real gateway, driven by the two agent frameworks users reach for
 * first: the Vercel AI SDK (through `@ai-sdk/openai-compatible`) and LangChain JS. The upstream
 * is a real HTTP server that calls two tools at once, then answers from their results.
 */

let upstream: ScriptedUpstream;
let served: Served;

beforeAll(async () => {
  upstream = await startScriptedUpstream({ replies: agentReply });
  served = await serveGateway({
    models: [{ artifact: agentArtifact, provider: openAICompatible({ baseURL: upstream.url }) }],
  });
});

afterAll(async () => {
  await served?.close();
  await upstream?.close();
});

beforeEach(() => {
  upstream.requests.length = 0;
});

const PROMPT = 'Weather and time in Oslo?';
const callsAsSent = AGENT_CALLS.map((c) => ({
  id: c.id,
  name: c.name,
  args: JSON.parse(c.arguments),
}));

/** The tool messages the upstream received on the last request, by call id. */
function toolResultsSent(): Record<string, unknown> {
  const messages = upstream.requests.at(-1)?.body.messages as Record<string, unknown>[];
  return Object.fromEntries(
    messages.filter((m) => m.role === 'tool').map((m) => [m.tool_call_id, m.content]),
  );
}

describe('Vercel AI SDK (ai 6, @ai-sdk/openai-compatible)', () => {
  const executed: string[] = [];
  const tools = {
    weather: tool({
      description: 'The weather in a city.',
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => {
        executed.push(`weather:${city}`);
        return weatherIn(city);
      },
    }),
    clock: tool({
      description: 'The time in a time zone.',
      inputSchema: z.object({ tz: z.string() }),
      execute: async ({ tz }) => {
        executed.push(`clock:${tz}`);
        return timeIn(tz);
      },
    }),
  };
  const model = () =>
    createOpenAICompatible({
      name: 'wardwright',
      baseURL: `${served.url}/v1`,
      apiKey: 'unused',
      includeUsage: true,
    })('agent');

  beforeEach(() => {
    executed.length = 0;
  });

  it('generateText runs both parallel calls and answers in the second step', async () => {
    const result = await generateText({
      model: model(),
      tools,
      stopWhen: stepCountIs(3),
      prompt: PROMPT,
    });
    expect(result.steps).toHaveLength(2);
    expect(result.steps[0]?.finishReason).toBe('tool-calls');
    expect(
      result.steps[0]?.toolCalls.map((c) => ({
        id: c.toolCallId,
        name: c.toolName,
        args: c.input,
      })),
    ).toEqual(callsAsSent);
    expect(executed).toEqual(['weather:Oslo', 'clock:Europe/Oslo']);
    expect(result.text).toContain(weatherIn('Oslo'));
    expect(result.text).toContain(timeIn('Europe/Oslo'));
    expect(result.finishReason).toBe('stop');
    // Usage is what the upstream reported, step by step.
    expect(result.steps.map((s) => s.usage.totalTokens)).toEqual([
      CALL_USAGE.total_tokens,
      FINAL_USAGE.total_tokens,
    ]);
    expect(Object.keys(toolResultsSent())).toEqual(['call_w', 'call_c']);
  });

  it('streamText streams the calls, runs them and streams the answer', async () => {
    const errors: unknown[] = [];
    const result = streamText({
      model: model(),
      tools,
      stopWhen: stepCountIs(3),
      prompt: PROMPT,
      onError: ({ error }) => {
        errors.push(error);
      },
    });
    const parts: string[] = [];
    for await (const part of result.fullStream) parts.push(part.type);
    expect(errors).toEqual([]);
    const steps = await result.steps;
    expect(steps).toHaveLength(2);
    expect(
      steps[0]?.toolCalls.map((c) => ({ id: c.toolCallId, name: c.toolName, args: c.input })),
    ).toEqual(callsAsSent);
    expect(parts.filter((p) => p === 'tool-result')).toHaveLength(2);
    expect(parts).toContain('text-delta');
    expect(executed).toEqual(['weather:Oslo', 'clock:Europe/Oslo']);
    expect(await result.text).toContain(timeIn('Europe/Oslo'));
    expect((await result.totalUsage).totalTokens).toBe(
      CALL_USAGE.total_tokens + FINAL_USAGE.total_tokens,
    );
    // The gateway asked the upstream for usage on the stream the SDK asked it for.
    expect(upstream.requests.at(-1)?.body.stream_options).toEqual({ include_usage: true });
  });
});

describe('LangChain JS (@langchain/openai 1.1, bindTools)', () => {
  const weather = langchainTool(async ({ city }: { city: string }) => weatherIn(city), {
    name: 'weather',
    description: 'The weather in a city.',
    schema: z.object({ city: z.string() }),
  });
  const clock = langchainTool(async ({ tz }: { tz: string }) => timeIn(tz), {
    name: 'clock',
    description: 'The time in a time zone.',
    schema: z.object({ tz: z.string() }),
  });
  const model = () =>
    new ChatOpenAI({
      model: 'agent',
      apiKey: 'unused',
      maxRetries: 0,
      configuration: { baseURL: `${served.url}/v1` },
    }).bindTools([weather, clock]);

  /** Runs each call with its tool, as LangChain's agents do. */
  const runCalls = (message: AIMessageChunk) =>
    Promise.all(
      (message.tool_calls ?? []).map((call) => {
        if (call.name === 'weather') return weather.invoke(call);
        if (call.name === 'clock') return clock.invoke(call);
        throw new Error(`no tool ${call.name}`);
      }),
    );

  it('invoke: the calls come back parsed, the results go back, the answer follows', async () => {
    const first = await model().invoke(PROMPT);
    expect(first.tool_calls?.map((c) => ({ id: c.id, name: c.name, args: c.args }))).toEqual(
      callsAsSent,
    );
    expect(first.response_metadata.finish_reason).toBe('tool_calls');
    expect(first.usage_metadata).toMatchObject({
      input_tokens: CALL_USAGE.prompt_tokens,
      output_tokens: CALL_USAGE.completion_tokens,
      total_tokens: CALL_USAGE.total_tokens,
    });
    const results = await runCalls(first);
    const final = await model().invoke([['user', PROMPT], first, ...results]);
    expect(final.content).toBe(`Oslo: ${weatherIn('Oslo')}, ${timeIn('Europe/Oslo')}`);
    expect(toolResultsSent()).toEqual({ call_w: weatherIn('Oslo'), call_c: timeIn('Europe/Oslo') });
  });

  it('stream: the chunks concatenate into the same calls, and the loop completes', async () => {
    let first: AIMessageChunk | undefined;
    for await (const chunk of await model().stream(PROMPT)) {
      first = first === undefined ? chunk : concat(first, chunk);
    }
    if (first === undefined) throw new Error('no chunks');
    expect(first.invalid_tool_calls ?? []).toEqual([]);
    expect(first.tool_calls?.map((c) => ({ id: c.id, name: c.name, args: c.args }))).toEqual(
      callsAsSent,
    );
    const results = await runCalls(first);
    let text = '';
    for await (const chunk of await model().stream([['user', PROMPT], first, ...results])) {
      text += typeof chunk.content === 'string' ? chunk.content : '';
    }
    expect(text).toBe(`Oslo: ${weatherIn('Oslo')}, ${timeIn('Europe/Oslo')}`);
  });
});
