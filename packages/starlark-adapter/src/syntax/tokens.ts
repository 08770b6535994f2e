/** Token kinds. Punctuation and keywords are their own spelling, which keeps the parser readable. */
export type TokenKind =
  | 'EOF'
  | 'NEWLINE'
  | 'INDENT'
  | 'OUTDENT'
  | 'IDENT'
  | 'INT'
  | 'FLOAT'
  | 'STRING'
  | 'BYTES'
  | Keyword
  | Punct;

export const KEYWORDS = [
  'and',
  'break',
  'continue',
  'def',
  'elif',
  'else',
  'for',
  'if',
  'in',
  'lambda',
  'load',
  'not',
  'or',
  'pass',
  'return',
  'while',
] as const;
export type Keyword = (typeof KEYWORDS)[number];

/** Python keywords Starlark reserves so that programs stay valid Python. */
export const RESERVED = new Set([
  'as',
  'assert',
  'async',
  'await',
  'class',
  'del',
  'except',
  'finally',
  'from',
  'global',
  'import',
  'is',
  'nonlocal',
  'raise',
  'try',
  'with',
  'yield',
]);

export const PUNCTS = [
  '<<=',
  '>>=',
  '//=',
  '**',
  '+=',
  '-=',
  '*=',
  '/=',
  '%=',
  '&=',
  '|=',
  '^=',
  '==',
  '!=',
  '<=',
  '>=',
  '<<',
  '>>',
  '//',
  '+',
  '-',
  '*',
  '/',
  '%',
  '&',
  '|',
  '^',
  '~',
  '<',
  '>',
  '=',
  '.',
  ',',
  ';',
  ':',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
] as const;
export type Punct = (typeof PUNCTS)[number];

export interface Token {
  readonly kind: TokenKind;
  /** IDENT name, STRING text, INT (number | bigint), FLOAT number, BYTES Uint8Array. */
  readonly value: string | number | bigint | Uint8Array | null;
  readonly line: number;
  readonly col: number;
}
