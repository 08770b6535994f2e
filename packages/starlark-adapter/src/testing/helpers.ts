import type { Dialect } from '../dialect.ts';
import { type ExecLimits, Program } from '../interpreter.ts';
import { repr } from '../values/repr.ts';
import type { Value } from '../values/values.ts';

/** Test helper: run a module and return its globals. */
export function run(
  src: string,
  dialect: Partial<Dialect> = {},
  limits: ExecLimits = {},
): Map<string, Value> {
  const printed: string[] = [];
  const { module } = Program.compile(src, { filename: 't.star', dialect }).init({
    limits,
    print: (l) => printed.push(l),
  });
  const out = new Map(module.globals);
  out.set('__printed__', printed.join('\n'));
  return out;
}

/** Test helper: evaluate an expression and return its repr. */
export function ev(expr: string, dialect: Partial<Dialect> = {}): string {
  const g = run(`__x__ = (${expr})`, dialect);
  return repr(g.get('__x__')!);
}

/** Test helper: the error message (or `ok`) of running a module. */
export function err(src: string, dialect: Partial<Dialect> = {}, limits: ExecLimits = {}): string {
  try {
    run(src, dialect, limits);
    return 'ok';
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}
