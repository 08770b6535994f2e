import { GUEST_EXACT_JSON, GUEST_HARDENING, MAX_JSON_DEPTH } from '@wardwright/core';

/**
 * Guest-side code, evaluated in every fresh context BEFORE the policy source, so it captures the
 * intrinsics (`JSON`, `RangeError`, indirect `eval`) before the policy can replace them.
 *
 * It freezes the clock (`Date.now()` and `new Date()` are the epoch, 1970-01-01T00:00:00Z) and
 * makes `Math.random` throw: a policy is a pure function of its input (the QuickJS backend does
 * the same). It removes `WebAssembly`, `SharedArrayBuffer` and `Atomics`, which no JSON policy
 * needs and which widen the attack surface (a JIT, and `Atomics.wait` blocking). A bare V8
 * context has no timers, `queueMicrotask`, `performance`, `process` or `require` to begin with.
 *
 * The script's value is one `control` function, held only as a host `Reference` (never a
 * global, and strict so stack-trace APIs cannot hand it out):
 * - `control(0, namesJson)`: keep the candidate names that are functions at the top level,
 *   return them as a JSON array (the policy's entries);
 * - `control(1, name, inputJson)`: call the entry on `JSON.parse(inputJson)` and return the
 *   result as a JSON string, or a failure tagged by a leading NUL and a kind letter (JSON text
 *   never starts with NUL). Catching guest exceptions here means that whatever `applySync`
 *   throws before the answer exists comes from isolated-vm (timeout, disposal);
 * - `control(2)`: hand back (once) the answer of the last `control(1)` that returned, or ''.
 *   Promise jobs the call queued run after it returns but inside the same `applySync` (V8's
 *   automatic microtask checkpoint), and isolated-vm then throws their unhandled rejection — any
 *   value the guest likes, even a copy of the timeout error — or their timeout at the host. The
 *   host asks for the kept answer whenever `applySync` throws, so that work cannot change or
 *   fake the call's result.
 */
export const GUEST_PRELUDE = `(() => {
  'use strict';
  const parse = JSON.parse;
  const stringify = JSON.stringify;
  const globalEval = eval;
  const defineProperty = Object.defineProperty;
  const construct = Reflect.construct;
  const toString = Object.prototype.toString;
  const ErrorCtor = Error;
  const RangeErrorCtor = RangeError;
  const test = RegExp.prototype.test;
  const call = Function.prototype.call;
  const matches = (re, s) => call.call(test, re, s);
  const getPrototypeOf = Object.getPrototypeOf;
  const serialise = (${GUEST_EXACT_JSON})(globalThis);
  (${GUEST_HARDENING})(globalThis);
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
    value: function random() { throw new ErrorCtor('Math.random is disabled: policies must be deterministic'); },
    writable: true,
    configurable: true,
  });
  delete globalThis.WebAssembly;
  delete globalThis.SharedArrayBuffer;
  delete globalThis.Atomics;
  const describe = (value) => {
    if (typeof value === 'string') return stringify(value.slice(0, 100));
    if (value === null || typeof value !== 'object') return String(value);
    return call.call(toString, value);
  };
  const thrown = (error) => {
    try {
      if (error instanceof RangeErrorCtor) {
        const message = String(error.message);
        if (matches(/call stack/i, message)) return '\\u0000smaximum call stack size exceeded';
        if (matches(/array buffer allocation failed/i, message)) return '\\u0000mRangeError: ' + message;
      }
      if (error instanceof ErrorCtor) return '\\u0000r' + String(error.name) + ': ' + String(error.message);
      return '\\u0000rthrew ' + describe(error);
    } catch {
      return '\\u0000rthrew a value that cannot be described';
    }
  };
  const table = Object.create(null);
  const discover = (namesJson) => {
    const found = [];
    for (const name of parse(namesJson)) {
      let fn;
      // Indirect eval sees top-level let/const/function bindings; a candidate that is not an
      // identifier in scope (a reserved word found in a comment) just fails to resolve.
      try { fn = globalEval('typeof ' + name + " === 'function' ? " + name + ' : undefined'); } catch {}
      if (typeof fn === 'function') { table[name] = fn; found.push(name); }
    }
    return stringify(found);
  };
  // The last call's answer, kept for op 2: V8 runs the promise jobs a call queued after it
  // returns, and isolated-vm throws their unhandled rejections (or their timeout) at the host in
  // place of the answer. Nothing but the host can read this.
  let last = '';
  const take = () => {
    const out = last;
    last = '';
    return out;
  };
  const run = (a, b) => {
    let value;
    try {
      value = table[a](parse(b));
    } catch (error) {
      return thrown(error);
    }
    try {
      if (value !== null && typeof value === 'object' && typeof value.then === 'function') {
        return '\\u0000oreturned a promise; a policy returns its result directly';
      }
    } catch (error) {
      return thrown(error);
    }
    try {
      return serialise(value);
    } catch (error) {
      // What the exact serialiser throws for a result that is not JSON: a null-prototype record.
      if (error !== null && typeof error === 'object' && getPrototypeOf(error) === null) {
        if (typeof error.notJson === 'string') return '\\u0000oresult is not JSON: ' + error.notJson;
        if (error.tooDeep === true) return '\\u0000oresult is nested deeper than ${MAX_JSON_DEPTH} levels';
      }
      // Resource exhaustion while serialising is a limit, not a malformed result.
      const limit = thrown(error);
      if (limit[1] === 's' || limit[1] === 'm') return limit;
      let message;
      try { message = error instanceof ErrorCtor ? String(error.message) : String(error); } catch { message = 'unserialisable'; }
      return '\\u0000oresult is not JSON: ' + message;
    }
  };
  return function control(op, a, b) {
    if (op === 0) return discover(a);
    if (op === 2) return take();
    last = '';
    return (last = run(a, b));
  };
})()`;
