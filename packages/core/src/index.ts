/**
 * @wardwright/core — pure, typed, deterministic policy decisions for LLM and agent gateways.
 *
 * Every decision core is a pure function or reducer: no I/O, no clock reads (time is an
 * input), no randomness, and inputs are never mutated. Configuration is validated against
 * TypeBox schemas (exported, so they double as JSON Schema) and compiled once.
 */

// Actions: normalisation, effect classification, arbitration and conflicts
export {
  type Action,
  type ActionArbitration,
  type ActionConflict,
  type ActionName,
  type ActionPhase,
  ActionSchema,
  type AlertSeverity,
  AlertSeveritySchema,
  type ArbitratedRouteConstraints,
  arbitrateActions,
  type ConflictPolicy,
  DEFAULT_PRIORITY,
  type EffectType,
  type NormalizedAction,
  normalizeAction,
  parseActions,
} from './decisions/actions.ts';
// Alert backpressure: enqueue decision and delivery queue reducer
export {
  type Alert,
  type AlertQueueConfig,
  AlertQueueConfigSchema,
  type AlertQueueCounters,
  type AlertQueueDecision,
  type AlertQueueEvent,
  type AlertQueueItem,
  type AlertQueueState,
  AlertSchema,
  type AlertStatus,
  type CompiledAlertQueue,
  compileAlertQueue,
  type DeadLetter as AlertDeadLetter,
  type DeliveryDecision as AlertDeliveryDecision,
  decideEnqueue,
  defaultIdempotencyKey,
  type EnqueueDecision,
  type EnqueueInput,
  type EnqueueOutcome,
  initialAlertQueue,
  isTerminal as isTerminalAlertStatus,
  type OnFull as AlertOnFull,
  retryDelayMs,
  stepAlertQueue,
} from './decisions/alert-backpressure.ts';
export {
  type CompiledHistoryStore,
  compileHistoryStore,
  countHistory,
  DEFAULT_HISTORY_SCOPE_KEY,
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_ENTRIES_PER_SCOPE,
  type EvictedEntry,
  type EvictionReason,
  type ExpireResult,
  expireEntries,
  type HistoryEntryInput,
  type HistoryFilter,
  type HistoryStoreConfig,
  HistoryStoreConfigSchema,
  type HistoryStoreState,
  HistoryStoreStateSchema,
  type InsertResult,
  initialHistoryStore,
  insertEntry,
  type ReadHistoryOptions,
  readHistory,
  type ScopeCount,
} from './decisions/cache-eviction.ts';
// Structured-output guard loop
export {
  type BudgetOutcome,
  budgetOutcome,
  type CompiledGuardLoop,
  compileGuardLoop,
  DEFAULT_SCHEMA_RULE_ID,
  GUARD_FEEDBACK_NAME,
  type GuardAttempt,
  type GuardBudget,
  type GuardEvent,
  type GuardFeedback,
  type GuardFeedbackMode,
  type GuardLoopConfig,
  GuardLoopConfigSchema,
  type GuardLoopDecision,
  type GuardLoopFinalDecision,
  type GuardLoopState,
  type GuardOnExhausted,
  type GuardType,
  runGuardLoop,
  type SemanticEvidence,
  type SemanticRuleConfig,
  type SuccessStatus,
  startGuardLoop,
  stepGuardLoop,
  successStatus,
  type ValidationError as GuardValidationError,
  type ValidationFailure as GuardValidationFailure,
  type ValidationResult as GuardValidationResult,
  validateOutput,
} from './decisions/guard-loop.ts';

// History: the bounded store (deterministic eviction) and threshold rules over it
export {
  compareEntries,
  entrySizeBytes,
  type HistoryEntry,
  HistoryEntrySchema,
  scopeKey,
} from './decisions/history-entry.ts';
export {
  type CompiledHistoryRule,
  classifyCount,
  compileHistoryRules,
  evaluateHistoryRule,
  evaluateHistoryRules,
  type HistoryRule,
  type HistoryRuleOutcome,
  type HistoryRuleOutcomeKind,
  HistoryRuleOutcomeSchema,
  HistoryRuleSchema,
} from './decisions/history-threshold.ts';
export {
  type ParsedJsonPointer,
  parseJsonPointer,
  type ResolvedJsonPointer,
  resolveJsonPointer,
} from './decisions/json-pointer.ts';

// Routes
export {
  type CompiledRouting,
  compileRouting,
  estimatePromptTokens,
  type RouteConstraints,
  type RouteDecision,
  type RouteRequest,
  type RouteSkip,
  type RouteSkipReason,
  type RouteTarget,
  RouteTargetSchema,
  type RoutingConfig,
  RoutingConfigSchema,
  selectRoute,
} from './decisions/routes.ts';

// State machines
export {
  type CompiledStateMachine,
  type CompiledTransition,
  compileStateMachine,
  DEFAULT_TRANSITION_ACTION,
  nextTransition,
  type StateMachineConfig,
  type StateMachineFinding,
  type StateMachineFindingKind,
  type StateMachineRun,
  StateMachineSchema,
  type StateMachineStep,
  simulateStateMachine,
  type TransitionDecision,
} from './decisions/state-machine.ts';
// TTSR: stream governor and retry arbiter
export {
  consumeChunk,
  finishStream,
  governStream,
  type HoldSegment,
  type MatchScope,
  type StreamEvent,
  type StreamLatencyExceeded,
  type StreamState,
  type StreamStatus,
  type StreamStep,
  type StreamTrigger,
  startStream,
  type TerminalRule,
  tickStream,
} from './decisions/stream-governor.ts';
export {
  type AttemptEnd,
  decideStreamRetry,
  type RetryReroute,
  type RetryRouteContext,
  type StreamRetryDecision,
  type StreamRetryLedger,
  startRetryLedger,
} from './decisions/stream-retry.ts';
export {
  type CompiledStreamPolicy,
  type CompiledStreamRule,
  compileStreamPolicy,
  type ReleaseMode,
  type StreamAction,
  type StreamPolicyConfig,
  StreamPolicyConfigSchema,
  type StreamRule,
  StreamRuleSchema,
} from './decisions/stream-rules.ts';
// Errors
export {
  ConfigError,
  type ConfigIssue,
  WardwrightError,
  type WardwrightErrorCode,
} from './errors/index.ts';
