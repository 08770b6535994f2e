import { defineConfig } from 'tsup';

// The CLI uses the installed Wardwright packages, never bundled copies of them.
const external = [
  '@wardwright/core',
  '@wardwright/gateway',
  '@wardwright/sandbox-quickjs',
  '@wardwright/sandbox-isolated-vm',
  '@wardwright/starlark',
];

export default defineConfig([
  {
    entry: { cli: 'src/cli.ts' },
    format: ['esm'],
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    banner: { js: '#!/usr/bin/env node' },
    external,
  },
  {
    // The measuring loop of `wardwright bench`, importable (`@wardwright/cli/measure`) so the
    // repository's benchmark suite measures exactly the same way.
    entry: { measure: 'src/commands/bench-measure.ts' },
    format: ['esm'],
    dts: { compilerOptions: { composite: false, incremental: false } },
    sourcemap: true,
    clean: false,
    target: 'node20',
    platform: 'node',
    external,
  },
]);
