export { type QuickJsSandboxOptions, quickjsSandbox } from './backend.ts';
