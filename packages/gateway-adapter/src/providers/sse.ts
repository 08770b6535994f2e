/**
 * An incremental `text/event-stream` decoder (the WHATWG rules that matter to OpenAI-style
 * streams): lines end in LF, CRLF or CR — also when a CRLF is split across two network chunks;
 * `:` lines are comments (keep-alives); `data:` lines accumulate until a blank line dispatches
 * the event; other fields are kept only as the event name.
 */

export interface SseEvent {
  /** `event:` field, or `message` when none was sent. */
  event: string;
  data: string;
}

export class SseDecoder {
  #buffer = '';
  #data: string | null = null;
  #event = 'message';
  /** The previous chunk ended in CR: a LF at the start of the next one belongs to it. */
  #skipLF = false;

  /** Feed decoded text; complete events are appended to `out`. */
  push(text: string, out: SseEvent[]): void {
    let buffer = this.#buffer + text;
    let start = 0;
    if (this.#skipLF && buffer.charCodeAt(0) === 10) start = 1;
    this.#skipLF = false;
    for (let i = start; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.#line(buffer.slice(start, i), out);
      if (c === 13) {
        if (i + 1 === buffer.length) this.#skipLF = true;
        else if (buffer.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    buffer = buffer.slice(start);
    this.#buffer = buffer;
  }

  /** True when the stream ended in the middle of an event (a truncated frame). */
  get pending(): boolean {
    return this.#buffer !== '' || this.#data !== null;
  }

  #line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.#data !== null) out.push({ event: this.#event, data: this.#data });
      this.#data = null;
      this.#event = 'message';
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ':' comment
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') this.#data = this.#data === null ? value : `${this.#data}\n${value}`;
    else if (field === 'event') this.#event = value;
  }
}
