/**
 * Errors the gateway package throws at its callers (bad options, a provider misconfigured).
 * Like core's errors they carry a stable `code` and a marker symbol from the global registry,
 * so `isInstance` works across duplicate installs where `instanceof` would not.
 */

export type GatewayErrorCode =
  | 'invalid_option'
  | 'unknown_provider'
  | 'duplicate_model'
  /** `runtime.load` of a model id the gateway does not govern. */
  | 'unknown_model'
  /** `runtime.load` after (or during) `close()`. */
  | 'closed';

const gatewayMarker = Symbol.for('wardwright.gateway.error');

export class GatewayError extends Error {
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: read via the registry symbol in isInstance
  private readonly [gatewayMarker] = true;
  readonly code: GatewayErrorCode;

  constructor(code: GatewayErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
  }

  static isInstance(error: unknown): error is GatewayError {
    return (
      typeof error === 'object' &&
      error !== null &&
      (error as Record<symbol, unknown>)[gatewayMarker] === true
    );
  }
}
