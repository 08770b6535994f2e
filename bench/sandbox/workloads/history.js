// History classification, as the history decision core does it: for each rule, count the
// session's entries inside the rule's time window that match its role and (case-insensitive)
// phrases, and fire the rule's action when the count reaches its threshold.
export function decide(input) {
  const actions = [];
  const counts = {};
  for (const rule of input.rules) {
    const since = input.now_ms - rule.window_ms;
    const phrases = rule.phrases.map((p) => p.toLowerCase());
    let count = 0;
    // Newest first, as the store keeps them; stop at the first entry older than the window.
    for (let i = input.entries.length - 1; i >= 0; i--) {
      const entry = input.entries[i];
      if (entry.ts_ms < since) break;
      if (rule.role !== undefined && entry.role !== rule.role) continue;
      const text = entry.text.toLowerCase();
      for (const phrase of phrases) {
        if (text.includes(phrase)) {
          count++;
          break;
        }
      }
    }
    counts[rule.id] = count;
    if (count >= rule.threshold) actions.push({ rule: rule.id, action: rule.action, count });
  }
  return { actions, counts };
}
