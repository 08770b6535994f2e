// Agent frameworks through a governed gateway: the Vercel AI SDK and LangChain JS run a tool
// loop (two parallel calls, their results, the answer), and the AI SDK streams a structured
// object that the gateway's guard validated. Run: npm run build -w @wardwright/core
// -w @wardwright/gateway && node examples/gateway/agent-frameworks.mjs
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { tool as langchainTool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { createGateway, openAICompatible, startScriptedUpstream } from '@wardwright/gateway';
import { serve } from '@wardwright/gateway/node';
import { generateText, stepCountIs, streamObject, tool } from 'ai';
import { z } from 'zod';

// 1. An upstream model (scripted here): asked a question it calls `weather` and `clock` at
//    once; shown their results it answers. Asked for JSON it fences it first, as models do.
const upstream = await startScriptedUpstream({
  replies: (body) => {
    const messages = /** @type {{role: string, name?: string, content?: unknown}[]} */ (
      body.messages
    );
    if (body.model === 'upstream-json') {
      const told = messages.some((m) => m.name === 'wardwright_structured_output_guard');
      const json = '{"city":"Oslo","celsius":3}';
      return { kind: 'stream', chunks: told ? [json] : ['```json\n', json, '\n```'] };
    }
    const results = messages.filter((m) => m.role === 'tool').map((m) => String(m.content));
    if (results.length === 0) {
      return {
        kind: 'text',
        text: '',
        tool_calls: [
          { id: 'call_w', name: 'weather', arguments: '{"city":"Oslo"}' },
          { id: 'call_c', name: 'clock', arguments: '{"tz":"Europe/Oslo"}' },
        ],
      };
    }
    return { kind: 'stream', chunks: ['In Oslo: ', results.join(', ')] };
  },
});

// 2. The gateway: an agent model, and a model whose answers must match a JSON Schema.
const gateway = await createGateway({
  models: [
    {
      artifact: {
        schema: 'wardwright.artifact.v1',
        model: { id: 'agent', version: '1' },
        targets: [{ model: 'upstream-agent', context_window: 100_000 }],
      },
      provider: openAICompatible({ baseURL: upstream.url }),
    },
    {
      artifact: {
        schema: 'wardwright.artifact.v1',
        model: { id: 'weather-json', version: '1' },
        targets: [{ model: 'upstream-json', context_window: 100_000 }],
        structured_output: {
          schemas: [
            {
              id: 'weather_v1',
              schema: {
                type: 'object',
                required: ['city', 'celsius'],
                additionalProperties: false,
                properties: { city: { type: 'string' }, celsius: { type: 'number' } },
              },
            },
          ],
        },
      },
      provider: openAICompatible({ baseURL: upstream.url }),
    },
  ],
});
const server = await serve(gateway, { port: 0 });
const baseURL = `${server.url}/v1`;

// 3. The Vercel AI SDK: generateText runs the calls and the second step answers.
const wardwright = createOpenAICompatible({
  name: 'wardwright',
  baseURL,
  apiKey: 'unused',
  includeUsage: true,
});
const weather = (/** @type {string} */ city) => `3 °C in ${city}`;
const clock = (/** @type {string} */ tz) => `14:00 in ${tz}`;
const vercel = await generateText({
  model: wardwright('agent'),
  tools: {
    weather: tool({
      description: 'The weather in a city.',
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => weather(city),
    }),
    clock: tool({
      description: 'The time in a time zone.',
      inputSchema: z.object({ tz: z.string() }),
      execute: async ({ tz }) => clock(tz),
    }),
  },
  stopWhen: stepCountIs(3),
  prompt: 'Weather and time in Oslo?',
});
console.log('ai sdk calls:    ', vercel.steps[0]?.toolCalls.map((c) => c.toolName).join(', '));
console.log('ai sdk answer:   ', vercel.text);

// 4. LangChain JS: bindTools, invoke, run the calls, invoke again with their results.
/** @type {import('@langchain/core/tools').StructuredToolInterface[]} */
const tools = [
  langchainTool(async ({ city }) => weather(city), {
    name: 'weather',
    description: 'The weather in a city.',
    schema: z.object({ city: z.string() }),
  }),
  langchainTool(async ({ tz }) => clock(tz), {
    name: 'clock',
    description: 'The time in a time zone.',
    schema: z.object({ tz: z.string() }),
  }),
];
const model = new ChatOpenAI({ model: 'agent', apiKey: 'unused', configuration: { baseURL } });
const agent = model.bindTools(tools);
const asked = await agent.invoke('Weather and time in Oslo?');
const results = await Promise.all(
  (asked.tool_calls ?? []).map((call) => tools.find((t) => t.name === call.name)?.invoke(call)),
);
const answered = await agent.invoke([['user', 'Weather and time in Oslo?'], asked, ...results]);
console.log('langchain calls: ', asked.tool_calls?.map((c) => c.name).join(', '));
console.log('langchain answer:', answered.content);

// 5. A streamed structured object: the guard held the stream, rejected the fenced attempt,
//    retried with feedback and released the valid JSON.
const object = streamObject({
  model: createOpenAICompatible({
    name: 'wardwright',
    baseURL,
    apiKey: 'unused',
    supportsStructuredOutputs: true,
  })('weather-json'),
  schema: z.object({ city: z.string(), celsius: z.number() }),
  prompt: 'The weather in Oslo as JSON.',
});
for await (const _partial of object.partialObjectStream);
console.log('streamed object: ', JSON.stringify(await object.object));
console.log('upstream calls:  ', upstream.requests.length);

await server.close();
await gateway.close();
await upstream.close();
