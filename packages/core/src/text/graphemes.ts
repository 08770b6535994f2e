/**
 * Grapheme-cluster boundaries (UAX #29) for deciding where streamed text may be cut.
 *
 * Released text must never end inside a user-perceived character: an emoji with a skin-tone
 * modifier, a flag, or a letter followed by a combining accent. `Intl.Segmenter` is exact but
 * costs microseconds, so the common case (two neighbouring ASCII characters, which always have
 * a boundary between them except CR LF) is answered without it.
 */

let segmenter: Intl.Segmenter | undefined;

function graphemeSegmenter(): Intl.Segmenter {
  segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  return segmenter;
}

/**
 * The greatest grapheme boundary `b` with `b <= index`, in `text` read from its start.
 * `text`'s start is taken to be a boundary.
 */
export function boundaryAtOrBefore(text: string, index: number): number {
  if (index <= 0) return 0;
  if (index >= text.length) return text.length;
  const before = text.charCodeAt(index - 1);
  const after = text.charCodeAt(index);
  if (before < 0x80 && after < 0x80 && !(before === 0x0d && after === 0x0a)) return index;
  const segment = graphemeSegmenter().segment(text).containing(index);
  return segment === undefined ? index : segment.index;
}

/**
 * Where the last grapheme of `text` starts. Text after this point may still grow into a longer
 * cluster when the next chunk arrives (a combining mark, the second half of a flag), so a
 * streaming release never includes it until the stream ends.
 */
export function lastGraphemeStart(text: string): number {
  const n = text.length;
  if (n === 0) return 0;
  if (n >= 2 && text.charCodeAt(n - 1) < 0x80) {
    const before = text.charCodeAt(n - 2);
    if (before < 0x80 && !(before === 0x0d && text.charCodeAt(n - 1) === 0x0a)) return n - 1;
  }
  if (n === 1) return 0;
  const segment = graphemeSegmenter()
    .segment(text)
    .containing(n - 1);
  return segment === undefined ? n - 1 : segment.index;
}
