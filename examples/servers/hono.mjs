// Wardwright in a Hono app on @hono/node-server, under /llm: the governed OpenAI-compatible
// endpoint is http://127.0.0.1:8787/llm/v1 (loopback only). Run:
//   npm run build -w @wardwright/core -w @wardwright/gateway && node examples/servers/hono.mjs
// Add --once to send one request, print the answer and exit.
import { serve } from '@hono/node-server';
import { createGateway, scriptedProvider } from '@wardwright/gateway';
import { wardwrightHono } from '@wardwright/gateway/hono';
import { Hono } from 'hono';

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
      provider: scriptedProvider({ chunks: ['Hello ', 'from Hono.'] }),
    },
  ],
});

const app = new Hono();
app.get('/health', (c) => c.text('ok'));
// Hono speaks Request/Response already: the gateway gets c.req.raw, and sees /v1/... .
app.route('/llm', wardwrightHono(gateway));

const port = Number(process.env.PORT ?? 8787);
const server = await new Promise((resolve) => {
  const s = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve(s));
});
const address = /** @type {import('node:net').AddressInfo} */ (
  /** @type {import('node:http').Server} */ (server).address()
);
const base = `http://127.0.0.1:${address.port}/llm`;
console.log(`Wardwright in Hono: ${base}/v1`);
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
  const http = /** @type {import('node:http').Server} */ (server);
  http.closeAllConnections();
  http.close();
  await gateway.close();
}
