/**
 * @wardwright/core/node — the parts of the engine that need Node itself: artifact and scenario
 * files, the append-only JSONL receipt store, the file alert sink, and the worker-thread and
 * child-process execution modes for sandboxes. Kept apart so `@wardwright/core` itself never imports a `node:`
 * I/O or threading module.
 */

export {
  findJsonFiles,
  type LoadedScenarios,
  loadArtifactFile,
  loadScenarioDir,
  readJsonFile,
} from './artifact-files.ts';
export { type FileAlertSinkOptions, fileAlertSink } from './file-alert-sink.ts';
export {
  type JsonlReceiptStoreOptions,
  type JsonlRecovery,
  type JsonlTornTail,
  type JsonlWarning,
  jsonlReceiptStore,
} from './jsonl-receipt-store.ts';
export {
  type ProcessSandboxEvent,
  type ProcessSandboxOptions,
  processSandbox,
} from './process-sandbox.ts';
export type {
  ExecutorExitCause,
  SandboxPoolEvent,
  SandboxPoolOptions,
} from './sandbox-pool/pool.ts';
export {
  type WorkerExitCause,
  type WorkerSandboxEvent,
  type WorkerSandboxOptions,
  workerSandbox,
} from './worker-sandbox.ts';
