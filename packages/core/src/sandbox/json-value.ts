/**
 * Bounded checks of values that cross the sandbox boundary as JSON. `JSON.stringify` on a host
 * value runs to the end before anyone can look at its size: a 50 MB input blocks the event loop
 * for hundreds of milliseconds just to be refused, and a small value that shares one array many
 * times over expands without bound. This walk stops as soon as the JSON text is certainly too
 * large, so the work it does is bounded by the limit, not by the value.
 */

/** The deepest nesting of arrays and objects that crosses the boundary in either direction. */
export const MAX_JSON_DEPTH = 1000;

export type JsonCheck =
  /** The value is JSON; its UTF-8 text is between `minBytes` and `maxBytes` long. */
  | { ok: true; minBytes: number; maxBytes: number }
  /** The text is certainly longer than the limit (the walk stopped there). */
  | { ok: false; reason: 'too_large' }
  /** Arrays and objects nest deeper than the depth limit (a cycle always does). */
  | { ok: false; reason: 'too_deep' }
  /** Something JSON cannot carry: `found` names it, `path` says where (`$.a[2]`). */
  | { ok: false; reason: 'not_json'; found: string; path: string };

export interface JsonCheckOptions {
  maxBytes: number;
  maxDepth?: number;
  /**
   * `undefined` as an object property: 'omit' skips the key as `JSON.stringify` does (host values
   * such as optional fields), 'reject' reports it (a result must say what it means).
   */
  undefinedProperty: 'omit' | 'reject';
}

// The longest text of a finite number: -1.7976931348623157e+308.
const MAX_NUMBER_BYTES = 24;

class Walk {
  min = 0;
  max = 0;
  /** The keys from the root to the value being visited, for the path of a failure. */
  readonly keys: (string | number)[] = [];
  failure: JsonCheck | undefined;

  constructor(
    readonly maxBytes: number,
    readonly maxDepth: number,
    readonly omitUndefined: boolean,
  ) {}

  notJson(found: string): false {
    this.failure = { ok: false, reason: 'not_json', found, path: pathOf(this.keys) };
    return false;
  }

  /** Visit one value; false stops the walk with `failure` set. */
  visit(value: unknown, depth: number): boolean {
    switch (typeof value) {
      case 'string':
        // UTF-8 never takes fewer bytes than UTF-16 units; an escape takes at most 6.
        this.min += value.length + 2;
        this.max += 6 * value.length + 2;
        break;
      case 'number':
        if (!Number.isFinite(value)) return this.notJson(`the number ${String(value)}`);
        this.min += 1;
        this.max += MAX_NUMBER_BYTES;
        break;
      case 'boolean':
        this.min += value ? 4 : 5;
        this.max += value ? 4 : 5;
        break;
      case 'object':
        if (value === null) {
          this.min += 4;
          this.max += 4;
          break;
        }
        return this.visitObject(value, depth);
      case 'undefined':
        return this.notJson('undefined');
      default:
        return this.notJson(`a ${typeof value}`);
    }
    if (this.min > this.maxBytes) {
      this.failure = { ok: false, reason: 'too_large' };
      return false;
    }
    return true;
  }

  private visitObject(value: object, depth: number): boolean {
    if (depth >= this.maxDepth) {
      this.failure = { ok: false, reason: 'too_deep' };
      return false;
    }
    this.min += 2;
    this.max += 2;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        if (i > 0) {
          this.min += 1;
          this.max += 1;
        }
        this.keys.push(i);
        if (!this.visit(value[i], depth + 1)) return false;
        this.keys.pop();
      }
      return true;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      return this.notJson(`a ${kindOf(value)}`);
    }
    let first = true;
    for (const key of Object.keys(value)) {
      const item = (value as Record<string, unknown>)[key];
      if (item === undefined && this.omitUndefined) continue;
      const separator = first ? 0 : 1;
      first = false;
      this.min += key.length + 3 + separator;
      this.max += 6 * key.length + 3 + separator;
      this.keys.push(key);
      if (!this.visit(item, depth + 1)) return false;
      this.keys.pop();
    }
    return true;
  }
}

/**
 * Check that `value` is JSON (finite numbers, strings, booleans, null, arrays and plain objects)
 * no deeper than `maxDepth`, and bound the size of its UTF-8 JSON text, visiting at most about
 * `maxBytes` values. When the bounds straddle `maxBytes`, only serialising tells (`fitsJson`).
 */
export function checkJsonValue(value: unknown, options: JsonCheckOptions): JsonCheck {
  const walk = new Walk(
    options.maxBytes,
    options.maxDepth ?? MAX_JSON_DEPTH,
    options.undefinedProperty === 'omit',
  );
  if (!walk.visit(value, 0)) return walk.failure as JsonCheck;
  // Brackets and separators are counted after the values they close.
  if (walk.min > options.maxBytes) return { ok: false, reason: 'too_large' };
  return { ok: true, minBytes: walk.min, maxBytes: walk.max };
}

/** `$`, `$.name`, `$[3]`, `$["odd key"]`. */
function pathOf(keys: readonly (string | number)[]): string {
  let path = '$';
  for (const key of keys) {
    if (typeof key === 'number') path += `[${key}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(key)) path += `.${key}`;
    else path += `[${JSON.stringify(key.length > 40 ? `${key.slice(0, 37)}...` : key)}]`;
  }
  return path.length > 200 ? `${path.slice(0, 197)}...` : path;
}

/** `Map`, `Date`, `Uint8Array`…: what a non-plain object is, for a message. */
function kindOf(value: object): string {
  const tag = Object.prototype.toString.call(value).slice(8, -1);
  return tag === 'Object' ? 'class instance' : tag;
}
