import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/config-error.ts';
import { trustedBackend } from '../sandbox/trusted-backend.ts';
import {
  findJsonFiles,
  loadArtifactFile,
  loadScenarioDir,
  readJsonFile,
} from './artifact-files.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wardwright-files-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const artifact = {
  schema: 'wardwright.artifact.v1',
  model: { id: 'm', version: '1' },
  targets: [{ model: 't', context_window: 1000 }],
  request_rules: [{ kind: 'script', id: 's', script: 'p' }],
  scripts: { p: { language: 'javascript', path: '../policies/p.js' } },
};

async function writeTree() {
  await mkdir(join(dir, 'artifacts'));
  await mkdir(join(dir, 'policies'));
  await mkdir(join(dir, 'scenarios', 'nested'), { recursive: true });
  await writeFile(join(dir, 'artifacts', 'm.json'), JSON.stringify(artifact));
  await writeFile(
    join(dir, 'policies', 'p.js'),
    'function decide(input) { return { actions: input.last_user_message === "no" ? [{ action: "block" }] : [] }; }',
  );
  const scenario = (name: string, content: string, status: string) => ({
    schema: 'wardwright.scenario.v1',
    name,
    artifact: '../../artifacts/m.json',
    fixture: { request: { messages: [{ role: 'user', content }] }, attempts: [{ text: 'ok' }] },
    expect: { status },
  });
  await writeFile(
    join(dir, 'scenarios', 'nested', 'a.json'),
    JSON.stringify(scenario('allowed', 'yes', 'completed')),
  );
  await writeFile(
    join(dir, 'scenarios', 'nested', 'b.json'),
    JSON.stringify([
      scenario('blocked', 'no', 'policy_blocked'),
      scenario('also', 'yes', 'completed'),
    ]),
  );
}

describe('artifact and scenario files', () => {
  it('names the line and column of a JSON syntax error', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, '{\n  "a": 1,\n  "b": oops\n}');
    await expect(readJsonFile(file)).rejects.toThrow(ConfigError);
    await expect(readJsonFile(file)).rejects.toThrow(/line 3, column 8/);
  });

  it('loads an artifact and reads its scripts relative to the file', async () => {
    await writeTree();
    const plan = await loadArtifactFile(join(dir, 'artifacts', 'm.json'), {
      backends: { t: trustedBackend() },
    });
    expect(plan.scripts.get('p')?.policy.entries).toEqual(['decide']);
    await plan.dispose();
  });

  it('loads scenario files (one or many per file) and compiles each artifact once', async () => {
    await writeTree();
    expect((await findJsonFiles(join(dir, 'scenarios'))).map((f) => f.slice(dir.length))).toEqual([
      '/scenarios/nested/a.json',
      '/scenarios/nested/b.json',
    ]);
    const loaded = await loadScenarioDir(join(dir, 'scenarios'), {
      backends: { t: trustedBackend() },
    });
    expect(loaded.cases.map((c) => c.name)).toEqual(['allowed', 'blocked', 'also']);
    expect(loaded.plans.size).toBe(1);
    expect(new Set(loaded.cases.map((c) => c.plan)).size).toBe(1);
    for (const plan of loaded.plans.values()) await plan.dispose();
  });

  it('rejects an invalid scenario file with paths into it', async () => {
    await writeTree();
    await writeFile(
      join(dir, 'scenarios', 'c.json'),
      JSON.stringify([{ name: 'x', artifact: 'a', fixture: {}, expect: { stauts: 'x' } }]),
    );
    const error = await loadScenarioDir(join(dir, 'scenarios')).catch((e: unknown) => e);
    expect(ConfigError.isInstance(error)).toBe(true);
    expect((error as ConfigError).issues.map((i) => i.path)).toEqual([
      '$[0].fixture.request',
      '$[0].expect.stauts',
    ]);
  });
});
