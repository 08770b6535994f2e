// The small policy of the first sandbox bench: count values above a threshold and flag the
// first five. Used for warm, cold, fresh-per-call, memory and concurrency.
export function decide(input) {
  let high = 0;
  const flagged = [];
  for (let i = 0; i < input.values.length; i++) {
    if (input.values[i] > input.threshold) {
      high++;
      if (flagged.length < 5) flagged.push(i);
    }
  }
  return {
    actions: high > 10 ? [{ action: 'annotate', message: `${high} above threshold` }] : [],
    high,
    flagged,
  };
}
