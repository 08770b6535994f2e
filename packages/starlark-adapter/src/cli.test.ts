import { describe, expect, it, vi } from 'vitest';
import { chunks, main, runChunk } from './cli.ts';

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

describe('run: limits for programs', () => {
  const runFile = async (src: string, flags: string[] = []) => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'starlark-run-'));
    const file = join(dir, 'p.star');
    writeFileSync(file, src);
    const out: string[] = [];
    const err: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((t) => {
      out.push(String(t));
      return true;
    });
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((t) => {
      err.push(String(t));
      return true;
    });
    try {
      const code = await main(['run', '--toplevel-control', ...flags, file]);
      return { code, out: out.join(''), err: err.join('') };
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
  };

  // Benchmark-style programs that allocate far more over their run than they ever hold: each
  // failed under the policies' 256 MB cumulative budget, which `run` no longer applies.
  const ORDINARY = {
    concatenation: 's = ""\nfor i in range(20000):\n    s = s + str(i % 10)\nprint(len(s))\n',
    'dict building':
      'pad = "x" * 300\nn = 0\nfor r in range(200):\n    d = {}\n    for i in range(3000):\n        d[("k%d" % i) + pad] = i\n    n += len(d)\nprint(n)\n',
    'split loops':
      'n = 0\nline = "a,b,c,d," * 2000\nfor r in range(3000):\n    n += len(line.split(","))\nprint(n)\n',
  };

  it('runs ordinary programs that allocate much over their run but hold little', async () => {
    for (const [what, src] of Object.entries(ORDINARY)) {
      const r = await runFile(src);
      expect({ what, code: r.code, err: r.err }).toEqual({ what, code: 0, err: '' });
      // Under a policy's default budget each would have failed.
      const policyBudget = await runFile(src, ['--max-alloc', String(256 * 1024 * 1024)]);
      expect({ what, err: policyBudget.err }).toEqual({
        what,
        err: expect.stringMatching(/allocation budget of 268435456 bytes exceeded/),
      });
    }
  });

  it('--max-alloc sets a cumulative budget as policies have; --max-memory bounds the live heap', async () => {
    const capped = await runFile(ORDINARY.concatenation, ['--max-alloc', '1000000']);
    expect(capped.code).toBe(1);
    expect(capped.err).toMatch(/allocation budget of 1000000 bytes exceeded/);
    const hoard = await runFile(
      'keep = []\nfor i in range(100000):\n    keep.append("x" * 1000 + str(i))\nprint(len(keep))\n',
      ['--max-memory', '50000000'],
    );
    expect(hoard.code).toBe(1);
    expect(hoard.err).toMatch(/live memory of \d+ bytes is over the 50000000-byte bound/);
  });
});
