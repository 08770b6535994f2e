import { StarlarkError } from '../errors.ts';
import type {
  Arg,
  AugOp,
  BinaryOp,
  Clause,
  Expr,
  FunctionDef,
  Module,
  Param,
  Pos,
  Stmt,
} from './ast.ts';
import { tokenize } from './lexer.ts';
import type { Token, TokenKind } from './tokens.ts';

export interface ParseOptions {
  readonly filename?: string;
}

/** Parse a Starlark file. Throws a StarlarkError of kind `syntax` with the position. */
export function parse(src: string, options: ParseOptions = {}): Module {
  const filename = options.filename ?? '<input>';
  const p = new Parser(tokenize(src, filename), filename);
  return { filename, body: p.file() };
}

/** Parse one expression (the REPL and tests use it). */
export function parseExpression(src: string, filename = '<expr>'): Expr {
  const p = new Parser(tokenize(src, filename), filename);
  const e = p.expression();
  p.skipNewlines();
  p.expect('EOF');
  return e;
}

const AUG: Partial<Record<TokenKind, AugOp>> = {
  '+=': '+',
  '-=': '-',
  '*=': '*',
  '/=': '/',
  '//=': '//',
  '%=': '%',
  '&=': '&',
  '|=': '|',
  '^=': '^',
  '<<=': '<<',
  '>>=': '>>',
};

const COMPARE = new Set<TokenKind>(['==', '!=', '<', '>', '<=', '>=', 'in', 'not']);

// Binary operator precedence, loosest first (comparison handled separately).
const LEVELS: TokenKind[][] = [
  ['|'],
  ['^'],
  ['&'],
  ['<<', '>>'],
  ['+', '-'],
  ['*', '/', '//', '%'],
];

class Parser {
  private i = 0;
  constructor(
    private readonly toks: Token[],
    private readonly filename: string,
  ) {}

  private get tok(): Token {
    return this.toks[this.i]!;
  }
  private peek(k = 1): Token {
    return this.toks[Math.min(this.i + k, this.toks.length - 1)]!;
  }
  private next(): Token {
    const t = this.tok;
    if (this.i < this.toks.length - 1) this.i++;
    return t;
  }
  private at(kind: TokenKind): boolean {
    return this.tok.kind === kind;
  }
  private eat(kind: TokenKind): boolean {
    if (this.tok.kind !== kind) return false;
    this.next();
    return true;
  }
  fail(msg: string, t: Pos = this.tok): never {
    throw new StarlarkError('syntax', msg, { filename: this.filename, line: t.line, col: t.col });
  }
  expect(kind: TokenKind): Token {
    if (this.tok.kind !== kind) this.fail(`got ${describe(this.tok)}, want ${describeKind(kind)}`);
    return this.next();
  }
  skipNewlines(): void {
    while (this.at('NEWLINE')) this.next();
  }

  file(): Stmt[] {
    const body: Stmt[] = [];
    while (!this.at('EOF')) {
      if (this.eat('NEWLINE')) continue;
      if (this.at('INDENT')) this.fail('unexpected indentation');
      this.statement(body);
    }
    return body;
  }

  private statement(out: Stmt[]): void {
    const t = this.tok;
    switch (t.kind) {
      case 'def': {
        this.next();
        const name = this.expect('IDENT').value as string;
        this.expect('(');
        const params = this.params(')');
        this.expect(')');
        this.expect(':');
        const body = this.suite();
        out.push({
          kind: 'Def',
          line: t.line,
          col: t.col,
          fn: { name, params, body, line: t.line, col: t.col },
        });
        return;
      }
      case 'if': {
        out.push(this.ifStmt());
        return;
      }
      case 'for': {
        this.next();
        const target = this.loopVars();
        this.expect('in');
        const iter = this.expression();
        this.expect(':');
        out.push({ kind: 'For', line: t.line, col: t.col, target, iter, body: this.suite() });
        return;
      }
      case 'while': {
        this.next();
        const cond = this.test();
        this.expect(':');
        out.push({ kind: 'While', line: t.line, col: t.col, cond, body: this.suite() });
        return;
      }
      default:
        this.simpleStmt(out);
    }
  }

  private ifStmt(): Stmt {
    const t = this.next(); // 'if' or 'elif'
    const cond = this.test();
    this.expect(':');
    const then = this.suite();
    let els: Stmt[] = [];
    if (this.at('elif')) els = [this.ifStmt()];
    else if (this.eat('else')) {
      this.expect(':');
      els = this.suite();
    }
    return { kind: 'If', line: t.line, col: t.col, cond, body: then, orElse: els };
  }

  private suite(): Stmt[] {
    const body: Stmt[] = [];
    if (this.eat('NEWLINE')) {
      this.skipNewlines();
      this.expect('INDENT');
      while (!this.at('OUTDENT') && !this.at('EOF')) {
        if (this.eat('NEWLINE')) continue;
        this.statement(body);
      }
      this.expect('OUTDENT');
      return body;
    }
    this.simpleStmt(body);
    return body;
  }

  private simpleStmt(out: Stmt[]): void {
    while (true) {
      out.push(this.smallStmt());
      if (!this.eat(';')) break;
      if (this.at('NEWLINE') || this.at('EOF')) break;
    }
    if (!this.at('EOF')) this.expect('NEWLINE');
  }

  private smallStmt(): Stmt {
    const t = this.tok;
    const pos = { line: t.line, col: t.col };
    switch (t.kind) {
      case 'return': {
        this.next();
        const value =
          this.at('NEWLINE') || this.at(';') || this.at('EOF') ? null : this.expression();
        return { kind: 'Return', ...pos, value };
      }
      case 'break':
      case 'continue':
      case 'pass':
        this.next();
        return {
          kind: t.kind === 'break' ? 'Break' : t.kind === 'continue' ? 'Continue' : 'Pass',
          ...pos,
        };
      case 'load':
        return this.load();
      default:
    }
    const lhs = this.expression();
    const aug = AUG[this.tok.kind];
    if (aug !== undefined) {
      this.next();
      this.checkTarget(lhs, false);
      return { kind: 'AugAssign', ...pos, op: aug, target: lhs, value: this.expression() };
    }
    if (this.eat('=')) {
      this.checkTarget(lhs, true);
      const value = this.expression();
      if (this.at('=')) this.fail('chained assignment (a = b = c) is not supported');
      return { kind: 'Assign', ...pos, target: lhs, value };
    }
    return { kind: 'Expr', ...pos, expr: lhs };
  }

  private load(): Stmt {
    const t = this.next();
    this.expect('(');
    const modTok = this.expect('STRING');
    const names: { local: string; remote: string; pos: Pos }[] = [];
    while (this.eat(',')) {
      if (this.at(')')) break;
      const nt = this.tok;
      if (nt.kind === 'STRING') {
        this.next();
        const s = nt.value as string;
        names.push({ local: s, remote: s, pos: nt });
      } else if (nt.kind === 'IDENT') {
        this.next();
        this.expect('=');
        const remote = this.expect('STRING').value as string;
        names.push({ local: nt.value as string, remote, pos: nt });
      } else this.fail(`load operand must be "name" or local="name", got ${describe(nt)}`);
    }
    this.expect(')');
    if (names.length === 0) this.fail('load statement must import at least 1 symbol', t);
    return { kind: 'Load', line: t.line, col: t.col, module: modTok.value as string, names };
  }

  private checkTarget(e: Expr, allowTuple: boolean): void {
    switch (e.kind) {
      case 'Ident':
      case 'Index':
      case 'Dot':
        return;
      case 'Tuple':
      case 'List':
        if (!allowTuple)
          this.fail('cannot use augmented assignment with a tuple or list target', e);
        for (const x of e.items) this.checkTarget(x, true);
        return;
      default:
        this.fail(`cannot assign to ${describeExpr(e)}`, e);
    }
  }

  private params(close: TokenKind): Param[] {
    const params: Param[] = [];
    while (!this.at(close)) {
      const t = this.tok;
      if (this.eat('**')) {
        params.push({
          kind: 'starstar',
          name: this.expect('IDENT').value as string,
          line: t.line,
          col: t.col,
        });
      } else if (this.eat('*')) {
        const name = this.at('IDENT') ? (this.next().value as string) : null;
        params.push({ kind: 'star', name, line: t.line, col: t.col });
      } else {
        const name = this.expect('IDENT').value as string;
        if (this.eat('='))
          params.push({ kind: 'optional', name, default: this.test(), line: t.line, col: t.col });
        else params.push({ kind: 'required', name, line: t.line, col: t.col });
      }
      if (!this.eat(',')) break;
    }
    this.checkParams(params);
    return params;
  }

  private checkParams(params: Param[]): void {
    let seenOptional = false;
    let seenStar = false;
    let seenStarStar = false;
    for (let k = 0; k < params.length; k++) {
      const p = params[k]!;
      if (seenStarStar) this.fail('parameter may not follow **kwargs', p);
      switch (p.kind) {
        case 'required':
          if (seenOptional && !seenStar) this.fail('required parameter may not follow optional', p);
          break;
        case 'optional':
          seenOptional = true;
          break;
        case 'star':
          if (seenStar) this.fail('multiple * parameters not allowed', p);
          seenStar = true;
          if (p.name === null && (k === params.length - 1 || params[k + 1]!.kind === 'starstar'))
            this.fail('bare * must be followed by keyword-only parameters', p);
          break;
        case 'starstar':
          seenStarStar = true;
          break;
      }
    }
  }

  private loopVars(): Expr {
    const first = this.primary();
    if (!this.at(',')) {
      this.checkTarget(first, true);
      return first;
    }
    const items = [first];
    while (this.eat(',')) {
      if (this.at('in')) break;
      items.push(this.primary());
    }
    const tuple: Expr = { kind: 'Tuple', line: first.line, col: first.col, items, parens: false };
    this.checkTarget(tuple, true);
    return tuple;
  }

  /** Expression = Test {',' Test} [','] — a bare tuple when there is a comma. */
  expression(): Expr {
    const first = this.test();
    if (!this.at(',')) return first;
    const items = [first];
    while (this.eat(',')) {
      if (this.atExprEnd()) break;
      items.push(this.test());
    }
    return { kind: 'Tuple', line: first.line, col: first.col, items, parens: false };
  }

  private atExprEnd(): boolean {
    switch (this.tok.kind) {
      case 'NEWLINE':
      case 'EOF':
      case '=':
      case ')':
      case ']':
      case '}':
      case ':':
      case ';':
      case 'in':
        return true;
      default:
        return AUG[this.tok.kind] !== undefined;
    }
  }

  test(): Expr {
    if (this.at('lambda')) return this.lambda(true);
    const e = this.orExpr();
    if (this.at('if')) {
      this.next();
      const cond = this.orExpr();
      if (!this.eat('else')) this.fail('conditional expression without else clause');
      const els = this.test();
      return { kind: 'Cond', line: e.line, col: e.col, cond, whenTrue: e, whenFalse: els };
    }
    return e;
  }

  private testNoCond(): Expr {
    if (this.at('lambda')) return this.lambda(false);
    return this.orExpr();
  }

  private lambda(allowCond: boolean): Expr {
    const t = this.next();
    const params = this.params(':');
    this.expect(':');
    const bodyExpr = allowCond ? this.test() : this.testNoCond();
    const fn: FunctionDef = {
      name: 'lambda',
      params,
      body: [{ kind: 'Return', line: bodyExpr.line, col: bodyExpr.col, value: bodyExpr }],
      line: t.line,
      col: t.col,
    };
    return { kind: 'Lambda', line: t.line, col: t.col, fn };
  }

  private orExpr(): Expr {
    let e = this.andExpr();
    while (this.at('or')) {
      const t = this.next();
      e = { kind: 'Or', line: t.line, col: t.col, left: e, right: this.andExpr() };
    }
    return e;
  }

  private andExpr(): Expr {
    let e = this.notExpr();
    while (this.at('and')) {
      const t = this.next();
      e = { kind: 'And', line: t.line, col: t.col, left: e, right: this.notExpr() };
    }
    return e;
  }

  private notExpr(): Expr {
    if (this.at('not')) {
      const t = this.next();
      return { kind: 'Unary', line: t.line, col: t.col, op: 'not', operand: this.notExpr() };
    }
    return this.comparison();
  }

  private comparison(): Expr {
    const left = this.binary(0);
    if (!COMPARE.has(this.tok.kind)) return left;
    if (this.at('not') && this.peek().kind !== 'in') return left;
    const t = this.tok;
    const op = this.compareOp();
    const right = this.binary(0);
    if (COMPARE.has(this.tok.kind) && !(this.at('not') && this.peek().kind !== 'in'))
      this.fail(
        `comparison operators are not associative: use parentheses around ${op} before ${describe(this.tok)}`,
      );
    return { kind: 'Binary', line: t.line, col: t.col, op, left, right };
  }

  private compareOp(): BinaryOp {
    const t = this.next();
    if (t.kind === 'not') {
      this.expect('in');
      return 'not in';
    }
    return t.kind as BinaryOp;
  }

  private binary(level: number): Expr {
    if (level >= LEVELS.length) return this.unary();
    let e = this.binary(level + 1);
    const ops = LEVELS[level]!;
    while (ops.includes(this.tok.kind)) {
      const t = this.next();
      e = {
        kind: 'Binary',
        line: t.line,
        col: t.col,
        op: t.kind as BinaryOp,
        left: e,
        right: this.binary(level + 1),
      };
    }
    return e;
  }

  private unary(): Expr {
    const t = this.tok;
    if (t.kind === '-' || t.kind === '+' || t.kind === '~') {
      this.next();
      return { kind: 'Unary', line: t.line, col: t.col, op: t.kind, operand: this.unary() };
    }
    return this.primary();
  }

  private primary(): Expr {
    let e = this.operand();
    while (true) {
      const t = this.tok;
      if (t.kind === '.') {
        this.next();
        const name = this.expect('IDENT').value as string;
        e = { kind: 'Dot', line: t.line, col: t.col, object: e, name };
      } else if (t.kind === '(') {
        this.next();
        e = { kind: 'Call', line: t.line, col: t.col, fn: e, args: this.args() };
        this.expect(')');
      } else if (t.kind === '[') {
        this.next();
        e = this.indexOrSlice(e, t);
        this.expect(']');
      } else return e;
    }
  }

  private indexOrSlice(object: Expr, t: Pos): Expr {
    let start: Expr | null = null;
    if (!this.at(':')) {
      const idx = this.expression();
      if (!this.at(':')) return { kind: 'Index', line: t.line, col: t.col, object, index: idx };
      start = idx;
    }
    this.expect(':');
    let stop: Expr | null = null;
    let step: Expr | null = null;
    if (!this.at(':') && !this.at(']')) stop = this.test();
    if (this.eat(':') && !this.at(']')) step = this.test();
    return { kind: 'Slice', line: t.line, col: t.col, object, start, stop, step };
  }

  private args(): Arg[] {
    const args: Arg[] = [];
    let seenNamed = false;
    let seenStar = false;
    let seenStarStar = false;
    while (!this.at(')')) {
      const t = this.tok;
      const pos = { line: t.line, col: t.col };
      let a: Arg;
      if (this.eat('**')) {
        if (seenStarStar) this.fail('multiple **kwargs not allowed', t);
        seenStarStar = true;
        a = { kind: 'starstar', ...pos, value: this.test() };
      } else if (this.eat('*')) {
        if (seenStarStar) this.fail('*args may not follow **kwargs', t);
        if (seenStar) this.fail('multiple *args not allowed', t);
        seenStar = true;
        a = { kind: 'star', ...pos, value: this.test() };
      } else if (t.kind === 'IDENT' && this.peek().kind === '=') {
        this.next();
        this.next();
        if (seenStarStar) this.fail('keyword argument may not follow **kwargs', t);
        seenNamed = true;
        a = { kind: 'named', ...pos, name: t.value as string, value: this.test() };
      } else {
        if (seenNamed) this.fail('positional argument may not follow named', t);
        if (seenStar || seenStarStar)
          this.fail('positional argument may not follow *args or **kwargs', t);
        a = { kind: 'positional', ...pos, value: this.test() };
      }
      args.push(a);
      if (!this.eat(',')) break;
    }
    return args;
  }

  private operand(): Expr {
    const t = this.tok;
    const pos = { line: t.line, col: t.col };
    switch (t.kind) {
      case 'IDENT':
        this.next();
        return { kind: 'Ident', ...pos, name: t.value as string };
      case 'INT':
        this.next();
        return { kind: 'Literal', ...pos, value: { t: 'int', v: t.value as number | bigint } };
      case 'FLOAT':
        this.next();
        return { kind: 'Literal', ...pos, value: { t: 'float', v: t.value as number } };
      case 'STRING':
        this.next();
        return { kind: 'Literal', ...pos, value: { t: 'string', v: t.value as string } };
      case 'BYTES':
        this.next();
        return { kind: 'Literal', ...pos, value: { t: 'bytes', v: t.value as Uint8Array } };
      case '(': {
        this.next();
        if (this.eat(')')) return { kind: 'Tuple', ...pos, items: [], parens: true };
        const first = this.test();
        if (this.at('for'))
          this.fail('generator expressions are not supported; use a list comprehension');
        if (this.eat(')')) return first;
        const items = [first];
        while (this.eat(',')) {
          if (this.at(')')) break;
          items.push(this.test());
        }
        this.expect(')');
        return { kind: 'Tuple', ...pos, items, parens: true };
      }
      case '[': {
        this.next();
        if (this.eat(']')) return { kind: 'List', ...pos, items: [] };
        const first = this.test();
        if (this.at('for')) {
          const clauses = this.clauses();
          this.expect(']');
          return { kind: 'Comprehension', ...pos, dict: false, body: first, value: null, clauses };
        }
        const items = [first];
        while (this.eat(',')) {
          if (this.at(']')) break;
          items.push(this.test());
        }
        this.expect(']');
        return { kind: 'List', ...pos, items };
      }
      case '{': {
        this.next();
        if (this.eat('}')) return { kind: 'Dict', ...pos, entries: [] };
        const k = this.test();
        this.expect(':');
        const v = this.test();
        if (this.at('for')) {
          const clauses = this.clauses();
          this.expect('}');
          return { kind: 'Comprehension', ...pos, dict: true, body: k, value: v, clauses };
        }
        const entries: [Expr, Expr][] = [[k, v]];
        while (this.eat(',')) {
          if (this.at('}')) break;
          const k2 = this.test();
          this.expect(':');
          entries.push([k2, this.test()]);
        }
        this.expect('}');
        return { kind: 'Dict', ...pos, entries };
      }
      default:
        return this.fail(`got ${describe(t)}, want primary expression`);
    }
  }

  private clauses(): Clause[] {
    const out: Clause[] = [];
    while (true) {
      const t = this.tok;
      if (this.eat('for')) {
        const target = this.loopVars();
        this.expect('in');
        out.push({ kind: 'for', line: t.line, col: t.col, target, iter: this.testNoCond() });
      } else if (this.eat('if')) {
        out.push({ kind: 'if', line: t.line, col: t.col, cond: this.testNoCond() });
      } else return out;
    }
  }
}

function describeKind(k: TokenKind): string {
  switch (k) {
    case 'NEWLINE':
      return 'newline';
    case 'INDENT':
      return 'indent';
    case 'OUTDENT':
      return 'outdent';
    case 'EOF':
      return 'end of file';
    case 'IDENT':
      return 'identifier';
    default:
      return `'${k}'`;
  }
}

function describe(t: Token): string {
  if (t.kind === 'IDENT') return `identifier ${t.value as string}`;
  if (t.kind === 'STRING') return 'string literal';
  if (t.kind === 'INT' || t.kind === 'FLOAT') return 'number literal';
  return describeKind(t.kind);
}

function describeExpr(e: Expr): string {
  switch (e.kind) {
    case 'Call':
      return 'function call';
    case 'Literal':
      return 'literal';
    case 'Comprehension':
      return 'comprehension';
    default:
      return `${e.kind.toLowerCase()} expression`;
  }
}
