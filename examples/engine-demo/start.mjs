// `npm run demo`: compile every example artifact, replay a few of its scenario fixtures through the
// real engine (scripted provider, manual clock, in-memory stores), and print what each receipt
// says: the final status, the rules that decided it, the route, every attempt, what the stream
// rules did, and the text the client received. Each fixture runs twice to show that receipts
// are byte-for-byte deterministic.
//
// No keys, no network: the "model" replies are part of each fixture.
import { readdir } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkExpectation, simulate, trustedBackend } from '@wardwright/core';
import { loadArtifactFile, readJsonFile } from '@wardwright/core/node';
import { starlarkSandbox } from '@wardwright/starlark';

const examples = fileURLToPath(new URL('..', import.meta.url));
const repo = join(examples, '..');
const artifactDir = join(examples, 'artifacts');
const scenarioDir = join(examples, 'scenarios');

/** Scenarios shown per artifact (file names under examples/scenarios/<artifact>/). */
const SHOWCASE = /** @type {Record<string, string[]>} */ ({
  'support-answer': ['fenced-json-retried', 'prompt-injection-blocked'],
  'coding-agent': ['deprecated-api-retried', 'live-key-masked-across-chunks'],
  'tool-loop-guard': ['third-shell-call-alerts', 'shell-loop-blocked'],
  'private-context': ['private-marker-routes-local', 'unknown-classification-fails-closed'],
  'review-flow': ['reviewer-approves', 'deploy-blocked-while-reviewing'],
  // The same policies written in Starlark decide the same way.
  'private-context-starlark': ['private-marker-routes-local'],
  'review-flow-starlark': ['reviewer-approves'],
});

const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
/** @param {string} code */
const paint = (code) => /** @param {string} s */ (s) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = paint('1');
const dim = paint('2');
const green = paint('32');
const red = paint('31');

/** @param {string} status */
const ok = (status) => status === 'completed' || status === 'completed_after_guard';

/** @param {string} text @param {number} max */
function truncate(text, max) {
  const json = JSON.stringify(text);
  return json.length <= max ? json : `${json.slice(0, max - 1)}…"`;
}

/** @param {string} label @param {string} value */
const row = (label, value) => console.log(`    ${dim(label.padEnd(10))} ${value}`);

/** @param {import('@wardwright/core').Receipt} receipt */
function routeLine(receipt) {
  const route = receipt.decision.route;
  if (route === null) return dim('not routed (blocked by policy)');
  if (route.kind === 'blocked') return red(`blocked: ${route.reason}`);
  return `${route.model} ${dim(`(${route.reason})`)}`;
}

/** @param {import('@wardwright/core').Receipt} receipt */
function attemptsLine(receipt) {
  if (receipt.attempts.length === 0) return dim('none');
  const each = receipt.attempts.map((a) => {
    const extra = [];
    if (a.reminders.length > 0) extra.push(`${a.reminders.length} reminder`);
    if (a.guard_feedback) extra.push('guard feedback');
    return `${a.model} ${a.status}${extra.length > 0 ? dim(` +${extra.join(', ')}`) : ''}`;
  });
  return `${receipt.attempts.length}: ${each.join(' → ')}`;
}

/** @param {import('@wardwright/core').Receipt} receipt */
function streamTriggers(receipt) {
  const lines = [];
  for (const attempt of receipt.stream?.attempts ?? []) {
    for (const event of attempt.events) {
      if (event.type === 'stream_policy.triggered') {
        lines.push(
          `${event.rule_id} ${event.action} at bytes ${event.match_start_byte}–${event.match_end_byte} ${dim(`(attempt ${attempt.attempt_index})`)}`,
        );
      } else {
        lines.push(`hold time ${event.observed_hold_ms} ms > ${event.max_hold_ms} ms`);
      }
    }
  }
  return lines;
}

/**
 * @param {import('@wardwright/core').Plan} plan
 * @param {string} file
 */
async function showScenario(plan, file) {
  const scenario = /** @type {import('@wardwright/core').Scenario} */ (await readJsonFile(file));
  const first = await simulate(plan, scenario.fixture);
  const second = await simulate(plan, scenario.fixture);
  const deterministic = JSON.stringify(first.receipt) === JSON.stringify(second.receipt);
  const failures = checkExpectation(first, scenario.expect);
  const r = first.receipt;

  console.log(`  ${bold('▸')} ${scenario.name} ${dim(relative(repo, file))}`);
  const status = `${r.final.status} (HTTP ${r.final.http_status})`;
  row('status', ok(r.final.status) || r.final.status === 'simulated' ? green(status) : red(status));
  const determining = r.decision.determining_rule_ids;
  row('decided by', determining.length === 0 ? dim('no request rule') : determining.join(', '));
  row('route', routeLine(r));
  row('attempts', attemptsLine(r));
  for (const event of r.guard?.events ?? []) {
    row('guard', `${event.rule_id} ${event.guard_type} ${dim(`(attempt ${event.attempt_index})`)}`);
  }
  for (const line of streamTriggers(r)) row('stream', line);
  for (const alert of r.alerts)
    row('alert', `${alert.rule_id} → ${alert.sink}: ${alert.decision.outcome}`);
  for (const t of r.decision.state_transitions) {
    const d = t.decision;
    row(
      'state',
      `${t.machine_id}: ${d === null ? 'no scope' : d.kind === 'transition' ? `${d.from} → ${d.to}` : d.kind}`,
    );
  }
  for (const s of r.sandbox) {
    if (s.failure !== undefined)
      row('script', red(`${s.rule_id} failed (${s.failure.kind}): ${s.failure.message}`));
  }
  row('released', first.text === null ? dim('nothing') : truncate(first.text, 72));
  row(
    'scenario',
    failures.length === 0
      ? green('✓ as pinned')
      : red(`✗ differs on ${failures.map((f) => f.field).join(', ')}`),
  );
  return { deterministic, passed: failures.length === 0 };
}

console.log(bold('Wardwright engine demo: example governed models, simulated'));
const artifactFiles = (await readdir(artifactDir)).filter((f) => f.endsWith('.json')).sort();
let simulated = 0;
let problems = 0;
for (const name of artifactFiles) {
  const stem = basename(name, '.json');
  const plan = await loadArtifactFile(join(artifactDir, name), {
    // Scripts run in-process for the demo (JavaScript trusted, Starlark in its interpreter).
    backends: { trusted: trustedBackend(), starlark: starlarkSandbox() },
  });
  try {
    const p = plan.projection;
    const counts = p.effects.length;
    console.log(
      `\n${bold(`${plan.model.id}@${plan.model.version}`)} ${dim(`examples/artifacts/${name}  ${plan.artifact_hash.slice(0, 19)}…  ${counts} rules`)}`,
    );
    const showcase = SHOWCASE[stem] ?? [];
    for (const scenario of showcase) {
      const result = await showScenario(plan, join(scenarioDir, stem, `${scenario}.json`));
      simulated++;
      if (!result.deterministic || !result.passed) problems++;
      if (!result.deterministic) console.log(red('    receipts differ between two runs'));
    }
  } finally {
    await plan.dispose();
  }
}

console.log('');
if (problems > 0) {
  console.log(red(`${problems} of ${simulated} scenarios did not reproduce`));
  process.exitCode = 1;
} else {
  console.log(bold(`${simulated} scenarios simulated, receipts deterministic`));
}
