export { ConfigError, type ConfigIssue, formatConfigIssue } from './config-error.ts';
export { WardwrightError, type WardwrightErrorCode } from './wardwright-error.ts';
