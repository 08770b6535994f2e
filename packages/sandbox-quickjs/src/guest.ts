import { MAX_JSON_DEPTH } from './limits.ts';

/**
 * Guest-side code, evaluated in every new QuickJS context BEFORE the policy source, so it
 * captures the intrinsics (`JSON`, indirect `eval`) before the policy can replace them.
 *
 * It freezes the clock (`Date.now()` and `new Date()` are the epoch, 1970-01-01T00:00:00Z) and
 * makes `Math.random` throw: a policy is a pure function of its input. QuickJS has no timers,
 * `queueMicrotask`, `performance`, `WebAssembly`, `Atomics` or host bindings to begin with.
 *
 * It returns one `control` function, held only as a host handle (never a global):
 * - `control(undefined, namesJson)`: keep the candidate names that are functions at the top level,
 *   return them as a JSON array (the policy's entries);
 * - `control(1, name, inputJson)`: call the entry (found by discovery) on `JSON.parse(inputJson)`
 *   (`control(3, name, input)`: on an input the host decoded from binary JSON) and return the
 *   result as a JSON string, or `!message` when the result is not JSON (JSON text never starts
 *   with `!`; a plain string needs no guest code to read, unlike an object the host would dump).
 *
 * The result is serialised with a replacer that tracks the nesting depth and stops past
 * MAX_JSON_DEPTH: QuickJS's `JSON.stringify` recursion is not seen by its stack limit and would
 * overflow the host's stack instead (see MAX_JSON_DEPTH). It is also what keeps serialising
 * interruptible: QuickJS's C `JSON.stringify` polls no interrupt and its cycle check makes deep
 * nesting quadratic (6 000 levels take ~240 ms, 20 000 run ~800 ms before overflowing), while a
 * replacer is JavaScript, polled like any other. It costs about 0.4 µs per serialised value. The
 * replacer sees each value after `toJSON`, exactly what `JSON.stringify` then serialises, so
 * getters and `toJSON` run once.
 */
export const GUEST_PRELUDE = `((g) => {
  'use strict';
  const parse = g.JSON.parse;
  const stringify = g.JSON.stringify;
  const globalEval = g.eval;
  const defineProperty = g.Object.defineProperty;
  const construct = g.Reflect.construct;
  const create = g.Object.create;
  const Err = g.Error;
  const RangeErr = g.RangeError;
  const MAX_DEPTH = ${MAX_JSON_DEPTH};
  const TOO_DEEP = create(null);
  // The replacer is called for every value in serialisation order, with the holder as \`this\`.
  // The holder is always on the current path, so popping down to it leaves exactly the ancestors.
  // A null-prototype record, not an array: a policy may have replaced Array.prototype methods or
  // put setters on its indices.
  // One guard for every call, not a closure per call: the depth restarts at 0 before each
  // serialisation and the path is cleared after it, so no result stays reachable from here.
  const path = create(null);
  let length = 0;
  const guard = function guard(key, value) {
    while (length > 0 && path[length - 1] !== this) path[--length] = undefined;
    if (value !== null && typeof value === 'object') {
      if (length >= MAX_DEPTH) throw TOO_DEEP;
      path[length++] = value;
    }
    return value;
  };
  const serialise = (value) => {
    length = 0;
    try {
      return stringify(value, guard);
    } finally {
      while (length > 0) path[--length] = undefined;
    }
  };
  const InternalErr = g.InternalError;
  const RealDate = g.Date;
  const FrozenDate = function Date(...args) {
    if (new.target === undefined) return construct(RealDate, [0], RealDate).toString();
    return construct(RealDate, args.length === 0 ? [0] : args, new.target);
  };
  // Methods, not function declarations: they have no prototype object to leak.
  const { now, random } = {
    now() { return 0; },
    random() { throw new Err('Math.random is disabled: policies must be deterministic'); },
  };
  defineProperty(FrozenDate, 'prototype', { value: RealDate.prototype });
  defineProperty(FrozenDate, 'now', { value: now, writable: true, configurable: true });
  defineProperty(FrozenDate, 'parse', { value: RealDate.parse, writable: true, configurable: true });
  defineProperty(FrozenDate, 'UTC', { value: RealDate.UTC, writable: true, configurable: true });
  defineProperty(RealDate.prototype, 'constructor', { value: FrozenDate, writable: true, configurable: true });
  defineProperty(g, 'Date', { value: FrozenDate, writable: true, configurable: true });
  defineProperty(g.Math, 'random', { value: random, writable: true, configurable: true });
  const table = create(null);
  // Indirect eval sees top-level let/const/function bindings; a candidate that is not an
  // identifier in scope (a reserved word found in a comment) just fails to resolve.
  const resolve = (name) => {
    let fn;
    try { fn = globalEval('typeof ' + name + " === 'function' ? " + name + ' : undefined'); } catch {}
    return typeof fn === 'function' ? (table[name] = fn) : undefined;
  };
  return function control(op, a, b) {
    if (op !== 1 && op !== 3) {
      // Built as text: the policy has run, and may have replaced Array.prototype.push.
      let found = '';
      for (const name of parse(a)) {
        if (resolve(name) !== undefined) found += (found === '' ? '' : ',') + stringify(name);
      }
      return '[' + found + ']';
    }
    const entry = table[a];
    // op 3: the input is already a value (decoded from binary JSON by the host).
    const value = entry(op === 3 ? b : parse(b));
    if (value !== null && typeof value === 'object' && typeof value.then === 'function') {
      return '!returned a promise; a policy returns its result directly';
    }
    let out;
    try {
      out = serialise(value);
    } catch (error) {
      if (error === TOO_DEEP) return '!result is nested deeper than ' + MAX_DEPTH + ' levels';
      // Resource exhaustion while serialising is a limit, not a malformed result.
      if (error instanceof InternalErr || (error instanceof RangeErr && /stack/i.test(error.message))) throw error;
      return '!result is not JSON: ' + (error instanceof Err ? error.message : String(error));
    }
    if (out === undefined) return '!returned undefined, not a JSON value';
    return out;
  };
})(globalThis)`;
