import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The other tests run against the TypeScript sources; this one checks what npm would ship:
// the built ESM and CJS entry points load in a plain Node process and export the same API.
const coreDir = fileURLToPath(new URL('../packages/core/', import.meta.url));

function runNode(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: coreDir, encoding: 'utf8' });
}

describe('@wardwright/core build output', () => {
  it('has been built', () => {
    expect(existsSync(`${coreDir}dist/index.js`)).toBe(true);
    expect(existsSync(`${coreDir}dist/index.cjs`)).toBe(true);
  });

  it('exposes the same names from import and require', () => {
    const esm = runNode([
      '--input-type=module',
      '-e',
      "const m = await import('@wardwright/core'); console.log(JSON.stringify(Object.keys(m).sort()))",
    ]);
    const cjs = runNode([
      '-e',
      "console.log(JSON.stringify(Object.keys(require('@wardwright/core')).sort()))",
    ]);
    expect(JSON.parse(cjs)).toEqual(JSON.parse(esm));
    expect(JSON.parse(esm)).toContain('WardwrightError');
  });

  it('recognises an error thrown by the CJS copy from the ESM copy (marker symbols)', () => {
    const out = runNode([
      '--input-type=module',
      '-e',
      [
        "import { createRequire } from 'node:module';",
        "const esm = await import('@wardwright/core');",
        "const cjs = createRequire(process.cwd() + '/')('@wardwright/core');",
        "const error = new cjs.ConfigError('x', [{ path: '$', message: 'bad' }]);",
        'console.log(error instanceof esm.ConfigError, esm.ConfigError.isInstance(error));',
      ].join('\n'),
    ]);
    expect(out.trim()).toBe('false true');
  });
});

describe('@wardwright/core subpaths and shipped JSON Schemas', () => {
  it('exposes @wardwright/core/node from import and require alike', () => {
    const esm = runNode([
      '--input-type=module',
      '-e',
      "const m = await import('@wardwright/core/node'); console.log(JSON.stringify(Object.keys(m).sort()))",
    ]);
    const cjs = runNode([
      '-e',
      "console.log(JSON.stringify(Object.keys(require('@wardwright/core/node')).sort()))",
    ]);
    expect(JSON.parse(cjs)).toEqual(JSON.parse(esm));
    expect(JSON.parse(esm)).toEqual(
      expect.arrayContaining(['loadArtifactFile', 'jsonlReceiptStore']),
    );
  });

  it('ships JSON Schema files equal to the exported TypeBox schemas, usable by any validator', async () => {
    const core = await import('@wardwright/core');
    const { Ajv2020 } = await import('ajv/dist/2020.js');
    const files = {
      'artifact.v1.json': core.ArtifactSchema,
      'receipt.v1.json': core.ReceiptSchema,
      'scenario.v1.json': core.ScenarioSchema,
      'fixture.v1.json': core.FixtureSchema,
    };
    for (const [file, schema] of Object.entries(files)) {
      const shipped = JSON.parse(readFileSync(`${coreDir}schemas/${file}`, 'utf8'));
      expect(shipped.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      const { $schema: _s, $id: _i, title: _t, ...body } = shipped;
      expect(body, file).toEqual(JSON.parse(JSON.stringify(schema)));
    }
    // An editor's validator (no Wardwright code) accepts every example artifact and rejects a typo.
    const validate = new Ajv2020({ strict: false }).compile(
      JSON.parse(readFileSync(`${coreDir}schemas/artifact.v1.json`, 'utf8')),
    );
    const examples = fileURLToPath(new URL('../examples/artifacts/', import.meta.url));
    for (const name of readdirSync(examples)) {
      const artifact = JSON.parse(readFileSync(`${examples}${name}`, 'utf8'));
      expect(validate(artifact), name).toBe(true);
      expect(validate({ ...artifact, request_rule: [] }), name).toBe(false);
    }
  });
});
