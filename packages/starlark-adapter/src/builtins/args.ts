import { runtimeError } from '../errors.ts';
import type { Kwargs } from '../eval/function.ts';
import { typeName, type Value } from '../values/values.ts';

/**
 * Bind builtin arguments to a parameter list. `spec` names parameters; a trailing `?` marks
 * an optional one, a leading `$` a positional-only one. Missing optionals are `undefined`.
 */
export function bind(
  fname: string,
  spec: readonly string[],
  args: Value[],
  kw: Kwargs,
): (Value | undefined)[] {
  const out = new Array<Value | undefined>(spec.length);
  if (args.length > spec.length)
    throw runtimeError(
      `${fname}: got ${args.length} positional arguments, want at most ${spec.length}`,
    );
  for (let i = 0; i < args.length; i++) out[i] = args[i];
  if (kw !== null) {
    for (const [name, v] of kw) {
      const i = spec.findIndex((s) => clean(s) === name && !s.startsWith('$'));
      if (i < 0) throw runtimeError(`${fname}: unexpected keyword argument '${name}'`);
      if (out[i] !== undefined)
        throw runtimeError(`${fname}: got multiple values for parameter '${name}'`);
      out[i] = v;
    }
  }
  for (let i = 0; i < spec.length; i++) {
    const s = spec[i]!;
    if (out[i] === undefined && !s.endsWith('?'))
      throw runtimeError(`${fname}: missing argument for ${clean(s)}`);
  }
  return out;
}

function clean(s: string): string {
  return s.replace(/^\$/, '').replace(/\?$/, '');
}

export function noKw(fname: string, kw: Kwargs): void {
  if (kw !== null && kw.length > 0) throw runtimeError(`${fname}: unexpected keyword arguments`);
}

export function wantString(fname: string, what: string, v: Value | undefined): string {
  if (typeof v !== 'string')
    throw runtimeError(`${fname}: for parameter ${what}: got ${typeName(v ?? null)}, want string`);
  return v;
}

export function wantInt(fname: string, what: string, v: Value | undefined): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint')
    throw runtimeError(`${fname}: for parameter ${what}: int out of range`);
  throw runtimeError(`${fname}: for parameter ${what}: got ${typeName(v ?? null)}, want int`);
}

export function optInt(fname: string, what: string, v: Value | undefined, dflt: number): number {
  if (v === undefined || v === null) return dflt;
  return wantInt(fname, what, v);
}
