import Type, { type Static } from 'typebox';
import { utf8Length } from '../text/utf8.ts';

/**
 * One recorded event in a bounded history store: a request's text, a tool call, a response, a
 * state transition. Shared by the history-threshold core (which reads windows of entries) and
 * the cache-eviction core (which decides which entries a store keeps).
 */
export const HistoryEntrySchema = Type.Object(
  {
    sequence: Type.Integer({
      minimum: 1,
      description: 'Assigned by the store on insert; strictly increasing within one store.',
    }),
    created_at_ms: Type.Integer({ minimum: 0, description: 'Unix time in milliseconds.' }),
    kind: Type.String({
      minLength: 1,
      description: 'What was recorded: `request_text`, `response_text`, `tool_call`, …',
    }),
    key: Type.String({ description: 'A sub-key within the kind, e.g. a tool name.' }),
    scope: Type.Record(Type.String(), Type.String(), {
      description: 'Who it belongs to, e.g. `{ "session_id": "s1", "tenant_id": "t1" }`.',
    }),
    text: Type.String({ description: 'The text regex rules look at; empty when there is none.' }),
  },
  { additionalProperties: false },
);
export type HistoryEntry = Static<typeof HistoryEntrySchema>;

/**
 * Bytes an entry is charged against a store's `max_bytes`: the UTF-8 size of its kind, key,
 * text and scope keys and values. A fixed formula (not an in-memory size estimate) so that
 * eviction is the same on every machine and every run.
 */
export function entrySizeBytes(entry: HistoryEntry): number {
  let bytes = utf8Length(entry.kind) + utf8Length(entry.key) + utf8Length(entry.text);
  for (const [k, v] of Object.entries(entry.scope)) bytes += utf8Length(k) + utf8Length(v);
  return bytes;
}

/**
 * Total order on entries, oldest first: `(created_at_ms, sequence)`, then the remaining fields
 * so that even entries from two different stores never tie.
 */
export function compareEntries(a: HistoryEntry, b: HistoryEntry): number {
  return (
    a.created_at_ms - b.created_at_ms ||
    a.sequence - b.sequence ||
    compareStrings(scopeKey(a.scope), scopeKey(b.scope)) ||
    compareStrings(a.kind, b.kind) ||
    compareStrings(a.key, b.key) ||
    compareStrings(a.text, b.text)
  );
}

/** Canonical string for a scope map: keys sorted, so `{a,b}` and `{b,a}` are the same scope. */
export function scopeKey(scope: Readonly<Record<string, string>>): string {
  const keys = Object.keys(scope).sort(compareStrings);
  return JSON.stringify(keys.map((k) => [k, scope[k]]));
}

/** Code-unit order, independent of locale (unlike `localeCompare`). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
