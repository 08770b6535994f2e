import { describe, expect, it } from 'vitest';
import { chunks, runChunk } from './cli.ts';

describe('test-suite runner', () => {
  it('splits chunks on --- lines and picks the expectation for the implementation', () => {
    const text =
      'assert_eq(1, 1)\n---\n### go: go error\n### java: java error\nx = 1 // 0\n---\nfail("x") ### x\n';
    const cs = chunks(text, 'java');
    expect(cs.map((c) => [c.line, c.expected])).toEqual([
      [1, null],
      [3, 'java error'],
      [7, 'x'],
    ]);
    expect(chunks(text, 'go')[1]!.expected).toBe('go error');
  });

  it('passes a chunk that succeeds without expectation or fails as expected', () => {
    expect(
      runChunk({ code: 'assert_eq(1 + 1, 2)', expected: null, line: 1, options: [] }, 't', {}, {}),
    ).toBeNull();
    expect(
      runChunk(
        { code: '1 // 0', expected: 'division by (zero|nothing)', line: 1, options: [] },
        't',
        {},
        {},
      ),
    ).toBeNull();
  });

  it('fails a chunk on a failed assertion, a missing error or a different error', () => {
    expect(
      runChunk({ code: 'assert_eq(1, 2)', expected: null, line: 1, options: [] }, 't', {}, {}),
    ).toMatch(/unexpected error: [\s\S]*assert_eq: 1 != 2/);
    expect(
      runChunk({ code: 'x = 1', expected: 'boom', line: 1, options: [] }, 't', {}, {}),
    ).toMatch(/got success/);
    expect(
      runChunk({ code: 'fail("a")', expected: 'boom', line: 1, options: [] }, 't', {}, {}),
    ).toMatch(/does not match/);
    expect(
      runChunk(
        { code: 'assert_(False, "msg")', expected: null, line: 1, options: [] },
        't',
        {},
        {},
      ),
    ).toMatch(/msg/);
    expect(
      runChunk({ code: 'assert_ne(1, 1)', expected: null, line: 1, options: [] }, 't', {}, {}),
    ).toMatch(/1 == 1/);
  });

  it('applies # option: lines as dialect options', () => {
    const code = '# option:set\nassert_eq(len(set([1, 1])), 1)';
    expect(runChunk({ code, expected: null, line: 1, options: ['set'] }, 't', {}, {})).toBeNull();
    expect(runChunk({ code, expected: null, line: 1, options: [] }, 't', {}, {})).toMatch(
      /unexpected error/,
    );
  });
});
