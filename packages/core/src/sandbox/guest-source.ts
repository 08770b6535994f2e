import { MAX_JSON_DEPTH } from './json-value.ts';

/**
 * JavaScript that runs INSIDE a guest (QuickJS, isolated-vm), shared by every JavaScript backend
 * so the rules are written once. Each constant is the source of one function expression that a
 * backend's prelude calls with the guest's `globalThis` before the policy runs, so it captures
 * the intrinsics before the policy can replace them. The trusted backend evaluates the same
 * source in the host.
 */

/** Receivers longer than this are refused by Array methods in the guest (see GUEST_HARDENING). */
export const MAX_GUEST_ARRAY_LENGTH = 2 ** 22;

/**
 * `(g) => serialise`: `serialise(value)` returns the exact JSON text of a policy's result, or
 * throws. `JSON.stringify` alone is lossy: NaN and ±Infinity become `null`, functions vanish, a
 * Map becomes `{}`, a hole becomes `null`. A policy's result is a decision, so each of those is
 * refused instead: the replacer throws `{ notJson: 'what, under key' }` (a null-prototype record
 * the backend turns into `invalid_output`), or `{ tooDeep: true }` past MAX_JSON_DEPTH.
 *
 * What JSON carries without loss stays as `JSON.stringify` has it: `toJSON` applies (a Date is its
 * ISO string), boxed numbers, strings and booleans are their values, a class instance is its own
 * enumerable fields, `-0` is `0`, and an object property whose value is `undefined` is left out
 * (reading that key gives `undefined` either way). Refused: non-finite numbers, functions,
 * symbols, bigints, `undefined` at the top or in an array, and objects whose data lives where
 * JSON cannot see it (Map, Set, RegExp, Error, typed arrays, promises, generators…), told apart by
 * their `Object.prototype.toString` tag.
 *
 * The replacer also keeps serialising interruptible: engines poll their deadline on every call of
 * a JavaScript function, not inside a native `JSON.stringify` (QuickJS's is even quadratic in the
 * nesting depth). The holder (`this`) is always on the current path, so popping down to it leaves
 * exactly the ancestors; the path is a null-prototype record, because a policy may have replaced
 * `Array.prototype` methods.
 */
export const GUEST_EXACT_JSON = `(function exactJson(g) {
  'use strict';
  const stringify = g.JSON.stringify;
  const isArray = g.Array.isArray;
  const toString = g.Object.prototype.toString;
  const call = g.Function.prototype.call;
  const create = g.Object.create;
  const MAX_DEPTH = ${MAX_JSON_DEPTH};
  const PLAIN = create(null);
  PLAIN['[object Object]'] = true;
  PLAIN['[object Array]'] = true;
  PLAIN['[object Number]'] = true;
  PLAIN['[object String]'] = true;
  PLAIN['[object Boolean]'] = true;
  const path = create(null);
  let length = 0;
  const describe = (value, tag) => {
    if (value === undefined) return 'undefined';
    if (typeof value === 'number') return 'the number ' + (value !== value ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity');
    if (typeof value !== 'object') return 'a ' + typeof value;
    return 'a ' + tag.slice(8, -1);
  };
  const refuse = (key, value, tag) => {
    const where = length === 0 && key === '' ? '' : ' under key ' + stringify(String(key).slice(0, 40));
    const record = create(null);
    record.notJson = describe(value, tag) + where;
    throw record;
  };
  const guard = function guard(key, value) {
    while (length > 0 && path[length - 1] !== this) path[--length] = undefined;
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return value;
      case 'number':
        if (value !== value || value === 1 / 0 || value === -1 / 0) refuse(key, value);
        return value;
      case 'undefined':
        // A property without a value is left out, as in JSON; anywhere else it is a hole.
        if (length > 0 && !isArray(this)) return value;
        return refuse(key, value);
      case 'object': {
        if (value === null) return value;
        const tag = call.call(toString, value);
        if (PLAIN[tag] !== true) refuse(key, value, tag);
        if (length >= MAX_DEPTH) {
          const record = create(null);
          record.tooDeep = true;
          throw record;
        }
        path[length++] = value;
        return value;
      }
      default:
        return refuse(key, value);
    }
  };
  return function serialise(value) {
    length = 0;
    try {
      return stringify(value, guard);
    } finally {
      while (length > 0) path[--length] = undefined;
    }
  };
})`;

/**
 * `(g) => void`: closes what a guest could use to run code outside its deadline, or to loop in
 * native code that never polls it.
 * - `Error.prepareStackTrace` and `Error.stackTraceLimit` are fixed: engines call the first while
 *   formatting a stack, which hosts do after a call has ended (isolated-vm copies a thrown error's
 *   `stack` outside the call's timeout).
 * - Array methods refuse a receiver (and `Array.from` a source, `concat` an argument) longer than
 *   MAX_GUEST_ARRAY_LENGTH: on a sparse array or an array-like (`{ length: 2 ** 53 - 1 }`) the
 *   engines' generic loops visit every index without ever polling the deadline
 *   (`Array.prototype.lastIndexOf.call({ length: 2 ** 53 - 1 }, 1)` never returned). `push`,
 *   `pop` and `at` do constant work and stay as they are.
 */
export const GUEST_HARDENING = `(function harden(g) {
  'use strict';
  const defineProperty = g.Object.defineProperty;
  const getOwnPropertyNames = g.Object.getOwnPropertyNames;
  const getOwnPropertyDescriptor = g.Object.getOwnPropertyDescriptor;
  const apply = g.Reflect.apply;
  const RangeErr = g.RangeError;
  const Err = g.Error;
  const MAX = ${MAX_GUEST_ARRAY_LENGTH};
  defineProperty(Err, 'prepareStackTrace', { value: undefined, writable: false, configurable: false });
  defineProperty(Err, 'stackTraceLimit', { value: 10, writable: false, configurable: false });
  const lengthOf = (o) => {
    if (o === null || (typeof o !== 'object' && typeof o !== 'function')) return 0;
    const n = +o.length;
    return n === n ? n : 0;
  };
  const refuse = (n) => {
    throw new RangeErr('array-like length ' + n + ' is over the sandbox bound of ' + MAX + ' elements');
  };
  const KEEP = { constructor: 1, push: 1, pop: 1, at: 1 };
  const proto = g.Array.prototype;
  const wrapped = new g.Map();
  for (const name of getOwnPropertyNames(proto)) {
    if (KEEP[name] === 1) continue;
    const descriptor = getOwnPropertyDescriptor(proto, name);
    const original = descriptor.value;
    if (typeof original !== 'function') continue;
    const guarded = name === 'concat'
      ? {
          concat(...items) {
            if (lengthOf(this) > MAX) refuse(lengthOf(this));
            for (let i = 0; i < items.length; i++) if (lengthOf(items[i]) > MAX) refuse(lengthOf(items[i]));
            return apply(original, this, items);
          },
        }.concat
      : {
          [name](...args) {
            const n = lengthOf(this);
            if (n > MAX) refuse(n);
            return apply(original, this, args);
          },
        }[name];
    wrapped.set(original, guarded);
    defineProperty(proto, name, { value: guarded, writable: true, enumerable: false, configurable: true });
  }
  // Array.prototype[Symbol.iterator] is the same function as values: keep it so.
  const iterator = proto[g.Symbol.iterator];
  if (wrapped.has(iterator)) {
    defineProperty(proto, g.Symbol.iterator, { value: wrapped.get(iterator), writable: true, enumerable: false, configurable: true });
  }
  const from = g.Array.from;
  defineProperty(g.Array, 'from', {
    value: {
      from(source, ...rest) {
        if (typeof source !== 'string' && lengthOf(source) > MAX) refuse(lengthOf(source));
        return apply(from, this, [source, ...rest]);
      },
    }.from,
    writable: true,
    enumerable: false,
    configurable: true,
  });
})`;
