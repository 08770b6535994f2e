import type { ChatMessage, ChatRequest } from './request.ts';

/**
 * The one callback the engine needs from the outside world: call a model. The gateway supplies
 * an OpenAI-compatible HTTP client; simulation supplies scripted replies.
 */

export interface ProviderCall {
  /** The target model chosen by routing (and retries). */
  model: string;
  /** The messages to send: prompt transforms, reminders and guard feedback applied. */
  messages: ChatMessage[];
  stream: boolean;
  /** 0 for the first attempt of a request. */
  attempt_index: number;
  /** The client's request as received, for pass-through fields (temperature, tools, …). */
  request: ChatRequest;
  /** Aborted when the stream governor halts or the client goes away. */
  signal: AbortSignal;
}

export type ProviderReply =
  | { kind: 'text'; text: string }
  | { kind: 'stream'; chunks: AsyncIterable<string> }
  | { kind: 'error'; status: string; message?: string };

export type Provider = (call: ProviderCall) => Promise<ProviderReply>;

/** The time source of an engine. Simulation and tests pass a manual clock. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = Object.freeze({ now: () => Date.now() });

/** A clock that only moves when told to: deterministic receipts in tests and simulation. */
export class ManualClock implements Clock {
  #now: number;

  constructor(start_ms = 0) {
    this.#now = start_ms;
  }

  now(): number {
    return this.#now;
  }

  /** Move forward by `ms` (never backward). */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0)
      throw new RangeError(`advance(ms): ms must be >= 0, got ${ms}`);
    this.#now += ms;
  }
}
