// Marshalling cost: the policy touches almost nothing, so the time is the input crossing the
// boundary (JSON copy, validation) and the small result coming back.
export function decide(input) {
  return { items: input.items.length, first: input.items[0]?.id ?? null };
}
