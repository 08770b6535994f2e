import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareEntries, entrySizeBytes, type HistoryEntry, scopeKey } from './history-entry.ts';

const entry = (over: Partial<HistoryEntry>): HistoryEntry => ({
  sequence: 1,
  created_at_ms: 0,
  kind: 'request_text',
  key: 'chat_completion',
  scope: { session_id: 's1' },
  text: '',
  ...over,
});

const arbitraryEntry = fc.record({
  sequence: fc.integer({ min: 1, max: 5 }),
  created_at_ms: fc.integer({ min: 0, max: 5 }),
  kind: fc.constantFrom('request_text', 'tool_call'),
  key: fc.constantFrom('a', 'b'),
  scope: fc.dictionary(fc.constantFrom('session_id', 'run_id'), fc.constantFrom('s1', 's2')),
  text: fc.string({ maxLength: 3 }),
});

describe('history entries', () => {
  it('orders by time, then by sequence', () => {
    expect(
      compareEntries(
        entry({ created_at_ms: 1, sequence: 9 }),
        entry({ created_at_ms: 2, sequence: 1 }),
      ),
    ).toBeLessThan(0);
    expect(
      compareEntries(
        entry({ created_at_ms: 2, sequence: 1 }),
        entry({ created_at_ms: 2, sequence: 2 }),
      ),
    ).toBeLessThan(0);
    expect(compareEntries(entry({}), entry({}))).toBe(0);
  });

  it('is a total order: antisymmetric, and zero only for identical entries', () => {
    fc.assert(
      fc.property(arbitraryEntry, arbitraryEntry, (a, b) => {
        const ab = compareEntries(a, b);
        // A sum, not -sign: for equal entries -Math.sign(0) is -0, which toBe tells from 0.
        expect(Math.sign(ab) + Math.sign(compareEntries(b, a))).toBe(0);
        if (ab === 0)
          expect({ ...a, scope: scopeKey(a.scope) }).toEqual({ ...b, scope: scopeKey(b.scope) });
      }),
    );
    // Equal entries are drawn rarely above: check that case on purpose.
    fc.assert(fc.property(arbitraryEntry, (a) => compareEntries(a, { ...a }) === 0));
  });

  it('charges the UTF-8 size of kind, key, text and scope', () => {
    expect(entrySizeBytes(entry({ kind: 'k', key: 'é', text: '😀', scope: { s: 'v' } }))).toBe(
      1 + 2 + 4 + 2,
    );
  });

  it('treats scope maps with the same pairs as the same scope', () => {
    expect(scopeKey({ b: '2', a: '1' })).toBe(scopeKey({ a: '1', b: '2' }));
  });
});
