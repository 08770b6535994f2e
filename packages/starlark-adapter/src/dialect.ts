/**
 * Dialect options. Defaults follow the Starlark spec: everything here is off unless enabled.
 * - `recursion`: a function may call itself (directly or indirectly).
 * - `while`: `while` loops are allowed (inside functions, or anywhere with `toplevelControl`).
 * - `toplevelControl`: `if`, `for` and `while` statements at the top level of a module.
 * - `set`: the `set` builtin and set values.
 */
export interface Dialect {
  readonly recursion: boolean;
  readonly while: boolean;
  readonly toplevelControl: boolean;
  readonly set: boolean;
}

export const DEFAULT_DIALECT: Readonly<Dialect> = Object.freeze({
  recursion: false,
  while: false,
  toplevelControl: false,
  set: false,
});

export function resolveDialect(d: Partial<Dialect> | undefined): Dialect {
  return { ...DEFAULT_DIALECT, ...(d ?? {}) };
}
