// Wardwright inside an Express app, under /llm: the governed OpenAI-compatible endpoint is
// http://127.0.0.1:8787/llm/v1 (loopback only). Run:
//   npm run build -w @wardwright/core -w @wardwright/gateway && node examples/servers/express.mjs
// Add --once to send one request, print the answer and exit.
import { createGateway, scriptedProvider } from '@wardwright/gateway';
import { wardwright } from '@wardwright/gateway/express';
import express from 'express';

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
      provider: scriptedProvider({ chunks: ['Hello ', 'from Express.'] }),
    },
  ],
});

const app = express();
app.get('/health', (_req, res) => {
  res.send('ok');
});
// Mounted under /llm: the gateway sees /v1/... . No body parser needed (the body streams
// through); an express.json() in front also works, its parsed body is re-serialised.
app.use('/llm', wardwright(gateway));

const port = Number(process.env.PORT ?? 8787);
const server = await new Promise((resolve) => {
  const s = app.listen(port, '127.0.0.1', () => resolve(s));
});
const address = /** @type {import('node:net').AddressInfo} */ (server.address());
const base = `http://127.0.0.1:${address.port}/llm`;
console.log(`Wardwright in Express: ${base}/v1`);
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
  server.closeAllConnections();
  server.close();
  await gateway.close();
}
