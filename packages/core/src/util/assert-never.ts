/**
 * Exhaustiveness guard for discriminated unions: a new variant that is not handled becomes a
 * compile error at every `switch` that calls this, instead of a silent fall-through at runtime.
 */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unhandled ${what}: ${JSON.stringify(value)}`);
}
