import {
  createGateway,
  DEFAULT_SHUTDOWN_GRACE_MS,
  loadServeConfig,
  sandboxModules,
} from '@wardwright/gateway';
import { serve as listen } from '@wardwright/gateway/node';
import { BACKEND_OPTION, backendsFor } from '../backends.ts';
import type { Command, Context } from '../command.ts';
import { EXIT_FAILED, EXIT_OK, UsageError } from '../errors.ts';
import { orReport } from './load.ts';

export const serve: Command = {
  spec: {
    name: 'serve',
    summary: 'Serve the governed models of a config as an OpenAI-compatible gateway.',
    positionals: [],
    options: {
      config: {
        type: 'string',
        value: 'FILE',
        description: 'The serve config (JSON): models, providers, store, auth. Required.',
      },
      port: { type: 'string', value: 'N', description: "Override the config's listen.port." },
      host: { type: 'string', value: 'HOST', description: "Override the config's listen.host." },
      'open-admin': {
        type: 'boolean',
        description:
          'Serve a non-loopback address without an admin token (the /v1/wardwright/* routes then answer anyone who can reach it).',
      },
      backend: BACKEND_OPTION,
    },
    details: `Compiles every artifact the config names, opens its store (a SQLite file beside
the config unless it says "store": "memory"), and serves POST /v1/chat/completions,
GET /v1/models and the /v1/wardwright/* routes on 127.0.0.1:8787 unless told otherwise.
Stops cleanly on Ctrl-C (SIGINT) or SIGTERM. See docs/gateway/serve.md for the config format.

Serving an address other than loopback needs an admin token (auth.admin_token_env), or
--open-admin to serve the admin routes open.

Exit codes: 0 stopped by a signal, 1 the config is invalid or cannot be read (or a non-loopback
address without an admin token), 2 usage error.`,
  },

  async run(args, context) {
    const file = args.values.config;
    if (typeof file !== 'string') throw new UsageError('--config FILE is required');
    const port = portOf(args.values.port);
    const backends = await backendsFor(args);
    const loaded = await orReport(file, context, () =>
      loadServeConfig(file, {
        backends,
        // Resolved from here: the CLI depends on the sandbox packages it runs in pools.
        sandboxModules: sandboxModules(import.meta.url),
      }),
    );
    context.note.afterLoading(loaded.plans);
    const host = typeof args.values.host === 'string' ? args.values.host : loaded.listen.host;
    const openAdmin = !isLoopback(host) && loaded.gateway.auth?.adminToken === undefined;
    if (openAdmin && args.values['open-admin'] !== true) {
      await loaded.close();
      context.io.err(
        context.err.red(
          `wardwright serve: refusing to serve ${host}, which is not a loopback address, without an admin token: anyone who can reach it could read every receipt, the live events and the runtime. Set auth.admin_token_env in the config, or pass --open-admin to serve the admin routes open anyway.\n`,
        ),
      );
      return EXIT_FAILED;
    }
    let gateway: Awaited<ReturnType<typeof createGateway>> | undefined;
    try {
      gateway = await createGateway(loaded.gateway);
      if (openAdmin) {
        context.io.err(
          `wardwright: warning: ${host} is not loopback and there is no admin token: /v1/wardwright/* answers anyone (--open-admin)\n`,
        );
      }
      const served = await listen(gateway, {
        port: port ?? loaded.listen.port,
        hostname: host,
        headersTimeoutMs: loaded.listen.headersTimeoutMs,
        requestTimeoutMs: loaded.listen.requestTimeoutMs,
      });
      printBanner(
        context,
        served.url,
        loaded.plans.map((p) => p.model.id),
        loaded.store?.driver,
      );
      await stopped(context.signal);
      const grace = loaded.listen.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
      context.io.err(
        `wardwright: stopping: requests in flight may finish for up to ${grace} ms (Ctrl-C again stops at once)\n`,
      );
      // Stop accepting now; connections close as their responses end.
      const closing = served.close({ graceMs: grace + 2000 });
      const { finished, cut } = await gateway.drain({ graceMs: grace });
      await closing;
      context.io.err(
        `wardwright: stopped (${finished} finished${cut === 0 ? '' : `, ${cut} ended at the end of the grace period`})\n`,
      );
      return EXIT_OK;
    } finally {
      await gateway?.close();
      await loaded.close();
    }
  },
};

/** 127.0.0.0/8, ::1, localhost: only this machine can connect. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

function portOf(value: string | boolean | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (typeof value !== 'string' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--port must be an integer from 0 to 65535, not ${String(value)}`);
  }
  return port;
}

function stopped(signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return new Promise(() => {});
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(), { once: true }),
  );
}

function printBanner(
  context: Context,
  url: string,
  models: readonly string[],
  driver: string | undefined,
): void {
  const model = models[0] ?? 'MODEL';
  const { out } = context;
  context.io.out(
    [
      `${out.bold('wardwright')} serving ${models.join(', ')} on ${url}`,
      `receipts: ${driver === undefined ? 'in memory' : `SQLite (${driver})`}`,
      '',
      'Try it:',
      `  curl -s ${url}/v1/chat/completions -H 'content-type: application/json' \\`,
      `    -d '{"model":"${model}","messages":[{"role":"user","content":"hello"}]}'`,
      `  curl -s ${url}/v1/wardwright/receipts?limit=1`,
      '',
      'From the openai client:',
      `  const client = new OpenAI({ baseURL: '${url}/v1', apiKey: 'unused' });`,
      `  await client.chat.completions.create({ model: '${model}', messages: [{ role: 'user', content: 'hello' }] });`,
      '',
      'Ctrl-C stops.',
      '',
    ].join('\n'),
  );
}
