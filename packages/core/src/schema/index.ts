export { StringEnum, TaggedUnion } from './types.ts';
export { joinPath, parseWithSchema, pointerToPath, schemaIssues } from './validator.ts';
