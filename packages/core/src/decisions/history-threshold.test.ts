import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/config-error.ts';
import type { WardwrightError } from '../errors/wardwright-error.ts';
import { schemaIssues } from '../schema/validator.ts';
import {
  compileHistoryStore,
  countHistory,
  type HistoryEntryInput,
  type HistoryStoreState,
  initialHistoryStore,
  insertEntry,
} from './cache-eviction.ts';
import { compareEntries, type HistoryEntry } from './history-entry.ts';
import {
  type CompiledHistoryRule,
  classifyCount,
  compileHistoryRules,
  evaluateHistoryRule,
  evaluateHistoryRules,
  type HistoryRule,
  HistoryRuleEvidenceSchema,
  type HistoryRuleOutcome,
  HistoryRuleOutcomeKindSchema,
  HistoryRuleOutcomeSchema,
} from './history-threshold.ts';

const compileOne = (rule: Record<string, unknown>): CompiledHistoryRule =>
  compileHistoryRules([{ id: 'r', scope: 'session_id', threshold: 1, kind: 'count', ...rule }])[0]!;

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (ConfigError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

function thrown(fn: () => unknown): WardwrightError {
  try {
    fn();
  } catch (error) {
    return error as WardwrightError;
  }
  throw new Error('expected a throw');
}

/** Ascending entries built from a newest-first list of texts, one per millisecond. */
function newestFirstTexts(texts: readonly string[], session = 's1'): HistoryEntry[] {
  return texts
    .map((text, i) => ({
      sequence: texts.length - i,
      created_at_ms: texts.length - i,
      kind: 'request_text',
      key: 'chat_completion',
      scope: { session_id: session },
      text,
    }))
    .reverse();
}

const T = 'rm -rf /';
const F = 'hello';

describe('history rule config', () => {
  it('compiles rules once, frozen, with absent filter and window as null', () => {
    const rules = compileHistoryRules([
      { id: 'a', kind: 'count', scope: 'session_id', threshold: 2 },
      {
        id: 'b',
        kind: 'regex_count',
        scope: 'run_id',
        filter: { kind: 'request_text', key: 'chat_completion' },
        pattern: 'rm\\s+-rf',
        threshold: 1,
        window: { last: 5, within_ms: 1000 },
      },
    ]);
    expect(Object.isFrozen(rules)).toBe(true);
    expect(Object.isFrozen(rules[1])).toBe(true);
    expect(rules[0]).toEqual({
      id: 'a',
      kind: 'count',
      scope: 'session_id',
      filter_kind: null,
      filter_key: null,
      threshold: 2,
      last: null,
      within_ms: null,
    });
    const regex = rules[1]!;
    expect(regex.kind === 'regex_count' && regex.pattern.source).toBe('rm\\s+-rf');
    expect(regex).toMatchObject({ filter_kind: 'request_text', last: 5, within_ms: 1000 });
  });

  it('lists schema, regex and duplicate-id issues together under $.rules', () => {
    const error = configError(() =>
      compileHistoryRules([
        { id: 'a', kind: 'count', threshold: 1 },
        { id: 'a', kind: 'regex_count', scope: 'session_id', pattern: '(?=x)', threshold: 1 },
        { id: 'c', kind: 'sum', scope: 'session_id', threshold: 1 },
        'not a rule',
      ]),
    );
    expect(error.subject).toBe('history rules');
    expect(error.issues.map((i) => [i.path, i.message])).toEqual([
      ['$.rules[0].scope', 'is required'],
      ['$.rules[2].kind', 'is not a known kind, got "sum"'],
      ['$.rules[3]', 'must be an object, got the string "not a rule"'],
      ['$.rules[1].id', 'duplicates the id of $.rules[0]'],
      ['$.rules[1].pattern', expect.stringContaining('is not a valid RE2 regex')],
    ]);
    expect(error.issues.at(-1)!.hint).toContain('lookaround');
  });

  it('roots every issue at the path it is given', () => {
    const error = configError(() =>
      compileHistoryRules(
        [{ id: 'x', kind: 'regex_count', scope: 's', pattern: '[', threshold: 1, extra: 1 }],
        '$.history.rules',
      ),
    );
    expect(error.issues.map((i) => i.path)).toEqual([
      '$.history.rules[0].extra',
      '$.history.rules[0].pattern',
    ]);
    expect(configError(() => compileHistoryRules({})).issues).toEqual([
      { path: '$.rules', message: 'must be an array, got an object' },
    ]);
  });

  it('rejects an empty scope, filter kind or pattern and an unbounded-looking window', () => {
    const error = configError(() =>
      compileHistoryRules([
        {
          id: 'x',
          kind: 'regex_count',
          scope: '',
          pattern: '',
          threshold: 1,
          filter: { kind: '' },
          window: { last: 0, within_ms: -1 },
        },
      ]),
    );
    expect(error.issues.map((i) => i.path)).toEqual([
      '$.rules[0].scope',
      '$.rules[0].filter.kind',
      '$.rules[0].window.last',
      '$.rules[0].window.within_ms',
      '$.rules[0].pattern',
    ]);
  });
});

describe('count classification (wardwright-semantics §2.4)', () => {
  // matches newest first, threshold, recent_limit → count and status. A regex_count rule with
  // window.last = recent_limit reads exactly the original's recent window.
  it.each([
    ['T F T T', 2, 3, 2, 'triggered', [T, F, T, T]],
    ['T T T T', 3, 2, 2, 'not_triggered', [T, T, T, T]],
    ['T F T', 2, 3, 2, 'triggered', [T, F, T]],
  ] as const)(
    'count tuple %s, threshold %i, recent_limit %i → count %i, %s',
    (_label, threshold, last, count, kind, texts) => {
      const rule = compileOne({
        kind: 'regex_count',
        pattern: 'rm\\s+-rf',
        threshold,
        window: { last },
      });
      const outcome = evaluateHistoryRule(rule, newestFirstTexts(texts), { session_id: 's1' }, 100);
      expect(outcome).toMatchObject({ kind, count, threshold });
      expect(outcome.evidence.considered).toBe(Math.min(last, texts.length));
      expect(classifyCount(count, threshold)).toBe(kind);
    },
  );

  it('count helpers: triggered_count?(3,3), (2,3) and threshold_triggered (2,2) (1,2) (3,2)', () => {
    expect(classifyCount(3, 3)).toBe('triggered');
    expect(classifyCount(2, 3)).toBe('not_triggered');
    expect([classifyCount(2, 2), classifyCount(1, 2), classifyCount(3, 2)]).toEqual([
      'triggered',
      'not_triggered',
      'triggered',
    ]);
  });

  it('differs from the original: threshold 0 and -4 are config errors, not clamped to 1', () => {
    for (const threshold of [0, -4]) {
      const error = configError(() => compileOne({ threshold }));
      expect(error.issues).toEqual([
        { path: '$.rules[0].threshold', message: `must be >= 1, got ${threshold}` },
      ]);
    }
    expect(thrown(() => classifyCount(0, 0)).code).toBe('invalid_argument');
    expect(thrown(() => classifyCount(1, -4)).message).toBe(
      'threshold must be an integer >= 1, got -4',
    );
    expect(thrown(() => classifyCount(-1, 1)).message).toBe(
      'count must be a non-negative integer, got -1',
    );
    expect(thrown(() => classifyCount(1.5, 1)).code).toBe('invalid_argument');
  });

  it('differs from the original: recent_limit 0 and -4 are config errors, not clamped to 1', () => {
    for (const last of [0, -4]) {
      const error = configError(() => compileOne({ window: { last } }));
      expect(error.issues.map((i) => i.path)).toEqual(['$.rules[0].window.last']);
    }
  });
});

describe('rule scenarios with a history store (wardwright-semantics §2.4)', () => {
  const store = compileHistoryStore({});
  const record = (state: HistoryStoreState, item: HistoryEntryInput) =>
    insertEntry(store, state, item, item.created_at_ms).state;
  const toolCall = (t: number, session: string, key = 'shell:ls'): HistoryEntryInput => ({
    created_at_ms: t,
    kind: 'tool_call',
    key,
    scope: { session_id: session },
  });

  it('H1 repeat-tool counts only the caller’s session', () => {
    const [rule] = compileHistoryRules([
      {
        id: 'repeat-tool',
        kind: 'count',
        scope: 'session_id',
        filter: { kind: 'tool_call', key: 'shell:ls' },
        threshold: 2,
      },
    ]);
    let state = record(initialHistoryStore(), toolCall(1, 'session-a'));
    state = record(state, toolCall(2, 'session-b'));
    state = record(state, toolCall(2, 'session-a', 'shell:rm'));
    const first = evaluateHistoryRule(rule!, state.entries, { session_id: 'session-a' }, 3);
    expect(first).toMatchObject({ kind: 'not_triggered', count: 1 });
    state = record(state, toolCall(3, 'session-a'));
    const second = evaluateHistoryRule(rule!, state.entries, { session_id: 'session-a' }, 3);
    expect(second).toEqual({
      rule_id: 'repeat-tool',
      kind: 'triggered',
      count: 2,
      threshold: 2,
      evidence: {
        scope_key: 'session_id',
        scope_value: 'session-a',
        window: { last: null, within_ms: null },
        considered: 2,
        matched_sequences: [4, 1],
      },
    });
  });

  it('H2 threshold 1 on the current request’s own tool call triggers', () => {
    const rule = compileOne({
      filter: { kind: 'tool_call', key: 'mcp.github:create_pull_request:planning' },
    });
    const state = record(
      initialHistoryStore(),
      toolCall(5, 's1', 'mcp.github:create_pull_request:planning'),
    );
    expect(evaluateHistoryRule(rule, state.entries, { session_id: 's1' }, 5)).toMatchObject({
      kind: 'triggered',
      count: 1,
    });
  });

  it('H3 differs from the original: threshold 0 is rejected; threshold 1 gives count 1', () => {
    expect(configError(() => compileOne({ threshold: 0 })).issues[0]!.path).toBe(
      '$.rules[0].threshold',
    );
    const state = record(initialHistoryStore(), toolCall(1, 's1'));
    expect(
      evaluateHistoryRule(compileOne({ threshold: 1 }), state.entries, { session_id: 's1' }, 1),
    ).toMatchObject({ kind: 'triggered', threshold: 1, count: 1 });
  });

  it('H4 regex rm\\s+-rf over request_text in session scope', () => {
    const rule = compileOne({
      id: 'rm-rf',
      kind: 'regex_count',
      filter: { kind: 'request_text' },
      pattern: 'rm\\s+-rf',
    });
    const say = (state: HistoryStoreState, t: number, session: string, text: string) =>
      record(state, {
        created_at_ms: t,
        kind: 'request_text',
        scope: { session_id: session },
        text,
      });
    let state = say(initialHistoryStore(), 1, 'session-a', 'user\nhello');
    expect(evaluateHistoryRule(rule, state.entries, { session_id: 'session-a' }, 1).kind).toBe(
      'not_triggered',
    );
    state = say(state, 2, 'session-a', 'user\nplease run rm -rf /tmp/demo');
    expect(evaluateHistoryRule(rule, state.entries, { session_id: 'session-a' }, 2)).toMatchObject({
      kind: 'triggered',
      count: 1,
      evidence: { considered: 2, matched_sequences: [2] },
    });
    state = say(state, 3, 'session-b', 'user\nhello');
    expect(evaluateHistoryRule(rule, state.entries, { session_id: 'session-b' }, 3)).toMatchObject({
      kind: 'not_triggered',
      count: 0,
      evidence: { considered: 1, matched_sequences: [] },
    });
  });
});

describe('windows and scope', () => {
  const entries = newestFirstTexts([T, F, T, T, F, T]); // created_at 6..1

  it('takes the newest `last` entries in scope', () => {
    const outcome = evaluateHistoryRule(
      compileOne({ window: { last: 4 } }),
      entries,
      { session_id: 's1' },
      10,
    );
    expect(outcome).toMatchObject({ count: 4, evidence: { matched_sequences: [6, 5, 4, 3] } });
  });

  it('within_ms keeps (now_ms - within_ms, now_ms]: the boundary entry has left the window', () => {
    const rule = compileOne({ window: { within_ms: 3 } });
    // now 6: created_at 4, 5, 6 are inside; 3 is exactly 3 ms old and outside.
    expect(evaluateHistoryRule(rule, entries, { session_id: 's1' }, 6).count).toBe(3);
    // now 4: entries at 5 and 6 are in the future and ignored; 2, 3, 4 are inside.
    expect(evaluateHistoryRule(rule, entries, { session_id: 's1' }, 4).evidence).toMatchObject({
      considered: 3,
      matched_sequences: [4, 3, 2],
      window: { last: null, within_ms: 3 },
    });
  });

  it('lists at most 16 matched sequences, newest first', () => {
    const many = newestFirstTexts(Array.from({ length: 40 }, () => T));
    const outcome = evaluateHistoryRule(compileOne({}), many, { session_id: 's1' }, 100);
    expect(outcome.count).toBe(40);
    expect(outcome.evidence.matched_sequences).toEqual(
      Array.from({ length: 16 }, (_, i) => 40 - i),
    );
  });

  it.each([
    ['missing', {}],
    ['blank', { session_id: '  ' }],
    ['undefined', { session_id: undefined }],
  ])(
    'differs from the original: a %s caller scope value sees no history (never other sessions)',
    (_label, caller) => {
      const rule = compileOne({ threshold: 1, window: { last: 3 } });
      expect(evaluateHistoryRule(rule, entries, caller, 10)).toEqual({
        rule_id: 'r',
        kind: 'not_triggered',
        count: 0,
        threshold: 1,
        evidence: {
          scope_key: 'session_id',
          scope_value: null,
          reason: 'missing_scope',
          window: { last: 3, within_ms: null },
          considered: 0,
          matched_sequences: [],
        },
      });
    },
  );

  it('treats inherited names as missing scope values, not as matches', () => {
    const rule = compileOne({ scope: 'constructor' });
    expect(evaluateHistoryRule(rule, entries, {}, 10).evidence.reason).toBe('missing_scope');
  });

  it('evaluates every rule in declaration order', () => {
    const rules = compileHistoryRules([
      { id: 'z', kind: 'count', scope: 'session_id', threshold: 7 },
      { id: 'a', kind: 'regex_count', scope: 'session_id', pattern: 'rm', threshold: 4 },
    ]);
    const outcomes = evaluateHistoryRules(rules, entries, { session_id: 's1' }, 10);
    expect(outcomes.map((o) => [o.rule_id, o.kind, o.count])).toEqual([
      ['z', 'not_triggered', 6],
      ['a', 'triggered', 4],
    ]);
  });

  it('refuses a rule kind it does not know', () => {
    const alien = { ...compileOne({}), kind: 'sum' } as unknown as CompiledHistoryRule;
    expect(() => evaluateHistoryRule(alien, entries, { session_id: 's1' }, 10)).toThrow(
      'unhandled history rule',
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

interface Generated {
  created_at_ms: number;
  kind: string;
  key: string;
  session: string | null;
  text: string;
}

const arbitraryGenerated: fc.Arbitrary<Generated> = fc.record({
  created_at_ms: fc.integer({ min: 0, max: 60 }),
  kind: fc.constantFrom('request_text', 'tool_call'),
  key: fc.constantFrom('a', 'b'),
  session: fc.constantFrom('s1', 's2', 's3', null),
  text: fc.constantFrom(T, F, 'rm   -rf x', ''),
});

/** Entries with sequences in generation order, sorted as a store holds them. */
function toEntries(list: readonly Generated[]): HistoryEntry[] {
  return list
    .map((g, i) => ({
      sequence: i + 1,
      created_at_ms: g.created_at_ms,
      kind: g.kind,
      key: g.key,
      scope: g.session === null ? { run_id: 'r' } : { session_id: g.session, run_id: 'r' },
      text: g.text,
    }))
    .sort(compareEntries);
}

const arbitraryRule: fc.Arbitrary<HistoryRule> = fc
  .record(
    {
      kind: fc.constantFrom('count' as const, 'regex_count' as const),
      filter: fc.record(
        { kind: fc.constantFrom('request_text', 'tool_call'), key: fc.constantFrom('a', 'b') },
        { requiredKeys: [] },
      ),
      threshold: fc.integer({ min: 1, max: 6 }),
      window: fc.record(
        { last: fc.integer({ min: 1, max: 12 }), within_ms: fc.integer({ min: 1, max: 70 }) },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ['kind', 'threshold'] },
  )
  .map(
    (r) =>
      ({
        id: 'p',
        scope: 'session_id',
        ...r,
        ...(r.kind === 'regex_count' ? { pattern: 'rm\\s+-rf' } : {}),
      }) as HistoryRule,
  );

const compile = (rule: HistoryRule) => compileHistoryRules([rule])[0]!;
const now = fc.integer({ min: 0, max: 70 });
const caller = { session_id: 's1' };

/** The specification, the slow way: filter, sort newest first, cut to `last`, count. */
function naiveOutcome(rule: HistoryRule, entries: readonly HistoryEntry[], now_ms: number) {
  const value = caller.session_id;
  const windowed = entries
    .filter(
      (e) =>
        e.scope.session_id === value &&
        (rule.filter?.kind === undefined || e.kind === rule.filter.kind) &&
        (rule.filter?.key === undefined || e.key === rule.filter.key) &&
        e.created_at_ms <= now_ms &&
        (rule.window?.within_ms === undefined || now_ms - e.created_at_ms < rule.window.within_ms),
    )
    .sort((a, b) => compareEntries(b, a))
    .slice(0, rule.window?.last ?? Number.POSITIVE_INFINITY);
  const counted = windowed.filter((e) => rule.kind === 'count' || /rm\s+-rf/.test(e.text));
  return {
    rule_id: rule.id,
    kind: counted.length >= rule.threshold ? 'triggered' : 'not_triggered',
    count: counted.length,
    threshold: rule.threshold,
    evidence: {
      scope_key: 'session_id',
      scope_value: value,
      window: { last: rule.window?.last ?? null, within_ms: rule.window?.within_ms ?? null },
      considered: windowed.length,
      matched_sequences: counted.slice(0, 16).map((e) => e.sequence),
    },
  };
}

describe('history rule properties', () => {
  it('equals the naive filter-sort-slice evaluation', () => {
    fc.assert(
      fc.property(
        arbitraryRule,
        fc.array(arbitraryGenerated, { maxLength: 50 }),
        now,
        (rule, list, now_ms) => {
          const entries = toEntries(list);
          expect(evaluateHistoryRule(compile(rule), entries, caller, now_ms)).toEqual(
            naiveOutcome(rule, entries, now_ms),
          );
        },
      ),
    );
  });

  it('count never decreases as the window grows (last, within_ms, or none)', () => {
    fc.assert(
      fc.property(
        arbitraryRule,
        fc.array(arbitraryGenerated, { maxLength: 40 }),
        now,
        fc.integer({ min: 0, max: 10 }),
        (rule, list, now_ms, grow) => {
          const entries = toEntries(list);
          const count = (window: HistoryRule['window']) => {
            const { window: _, ...rest } = rule;
            const resized = (window === undefined ? rest : { ...rest, window }) as HistoryRule;
            return evaluateHistoryRule(compile(resized), entries, caller, now_ms).count;
          };
          const base = count(rule.window);
          const w = rule.window ?? {};
          const wider = {
            ...(w.last === undefined ? {} : { last: w.last + grow }),
            ...(w.within_ms === undefined ? {} : { within_ms: w.within_ms + grow }),
          };
          expect(count(wider)).toBeGreaterThanOrEqual(base);
          expect(count(undefined)).toBeGreaterThanOrEqual(base);
        },
      ),
    );
  });

  it('a missing scope value never triggers', () => {
    fc.assert(
      fc.property(
        arbitraryRule,
        fc.array(arbitraryGenerated, { maxLength: 30 }),
        now,
        (rule, list, now_ms) => {
          const outcome = evaluateHistoryRule(
            compile(rule),
            toEntries(list),
            { run_id: 'r' },
            now_ms,
          );
          expect(outcome.kind).toBe('not_triggered');
          expect(outcome.count).toBe(0);
        },
      ),
    );
  });

  it('entries of other scope values and entries after now_ms never change the outcome', () => {
    fc.assert(
      fc.property(
        arbitraryRule,
        fc.array(fc.tuple(arbitraryGenerated, fc.constantFrom('own', 'other', 'future')), {
          maxLength: 40,
        }),
        now,
        (rule, tagged, now_ms) => {
          const compiled = compile(rule);
          const all = tagged.map(([g, tag]) =>
            tag === 'own'
              ? { ...g, session: 's1' }
              : tag === 'other'
                ? { ...g, session: g.session === 's1' ? 's2' : g.session }
                : { ...g, created_at_ms: now_ms + 1 + g.created_at_ms },
          );
          const entries = toEntries(all);
          const own = entries.filter(
            (e) => e.scope.session_id === 's1' && e.created_at_ms <= now_ms,
          );
          const full = evaluateHistoryRule(compiled, entries, caller, now_ms);
          expect(evaluateHistoryRule(compiled, own, caller, now_ms)).toEqual(full);
          expect(schemaIssues(HistoryRuleOutcomeSchema, full)).toEqual([]);
        },
      ),
    );
  });

  it('without a window, a count rule agrees with countHistory on the store', () => {
    fc.assert(
      fc.property(
        fc.array(arbitraryGenerated, { maxLength: 30 }),
        fc.record(
          { kind: fc.constantFrom('request_text', 'tool_call'), key: fc.constantFrom('a', 'b') },
          { requiredKeys: [] },
        ),
        (list, filter) => {
          const store = compileHistoryStore({ max_entries_per_scope: 5 });
          let state = initialHistoryStore();
          for (const g of list) {
            const scope = g.session === null ? {} : { session_id: g.session };
            state = insertEntry(store, state, { ...g, scope }, 60).state;
          }
          const rule = compileOne({ filter, threshold: 3 });
          const outcome: HistoryRuleOutcome = evaluateHistoryRule(rule, state.entries, caller, 60);
          expect(outcome.count).toBe(countHistory(state, { ...filter, scope: caller }));
          expect(outcome.kind).toBe(classifyCount(outcome.count, 3));
        },
      ),
    );
  });

  it('never mutates its inputs and is deterministic', () => {
    fc.assert(
      fc.property(
        arbitraryRule,
        fc.array(arbitraryGenerated, { maxLength: 30 }),
        now,
        (rule, list, now_ms) => {
          const entries = toEntries(list);
          const snapshot = structuredClone(entries);
          const ruleSnapshot = structuredClone(rule);
          Object.freeze(entries);
          for (const e of entries) Object.freeze(Object.freeze(e).scope);
          const compiled = compileHistoryRules([rule]);
          const once = evaluateHistoryRules(compiled, entries, caller, now_ms);
          expect(evaluateHistoryRules(compiled, entries, caller, now_ms)).toEqual(once);
          expect(entries).toEqual(snapshot);
          expect(rule).toEqual(ruleSnapshot);
        },
      ),
    );
  });

  it('every outcome, its evidence and its kind match their schemas, for any caller', () => {
    const callers = fc.constantFrom<Record<string, string | undefined>>(
      caller,
      { session_id: 's2' },
      { session_id: ' ' },
      { session_id: undefined },
      { run_id: 'r' },
    );
    fc.assert(
      fc.property(
        fc.array(arbitraryRule, { minLength: 1, maxLength: 3 }),
        fc.array(arbitraryGenerated, { maxLength: 50 }),
        callers,
        now,
        (rules, list, callerScope, now_ms) => {
          const compiled = compileHistoryRules(rules.map((r, i) => ({ ...r, id: `r${i}` })));
          for (const outcome of evaluateHistoryRules(
            compiled,
            toEntries(list),
            callerScope,
            now_ms,
          )) {
            expect(schemaIssues(HistoryRuleOutcomeSchema, outcome)).toEqual([]);
            expect(schemaIssues(HistoryRuleEvidenceSchema, outcome.evidence)).toEqual([]);
            expect(schemaIssues(HistoryRuleOutcomeKindSchema, outcome.kind)).toEqual([]);
            const classified = classifyCount(outcome.count, outcome.threshold);
            expect(schemaIssues(HistoryRuleOutcomeKindSchema, classified)).toEqual([]);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the outcome schema rejects what the evaluator never returns', () => {
    const outcome = evaluateHistoryRule(compileOne({ threshold: 1 }), [], {}, 0);
    expect(outcome.evidence.reason).toBe('missing_scope');
    expect(schemaIssues(HistoryRuleOutcomeSchema, outcome)).toEqual([]);
    expect(schemaIssues(HistoryRuleOutcomeSchema, { ...outcome, extra: 1 })).not.toEqual([]);
    expect(schemaIssues(HistoryRuleOutcomeSchema, { ...outcome, kind: 'maybe' })).not.toEqual([]);
    const evidence = outcome.evidence;
    expect(schemaIssues(HistoryRuleEvidenceSchema, { ...evidence, reason: 'other' })).not.toEqual(
      [],
    );
    expect(
      schemaIssues(HistoryRuleEvidenceSchema, {
        ...evidence,
        matched_sequences: Array.from({ length: 17 }, (_, i) => i + 1),
      }),
    ).not.toEqual([]);
    expect(
      schemaIssues(HistoryRuleEvidenceSchema, {
        ...evidence,
        window: { last: 0, within_ms: null },
      }),
    ).not.toEqual([]);
  });
});
