import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  type AlertSink,
  type CompileOptions,
  ConfigError,
  type ExecutionMode,
  holdsAvailability,
  memoryAlertSink,
  type Plan,
  type Provider,
  parseWithSchema,
  type Receipt,
  type SandboxBackend,
  SandboxLoadError,
  ScriptedReplySchema,
  StringEnum,
  TaggedUnion,
  webhookAlertSink,
} from '@wardwright/core';
import {
  fileAlertSink,
  loadArtifactFile,
  processSandbox,
  type SandboxPoolOptions,
  workerSandbox,
} from '@wardwright/core/node';
import Type, { type Static } from 'typebox';
import { openSqliteStore, type SqliteStore } from '../durable/sqlite-store.ts';
import type { GatewayOptions } from '../gateway.ts';
import { MIN_API_KEY_LENGTH, openAICompatible } from '../providers/openai-compatible.ts';
import { scriptedProvider } from '../providers/scripted.ts';

/**
 * The JSON config of `wardwright serve`: which artifacts to govern, where their upstreams are,
 * where receipts and history live, who may call. Secrets never sit in the file: keys are read
 * from the environment variables it names. Paths are relative to the config file.
 */

const ProviderConfigSchema = TaggedUnion('kind', [
  Type.Object(
    {
      kind: Type.Literal('scripted'),
      replies: Type.Array(ScriptedReplySchema, {
        minItems: 1,
        description: 'Replies by attempt: the last one repeats.',
      }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('openai_compatible'),
      base_url: Type.String({
        pattern: '^https?://',
        description: 'E.g. https://api.openai.com/v1',
      }),
      api_key_env: Type.Optional(
        Type.String({ minLength: 1, description: 'The environment variable holding the key.' }),
      ),
      timeout_ms: Type.Optional(Type.Integer({ minimum: 1 })),
      max_retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
      max_response_bytes: Type.Optional(
        Type.Integer({
          minimum: 1,
          description:
            'The largest answer read from the upstream, whole or streamed. Default 4194304 (4 MiB).',
        }),
      ),
      stream_usage: Type.Optional(
        Type.Boolean({
          description:
            'Ask a streaming upstream for its usage (stream_options.include_usage). Default true.',
        }),
      ),
    },
    { additionalProperties: false },
  ),
]);

const AlertSinkConfigSchema = TaggedUnion('kind', [
  Type.Object({ kind: Type.Literal('memory') }, { additionalProperties: false }),
  Type.Object(
    {
      kind: Type.Literal('webhook'),
      url: Type.String({ pattern: '^https?://' }),
      timeout_ms: Type.Optional(Type.Integer({ minimum: 1 })),
      batch: Type.Optional(
        Type.Boolean({
          description:
            'POST waiting alerts together as one wardwright.alert_batch.v1 document. Default false.',
        }),
      ),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { kind: Type.Literal('file'), path: Type.String({ minLength: 1 }) },
    { additionalProperties: false },
  ),
]);
type AlertSinkConfig = Static<typeof AlertSinkConfigSchema>;

export const ServeConfigSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    alert_sinks: Type.Optional(
      Type.Record(Type.String({ minLength: 1 }), AlertSinkConfigSchema, {
        description:
          'Alert sinks by the names artifacts use in alerts.sinks; each model gets its own instances. `memory` always exists.',
      }),
    ),
    listen: Type.Optional(
      Type.Object(
        {
          host: Type.Optional(Type.String({ minLength: 1, description: 'Default 127.0.0.1.' })),
          port: Type.Optional(
            Type.Integer({ minimum: 0, maximum: 65535, description: 'Default 8787.' }),
          ),
          headers_timeout_ms: Type.Optional(
            Type.Integer({
              minimum: 1,
              description:
                'Milliseconds for request headers to arrive; later is answered 408 request_timeout. Default 30000.',
            }),
          ),
          request_timeout_ms: Type.Optional(
            Type.Integer({
              minimum: 1,
              description:
                'Milliseconds for the whole request (headers and body) to arrive; later is answered 408 request_timeout. Default 60000.',
            }),
          ),
          shutdown_grace_ms: Type.Optional(
            Type.Integer({
              minimum: 0,
              description:
                'On SIGTERM/SIGINT, how long requests in flight may finish before the rest are ended (receipt status gateway_shutdown). Default 10000.',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    deadline_ms: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          'The longest a chat request may take in all (upstream retries and guard attempts included); past it, 504 deadline_exceeded. Clients may ask for less with x-wardwright-deadline-ms. Default 600000.',
      }),
    ),
    models: Type.Array(
      Type.Object(
        {
          artifact: Type.String({ minLength: 1, description: 'An artifact file.' }),
          provider: Type.String({ minLength: 1, description: 'A key of `providers`.' }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
    providers: Type.Record(Type.String({ minLength: 1 }), ProviderConfigSchema),
    execution: Type.Optional(
      StringEnum(['contained', 'worker', 'process', 'inline'], {
        description:
          'Where script rules run. contained (default): each sandbox in the weakest mode that contains a hostile script: QuickJS, Starlark and trusted in worker threads, isolated-vm in child processes. worker: every sandbox in worker threads (isolated-vm refuses: a thread cannot contain it). process: every sandbox in child processes. inline: on the event loop (fastest per call; a looping script blocks every model until its timeout, and an isolated-vm script can abort the server).',
      }),
    ),
    store: Type.Optional(
      Type.Union([
        Type.Literal('memory'),
        Type.Object(
          {
            path: Type.String({ minLength: 1 }),
            retention: Type.Optional(
              Type.Object(
                {
                  max_receipts: Type.Optional(Type.Integer({ minimum: 1 })),
                  max_age_ms: Type.Optional(Type.Integer({ minimum: 1 })),
                },
                { additionalProperties: false },
              ),
            ),
            durability: Type.Optional(StringEnum(['process', 'os'])),
          },
          { additionalProperties: false },
        ),
      ]),
    ),
    auth: Type.Optional(
      Type.Object(
        {
          admin_token_env: Type.Optional(Type.String({ minLength: 1 })),
          api_keys: Type.Optional(
            Type.Record(
              Type.String({ minLength: 1 }),
              Type.Array(Type.String({ pattern: '^[0-9a-f]{64}$' }), {
                description: 'SHA-256 hex digests of the keys a model accepts.',
              }),
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ServeConfig = Static<typeof ServeConfigSchema>;

export const DEFAULT_PORT = 8787;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_STORE_FILE = 'wardwright.db';

export interface LoadedServeConfig {
  /** Ready for `createGateway`. */
  gateway: GatewayOptions;
  listen: {
    host: string;
    port: number;
    headersTimeoutMs?: number;
    requestTimeoutMs?: number;
    shutdownGraceMs?: number;
  };
  /** The durable store, when the config has one (the default); close it after the gateway. */
  store: SqliteStore<Receipt> | undefined;
  /** The compiled plans: dispose them after the gateway is closed. */
  plans: Plan[];
  /** Everything above, in the right order. */
  close(): Promise<void>;
}

export interface LoadServeConfigOptions {
  /** Sandbox backends for the artifacts' script rules. */
  backends?: CompileOptions['backends'];
  /** Where `*_env` names are read. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Unless `execution` is `inline`, how each backend of `backends` starts inside a worker thread
   * or a child process, by its name there; a backend not listed here runs inline. Default
   * `sandboxModules()`: quickjs, isolated-vm, starlark and trusted, resolved from the working
   * directory.
   */
  sandboxModules?: Readonly<Record<string, SandboxModule>>;
}

/** Where a sandbox backend's factory lives, for executors to import it. */
export interface SandboxModule {
  backend: SandboxPoolOptions['backend'];
  /** Where `backend.module` is resolved from (a file URL or a directory ending in `/`). */
  resolveFrom?: string | URL;
}

/**
 * The sandbox backends `wardwright serve` can run outside the event loop, by the names the CLI
 * gives them. `resolveFrom` is where their packages are found (pass `import.meta.url`).
 */
export function sandboxModules(resolveFrom?: string | URL): Record<string, SandboxModule> {
  const from = resolveFrom === undefined ? {} : { resolveFrom };
  return {
    quickjs: {
      backend: { module: '@wardwright/sandbox-quickjs', export: 'quickjsSandbox' },
      ...from,
    },
    'isolated-vm': {
      backend: { module: '@wardwright/sandbox-isolated-vm', export: 'isolatedVmSandbox' },
      ...from,
    },
    starlark: { backend: { module: '@wardwright/starlark', export: 'starlarkSandbox' }, ...from },
    trusted: { backend: { module: '@wardwright/core', export: 'trustedBackend' }, ...from },
  };
}

type Execution = NonNullable<ServeConfig['execution']>;

/** The V8 heap each sandbox worker thread of `wardwright serve` may use. */
const WORKER_HEAP_MB = 512;

/** The mode a backend runs in under `execution`, or why it cannot run there. */
function modeFor(
  execution: Exclude<Execution, 'inline'>,
  backend: SandboxBackend,
): ExecutionMode | { refused: string } {
  const containedBy = backend.capabilities.containedBy;
  switch (execution) {
    case 'contained':
      // A backend nothing contains (trusted) still gets a worker's hard kill.
      return containedBy === 'process' ? 'process' : 'worker';
    case 'worker':
      return containedBy === 'process'
        ? {
            refused: `execution "worker": a worker thread cannot contain the ${backend.name} backend (a script can abort the process, or keep the thread busy after it is terminated); use "contained" or "process"`,
          }
        : 'worker';
    case 'process':
      return 'process';
  }
}

/**
 * The same backend in a worker or process pool, started on the first script load (a config
 * without scripts starts nothing). Name and language come from the inline instance, and the
 * capabilities the pool will report: those of the same backend in that mode.
 */
function contained(
  inline: SandboxBackend,
  module: SandboxModule,
  mode: ExecutionMode | { refused: string },
): SandboxBackend {
  const refused = typeof mode === 'object' ? mode.refused : undefined;
  const execution: ExecutionMode = typeof mode === 'object' ? 'inline' : mode;
  const name = refused === undefined ? `${inline.name}+${execution}` : inline.name;
  let started: Promise<SandboxBackend> | undefined;
  const start = (): Promise<SandboxBackend> => {
    if (refused !== undefined) return Promise.reject(new Error(refused));
    const options = {
      backend: module.backend,
      ...(module.resolveFrom === undefined ? {} : { resolveFrom: module.resolveFrom }),
      name,
    };
    return execution === 'process'
      ? // isolated-vm asks every Node it runs in for --no-node-snapshot.
        processSandbox({ ...options, execArgv: ['--no-node-snapshot'] })
      : // A heap cap per worker: a backstop for work a sandbox does not charge to its guest.
        workerSandbox({ ...options, resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
  };
  return {
    specificationVersion: 'v1',
    name,
    language: inline.language,
    capabilities: {
      ...inline.capabilities,
      hardKill: inline.capabilities.hardKill || execution !== 'inline',
      execution,
      availability: holdsAvailability(execution, inline.capabilities.containedBy),
    },
    async load(source, limits) {
      started ??= start();
      let backend: SandboxBackend;
      try {
        backend = await started;
      } catch (error) {
        throw new SandboxLoadError(source.name, {
          kind: 'backend_failure',
          message: (error as Error).message,
        });
      }
      return backend.load(source, limits);
    },
    async dispose() {
      const backend = await started?.catch(() => undefined);
      await backend?.dispose();
    },
  };
}

/**
 * Read and check a serve config, compile its artifacts and open its store. Every problem in
 * the file is reported at once (a ConfigError with `$.paths`); a missing environment variable
 * or provider name is reported with its path too.
 */
export async function loadServeConfig(
  file: string,
  options: LoadServeConfigOptions = {},
): Promise<LoadedServeConfig> {
  const text = await readFile(file, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(file, [
      { path: '$', message: `is not JSON: ${(error as Error).message}` },
    ]);
  }
  const config = parseWithSchema(ServeConfigSchema, json, file);
  const env = options.env ?? process.env;
  const issues: { path: string; message: string }[] = [];
  const providers: Record<string, Provider> = {};
  for (const [name, provider] of Object.entries(config.providers)) {
    const at = `$.providers.${name}`;
    switch (provider.kind) {
      case 'scripted':
        providers[name] = scriptedProvider(provider.replies);
        break;
      case 'openai_compatible': {
        const key = provider.api_key_env === undefined ? undefined : env[provider.api_key_env];
        if (provider.api_key_env !== undefined && (key === undefined || key === '')) {
          issues.push({
            path: `${at}.api_key_env`,
            message: `names ${provider.api_key_env}, which is not set in the environment`,
          });
        } else if (key !== undefined && key.length < MIN_API_KEY_LENGTH) {
          // openAICompatible refuses it too; said here, it names where the value came from.
          issues.push({
            path: `${at}.api_key_env`,
            message: `names ${provider.api_key_env}, whose value is ${key.length} character${key.length === 1 ? '' : 's'}: an API key must be at least ${MIN_API_KEY_LENGTH} (is it the real key?)`,
          });
        }
        const usable = key !== undefined && key.length >= MIN_API_KEY_LENGTH ? key : undefined;
        providers[name] = openAICompatible({
          baseURL: provider.base_url,
          ...(usable === undefined ? {} : { apiKey: usable }),
          ...(provider.timeout_ms === undefined ? {} : { timeoutMs: provider.timeout_ms }),
          ...(provider.max_retries === undefined ? {} : { maxRetries: provider.max_retries }),
          ...(provider.max_response_bytes === undefined
            ? {}
            : { maxResponseBytes: provider.max_response_bytes }),
          ...(provider.stream_usage === undefined ? {} : { streamUsage: provider.stream_usage }),
        });
        break;
      }
    }
  }
  for (const [i, model] of config.models.entries()) {
    if (providers[model.provider] === undefined) {
      issues.push({
        path: `$.models[${i}].provider`,
        message: `names ${JSON.stringify(model.provider)}, which is not a key of providers (known: ${Object.keys(providers).join(', ') || 'none'})`,
      });
    }
  }
  let adminToken: string | undefined;
  const tokenEnv = config.auth?.admin_token_env;
  if (tokenEnv !== undefined) {
    adminToken = env[tokenEnv];
    if (adminToken === undefined || adminToken === '') {
      issues.push({
        path: '$.auth.admin_token_env',
        message: `names ${tokenEnv}, which is not set in the environment`,
      });
    } else if (adminToken.length < 16) {
      // createGateway refuses it too; said here, it is a config error naming where it came from.
      issues.push({
        path: '$.auth.admin_token_env',
        message: `names ${tokenEnv}, whose value is ${adminToken.length} characters: an admin token must be at least 16`,
      });
    }
  }
  if (issues.length > 0) throw new ConfigError(file, issues);

  const base = dirname(resolve(file));
  const plans: Plan[] = [];
  let sinksPerModel: Record<string, AlertSink>[] = [];
  let store: SqliteStore<Receipt> | undefined;
  const pools: SandboxBackend[] = [];
  let backends = options.backends;
  const execution = config.execution ?? 'contained';
  if (backends !== undefined && execution !== 'inline') {
    const modules = options.sandboxModules ?? sandboxModules();
    const wrapped: Record<string, SandboxBackend> = {};
    for (const [name, backend] of Object.entries(backends)) {
      const module = modules[name];
      wrapped[name] =
        module === undefined ? backend : contained(backend, module, modeFor(execution, backend));
      if (module !== undefined) pools.push(wrapped[name]);
    }
    backends = wrapped;
  }
  const close = async () => {
    await store?.close();
    await Promise.all(plans.map((p) => p.dispose()));
    await Promise.all(pools.map((p) => p.dispose()));
  };
  try {
    for (const model of config.models) {
      plans.push(
        await loadArtifactFile(resolve(base, model.artifact), {
          ...(backends === undefined ? {} : { backends }),
        }),
      );
    }
    const sinkConfigs: Record<string, AlertSinkConfig> = {
      memory: { kind: 'memory' },
      ...config.alert_sinks,
    };
    const missing = plans.flatMap((plan, i) =>
      plan.alerts.sinks
        .filter((name) => sinkConfigs[name] === undefined)
        .map((name) => ({
          path: `$.models[${i}].artifact`,
          message: `sends alerts to sink ${JSON.stringify(name)}, which is not a key of alert_sinks (known: ${Object.keys(sinkConfigs).join(', ')})`,
        })),
    );
    if (missing.length > 0) throw new ConfigError(file, missing);
    sinksPerModel = plans.map(() => {
      const sinks: Record<string, AlertSink> = {};
      for (const [name, sink] of Object.entries(sinkConfigs)) {
        sinks[name] = alertSinkOf(name, sink, base);
      }
      return sinks;
    });
    const storeConfig = config.store ?? { path: DEFAULT_STORE_FILE };
    if (storeConfig !== 'memory') {
      store = await openSqliteStore<Receipt>({
        path: resolve(base, storeConfig.path),
        ...(storeConfig.retention === undefined ? {} : { retention: storeConfig.retention }),
        ...(storeConfig.durability === undefined ? {} : { durability: storeConfig.durability }),
      });
    }
  } catch (error) {
    await close();
    throw error;
  }
  const auth: NonNullable<GatewayOptions['auth']> = {
    ...(adminToken === undefined ? {} : { adminToken }),
    ...(config.auth?.api_keys === undefined ? {} : { apiKeys: config.auth.api_keys }),
  };
  const gateway: GatewayOptions = {
    models: config.models.map((model, i) => ({
      plan: plans[i]!,
      provider: model.provider,
      alertSinks: sinksPerModel[i]!,
    })),
    providers,
    ...(store === undefined ? {} : { store }),
    ...(config.auth === undefined ? {} : { auth }),
    ...(config.deadline_ms === undefined ? {} : { deadlineMs: config.deadline_ms }),
  };
  return {
    gateway,
    listen: {
      host: config.listen?.host ?? DEFAULT_HOST,
      port: config.listen?.port ?? DEFAULT_PORT,
      ...(config.listen?.headers_timeout_ms === undefined
        ? {}
        : { headersTimeoutMs: config.listen.headers_timeout_ms }),
      ...(config.listen?.request_timeout_ms === undefined
        ? {}
        : { requestTimeoutMs: config.listen.request_timeout_ms }),
      ...(config.listen?.shutdown_grace_ms === undefined
        ? {}
        : { shutdownGraceMs: config.listen.shutdown_grace_ms }),
    },
    store,
    plans,
    close,
  };
}

// Each model gets its own sink instances, so one model's slow sink never holds another's alerts.
function alertSinkOf(name: string, sink: AlertSinkConfig, base: string): AlertSink {
  switch (sink.kind) {
    case 'memory':
      return memoryAlertSink({ name });
    case 'webhook':
      return webhookAlertSink({
        name,
        url: sink.url,
        ...(sink.timeout_ms === undefined ? {} : { timeout_ms: sink.timeout_ms }),
        ...(sink.batch === undefined ? {} : { batch: sink.batch }),
      });
    case 'file':
      return fileAlertSink({ name, path: resolve(base, sink.path) });
  }
}
