import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/config-error.ts';
import { schemaIssues } from '../schema/validator.ts';
import { boundaryAtOrBefore } from '../text/graphemes.ts';
import {
  consumeChunk,
  finishStream,
  governStream,
  type StreamState,
  StreamStepSchema,
  type StreamTrigger,
  startStream,
  tickStream,
} from './stream-governor.ts';
import { compileStreamPolicy, ReleaseModeSchema, type StreamPolicyConfig } from './stream-rules.ts';

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text).length;

function policy(rules: StreamPolicyConfig['rules'], extra: Partial<StreamPolicyConfig> = {}) {
  return compileStreamPolicy({ rules, ...extra });
}

/** Feed chunks one millisecond apart, then finish. */
function run(p: ReturnType<typeof policy>, chunks: string[]) {
  return governStream(
    p,
    chunks.map((text, i) => ({ text, at_ms: i })),
    chunks.length,
  );
}

function triggers(state: StreamState): StreamTrigger[] {
  return state.events.filter((e): e is StreamTrigger => e.type === 'stream_policy.triggered');
}

describe('stream policy configuration', () => {
  it('rejects a rule with both matchers, an unknown action, an invalid regex and a duplicate id, all at once', () => {
    let error: unknown;
    try {
      compileStreamPolicy({
        rules: [
          { id: 'a', action: 'block', contains: 'x', regex: 'y' },
          { id: 'b', action: 'explode', contains: 'x' },
          { id: 'c', action: 'block', regex: '(unclosed' },
          { id: 'c', action: 'annotate', contains: 'z' },
        ],
      });
    } catch (e) {
      error = e;
    }
    expect(ConfigError.isInstance(error)).toBe(true);
    const issues = (error as ConfigError).issues;
    expect(issues).toContainEqual({
      path: '$.rules[0]',
      message: 'needs exactly one matcher: `contains` or `regex`',
    });
    expect(issues).toContainEqual(
      expect.objectContaining({
        path: '$.rules[1].action',
        message: 'is not a known action, got "explode"',
      }),
    );
    expect(issues).toHaveLength(2);
    // Semantic checks run once the shape is right, and also report every issue.
    expect(() =>
      compileStreamPolicy({
        rules: [
          { id: 'c', action: 'block', regex: '(unclosed' },
          { id: 'c', action: 'annotate', contains: 'z' },
        ],
      }),
    ).toThrow(
      /invalid stream policy: 2 issues\n {2}- \$\.rules\[0\]\.regex: is not a valid RE2 regex: .*\n {2}- \$\.rules\[1\]\.id: duplicates the id of rule 0/,
    );
  });

  it('rejects a rule with no matcher, keys that do not belong to its action, and negative numbers', () => {
    expect(() => compileStreamPolicy({ rules: [{ id: 'a', action: 'block' }] })).toThrow(
      '$.rules[0]: needs exactly one matcher: `contains` or `regex`',
    );
    expect(() =>
      compileStreamPolicy({ rules: [{ id: 'a', action: 'block', contains: 'x', reminder: 'r' }] }),
    ).toThrow('$.rules[0].reminder: is not a known key');
    expect(() =>
      compileStreamPolicy({
        rules: [{ id: 'a', action: 'block', contains: 'x', horizon_bytes: -1 }],
      }),
    ).toThrow('$.rules[0].horizon_bytes: must be >= 0, got -1');
    expect(() =>
      compileStreamPolicy({ rules: [{ id: 'a', action: 'retry_with_reminder', contains: 'x' }] }),
    ).toThrow('$.rules[0].reminder: is required');
  });

  it('derives the release mode: the largest horizon, or full buffer when any active rule has none', () => {
    expect(
      policy([
        { id: 'a', action: 'block', contains: 'x', horizon_bytes: 4 },
        { id: 'b', action: 'annotate', contains: 'y', horizon_bytes: 9 },
        { id: 'c', action: 'pass', contains: 'z' },
      ]).mode,
    ).toEqual({ kind: 'horizon', horizon_bytes: 9 });
    expect(
      policy([
        { id: 'a', action: 'block', contains: 'x', horizon_bytes: 4 },
        { id: 'b', action: 'annotate', contains: 'y' },
      ]).mode,
    ).toEqual({ kind: 'full_buffer', reason: 'rule_without_horizon', rule_id: 'b' });
  });

  it('differs from the original: no active rules means pass-through (horizon 0), not a full buffer', () => {
    const p = policy([{ id: 'p', action: 'pass', contains: 'x' }]);
    expect(p.mode).toEqual({ kind: 'horizon', horizon_bytes: 0 });
    expect(p.inactive_rule_ids).toEqual(['p']);
  });

  it('takes the smallest max_hold_ms and resolves defaults in code', () => {
    const p = policy([
      { id: 'a', action: 'rewrite_window', contains: 'x', max_hold_ms: 50 },
      { id: 'b', action: 'retry_with_reminder', contains: 'y', reminder: 'r', max_hold_ms: 20 },
    ]);
    expect(p.max_hold_ms).toBe(20);
    expect(p.max_retries_total).toBe(2);
    expect(p.rules[0]).toMatchObject({ action: 'rewrite_window', replacement: '[redacted]' });
    expect(p.rules[1]).toMatchObject({ action: 'retry_with_reminder', max_retries: 1 });
    expect(Object.isFrozen(p)).toBe(true);
  });
});

describe('original vectors (wardwright-semantics §4.9)', () => {
  it('T1 rewrite_chunk replaces a match inside one chunk and keeps holding the horizon', () => {
    const p = policy([
      {
        id: 'r',
        action: 'rewrite_chunk',
        contains: 'OldClient(',
        replacement: 'NewClient(',
        horizon_bytes: 10,
      },
    ]);
    const { state, released } = run(p, ['abc ', 'OldClient(', ' done']);
    expect(state.status).toBe('completed');
    expect(released).toEqual(['abc ', 'NewCl', 'ient( done']);
    expect(state.rewritten_bytes).toBe(10);
  });

  it('T2 drop_chunk removes the chunk from the output', () => {
    const p = policy([{ id: 'd', action: 'drop_chunk', contains: 'DROP', horizon_bytes: 5 }]);
    const { state, released } = run(p, ['keep ', 'DROP', ' done']);
    expect(released).toEqual(['keep ', ' done']);
    expect(state).toMatchObject({
      status: 'completed',
      generated_bytes: 14,
      released_bytes: 10,
      dropped_bytes: 4,
    });
  });

  it('T3 a literal block that spans two chunks fires on the window, with byte-offset evidence', () => {
    const p = policy([{ id: 'b', action: 'block', contains: 'OldClient(', horizon_bytes: 10 }]);
    const { state, released } = run(p, ['abc Old', 'Client(']);
    expect(released).toEqual([]);
    expect(state.status).toBe('blocked');
    expect(state.events).toEqual([
      {
        type: 'stream_policy.triggered',
        rule_id: 'b',
        action: 'block',
        stage: 'pipeline',
        scope: 'window',
        match_kind: 'literal',
        chunk_index: 1,
        chunk_raw_start_byte: 7,
        chunk_raw_end_byte: 14,
        window_start_byte: 0,
        window_end_byte: 14,
        match_start_byte: 4,
        match_end_byte: 14,
        match_count: 1,
      },
    ]);
    expect(state.blocked_bytes).toBe(14);
    expect(state.terminal_rule).toEqual({ action: 'block', rule_id: 'b', message: null });
  });

  it('T4 the same with a regex', () => {
    const p = policy([{ id: 'b', action: 'block', regex: 'OldClient\\(', horizon_bytes: 10 }]);
    const { state } = run(p, ['abc Old', 'Client(']);
    expect(triggers(state)).toEqual([
      expect.objectContaining({
        match_kind: 'regex',
        scope: 'window',
        match_start_byte: 4,
        match_end_byte: 14,
      }),
    ]);
  });

  it('T5 a later block rule sees text an earlier rewrite produced (full buffer)', () => {
    const p = policy([
      { id: 'rw', action: 'rewrite_chunk', contains: 'ABC', replacement: 'LONGER-REPLACEMENT' },
      { id: 'bl', action: 'block', contains: 'REPLACEMENTTAIL' },
    ]);
    const { state, released } = run(p, ['ABC', 'TAIL']);
    expect(released).toEqual([]);
    expect(state.status).toBe('blocked');
    expect(triggers(state)).toEqual([
      expect.objectContaining({
        rule_id: 'rw',
        scope: 'chunk',
        match_start_byte: 0,
        match_end_byte: 3,
      }),
      expect.objectContaining({
        rule_id: 'bl',
        scope: 'window',
        chunk_index: 1,
        window_start_byte: 0,
        window_end_byte: 22,
        match_start_byte: 7,
        match_end_byte: 22,
      }),
    ]);
  });

  it('T6 a rule that never matches releases everything and never holds more than the horizon', () => {
    const p = policy([{ id: 'b', action: 'block', contains: 'OldClient(', horizon_bytes: 10 }]);
    const { state, released } = run(p, ['alpha ', 'beta ', 'gamma']);
    expect(released.join('')).toBe('alpha beta gamma');
    expect(state).toMatchObject({
      status: 'completed',
      released_bytes: 16,
      generated_bytes: 16,
      held_bytes: 0,
    });
    expect(state.max_held_bytes).toBeLessThanOrEqual(10);
  });

  it('T7 multibyte text is released on character boundaries', () => {
    const p = policy([{ id: 'b', action: 'block', contains: 'missing', horizon_bytes: 3 }]);
    const { released } = run(p, ['ééé', 'abc']);
    expect(released).toEqual(['é', 'éé', 'abc']);
  });

  it('T8 hold-time expiry fails closed and reports how long the oldest byte waited', () => {
    const p = policy([
      { id: 'b', action: 'block', contains: 'OldClient(', horizon_bytes: 10, max_hold_ms: 5 },
    ]);
    let state = startStream();
    const first = consumeChunk(p, state, 'held', 100);
    expect(first.control).toBe('continue');
    state = first.state;
    const second = consumeChunk(p, state, ' later', 106);
    expect(second.control).toBe('halt');
    expect(second.released).toBe('');
    expect(second.state).toMatchObject({
      status: 'latency_exceeded',
      released_bytes: 0,
      max_observed_hold_ms: 6,
      held_bytes: 10,
    });
    expect(second.state.events).toEqual([
      {
        type: 'stream_policy.latency_exceeded',
        chunk_index: 1,
        max_hold_ms: 5,
        observed_hold_ms: 6,
        held_bytes: 4,
      },
    ]);
  });

  it('T9 releases the safe prefix but never any part of the match, then stays halted', () => {
    const p = policy([{ id: 'b', action: 'block', contains: 'OldClient(', horizon_bytes: 10 }]);
    let state = startStream();
    const out: string[] = [];
    for (const [i, chunk] of ['safe prefix that can release ', 'Old', 'Client(arg)'].entries()) {
      const step = consumeChunk(p, state, chunk, i);
      out.push(step.released);
      state = step.state;
    }
    expect(out).toEqual(['safe prefix that ca', 'n r', '']);
    expect(state.status).toBe('blocked');
    expect(state.held_bytes).toBeGreaterThan(10);
    const after = consumeChunk(p, state, 'more', 9);
    expect(after).toEqual({ control: 'halt', state, released: '' });
    expect(finishStream(p, state, 10)).toEqual({ control: 'halt', state, released: '' });
    expect(tickStream(p, state, 10)).toEqual({ control: 'halt', state, released: '' });
  });

  it('T10 full buffer: a regex block releases nothing', () => {
    const p = policy([{ id: 'b', action: 'block', regex: 'secret-[0-9]+' }]);
    const { state, released } = run(p, ['safe prefix ', 'secret-123']);
    expect(released).toEqual([]);
    expect(state).toMatchObject({ status: 'blocked', released_bytes: 0 });
    expect(state.held_bytes).toBeGreaterThan(0);
    expect(state.generated_bytes).toBe(22);
  });

  it('T11 full buffer: a regex split across chunks is found in the window', () => {
    const p = policy([{ id: 'b', action: 'block', regex: 'secret-[0-9]+' }]);
    const { state } = run(p, ['safe prefix sec', 'ret-123 suffix']);
    expect(state.status).toBe('blocked');
    expect(state.trigger_count).toBe(1);
    expect(triggers(state)[0]).toMatchObject({ chunk_index: 1, scope: 'window' });
  });
});

describe('TTSR arbitration', () => {
  it('a trigger exactly at the horizon boundary is still caught', () => {
    // horizon 3 = needle length - 1: the first needle byte is the oldest held byte.
    const p = policy([{ id: 'b', action: 'block', contains: 'abcd', horizon_bytes: 3 }]);
    let state = startStream();
    const step1 = consumeChunk(p, state, 'xyzabc', 0);
    expect(step1.released).toBe('xyz');
    state = step1.state;
    expect(state.held).toBe('abc');
    const step2 = consumeChunk(p, state, 'd', 1);
    expect(step2.state.status).toBe('blocked');
    expect(step2.state.released_bytes).toBe(3);
  });

  it('a horizon one byte too small releases the first byte, and the match is never whole again', () => {
    // This is why the horizon must be at least the longest match minus one byte.
    const p = policy([{ id: 'b', action: 'block', contains: 'abcd', horizon_bytes: 2 }]);
    const { state, released } = run(p, ['xyzabc', 'd']);
    expect(released).toEqual(['xyza', 'b', 'cd']);
    expect(state.status).toBe('completed');
  });

  it('near misses do not fire', () => {
    const p = policy([
      { id: 'b', action: 'block', contains: 'OldClient(', horizon_bytes: 10 },
      { id: 'r', action: 'block', regex: 'secret-[0-9]+', horizon_bytes: 10 },
    ]);
    const { state, released } = run(p, ['OldClient ', 'oldclient(', 'OldClien', 't secret-', 'x']);
    expect(state.status).toBe('completed');
    expect(state.trigger_count).toBe(0);
    expect(released.join('')).toBe('OldClient oldclient(OldClient secret-x');
  });

  it('several rules matching one chunk all apply, in declaration order', () => {
    const p = policy([
      {
        id: 'note',
        action: 'annotate',
        contains: 'token',
        horizon_bytes: 8,
        message: 'mentions a token',
      },
      {
        id: 'mask',
        action: 'rewrite_window',
        regex: 'sk-[a-z0-9]+',
        replacement: 'sk-***',
        horizon_bytes: 8,
      },
      {
        id: 'mask2',
        action: 'rewrite_window',
        contains: 'password',
        replacement: '********',
        horizon_bytes: 8,
      },
    ]);
    const { state, released } = run(p, ['token sk-abc123 and password here']);
    expect(released.join('')).toBe('token sk-*** and ******** here');
    expect(triggers(state).map((t) => [t.rule_id, t.match_count])).toEqual([
      ['note', 1],
      ['mask', 1],
      ['mask2', 1],
    ]);
    expect(triggers(state)[0]).toMatchObject({ message: 'mentions a token' });
  });

  it('differs from the original: an earlier annotate rule does not shadow a later block on the same chunk', () => {
    const p = policy([
      { id: 'note', action: 'annotate', contains: 'deploy', horizon_bytes: 20 },
      { id: 'stop', action: 'block', contains: 'rm -rf', horizon_bytes: 20 },
    ]);
    const { state, released } = run(p, ['deploy then rm -rf /']);
    expect(state.status).toBe('blocked');
    expect(released).toEqual([]);
  });

  it('a block declared before a rewrite still catches the text the rewrite produces (release gate)', () => {
    const p = policy([
      { id: 'stop', action: 'block', contains: 'FORBIDDEN', horizon_bytes: 12 },
      {
        id: 'oops',
        action: 'rewrite_chunk',
        contains: 'safe',
        replacement: 'FORBIDDEN',
        horizon_bytes: 12,
      },
    ]);
    const { state, released } = run(p, ['this is safe text']);
    expect(released).toEqual([]);
    expect(state.status).toBe('blocked');
    expect(triggers(state).map((t) => [t.rule_id, t.stage])).toEqual([
      ['oops', 'pipeline'],
      ['stop', 'release_gate'],
    ]);
  });

  it('a rewrite declared before a block removes the text the block forbids', () => {
    const p = policy([
      { id: 'mask', action: 'rewrite_chunk', contains: 'secret', horizon_bytes: 6 },
      { id: 'stop', action: 'block', contains: 'secret', horizon_bytes: 6 },
    ]);
    const { state, released } = run(p, ['a secret b']);
    expect(state.status).toBe('completed');
    expect(released.join('')).toBe('a [redacted] b');
  });

  it('rewrite followed by a window match: later text meets the rewritten text, not the original', () => {
    const p = policy([
      { id: 'rw', action: 'rewrite_window', contains: 'cat', replacement: 'dog', horizon_bytes: 8 },
      { id: 'stop', action: 'block', contains: 'doghouse', horizon_bytes: 8 },
    ]);
    const { state, released } = run(p, ['the cat', 'house']);
    expect(released).toEqual([]);
    expect(state.status).toBe('blocked');
    expect(triggers(state)[1]).toMatchObject({
      rule_id: 'stop',
      scope: 'window',
      match_start_byte: 4,
      match_end_byte: 12,
    });
  });

  it('a window rewrite catches a match split across chunks and keeps holding the horizon afterwards', () => {
    const p = policy([
      {
        id: 'rw',
        action: 'rewrite_window',
        contains: 'password',
        replacement: '***',
        horizon_bytes: 7,
      },
    ]);
    let state = startStream();
    const a = consumeChunk(p, state, 'my pass', 0);
    state = a.state;
    const b = consumeChunk(p, state, 'word is 1234', 1);
    expect(triggers(b.state)).toEqual([
      expect.objectContaining({ scope: 'window', match_start_byte: 3, match_end_byte: 11 }),
    ]);
    // The rewritten window "my *** is 1234" (14 bytes) still keeps 7 bytes held.
    expect(a.released + b.released).toBe('my *** ');
    expect(b.state.held).toBe('is 1234');
    const end = finishStream(p, b.state, 2);
    expect(a.released + b.released + end.released).toBe('my *** is 1234');
  });

  it('does not rewrite its own replacement again on later chunks', () => {
    const p = policy([
      { id: 'rw', action: 'rewrite_window', contains: 'a', replacement: 'aa', horizon_bytes: 4 },
    ]);
    const { released } = run(p, ['a', 'b', 'a', 'b']);
    expect(released.join('')).toBe('aabaab');
  });

  it('drop_chunk drops only chunks that contain a match; the dropped text is never seen again', () => {
    const p = policy([
      { id: 'd', action: 'drop_chunk', contains: '[debug]', horizon_bytes: 4 },
      { id: 'b', action: 'block', contains: 'leak', horizon_bytes: 4 },
    ]);
    const { state, released } = run(p, ['ok ', '[debug] leak', ' fine']);
    expect(state.status).toBe('completed');
    expect(released.join('')).toBe('ok  fine');
    expect(triggers(state).map((t) => t.rule_id)).toEqual(['d']);
  });

  it('retry_with_reminder ends the attempt and carries the reminder', () => {
    const p = policy([
      {
        id: 'ttsr',
        action: 'retry_with_reminder',
        contains: 'OldClient(',
        reminder: 'Use NewClient.',
        max_retries: 2,
      },
    ]);
    const { state } = run(p, ['use OldClient(', 'arg) now']);
    expect(state.status).toBe('retry_required');
    expect(state.terminal_rule).toEqual({
      action: 'retry_with_reminder',
      rule_id: 'ttsr',
      reminder: 'Use NewClient.',
      max_retries: 2,
    });
    expect(triggers(state)[0]).toMatchObject({ reminder: 'Use NewClient.', scope: 'chunk' });
    expect(state.blocked_bytes).toBe(0);
  });

  it('hold time is measured from the oldest held byte, not from when holding started', () => {
    const p = policy([
      { id: 'b', action: 'block', contains: 'zz', horizon_bytes: 4, max_hold_ms: 10 },
    ]);
    let state = startStream();
    // Each chunk pushes older bytes out: the oldest held byte is never older than 2 chunks.
    for (let t = 0; t <= 60; t += 6) {
      const step = consumeChunk(p, state, 'abcd', t);
      expect(step.state.status).toBe('streaming');
      state = step.state;
    }
    expect(state.max_observed_hold_ms).toBe(6);
    // The provider stalls: a timer tick past the limit fails the attempt closed.
    expect(tickStream(p, state, 66).state.status).toBe('streaming');
    const late = tickStream(p, state, 71);
    expect(late.control).toBe('halt');
    expect(late.state.status).toBe('latency_exceeded');
    expect(late.state.events.at(-1)).toMatchObject({
      observed_hold_ms: 11,
      held_bytes: 4,
      chunk_index: 11,
    });
  });

  it('hold time covers text a rewrite produced from older held text', () => {
    const p = policy([
      {
        id: 'rw',
        action: 'rewrite_window',
        contains: 'ab',
        replacement: 'XYZXYZ',
        horizon_bytes: 8,
        max_hold_ms: 5,
      },
    ]);
    let state = consumeChunk(p, startStream(), 'a', 0).state;
    state = consumeChunk(p, state, 'b', 4).state; // "XYZXYZ" replaces text first held at 0
    expect(state.hold_segments).toEqual([{ bytes: 6, at_ms: 0 }]);
    expect(finishStream(p, state, 6).state.status).toBe('latency_exceeded');
  });

  it('finish fails closed too when the held text has waited too long', () => {
    const p = policy([{ id: 'b', action: 'block', contains: 'x', max_hold_ms: 5 }]);
    const state = consumeChunk(p, startStream(), 'hello', 0).state;
    const end = finishStream(p, state, 6);
    expect(end.state.status).toBe('latency_exceeded');
    expect(end.released).toBe('');
  });

  it('never releases half of a surrogate pair the producer split across chunks', () => {
    const p = policy([{ id: 'b', action: 'block', contains: 'x', horizon_bytes: 0 }]);
    const emoji = '😀';
    const { state, released } = run(p, [`a${emoji[0]}`, `${emoji[1]}b`]);
    expect(released).toEqual(['a', emoji, 'b']);
    expect(state.released_bytes).toBe(bytes(`a${emoji}b`));
  });

  it('keeps a combining mark with its base letter across a chunk boundary', () => {
    const p = policy([{ id: 'b', action: 'block', contains: 'x', horizon_bytes: 0 }]);
    const { released } = run(p, ['cafe', '\u0301 ok']);
    expect(released).toEqual(['caf', 'e\u0301 o', 'k']);
  });

  it('starts a retry attempt with its index', () => {
    expect(startStream({ attempt_index: 2 }).attempt_index).toBe(2);
  });
});

describe('TTSR properties', () => {
  const alphabet = fc.constantFrom('a', 'b', 'c', 'é', '😀', 'e\u0301', ' ');
  const text = fc.array(alphabet, { maxLength: 40 }).map((parts) => parts.join(''));

  /** Split `t` at arbitrary UTF-16 positions (so surrogate pairs may be split too). */
  function chunked(t: string) {
    return fc.array(fc.nat(t.length), { maxLength: 8 }).map((cuts) => {
      const points = [...new Set(cuts)].sort((x, y) => x - y);
      const parts: string[] = [];
      let at = 0;
      for (const p of points) {
        parts.push(t.slice(at, p));
        at = p;
      }
      parts.push(t.slice(at));
      return parts.filter((part) => part !== '');
    });
  }
  const textAndChunks = text.chain((t) => chunked(t).map((chunks) => ({ t, chunks })));

  it('output equals input when no rule fires, for every chunking and horizon', () => {
    fc.assert(
      fc.property(textAndChunks, fc.nat(12), ({ t, chunks }, horizon) => {
        const p = policy([{ id: 'n', action: 'block', contains: 'zzz', horizon_bytes: horizon }]);
        const { state, released } = run(p, chunks);
        expect(state.status).toBe('completed');
        expect(released.join('')).toBe(t);
        expect(state.released_bytes).toBe(bytes(t));
        expect(state.generated_bytes).toBeGreaterThanOrEqual(state.released_bytes);
      }),
    );
  });

  it('no release ends inside a code point or a grapheme cluster', () => {
    const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    fc.assert(
      fc.property(textAndChunks, fc.nat(6), ({ t, chunks }, horizon) => {
        const p = policy([{ id: 'n', action: 'annotate', contains: 'b', horizon_bytes: horizon }]);
        const { released } = run(p, chunks);
        const boundaries = new Set([...segmenter.segment(t)].map((s) => s.index));
        let at = 0;
        for (const part of released) {
          at += part.length;
          expect(at === t.length || boundaries.has(at)).toBe(true);
          expect(boundaryAtOrBefore(t, at)).toBe(at);
        }
      }),
    );
  });

  it('released text never contains a blocked literal when the horizon covers it, and blocking does not depend on chunking', () => {
    const abc = fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 30 }).map((p) => p.join(''));
    const needle = fc
      .array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 4 })
      .map((p) => p.join(''));
    fc.assert(
      fc.property(
        abc.chain((t) => chunked(t).map((chunks) => ({ t, chunks }))),
        needle,
        fc.nat(3),
        ({ t, chunks }, n, slack) => {
          const p = policy([
            { id: 'b', action: 'block', contains: n, horizon_bytes: n.length - 1 + slack },
          ]);
          const { state, released } = run(p, chunks);
          expect(released.join('').includes(n)).toBe(false);
          expect(state.status).toBe(t.includes(n) ? 'blocked' : 'completed');
        },
      ),
    );
  });

  it('a rewrite_window rule leaves no match of its literal in the output when the horizon covers it', () => {
    const abc = fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 30 }).map((p) => p.join(''));
    fc.assert(
      fc.property(
        abc.chain((t) => chunked(t).map((chunks) => ({ t, chunks }))),
        ({ t, chunks }) => {
          const p = policy([
            {
              id: 'r',
              action: 'rewrite_window',
              contains: 'abc',
              replacement: '#',
              horizon_bytes: 2,
            },
          ]);
          const { released } = run(p, chunks);
          expect(released.join('')).toBe(t.replaceAll('abc', '#'));
        },
      ),
    );
  });

  it('every step and event matches the published schemas', () => {
    fc.assert(
      fc.property(textAndChunks, fc.nat(4), ({ chunks }, horizon) => {
        const p = policy([
          {
            id: 'r',
            action: 'rewrite_window',
            contains: 'ab',
            replacement: 'X',
            horizon_bytes: horizon,
            max_hold_ms: 2,
          },
          { id: 'd', action: 'drop_chunk', contains: 'é', horizon_bytes: horizon },
          { id: 'n', action: 'annotate', regex: 'c+', horizon_bytes: horizon, message: 'c' },
          { id: 'b', action: 'block', contains: 'cca', horizon_bytes: horizon },
          {
            id: 't',
            action: 'retry_with_reminder',
            contains: 'bbb',
            reminder: 'no b',
            horizon_bytes: horizon,
          },
        ]);
        expect(schemaIssues(ReleaseModeSchema, p.mode)).toEqual([]);
        let state = startStream();
        for (const [i, chunk] of chunks.entries()) {
          // Arrival times that sometimes exceed max_hold_ms, so hold-time failures occur too.
          const step = consumeChunk(p, state, chunk, i * (i % 3));
          expect(schemaIssues(StreamStepSchema, step)).toEqual([]);
          state = step.state;
        }
        expect(schemaIssues(StreamStepSchema, finishStream(p, state, 99))).toEqual([]);
        expect(schemaIssues(StreamStepSchema, tickStream(p, state, 99))).toEqual([]);
      }),
    );
  });

  it('is deterministic and never mutates its inputs', () => {
    fc.assert(
      fc.property(textAndChunks, ({ chunks }) => {
        const p = policy([
          {
            id: 'r',
            action: 'rewrite_window',
            contains: 'ab',
            replacement: 'X',
            horizon_bytes: 3,
            max_hold_ms: 100,
          },
          { id: 'b', action: 'block', contains: 'cc', horizon_bytes: 3 },
        ]);
        let state = startStream();
        for (const [i, chunk] of chunks.entries()) {
          const frozen = structuredClone(state);
          const one = consumeChunk(p, state, chunk, i);
          const two = consumeChunk(p, state, chunk, i);
          expect(two).toEqual(one);
          expect(state).toEqual(frozen);
          state = one.state;
        }
      }),
    );
  });
});
