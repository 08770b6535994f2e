import { MAX_JSON_DEPTH } from './limits.ts';

/**
 * Guest-side code, evaluated in every fresh QuickJS context BEFORE the policy source, so it
 * captures the intrinsics (`JSON`, indirect `eval`) before the policy can replace them.
 *
 * It freezes the clock (`Date.now()` and `new Date()` are the epoch, 1970-01-01T00:00:00Z) and
 * makes `Math.random` throw: a policy is a pure function of its input. QuickJS has no timers,
 * `queueMicrotask`, `performance`, `WebAssembly`, `Atomics` or host bindings to begin with.
 *
 * The script's value is one `control` function, held only as a host handle (never a global):
 * - `control(0, namesJson)`: keep the candidate names that are functions at the top level,
 *   return them as a JSON array (the policy's entries);
 * - `control(1, name, inputJson)`: call the entry on `JSON.parse(inputJson)` and return the
 *   result as a JSON string, or `!message` when the result is not JSON (JSON text never starts
 *   with `!`; a plain string needs no guest code to read, unlike an object the host would dump).
 *
 * The result is serialised with a replacer that tracks the nesting depth and stops past
 * MAX_JSON_DEPTH: QuickJS's `JSON.stringify` recursion is not seen by its stack limit and would
 * overflow the host's stack instead (see MAX_JSON_DEPTH). The replacer sees each value after
 * `toJSON`, exactly what `JSON.stringify` then serialises, so getters and `toJSON` run once.
 */
export const GUEST_PRELUDE = `(() => {
  'use strict';
  const parse = JSON.parse;
  const stringify = JSON.stringify;
  const globalEval = eval;
  const defineProperty = Object.defineProperty;
  const construct = Reflect.construct;
  const create = Object.create;
  const MAX_DEPTH = ${MAX_JSON_DEPTH};
  const TOO_DEEP = create(null);
  // The replacer is called for every value in serialisation order, with the holder as \`this\`.
  // The holder is always on the current path, so popping down to it leaves exactly the ancestors.
  // A null-prototype record, not an array: a policy may have replaced Array.prototype methods or
  // put setters on its indices.
  const depthGuard = () => {
    const path = create(null);
    let length = 0;
    return function guard(key, value) {
      while (length > 0 && path[length - 1] !== this) path[--length] = undefined;
      if (value !== null && typeof value === 'object') {
        if (length >= MAX_DEPTH) throw TOO_DEEP;
        path[length++] = value;
      }
      return value;
    };
  };
  const InternalErr = globalThis.InternalError;
  const RealDate = Date;
  const FrozenDate = function Date(...args) {
    if (new.target === undefined) return construct(RealDate, [0], RealDate).toString();
    return construct(RealDate, args.length === 0 ? [0] : args, new.target);
  };
  defineProperty(FrozenDate, 'prototype', { value: RealDate.prototype });
  defineProperty(FrozenDate, 'now', { value: function now() { return 0; }, writable: true, configurable: true });
  defineProperty(FrozenDate, 'parse', { value: RealDate.parse, writable: true, configurable: true });
  defineProperty(FrozenDate, 'UTC', { value: RealDate.UTC, writable: true, configurable: true });
  defineProperty(RealDate.prototype, 'constructor', { value: FrozenDate, writable: true, configurable: true });
  defineProperty(globalThis, 'Date', { value: FrozenDate, writable: true, configurable: true });
  defineProperty(Math, 'random', {
    value: function random() { throw new Error('Math.random is disabled: policies must be deterministic'); },
    writable: true,
    configurable: true,
  });
  const table = Object.create(null);
  return function control(op, a, b) {
    if (op === 0) {
      // Built as text: the policy has run, and may have replaced Array.prototype.push.
      let found = '';
      for (const name of parse(a)) {
        let fn;
        // Indirect eval sees top-level let/const/function bindings; a candidate that is not an
        // identifier in scope (a reserved word found in a comment) just fails to resolve.
        try { fn = globalEval('typeof ' + name + " === 'function' ? " + name + ' : undefined'); } catch {}
        if (typeof fn === 'function') { table[name] = fn; found += (found === '' ? '' : ',') + stringify(name); }
      }
      return '[' + found + ']';
    }
    const entry = table[a];
    const value = entry(parse(b));
    if (value !== null && typeof value === 'object' && typeof value.then === 'function') {
      return '!returned a promise; a policy returns its result directly';
    }
    let out;
    try {
      out = stringify(value, depthGuard());
    } catch (error) {
      if (error === TOO_DEEP) return '!result is nested deeper than ' + MAX_DEPTH + ' levels';
      // Resource exhaustion while serialising is a limit, not a malformed result.
      if (error instanceof InternalErr || (error instanceof RangeError && /stack/i.test(error.message))) throw error;
      return '!result is not JSON: ' + (error instanceof Error ? error.message : String(error));
    }
    if (out === undefined) return '!returned undefined, not a JSON value';
    return out;
  };
})()`;
