import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/config-error.ts';
import type { SandboxBackend } from '../sandbox/contract.ts';
import { trustedBackend } from '../sandbox/trusted-backend.ts';
import { baseArtifact, planOf } from './engine.fixtures.ts';
import { compileArtifact } from './plan.ts';

async function issuesOf(artifact: unknown, options = {}) {
  try {
    await compileArtifact(artifact, options);
  } catch (error) {
    if (ConfigError.isInstance(error)) return error.issues;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('compileArtifact: validation', () => {
  it('projects tool-call rules into their own phase, with their effects', async () => {
    const plan = await planOf({
      tool_calls: {
        validate_arguments: {},
        rules: [
          {
            id: 'no-rm',
            tool: { names: ['shell.exec'] },
            arguments: [{ pointer: '/command', contains: 'rm' }],
            actions: [
              { action: 'retry_with_reminder', reminder: 'no rm' },
              { action: 'annotate', message: 'rm' },
            ],
          },
          { id: 'drop-x', tool: { names: ['x'] }, actions: [{ action: 'drop_call' }] },
        ],
      },
    });
    const p = plan.projection;
    expect(p.phases.find((x) => x.phase === 'response.tool_calls')?.rule_ids).toEqual([
      'tool-arguments',
      'no-rm',
      'drop-x',
    ]);
    expect(
      p.effects
        .filter((e) => e.source === 'tool_call_rule')
        .map((e) => [e.rule_id, e.kind, e.effects]),
    ).toEqual([
      ['tool-arguments', 'validate_arguments', ['terminal', 'retry']],
      ['no-rm', 'retry_with_reminder+annotate', ['terminal', 'retry', 'annotate']],
      ['drop-x', 'drop_call', ['rewrite']],
    ]);
  });

  it('checks tool_calls: matchers, machine references and rule ids across sections', async () => {
    const issues = await issuesOf(
      baseArtifact({
        request_rules: [
          { kind: 'match', id: 'dup', contains: 'x', actions: [{ action: 'block' }] },
        ],
        tool_calls: {
          rules: [
            {
              id: 'dup',
              arguments: [{ pointer: '/command', regex: '(?=rm)' }],
              actions: [{ action: 'block' }],
            },
            {
              id: 'deploy',
              tool: { names: ['deploy'] },
              require: { state: { machine: 'review', in: ['approved'] } },
              actions: [{ action: 'drop_call' }],
            },
          ],
        },
      }),
    );
    expect(issues.map((i) => [i.path, i.message])).toEqual([
      ['$.tool_calls.rules[0].arguments[0].regex', expect.stringMatching(/not a valid RE2 regex/)],
      ['$.tool_calls.rules[0].id', 'repeats the rule id "dup" of $.request_rules[0].id'],
    ]);
    const missing = await issuesOf(
      baseArtifact({
        tool_calls: {
          rules: [
            {
              id: 'deploy',
              require: { state: { machine: 'review', in: ['approved'] } },
              actions: [{ action: 'block' }],
            },
          ],
        },
      }),
    );
    expect(missing.map((i) => [i.path, i.message])).toEqual([
      [
        '$.tool_calls.rules[0].require.state.machine',
        'names the machine "review", which state_machines does not define',
      ],
    ]);
  });

  it('reports three shape mistakes at once, each with its path', async () => {
    const issues = await issuesOf(
      baseArtifact({
        model: { id: 'coder', version: 1 },
        request_rules: [{ kind: 'match', id: 'a', contians: 'x', actions: [{ action: 'block' }] }],
        stream_rules: [{ id: 's', action: 'explode', contains: 'x' }],
      }),
    );
    const paths = issues.map((i) => i.path);
    expect(paths).toContain('$.model.version');
    expect(paths).toContain('$.request_rules[0].contians');
    expect(paths).toContain('$.stream_rules[0].action');
    const typo = issues.find((i) => i.path === '$.request_rules[0].contians')!;
    expect(typo.hint).toBe('did you mean `contains`?');
  });

  it('checks meaning in every section whose shape is right, beside the shape issues', async () => {
    const issues = await issuesOf(
      baseArtifact({
        request_rules: [
          {
            kind: 'match',
            id: 'a',
            contains: 'x',
            case_sensitive: 'yes',
            actions: [{ action: 'annotate' }],
          },
          {
            kind: 'match',
            id: 'b',
            contains: 'y',
            actions: [{ action: 'switch_model', target_model: 'huge' }],
          },
          { kind: 'match', id: 'c', contians: 'z', actions: [{ action: 'block' }] },
        ],
        stream_rules: [{ id: 's', action: 'block', regex: '(?=x)' }],
      }),
    );
    expect(issues.map((i) => i.path)).toEqual([
      '$.request_rules[0].case_sensitive',
      '$.request_rules[2]',
      '$.request_rules[2].contians',
      '$.stream_rules[0].regex',
      '$.request_rules[1].actions[0].target_model',
    ]);
  });

  it('does not check references into a section that is itself malformed', async () => {
    const issues = await issuesOf(
      baseArtifact({
        targets: [{ model: 'small', context_window: 'big' }],
        request_rules: [
          {
            kind: 'match',
            id: 'b',
            contains: 'y',
            actions: [{ action: 'switch_model', target_model: 'huge' }],
          },
        ],
      }),
    );
    expect(issues.map((i) => i.path)).toEqual(['$.targets[0].context_window']);
    await expect(compileArtifact([])).rejects.toThrow(/must be an object/);
  });

  it('reports unknown keys at the top level with the nearest known key', async () => {
    const issues = await issuesOf(baseArtifact({ request_rule: [] }));
    expect(issues).toEqual([
      expect.objectContaining({
        path: '$.request_rule',
        message: 'is not a known key',
        hint: 'did you mean `request_rules`?',
      }),
    ]);
  });

  it('checks references between sections: targets, machines, events, scripts, states', async () => {
    const issues = await issuesOf(
      baseArtifact({
        state_machines: [
          {
            id: 'review',
            initial: 'draft',
            states: { draft: {}, done: { terminal: true } },
            transitions: [{ from: 'draft', event: 'approve', to: 'done', rule_id: 'approve' }],
          },
        ],
        request_rules: [
          {
            kind: 'match',
            id: 'a',
            contains: 'x',
            actions: [{ action: 'switch_model', target_model: 'larg' }],
          },
          {
            kind: 'match',
            id: 'b',
            contains: 'y',
            actions: [{ action: 'restrict_routes', allowed_targets: ['small', 'tiny'] }],
          },
          {
            kind: 'match',
            id: 'c',
            contains: 'z',
            actions: [{ action: 'transition_state', machine_id: 'reviw', event: 'approve' }],
          },
          {
            kind: 'match',
            id: 'd',
            contains: 'z',
            actions: [{ action: 'transition_state', machine_id: 'review', event: 'aprove' }],
          },
          {
            kind: 'match',
            id: 'e',
            contains: 'z',
            when: { state: { machine: 'review', in: ['drafts'] } },
            actions: [{ action: 'annotate' }],
          },
          { kind: 'script', id: 'f', script: 'polcy' },
          { kind: 'match', id: 'a', contains: 'dup', actions: [{ action: 'annotate' }] },
        ],
        scripts: {
          policy: {
            language: 'javascript',
            source: 'function decide() { return { actions: [] }; }',
          },
        },
      }),
      { backends: { trusted: trustedBackend() } },
    );
    expect(issues.map((i) => [i.path, i.hint])).toEqual([
      ['$.request_rules[0].actions[0].target_model', 'did you mean `large`?'],
      ['$.request_rules[1].actions[0].allowed_targets[1]', undefined],
      ['$.request_rules[2].actions[0].machine_id', 'did you mean `review`?'],
      ['$.request_rules[3].actions[0].event', 'did you mean `approve`?'],
      ['$.request_rules[4].when.state.in[0]', 'did you mean `draft`?'],
      ['$.request_rules[5].script', 'did you mean `policy`?'],
      ['$.request_rules[6].id', undefined],
    ]);
  });

  it('re-roots the issues of each core under the artifact path', async () => {
    const issues = await issuesOf(
      baseArtifact({
        targets: [
          { model: 'small', context_window: 64 },
          { model: 'small', context_window: 128 },
        ],
        routing: { fallback_model: 'nope' },
        stream_rules: [{ id: 's', action: 'block', regex: '(?=x)' }],
        request_rules: [
          {
            kind: 'history',
            id: 'h',
            scope: 'session_id',
            threshold: 2,
            pattern: '(a',
            actions: [{ action: 'annotate' }],
          },
          { kind: 'match', id: 'm', regex: 'a\\1', actions: [{ action: 'annotate' }] },
        ],
        alerts: { queue: { retry: { base_delay_ms: 5000, max_delay_ms: 10 } } },
        structured_output: { schemas: [{ id: 'x', schema: { type: 'nonsense' } }] },
      }),
    );
    expect(issues.map((i) => i.path)).toEqual([
      '$.targets[1].model',
      '$.routing.fallback_model',
      '$.stream_rules[0].regex',
      '$.structured_output.schemas[0].schema',
      '$.alerts.queue.retry.max_delay_ms',
      '$.request_rules[0].pattern',
      '$.request_rules[1].regex',
    ]);
  });

  it('needs a backend for scripts, and names a missing one', async () => {
    const artifact = baseArtifact({
      request_rules: [{ kind: 'script', id: 's', script: 'p' }],
      scripts: { p: { language: 'javascript', source: 'function decide() {}' } },
    });
    expect(await issuesOf(artifact)).toEqual([
      expect.objectContaining({
        path: '$.scripts.p.language',
        message: 'has no sandbox backend for javascript',
      }),
    ]);
    const named = baseArtifact({
      request_rules: [{ kind: 'script', id: 's', script: 'p' }],
      scripts: {
        p: { language: 'javascript', source: 'function decide() {}', backend: 'quickjs' },
      },
    });
    expect((await issuesOf(named, { backends: { trusted: trustedBackend() } }))[0]).toMatchObject({
      path: '$.scripts.p.backend',
      expected: 'one of `trusted`',
    });
  });

  it('reports a script that does not compile, and an entry the script lacks', async () => {
    const broken = baseArtifact({
      request_rules: [{ kind: 'script', id: 's', script: 'p' }],
      scripts: { p: { language: 'javascript', source: 'function decide( {' } },
    });
    const [issue] = await issuesOf(broken, { backends: { trusted: trustedBackend() } });
    expect(issue?.path).toBe('$.scripts.p.source');
    expect(issue?.message).toMatch(/does not load \(compile_error\): SyntaxError/);

    const missing = baseArtifact({
      request_rules: [{ kind: 'script', id: 's', script: 'p', entry: 'decid' }],
      scripts: {
        p: { language: 'javascript', source: 'function decide() { return {actions: []}; }' },
      },
    });
    expect(await issuesOf(missing, { backends: { trusted: trustedBackend() } })).toEqual([
      expect.objectContaining({ path: '$.request_rules[0].entry', hint: 'did you mean `decide`?' }),
    ]);
  });

  it('reads script paths through readSource, and says when there is none', async () => {
    const artifact = baseArtifact({
      request_rules: [{ kind: 'script', id: 's', script: 'p' }],
      scripts: { p: { language: 'javascript', path: 'p.js' } },
    });
    expect((await issuesOf(artifact, { backends: { trusted: trustedBackend() } }))[0]?.path).toBe(
      '$.scripts.p.path',
    );
    const plan = await compileArtifact(artifact, {
      backends: { trusted: trustedBackend() },
      readSource: async (path) => {
        expect(path).toBe('p.js');
        return 'function decide() { return { actions: [] }; }';
      },
    });
    expect(plan.scripts.get('p')?.policy.entries).toEqual(['decide']);
    await plan.dispose();
  });

  it('disposes the scripts it loaded when a later issue rejects the artifact', async () => {
    let disposed = 0;
    const inner = trustedBackend();
    const counting: SandboxBackend = {
      ...inner,
      async load(source, limits) {
        const policy = await inner.load(source, limits);
        return {
          ...policy,
          entries: policy.entries,
          dispose: async () => {
            disposed++;
          },
        };
      },
    };
    const artifact = baseArtifact({
      request_rules: [{ kind: 'script', id: 's', script: 'p', entry: 'other' }],
      scripts: {
        p: { language: 'javascript', source: 'function decide() { return {actions: []}; }' },
      },
    });
    await expect(compileArtifact(artifact, { backends: { js: counting } })).rejects.toThrow(
      ConfigError,
    );
    expect(disposed).toBe(1);
  });
});

describe('compileArtifact: the plan', () => {
  it('hashes canonical JSON: key order does not matter, content does', async () => {
    const a = await planOf({ prompt_transforms: { preamble: 'Be brief.', postscript: 'Bye.' } });
    const reordered = await compileArtifact({
      prompt_transforms: { postscript: 'Bye.', preamble: 'Be brief.' },
      targets: baseArtifact().targets,
      model: { version: '1', id: 'coder' },
      schema: 'wardwright.artifact.v1',
    });
    const changed = await planOf({
      prompt_transforms: { preamble: 'Be briefer.', postscript: 'Bye.' },
    });
    expect(reordered.artifact_hash).toBe(a.artifact_hash);
    expect(changed.artifact_hash).not.toBe(a.artifact_hash);
    expect(a.artifact_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('covers script code in the hash, and never changes when the caller mutates the input', async () => {
    const source = (n: number) => `function decide() { return { actions: [], note: "${n}" }; }`;
    const artifact = baseArtifact({
      request_rules: [{ kind: 'script', id: 's', script: 'p' }],
      scripts: { p: { language: 'javascript', path: 'p.js' } },
    });
    const compile = (n: number) =>
      compileArtifact(artifact, {
        backends: { t: trustedBackend() },
        readSource: async () => source(n),
      });
    const [one, two] = await Promise.all([compile(1), compile(2)]);
    expect(one.artifact_hash).not.toBe(two.artifact_hash);
    (artifact.model as { id: string }).id = 'changed';
    expect(one.model.id).toBe('coder');
    expect(Object.isFrozen(one.artifact.model)).toBe(true);
  });

  it('projects phases, the effect matrix, machine graphs and static conflicts', async () => {
    const plan = await planOf({
      prompt_transforms: { preamble: 'Be brief.' },
      state_machines: [
        {
          id: 'review',
          initial: 'draft',
          states: { draft: {}, approved: { terminal: true }, orphan: {} },
          transitions: [{ from: 'draft', event: 'approve', to: 'approved', rule_id: 'approve' }],
        },
      ],
      request_rules: [
        {
          kind: 'match',
          id: 'big',
          contains: 'refactor',
          actions: [{ action: 'switch_model', target_model: 'large' }],
        },
        {
          kind: 'match',
          id: 'tiny',
          contains: 'hi',
          actions: [{ action: 'switch_model', target_model: 'small' }],
        },
        {
          kind: 'match',
          id: 'deny',
          contains: 'rm -rf',
          actions: [{ action: 'block' }, { action: 'alert' }],
        },
        {
          kind: 'match',
          id: 'ok',
          contains: 'lgtm',
          actions: [{ action: 'transition_state', machine_id: 'review', event: 'approve' }],
        },
      ],
      stream_rules: [
        { id: 'mask', action: 'rewrite_window', regex: 'sk-[a-z]+', horizon_bytes: 8 },
      ],
    });
    const p = plan.projection;
    expect(p.phases.map((x) => [x.phase, x.rule_ids])).toEqual([
      ['request.transform', ['preamble']],
      ['request.rules', ['big', 'tiny', 'deny', 'ok']],
      ['request.scripts', []],
      ['route.select', []],
      ['response.stream', ['mask']],
      ['response.tool_calls', []],
      ['response.guard', []],
      ['output.record', []],
    ]);
    expect(p.effects.map((e) => [e.rule_id, e.effects])).toEqual([
      ['big', ['route']],
      ['tiny', ['route']],
      ['deny', ['terminal', 'alert']],
      ['ok', ['state']],
      ['mask', ['rewrite']],
    ]);
    expect(p.state_machines[0]?.transitions[0]?.sent_by).toEqual(['ok']);
    expect(p.state_machines[0]?.findings.map((f) => f.kind)).toContain('unreachable_state');
    expect(p.conflicts.map((c) => [c.kind, c.rule_ids])).toEqual([
      ['forced_model_conflict', ['big', 'tiny']],
      ['block_shadows_route', ['deny', 'big']],
      ['block_shadows_route', ['deny', 'tiny']],
    ]);
  });

  it('with strict, state-machine findings are errors', async () => {
    const machine = {
      id: 'm',
      initial: 'a',
      states: { a: {}, b: { terminal: true }, c: {} },
      transitions: [{ from: 'a', event: 'go', to: 'b', rule_id: 'go' }],
    };
    await expect(planOf({ state_machines: [machine] })).resolves.toBeDefined();
    const issues = await issuesOf(baseArtifact({ state_machines: [machine] }), { strict: true });
    expect(issues[0]?.path).toMatch(/^\$\.state_machines\[0\]/);
  });
});
