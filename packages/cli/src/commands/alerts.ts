import type { AlertRecord } from '@wardwright/gateway';
import { suggestion } from '../args.ts';
import type { Command, Context } from '../command.ts';
import { EXIT_FAILED, EXIT_OK, ReportedError, UsageError } from '../errors.ts';

const ACTIONS = ['dead-letters', 'redrive'] as const;
type Action = (typeof ACTIONS)[number];

/**
 * `wardwright alerts dead-letters|redrive --url URL`: the dead letters of a running gateway,
 * listed or queued again, through its admin API (so a redrive goes straight into the live
 * queues, and a durable store records it first).
 */
export const alerts: Command = {
  spec: {
    name: 'alerts',
    summary: "List a running gateway's dead-lettered alerts, or queue them again (redrive).",
    positionals: ['ACTION'],
    options: {
      url: {
        type: 'string',
        value: 'URL',
        description: 'The gateway, e.g. http://127.0.0.1:8787. Required.',
      },
      'token-env': {
        type: 'string',
        value: 'NAME',
        description: 'The environment variable holding the admin token, if the gateway has one.',
      },
      model: { type: 'string', value: 'ID', description: 'Only this governed model.' },
      sink: { type: 'string', value: 'NAME', description: 'Only this alert sink.' },
      key: {
        type: 'string',
        value: 'KEYS',
        description: 'Only these idempotency keys (comma-separated).',
      },
      json: { type: 'boolean', description: 'Print the records as JSON.' },
    },
    details: `ACTION is dead-letters (list them, newest first) or redrive (queue them again,
attempts from zero; they are delivered by the running gateway). With a durable store the
listing includes dead letters from before a restart; without one, those the queues keep in
memory. See docs/gateway/serve.md#alerts.

Exit codes: 0 done, 1 the gateway refused or could not be reached, 2 usage error.`,
  },

  async run(args, context) {
    const action = actionOf(args.positionals[0]);
    const base = urlOf(args.values.url);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const tokenEnv = args.values['token-env'];
    if (typeof tokenEnv === 'string') {
      const token = context.io.env[tokenEnv];
      if (token === undefined || token === '') {
        throw new UsageError(`--token-env names ${tokenEnv}, which is not set in the environment`);
      }
      headers.authorization = `Bearer ${token}`;
    }
    const model = stringOption(args.values.model);
    const sink = stringOption(args.values.sink);
    const keyList = stringOption(args.values.key);
    const keys = keyList?.split(',').filter((k) => k !== '');
    let response: Response;
    try {
      if (action === 'dead-letters') {
        const query = new URLSearchParams({ limit: '1000' });
        if (model !== undefined) query.set('model', model);
        if (sink !== undefined) query.set('sink', sink);
        response = await fetch(`${base}/v1/wardwright/alerts/dead-letters?${query}`, { headers });
      } else {
        response = await fetch(`${base}/v1/wardwright/alerts/redrive`, {
          method: 'POST',
          headers,
          body: JSON.stringify({
            ...(model === undefined ? {} : { model }),
            ...(sink === undefined ? {} : { sink }),
            ...(keys === undefined ? {} : { keys }),
          }),
        });
      }
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      context.io.err(
        context.err.red(
          `wardwright alerts: cannot reach ${base}: ${cause instanceof Error ? cause.message : String(cause)}\n`,
        ),
      );
      throw new ReportedError('unreachable');
    }
    const body = (await response.json().catch(() => null)) as {
      data?: AlertRecord[];
      redriven?: number;
      error?: { message?: string };
    } | null;
    if (!response.ok || body === null || !Array.isArray(body.data)) {
      context.io.err(
        context.err.red(
          `wardwright alerts: ${base} answered ${response.status}: ${body?.error?.message ?? 'not a Wardwright gateway answer'}\n`,
        ),
      );
      return EXIT_FAILED;
    }
    let records = body.data;
    if (action === 'dead-letters' && keys !== undefined) {
      records = records.filter((r) => keys.includes(r.idempotency_key));
    }
    if (args.values.json === true) {
      context.io.out(`${JSON.stringify(records, null, 2)}\n`);
      return EXIT_OK;
    }
    printRecords(context, action, records);
    return EXIT_OK;
  },
};

function printRecords(context: Context, action: Action, records: readonly AlertRecord[]): void {
  for (const r of records) {
    const why = r.reason === null ? '' : ` ${r.reason}`;
    const error = r.error === null ? '' : ` — ${r.error}`;
    context.io.out(
      `${r.model_id} ${r.sink} ${r.idempotency_key}${why}, ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}${r.receipt_id === null ? '' : ` (${r.receipt_id})`}${error}\n`,
    );
  }
  const n = records.length;
  context.io.out(
    action === 'redrive'
      ? `${n} dead letter${n === 1 ? '' : 's'} queued again\n`
      : `${n} dead letter${n === 1 ? '' : 's'}\n`,
  );
}

function actionOf(value: string | undefined): Action {
  if (value !== undefined && (ACTIONS as readonly string[]).includes(value)) return value as Action;
  const given = value ?? '(none)';
  throw new UsageError(
    `ACTION must be one of ${ACTIONS.join(', ')}, not ${given}${suggestion(given, ACTIONS)}`,
  );
}

function urlOf(value: string | boolean | undefined): string {
  if (typeof value !== 'string') throw new UsageError('--url URL is required');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--url must be an http(s) URL, not ${value}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url must be an http(s) URL, not ${value}`);
  }
  return url.href.replace(/\/+$/, '');
}

function stringOption(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
