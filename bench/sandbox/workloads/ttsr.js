// TTSR window scan: the answer arrives in chunks; each chunk is scanned together with the tail
// of the previous one (the longest rule minus one character), so a literal split across chunks
// is still found. Returns the first rule that matches and its offset, as the stream core does.
export function decide(input) {
  const rules = input.rules;
  let keep = 0;
  for (const rule of rules) keep = Math.max(keep, rule.literal.length - 1);
  const text = input.text;
  const size = input.chunk_chars;
  let tail = '';
  let chunks = 0;
  for (let start = 0; start < text.length; start += size) {
    const chunk = text.slice(start, start + size);
    chunks++;
    const window = tail + chunk;
    const base = start - tail.length;
    for (const rule of rules) {
      const at = window.indexOf(rule.literal);
      if (at >= 0) return { matched: rule.id, offset: base + at, chunks };
    }
    tail = keep > 0 ? window.slice(-keep) : '';
  }
  return { matched: null, offset: null, chunks };
}
