/**
 * @wardwright/gateway — an OpenAI-compatible governed proxy as a WHATWG fetch handler, plus
 * the upstream providers. Server adapters live in the `/node`, `/express`, `/fastify` and
 * `/hono` subpaths.
 */

export { MAX_UNREAD_EVENT_BYTES } from './admin.ts';
export type { AuthOptions } from './auth.ts';
export { sha256Hex } from './auth.ts';
export { DEFAULT_MAX_BODY_BYTES } from './bridge/errors.ts';
export {
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_STORE_FILE,
  type LoadedServeConfig,
  type LoadServeConfigOptions,
  loadServeConfig,
  type SandboxModule,
  type ServeConfig,
  ServeConfigSchema,
  sandboxModules,
} from './config/serve-config.ts';
export { RECEIPT_HEADER } from './context.ts';
export type {
  AlertRecord,
  AlertRecordQuery,
  AlertRecordStatus,
  GatewayAlertStore,
  PendingReceipt,
  PendingReceipts,
} from './durable/alert-records.ts';
export type { SqliteDriverName } from './durable/sqlite-driver.ts';
export {
  openSqliteStore,
  type SqliteStore,
  type SqliteStoreOptions,
} from './durable/sqlite-store.ts';
export { GatewayError, type GatewayErrorCode } from './errors.ts';
export type { AlertEvent, GatewayEvent, ReceiptEvent, RuntimeEvent } from './events.ts';
export {
  createGateway,
  DEADLINE_HEADER,
  DEFAULT_DEADLINE_MS,
  DEFAULT_SESSION_HEADER,
  DEFAULT_SHUTDOWN_GRACE_MS,
  type Gateway,
  type GatewayModel,
  type GatewayOptions,
  type GatewayRuntime,
  type GatewayStore,
} from './gateway.ts';
export type { OpenAIErrorBody, OpenAIErrorType } from './openai/errors.ts';
export { ChatCompletionBodySchema } from './openai/schema.ts';
export {
  DEFAULT_MAX_RESPONSE_BYTES,
  DEFAULT_MAX_RETRIES,
  DEFAULT_MAX_RETRY_DELAY_MS,
  DEFAULT_TIMEOUT_MS,
  type OpenAICompatibleOptions,
  openAICompatible,
} from './providers/openai-compatible.ts';
export {
  type Script,
  type ScriptedReply,
  type ScriptedUpstream,
  type ScriptedUpstreamOptions,
  scriptedProvider,
  startScriptedUpstream,
  type UpstreamReply,
  type UpstreamRequest,
} from './providers/scripted.ts';
export {
  type AlertQueueSnapshot,
  FAILURE_DOMAIN_HEADER,
  type FailureDomain,
  type FailureDomainCounts,
  failureDomainOf,
  type LastFailure,
  type ModelCounters,
  type ModelFailureCause,
  type ModelRuntime,
  type Outcome,
  type PolicyOutcomes,
  type RuntimeSnapshot,
  type SessionFailureCause,
  type SessionSnapshot,
  type VersionSnapshot,
} from './runtime.ts';
export { callerOf, MAX_SESSION_ID_LENGTH } from './session.ts';
