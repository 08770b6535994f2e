/**
 * @wardwright/core/node — the parts of the engine that touch the file system: artifact and
 * scenario files, the append-only JSONL receipt store and the file alert sink. Kept apart so
 * `@wardwright/core` itself never imports a `node:` I/O module.
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
