import type { Plan } from '@wardwright/core';
import { loadArtifactFile, readJsonFile } from '@wardwright/core/node';
import type { ParsedArgs } from '../args.ts';
import { backendsFor } from '../backends.ts';
import type { Context } from '../command.ts';
import { describeUserError, ReportedError } from '../errors.ts';

/** Run `load`; a user error about `file` is explained on stderr and becomes a ReportedError. */
export async function orReport<T>(
  file: string,
  context: Context,
  load: () => Promise<T>,
  unnamed: string = file,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const lines = describeUserError(error, file, unnamed);
    if (lines === undefined) throw error;
    context.io.err(
      `${lines.map((line, i) => (i === 0 ? context.err.red(line) : line)).join('\n')}\n`,
    );
    throw new ReportedError(lines[0]!);
  }
}

export async function loadPlan(file: string, args: ParsedArgs, context: Context): Promise<Plan> {
  const backends = await backendsFor(args);
  const plan = await orReport(file, context, () => loadArtifactFile(file, { backends }));
  context.note.afterLoading([plan]);
  return plan;
}

export function readJson(file: string, context: Context): Promise<unknown> {
  return orReport(file, context, () => readJsonFile(file));
}
