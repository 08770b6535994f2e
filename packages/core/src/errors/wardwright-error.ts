/**
 * Every error the SDK throws is a `WardwrightError` with a stable `code`.
 *
 * `instanceof` breaks when two copies of the package are installed (a proxy that bundles one
 * version and a plugin that brings another), so each class carries a marker symbol from the
 * global registry and exposes `isInstance`, which checks the marker instead of the prototype.
 */

export type WardwrightErrorCode =
  | 'config_invalid'
  | 'invalid_argument'
  | 'policy_load_failed'
  | 'shadow_diverged'
  /** A resource the call needs cannot be used: a missing driver, a closed or newer store. */
  | 'unavailable'
  /**
   * A store failed a write the request depends on (receipt, history, state): the request fails
   * closed, nothing is acknowledged. `cause` holds the store's error.
   */
  | 'store_failed';

const baseMarker = Symbol.for('wardwright.error');

export class WardwrightError extends Error {
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: read via the registry symbol in isInstance
  private readonly [baseMarker] = true;
  readonly code: WardwrightErrorCode;

  constructor(options: { code: WardwrightErrorCode; message: string; cause?: unknown }) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WardwrightError';
    this.code = options.code;
  }

  static isInstance(error: unknown): error is WardwrightError {
    return hasMarker(error, baseMarker);
  }
}

export function hasMarker(error: unknown, marker: symbol): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as Record<symbol, unknown>)[marker] === true
  );
}
