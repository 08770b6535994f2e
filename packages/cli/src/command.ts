import type { CommandSpec, ParsedArgs } from './args.ts';
import type { ScriptNote } from './backends.ts';
import type { Io, Style } from './output.ts';

/** What every command gets: where to write, how to style it, and the once-only script note. */
export interface Context {
  readonly io: Io;
  readonly out: Style;
  readonly err: Style;
  readonly note: ScriptNote;
  /** Aborted when the process is asked to stop (SIGINT, SIGTERM): long-running commands end. */
  readonly signal?: AbortSignal;
}

export interface Command {
  readonly spec: CommandSpec;
  /** Resolves to the exit code; throws UsageError (exit 2) or a bug (exit 70). */
  run(args: ParsedArgs, context: Context): Promise<number>;
}
