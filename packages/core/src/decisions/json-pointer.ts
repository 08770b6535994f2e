import type { ConfigIssue } from '../errors/config-error.ts';

/**
 * RFC 6901 JSON Pointers: parsed once when a configuration is compiled, resolved per decision.
 *
 * Resolution only ever reads a value's own data: a token never reaches the prototype chain, so
 * `/__proto__` or `/constructor` on a parsed model output finds only a key the output really has.
 */

export type ParsedJsonPointer =
  | { ok: true; tokens: readonly string[] }
  | { ok: false; issue: ConfigIssue };

export type ResolvedJsonPointer = { found: true; value: unknown } | { found: false };

/**
 * Parse `pointer` into its unescaped reference tokens (`""` → `[]`, `/a~1b` → `["a/b"]`).
 * Errors come back as a `ConfigIssue` located at `path`, like `compileRegex`.
 */
export function parseJsonPointer(pointer: string, path = '$'): ParsedJsonPointer {
  if (pointer === '') return { ok: true, tokens: [] };
  if (pointer.charCodeAt(0) !== 0x2f) {
    return {
      ok: false,
      issue: {
        path,
        message: `must be a JSON Pointer (RFC 6901) starting with \`/\`, got ${JSON.stringify(pointer)}`,
        hint: `JSON Pointers start with \`/\`, e.g. \`${suggestPointer(pointer)}\``,
      },
    };
  }
  const tokens: string[] = [];
  let token = '';
  for (let i = 1; i < pointer.length; i++) {
    const c = pointer[i];
    if (c === '/') {
      tokens.push(token);
      token = '';
    } else if (c === '~') {
      const next = pointer[i + 1];
      if (next !== '0' && next !== '1') {
        return {
          ok: false,
          issue: {
            path,
            message: `has \`~\` at offset ${i} not followed by \`0\` or \`1\`, got ${JSON.stringify(pointer)}`,
            hint: 'write `~0` for a literal `~` and `~1` for a literal `/` inside a key',
          },
        };
      }
      token += next === '0' ? '~' : '/';
      i++;
    } else {
      token += c;
    }
  }
  tokens.push(token);
  return { ok: true, tokens };
}

/** Sentinel for "no value here", so the hot path can resolve without allocating a result. */
export const MISSING: unique symbol = Symbol('json-pointer.missing');

/**
 * The value `tokens` point at inside `value`, or `MISSING`. Used by the decision cores on every
 * decision; `resolveJsonPointer` is the allocation-per-call public face of it.
 */
export function lookupJsonPointer(value: unknown, tokens: readonly string[]): unknown {
  let current = value;
  for (const token of tokens) {
    if (typeof current !== 'object' || current === null) return MISSING;
    if (Array.isArray(current)) {
      const index = arrayIndex(token, current.length);
      if (index < 0) return MISSING;
      current = current[index];
    } else {
      if (!Object.hasOwn(current, token)) return MISSING;
      current = (current as Record<string, unknown>)[token];
    }
  }
  return current;
}

const NOT_FOUND: ResolvedJsonPointer = Object.freeze({ found: false });

export function resolveJsonPointer(value: unknown, tokens: readonly string[]): ResolvedJsonPointer {
  const found = lookupJsonPointer(value, tokens);
  return found === MISSING ? NOT_FOUND : { found: true, value: found };
}

/**
 * `token` as an index into an array of `length` elements, or -1. RFC 6901 allows only `0` or a
 * number without leading zeros; `-` (one past the end) names no existing element.
 */
function arrayIndex(token: string, length: number): number {
  const n = token.length;
  if (n === 0 || n > 15) return -1;
  const first = token.charCodeAt(0);
  if (first === 0x30) return n === 1 && length > 0 ? 0 : -1;
  let index = 0;
  for (let i = 0; i < n; i++) {
    const digit = token.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return -1;
    index = index * 10 + digit;
  }
  return index < length ? index : -1;
}

/** `answer.confidence`, `$.items[0]` → the pointer the author most likely meant. */
function suggestPointer(pointer: string): string {
  const dotted = pointer.replace(/^\$?\.?/, '');
  if (/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+|\[(0|[1-9][0-9]*)\])*$/.test(dotted)) {
    return `/${dotted.replace(/\[(\d+)\]/g, '.$1').replace(/\./g, '/')}`;
  }
  return '/confidence';
}
