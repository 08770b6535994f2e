import {
  createGateway,
  DEFAULT_SHUTDOWN_GRACE_MS,
  loadServeConfig,
  sandboxModules,
} from '@wardwright/gateway';
import { serve as listen } from '@wardwright/gateway/node';
import { BACKEND_OPTION, backendsFor } from '../backends.ts';
import type { Command, Context } from '../command.ts';
import { EXIT_OK, UsageError } from '../errors.ts';
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
      backend: BACKEND_OPTION,
    },
    details: `Compiles every artifact the config names, opens its store (a SQLite file beside
the config unless it says "store": "memory"), and serves POST /v1/chat/completions,
GET /v1/models and the /v1/wardwright/* routes on 127.0.0.1:8787 unless told otherwise.
Stops cleanly on Ctrl-C (SIGINT) or SIGTERM. See docs/gateway/serve.md for the config format.

Exit codes: 0 stopped by a signal, 1 the config is invalid or cannot be read, 2 usage error.`,
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
    let gateway: Awaited<ReturnType<typeof createGateway>> | undefined;
    try {
      gateway = await createGateway(loaded.gateway);
      const host = typeof args.values.host === 'string' ? args.values.host : loaded.listen.host;
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
