import { compileArtifact, createEngine, ManualClock, memoryReceiptStore } from '@wardwright/core';

const lits = Array.from({ length: 10 }, (_, i) => ({
  kind: 'match',
  id: `l${i}`,
  contains: `needle number ${i}`,
  actions: [{ action: 'block' }],
}));
const hr = {
  kind: 'history',
  id: 'r',
  scope: 'session_id',
  threshold: 3,
  pattern: 'api[_ -]?key',
  filter: { kind: 'request_text' },
  actions: [{ action: 'block' }],
};
const hc = {
  kind: 'history',
  id: 'c',
  scope: 'session_id',
  threshold: 50,
  window: { last: 64, within_ms: 600000 },
  actions: [{ action: 'annotate' }],
};
const plan = await compileArtifact({
  schema: 'wardwright.artifact.v1',
  model: { id: 'b', version: '1' },
  targets: [{ model: 'small', context_window: 8192 }],
  request_rules: [...lits, hc, hr],
});
const request = {
  messages: [
    { role: 'system', content: 'You help engineers write TypeScript.' },
    { role: 'user', content: `How do I read a file? ${'Some context. '.repeat(20)}` },
    { role: 'assistant', content: 'Use readline.' },
    { role: 'user', content: 'And errors?' },
  ],
};
const engine = createEngine({
  plan,
  clock: new ManualClock(1),
  receipts: memoryReceiptStore({ max_receipts: 1000 }),
  provider: async () => ({ kind: 'text', text: 'answer text here' }),
});
for (let r = 0; r < 3; r++) {
  const n = 30000;
  const t = performance.now();
  for (let i = 0; i < n; i++) await engine.handle(request, { caller: { session_id: 'session-1' } });
  console.log((((performance.now() - t) / n) * 1000).toFixed(2), 'µs');
}
