// Wardwright as a Fastify plugin, under /llm: the governed OpenAI-compatible endpoint is
// http://127.0.0.1:8787/llm/v1 (loopback only). Run:
//   npm run build -w @wardwright/core -w @wardwright/gateway && node examples/servers/fastify.mjs
// Add --once to send one request, print the answer and exit.
import { createGateway, scriptedProvider } from '@wardwright/gateway';
import { wardwrightPlugin } from '@wardwright/gateway/fastify';
import Fastify from 'fastify';

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
      },
      // Replace with openAICompatible({ baseURL, apiKey }) for a real upstream.
      provider: scriptedProvider({ chunks: ['Hello ', 'from Fastify.'] }),
    },
  ],
});

const app = Fastify({ logger: false });
app.get('/health', async () => 'ok');
// Routes at /llm/v1/*, in their own encapsulated context (the body streams to the gateway;
// the application's content-type parsers are left alone).
await app.register(wardwrightPlugin, { handler: gateway, prefix: '/llm' });
app.addHook('onClose', async () => {
  await gateway.close();
});

const port = Number(process.env.PORT ?? 8787);
await app.listen({ port, host: '127.0.0.1' });
const address = /** @type {import('node:net').AddressInfo} */ (app.server.address());
const base = `http://127.0.0.1:${address.port}/llm`;
console.log(`Wardwright in Fastify: ${base}/v1`);
console.log(
  `curl ${base}/v1/chat/completions -H 'content-type: application/json' -d '{"model":"coder","messages":[{"role":"user","content":"hi"}]}'`,
);

if (process.argv.includes('--once')) {
  const response = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'coder', messages: [{ role: 'user', content: 'hi' }] }),
  });
  const body = /** @type {{choices: {message: {content: string}}[]}} */ (await response.json());
  console.log('answer:', body.choices[0]?.message.content);
  await app.close();
}
