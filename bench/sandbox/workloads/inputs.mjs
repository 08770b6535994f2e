// Inputs for the workloads, built deterministically (no Math.random) so every run and every
// backend does the same work. Sizes follow bench/core: a 64-entry history window, a 4 KB
// answer in 256-character chunks, a ~1 KB structured answer.

const PHRASES = ['refund', 'cancel my account', 'speak to a human', 'lawyer', 'chargeback'];
const FILLER = [
  'Can you summarise the last report for me?',
  'What is the status of ticket 4411?',
  'Please translate this paragraph into French.',
  'The deployment finished without errors.',
  'Thanks, that answers my question.',
];

export function historyInput() {
  const now = 1_700_000_000_000;
  const entries = Array.from({ length: 64 }, (_, i) => {
    const hot = i % 7 === 3;
    const text = hot
      ? `I want a ${PHRASES[i % PHRASES.length]} now, this is the ${i}th time I ask.`
      : `${FILLER[i % FILLER.length]} (message ${i})`;
    return { ts_ms: now - (64 - i) * 15_000, role: i % 2 === 0 ? 'user' : 'assistant', text };
  });
  return {
    now_ms: now,
    entries,
    rules: [
      {
        id: 'escalation',
        role: 'user',
        window_ms: 600_000,
        phrases: ['speak to a human', 'lawyer'],
        threshold: 2,
        action: 'route_to_human',
      },
      {
        id: 'churn',
        role: 'user',
        window_ms: 900_000,
        phrases: ['cancel my account', 'refund', 'chargeback'],
        threshold: 3,
        action: 'annotate',
      },
      {
        id: 'any-refund',
        window_ms: 300_000,
        phrases: ['REFUND'],
        threshold: 1,
        action: 'annotate',
      },
    ],
  };
}

export function ttsrInput() {
  const sentence =
    'The gateway holds back a bounded window of output and checks rules before release. ';
  let text = '';
  while (text.length < 4096 - 64) text += sentence;
  // The one match sits near the end, so the whole answer is scanned.
  text += 'Internal note: sk-live-';
  return {
    text,
    chunk_chars: 256,
    rules: [
      { id: 'password', literal: 'password:' },
      { id: 'ssn', literal: 'social security number' },
      { id: 'aws', literal: 'AKIA' },
      { id: 'private-key', literal: '-----BEGIN PRIVATE KEY-----' },
      { id: 'secret-key', literal: 'sk-live-' },
    ],
  };
}

export function structuredInput() {
  const answer = JSON.stringify({
    answer:
      'The gateway holds back a bounded window of output and checks rules before release. '.repeat(
        6,
      ),
    confidence: 0.91,
    citations: Array.from({ length: 6 }, (_, i) => ({
      url: `https://example.com/docs/section-${i}`,
      title: `Section ${i}: stream governance`,
    })),
  });
  return {
    answer,
    rules: [
      { id: 'confidence', kind: 'number_gte', path: '/confidence', min: 0.7 },
      { id: 'no-draft', kind: 'string_not_contains', path: '/answer', pattern: 'draft' },
      { id: 'https', kind: 'each_prefix', path: '/citations', field: 'url', prefix: 'https://' },
      { id: 'citations', kind: 'count_between', path: '/citations', min: 1, max: 10 },
    ],
  };
}

/**
 * An input of about `kib` KiB of JSON: records with an id and some text.
 * @param {number} kib
 */
export function marshalInput(kib) {
  const item = (/** @type {number} */ i) => ({ id: i, text: `item ${i} `.padEnd(48, 'x') });
  const perItem = JSON.stringify(item(100)).length + 1;
  const count = Math.max(1, Math.round((kib * 1024 - 12) / perItem));
  return { items: Array.from({ length: count }, (_, i) => item(i)) };
}
