import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/config-error.ts';
import { WardwrightError } from '../errors/wardwright-error.ts';
import { schemaIssues } from '../schema/validator.ts';
import {
  compileStateMachine,
  nextTransition,
  type StateMachineConfig,
  StateMachineFindingKindSchema,
  StateMachineFindingSchema,
  StateMachineRunSchema,
  StateMachineSchema,
  StateMachineStepSchema,
  simulateStateMachine,
  TransitionDecisionSchema,
} from './state-machine.ts';

/** The review workflow of the original's vectors (§6.8), with `approved` as the end state. */
const review = (over: Partial<StateMachineConfig> = {}): StateMachineConfig => ({
  id: 'review',
  initial: 'draft',
  states: { draft: {}, reviewing: {}, approved: { terminal: true } },
  transitions: [
    { from: 'draft', event: 'submit', to: 'reviewing', rule_id: 'submit-for-review' },
    { from: 'reviewing', event: 'approve', to: 'approved', rule_id: 'approve-release' },
    {
      from: 'reviewing',
      event: 'request_changes',
      to: 'draft',
      rule_id: 'request-changes',
      max_taken: 2,
    },
  ],
  ...over,
});

function issuesOf(config: unknown, strict = false) {
  try {
    compileStateMachine(config, { strict });
  } catch (error) {
    if (ConfigError.isInstance(error)) return error.issues;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

describe('state machine vectors (§6.8)', () => {
  const { machine } = compileStateMachine(review());

  it('V1 simulate [submit, approve] ends approved with two matched steps', () => {
    expect(simulateStateMachine(machine, ['submit', 'approve'])).toEqual({
      final_state: 'approved',
      steps: [
        {
          index: 0,
          kind: 'transition',
          from: 'draft',
          event: 'submit',
          to: 'reviewing',
          action: 'transition',
          rule_id: 'submit-for-review',
        },
        {
          index: 1,
          kind: 'transition',
          from: 'reviewing',
          event: 'approve',
          to: 'approved',
          action: 'transition',
          rule_id: 'approve-release',
        },
      ],
      taken: { 'submit-for-review': 1, 'approve-release': 1 },
    });
  });

  it('V2 an unmatched event is an explicit no-op step and leaves the state unchanged', () => {
    const run = simulateStateMachine(machine, ['submit', 'archive']);
    expect(run.final_state).toBe('reviewing');
    expect(run.steps[1]).toEqual({ index: 1, kind: 'no_op', state: 'reviewing', event: 'archive' });
  });

  it('V3 a valid table compiles with every row', () => {
    const { machine: compiled, findings } = compileStateMachine(review());
    expect(compiled.transitions).toHaveLength(3);
    expect(findings).toEqual([]);
  });

  it('V4 an empty transition table is rejected', () => {
    expect(issuesOf(review({ transitions: [] }))).toEqual([
      { path: '$.transitions', message: 'must have at least one transition' },
    ]);
  });

  it('V5 a blank initial state is rejected', () => {
    expect(issuesOf(review({ initial: '' }))).toEqual([{ path: '$.initial', message: 'is blank' }]);
    expect(issuesOf(review({ initial: '  ' }))).toEqual([
      { path: '$.initial', message: 'is blank' },
    ]);
  });

  it('V6 a row with an empty rule_id is rejected', () => {
    const config = review();
    config.transitions[1] = { ...config.transitions[1]!, rule_id: '' };
    expect(issuesOf(config)).toEqual([{ path: '$.transitions[1].rule_id', message: 'is blank' }]);
  });

  it('V7 a duplicate (from, event) is reported at the second row, naming the first', () => {
    const config = review();
    config.transitions.push({ from: 'draft', event: 'submit', to: 'approved', rule_id: 'again' });
    expect(issuesOf(config)).toEqual([
      {
        path: '$.transitions[3]',
        message:
          'repeats the (from, event) pair ("draft", "submit") of $.transitions[0]; selection must be unambiguous',
      },
    ]);
  });
});

describe('structural validation', () => {
  it('reports every structural issue together', () => {
    const issues = issuesOf({
      id: 'm',
      initial: 'strt',
      states: { start: {}, '': {}, done: { terminal: true } },
      transitions: [
        { from: 'start', event: 'go', to: 'dne', rule_id: 'r1', action: ' ' },
        { from: 'done', event: 'again', to: 'start', rule_id: 'r1' },
        { from: ' ', event: '', to: 'done', rule_id: 'r3' },
      ],
    });
    expect(issues).toEqual([
      { path: '$.states[""]', message: 'is a blank state name' },
      {
        path: '$.initial',
        message: 'names an unknown state "strt"',
        expected: 'one of `start`, `done`',
        hint: 'did you mean `start`?',
      },
      { path: '$.transitions[0].action', message: 'is blank' },
      {
        path: '$.transitions[0].to',
        message: 'names an unknown state "dne"',
        expected: 'one of `start`, `done`',
        hint: 'did you mean `done`?',
      },
      {
        path: '$.transitions[1].from',
        message:
          'leaves the terminal state "done", which ignores every event, so it can never be taken',
      },
      {
        path: '$.transitions[1].rule_id',
        message: 'repeats the rule_id of $.transitions[0]; a rule_id names one transition',
      },
      { path: '$.transitions[2].from', message: 'is blank' },
      { path: '$.transitions[2].event', message: 'is blank' },
    ]);
  });

  it('gives no hint when no state name is close', () => {
    expect(issuesOf(review({ initial: 'zzzzzzzz' }))).toEqual([
      {
        path: '$.initial',
        message: 'names an unknown state "zzzzzzzz"',
        expected: 'one of `draft`, `reviewing`, `approved`',
      },
    ]);
  });

  it('says what a state reference must be when no state is declared', () => {
    expect(issuesOf(review({ states: {}, transitions: [] }))).toEqual([
      {
        path: '$.initial',
        message: 'names an unknown state "draft"',
        expected: 'a key of `states`',
      },
      { path: '$.transitions', message: 'must have at least one transition' },
    ]);
  });

  it('rejects schema errors (unknown keys, a zero budget) before semantic checks', () => {
    const config = review();
    config.transitions[2] = { ...config.transitions[2]!, max_taken: 0 };
    expect(issuesOf({ ...config, scope: 'session' })).toEqual([
      expect.objectContaining({ path: '$.scope', message: 'is not a known key' }),
      { path: '$.transitions[2].max_taken', message: 'must be >= 1, got 0' },
    ]);
  });

  it('keeps a custom action label and defaults it to `transition`', () => {
    const config = review();
    config.transitions[0] = { ...config.transitions[0]!, action: 'notify_reviewer' };
    const { machine } = compileStateMachine(config);
    expect(machine.transitions.map((t) => t.action)).toEqual([
      'notify_reviewer',
      'transition',
      'transition',
    ]);
  });
});

describe('graph findings', () => {
  it('flags a loop without any budget, and passes it once one transition has a budget', () => {
    const config = review();
    const { max_taken: _, ...unbudgeted } = config.transitions[2]!;
    config.transitions[2] = unbudgeted;
    expect(compileStateMachine(config).findings).toEqual([
      {
        kind: 'unbudgeted_cycle',
        states: ['draft', 'reviewing'],
        message:
          'states "draft", "reviewing" form a cycle in which no transition has max_taken, so it can repeat forever',
      },
    ]);
    expect(compileStateMachine(review()).findings).toEqual([]);
  });

  it('flags a self-loop, and an unbudgeted cycle hidden beside a budgeted one', () => {
    const { findings } = compileStateMachine({
      id: 'm',
      initial: 'a',
      states: { a: {}, b: {}, c: {}, end: { terminal: true } },
      transitions: [
        { from: 'a', event: 'x', to: 'b', rule_id: 't1', max_taken: 3 },
        { from: 'b', event: 'x', to: 'a', rule_id: 't2' },
        { from: 'b', event: 'y', to: 'c', rule_id: 't3' },
        { from: 'c', event: 'y', to: 'b', rule_id: 't4' },
        { from: 'a', event: 'loop', to: 'a', rule_id: 't5' },
        { from: 'c', event: 'done', to: 'end', rule_id: 't6' },
      ],
    });
    expect(findings.map((f) => [f.kind, f.states])).toEqual([
      ['unbudgeted_cycle', ['a']],
      ['unbudgeted_cycle', ['b', 'c']],
    ]);
  });

  it('flags unreachable states, states with no way to finish, and sorts the findings', () => {
    const config = {
      id: 'm',
      initial: 'start',
      states: {
        zombie: {},
        start: {},
        stuck: {},
        limbo: {},
        orphan: {},
        done: { terminal: true },
      },
      transitions: [
        { from: 'start', event: 'finish', to: 'done', rule_id: 't1' },
        { from: 'start', event: 'wander', to: 'stuck', rule_id: 't2' },
        { from: 'start', event: 'drift', to: 'limbo', rule_id: 't3' },
        { from: 'limbo', event: 'drift', to: 'stuck', rule_id: 't4' },
        { from: 'orphan', event: 'go', to: 'done', rule_id: 't5' },
      ],
    };
    const { findings } = compileStateMachine(config);
    expect(findings).toEqual([
      {
        kind: 'unreachable_state',
        states: ['orphan'],
        message: 'state "orphan" cannot be reached from the initial state "start"',
      },
      {
        kind: 'unreachable_state',
        states: ['zombie'],
        message: 'state "zombie" cannot be reached from the initial state "start"',
      },
      {
        kind: 'no_terminal_path',
        states: ['limbo'],
        message: 'no terminal state can be reached from state "limbo"',
      },
      {
        kind: 'no_terminal_path',
        states: ['stuck'],
        message: 'no terminal state can be reached from state "stuck"',
      },
    ]);
    expect(issuesOf(config, true).map((i) => i.path)).toEqual([
      '$.states.orphan',
      '$.states.zombie',
      '$.states.limbo',
      '$.states.stuck',
    ]);
  });

  it('reports a machine without terminal states once, instead of every state', () => {
    const config = {
      id: 'm',
      initial: 'on',
      states: { on: {}, off: {} },
      transitions: [
        { from: 'on', event: 'toggle', to: 'off', rule_id: 't1', max_taken: 5 },
        { from: 'off', event: 'toggle', to: 'on', rule_id: 't2' },
      ],
    };
    expect(compileStateMachine(config).findings).toEqual([
      {
        kind: 'no_terminal_state',
        states: [],
        message: 'no state is terminal, so the machine can never finish',
      },
    ]);
    expect(issuesOf(config, true)).toEqual([
      { path: '$.states', message: 'no state is terminal, so the machine can never finish' },
    ]);
  });

  it('in strict mode throws a cycle at its first unbudgeted transition', () => {
    const config = review();
    config.transitions.push({ from: 'draft', event: 'tweak', to: 'draft', rule_id: 'tweak' });
    expect(issuesOf(config, true)).toEqual([
      {
        path: '$.transitions[3]',
        message:
          'states "draft" form a cycle in which no transition has max_taken, so it can repeat forever',
      },
    ]);
    expect(compileStateMachine(review(), { strict: true }).findings).toEqual([]);
  });

  it('handles a long chain without deep recursion', () => {
    const n = 20_000;
    const states: Record<string, { terminal?: boolean }> = {};
    const transitions = [];
    for (let i = 0; i < n; i++) {
      states[`s${i}`] = i === n - 1 ? { terminal: true } : {};
      if (i < n - 1)
        transitions.push({ from: `s${i}`, event: 'next', to: `s${i + 1}`, rule_id: `r${i}` });
    }
    transitions.push({ from: `s${n - 2}`, event: 'back', to: 's0', rule_id: 'back' });
    const { findings } = compileStateMachine({ id: 'chain', initial: 's0', states, transitions });
    expect(findings).toHaveLength(1);
    expect(findings[0]!.kind).toBe('unbudgeted_cycle');
    expect(findings[0]!.states).toHaveLength(n - 1);
  });
});

describe('transition selection', () => {
  const { machine } = compileStateMachine(review());

  it('takes a transition', () => {
    expect(nextTransition(machine, 'draft', 'submit')).toEqual({
      kind: 'transition',
      from: 'draft',
      event: 'submit',
      to: 'reviewing',
      action: 'transition',
      rule_id: 'submit-for-review',
    });
  });

  it('ignores every event in a terminal state', () => {
    expect(nextTransition(machine, 'approved', 'submit', {})).toEqual({
      kind: 'terminal',
      state: 'approved',
      event: 'submit',
    });
  });

  it('refuses a transition that used its budget, leaving the state unchanged', () => {
    expect(
      nextTransition(machine, 'reviewing', 'request_changes', { 'request-changes': 1 }).kind,
    ).toBe('transition');
    expect(
      nextTransition(machine, 'reviewing', 'request_changes', { 'request-changes': 2 }),
    ).toEqual({
      kind: 'budget_exhausted',
      from: 'reviewing',
      event: 'request_changes',
      to: 'draft',
      rule_id: 'request-changes',
      max_taken: 2,
    });
  });

  it('throws on a state the machine does not have', () => {
    let caught: unknown;
    try {
      nextTransition(machine, 'published', 'submit');
    } catch (error) {
      caught = error;
    }
    expect(WardwrightError.isInstance(caught)).toBe(true);
    expect((caught as WardwrightError).code).toBe('invalid_argument');
    expect((caught as Error).message).toBe('state machine "review" has no state "published"');
  });

  it('reads only own keys of the counts, so rule ids like `constructor` are safe', () => {
    const { machine: odd } = compileStateMachine({
      id: 'odd',
      initial: 'a',
      states: { a: {}, b: { terminal: true } },
      transitions: [
        { from: 'a', event: 'go', to: 'a', rule_id: 'constructor', max_taken: 1 },
        { from: 'a', event: 'end', to: 'b', rule_id: '__proto__', max_taken: 1 },
      ],
    });
    expect(nextTransition(odd, 'a', 'go', {}).kind).toBe('transition');
    const run = simulateStateMachine(odd, ['go', 'go', 'end', 'end']);
    expect(run.steps.map((s) => s.kind)).toEqual([
      'transition',
      'budget_exhausted',
      'transition',
      'terminal',
    ]);
    expect(Object.getPrototypeOf(run.taken)).toBe(Object.prototype);
    expect(Object.keys(run.taken)).toEqual(['constructor', '__proto__']);
    expect(nextTransition(odd, 'a', 'end', run.taken).kind).toBe('budget_exhausted');
  });

  it('counts budgets across a whole run', () => {
    const run = simulateStateMachine(machine, [
      'submit',
      'request_changes',
      'submit',
      'request_changes',
      'submit',
      'request_changes',
      'approve',
    ]);
    expect(run.steps.map((s) => s.kind)).toEqual([
      'transition',
      'transition',
      'transition',
      'transition',
      'transition',
      'budget_exhausted',
      'transition',
    ]);
    expect(run.final_state).toBe('approved');
    expect(run.taken).toEqual({
      'submit-for-review': 3,
      'request-changes': 2,
      'approve-release': 1,
    });
  });
});

describe('state machine properties', () => {
  const events = fc.array(fc.constantFrom('submit', 'approve', 'request_changes', 'archive'), {
    maxLength: 30,
  });

  it('one step per event, each consistent with the state before it, budgets respected', () => {
    const config = deepFreeze(review());
    const { machine } = compileStateMachine(config);
    fc.assert(
      fc.property(events, (list) => {
        const frozen = deepFreeze([...list]);
        const run = simulateStateMachine(machine, frozen);
        expect(run.steps).toHaveLength(list.length);
        let state = machine.initial;
        const counts: Record<string, number> = {};
        for (const step of run.steps) {
          expect(step).toEqual({
            ...nextTransition(machine, state, list[step.index]!, counts),
            index: step.index,
          });
          if (step.kind === 'transition') {
            expect(step.from).toBe(state);
            counts[step.rule_id] = (counts[step.rule_id] ?? 0) + 1;
            state = step.to;
          }
        }
        expect(run.final_state).toBe(state);
        expect(run.taken).toEqual(counts);
        expect(run.taken['request-changes'] ?? 0).toBeLessThanOrEqual(2);
        expect(simulateStateMachine(machine, [...list])).toEqual(run);
      }),
    );
  });

  it('compiling is deterministic and leaves the config untouched', () => {
    const config = review();
    const before = structuredClone(config);
    const a = compileStateMachine(config);
    const b = compileStateMachine(structuredClone(config));
    expect(config).toEqual(before);
    expect(a.findings).toEqual(b.findings);
    expect(a.machine.transitions).toEqual(b.machine.transitions);
  });
});

/**
 * Small machines of every shape: terminal or not, reachable or not, loops with and without
 * budgets. The initial state is never terminal, and rows that could not compile (leaving a
 * terminal state, repeating a `(from, event)` pair) are dropped.
 */
const arbitraryMachine: fc.Arbitrary<StateMachineConfig> = fc
  .record({
    count: fc.integer({ min: 1, max: 4 }),
    terminal: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
    rows: fc.array(
      fc.record({
        from: fc.nat(3),
        event: fc.constantFrom('x', 'y'),
        to: fc.nat(3),
        max_taken: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
        action: fc.option(fc.constantFrom('notify', 'escalate'), { nil: undefined }),
      }),
      { minLength: 1, maxLength: 10 },
    ),
  })
  .map(({ count, terminal, rows }) => {
    const names = ['s0', 's1', 's2', 's3'].slice(0, count);
    const isTerminal = (i: number) => i > 0 && terminal[i] === true;
    const states: StateMachineConfig['states'] = {};
    names.forEach((name, i) => {
      states[name] = isTerminal(i) ? { terminal: true } : {};
    });
    const pairs = new Set<string>();
    const transitions: StateMachineConfig['transitions'] = [];
    for (const row of rows) {
      const from = row.from % count;
      if (isTerminal(from) || pairs.has(`${from} ${row.event}`)) continue;
      pairs.add(`${from} ${row.event}`);
      transitions.push({
        from: names[from]!,
        event: row.event,
        to: names[row.to % count]!,
        rule_id: `t${transitions.length}`,
        ...(row.max_taken === undefined ? {} : { max_taken: row.max_taken }),
        ...(row.action === undefined ? {} : { action: row.action }),
      });
    }
    return { id: 'm', initial: 's0', states, transitions };
  })
  .filter((config) => config.transitions.length > 0);

describe('state machine output schemas', () => {
  it('every finding, decision, step and run of generated machines matches its schema', () => {
    fc.assert(
      fc.property(
        arbitraryMachine,
        fc.array(fc.constantFrom('x', 'y', 'z'), { maxLength: 20 }),
        (config, events) => {
          expect(schemaIssues(StateMachineSchema, config)).toEqual([]);
          const { machine, findings } = compileStateMachine(config);
          for (const finding of findings) {
            expect(schemaIssues(StateMachineFindingSchema, finding)).toEqual([]);
            expect(schemaIssues(StateMachineFindingKindSchema, finding.kind)).toEqual([]);
          }
          const run = simulateStateMachine(machine, events);
          expect(schemaIssues(StateMachineRunSchema, run)).toEqual([]);
          for (const step of run.steps) {
            expect(schemaIssues(StateMachineStepSchema, step)).toEqual([]);
          }
          for (const state of machine.states) {
            for (const event of ['x', 'y', 'z']) {
              const decision = nextTransition(machine, state, event, run.taken);
              expect(schemaIssues(TransitionDecisionSchema, decision)).toEqual([]);
            }
          }
        },
      ),
    );
  });

  it('the review workflow’s runs match the run schema, and so does every finding vector', () => {
    const { machine } = compileStateMachine(review());
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('submit', 'approve', 'request_changes', 'archive'), {
          maxLength: 30,
        }),
        (events) => {
          expect(
            schemaIssues(StateMachineRunSchema, simulateStateMachine(machine, events)),
          ).toEqual([]);
        },
      ),
    );
    const { findings } = compileStateMachine({
      id: 'm',
      initial: 'a',
      states: { a: {}, b: {}, orphan: {} },
      transitions: [
        { from: 'a', event: 'go', to: 'b', rule_id: 't1' },
        { from: 'b', event: 'go', to: 'a', rule_id: 't2' },
      ],
    });
    expect(findings.map((f) => f.kind)).toEqual([
      'no_terminal_state',
      'unreachable_state',
      'unbudgeted_cycle',
    ]);
    for (const finding of findings) {
      expect(schemaIssues(StateMachineFindingSchema, finding)).toEqual([]);
    }
  });

  it('the schemas reject what the core never returns', () => {
    const transition = {
      kind: 'transition',
      from: 'draft',
      event: 'submit',
      to: 'reviewing',
      action: 'transition',
      rule_id: 'submit-for-review',
    };
    expect(schemaIssues(TransitionDecisionSchema, transition)).toEqual([]);
    expect(schemaIssues(TransitionDecisionSchema, { ...transition, state: 'draft' })).toEqual([
      expect.objectContaining({ path: '$.state', message: 'is not a known key' }),
    ]);
    expect(schemaIssues(TransitionDecisionSchema, { ...transition, rule_id: '' })).not.toEqual([]);
    expect(
      schemaIssues(TransitionDecisionSchema, {
        kind: 'budget_exhausted',
        from: 'a',
        event: 'e',
        to: 'b',
        rule_id: 'r',
        max_taken: 0,
      }),
    ).toEqual([{ path: '$.max_taken', message: 'must be >= 1, got 0' }]);
    expect(schemaIssues(StateMachineStepSchema, transition)).toEqual([
      { path: '$.index', message: 'is required' },
    ]);
    expect(
      schemaIssues(StateMachineFindingSchema, {
        kind: 'unreachable_state',
        states: [],
        message: 'm',
      }),
    ).not.toEqual([]);
    expect(
      schemaIssues(StateMachineFindingSchema, {
        kind: 'no_terminal_state',
        states: ['a'],
        message: 'm',
      }),
    ).not.toEqual([]);
    const run = { final_state: 'a', steps: [], taken: { 'line\nbreak': 1 } };
    expect(schemaIssues(StateMachineRunSchema, run)).toEqual([]);
    expect(schemaIssues(StateMachineRunSchema, { ...run, taken: { r: 0 } })).toEqual([
      { path: '$.taken.r', message: 'must be >= 1, got 0' },
    ]);
  });
});
