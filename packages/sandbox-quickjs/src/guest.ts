import { GUEST_EXACT_JSON, GUEST_HARDENING, MAX_JSON_DEPTH } from '@wardwright/core';

/**
 * Guest-side code, evaluated in every new QuickJS context BEFORE the policy source, so it
 * captures the intrinsics (`JSON`, indirect `eval`) before the policy can replace them.
 *
 * It freezes the clock (`Date.now()` and `new Date()` are the epoch, 1970-01-01T00:00:00Z) and
 * makes `Math.random` throw: a policy is a pure function of its input. QuickJS has no timers,
 * `queueMicrotask`, `performance`, `WebAssembly`, `Atomics` or host bindings to begin with. It
 * applies core's GUEST_HARDENING (Array methods refuse absurd lengths: QuickJS's generic array
 * loops poll no interrupt).
 *
 * It returns one `control` function, held only as a host handle (never a global):
 * - `control(undefined, namesJson)`: keep the candidate names that are functions at the top level,
 *   return them as a JSON array (the policy's entries);
 * - `control(1, name, inputJson)`: call the entry (found by discovery) on `JSON.parse(inputJson)`
 *   (`control(3, name, input)`: on an input the host decoded from binary JSON) and return the
 *   result as a JSON string, or `!message` when the result is not JSON (JSON text never starts
 *   with `!`; a plain string needs no guest code to read, unlike an object the host would dump).
 *
 * The result is serialised by core's GUEST_EXACT_JSON: exact JSON or a refusal, no deeper than
 * MAX_JSON_DEPTH. Its replacer is what keeps serialising interruptible and shallow here: QuickJS's
 * C `JSON.stringify` polls no interrupt, its cycle check makes deep nesting quadratic (6 000 levels
 * take ~240 ms), and its recursion is not seen by the stack limit (it would overflow the host's
 * stack). It costs about 0.4 µs per serialised value.
 */

export const GUEST_PRELUDE = `((g) => {
  'use strict';
  const parse = g.JSON.parse;
  const stringify = g.JSON.stringify;
  const globalEval = g.eval;
  const defineProperty = g.Object.defineProperty;
  const getPrototypeOf = g.Object.getPrototypeOf;
  const construct = g.Reflect.construct;
  const create = g.Object.create;
  const Err = g.Error;
  const RangeErr = g.RangeError;
  const InternalErr = g.InternalError;
  const serialise = (${GUEST_EXACT_JSON})(g);
  (${GUEST_HARDENING})(g);
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
  // What the exact serialiser throws for a result that is not JSON: a null-prototype record.
  const refusal = (error) => {
    if (error === null || typeof error !== 'object' || getPrototypeOf(error) !== null) return undefined;
    if (typeof error.notJson === 'string') return '!result is not JSON: ' + error.notJson;
    if (error.tooDeep === true) return '!result is nested deeper than ${MAX_JSON_DEPTH} levels';
    return undefined;
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
    try {
      return serialise(value);
    } catch (error) {
      const refused = refusal(error);
      if (refused !== undefined) return refused;
      // Resource exhaustion while serialising is a limit, not a malformed result (QuickJS throws
      // null when it cannot even allocate the out-of-memory error).
      if (error === null || error instanceof InternalErr || (error instanceof RangeErr && /stack/i.test(error.message))) throw error;
      return '!result is not JSON: ' + (error instanceof Err ? error.message : String(error));
    }
  };
})(globalThis)`;
