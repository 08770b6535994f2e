import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: { compilerOptions: { composite: false, incremental: false } },
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    treeshake: true,
    external: ['@wardwright/core'],
  },
  {
    entry: { cli: 'src/cli.ts' },
    format: ['esm'],
    sourcemap: true,
    clean: false,
    target: 'node20',
    platform: 'node',
    external: ['@wardwright/core'],
  },
]);
