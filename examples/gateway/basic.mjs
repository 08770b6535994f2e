// A governed OpenAI-compatible gateway in front of a scripted upstream, called with the
// official `openai` client. Run: npm run build -w @wardwright/core -w @wardwright/gateway
// && node examples/gateway/basic.mjs
import { createGateway, openAICompatible, startScriptedUpstream } from '@wardwright/gateway';
import { serve } from '@wardwright/gateway/node';
import OpenAI from 'openai';

// 1. An upstream that speaks the OpenAI API (here scripted; in production your provider).
const upstream = await startScriptedUpstream({
  replies: (body) => {
    const messages = /** @type {{name?: string}[]} */ (body.messages);
    const last = messages.at(-1);
    // The retry carries the stream rule's reminder; answer it properly.
    if (last?.name === 'wardwright_policy_reminder') {
      return { kind: 'stream', chunks: ['client = NewClient', '.connect(url)'] };
    }
    return body.stream
      ? { kind: 'stream', chunks: ['client = OldClient(', 'url)'] }
      : { kind: 'text', text: 'Hello from upstream.' };
  },
});

// 2. The gateway: one governed model, its artifact, its provider.
const gateway = await createGateway({
  models: [
    {
      artifact: {
        schema: 'wardwright.artifact.v1',
        model: { id: 'coder', version: '1' },
        targets: [{ model: 'upstream-coder', context_window: 100_000 }],
        request_rules: [
          {
            kind: 'match',
            id: 'no-drop-table',
            contains: 'drop table',
            actions: [{ action: 'block', reason: 'destructive SQL' }],
          },
        ],
        stream_rules: [
          {
            id: 'no-old-client',
            action: 'retry_with_reminder',
            contains: 'OldClient(',
            reminder: 'OldClient was removed; use NewClient.connect(url).',
            max_retries: 1,
            horizon_bytes: 32,
          },
        ],
      },
      provider: openAICompatible({ baseURL: upstream.url, apiKey: 'sk-upstream-key' }),
    },
  ],
});

// 3. An HTTP server in front of gateway.fetch (loopback, a free port).
const server = await serve(gateway, { port: 0 });
const client = new OpenAI({
  baseURL: `${server.url}/v1`,
  apiKey: 'unused',
  maxRetries: 0,
});

// A plain answer, with its receipt id in a header.
const { data, response } = await client.chat.completions
  .create({ model: 'coder', messages: [{ role: 'user', content: 'hi' }] })
  .withResponse();
console.log('answer:  ', data.choices[0]?.message.content);
console.log('receipt: ', response.headers.get('x-wardwright-receipt-id'));

// A streamed answer: the first attempt used the removed API and was retried with a reminder
// before anything reached the client.
const stream = await client.chat.completions.create({
  model: 'coder',
  messages: [{ role: 'user', content: 'connect me' }],
  stream: true,
});
let streamed = '';
for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? '';
console.log('streamed:', streamed);

// A blocked request: 403 in the OpenAI error shape.
try {
  await client.chat.completions.create({
    model: 'coder',
    messages: [{ role: 'user', content: 'please DROP TABLE users' }],
  });
} catch (error) {
  if (!(error instanceof OpenAI.APIError)) throw error;
  console.log('blocked: ', error.status, error.code, '-', error.message);
}

console.log('upstream calls:', upstream.requests.length);
await server.close();
await gateway.close();
await upstream.close();
