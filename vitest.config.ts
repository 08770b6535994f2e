import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources; the packaging test checks the built output.
    alias: [
      {
        find: /^@wardwright\/core$/,
        replacement: fileURLToPath(new URL('./packages/core/src/index.ts', import.meta.url)),
      },
      {
        find: /^@wardwright\/core\/node$/,
        replacement: fileURLToPath(new URL('./packages/core/src/node/index.ts', import.meta.url)),
      },
      {
        find: /^@wardwright\/core\/testing$/,
        replacement: fileURLToPath(
          new URL('./packages/core/src/testing/index.ts', import.meta.url),
        ),
      },
      {
        find: /^@wardwright\/sandbox-quickjs$/,
        replacement: fileURLToPath(
          new URL('./packages/sandbox-quickjs/src/index.ts', import.meta.url),
        ),
      },
      {
        find: /^@wardwright\/sandbox-isolated-vm$/,
        replacement: fileURLToPath(
          new URL('./packages/sandbox-isolated-vm/src/index.ts', import.meta.url),
        ),
      },
      {
        find: /^@wardwright\/starlark$/,
        replacement: fileURLToPath(
          new URL('./packages/starlark-adapter/src/index.ts', import.meta.url),
        ),
      },
      {
        find: /^@wardwright\/gateway$/,
        replacement: fileURLToPath(
          new URL('./packages/gateway-adapter/src/index.ts', import.meta.url),
        ),
      },
      {
        find: /^@wardwright\/gateway\/(node|express|fastify|hono)$/,
        replacement: fileURLToPath(
          new URL('./packages/gateway-adapter/src/$1.ts', import.meta.url),
        ),
      },
    ],
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
    pool: 'forks',
    // Property tests and spawned CLIs take seconds; on a shared, loaded 2-core machine several
    // times the default 5 s. Timeouts catch hangs, not slowness (speed goals live in benchmarks).
    testTimeout: 30_000,
    // isolated-vm asks for it on Node 20+ (V8's shared read-only heap); harmless elsewhere.
    execArgv: ['--no-node-snapshot'],
    coverage: {
      provider: 'v8',
      include: [
        'packages/core/src/decisions/**/*.ts',
        'packages/core/src/engine/**/*.ts',
        'packages/core/src/node/**/*.ts',
      ],
      exclude: ['**/*.test.ts', '**/*.fixtures.ts', '**/index.ts'],
      reporter: ['text-summary', 'text'],
      thresholds: {
        // The decision cores are small pure functions: near-total coverage is the bar.
        'packages/core/src/decisions/**/*.ts': {
          lines: 95,
          branches: 95,
          functions: 95,
          statements: 95,
        },
        // The engine threads I/O and error paths (aborts, hooks that throw) around the cores.
        'packages/core/src/{engine,node}/**/*.ts': {
          lines: 90,
          branches: 85,
          functions: 85,
          statements: 90,
        },
      },
    },
  },
});
