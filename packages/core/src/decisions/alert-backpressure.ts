import Type, { type Static, type TProperties, type TSchema, type TUnion } from 'typebox';
import { ConfigError, type ConfigIssue } from '../errors/config-error.ts';
import { StringEnum, TaggedUnion } from '../schema/types.ts';
import { parseWithSchema } from '../schema/validator.ts';
import { indexWithinBudget } from '../text/utf8.ts';
import { assertNever } from '../util/assert-never.ts';

/**
 * Alert backpressure: whether an alert raised by a policy is queued for delivery, suppressed as
 * a duplicate, or refused because the queue is full (dead-lettered, dropped, or failing the
 * request closed), and what a delivery worker does next (deliver, wait, retry, give up).
 */

/**
 * The original's 16 was the size of a queue nobody drained; a drained queue needs room for the
 * alerts a busy gateway raises while one delivery is in flight (about 1 500 requests a second
 * with an alert each, against an fsync'd file, reached a depth of a few hundred).
 */
export const DEFAULT_CAPACITY = 1024;
export const DEFAULT_ON_FULL = 'dead_letter';
export const DEFAULT_DEDUPE_CAPACITY = 1024;
export const DEFAULT_RETRY = Object.freeze({
  max_attempts: 5,
  base_delay_ms: 1000,
  multiplier: 2,
  max_delay_ms: 60_000,
});
/** Delivery errors are kept in dead letters and receipts, so their size is bounded. */
export const MAX_ERROR_BYTES = 1024;

const RetrySchema = Type.Object(
  {
    max_attempts: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: DEFAULT_RETRY.max_attempts,
        description:
          'Delivery attempts per alert, the first one included, before it is dead-lettered.',
      }),
    ),
    base_delay_ms: Type.Optional(
      Type.Integer({
        minimum: 0,
        default: DEFAULT_RETRY.base_delay_ms,
        description: 'Delay before the second attempt.',
      }),
    ),
    multiplier: Type.Optional(
      Type.Number({
        minimum: 1,
        default: DEFAULT_RETRY.multiplier,
        description: 'Factor between one delay and the next.',
      }),
    ),
    max_delay_ms: Type.Optional(
      Type.Integer({
        minimum: 0,
        default: DEFAULT_RETRY.max_delay_ms,
        description: 'Cap on any one delay; at least `base_delay_ms`.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const AlertQueueConfigSchema = Type.Object(
  {
    capacity: Type.Optional(
      Type.Integer({
        minimum: 0,
        default: DEFAULT_CAPACITY,
        description:
          'Alerts waiting for delivery at most; 0 means every new alert meets a full queue.',
      }),
    ),
    on_full: Type.Optional(
      StringEnum(['dead_letter', 'drop', 'fail_closed'], {
        default: DEFAULT_ON_FULL,
        description: 'What happens to a new alert when the queue is full.',
      }),
    ),
    dedupe_capacity: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: DEFAULT_DEDUPE_CAPACITY,
        description:
          'Idempotency keys remembered for duplicate suppression; the oldest is forgotten first.',
      }),
    ),
    retry: Type.Optional(RetrySchema),
  },
  { additionalProperties: false },
);
export type AlertQueueConfig = Static<typeof AlertQueueConfigSchema>;
export type OnFull = NonNullable<AlertQueueConfig['on_full']>;

export interface CompiledAlertQueue {
  readonly capacity: number;
  readonly on_full: OnFull;
  readonly dedupe_capacity: number;
  /** Dead letters kept for inspection: the last `max(1, capacity)`. */
  readonly dead_letter_capacity: number;
  readonly retry: Readonly<{
    max_attempts: number;
    base_delay_ms: number;
    multiplier: number;
    max_delay_ms: number;
  }>;
}

/**
 * Validate and compile an alert queue configuration, defaults resolved. Throws one
 * `ConfigError` listing every problem.
 */
export function compileAlertQueue(config: unknown): CompiledAlertQueue {
  const parsed = parseWithSchema(AlertQueueConfigSchema, config, 'alert queue config');
  const retry = Object.freeze({
    max_attempts: parsed.retry?.max_attempts ?? DEFAULT_RETRY.max_attempts,
    base_delay_ms: parsed.retry?.base_delay_ms ?? DEFAULT_RETRY.base_delay_ms,
    multiplier: parsed.retry?.multiplier ?? DEFAULT_RETRY.multiplier,
    max_delay_ms: parsed.retry?.max_delay_ms ?? DEFAULT_RETRY.max_delay_ms,
  });
  const issues: ConfigIssue[] = [];
  if (retry.max_delay_ms < retry.base_delay_ms) {
    const defaulted = parsed.retry?.max_delay_ms === undefined ? ' (the default)' : '';
    issues.push({
      path: '$.retry.max_delay_ms',
      message: `must be >= \`$.retry.base_delay_ms\` (${retry.base_delay_ms}), got ${retry.max_delay_ms}${defaulted}`,
      expected: 'a cap no smaller than the first retry delay',
    });
  }
  if (issues.length > 0) throw new ConfigError('alert queue config', issues);
  const capacity = parsed.capacity ?? DEFAULT_CAPACITY;
  return Object.freeze({
    capacity,
    on_full: parsed.on_full ?? DEFAULT_ON_FULL,
    dedupe_capacity: parsed.dedupe_capacity ?? DEFAULT_DEDUPE_CAPACITY,
    dead_letter_capacity: Math.max(1, capacity),
    retry,
  });
}

export const AlertSchema = Type.Object(
  {
    idempotency_key: Type.String({
      description: 'Alerts with the same key are one alert; see `defaultIdempotencyKey`.',
    }),
    rule_id: Type.String(),
    severity: StringEnum(['info', 'warning', 'critical']),
    message: Type.String(),
    session_id: Type.Optional(Type.String()),
    payload: Type.Optional(Type.Unknown({ description: 'Any JSON value, passed to the sink.' })),
  },
  { additionalProperties: false },
);
export type Alert = Static<typeof AlertSchema>;

/**
 * The key of an alert without an explicit one, as in the original: receipt id, rule id,
 * message and severity joined with `:`, a missing value as the empty string.
 */
export function defaultIdempotencyKey(alert: {
  receipt_id?: string | null | undefined;
  rule_id: string | null | undefined;
  message: string | null | undefined;
  severity: string | null | undefined;
}): string {
  return `${alert.receipt_id ?? ''}:${alert.rule_id ?? ''}:${alert.message ?? ''}:${alert.severity ?? ''}`;
}

// ---------------------------------------------------------------------------------------------
// The stateless enqueue decision
// ---------------------------------------------------------------------------------------------

export const AlertStatusSchema = StringEnum(
  [
    'queued',
    'retry_scheduled',
    'delivered',
    'duplicate_suppressed',
    'dead_lettered',
    'dropped',
    'failed_closed',
  ],
  { description: 'What became of an alert, as far as the queue knows.' },
);
export type AlertStatus = Static<typeof AlertStatusSchema>;

const rememberedStatuses = [
  'queued',
  'retry_scheduled',
  'delivered',
  'dead_lettered',
  'dropped',
  'failed_closed',
] as const;
export const RememberedStatusSchema = StringEnum(rememberedStatuses, {
  description:
    'What became of the alert with a remembered key (a key is never remembered as a duplicate).',
});
export type RememberedStatus = Static<typeof RememberedStatusSchema>;

/** `queued` and `retry_scheduled` may still change; every other status is final. */
export function isTerminal(status: AlertStatus): boolean {
  switch (status) {
    case 'queued':
    case 'retry_scheduled':
      return false;
    case 'delivered':
    case 'duplicate_suppressed':
    case 'dead_lettered':
    case 'dropped':
    case 'failed_closed':
      return true;
    default:
      return assertNever(status, 'alert status');
  }
}

export const EnqueueInputSchema = Type.Object(
  {
    queue_depth: Type.Integer({ minimum: 0, description: 'Alerts waiting for delivery now.' }),
    already_seen: Type.Boolean({
      description: "The alert's key was seen before (remembered, or still in the queue).",
    }),
    existing: Type.Optional(
      StringEnum(rememberedStatuses, {
        description: 'What became of the earlier alert with this key, when known.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type EnqueueInput = Static<typeof EnqueueInputSchema>;

const enqueueEvidence = {
  key: Type.String({ description: "The alert's idempotency key." }),
  rule_id: Type.String(),
  queue_depth: Type.Integer({ minimum: 0, description: 'Queue depth after the decision.' }),
  capacity: Type.Integer({ minimum: 0 }),
};
const queueFull = Type.Literal('queue_full');

/** The enqueue outcomes, each with `head` (the reducer adds its `kind`) before the evidence. */
function enqueueVariants<const Head extends TProperties>(head: Head) {
  return [
    Type.Object(
      { ...head, outcome: Type.Literal('queued'), ...enqueueEvidence },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        ...head,
        outcome: Type.Literal('duplicate_suppressed'),
        ...enqueueEvidence,
        existing: Type.Union([RememberedStatusSchema, Type.Null()], {
          description: 'What became of the earlier alert with this key; null when unknown.',
        }),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      { ...head, outcome: Type.Literal('dead_lettered'), ...enqueueEvidence, reason: queueFull },
      { additionalProperties: false },
    ),
    Type.Object(
      { ...head, outcome: Type.Literal('dropped'), ...enqueueEvidence, reason: queueFull },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        ...head,
        outcome: Type.Literal('failed_closed'),
        ...enqueueEvidence,
        reason: queueFull,
      },
      {
        additionalProperties: false,
        description: 'The request the alert belongs to must be refused; the alert is not kept.',
      },
    ),
  ] as const;
}

export const EnqueueDecisionSchema = TaggedUnion('outcome', [...enqueueVariants({})]);
export type EnqueueDecision = Static<typeof EnqueueDecisionSchema>;
export type EnqueueOutcome = EnqueueDecision['outcome'];

/**
 * Decide what happens to one alert. First match wins: a key seen before is a duplicate (even
 * when the queue is full), a full queue applies `on_full`, otherwise the alert is queued.
 */
export function decideEnqueue(
  config: CompiledAlertQueue,
  input: EnqueueInput,
  alert: Alert,
): EnqueueDecision {
  const key = alert.idempotency_key;
  const depth = input.queue_depth;
  if (input.already_seen) {
    return {
      key,
      rule_id: alert.rule_id,
      outcome: 'duplicate_suppressed',
      queue_depth: depth,
      capacity: config.capacity,
      existing: input.existing ?? null,
    };
  }
  if (depth >= config.capacity) {
    return {
      key,
      rule_id: alert.rule_id,
      outcome: fullOutcome(config.on_full),
      queue_depth: depth,
      capacity: config.capacity,
      reason: 'queue_full',
    };
  }
  return {
    key,
    rule_id: alert.rule_id,
    outcome: 'queued',
    queue_depth: depth + 1,
    capacity: config.capacity,
  };
}

function fullOutcome(onFull: OnFull): 'dead_lettered' | 'dropped' | 'failed_closed' {
  switch (onFull) {
    case 'dead_letter':
      return 'dead_lettered';
    case 'drop':
      return 'dropped';
    case 'fail_closed':
      return 'failed_closed';
    default:
      return assertNever(onFull, 'on_full');
  }
}

/**
 * Delay before the next attempt after `attempts` failed ones:
 * `min(max_delay_ms, base_delay_ms × multiplier^(attempts − 1))`, rounded down to whole ms.
 */
export function retryDelayMs(config: CompiledAlertQueue, attempts: number): number {
  const { base_delay_ms: base, multiplier, max_delay_ms: cap } = config.retry;
  // 0 × Infinity is NaN once the power overflows; a zero base never grows anyway.
  if (base === 0) return 0;
  const n = attempts >= 1 ? Math.floor(attempts) : 1;
  return Math.floor(Math.min(cap, base * multiplier ** (n - 1)));
}

// ---------------------------------------------------------------------------------------------
// The queue reducer
// ---------------------------------------------------------------------------------------------

const ORDER_CHUNK = 32;
const BUCKET_LOAD = 8;

const timeMs = (description: string) => Type.Number({ description });

export const AlertQueueItemSchema = Type.Object(
  {
    key: Type.Readonly(Type.String()),
    alert: Type.Readonly(AlertSchema),
    enqueued_at_ms: Type.Readonly(timeMs('`now_ms` of the enqueue event.')),
    attempts: Type.Readonly(
      Type.Integer({
        minimum: 0,
        description: 'Delivery attempts made so far (failed ones; a success removes the item).',
      }),
    ),
    next_attempt_at_ms: Type.Readonly(timeMs('When the item is next handed out by a poll.')),
  },
  { additionalProperties: false },
);
export type AlertQueueItem = Static<typeof AlertQueueItemSchema>;

const errorText = (description: string) =>
  // A string of at most MAX_ERROR_BYTES UTF-8 bytes has at most as many code points.
  Type.String({ maxLength: MAX_ERROR_BYTES, description });

export const DeadLetterSchema = Type.Object(
  {
    key: Type.Readonly(Type.String()),
    alert: Type.Readonly(AlertSchema),
    reason: Type.Readonly(
      StringEnum(['queue_full', 'delivery_failed'], {
        description: 'Refused by a full queue, or given up on after `max_attempts` deliveries.',
      }),
    ),
    dead_lettered_at_ms: Type.Readonly(Type.Number()),
    attempts: Type.Readonly(
      Type.Integer({
        minimum: 0,
        description: 'Delivery attempts made (0 when the queue was full).',
      }),
    ),
    error: Type.Readonly(
      Type.Optional(errorText(`The last delivery error, at most ${MAX_ERROR_BYTES} UTF-8 bytes.`)),
    ),
  },
  { additionalProperties: false },
);
export type DeadLetter = Static<typeof DeadLetterSchema>;

/** Plain JSON 2020-12 tuple: `Type.Tuple` emits draft-07 `items: [...]`, which Ajv 2020 rejects. */
export const RememberedEntrySchema = Type.Unsafe<readonly [key: string, status: RememberedStatus]>({
  type: 'array',
  prefixItems: [Type.String(), RememberedStatusSchema],
  items: false,
  minItems: 2,
  description: '`[key, status]`.',
});
export type RememberedEntry = Static<typeof RememberedEntrySchema>;

/*
 * States are immutable, so every change copies what it touches. Copying a flat list and an
 * object of 1024 keys per alert costs tens of microseconds (an object used as a map also makes
 * the engine build a new hidden class per copy); small chunks and hash buckets keep each copy
 * to a few dozen entries while the state stays plain JSON that can be persisted as is.
 */
export const RememberedKeysSchema = Type.Object(
  {
    count: Type.Readonly(Type.Integer({ minimum: 0 })),
    order: Type.Readonly(
      Type.Immutable(
        Type.Array(
          Type.Immutable(Type.Array(Type.String(), { minItems: 1, maxItems: ORDER_CHUNK })),
          {
            description: `Keys, oldest first, in chunks of at most ${ORDER_CHUNK} (no empty chunk).`,
          },
        ),
      ),
    ),
    index: Type.Readonly(
      Type.Immutable(
        Type.Array(Type.Immutable(Type.Array(RememberedEntrySchema)), {
          minItems: 1,
          description:
            '`[key, status]` pairs in hash buckets: FNV-1a of the key (UTF-16 code units) modulo the bucket count.',
        }),
      ),
    ),
  },
  {
    additionalProperties: false,
    description:
      'The idempotency keys remembered for duplicate suppression, with what became of each.',
  },
);
export type RememberedKeys = Static<typeof RememberedKeysSchema>;

const counter = (description?: string) =>
  Type.Readonly(
    Type.Integer(description === undefined ? { minimum: 0 } : { minimum: 0, description }),
  );

export const AlertQueueCountersSchema = Type.Object(
  {
    queued: counter(),
    delivered: counter(),
    duplicate_suppressed: counter(),
    dead_lettered: counter('Both reasons: queue full and delivery failed.'),
    dropped: counter(),
    failed_closed: counter(),
    retried: counter('Retries scheduled after a failed delivery.'),
    restored: counter('Alerts taken back from a durable outbox (after a restart, or a redrive).'),
  },
  { additionalProperties: false },
);
export type AlertQueueCounters = Static<typeof AlertQueueCountersSchema>;

export const AlertQueueStateSchema = Type.Object(
  {
    queue: Type.Readonly(
      Type.Immutable(
        Type.Array(AlertQueueItemSchema, {
          description: 'Alerts waiting for delivery, in arrival order.',
        }),
      ),
    ),
    remembered: Type.Readonly(RememberedKeysSchema),
    dead_letters: Type.Readonly(
      Type.Immutable(
        Type.Array(DeadLetterSchema, {
          description: 'The most recent dead letters, oldest first.',
        }),
      ),
    ),
    counters: Type.Readonly(AlertQueueCountersSchema),
  },
  { additionalProperties: false },
);
export type AlertQueueState = Static<typeof AlertQueueStateSchema>;

const nowMs = timeMs('The time of the event, in milliseconds.');

export const AlertQueueEventSchema = TaggedUnion('type', [
  Type.Object(
    { type: Type.Literal('enqueue'), alert: AlertSchema, now_ms: nowMs },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('poll'),
      now_ms: nowMs,
      max: Type.Optional(
        Type.Integer({
          minimum: 1,
          description:
            'Hand out up to this many due alerts at once (a sink that takes batches); default 1.',
        }),
      ),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('restore'),
      item: AlertQueueItemSchema,
      now_ms: nowMs,
    },
    {
      additionalProperties: false,
      description:
        'An alert a durable outbox still owes (queued before a restart, or redriven from the dead letters): it joins the queue whatever its depth, since it was already acknowledged.',
    },
  ),
  Type.Object(
    {
      type: Type.Literal('delivery_result'),
      key: Type.String(),
      ok: Type.Boolean(),
      now_ms: nowMs,
      error: Type.Optional(Type.String({ description: 'Why the delivery failed, if it did.' })),
    },
    { additionalProperties: false },
  ),
]);
export type AlertQueueEvent = Static<typeof AlertQueueEventSchema>;

const deliveryEvidence = {
  kind: Type.Literal('delivery_result'),
  key: Type.String(),
  rule_id: Type.String(),
  attempts: Type.Integer({ minimum: 1, description: 'Attempts made, this one included.' }),
  queue_depth: Type.Integer({ minimum: 0, description: 'Queue depth after the result.' }),
};
const maxAttempts = Type.Integer({ minimum: 1 });
const deliveryError = Type.Optional(
  errorText(`The delivery error, at most ${MAX_ERROR_BYTES} UTF-8 bytes.`),
);

/**
 * A union told apart by `tag` whose variants share one value of `outerTag`, so that it can be
 * one variant of a union told apart by `outerTag` (a discriminator needs the tag on the branch).
 */
function NestedTaggedUnion<const T extends TSchema[]>(
  outerTag: string,
  value: string,
  tag: string,
  variants: [...T],
) {
  return Type.Unsafe<Static<TUnion<T>>>({
    ...TaggedUnion(tag, variants),
    properties: { [outerTag]: Type.Literal(value) },
    required: [outerTag],
  });
}

export const DeliveryDecisionSchema = NestedTaggedUnion('kind', 'delivery_result', 'outcome', [
  Type.Object(
    { ...deliveryEvidence, outcome: Type.Literal('delivered') },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      ...deliveryEvidence,
      outcome: Type.Literal('retry_scheduled'),
      max_attempts: maxAttempts,
      delay_ms: Type.Integer({ minimum: 0 }),
      next_attempt_at_ms: timeMs('`now_ms` of the result plus `delay_ms`.'),
      error: deliveryError,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      ...deliveryEvidence,
      outcome: Type.Literal('dead_lettered'),
      reason: Type.Literal('delivery_failed'),
      max_attempts: maxAttempts,
      error: deliveryError,
    },
    { additionalProperties: false },
  ),
]);
export type DeliveryDecision = Static<typeof DeliveryDecisionSchema>;

export const AlertQueueDecisionSchema = TaggedUnion('kind', [
  NestedTaggedUnion('kind', 'enqueue', 'outcome', [
    ...enqueueVariants({ kind: Type.Literal('enqueue') }),
  ]),
  Type.Object(
    {
      kind: Type.Literal('deliver'),
      key: Type.String(),
      alert: AlertSchema,
      attempt: Type.Integer({ minimum: 1, description: 'This attempt, counting from 1.' }),
    },
    {
      additionalProperties: false,
      description: 'Deliver this alert now, then report a `delivery_result`.',
    },
  ),
  Type.Object(
    {
      kind: Type.Literal('deliver_batch'),
      deliveries: Type.Array(
        Type.Object(
          {
            key: Type.String(),
            alert: AlertSchema,
            attempt: Type.Integer({ minimum: 1, description: 'This attempt, counting from 1.' }),
          },
          { additionalProperties: false },
        ),
        { minItems: 2, description: 'Due alerts in queue order, at most the poll’s `max`.' },
      ),
    },
    {
      additionalProperties: false,
      description: 'Deliver these alerts now in one go, then report a `delivery_result` for each.',
    },
  ),
  Type.Object(
    {
      kind: Type.Literal('wait'),
      until_ms: timeMs('The earliest next attempt: poll again then.'),
      queue_depth: Type.Integer({ minimum: 1 }),
    },
    { additionalProperties: false, description: 'Nothing is due yet.' },
  ),
  Type.Object(
    { kind: Type.Literal('idle') },
    { additionalProperties: false, description: 'The queue is empty.' },
  ),
  DeliveryDecisionSchema,
  Type.Object(
    {
      kind: Type.Literal('restore'),
      key: Type.String(),
      outcome: StringEnum(['restored', 'already_known'], {
        description:
          '`already_known`: the queue holds or remembers the key already, so it is not taken twice.',
      }),
      queue_depth: Type.Integer({ minimum: 0, description: 'Queue depth after the decision.' }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('unknown_key'),
      key: Type.String(),
      status: Type.Union([RememberedStatusSchema, Type.Null()], {
        description: 'What the queue remembers of the key; null when nothing.',
      }),
    },
    { additionalProperties: false, description: 'A delivery result for a key not in the queue.' },
  ),
]);
export type AlertQueueDecision = Static<typeof AlertQueueDecisionSchema>;

export function initialAlertQueue(): AlertQueueState {
  return {
    queue: [],
    remembered: {
      count: 0,
      order: [],
      index: [[]],
    },
    dead_letters: [],
    counters: {
      queued: 0,
      delivered: 0,
      duplicate_suppressed: 0,
      dead_lettered: 0,
      dropped: 0,
      failed_closed: 0,
      retried: 0,
      restored: 0,
    },
  };
}

/**
 * Advance the queue by one event. Pure: `state` is never changed; the result shares the parts
 * that did not change with it, so treat every state as immutable.
 */
export function stepAlertQueue(
  config: CompiledAlertQueue,
  state: AlertQueueState,
  event: AlertQueueEvent,
): { state: AlertQueueState; decision: AlertQueueDecision } {
  switch (event.type) {
    case 'enqueue':
      return enqueue(config, state, event.alert, event.now_ms);
    case 'poll':
      return { state, decision: poll(state, event.now_ms, event.max ?? 1) };
    case 'restore':
      return restore(config, state, event.item);
    case 'delivery_result':
      return deliveryResult(config, state, event);
    default:
      return assertNever(event, 'alert queue event');
  }
}

function enqueue(
  config: CompiledAlertQueue,
  state: AlertQueueState,
  alert: Alert,
  now: number,
): { state: AlertQueueState; decision: AlertQueueDecision } {
  const key = alert.idempotency_key;
  // A key still queued counts as seen even after the bounded memory forgot it, so the queue
  // never holds one key twice.
  const existing = recall(state.remembered, key) ?? queuedStatus(state.queue, key);
  const queue_depth = state.queue.length;
  const decision = decideEnqueue(
    config,
    existing === undefined
      ? { queue_depth, already_seen: false }
      : { queue_depth, already_seen: true, existing },
    alert,
  );
  const c = state.counters;
  let next: AlertQueueState;
  switch (decision.outcome) {
    case 'duplicate_suppressed':
      next = { ...state, counters: { ...c, duplicate_suppressed: c.duplicate_suppressed + 1 } };
      break;
    case 'queued':
      next = {
        queue: [
          ...state.queue,
          { key, alert, enqueued_at_ms: now, attempts: 0, next_attempt_at_ms: now },
        ],
        remembered: remember(state.remembered, key, 'queued', config.dedupe_capacity),
        dead_letters: state.dead_letters,
        counters: { ...c, queued: c.queued + 1 },
      };
      break;
    case 'dead_lettered':
      next = {
        queue: state.queue,
        remembered: remember(state.remembered, key, 'dead_lettered', config.dedupe_capacity),
        dead_letters: appendBounded(
          state.dead_letters,
          { key, alert, reason: 'queue_full', dead_lettered_at_ms: now, attempts: 0 },
          config.dead_letter_capacity,
        ),
        counters: { ...c, dead_lettered: c.dead_lettered + 1 },
      };
      break;
    case 'dropped':
      next = {
        ...state,
        remembered: remember(state.remembered, key, 'dropped', config.dedupe_capacity),
        counters: { ...c, dropped: c.dropped + 1 },
      };
      break;
    case 'failed_closed':
      // Not remembered (unlike the original): the request this alert belongs to was refused,
      // so a client that retries it must meet the full queue again, not a "duplicate" that
      // lets the retried request through without any record of the alert.
      next = { ...state, counters: { ...c, failed_closed: c.failed_closed + 1 } };
      break;
    default:
      return assertNever(decision, 'enqueue decision');
  }
  return { state: next, decision: { kind: 'enqueue', ...decision } };
}

/**
 * Take back an alert a durable outbox still owes. Capacity does not apply: the alert was
 * acknowledged (its receipt says queued) before the process that held it went away, so refusing
 * it now would lose it; new alerts meet the full queue instead. A key the queue holds or
 * remembers is not taken twice — except a dead letter, which a redrive takes back (it leaves
 * the dead letters).
 */
function restore(
  config: CompiledAlertQueue,
  state: AlertQueueState,
  item: AlertQueueItem,
): { state: AlertQueueState; decision: AlertQueueDecision } {
  const key = item.key;
  const existing = recall(state.remembered, key) ?? queuedStatus(state.queue, key);
  if (existing !== undefined && existing !== 'dead_lettered') {
    return {
      state,
      decision: { kind: 'restore', key, outcome: 'already_known', queue_depth: state.queue.length },
    };
  }
  const c = state.counters;
  const queue = [...state.queue, item];
  const status = item.attempts === 0 ? 'queued' : 'retry_scheduled';
  return {
    state: {
      queue,
      remembered:
        existing === undefined
          ? remember(state.remembered, key, status, config.dedupe_capacity)
          : restatus(state.remembered, key, status),
      dead_letters:
        existing === undefined
          ? state.dead_letters
          : state.dead_letters.filter((letter) => letter.key !== key),
      counters: { ...c, restored: c.restored + 1 },
    },
    decision: { kind: 'restore', key, outcome: 'restored', queue_depth: queue.length },
  };
}

function poll(state: AlertQueueState, now: number, max: number): AlertQueueDecision {
  let until = Number.POSITIVE_INFINITY;
  const due: { key: string; alert: Alert; attempt: number }[] = [];
  for (const item of state.queue) {
    if (item.next_attempt_at_ms <= now) {
      due.push({ key: item.key, alert: item.alert, attempt: item.attempts + 1 });
      if (due.length >= max) break;
    } else if (item.next_attempt_at_ms < until) until = item.next_attempt_at_ms;
  }
  if (due.length === 1) return { kind: 'deliver', ...due[0]! };
  if (due.length > 1) return { kind: 'deliver_batch', deliveries: due };
  if (state.queue.length === 0) return { kind: 'idle' };
  return { kind: 'wait', until_ms: until, queue_depth: state.queue.length };
}

function deliveryResult(
  config: CompiledAlertQueue,
  state: AlertQueueState,
  event: Extract<AlertQueueEvent, { type: 'delivery_result' }>,
): { state: AlertQueueState; decision: AlertQueueDecision } {
  const { key, now_ms: now } = event;
  const at = indexOfKey(state.queue, key);
  const item = state.queue[at];
  if (item === undefined) {
    return {
      state,
      decision: { kind: 'unknown_key', key, status: recall(state.remembered, key) ?? null },
    };
  }
  const attempts = item.attempts + 1;
  const c = state.counters;
  const base = { kind: 'delivery_result', key, rule_id: item.alert.rule_id, attempts } as const;
  const error = event.error === undefined ? undefined : boundError(event.error);
  const withError = error === undefined ? {} : { error };

  if (event.ok) {
    const queue = state.queue.toSpliced(at, 1);
    return {
      state: {
        queue,
        remembered: restatus(state.remembered, key, 'delivered'),
        dead_letters: state.dead_letters,
        counters: { ...c, delivered: c.delivered + 1 },
      },
      decision: { ...base, queue_depth: queue.length, outcome: 'delivered' },
    };
  }

  const max_attempts = config.retry.max_attempts;
  if (attempts < max_attempts) {
    const delay_ms = retryDelayMs(config, attempts);
    const next_attempt_at_ms = now + delay_ms;
    return {
      state: {
        queue: state.queue.with(at, { ...item, attempts, next_attempt_at_ms }),
        remembered: restatus(state.remembered, key, 'retry_scheduled'),
        dead_letters: state.dead_letters,
        counters: { ...c, retried: c.retried + 1 },
      },
      decision: {
        ...base,
        queue_depth: state.queue.length,
        outcome: 'retry_scheduled',
        max_attempts,
        delay_ms,
        next_attempt_at_ms,
        ...withError,
      },
    };
  }

  const queue = state.queue.toSpliced(at, 1);
  const letter: DeadLetter = {
    key,
    alert: item.alert,
    reason: 'delivery_failed',
    dead_lettered_at_ms: now,
    attempts,
    ...withError,
  };
  return {
    state: {
      queue,
      remembered: restatus(state.remembered, key, 'dead_lettered'),
      dead_letters: appendBounded(state.dead_letters, letter, config.dead_letter_capacity),
      counters: { ...c, dead_lettered: c.dead_lettered + 1 },
    },
    decision: {
      ...base,
      queue_depth: queue.length,
      outcome: 'dead_lettered',
      reason: 'delivery_failed',
      max_attempts,
      ...withError,
    },
  };
}

function indexOfKey(queue: readonly AlertQueueItem[], key: string): number {
  for (let i = 0; i < queue.length; i++) if (queue[i]!.key === key) return i;
  return -1;
}

function queuedStatus(
  queue: readonly AlertQueueItem[],
  key: string,
): 'queued' | 'retry_scheduled' | undefined {
  const item = queue[indexOfKey(queue, key)];
  if (item === undefined) return undefined;
  return item.attempts === 0 ? 'queued' : 'retry_scheduled';
}

function boundError(error: string): string {
  return error.slice(0, indexWithinBudget(error, 0, MAX_ERROR_BYTES));
}

function appendBounded<T>(list: readonly T[], entry: T, limit: number): T[] {
  const keep = list.length >= limit ? list.slice(list.length - limit + 1) : list.slice();
  keep.push(entry);
  return keep;
}

// Remembered keys --------------------------------------------------------------------------

/** FNV-1a over UTF-16 code units: fixed, so a persisted state finds its keys on any machine. */
function bucketOf(key: string, buckets: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % buckets;
}

function recall(remembered: RememberedKeys, key: string): RememberedStatus | undefined {
  for (const entry of remembered.index[bucketOf(key, remembered.index.length)]!) {
    if (entry[0] === key) return entry[1];
  }
  return undefined;
}

function remember(
  remembered: RememberedKeys,
  key: string,
  status: RememberedStatus,
  limit: number,
): RememberedKeys {
  let count = remembered.count + 1;
  let index: (readonly RememberedEntry[])[];
  if (count > BUCKET_LOAD * remembered.index.length && count <= limit) {
    // Doubling now and then keeps buckets short: amortised O(1) per key.
    index = rehash(remembered.index, remembered.index.length * 2);
  } else index = remembered.index.slice();
  const b = bucketOf(key, index.length);
  index[b] = [...index[b]!, [key, status]];

  const order = remembered.order.slice();
  const last = order[order.length - 1];
  if (last !== undefined && last.length < ORDER_CHUNK) order[order.length - 1] = [...last, key];
  else order.push([key]);

  while (count > limit) {
    const first = order[0]!;
    const oldest = first[0]!;
    if (first.length === 1) order.shift();
    else order[0] = first.slice(1);
    const ob = bucketOf(oldest, index.length);
    index[ob] = index[ob]!.filter((entry) => entry[0] !== oldest);
    count--;
  }
  return { count, order, index };
}

function rehash(
  index: readonly (readonly RememberedEntry[])[],
  buckets: number,
): RememberedEntry[][] {
  const next: RememberedEntry[][] = Array.from({ length: buckets }, () => []);
  for (const bucket of index) {
    for (const entry of bucket) next[bucketOf(entry[0], buckets)]!.push(entry);
  }
  return next;
}

/** Update the status of a remembered key; a forgotten key stays forgotten. */
function restatus(
  remembered: RememberedKeys,
  key: string,
  status: RememberedStatus,
): RememberedKeys {
  const b = bucketOf(key, remembered.index.length);
  const bucket = remembered.index[b]!;
  const at = bucket.findIndex((entry) => entry[0] === key);
  if (at < 0) return remembered;
  const index = remembered.index.slice();
  index[b] = bucket.with(at, [key, status]);
  return { count: remembered.count, order: remembered.order, index };
}
