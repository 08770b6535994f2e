import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: { compilerOptions: { composite: false, incremental: false } },
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  treeshake: true,
  // The CJS build needs `import.meta.url` too (session.ts finds the QuickJS .wasm from it).
  shims: true,
  external: ['@wardwright/core'],
});
