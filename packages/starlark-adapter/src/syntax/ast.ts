/** The syntax tree. Every node carries its 1-based line and column. */

export interface Pos {
  readonly line: number;
  readonly col: number;
}

export type BinaryOp =
  | '+'
  | '-'
  | '*'
  | '/'
  | '//'
  | '%'
  | '&'
  | '|'
  | '^'
  | '<<'
  | '>>'
  | '=='
  | '!='
  | '<'
  | '>'
  | '<='
  | '>='
  | 'in'
  | 'not in';

export type Expr =
  | (Pos & { kind: 'Ident'; name: string; ref?: Ref })
  | (Pos & { kind: 'Literal'; value: LiteralValue })
  | (Pos & { kind: 'List'; items: Expr[] })
  | (Pos & { kind: 'Tuple'; items: Expr[]; parens: boolean })
  | (Pos & { kind: 'Dict'; entries: [Expr, Expr][] })
  | (Pos & {
      kind: 'Comprehension';
      dict: boolean;
      body: Expr;
      value: Expr | null;
      clauses: Clause[];
      scope?: Scope;
    })
  | (Pos & { kind: 'Unary'; op: '-' | '+' | '~' | 'not'; operand: Expr })
  | (Pos & { kind: 'Binary'; op: BinaryOp; left: Expr; right: Expr })
  | (Pos & { kind: 'And' | 'Or'; left: Expr; right: Expr })
  | (Pos & { kind: 'Cond'; cond: Expr; whenTrue: Expr; whenFalse: Expr })
  | (Pos & { kind: 'Dot'; object: Expr; name: string })
  | (Pos & { kind: 'Index'; object: Expr; index: Expr })
  | (Pos & {
      kind: 'Slice';
      object: Expr;
      start: Expr | null;
      stop: Expr | null;
      step: Expr | null;
    })
  | (Pos & { kind: 'Call'; fn: Expr; args: Arg[] })
  | (Pos & { kind: 'Lambda'; fn: FunctionDef });

export type LiteralValue =
  | { t: 'int'; v: number | bigint }
  | { t: 'float'; v: number }
  | { t: 'string'; v: string }
  | { t: 'bytes'; v: Uint8Array };

export type Arg =
  | (Pos & { kind: 'positional'; value: Expr })
  | (Pos & { kind: 'named'; name: string; value: Expr })
  | (Pos & { kind: 'star'; value: Expr })
  | (Pos & { kind: 'starstar'; value: Expr });

export type Clause =
  | (Pos & { kind: 'for'; target: Expr; iter: Expr })
  | (Pos & { kind: 'if'; cond: Expr });

export type Param =
  | (Pos & { kind: 'required'; name: string })
  | (Pos & { kind: 'optional'; name: string; default: Expr })
  | (Pos & { kind: 'star'; name: string | null })
  | (Pos & { kind: 'starstar'; name: string });

export interface FunctionDef extends Pos {
  readonly name: string;
  readonly params: Param[];
  readonly body: Stmt[];
  /** Filled by the resolver. */
  scope?: Scope;
}

export type AugOp = '+' | '-' | '*' | '/' | '//' | '%' | '&' | '|' | '^' | '<<' | '>>';

export type Stmt =
  | (Pos & { kind: 'Expr'; expr: Expr })
  | (Pos & { kind: 'Assign'; target: Expr; value: Expr })
  | (Pos & { kind: 'AugAssign'; op: AugOp; target: Expr; value: Expr })
  | (Pos & { kind: 'Def'; fn: FunctionDef; ref?: Ref })
  | (Pos & { kind: 'If'; cond: Expr; body: Stmt[]; orElse: Stmt[] })
  | (Pos & { kind: 'For'; target: Expr; iter: Expr; body: Stmt[] })
  | (Pos & { kind: 'While'; cond: Expr; body: Stmt[] })
  | (Pos & { kind: 'Return'; value: Expr | null })
  | (Pos & { kind: 'Break' | 'Continue' | 'Pass' })
  | (Pos & { kind: 'Load'; module: string; names: { local: string; remote: string; pos: Pos }[] });

export interface Module {
  readonly filename: string;
  readonly body: Stmt[];
  /** Filled by the resolver. */
  scope?: Scope;
  globals?: string[];
}

/** Where a name lives at run time, decided by the resolver. */
export type Ref =
  | { where: 'local'; slot: number }
  | { where: 'cell'; slot: number }
  | { where: 'free'; index: number }
  | { where: 'global'; slot: number; name: string }
  | { where: 'universal'; name: string };

/** A function body (or the module top level): its local slots and what it captures. */
export interface Scope {
  nlocals: number;
  /** Slots holding cells because a nested function captures them. */
  cells: number[];
  /** For each free variable of a function: where to find it in the enclosing function. */
  freevars: Ref[];
  /** Parameter slots, in order. */
  paramSlots: number[];
}
