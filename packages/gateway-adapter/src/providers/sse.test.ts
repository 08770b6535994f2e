import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseDecoder, type SseEvent } from './sse.ts';

function decode(parts: readonly string[]): SseEvent[] {
  const decoder = new SseDecoder();
  const out: SseEvent[] = [];
  for (const part of parts) decoder.push(part, out);
  return out;
}

describe('SseDecoder', () => {
  it('splits events on blank lines and skips comments', () => {
    expect(decode([': keep-alive\n\ndata: a\n\ndata: b\n\n'])).toEqual([
      { event: 'message', data: 'a' },
      { event: 'message', data: 'b' },
    ]);
  });

  it('joins multi-line data and keeps the event name', () => {
    expect(decode(['event: error\ndata: x\ndata:y\n\n'])).toEqual([
      { event: 'error', data: 'x\ny' },
    ]);
  });

  it('accepts CRLF and CR line endings, also when a CRLF is split across chunks', () => {
    expect(decode(['data: a\r', '\n\r', '\ndata: b\r\rdata: c\n\n'])).toEqual([
      { event: 'message', data: 'a' },
      { event: 'message', data: 'b' },
      { event: 'message', data: 'c' },
    ]);
  });

  it('reports a truncated event as pending', () => {
    const decoder = new SseDecoder();
    const out: SseEvent[] = [];
    decoder.push('data: {"half', out);
    expect(out).toEqual([]);
    expect(decoder.pending).toBe(true);
    decoder.push('"}\n\n', out);
    expect(decoder.pending).toBe(false);
    expect(out).toEqual([{ event: 'message', data: '{"half"}' }]);
  });

  it('gives the same events however the stream is split (property)', () => {
    const frame = fc
      .array(fc.string({ unit: fc.constantFrom('a', 'é', ' ', '{', '"', ':') }), {
        minLength: 1,
        maxLength: 3,
      })
      .map((lines) => lines.map((l) => `data: ${l}`));
    fc.assert(
      fc.property(
        fc.array(frame, { minLength: 1, maxLength: 5 }),
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.array(fc.nat(), { maxLength: 6 }),
        (frames, eol, cuts) => {
          const text = frames.map((lines) => lines.join(eol) + eol + eol).join(`:c${eol}`);
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const parts: string[] = [];
          let last = 0;
          for (const p of points) {
            parts.push(text.slice(last, p));
            last = p;
          }
          parts.push(text.slice(last));
          expect(decode(parts)).toEqual(decode([text]));
          expect(decode([text]).map((e) => e.data)).toEqual(
            frames.map((lines) => lines.map((l) => l.slice(6)).join('\n')),
          );
        },
      ),
    );
  });
});
