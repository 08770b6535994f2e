// The library floor: the same policy called through isolated-vm and quickjs-emscripten directly,
// the way the dependency probe measured them (node-deps-probe §6), with nothing of ours around
// the call — no limits merged, no size checks, no usage, no failure classification. What a
// backend costs above its floor is Wardwright's; the floor itself is the library on this machine.
//
// The probe's own rows are measured too (its policy, its calls): their ratio to the probe's
// published medians says how fast this machine is next to the one the targets were set on.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// Resolved from the backends' packages, which own these dependencies.
const requireFrom = (/** @type {string} */ pkg) =>
  createRequire(createRequire(import.meta.url).resolve(`${pkg}/package.json`));

/**
 * The probe's medians on its machine (Node 20.20.2, §6: the middle of three runs).
 * b4: isolated-vm `applySync` with a copied argument and `timeout: 50`; c2: QuickJS reused
 * context, JSON string in and out, a deadline interrupt handler set per call; d4: QuickJS fresh
 * context on a shared runtime.
 */
export const PROBE_P50_NS = { b4: 4850, c2: 13_300, d4: 245_000 };

const PROBE_POLICY = `function decide(input) { let s = 0; const h = input.history; for (let i = 0; i < h.length; i++) s += h[i]; return { allow: s <= input.threshold, total: s }; }`;
const PROBE_INPUT = {
  history: Array.from({ length: 50 }, (_, i) => (i * 7919) % 100),
  threshold: 2400,
};

/**
 * Raw subjects for the classify policy and the probe's rows. Optional libraries that do not
 * load leave their rows out (with the reason).
 * @param {string} policyFile the classify policy (an ES module with `export function decide`)
 * @param {import('@wardwright/core').JsonValue} input
 */
export async function floorSubjects(policyFile, input) {
  const policy = readFileSync(policyFile, 'utf8').replace(/^(\s*)export\s+/gm, '$1');
  /** @type {{ name: string, run: () => unknown, dispose: () => void }[]} */
  const subjects = [];
  /** @type {{ backend: string, reason: string }[]} */
  const skipped = [];

  try {
    const ivm = requireFrom('@wardwright/sandbox-isolated-vm')('isolated-vm');
    const isolate = new ivm.Isolate({ memoryLimit: 128 });
    // A context per policy: both define a global `decide`.
    const classify = isolate
      .compileScriptSync(`${policy}; (s) => JSON.stringify(decide(JSON.parse(s)));`)
      .runSync(isolate.createContextSync(), { reference: true });
    // b4 passes the object itself (copied), so it calls `decide` directly.
    const probe = isolate
      .compileScriptSync(`${PROBE_POLICY}; decide`)
      .runSync(isolate.createContextSync(), { reference: true });
    subjects.push(
      {
        name: 'isolated-vm floor',
        run: () =>
          JSON.parse(classify.applySync(undefined, [JSON.stringify(input)], { timeout: 50 })),
        dispose: () => {},
      },
      {
        name: 'probe b4 (isolated-vm)',
        run: () =>
          probe.applySync(undefined, [PROBE_INPUT], {
            arguments: { copy: true },
            result: { copy: true },
            timeout: 50,
          }),
        dispose: () => isolate.dispose(),
      },
    );
  } catch (error) {
    skipped.push({ backend: 'isolated-vm floor', reason: String(error) });
  }

  const require = requireFrom('@wardwright/sandbox-quickjs');
  const { newQuickJSWASMModuleFromVariant } = require('quickjs-emscripten-core');
  const variant = require('@jitl/quickjs-wasmfile-release-sync');
  const quickjs = await newQuickJSWASMModuleFromVariant(variant.default ?? variant);
  const runtime = quickjs.newRuntime();
  runtime.setMemoryLimit(16 << 20);
  runtime.setMaxStackSize(256 * 1024);
  let deadline = 0;
  const interrupt = () => performance.now() > deadline;
  /** A context per policy: both define a global `decide`. @param {string} source */
  const loaded = (source) => {
    const context = runtime.newContext();
    const fn = context.unwrapResult(
      context.evalCode(`${source}; (s) => JSON.stringify(decide(JSON.parse(s)))`),
    );
    return { context, fn };
  };
  /** @param {ReturnType<typeof loaded>} policy @param {unknown} value */
  const call = ({ context, fn }, value) => {
    deadline = performance.now() + 50;
    runtime.setInterruptHandler(interrupt);
    const arg = context.newString(JSON.stringify(value));
    const out = context.unwrapResult(context.callFunction(fn, context.undefined, arg));
    const result = JSON.parse(context.getString(out));
    arg.dispose();
    out.dispose();
    return result;
  };
  const classify = loaded(policy);
  const probe = loaded(PROBE_POLICY);
  subjects.push(
    { name: 'quickjs floor', run: () => call(classify, input), dispose: () => {} },
    { name: 'probe c2 (quickjs)', run: () => call(probe, PROBE_INPUT), dispose: () => {} },
    {
      name: 'probe d4 (quickjs fresh)',
      run: () => {
        // The handler stays armed from the previous row's call: give this one its own deadline.
        deadline = performance.now() + 50;
        const fresh = runtime.newContext();
        const f = fresh.unwrapResult(
          fresh.evalCode(`${PROBE_POLICY}; (s) => JSON.stringify(decide(JSON.parse(s)))`),
        );
        const arg = fresh.newString(JSON.stringify(PROBE_INPUT));
        const out = fresh.unwrapResult(fresh.callFunction(f, fresh.undefined, arg));
        const result = JSON.parse(fresh.getString(out));
        out.dispose();
        arg.dispose();
        f.dispose();
        fresh.dispose();
        return result;
      },
      dispose: () => {
        for (const { context, fn } of [classify, probe]) {
          fn.dispose();
          context.dispose();
        }
        runtime.dispose();
      },
    },
  );
  return { subjects, skipped };
}
