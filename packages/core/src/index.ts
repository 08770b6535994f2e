/**
 * @wardwright/core — pure, typed, deterministic policy decisions for LLM and agent gateways.
 *
 * Every decision core is a pure function or reducer: no I/O, no clock reads (time is an
 * input), no randomness, and inputs are never mutated. Configuration is validated against
 * TypeBox schemas (exported, so they double as JSON Schema) and compiled once.
 */
export {
  ConfigError,
  type ConfigIssue,
  WardwrightError,
  type WardwrightErrorCode,
} from './errors/index.ts';
