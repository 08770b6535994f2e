import OpenAI from 'openai';
import { createGateway, type Gateway, type GatewayOptions } from '../gateway.ts';
import { serve } from '../node.ts';
import { scriptedProvider } from '../providers/scripted.ts';

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

/**
 * The gateway of the acceptance suite: `guarded` (a request rule blocks "drop table"),
 * `json-answers` (invalid JSON first, then a valid answer), and `coder` (TTSR: the first
 * attempt uses a removed API, the retry does not; "drop it" streams a block after release).
 */
export function acceptanceModels(): {
  options: GatewayOptions;
  calls: { model: string; messages: unknown[] }[];
} {
  const calls: { model: string; messages: unknown[] }[] = [];
  const options: GatewayOptions = {
    models: [
      {
        artifact: blockArtifact,
        provider: scriptedProvider((call) => {
          calls.push({ model: call.model, messages: call.messages });
          return { chunks: ['Hello', ', ', 'world'] };
        }),
      },
      {
        artifact: jsonArtifact,
        provider: scriptedProvider([{ text: 'not json' }, { text: '{"answer":"42"}' }]),
      },
      { artifact: ttsrArtifact, provider: 'coder' },
    ],
    providers: {
      coder: scriptedProvider((call) => {
        const last = call.messages.at(-1);
        if (typeof last?.content === 'string' && last.content.includes('drop it')) {
          return {
            chunks: [
              'Sure, here is the plan for your database. ',
              'Step one: ',
              'DROP DATABASE prod;',
            ],
          };
        }
        // The first attempt uses the removed API; the retry (with its reminder) does not.
        return call.attempt_index === 0
          ? { chunks: ['client = OldClient(', 'url)'] }
          : { chunks: ['client = NewClient', '.connect(url)'] };
      }),
    },
  };
  return { options, calls };
}

export interface Served {
  gateway: Gateway;
  url: string;
  client: OpenAI;
  close(): Promise<void>;
}

/** Puts a gateway behind an HTTP server (one of the adapters); `url` has no trailing slash. */
export type Listen = (gateway: Gateway) => Promise<{ url: string; close(): Promise<void> }>;

export const listenNode: Listen = (gateway) => serve(gateway, { port: 0 });

export async function serveGateway(
  options: GatewayOptions,
  clientOptions: { apiKey?: string } = {},
  listen: Listen = listenNode,
): Promise<Served> {
  const gateway = await createGateway(options);
  const server = await listen(gateway);
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
