import OpenAI from 'openai';
import { createGateway, type Gateway, type GatewayOptions } from '../gateway.ts';
import { serveForTests } from './serve.ts';

/** Artifacts and a served gateway shared by the gateway tests. */

export const blockArtifact = {
  schema: 'wardwright.artifact.v1',
  model: { id: 'guarded', version: '1' },
  targets: [{ model: 'upstream-small', context_window: 100_000 }],
  request_rules: [
    {
      kind: 'match',
      id: 'no-drop-table',
      contains: 'drop table',
      actions: [{ action: 'block', reason: 'destructive SQL' }],
    },
  ],
};

export const jsonArtifact = {
  schema: 'wardwright.artifact.v1',
  model: { id: 'json-answers', version: '2' },
  targets: [{ model: 'upstream-json', context_window: 100_000 }],
  structured_output: {
    schemas: [
      {
        id: 'answer_v1',
        schema: {
          type: 'object',
          required: ['answer'],
          additionalProperties: false,
          properties: { answer: { type: 'string' } },
        },
      },
    ],
  },
};

export const ttsrArtifact = {
  schema: 'wardwright.artifact.v1',
  model: { id: 'coder', version: '3' },
  targets: [{ model: 'upstream-coder', context_window: 100_000 }],
  stream_rules: [
    {
      id: 'no-old-client',
      action: 'retry_with_reminder',
      contains: 'OldClient(',
      reminder: 'OldClient was removed; use NewClient.connect(url).',
      max_retries: 1,
      horizon_bytes: 32,
    },
    {
      id: 'no-drop-database',
      action: 'block',
      regex: '(?i)drop\\s+database',
      message: 'destructive database command',
      horizon_bytes: 32,
    },
  ],
};

export interface Served {
  gateway: Gateway;
  url: string;
  client: OpenAI;
  close(): Promise<void>;
}

export async function serveGateway(
  options: GatewayOptions,
  clientOptions: { apiKey?: string } = {},
): Promise<Served> {
  const gateway = await createGateway(options);
  const server = await serveForTests(gateway);
  const client = new OpenAI({
    baseURL: `${server.url}/v1`,
    apiKey: clientOptions.apiKey ?? 'unused',
    maxRetries: 0,
  });
  return {
    gateway,
    url: server.url,
    client,
    async close() {
      await server.close();
      await gateway.close();
    },
  };
}

/** The `data:` payloads of an SSE body, in order. */
export function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .filter((frame) => frame.startsWith('data: '))
    .map((frame) => frame.slice(6));
}
