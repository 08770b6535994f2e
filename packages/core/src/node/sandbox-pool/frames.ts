/**
 * The host's side of the process executors' framing (the executor's side is in
 * PROCESS_EXECUTOR_SOURCE): a 4-byte big-endian length, then UTF-8 text — the message without its
 * `body` as JSON, a newline, and the body. The body (a policy's code, an input, a result) is
 * already JSON text or source: framing it raw saves escaping it a second time, which Node's own
 * IPC channel would do (one JSON document per message).
 */

/** Messages that carry a body. */
const WITH_BODY = new Set(['load', 'invoke', 'result']);

export interface FramedMessage {
  readonly t: string;
  readonly body?: string;
  readonly [key: string]: unknown;
}

export function encodeFrame(message: FramedMessage): Buffer {
  const { body, ...header } = message;
  const text = `${JSON.stringify(header)}\n${body ?? ''}`;
  const length = Buffer.byteLength(text);
  const frame = Buffer.allocUnsafe(4 + length);
  frame.writeUInt32BE(length, 0);
  frame.write(text, 4, length, 'utf8');
  return frame;
}

function decodeFrame(payload: Buffer): FramedMessage {
  const text = payload.toString('utf8');
  const newline = text.indexOf('\n');
  const message = JSON.parse(text.slice(0, newline)) as Record<string, unknown> & { t: string };
  if (WITH_BODY.has(message.t)) message.body = text.slice(newline + 1);
  return message;
}

/** Reassembles frames from a byte stream; each chunk may hold part of one or several frames. */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** The frames completed by `chunk`, in order. Throws on a frame that does not parse. */
  push(chunk: Buffer): FramedMessage[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const frames: FramedMessage[] = [];
    for (;;) {
      if (this.pendingBytes < 4) break;
      if (this.pending[0]!.length < 4) {
        this.pending = [Buffer.concat(this.pending, this.pendingBytes)];
      }
      const length = this.pending[0]!.readUInt32BE(0);
      // Copied together only once the whole frame is here.
      if (this.pendingBytes < 4 + length) break;
      const buffer =
        this.pending.length === 1
          ? this.pending[0]!
          : Buffer.concat(this.pending, this.pendingBytes);
      frames.push(decodeFrame(buffer.subarray(4, 4 + length)));
      const rest = buffer.subarray(4 + length);
      this.pending = rest.length === 0 ? [] : [rest];
      this.pendingBytes = rest.length;
    }
    return frames;
  }
}
