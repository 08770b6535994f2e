import Type, { type Static } from 'typebox';
import { ConfigError, type ConfigIssue } from '../errors/config-error.ts';
import { WardwrightError } from '../errors/wardwright-error.ts';
import { StringEnum, TaggedUnion } from '../schema/types.ts';
import { joinPath, nearest, parseWithSchema } from '../schema/validator.ts';
import { assertNever } from '../util/assert-never.ts';
import { compareStrings } from './history-entry.ts';

/**
 * A policy state machine: exact `(state, event)` transition lookup, validated as a table
 * (structure) and as a graph (reachability, terminal paths, loops without a budget).
 */

const StateSchema = Type.Object(
  {
    terminal: Type.Optional(
      Type.Boolean({ description: 'A terminal state ignores every event. Default false.' }),
    ),
  },
  { additionalProperties: false },
);

const TransitionSchema = Type.Object(
  {
    from: Type.String({ description: 'State the transition leaves.' }),
    event: Type.String({ description: 'Event that triggers it (exact match).' }),
    to: Type.String({ description: 'State it enters.' }),
    action: Type.Optional(
      Type.String({ description: 'Label recorded in the step. Default `transition`.' }),
    ),
    rule_id: Type.String({
      description: 'Unique within the machine; names the transition in steps and budgets.',
    }),
    max_taken: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'How many times the transition may be taken; then the event is refused.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const StateMachineSchema = Type.Object(
  {
    id: Type.String({ minLength: 1 }),
    initial: Type.String({ description: 'The state a new machine starts in.' }),
    states: Type.Record(Type.String(), StateSchema, { additionalProperties: false }),
    transitions: Type.Array(TransitionSchema),
  },
  { additionalProperties: false },
);
export type StateMachineConfig = Static<typeof StateMachineSchema>;

export const DEFAULT_TRANSITION_ACTION = 'transition';

export interface CompiledTransition {
  readonly index: number;
  readonly from: string;
  readonly event: string;
  readonly to: string;
  readonly action: string;
  readonly rule_id: string;
  readonly max_taken: number | null;
}

export interface CompiledStateMachine {
  readonly id: string;
  readonly initial: string;
  /** State names in declaration order. */
  readonly states: readonly string[];
  readonly state_set: ReadonlySet<string>;
  readonly terminal_states: ReadonlySet<string>;
  readonly transitions: readonly CompiledTransition[];
  /** `from` → `event` → transition: one lookup per event, no string building. */
  readonly table: ReadonlyMap<string, ReadonlyMap<string, CompiledTransition>>;
}

export const StateMachineFindingKindSchema = StringEnum([
  'no_terminal_state',
  'unreachable_state',
  'no_terminal_path',
  'unbudgeted_cycle',
]);
export type StateMachineFindingKind = Static<typeof StateMachineFindingKindSchema>;

function findingVariant<K extends StateMachineFindingKind>(
  kind: K,
  states: { minItems: number; maxItems?: number; description: string },
) {
  return Type.Object(
    {
      kind: Type.Literal(kind),
      states: Type.Array(Type.String({ minLength: 1 }), states),
      message: Type.String({ description: 'The finding as a sentence, naming the states.' }),
    },
    { additionalProperties: false },
  );
}

/** A graph problem of a well-formed table: returned by `compileStateMachine`, thrown if strict. */
export const StateMachineFindingSchema = TaggedUnion('kind', [
  findingVariant('no_terminal_state', {
    minItems: 0,
    maxItems: 0,
    description: 'Empty: the finding is about the machine as a whole.',
  }),
  findingVariant('unreachable_state', {
    minItems: 1,
    maxItems: 1,
    description: 'The state concerned.',
  }),
  findingVariant('no_terminal_path', {
    minItems: 1,
    maxItems: 1,
    description: 'The state concerned.',
  }),
  findingVariant('unbudgeted_cycle', {
    minItems: 1,
    description: 'The states of the loop, in code-unit order.',
  }),
]);
export type StateMachineFinding = Static<typeof StateMachineFindingSchema>;

const stateName = (description: string) => Type.String({ minLength: 1, description });
const eventName = Type.String({ description: 'The event, as given.' });
const ruleId = Type.String({ minLength: 1, description: 'The transition row, by its rule_id.' });

/** The fields of each outcome; a step is the same outcome plus its position in the run. */
const outcomes = {
  transition: {
    kind: Type.Literal('transition'),
    from: stateName('The state the row leaves.'),
    event: eventName,
    to: stateName('The new state.'),
    action: Type.String({ minLength: 1, description: 'The row’s label; default `transition`.' }),
    rule_id: ruleId,
  },
  no_op: {
    kind: Type.Literal('no_op'),
    state: stateName('The current state, unchanged: no row for (state, event).'),
    event: eventName,
  },
  terminal: {
    kind: Type.Literal('terminal'),
    state: stateName('The current state, which is terminal and ignores every event.'),
    event: eventName,
  },
  budget_exhausted: {
    kind: Type.Literal('budget_exhausted'),
    from: stateName('The current state, unchanged.'),
    event: eventName,
    to: stateName('The state the row would have entered.'),
    rule_id: ruleId,
    max_taken: Type.Integer({
      minimum: 1,
      description: 'The row’s budget, already used up by earlier steps.',
    }),
  },
};

/** What one event does in one state (`nextTransition`). */
export const TransitionDecisionSchema = TaggedUnion('kind', [
  Type.Object(outcomes.transition, { additionalProperties: false }),
  Type.Object(outcomes.no_op, { additionalProperties: false }),
  Type.Object(outcomes.terminal, { additionalProperties: false }),
  Type.Object(outcomes.budget_exhausted, { additionalProperties: false }),
]);
export type TransitionDecision = Static<typeof TransitionDecisionSchema>;

const stepIndex = {
  index: Type.Integer({ minimum: 0, description: 'Position of the event in the run.' }),
};

export const StateMachineStepSchema = TaggedUnion('kind', [
  Type.Object({ ...outcomes.transition, ...stepIndex }, { additionalProperties: false }),
  Type.Object({ ...outcomes.no_op, ...stepIndex }, { additionalProperties: false }),
  Type.Object({ ...outcomes.terminal, ...stepIndex }, { additionalProperties: false }),
  Type.Object({ ...outcomes.budget_exhausted, ...stepIndex }, { additionalProperties: false }),
]);
export type StateMachineStep = Static<typeof StateMachineStepSchema>;

/** A whole run of events from the initial state (`simulateStateMachine`). */
export const StateMachineRunSchema = Type.Object(
  {
    final_state: stateName('The state after the last event.'),
    steps: Type.Array(StateMachineStepSchema, { description: 'One step per event, in order.' }),
    // Any rule id is a key: `[\s\S]` also matches ids with line breaks, which `.` would not.
    taken: Type.Record(Type.String({ pattern: '^[\\s\\S]*$' }), Type.Integer({ minimum: 1 }), {
      additionalProperties: false,
      description: 'Times each transition was taken, by rule id, in order of first use.',
    }),
  },
  { additionalProperties: false },
);
export type StateMachineRun = Static<typeof StateMachineRunSchema>;

const SUBJECT = 'state machine';

/**
 * Validate a machine and compile its lookup table. Structural problems throw one
 * `ConfigError`; graph problems are returned as findings (thrown too with `strict: true`).
 */
export function compileStateMachine(
  config: unknown,
  options: { strict?: boolean } = {},
): { machine: CompiledStateMachine; findings: StateMachineFinding[] } {
  const parsed = parseWithSchema(StateMachineSchema, config, SUBJECT);
  const issues: ConfigIssue[] = [];
  const states = Object.keys(parsed.states);
  const known = new Set(states);
  // Blank names are reported on their own; suggesting them would only add noise.
  const named = states.filter((name) => !isBlank(name));
  const terminal = new Set(states.filter((name) => parsed.states[name]?.terminal === true));

  for (const name of states) {
    if (isBlank(name)) {
      issues.push({ path: joinPath('$.states', name), message: 'is a blank state name' });
    }
  }
  if (isBlank(parsed.initial)) {
    issues.push({ path: '$.initial', message: 'is blank' });
  } else {
    checkStateName(parsed.initial, '$.initial', named, known, issues);
  }
  if (parsed.transitions.length === 0) {
    issues.push({ path: '$.transitions', message: 'must have at least one transition' });
  }

  const table = new Map<string, Map<string, CompiledTransition>>();
  const ruleIds = new Map<string, number>();
  const transitions: CompiledTransition[] = [];
  parsed.transitions.forEach((row, index) => {
    const path = joinPath('$.transitions', index);
    for (const field of ['from', 'event', 'to', 'action', 'rule_id'] as const) {
      const value = row[field];
      if (value !== undefined && isBlank(value)) {
        issues.push({ path: joinPath(path, field), message: 'is blank' });
      }
    }
    if (!isBlank(row.from)) checkStateName(row.from, joinPath(path, 'from'), named, known, issues);
    if (!isBlank(row.to)) checkStateName(row.to, joinPath(path, 'to'), named, known, issues);
    if (terminal.has(row.from)) {
      issues.push({
        path: joinPath(path, 'from'),
        message: `leaves the terminal state ${JSON.stringify(row.from)}, which ignores every event, so it can never be taken`,
      });
    }
    const firstRule = ruleIds.get(row.rule_id);
    if (firstRule !== undefined) {
      issues.push({
        path: joinPath(path, 'rule_id'),
        message: `repeats the rule_id of ${joinPath('$.transitions', firstRule)}; a rule_id names one transition`,
      });
    } else if (!isBlank(row.rule_id)) {
      ruleIds.set(row.rule_id, index);
    }
    const transition: CompiledTransition = Object.freeze({
      index,
      from: row.from,
      event: row.event,
      to: row.to,
      action: row.action ?? DEFAULT_TRANSITION_ACTION,
      rule_id: row.rule_id,
      max_taken: row.max_taken ?? null,
    });
    let byEvent = table.get(row.from);
    if (byEvent === undefined) {
      byEvent = new Map();
      table.set(row.from, byEvent);
    }
    const first = byEvent.get(row.event);
    if (first !== undefined) {
      issues.push({
        path,
        message: `repeats the (from, event) pair (${JSON.stringify(row.from)}, ${JSON.stringify(row.event)}) of ${joinPath('$.transitions', first.index)}; selection must be unambiguous`,
      });
    } else {
      byEvent.set(row.event, transition);
    }
    transitions.push(transition);
  });
  if (issues.length > 0) throw new ConfigError(SUBJECT, issues);

  const machine: CompiledStateMachine = Object.freeze({
    id: parsed.id,
    initial: parsed.initial,
    states: Object.freeze(states),
    state_set: known,
    terminal_states: terminal,
    transitions: Object.freeze(transitions),
    table,
  });
  const findings = graphFindings(machine);
  if (options.strict === true && findings.length > 0) {
    throw new ConfigError(
      SUBJECT,
      findings.map((finding) => findingIssue(finding, machine)),
    );
  }
  return { machine, findings };
}

/**
 * The step `event` causes in `state`. `taken_counts` holds how often each transition (by rule
 * id) has been taken so far; a transition at its `max_taken` is refused, state unchanged.
 */
export function nextTransition(
  machine: CompiledStateMachine,
  state: string,
  event: string,
  taken_counts: Readonly<Record<string, number>> = {},
): TransitionDecision {
  const row = machine.table.get(state)?.get(event);
  // Own keys only: a rule id such as `constructor` must not read Object.prototype.
  const count =
    row !== undefined && Object.hasOwn(taken_counts, row.rule_id)
      ? (taken_counts[row.rule_id] ?? 0)
      : 0;
  return decide(machine, state, event, row, count);
}

/** Run `events` from the initial state; returns every step, including refused ones. */
export function simulateStateMachine(
  machine: CompiledStateMachine,
  events: readonly string[],
): StateMachineRun {
  let state = machine.initial;
  const counts = new Map<string, number>();
  const steps: StateMachineStep[] = [];
  for (let index = 0; index < events.length; index++) {
    const event = events[index]!;
    const row = machine.table.get(state)?.get(event);
    const decision = decide(
      machine,
      state,
      event,
      row,
      row === undefined ? 0 : (counts.get(row.rule_id) ?? 0),
    );
    if (decision.kind === 'transition') {
      counts.set(decision.rule_id, (counts.get(decision.rule_id) ?? 0) + 1);
      state = decision.to;
    }
    steps.push({ ...decision, index });
  }
  // fromEntries defines own properties, so a rule id such as `__proto__` stays a plain key.
  return { final_state: state, steps, taken: Object.fromEntries(counts) };
}

function decide(
  machine: CompiledStateMachine,
  state: string,
  event: string,
  row: CompiledTransition | undefined,
  count: number,
): TransitionDecision {
  if (machine.terminal_states.has(state)) return { kind: 'terminal', state, event };
  if (row === undefined) {
    if (!machine.state_set.has(state)) {
      throw new WardwrightError({
        code: 'invalid_argument',
        message: `state machine ${JSON.stringify(machine.id)} has no state ${JSON.stringify(state)}`,
      });
    }
    return { kind: 'no_op', state, event };
  }
  if (row.max_taken !== null && count >= row.max_taken) {
    return {
      kind: 'budget_exhausted',
      from: row.from,
      event,
      to: row.to,
      rule_id: row.rule_id,
      max_taken: row.max_taken,
    };
  }
  return {
    kind: 'transition',
    from: row.from,
    event,
    to: row.to,
    action: row.action,
    rule_id: row.rule_id,
  };
}

function isBlank(value: string): boolean {
  return value.trim() === '';
}

function checkStateName(
  name: string,
  path: string,
  states: readonly string[],
  known: ReadonlySet<string>,
  issues: ConfigIssue[],
): void {
  if (known.has(name)) return;
  const issue: ConfigIssue = {
    path,
    message: `names an unknown state ${JSON.stringify(name)}`,
    expected:
      states.length === 0
        ? 'a key of `states`'
        : `one of ${states.map((s) => `\`${s}\``).join(', ')}`,
  };
  const near = nearest(name, states);
  if (near !== undefined) issue.hint = `did you mean \`${near}\`?`;
  issues.push(issue);
}

const KIND_ORDER: Record<StateMachineFindingKind, number> = {
  no_terminal_state: 0,
  unreachable_state: 1,
  no_terminal_path: 2,
  unbudgeted_cycle: 3,
};

function graphFindings(machine: CompiledStateMachine): StateMachineFinding[] {
  const forward = adjacency(machine, (t) => [t.from, t.to]);
  const reachable = closure([machine.initial], forward);
  const findings: StateMachineFinding[] = [];

  for (const state of machine.states) {
    if (!reachable.has(state)) {
      findings.push({
        kind: 'unreachable_state',
        states: [state],
        message: `state ${JSON.stringify(state)} cannot be reached from the initial state ${JSON.stringify(machine.initial)}`,
      });
    }
  }

  if (machine.terminal_states.size === 0) {
    findings.push({
      kind: 'no_terminal_state',
      states: [],
      message: 'no state is terminal, so the machine can never finish',
    });
  } else {
    const backward = adjacency(machine, (t) => [t.to, t.from]);
    const finishing = closure([...machine.terminal_states], backward);
    for (const state of machine.states) {
      if (reachable.has(state) && !finishing.has(state)) {
        findings.push({
          kind: 'no_terminal_path',
          states: [state],
          message: `no terminal state can be reached from state ${JSON.stringify(state)}`,
        });
      }
    }
  }

  // A loop is bounded as soon as one of its transitions has a budget, so only cycles made
  // entirely of unbudgeted transitions can run forever: the cyclic components of that subgraph.
  const unbudgeted = adjacency(machine, (t) =>
    t.max_taken === null && reachable.has(t.from) ? [t.from, t.to] : undefined,
  );
  for (const component of stronglyConnected(machine.states, unbudgeted)) {
    const only = component[0]!;
    if (component.length === 1 && !unbudgeted.get(only)?.includes(only)) continue;
    const states = component.slice().sort(compareStrings);
    findings.push({
      kind: 'unbudgeted_cycle',
      states,
      message: `states ${states.map((s) => JSON.stringify(s)).join(', ')} form a cycle in which no transition has max_taken, so it can repeat forever`,
    });
  }

  return findings.sort(
    (a, b) =>
      KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
      compareStrings(a.states[0] ?? '', b.states[0] ?? ''),
  );
}

function findingIssue(finding: StateMachineFinding, machine: CompiledStateMachine): ConfigIssue {
  switch (finding.kind) {
    case 'no_terminal_state':
      return { path: '$.states', message: finding.message };
    case 'unreachable_state':
    case 'no_terminal_path':
      return { path: joinPath('$.states', finding.states[0]!), message: finding.message };
    case 'unbudgeted_cycle': {
      const inCycle = new Set(finding.states);
      const first = machine.transitions.find(
        (t) => t.max_taken === null && inCycle.has(t.from) && inCycle.has(t.to),
      )!;
      return { path: joinPath('$.transitions', first.index), message: finding.message };
    }
    default:
      return assertNever(finding, 'state machine finding');
  }
}

function adjacency(
  machine: CompiledStateMachine,
  edge: (t: CompiledTransition) => readonly [string, string] | undefined,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const t of machine.transitions) {
    const pair = edge(t);
    if (pair === undefined) continue;
    const list = out.get(pair[0]);
    if (list === undefined) out.set(pair[0], [pair[1]]);
    else list.push(pair[1]);
  }
  return out;
}

function closure(start: readonly string[], edges: ReadonlyMap<string, readonly string[]>) {
  const seen = new Set(start);
  const stack = [...start];
  while (stack.length > 0) {
    for (const next of edges.get(stack.pop()!) ?? []) {
      if (!seen.has(next)) {
        seen.add(next);
        stack.push(next);
      }
    }
  }
  return seen;
}

/** Tarjan's algorithm, iterative so a long chain of states cannot overflow the stack. */
function stronglyConnected(
  nodes: readonly string[],
  edges: ReadonlyMap<string, readonly string[]>,
): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;

  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: { node: string; next: number }[] = [{ node: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const successors = edges.get(frame.node) ?? [];
      if (frame.next < successors.length) {
        const next = successors[frame.next++]!;
        if (!index.has(next)) {
          index.set(next, counter);
          low.set(next, counter++);
          stack.push(next);
          onStack.add(next);
          work.push({ node: next, next: 0 });
        } else if (onStack.has(next)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(next)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) {
        low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      }
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        components.push(component);
      }
    }
  }
  return components;
}
