export {
  INSTALL_HINT,
  type IsolatedVmSandboxOptions,
  isolatedVmSandbox,
  MEMORY_SAMPLE_INTERVAL,
} from './backend.ts';
export { memoryGuarantee } from './memory-guarantee.ts';
export { SNAPSHOT_WARNING_CODE } from './snapshot-warning.ts';
