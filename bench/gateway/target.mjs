// One benchmark target in a process of its own (started by run.mjs with `fork`, so it shares an
// event loop with neither the load generator nor another target). Kinds:
//   upstream             the scripted OpenAI-compatible upstream (startScriptedUpstream)
//   none|rules|stream    Wardwright (`serve` from @wardwright/gateway/node) → the upstream
//   isolation            Wardwright with two models: the typical rules, and a looping QuickJS
//                        script policy in worker mode
//   alerts               Wardwright, the typical rules plus an alert on every request toward a
//                        file sink (fsync'd) with the default queue
// It listens on 127.0.0.1 (port 0), sends `{ url }` over IPC when ready, and closes and exits
// on a `stop` message or when the parent goes away (so a crashed bench leaves nothing behind).
// Exiting normally matters: `node --cpu-prof` writes its profile at exit.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway, openAICompatible, startScriptedUpstream } from '@wardwright/gateway';
import { serve } from '@wardwright/gateway/node';
import {
  ALERT_SINK,
  alertsArtifact,
  CHUNKS,
  loopingArtifact,
  noRules,
  streamRules,
  typicalRules,
} from './workload.mjs';

const [kind, upstreamUrl] = process.argv.slice(2);

/** @type {() => Promise<void>} */
let close;
/** @type {string} */
let url;

if (kind === 'upstream') {
  const upstream = await startScriptedUpstream({ replies: [{ kind: 'stream', chunks: CHUNKS }] });
  // The upstream keeps every request it saw (for tests); a benchmark would grow it without bound.
  const trim = setInterval(() => {
    upstream.requests.length = 0;
  }, 500);
  url = upstream.url;
  close = async () => {
    clearInterval(trim);
    await upstream.close();
  };
} else {
  if (upstreamUrl === undefined) throw new Error(`target ${kind}: no upstream URL`);
  // Retries off: a benchmark counts an upstream failure, it does not paper over it.
  const provider = openAICompatible({ baseURL: upstreamUrl, maxRetries: 0, timeoutMs: 30_000 });
  /** @type {import('@wardwright/gateway').GatewayModel[]} */
  let models;
  /** @type {{ dispose(): Promise<void> } | undefined} */
  let pool;
  /** @type {string | undefined} */
  let scratch;
  if (kind === 'none') models = [{ artifact: noRules, provider }];
  else if (kind === 'rules') models = [{ artifact: typicalRules, provider }];
  else if (kind === 'stream') models = [{ artifact: streamRules, provider }];
  else if (kind === 'isolation') {
    const { workerSandbox } = await import('@wardwright/core/node');
    const quickjs = await workerSandbox({
      backend: { module: '@wardwright/sandbox-quickjs', export: 'quickjsSandbox' },
      threads: 1,
      resolveFrom: import.meta.url,
    });
    pool = quickjs;
    models = [
      { artifact: typicalRules, provider },
      { artifact: loopingArtifact, provider, backends: { quickjs } },
    ];
  } else if (kind === 'alerts') {
    const { fileAlertSink } = await import('@wardwright/core/node');
    scratch = await mkdtemp(join(tmpdir(), 'wardwright-bench-alerts-'));
    const sink = fileAlertSink({ name: ALERT_SINK, path: join(scratch, 'alerts.jsonl') });
    models = [{ artifact: alertsArtifact, provider, alertSinks: { [ALERT_SINK]: sink } }];
  } else throw new Error(`unknown target kind: ${kind}`);
  const gateway = await createGateway({
    models,
    onError: (error, where) => console.error(`wardwright ${kind}: ${where}:`, error),
  });
  const served = await serve(gateway, { port: 0 });
  url = served.url;
  close = async () => {
    await served.close();
    await gateway.close();
    await pool?.dispose();
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  };
}

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  try {
    await close();
  } finally {
    process.exit(0);
  }
};
process.on('message', (message) => {
  if (message === 'stop') void stop();
});
process.on('disconnect', () => void stop());
process.on('SIGTERM', () => void stop());
process.send?.({ url });
