export { INSTALL_HINT, type IsolatedVmSandboxOptions, isolatedVmSandbox } from './backend.ts';
export { SNAPSHOT_WARNING_CODE } from './snapshot-warning.ts';
