import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAICompatible } from './providers/openai-compatible.ts';
import { type ScriptedUpstream, startScriptedUpstream } from './providers/scripted.ts';
import { type Served, serveGateway } from './testing/fixtures.ts';

/**
 * docs/gateway/agent-clients.md promises its snippets work when pasted: run each JavaScript
 * block as it stands (only the gateway's URL replaced by this test's) against a gateway whose
 * `agent` model calls `weather`, and check each prints the answer built from the tool's result.
 */

const root = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);

let upstream: ScriptedUpstream;
let served: Served;
let scratch: string;

beforeAll(async () => {
  upstream = await startScriptedUpstream({
    replies: (body) => {
      const messages = body.messages as { role: string; content?: unknown }[];
      const result = messages.find((m) => m.role === 'tool');
      if (result === undefined) {
        return {
          kind: 'text',
          text: '',
          tool_calls: [{ id: 'call_1', name: 'weather', arguments: '{"city":"Oslo"}' }],
        };
      }
      return { kind: 'text', text: `Answer: ${String(result.content)}` };
    },
  });
  served = await serveGateway({
    models: [
      {
        artifact: {
          schema: 'wardwright.artifact.v1',
          model: { id: 'agent', version: '1' },
          targets: [{ model: 'upstream-agent', context_window: 100_000 }],
        },
        provider: openAICompatible({ baseURL: upstream.url }),
      },
    ],
  });
  // Inside the repository, so the snippets' imports resolve from its node_modules.
  scratch = await mkdtemp(join(root, 'node_modules', '.agent-clients-doc-'));
});

afterAll(async () => {
  await served?.close();
  await upstream?.close();
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
});

async function snippets(): Promise<string[]> {
  const doc = await readFile(join(root, 'docs/gateway/agent-clients.md'), 'utf8');
  return [...doc.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

describe('docs/gateway/agent-clients.md', () => {
  it('has a snippet for each client', async () => {
    const found = await snippets();
    expect(found).toHaveLength(3);
    for (const [i, name] of ['@ai-sdk/openai-compatible', '@langchain/openai', 'openai'].entries())
      expect(found[i]).toContain(`from '${name}'`);
  });

  it.each([0, 1, 2])('snippet %i runs as pasted and prints the answer', async (index) => {
    const source = (await snippets())[index] ?? '';
    expect(source).toContain('http://127.0.0.1:8787/v1');
    const file = join(scratch, `snippet-${index}.mjs`);
    await writeFile(file, source.replaceAll('http://127.0.0.1:8787/v1', `${served.url}/v1`));
    const { stdout } = await run(process.execPath, [file], { timeout: 60_000 });
    expect(stdout.trim()).toBe('Answer: 3 °C in Oslo');
  });
});
