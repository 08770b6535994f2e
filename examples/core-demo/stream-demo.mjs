// `npm start`: replay scripted model streams through the TTSR stream governor and the retry
// arbiter, printing what the client would receive, what was held back, and why.
//
// No keys, no network: the "model" is a list of chunks with arrival times.
import {
  compileRouting,
  compileStreamPolicy,
  consumeChunk,
  decideStreamRetry,
  finishStream,
  startRetryLedger,
  startStream,
} from '@wardwright/core';

const color = process.stdout.isTTY && !process.env.NO_COLOR;
/** @param {string} s */
const dim = (s) => (color ? `\x1b[2m${s}\x1b[0m` : s);
/** @param {string} s */
const bold = (s) => (color ? `\x1b[1m${s}\x1b[0m` : s);

/**
 * Stream one attempt through the governor and print each step.
 * @param {import('@wardwright/core').CompiledStreamPolicy} policy
 * @param {[string, number][]} chunks
 * @param {number} attemptIndex
 */
function runAttempt(policy, chunks, attemptIndex) {
  let state = startStream({ attempt_index: attemptIndex });
  let received = '';
  let lastAt = 0;
  for (const [text, at] of chunks) {
    const step = consumeChunk(policy, state, text, at);
    state = step.state;
    received += step.released;
    lastAt = at;
    console.log(
      `  ${dim(`t=${String(at).padStart(3)}ms`)}  model ${JSON.stringify(text).padEnd(38)} → client ${JSON.stringify(step.released).padEnd(28)} ${dim(`held ${state.held_bytes} B`)}`,
    );
    if (step.control === 'halt') break;
  }
  if (state.status === 'streaming') {
    const end = finishStream(policy, state, lastAt + 10);
    state = end.state;
    received += end.released;
    console.log(
      `  ${dim(`t=${String(lastAt + 10).padStart(3)}ms`)}  end of stream ${' '.repeat(31)}→ client ${JSON.stringify(end.released)}`,
    );
  }
  for (const event of state.events) {
    if (event.type === 'stream_policy.triggered') {
      console.log(
        `  ${bold(event.rule_id)}: ${event.action}, ${event.scope} match at bytes ${event.match_start_byte}–${event.match_end_byte}${event.match_count > 1 ? ` (${event.match_count} matches)` : ''}`,
      );
    } else {
      console.log(`  hold time exceeded: ${event.observed_hold_ms} ms > ${event.max_hold_ms} ms`);
    }
  }
  console.log(
    dim(
      `  status ${state.status}: generated ${state.generated_bytes} B, released ${state.released_bytes} B, rewritten ${state.rewritten_bytes} B, most held ${state.max_held_bytes} B`,
    ),
  );
  return { state, received };
}

console.log(bold('Wardwright TTSR demo: policy acting on a stream before the client sees it'));

// Scene 1: redact while streaming. A 16-byte horizon is enough to see a 15-byte key that
// arrives split across chunks before any of it is released.
const redact = compileStreamPolicy({
  rules: [
    {
      id: 'mask-api-keys',
      action: 'rewrite_window',
      regex: 'sk-[A-Za-z0-9]{12}',
      replacement: 'sk-••••',
      horizon_bytes: 16,
    },
    { id: 'note-todo', action: 'annotate', contains: 'TODO', horizon_bytes: 16 },
  ],
});
console.log(
  `\n${bold('1. Redacting a secret split across chunks')} ${dim(JSON.stringify(redact.mode))}`,
);
const scene1 = runAttempt(
  redact,
  [
    ['Set the client up with your key: sk-', 0],
    ['A1b2C3d4', 30],
    ['E5f6 and call connect(). TODO: retries.', 60],
  ],
  0,
);
console.log(`  ${bold('client received:')} ${scene1.received}`);

// Scene 2: travel back. The retry rule holds the whole answer (no horizon), so when the model
// uses a removed API the attempt is discarded before the client sees a byte, and the model is
// asked again with a reminder. The reminder makes the prompt too big for the small model, so
// the arbiter reroutes the retry to the larger one.
const retry = compileStreamPolicy({
  rules: [
    {
      id: 'no-removed-client',
      action: 'retry_with_reminder',
      contains: 'OldClient(',
      reminder: 'OldClient was removed in v3. Use NewClient.connect(url) instead.',
    },
  ],
});
const routing = compileRouting({
  targets: [
    { model: 'small-8k', context_window: 8192 },
    { model: 'large-128k', context_window: 131072 },
  ],
});
/** @type {[string, number][][]} */
const attempts = [
  [
    ['To connect, call ', 0],
    ['OldClient(url) and ', 25],
    ['wait for ready.', 50],
  ],
  [
    ['To connect, call ', 0],
    ['NewClient.connect(url) ', 30],
    ['and await it.', 60],
  ],
];
console.log(
  `\n${bold('2. Retrying with a reminder before anything was released')} ${dim(JSON.stringify(retry.mode))}`,
);
let ledger = startRetryLedger();
let model = 'small-8k';
for (const [index, chunks] of attempts.entries()) {
  console.log(
    `  ${bold(`attempt ${index}`)} on ${model}${ledger.reminders.length > 0 ? dim(` with reminders ${JSON.stringify(ledger.reminders)}`) : ''}`,
  );
  const { state, received } = runAttempt(retry, chunks, index);
  const decision = decideStreamRetry(retry, ledger, state, {
    routing,
    current_model: model,
    prompt_tokens: 8180,
  });
  console.log(
    `  decision: ${bold(decision.kind)}${'status' in decision ? ` (${decision.status})` : ''}`,
  );
  if (decision.kind === 'retry') {
    ledger = decision.ledger;
    if (decision.reroute !== null) {
      console.log(
        dim(
          `  reroute: ${decision.reroute.estimated_prompt_tokens} tokens with the reminder > ${decision.reroute.from_context_window} on ${decision.reroute.from_model} → ${decision.reroute.to_model}`,
        ),
      );
      model = decision.reroute.to_model;
    }
    continue;
  }
  console.log(`  ${bold('client received:')} ${received}`);
  break;
}
