import { createHash, timingSafeEqual } from 'node:crypto';
import { GatewayError } from './errors.ts';

/**
 * Bearer-token checks. Keys are configured as SHA-256 hex digests (never the keys themselves),
 * and a presented token is hashed and compared digest to digest with `timingSafeEqual`, so
 * neither the comparison time nor a leaked config reveals a key.
 */

export interface AuthOptions {
  /** Required (as `Authorization: Bearer …`) for every `/v1/wardwright/*` route when set. */
  adminToken?: string;
  /**
   * SHA-256 hex digests of the API keys each governed model accepts; `'*'` lists keys valid for
   * every model. When set, a model with no entry (and no `'*'`) accepts no key.
   */
  apiKeys?: Readonly<Record<string, readonly string[]>>;
}

export interface Authenticator {
  /** Whether `authorization` may call `model` (always true without `apiKeys`). */
  model(authorization: string | null, model: string): boolean;
  /** The models this key may call; null when keys are not required. */
  modelsFor(authorization: string | null, models: readonly string[]): readonly string[] | null;
  admin(authorization: string | null): boolean;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function createAuthenticator(options: AuthOptions | undefined): Authenticator {
  const admin =
    options?.adminToken === undefined
      ? null
      : createHash('sha256').update(options.adminToken).digest();
  if (options?.adminToken !== undefined && options.adminToken.length < 16) {
    throw new GatewayError('invalid_option', 'auth.adminToken must be at least 16 characters');
  }
  const keys = new Map<string, Buffer[]>();
  if (options?.apiKeys !== undefined) {
    for (const [model, digests] of Object.entries(options.apiKeys)) {
      keys.set(
        model,
        digests.map((hex, i) => {
          if (!/^[0-9a-f]{64}$/i.test(hex)) {
            throw new GatewayError(
              'invalid_option',
              `auth.apiKeys[${JSON.stringify(model)}][${i}] must be a SHA-256 hex digest (64 hex digits), not a key`,
            );
          }
          return Buffer.from(hex, 'hex');
        }),
      );
    }
  }
  const requireKeys = options?.apiKeys !== undefined;
  const wildcard = keys.get('*') ?? [];

  const matches = (digest: Buffer, list: readonly Buffer[]): boolean => {
    let found = false;
    // Every entry is compared, so the time does not say which (or whether one) matched.
    for (const candidate of list) if (timingSafeEqual(digest, candidate)) found = true;
    return found;
  };
  const digestOf = (authorization: string | null): Buffer | null => {
    const token = bearer(authorization);
    return token === null ? null : createHash('sha256').update(token).digest();
  };
  const allows = (digest: Buffer | null, model: string): boolean =>
    digest !== null && (matches(digest, keys.get(model) ?? []) || matches(digest, wildcard));

  return {
    model(authorization, model) {
      return !requireKeys || allows(digestOf(authorization), model);
    },
    modelsFor(authorization, models) {
      if (!requireKeys) return null;
      const digest = digestOf(authorization);
      return models.filter((m) => allows(digest, m));
    },
    admin(authorization) {
      if (admin === null) return true;
      const digest = digestOf(authorization);
      return digest !== null && timingSafeEqual(digest, admin);
    },
  };
}

function bearer(authorization: string | null): string | null {
  if (authorization === null) return null;
  // RFC 7235: the scheme is case-insensitive.
  if (authorization.length < 8 || authorization.slice(0, 7).toLowerCase() !== 'bearer ')
    return null;
  const token = authorization.slice(7).trim();
  return token === '' ? null : token;
}
