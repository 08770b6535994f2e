// Wardwright on plain node:http: a governed OpenAI-compatible endpoint at
// http://127.0.0.1:8787/v1 (loopback only). Run:
//   npm run build -w @wardwright/core -w @wardwright/gateway && node examples/servers/node-http.mjs
// Add --once to send one request, print the answer and exit.
import { createServer } from 'node:http';
import { createGateway, scriptedProvider } from '@wardwright/gateway';
import { toNodeListener } from '@wardwright/gateway/node';

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
      provider: scriptedProvider({ chunks: ['Hello ', 'from node:http.'] }),
    },
  ],
});

// toNodeListener fits any (req, res) server; `serve(gateway, { port })` from the same entry
// does this in one line.
const server = createServer(toNodeListener(gateway));
const port = Number(process.env.PORT ?? 8787);
await new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(undefined)));
const address = /** @type {import('node:net').AddressInfo} */ (server.address());
const base = `http://127.0.0.1:${address.port}`;
console.log(`Wardwright on node:http: ${base}/v1`);
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
