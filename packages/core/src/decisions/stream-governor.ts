import Type, { type Static } from 'typebox';
import { StringEnum, TaggedUnion } from '../schema/types.ts';
import { boundaryAtOrBefore, lastGraphemeStart } from '../text/graphemes.ts';
import type { TextMatch } from '../text/pattern.ts';
import { indexWithinBudget, isHighSurrogate, isLowSurrogate, utf8Length } from '../text/utf8.ts';
import { assertNever } from '../util/assert-never.ts';
import type { CompiledStreamPolicy, CompiledStreamRule } from './stream-rules.ts';

/**
 * The TTSR stream governor: a pure reducer over one attempt's output stream.
 *
 * Text the model generated but the client has not yet received is *held*. Each chunk joins the
 * held text to form the window, rules run over the window in declaration order as a pipeline
 * (each sees the text as earlier rules left it), and then the longest prefix that keeps at least
 * `horizon_bytes` held — cut on a grapheme boundary — is released. Because a match is acted on
 * while its bytes are still held, a block or retry stops the attempt before the client sees any
 * of the violating text: the stream "travels back" to before the violation.
 *
 * Offsets in evidence are byte offsets in the *policy stream*: the text as the rules left it,
 * which for everything released is exactly the text the client received.
 */

export const StreamStatusSchema = StringEnum(
  ['streaming', 'completed', 'blocked', 'retry_required', 'latency_exceeded'],
  { description: 'Where the attempt stands; every status but `streaming` is final.' },
);
export type StreamStatus = Static<typeof StreamStatusSchema>;

export const MatchScopeSchema = StringEnum(['chunk', 'window'], {
  description: '`chunk`: the match lies in the new chunk; `window`: it reaches into held text.',
});
export type MatchScope = Static<typeof MatchScopeSchema>;

const Bytes = (description: string) => Type.Integer({ minimum: 0, description });

export const StreamTriggerSchema = Type.Object(
  {
    type: Type.Literal('stream_policy.triggered'),
    rule_id: Type.String(),
    action: StringEnum([
      'annotate',
      'rewrite_chunk',
      'rewrite_window',
      'drop_chunk',
      'block',
      'retry_with_reminder',
    ]),
    stage: StringEnum(['pipeline', 'release_gate'], {
      description:
        '`pipeline` when the rule fired in its turn; `release_gate` when a terminal rule matched ' +
        'text a later rewrite produced, in the final check before release.',
    }),
    scope: MatchScopeSchema,
    match_kind: StringEnum(['literal', 'regex']),
    chunk_index: Type.Integer({ minimum: 0 }),
    chunk_raw_start_byte: Bytes("The chunk's start in the raw provider output."),
    chunk_raw_end_byte: Bytes("The chunk's end in the raw provider output."),
    window_start_byte: Bytes('Policy-stream offset where the held window starts.'),
    window_end_byte: Bytes('Policy-stream offset where the window ends.'),
    match_start_byte: Bytes('The first match acted on, in policy-stream bytes.'),
    match_end_byte: Bytes('End of the first match, in policy-stream bytes.'),
    match_count: Type.Integer({
      minimum: 1,
      description: 'How many matches the action covered (rewrites replace every new match).',
    }),
    reminder: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type StreamTrigger = Static<typeof StreamTriggerSchema>;

export const StreamLatencyExceededSchema = Type.Object(
  {
    type: Type.Literal('stream_policy.latency_exceeded'),
    chunk_index: Type.Integer({ minimum: 0 }),
    max_hold_ms: Type.Integer({ minimum: 1 }),
    observed_hold_ms: Type.Integer({ minimum: 0, description: 'Age of the oldest held byte.' }),
    held_bytes: Bytes('Bytes held when the limit was exceeded.'),
  },
  { additionalProperties: false },
);
export type StreamLatencyExceeded = Static<typeof StreamLatencyExceededSchema>;

export const StreamEventSchema = TaggedUnion('type', [
  StreamTriggerSchema,
  StreamLatencyExceededSchema,
]);
export type StreamEvent = Static<typeof StreamEventSchema>;

export const HoldSegmentSchema = Type.Object(
  {
    bytes: Type.Integer({ minimum: 1 }),
    at_ms: Type.Integer({ description: 'When these held bytes arrived.' }),
  },
  { additionalProperties: false, description: 'Held bytes, oldest first, with arrival times.' },
);
export type HoldSegment = Static<typeof HoldSegmentSchema>;

export const TerminalRuleSchema = TaggedUnion('action', [
  Type.Object(
    {
      action: Type.Literal('block'),
      rule_id: Type.String(),
      message: Type.Union([Type.String(), Type.Null()]),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      action: Type.Literal('retry_with_reminder'),
      rule_id: Type.String(),
      reminder: Type.String(),
      max_retries: Type.Integer({ minimum: 0 }),
    },
    { additionalProperties: false },
  ),
]);
export type TerminalRule = Static<typeof TerminalRuleSchema>;

export const StreamStateSchema = Type.Object(
  {
    status: StreamStatusSchema,
    attempt_index: Type.Integer({ minimum: 0 }),
    held: Type.String({ description: 'Policy-stream text generated but not released.' }),
    held_bytes: Bytes('UTF-8 size of `held`.'),
    held_start_byte: Bytes('Policy-stream offset of the first held byte (= bytes released).'),
    hold_segments: Type.Array(HoldSegmentSchema),
    next_chunk_index: Type.Integer({ minimum: 0 }),
    generated_bytes: Bytes('Bytes received from the provider.'),
    released_bytes: Bytes('Bytes sent to the client.'),
    rewritten_bytes: Bytes('Provider bytes replaced by rewrites.'),
    dropped_bytes: Bytes('Provider bytes removed by drop rules.'),
    blocked_bytes: Bytes('Bytes held when a block ended the attempt.'),
    max_held_bytes: Bytes('The most bytes held after any chunk.'),
    max_observed_hold_ms: Type.Integer({ minimum: 0 }),
    trigger_count: Type.Integer({ minimum: 0 }),
    events: Type.Array(StreamEventSchema),
    terminal_rule: Type.Union([TerminalRuleSchema, Type.Null()], {
      description: 'The rule that ended the attempt, for a block or retry.',
    }),
  },
  { additionalProperties: false },
);
export type StreamState = Static<typeof StreamStateSchema>;

export const StreamStepSchema = Type.Object(
  {
    control: StringEnum(['continue', 'halt'], {
      description: '`halt` once the attempt has ended.',
    }),
    state: StreamStateSchema,
    released: Type.String({ description: 'Text to send to the client now (possibly empty).' }),
  },
  { additionalProperties: false },
);
export type StreamStep = Static<typeof StreamStepSchema>;

export function startStream(options: { attempt_index?: number } = {}): StreamState {
  return {
    status: 'streaming',
    attempt_index: options.attempt_index ?? 0,
    held: '',
    held_bytes: 0,
    held_start_byte: 0,
    hold_segments: [],
    next_chunk_index: 0,
    generated_bytes: 0,
    released_bytes: 0,
    rewritten_bytes: 0,
    dropped_bytes: 0,
    blocked_bytes: 0,
    max_held_bytes: 0,
    max_observed_hold_ms: 0,
    trigger_count: 0,
    events: [],
    terminal_rule: null,
  };
}

/** Feed one chunk of provider output received at `now_ms`. */
export function consumeChunk(
  policy: CompiledStreamPolicy,
  state: StreamState,
  chunk: string,
  now_ms: number,
): StreamStep {
  const stop = stopped(policy, state, chunk, now_ms);
  if (stop !== null) return stop;
  const chunkBytes = utf8Length(chunk);
  const work = startWork(policy, state, chunk, chunkBytes);

  if (
    isHighSurrogate(state.held.charCodeAt(state.held.length - 1)) &&
    isLowSurrogate(chunk.charCodeAt(0))
  ) {
    // The chunk completes a surrogate pair split by the producer: the two halves encode to 4
    // bytes together, not 3 + 3 apart, so byte accounting is recomputed from the joined text.
    work.changedFrom = state.held.length - 1;
  }
  for (const rule of policy.rules) {
    const terminal = applyRule(work, rule, 'pipeline');
    if (terminal !== null) return halt(work, terminal, chunkBytes, now_ms);
  }
  if (policy.transforms && work.changedFrom !== null) {
    // A rewrite may have produced text that a terminal rule declared before it forbids.
    for (const rule of policy.rules) {
      if (rule.action !== 'block' && rule.action !== 'retry_with_reminder') continue;
      const terminal = applyRule(work, rule, 'release_gate');
      if (terminal !== null) return halt(work, terminal, chunkBytes, now_ms);
    }
  }
  return release(work, chunkBytes, now_ms, false);
}

/** The provider finished the attempt: release everything still held. */
export function finishStream(
  policy: CompiledStreamPolicy,
  state: StreamState,
  now_ms: number,
): StreamStep {
  const stop = stopped(policy, state, '', now_ms);
  if (stop !== null) return stop;
  const work = startWork(policy, state, '', 0);
  return release(work, 0, now_ms, true);
}

/**
 * Check the hold-time limit without a chunk, for a gateway timer: a provider that stalls
 * while text is held must not keep the client waiting past `max_hold_ms`.
 */
export function tickStream(
  policy: CompiledStreamPolicy,
  state: StreamState,
  now_ms: number,
): StreamStep {
  return stopped(policy, state, '', now_ms) ?? { control: 'continue', state, released: '' };
}

/** Run a whole attempt: start, every chunk (each with its arrival time), finish. */
export function governStream(
  policy: CompiledStreamPolicy,
  chunks: readonly { text: string; at_ms: number }[],
  finished_at_ms: number,
  options: { attempt_index?: number } = {},
): { state: StreamState; released: string[] } {
  let state = startStream(options);
  const released: string[] = [];
  for (const chunk of chunks) {
    const step = consumeChunk(policy, state, chunk.text, chunk.at_ms);
    state = step.state;
    if (step.released !== '') released.push(step.released);
    if (step.control === 'halt') return { state, released };
  }
  const end = finishStream(policy, state, finished_at_ms);
  if (end.released !== '') released.push(end.released);
  return { state: end.state, released };
}

/**
 * The step that ends here, before any rule runs: the attempt is over, or held text has waited
 * too long. Null when processing may go on.
 */
function stopped(
  policy: CompiledStreamPolicy,
  state: StreamState,
  chunk: string,
  now_ms: number,
): StreamStep | null {
  if (state.status !== 'streaming') return { control: 'halt', state, released: '' };
  const late = holdExceeded(policy, state, now_ms);
  return late === null ? null : failLate(state, late, chunk, now_ms);
}

function startWork(
  policy: CompiledStreamPolicy,
  state: StreamState,
  chunk: string,
  chunkBytes: number,
): Work {
  return {
    policy,
    state,
    window: state.held + chunk,
    // Rules look only at text they have not seen: matches must end after `fresh` (or, for the
    // chunk-scoped actions, start at or after it). Held text was fully checked on earlier chunks.
    fresh: state.held.length,
    chunkStart: state.held.length,
    chunkIndex: state.next_chunk_index,
    chunkRawStart: state.generated_bytes,
    chunkRawEnd: state.generated_bytes + chunkBytes,
    changedFrom: null,
    rewrittenBytes: 0,
    droppedBytes: 0,
    events: [],
  };
}

interface Work {
  policy: CompiledStreamPolicy;
  state: StreamState;
  /** Held text plus the chunk, as rewritten by the rules so far. */
  window: string;
  fresh: number;
  /** Where the chunk began in the window (UTF-16 index), before any rewrite. */
  chunkStart: number;
  chunkIndex: number;
  chunkRawStart: number;
  chunkRawEnd: number;
  /** The earliest window index a rewrite or drop changed, or null. */
  changedFrom: number | null;
  rewrittenBytes: number;
  droppedBytes: number;
  events: StreamEvent[];
}

/** Apply one rule to the window; return the rule when it ends the attempt. */
function applyRule(
  work: Work,
  rule: CompiledStreamRule,
  stage: StreamTrigger['stage'],
): TerminalRule | null {
  switch (rule.action) {
    case 'block':
    case 'retry_with_reminder': {
      const match = firstWindowMatch(work, rule);
      if (match === undefined) return null;
      work.events.push(trigger(work, rule, stage, match, 1));
      return rule.action === 'block'
        ? { action: 'block', rule_id: rule.id, message: rule.message }
        : {
            action: 'retry_with_reminder',
            rule_id: rule.id,
            reminder: rule.reminder,
            max_retries: rule.max_retries,
          };
    }
    case 'annotate': {
      const match = firstWindowMatch(work, rule);
      if (match !== undefined) work.events.push(trigger(work, rule, stage, match, 1));
      return null;
    }
    case 'rewrite_chunk':
    case 'rewrite_window': {
      const matches = newMatches(work, rule, rule.action === 'rewrite_chunk' ? 'chunk' : 'window');
      const first = matches[0];
      if (first === undefined) return null;
      work.events.push(trigger(work, rule, stage, first, matches.length));
      let next = '';
      let at = 0;
      for (const m of matches) {
        next += work.window.slice(at, m.start) + rule.replacement;
        work.rewrittenBytes += utf8Length(work.window, m.start, m.end);
        at = m.end;
      }
      work.window = next + work.window.slice(at);
      markChanged(work, first.start);
      return null;
    }
    case 'drop_chunk': {
      const match = rule.pattern.find(work.window, work.fresh);
      if (match === undefined) return null;
      work.events.push(trigger(work, rule, stage, match, 1));
      work.droppedBytes += utf8Length(work.window, work.fresh);
      work.window = work.window.slice(0, work.fresh);
      markChanged(work, work.fresh);
      return null;
    }
    default:
      return assertNever(rule, 'stream rule');
  }
}

function markChanged(work: Work, at: number): void {
  work.changedFrom = work.changedFrom === null ? at : Math.min(work.changedFrom, at);
  work.fresh = Math.min(work.fresh, at);
}

/** The leftmost match that contains at least one byte the rule has not seen yet. */
function firstWindowMatch(work: Work, rule: CompiledStreamRule): TextMatch | undefined {
  const { window, fresh } = work;
  if (fresh >= window.length) return undefined;
  let from =
    rule.pattern.kind === 'literal' ? Math.max(0, fresh - rule.pattern.source.length + 1) : 0;
  for (;;) {
    const m = rule.pattern.find(window, from);
    if (m === undefined || m.end > fresh) return m;
    from = m.start + 1;
  }
}

/** Every non-overlapping new match, left to right: ending after `fresh` (window) or starting at
 * or after it (chunk). */
function newMatches(work: Work, rule: CompiledStreamRule, scope: MatchScope): TextMatch[] {
  const { window, fresh } = work;
  const found: TextMatch[] = [];
  if (fresh >= window.length) return found;
  let from =
    scope === 'chunk'
      ? fresh
      : rule.pattern.kind === 'literal'
        ? Math.max(0, fresh - rule.pattern.source.length + 1)
        : 0;
  for (;;) {
    const m = rule.pattern.find(window, from);
    if (m === undefined) return found;
    if (m.end > fresh) {
      found.push(m);
      from = m.end;
    } else from = m.start + 1;
  }
}

function trigger(
  work: Work,
  rule: CompiledStreamRule,
  stage: StreamTrigger['stage'],
  match: TextMatch,
  count: number,
): StreamTrigger {
  const base = work.state.held_start_byte;
  const event: StreamTrigger = {
    type: 'stream_policy.triggered',
    rule_id: rule.id,
    action: rule.action,
    stage,
    scope: match.start >= work.fresh ? 'chunk' : 'window',
    match_kind: rule.pattern.kind,
    chunk_index: work.chunkIndex,
    chunk_raw_start_byte: work.chunkRawStart,
    chunk_raw_end_byte: work.chunkRawEnd,
    window_start_byte: base,
    window_end_byte: base + utf8Length(work.window),
    match_start_byte: base + utf8Length(work.window, 0, match.start),
    match_end_byte: base + utf8Length(work.window, 0, match.end),
    match_count: count,
  };
  if (rule.action === 'retry_with_reminder') event.reminder = rule.reminder;
  if ((rule.action === 'block' || rule.action === 'annotate') && rule.message !== null) {
    event.message = rule.message;
  }
  return event;
}

/** Release what the horizon allows (everything when the stream has finished). */
function release(work: Work, chunkBytes: number, now_ms: number, finished: boolean): StreamStep {
  const { policy, state, window } = work;
  const windowBytes =
    work.changedFrom === null ? state.held_bytes + chunkBytes : utf8Length(window);
  // Only ASCII text has as many UTF-8 bytes as UTF-16 units, and in ASCII a byte budget is an
  // index: no scan needed.
  const ascii = windowBytes === window.length;
  let cut = 0;
  if (finished) cut = window.length;
  else if (policy.mode.kind === 'horizon' && windowBytes > policy.mode.horizon_bytes) {
    const budget = windowBytes - policy.mode.horizon_bytes;
    cut = ascii ? budget : indexWithinBudget(window, 0, budget);
    // The last cluster may still grow (a combining mark, a flag's second half, the low half of
    // a surrogate pair split across chunks), so it is never released before the stream ends.
    cut = boundaryAtOrBefore(window, Math.min(cut, lastGraphemeStart(window)));
  }
  const released = window.slice(0, cut);
  const releasedBytes =
    ascii || cut === 0 ? cut : cut === window.length ? windowBytes : utf8Length(released);
  const heldBytes = windowBytes - releasedBytes;

  let segments = appendSegment(state.hold_segments, chunkBytes - work.droppedBytes, now_ms, work);
  segments = dropReleased(segments, releasedBytes);
  const held = window.slice(cut);
  // Every field spelled out: `{ ...state, field: … }` overriding existing keys is a slow path in
  // V8, and this runs for every chunk.
  const next: StreamState = {
    status: finished ? 'completed' : 'streaming',
    attempt_index: state.attempt_index,
    held,
    held_bytes: heldBytes,
    held_start_byte: state.held_start_byte + releasedBytes,
    hold_segments: segments,
    next_chunk_index: finished ? state.next_chunk_index : state.next_chunk_index + 1,
    generated_bytes: state.generated_bytes + chunkBytes,
    released_bytes: state.released_bytes + releasedBytes,
    rewritten_bytes: state.rewritten_bytes + work.rewrittenBytes,
    dropped_bytes: state.dropped_bytes + work.droppedBytes,
    blocked_bytes: state.blocked_bytes,
    max_held_bytes: Math.max(state.max_held_bytes, heldBytes),
    max_observed_hold_ms: Math.max(state.max_observed_hold_ms, oldestHoldMs(state, now_ms)),
    trigger_count: state.trigger_count + work.events.length,
    events: work.events.length === 0 ? state.events : [...state.events, ...work.events],
    terminal_rule: state.terminal_rule,
  };
  return { control: finished ? 'halt' : 'continue', state: next, released };
}

function halt(work: Work, terminal: TerminalRule, chunkBytes: number, now_ms: number): StreamStep {
  const { state } = work;
  const windowBytes = utf8Length(work.window);
  const next: StreamState = {
    ...state,
    status: terminal.action === 'block' ? 'blocked' : 'retry_required',
    held: work.window,
    held_bytes: windowBytes,
    hold_segments: appendSegment(state.hold_segments, chunkBytes - work.droppedBytes, now_ms, work),
    next_chunk_index: state.next_chunk_index + 1,
    generated_bytes: state.generated_bytes + chunkBytes,
    rewritten_bytes: state.rewritten_bytes + work.rewrittenBytes,
    dropped_bytes: state.dropped_bytes + work.droppedBytes,
    blocked_bytes: terminal.action === 'block' ? windowBytes : 0,
    max_held_bytes: Math.max(state.max_held_bytes, windowBytes),
    max_observed_hold_ms: Math.max(state.max_observed_hold_ms, oldestHoldMs(state, now_ms)),
    trigger_count: state.trigger_count + work.events.length,
    events: [...state.events, ...work.events],
    terminal_rule: terminal,
  };
  return { control: 'halt', state: next, released: '' };
}

/** How long the oldest held byte has waited at `now_ms` (0 when nothing is held). */
function oldestHoldMs(state: StreamState, now_ms: number): number {
  const oldest = state.hold_segments[0];
  return oldest === undefined ? 0 : Math.max(0, now_ms - oldest.at_ms);
}

function holdExceeded(
  policy: CompiledStreamPolicy,
  state: StreamState,
  now_ms: number,
): StreamLatencyExceeded | null {
  if (policy.max_hold_ms === null) return null;
  const observed = oldestHoldMs(state, now_ms);
  if (state.held_bytes === 0 || observed <= policy.max_hold_ms) return null;
  return {
    type: 'stream_policy.latency_exceeded',
    chunk_index: state.next_chunk_index,
    max_hold_ms: policy.max_hold_ms,
    observed_hold_ms: observed,
    held_bytes: state.held_bytes,
  };
}

function failLate(
  state: StreamState,
  event: StreamLatencyExceeded,
  chunk: string,
  now_ms: number,
): StreamStep {
  const chunkBytes = utf8Length(chunk);
  const held = state.held + chunk;
  const heldBytes = utf8Length(held);
  const next: StreamState = {
    ...state,
    status: 'latency_exceeded',
    held,
    held_bytes: heldBytes,
    hold_segments:
      chunkBytes === 0
        ? state.hold_segments
        : [...state.hold_segments, { bytes: chunkBytes, at_ms: now_ms }],
    next_chunk_index: chunk === '' ? state.next_chunk_index : state.next_chunk_index + 1,
    generated_bytes: state.generated_bytes + chunkBytes,
    max_held_bytes: Math.max(state.max_held_bytes, heldBytes),
    max_observed_hold_ms: Math.max(state.max_observed_hold_ms, event.observed_hold_ms),
    events: [...state.events, event],
  };
  return { control: 'halt', state: next, released: '' };
}

/**
 * Add the chunk's bytes as a new segment; after a rewrite or drop, everything from the first
 * changed byte on is merged into one segment timed by its oldest part, so hold time is never
 * under-reported.
 */
function appendSegment(
  segments: HoldSegment[],
  addedBytes: number,
  now_ms: number,
  work: Work,
): HoldSegment[] {
  if (work.changedFrom === null) {
    return addedBytes > 0 ? [...segments, { bytes: addedBytes, at_ms: now_ms }] : segments;
  }
  const keepBytes = utf8Length(work.window, 0, Math.min(work.changedFrom, work.chunkStart));
  const totalBytes = utf8Length(work.window);
  const kept: HoldSegment[] = [];
  let covered = 0;
  let mergedAt = now_ms;
  for (const segment of segments) {
    if (covered + segment.bytes <= keepBytes) {
      kept.push(segment);
      covered += segment.bytes;
      continue;
    }
    mergedAt = Math.min(mergedAt, segment.at_ms);
    break;
  }
  if (totalBytes > covered) kept.push({ bytes: totalBytes - covered, at_ms: mergedAt });
  return kept;
}

function dropReleased(segments: HoldSegment[], releasedBytes: number): HoldSegment[] {
  if (releasedBytes === 0) return segments;
  let remaining = releasedBytes;
  let i = 0;
  while (i < segments.length && segments[i]!.bytes <= remaining) {
    remaining -= segments[i]!.bytes;
    i++;
  }
  const rest = segments.slice(i);
  const head = rest[0];
  if (head !== undefined && remaining > 0)
    rest[0] = { bytes: head.bytes - remaining, at_ms: head.at_ms };
  return rest;
}
