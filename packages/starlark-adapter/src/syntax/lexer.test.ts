import { describe, expect, it } from 'vitest';
import { StarlarkError } from '../errors.ts';
import { tokenize } from './lexer.ts';

const kinds = (src: string) => tokenize(src).map((t) => t.kind);

describe('lexer', () => {
  it('synthesises NEWLINE, INDENT and OUTDENT from indentation', () => {
    expect(kinds('def f():\n  pass\nx = 1\n')).toEqual([
      'def',
      'IDENT',
      '(',
      ')',
      ':',
      'NEWLINE',
      'INDENT',
      'pass',
      'NEWLINE',
      'OUTDENT',
      'IDENT',
      '=',
      'INT',
      'NEWLINE',
      'EOF',
    ]);
  });

  it('ignores newlines and indentation inside brackets, blank lines and comments', () => {
    expect(kinds('x = [1,\n      2]  # c\n\n   # only a comment\ny = 2')).toEqual([
      'IDENT',
      '=',
      '[',
      'INT',
      ',',
      'INT',
      ']',
      'NEWLINE',
      'IDENT',
      '=',
      'INT',
      'NEWLINE',
      'EOF',
    ]);
  });

  it('reads every int literal form, with BigInt beyond 2^53', () => {
    const v = (s: string) => tokenize(s)[0]!.value;
    expect(v('0x1F')).toBe(31);
    expect(v('0o17')).toBe(15);
    expect(v('0b101')).toBe(5);
    expect(v('0')).toBe(0);
    expect(v('123456789012345678901234567890')).toBe(123456789012345678901234567890n);
  });

  it('reads floats', () => {
    const t = (s: string) => tokenize(s)[0]!;
    expect(t('1.5').kind).toBe('FLOAT');
    expect(t('1.').value).toBe(1);
    expect(t('.5').value).toBe(0.5);
    expect(t('1e3').value).toBe(1000);
    expect(t('2.5E-1').value).toBe(0.25);
  });

  it('reads strings: escapes, raw, triple-quoted, bytes', () => {
    const v = (s: string) => tokenize(s)[0]!.value;
    expect(v(String.raw`"a\nb\t\x41\101\u00e9\U0001F600"`)).toBe('a\nb\tAAé😀');
    expect(v(String.raw`r'a\nb'`)).toBe('a\\nb');
    expect(v(`'''x\n"y"'''`)).toBe('x\n"y"');
    expect(v(String.raw`b"\xff\x00a"`)).toEqual(Uint8Array.from([255, 0, 97]));
    expect(v(`rb'\\d'`)).toEqual(new TextEncoder().encode('\\d'));
  });

  it('reports errors with line and column', () => {
    const fail = (src: string) => {
      try {
        tokenize(src, 'f.star');
        return null;
      } catch (e) {
        expect(StarlarkError.isInstance(e)).toBe(true);
        const err = e as StarlarkError;
        return `${err.position!.line}:${err.position!.col} ${err.message}`;
      }
    };
    expect(fail('x = "abc')).toMatch(/^1:5 unterminated string/);
    expect(fail('x = 1\ny = 0123')).toMatch(/^2:5 invalid int literal/);
    expect(fail('x = "\\q"')).toMatch(/invalid escape sequence \\q/);
    expect(fail('x = $')).toMatch(/^1:5 unexpected character/);
    expect(fail('class = 1')).toMatch(/keyword 'class' is reserved/);
    expect(fail('if x:\n    a\n  b\n')).toMatch(/unindent does not match/);
  });
});
