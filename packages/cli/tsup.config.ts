import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { cli: 'src/cli.ts' },
  format: ['esm'],
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  banner: { js: '#!/usr/bin/env node' },
  // The CLI uses the installed @wardwright/core, never a bundled copy of it.
  external: [
    '@wardwright/core',
    '@wardwright/gateway',
    '@wardwright/sandbox-quickjs',
    '@wardwright/sandbox-isolated-vm',
    '@wardwright/starlark',
  ],
});
