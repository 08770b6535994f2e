// Hostile policies, contained: each sandbox in the mode that holds time, memory and availability
// (QuickJS and Starlark in worker threads, isolated-vm in child processes), every hostile case of
// the conformance kit run against it, while a victim policy on the same pools keeps answering
// and this process's event loop keeps turning. Prints one line per case and a summary.
//
//   node --no-node-snapshot examples/sandbox-demo/contain-hostile.mjs
import { processSandbox, workerSandbox } from '@wardwright/core/node';
import { hostileCases, hostilePolicy, watchEventLoop } from '@wardwright/core/testing';

/** @type {{ label: string, language: 'javascript' | 'starlark', start: () => Promise<import('@wardwright/core').SandboxBackend> }[]} */
const pools = [
  {
    label: 'QuickJS in worker threads',
    language: 'javascript',
    start: () =>
      workerSandbox({
        backend: { module: '@wardwright/sandbox-quickjs', export: 'quickjsSandbox' },
        threads: 2,
        resolveFrom: import.meta.url,
      }),
  },
  {
    label: 'Starlark in worker threads',
    language: 'starlark',
    start: () =>
      workerSandbox({
        backend: { module: '@wardwright/starlark', export: 'starlarkSandbox' },
        threads: 2,
        resolveFrom: import.meta.url,
      }),
  },
  {
    label: 'isolated-vm in child processes',
    language: 'javascript',
    start: () =>
      processSandbox({
        backend: { module: '@wardwright/sandbox-isolated-vm', export: 'isolatedVmSandbox' },
        processes: 2,
        resolveFrom: import.meta.url,
        execArgv: ['--no-node-snapshot'],
      }),
  },
];

const VICTIM = {
  javascript: 'function decide(input) { return { twice: input.n * 2 }; }',
  starlark: 'def decide(input):\n    return {"twice": input["n"] * 2}\n',
};

let longestStall = 0;
let victimCalls = 0;
let victimFailures = 0;
for (const { label, language, start } of pools) {
  const backend = await start();
  console.log(`${label} (availability: ${backend.capabilities.availability})`);
  const hostile = await backend.load({ name: 'hostile', language, code: hostilePolicy(language) });
  const victim = await backend.load({ name: 'victim', language, code: VICTIM[language] });
  for (const c of hostileCases(language)) {
    const loop = watchEventLoop();
    let victimRunning = true;
    // The victim asks its question again and again while the hostile call runs.
    const victimLoop = (async () => {
      while (victimRunning) {
        const answer = await victim.invoke('decide', { n: 21 });
        victimCalls++;
        const twice = answer.ok ? /** @type {{ twice?: unknown }} */ (answer.value)?.twice : null;
        if (twice !== 42) victimFailures++;
      }
    })();
    const result = await hostile.invoke(
      'decide',
      { case: c.name },
      { timeout_ms: c.timeout_ms ?? 500 },
    );
    victimRunning = false;
    await victimLoop;
    const stall = loop.stop();
    longestStall = Math.max(longestStall, stall);
    const outcome = result.ok
      ? `ok ${JSON.stringify(result.value)}`
      : `${result.failure.kind}: ${result.failure.message}`;
    console.log(`  ${c.name.padEnd(24)} ${outcome.slice(0, 90)}`);
  }
  await backend.dispose();
}
console.log(
  `${victimCalls} victim calls, ${victimFailures} failed; the event loop never waited more than ${Math.round(longestStall)} ms`,
);
