import type {
  HistoryRuleOutcome,
  Receipt,
  SandboxFailure,
  SimulationResult,
  ToolContext,
} from '@wardwright/core';
import { plural, type Style, shortHash, table } from './output.ts';

/**
 * The readable trace of one simulation, in the order the engine decided: request, rules,
 * actions, conflicts, route, state, alerts, attempts, stream, guard, scripts, final status,
 * released text. `detailed` (--trace) adds ids, digests, priorities, counters and timings.
 */

type Rule = Receipt['rules'][number];
type Action = Receipt['decision']['actions'][number];
type StreamEvent = NonNullable<Receipt['stream']>['attempts'][number]['events'][number];
type Retry = NonNullable<Receipt['stream']>['retries'][number];
type GuardDecision = NonNullable<Receipt['guard']>['decision'];

export function formatTrace(result: SimulationResult, s: Style, detailed = false): string[] {
  const r = result.receipt;
  const q = (text: string) => quote(text, detailed);
  const lines: string[] = [];
  const section = (title: string) => lines.push('', s.bold(title));

  lines.push(
    `${s.bold('request')}  ${r.model.id}@${r.model.version}  ${s.dim(detailed ? r.artifact_hash : shortHash(r.artifact_hash))}`,
  );
  const req = r.request;
  lines.push(
    `  ${plural(req.message_count, 'message')}, ~${plural(req.estimated_prompt_tokens, 'token')}, ${req.stream ? 'streamed' : 'not streamed'}, requested model ${req.requested_model ?? '-'}`,
  );
  const caller = Object.entries(r.caller);
  lines.push(
    `  caller: ${caller.length === 0 ? '-' : caller.map(([k, v]) => `${k}=${v}`).join(', ')}`,
  );
  if (req.prompt_transforms.length > 0) {
    lines.push(`  prompt transforms: ${req.prompt_transforms.join(', ')}`);
  }
  if (req.tool_context.phase !== null) {
    lines.push(
      `  tool context: ${req.tool_context.phase}${req.tool_context.names.length === 0 ? '' : ` (${req.tool_context.names.join(', ')})`}`,
    );
  }
  if (detailed) {
    lines.push(`  receipt ${r.receipt_id}, input ${r.input_digest}`);
  }

  section('rules');
  if (r.rules.length === 0) lines.push(s.dim('  none'));
  lines.push(
    ...table(
      r.rules.map((rule) => [`  ${rule.rule_id}`, outcomeWord(rule), ruleEvidence(rule, q)]),
      (cell, row, column) => (column === 1 ? paintOutcome(r.rules[row]!, cell, s) : cell),
    ),
  );

  section('actions (application order)');
  if (r.decision.actions.length === 0) lines.push(s.dim('  none'));
  lines.push(
    ...table(
      r.decision.actions.map((a, i) => [
        `  ${i + 1}. ${a.rule_id}`,
        describeAction(a, q) +
          (detailed ? s.dim(`  (${a.phase}, priority ${a.priority}, ${a.effect_type})`) : ''),
      ]),
    ),
  );

  if (r.decision.conflicts.length > 0) {
    section('conflicts');
    for (const c of r.decision.conflicts) {
      const outcome = [
        ...(c.winner_rule_id === undefined ? [] : [`winner ${c.winner_rule_id}`]),
        ...(c.overridden_rule_ids === undefined
          ? []
          : [`overridden ${c.overridden_rule_ids.join(', ')}`]),
      ];
      lines.push(
        `  ${s.yellow('!')} ${c.key} (${c.class}): ${c.rule_ids.join(', ')}${outcome.length === 0 ? '' : `; ${outcome.join('; ')}`}`,
      );
      lines.push(`    ${s.dim(c.resolution)}`);
    }
  }

  section('route');
  const route = r.decision.route;
  const constraints = r.decision.route_constraints;
  if (constraints.forced_model !== undefined || constraints.allowed_targets !== undefined) {
    const parts = [
      ...(constraints.forced_model === undefined
        ? []
        : [
            `forced ${constraints.forced_model}${constraints.allow_fallback ? ' (fallback allowed)' : ''}`,
          ]),
      ...(constraints.allowed_targets === undefined
        ? []
        : [`allowed [${constraints.allowed_targets.join(', ')}]`]),
    ];
    lines.push(`  constraints: ${parts.join(', ')}`);
  }
  if (route === null) {
    lines.push(s.dim('  not routed: the request was blocked first'));
  } else if (route.kind === 'selected') {
    lines.push(
      `  selected ${s.bold(route.model)} (${route.reason}, context window ${route.context_window})`,
    );
  } else {
    lines.push(`  ${s.red('blocked')}: ${route.reason}`);
  }
  if (route !== null && route.skipped.length > 0) {
    lines.push(`  skipped: ${route.skipped.map((k) => `${k.model} (${k.reason})`).join(', ')}`);
  }
  if (detailed && route?.kind === 'selected' && route.fallback_models.length > 0) {
    lines.push(`  fallbacks: ${route.fallback_models.join(', ')}`);
  }

  if (r.decision.state_transitions.length > 0) {
    section('state');
    for (const t of r.decision.state_transitions) {
      lines.push(`  ${t.machine_id}  ${describeTransition(t)}  ${s.dim(`(sent by ${t.rule_id})`)}`);
    }
  }

  if (r.alerts.length > 0) {
    section('alerts');
    for (const a of r.alerts) {
      const d = a.decision;
      const reason = 'reason' in d ? `, ${d.reason}` : '';
      lines.push(
        `  ${a.rule_id} -> ${a.sink}: ${d.outcome} (queue ${d.queue_depth}/${d.capacity}${reason})`,
      );
    }
  }

  section('attempts');
  if (r.attempts.length === 0) {
    lines.push(s.dim('  none (no attempts scripted: request phase only)'));
  }
  for (const a of r.attempts) {
    const status = a.status === 'completed' ? s.green(a.status) : s.red(a.status);
    lines.push(
      `  #${a.index}  ${a.model}  ${status}  ${plural(a.output_bytes, 'byte')} in ${a.duration_ms} ms`,
    );
    for (const reminder of a.reminders) lines.push(`      reminder: ${q(reminder)}`);
    if (a.guard_feedback) lines.push('      guard feedback appended');
    if (a.error !== undefined) {
      lines.push(
        `      error: ${a.error.status}${a.error.message === undefined ? '' : `: ${a.error.message}`}`,
      );
    }
  }

  if (r.stream !== null) {
    const stream = r.stream;
    section(
      `stream (release: ${stream.mode.kind === 'horizon' ? `horizon ${stream.mode.horizon_bytes} bytes` : `full buffer, because ${stream.mode.rule_id} has no horizon`})`,
    );
    for (const a of stream.attempts) {
      lines.push(
        `  attempt #${a.attempt_index}  ${a.status}  generated ${a.generated_bytes} B, released ${a.released_bytes} B`,
      );
      if (detailed) {
        lines.push(
          s.dim(
            `    rewritten ${a.rewritten_bytes} B, dropped ${a.dropped_bytes} B, blocked ${a.blocked_bytes} B, held at most ${a.max_held_bytes} B for ${a.max_observed_hold_ms} ms`,
          ),
        );
      }
      for (const event of a.events) lines.push(`    ${describeStreamEvent(event, s, q)}`);
    }
    for (const retry of stream.retries) lines.push(`  ${describeRetry(retry, q)}`);
  }

  if (r.guard !== null) {
    section('guard');
    for (const e of r.guard.events) {
      const errors = e.errors.map((x) => `${x.path === '' ? '(root)' : x.path}: ${x.message}`);
      lines.push(
        `  attempt #${e.attempt_index}  ${e.rule_id}  ${e.guard_type}  ${plural(e.error_count, 'error')}`,
      );
      for (const error of errors) lines.push(`      ${error}`);
    }
    lines.push(`  decision: ${describeGuardDecision(r.guard.decision)}`);
  }

  if (r.sandbox.length > 0) {
    section('scripts');
    for (const x of r.sandbox) {
      const usage = detailed ? s.dim(` (${x.usage.wall_ms} ms)`) : '';
      const failure =
        x.failure === undefined ? s.green('ok') : s.red(`${x.failure.kind}: ${x.failure.message}`);
      lines.push(`  ${x.rule_id}  ${x.script}.${x.entry} on ${x.backend}  ${failure}${usage}`);
    }
  }

  section('final');
  const f = r.final;
  const ok = f.http_status < 400;
  lines.push(
    `  ${(ok ? s.green : s.red)(f.status)}  HTTP ${f.http_status}  model ${f.selected_model ?? '-'}  ${plural(f.released_bytes, 'byte')} released`,
  );
  if (f.message !== undefined) lines.push(`  message: ${f.message}`);
  if (detailed) {
    const t = r.timings;
    lines.push(
      s.dim(
        `  output ${f.output_digest ?? '-'}; ${t.duration_ms} ms (request ${t.request_phase_ms} ms, response ${t.response_phase_ms} ms)`,
      ),
    );
  }

  section('released text');
  if (result.text === null) {
    lines.push(s.dim('  none'));
  } else if (detailed && result.released.length > 1) {
    let offset = 0;
    result.released.forEach((piece, i) => {
      const bytes = Buffer.byteLength(piece);
      lines.push(s.dim(`  piece ${i} (bytes ${offset}-${offset + bytes}):`));
      for (const line of piece.split('\n')) lines.push(`  | ${line}`);
      offset += bytes;
    });
  } else {
    for (const line of result.text.split('\n')) lines.push(`  | ${line}`);
  }
  return lines;
}

function outcomeWord(rule: Rule): string {
  return rule.outcome === 'not_matched' ? 'not matched' : rule.outcome;
}

function paintOutcome(rule: Rule, cell: string, s: Style): string {
  switch (rule.outcome) {
    case 'matched':
      return s.green(cell);
    case 'failed':
      return s.red(cell);
    case 'skipped':
      return s.yellow(cell);
    default:
      return s.dim(cell);
  }
}

// The receipt schema types rule evidence loosely (an index signature), so each kind's shape
// is spelled out here, as the receipt schema defines it.
interface MatchEvidence {
  target: string;
  matcher: string;
  match_index?: number;
  excerpt?: string;
}
interface HistoryEvidence {
  result: HistoryRuleOutcome;
}
interface ToolEvidence {
  tool_context: ToolContext;
}
interface ScriptEvidence {
  script: string;
  backend: string;
  entry: string;
  on_failure: string;
  failure?: SandboxFailure;
}

function ruleEvidence(rule: Rule, q: (text: string) => string): string {
  const e: unknown = rule.evidence;
  if (rule.outcome === 'skipped') {
    const gate = e as { machine: string; state: string | null; required: string[] };
    return `gate ${gate.machine} in [${gate.required.join(', ')}]; ${gate.state === null ? 'the caller has no scope for it' : `state is ${gate.state}`}`;
  }
  switch (rule.kind) {
    case 'match': {
      const m = e as MatchEvidence;
      const found = m.match_index === undefined ? '' : ` at ${m.match_index}`;
      const excerpt = m.excerpt === undefined ? '' : `: ${q(m.excerpt)}`;
      return `${m.matcher} in ${m.target}${found}${excerpt}`;
    }
    case 'history': {
      const h = (e as HistoryEvidence).result;
      if (h.evidence.reason === 'missing_scope') {
        return `the caller has no ${h.evidence.scope_key}: nothing counted`;
      }
      return `count ${h.count} ${h.count >= h.threshold ? '>=' : '<'} threshold ${h.threshold} (${h.evidence.scope_key}=${h.evidence.scope_value}, ${h.evidence.considered} in window)`;
    }
    case 'tool': {
      const t = (e as ToolEvidence).tool_context;
      return `tool phase ${t.phase ?? '-'}${t.names.length === 0 ? '' : `, ${t.names.join(', ')}`}`;
    }
    default: {
      const x = e as ScriptEvidence;
      const failure = x.failure === undefined ? '' : `: ${x.failure.kind}: ${x.failure.message}`;
      return `script ${x.script}.${x.entry} on ${x.backend}, ${x.on_failure}${failure}`;
    }
  }
}

function describeAction(a: Action, q: (text: string) => string): string {
  const message = a.message === undefined ? '' : ` ${q(a.message)}`;
  switch (a.action) {
    case 'block':
      return `block${a.reason === undefined ? '' : ` (${a.reason})`}${message}`;
    case 'switch_model':
      return `switch_model -> ${a.target_model}${a.allow_fallback === true ? ' (fallback allowed)' : ''}`;
    case 'restrict_routes':
      return `restrict_routes -> [${a.allowed_targets.join(', ')}]`;
    case 'inject_reminder':
      return `inject_reminder ${q(a.reminder)}`;
    case 'alert':
      return `alert ${a.severity}${message}`;
    case 'annotate':
      return `annotate${message}`;
    case 'transition_state':
      return `transition_state ${a.machine_id}: ${a.event}`;
    default:
      return (a as { action: string }).action;
  }
}

function describeTransition(t: Receipt['decision']['state_transitions'][number]): string {
  const d = t.decision;
  if (d === null) return `${t.event}: ignored, the caller has no ${t.scope_key}`;
  switch (d.kind) {
    case 'transition':
      return `${d.from} --${d.event}--> ${d.to}`;
    case 'no_op':
      return `${d.state} --${d.event}--> (no such transition: unchanged)`;
    case 'terminal':
      return `${d.state} --${d.event}--> (terminal state: unchanged)`;
    default:
      return `${d.from} --${d.event}--> ${d.to} refused: ${d.rule_id} already taken ${d.max_taken}x`;
  }
}

function describeStreamEvent(e: StreamEvent, s: Style, q: (text: string) => string): string {
  if (e.type === 'stream_policy.latency_exceeded') {
    return `${s.red('latency exceeded')} at chunk ${e.chunk_index}: ${e.held_bytes} B held ${e.observed_hold_ms} ms (max ${e.max_hold_ms} ms)`;
  }
  const where = `chunk ${e.chunk_index} (raw bytes ${e.chunk_raw_start_byte}-${e.chunk_raw_end_byte}), match bytes ${e.match_start_byte}-${e.match_end_byte}${e.match_count > 1 ? ` (${e.match_count} matches)` : ''}`;
  const stage = e.stage === 'release_gate' ? ', at the release gate' : '';
  const extra = [
    ...(e.reminder === undefined ? [] : [`reminder ${q(e.reminder)}`]),
    ...(e.message === undefined ? [] : [`message ${q(e.message)}`]),
  ];
  return `${e.rule_id}  ${e.action}  ${where}${stage}${extra.length === 0 ? '' : `; ${extra.join('; ')}`}`;
}

function describeRetry(d: Retry, q: (text: string) => string): string {
  switch (d.kind) {
    case 'complete':
      return 'then: completed';
    case 'retry': {
      const reroute =
        d.reroute === null ? '' : `, rerouted ${d.reroute.from_model} -> ${d.reroute.to_model}`;
      return `then: retry ${d.retry_number} for ${d.rule_id}${reroute} with ${d.reminders.map(q).join(', ')}`;
    }
    case 'fail':
      return `then: ${d.status}${d.rule_id === null ? '' : ` by ${d.rule_id}`}${d.released_to_consumer ? ' (after text was released)' : ''}`;
    case 'skip_after_release':
      return `then: ${d.status}: ${d.rule_id} wants a retry but ${d.released_bytes} B were already released`;
    case 'exhausted':
      return `then: ${d.status}: ${d.rule_id} spent the ${d.budget} budget (${d.retries_used}/${d.max_retries})`;
    default:
      return `then: ${d.status}: a retry for ${d.rule_id} does not fit ${d.context_window} tokens (~${d.estimated_prompt_tokens})`;
  }
}

function describeGuardDecision(d: GuardDecision): string {
  switch (d.kind) {
    case 'accept':
      return `accept (${d.status}) with schema ${d.schema_id} after ${plural(d.attempt_count, 'attempt')}`;
    case 'exhausted':
      return `${d.status}${'rule_id' in d ? ` (${d.rule_id})` : ''} after ${plural(d.attempt_count, 'attempt')}, on_exhausted ${d.on_exhausted}`;
    default:
      return `provider failed (${d.status}${d.message === undefined ? '' : `: ${d.message}`})`;
  }
}

/** JSON-quoted so whitespace and quotes are visible; long text is cut unless detailed. */
function quote(text: string, full: boolean): string {
  const max = 100;
  return JSON.stringify(full || text.length <= max ? text : `${text.slice(0, max - 1)}…`);
}
