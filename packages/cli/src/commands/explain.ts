import type { Effect, Projection } from '@wardwright/core';
import { BACKEND_OPTION } from '../backends.ts';
import type { Command } from '../command.ts';
import { EXIT_OK } from '../errors.ts';
import { type Style, shortHash, table } from '../output.ts';
import { loadPlan } from './load.ts';

const EFFECTS: readonly Effect[] = [
  'terminal',
  'route',
  'rewrite',
  'retry',
  'alert',
  'annotate',
  'state',
  'opaque',
];

const SOURCES: Record<Projection['effects'][number]['source'], string> = {
  request_rule: 'request',
  stream_rule: 'stream',
  tool_call_rule: 'tool call',
  structured_output: 'guard',
};

export const explain: Command = {
  spec: {
    name: 'explain',
    summary: 'Show what an artifact does: phases, the effect matrix, state machines, conflicts.',
    positionals: ['ARTIFACT'],
    options: {
      backend: BACKEND_OPTION,
      json: { type: 'boolean', description: 'Print the projection as JSON.' },
    },
    details: `The projection is computed from the artifact alone, before any traffic: which rules run
in which phase, what each rule can do (an "x" in the effect matrix), the state machines as
"from --event--> to" edges with their graph findings, and pairs of rules that may disagree
on one request.

Exit codes: 0 shown, 1 the artifact is invalid or cannot be read, 2 usage error.`,
  },

  async run(args, context) {
    const plan = await loadPlan(args.positionals[0]!, args, context);
    try {
      const projection = plan.projection;
      context.io.out(
        args.values.json === true
          ? `${JSON.stringify(projection, null, 2)}\n`
          : `${formatProjection(projection, context.out).join('\n')}\n`,
      );
      return EXIT_OK;
    } finally {
      await plan.dispose();
    }
  },
};

export function formatProjection(p: Projection, style: Style): string[] {
  const lines = [
    `${style.bold(`${p.model.id}@${p.model.version}`)}  ${style.dim(shortHash(p.artifact_hash))}`,
    '',
    style.bold('phases'),
  ];
  lines.push(
    ...table(
      p.phases.map((phase, i) => [
        `  ${i + 1}. ${phase.phase}`,
        (phase.rule_ids.length === 0 ? '-' : phase.rule_ids.join(', ')) +
          (phase.holds_stream === true ? '  (holds a streamed answer until it is valid)' : ''),
      ]),
      (cell, _row, column) => (column === 1 && cell.trim() === '-' ? style.dim(cell) : cell),
    ),
  );

  lines.push('', style.bold('effects'));
  if (p.effects.length === 0) {
    lines.push(style.dim('  no rules'));
  } else {
    const gated = p.effects.some((row) => row.gated_by !== undefined);
    const header = ['  rule', 'source', 'kind', ...EFFECTS, ...(gated ? ['gated by'] : [])];
    const rows = p.effects.map((row) => [
      `  ${row.rule_id}`,
      SOURCES[row.source],
      row.kind,
      ...EFFECTS.map((effect) => (row.effects.includes(effect) ? 'x' : '')),
      ...(gated ? [row.gated_by ?? ''] : []),
    ]);
    lines.push(...table([header, ...rows], (cell, row) => (row === 0 ? style.dim(cell) : cell)));
  }

  lines.push('', style.bold('state machines'));
  if (p.state_machines.length === 0) lines.push(style.dim('  none'));
  for (const machine of p.state_machines) {
    const terminal = machine.states.filter((s) => s.terminal).map((s) => s.name);
    lines.push(
      `  ${machine.id}  ${style.dim(`scope ${machine.scope}, initial ${machine.initial}, terminal ${terminal.length === 0 ? '-' : terminal.join(', ')}`)}`,
    );
    lines.push(
      ...table(
        machine.transitions.map((t) => [
          `    ${t.from} --${t.event}--> ${t.to}`,
          [
            `rule ${t.rule_id}`,
            ...(t.max_taken === null ? [] : [`at most ${t.max_taken}x`]),
            t.sent_by.length === 0 ? 'sent by no rule' : `sent by ${t.sent_by.join(', ')}`,
          ].join(', '),
        ]),
        (cell, _row, column) => (column === 1 ? style.dim(cell) : cell),
      ),
    );
    for (const finding of machine.findings) {
      lines.push(`    ${style.yellow('!')} ${finding.kind}: ${finding.message}`);
    }
  }

  lines.push('', style.bold('conflicts'));
  if (p.conflicts.length === 0) lines.push(style.dim('  none found'));
  for (const c of p.conflicts) {
    lines.push(`  ${style.yellow('!')} ${c.kind} (${c.rule_ids.join(', ')}): ${c.message}`);
  }
  return lines;
}
