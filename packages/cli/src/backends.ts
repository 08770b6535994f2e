import { type CompileOptions, type Plan, trustedBackend } from '@wardwright/core';
import type { Io } from './output.ts';

/**
 * Which sandbox backends scripts get. Today only the in-process trusted backend exists; the
 * real sandboxes arrive later and are chosen here (by flag, by script language), nowhere else.
 */
export function backendsFor(): NonNullable<CompileOptions['backends']> {
  return { trusted: trustedBackend() };
}

const TRUSTED_NOTE = 'note: scripts run in-process with the trusted backend (not a sandbox)\n';

/** Says once per run, on stderr, that scripts are not sandboxed — only when some plan has any. */
export class ScriptNote {
  #said = false;

  constructor(private readonly io: Io) {}

  afterLoading(plans: Iterable<Plan>): void {
    if (this.#said) return;
    for (const plan of plans) {
      if (plan.scripts.size > 0) {
        this.io.err(TRUSTED_NOTE);
        this.#said = true;
        return;
      }
    }
  }
}
