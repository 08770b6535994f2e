import { mkdir, writeFile } from 'node:fs/promises';
import { defineConfig } from 'tsup';
import { ArtifactSchema } from './src/engine/artifact.ts';
import { ReceiptSchema } from './src/engine/receipt.ts';
import { FixtureSchema, ScenarioSchema } from './src/engine/simulate.ts';

/** The JSON Schema files shipped for editors (`"$schema"` in an artifact, VS Code settings). */
const JSON_SCHEMAS = {
  'artifact.v1.json': { schema: ArtifactSchema, title: 'Wardwright artifact v1' },
  'receipt.v1.json': { schema: ReceiptSchema, title: 'Wardwright receipt v1' },
  'scenario.v1.json': { schema: ScenarioSchema, title: 'Wardwright scenario v1' },
  'fixture.v1.json': { schema: FixtureSchema, title: 'Wardwright fixture v1' },
};

async function writeJsonSchemas(): Promise<void> {
  await mkdir('schemas', { recursive: true });
  for (const [file, { schema, title }] of Object.entries(JSON_SCHEMAS)) {
    const document = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: `https://wardwright.dev/schemas/${file}`,
      title,
      ...JSON.parse(JSON.stringify(schema)),
    };
    await writeFile(`schemas/${file}`, `${JSON.stringify(document, null, 2)}\n`);
  }
}

export default defineConfig({
  entry: ['src/index.ts', 'src/node/index.ts', 'src/testing/index.ts'],
  format: ['esm', 'cjs'],
  // The typecheck project is composite (for `tsc -b`); the declaration bundle is not.
  dts: { compilerOptions: { composite: false, incremental: false } },
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  treeshake: true,
  onSuccess: writeJsonSchemas,
});
