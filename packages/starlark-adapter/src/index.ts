export { type StarlarkSandboxOptions, starlarkSandbox, toJson } from './backend.ts';
export { fromJson } from './builtins/json.ts';
export { DEFAULT_DIALECT, type Dialect } from './dialect.ts';
export { type Position, type StackFrame, StarlarkError, type StarlarkErrorKind } from './errors.ts';
export {
  type CompileOptions,
  type ExecLimits,
  type ExecOptions,
  type ExecStats,
  execModule,
  ModuleInstance,
  Program,
} from './interpreter.ts';
export type { Module as SyntaxTree } from './syntax/ast.ts';
export { parse, parseExpression } from './syntax/parser.ts';
export { repr, str } from './values/repr.ts';
export type { Value } from './values/values.ts';
