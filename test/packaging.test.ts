import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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
