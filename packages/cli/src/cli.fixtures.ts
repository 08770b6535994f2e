import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from './main.ts';
import type { Io } from './output.ts';

/** Shared by the CLI tests: temp files, the two ways to run the CLI, and sample artifacts. */

export const BUILT_CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the built CLI as a child process, with the color variables cleared unless given. */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Run {
  if (!existsSync(BUILT_CLI)) {
    throw new Error(`${BUILT_CLI} is missing: run \`npm run build -w @wardwright/cli\` first`);
  }
  const { NO_COLOR: _n, FORCE_COLOR: _f, ...inherited } = process.env;
  const result = spawnSync(process.execPath, [BUILT_CLI, ...args], {
    encoding: 'utf8',
    env: { ...inherited, ...env },
  });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** A fake terminal whose output the test reads as it grows (`captured.stdout`). */
export function captureIo(options: { tty?: boolean; env?: Record<string, string> } = {}): {
  io: Io;
  captured: { stdout: string; stderr: string };
} {
  const captured = { stdout: '', stderr: '' };
  const io: Io = {
    out: (text) => {
      captured.stdout += text;
    },
    err: (text) => {
      captured.stderr += text;
    },
    stdoutIsTTY: options.tty === true,
    stderrIsTTY: options.tty === true,
    env: options.env ?? {},
  };
  return { io, captured };
}

/** Run `main` in this process (for coverage), with a fake terminal. */
export async function runMain(
  args: readonly string[],
  options: { tty?: boolean; env?: Record<string, string> } = {},
): Promise<Run> {
  const { io, captured } = captureIo(options);
  const code = await main(args, io);
  return { code, ...captured };
}

export class TempDir {
  private constructor(readonly path: string) {}

  static async create(): Promise<TempDir> {
    return new TempDir(await mkdtemp(join(tmpdir(), 'wardwright-cli-')));
  }

  /** Write `value` as JSON (or a string as is) to `name` under the dir; returns its path. */
  async write(name: string, value: unknown): Promise<string> {
    const path = join(this.path, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(
      path,
      typeof value === 'string' ? value : `${JSON.stringify(value, null, 2)}\n`,
    );
    return path;
  }

  file(name: string): string {
    return join(this.path, name);
  }

  async remove(): Promise<void> {
    await rm(this.path, { recursive: true, force: true });
  }
}

export const request = (content: string, extra: Record<string, unknown> = {}) => ({
  messages: [{ role: 'user', content }],
  ...extra,
});

/** A small valid artifact: two targets, one routing rule, one stream rule. */
export function goodArtifact(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schema: 'wardwright.artifact.v1',
    model: { id: 'coder', version: '1.2.0' },
    targets: [
      { model: 'small', context_window: 1000 },
      { model: 'large', context_window: 100_000 },
    ],
    request_rules: [
      {
        kind: 'match',
        id: 'big-job',
        contains: 'refactor',
        actions: [{ action: 'switch_model', target_model: 'large' }],
      },
    ],
    stream_rules: [
      {
        id: 'mask-keys',
        action: 'rewrite_window',
        regex: 'sk-[a-z]{4}',
        replacement: 'sk-****',
        horizon_bytes: 16,
      },
    ],
    ...overrides,
  };
}

/**
 * An artifact using every section the trace shows: gated rules and a state machine (with an
 * unreachable state), history, tools, a script, alerts, route conflicts, stream retries.
 */
export function richArtifact(): Record<string, unknown> {
  return goodArtifact({
    state_machines: [
      {
        id: 'review',
        initial: 'draft',
        states: { draft: {}, pending: {}, done: { terminal: true }, orphan: {} },
        transitions: [
          { from: 'draft', event: 'submit', to: 'pending', rule_id: 't-submit', max_taken: 1 },
          { from: 'pending', event: 'finish', to: 'done', rule_id: 't-finish' },
          { from: 'orphan', event: 'finish', to: 'done', rule_id: 't-orphan' },
        ],
      },
    ],
    request_rules: [
      {
        kind: 'match',
        id: 'go-large',
        contains: 'big',
        actions: [{ action: 'switch_model', target_model: 'large', allow_fallback: true }],
      },
      {
        kind: 'match',
        id: 'go-small',
        contains: 'big',
        actions: [{ action: 'switch_model', target_model: 'small' }],
      },
      {
        kind: 'match',
        id: 'only-small',
        contains: 'narrow',
        actions: [{ action: 'restrict_routes', allowed_targets: ['small'] }],
      },
      {
        kind: 'match',
        id: 'only-large',
        contains: 'narrow',
        actions: [{ action: 'restrict_routes', allowed_targets: ['large'] }],
      },
      {
        kind: 'match',
        id: 'remind',
        regex: 'rem(ind)?',
        actions: [
          { action: 'inject_reminder', reminder: `be kind ${'and patient '.repeat(12)}` },
          { action: 'alert', severity: 'warning', message: 'reminded' },
          { action: 'annotate', message: 'noted' },
        ],
      },
      {
        kind: 'history',
        id: 'loop',
        scope: 'session_id',
        threshold: 2,
        actions: [{ action: 'alert', idempotency_key: 'loop' }],
      },
      {
        kind: 'tool',
        id: 'no-shell',
        tool: { names: ['shell.exec'] },
        actions: [{ action: 'block', reason: 'no shell', message: 'shell is off' }],
      },
      {
        kind: 'match',
        id: 'submit',
        contains: 'submit',
        when: { state: { machine: 'review', in: ['draft'] } },
        actions: [{ action: 'transition_state', machine_id: 'review', event: 'submit' }],
      },
      {
        kind: 'match',
        id: 'finish',
        contains: 'finish',
        actions: [{ action: 'transition_state', machine_id: 'review', event: 'finish' }],
      },
      { kind: 'script', id: 'scripted', script: 'policy', on_failure: 'fail_open' },
    ],
    scripts: {
      policy: {
        language: 'javascript',
        source:
          'function decide(input) { if (JSON.stringify(input).includes("boom")) throw new Error("boom"); return { actions: [] }; }',
      },
    },
    stream_rules: [
      {
        id: 'no-old',
        action: 'retry_with_reminder',
        contains: 'OLD',
        reminder: 'use NEW',
        max_retries: 1,
        horizon_bytes: 16,
      },
      {
        id: 'mask-keys',
        action: 'rewrite_window',
        regex: 'sk-[a-z]{4}',
        replacement: 'sk-****',
        horizon_bytes: 16,
      },
      { id: 'no-bad', action: 'block', contains: 'BAD', message: 'bad word', horizon_bytes: 16 },
    ],
  });
}

/** Structured output with one schema and a semantic rule; two attempts at most. */
export function guardArtifact(onExhausted: 'block' | 'allow_last' = 'block') {
  return goodArtifact({
    request_rules: [],
    stream_rules: [],
    structured_output: {
      schemas: [
        {
          id: 'answer',
          schema: { type: 'object', required: ['a'], properties: { a: { type: 'number' } } },
        },
      ],
      semantic_rules: [{ id: 'a-small', kind: 'json_path_number', path: '/a', lte: 10 }],
      guard_loop: { max_attempts: 2, on_exhausted: onExhausted },
    },
  });
}
