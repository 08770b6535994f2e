import { WardwrightError } from '../errors/wardwright-error.ts';
import type { ModelReply, ReplyEvent } from './model-reply.ts';
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

/** Provider contract v1's answer: text only (see `TextProvider`). */
export type ProviderReply =
  | { kind: 'text'; text: string }
  | { kind: 'stream'; chunks: AsyncIterable<string> }
  | { kind: 'error'; status: string; message?: string };

/**
 * Provider contract v1: a function that answers with text. Still accepted everywhere a provider
 * is: `modelProvider` adapts it to v2 (its answer becomes a message of one text part).
 */
export type TextProvider = (call: ProviderCall) => Promise<ProviderReply>;

/**
 * Provider contract v2: answers are assistant messages of parts — text, tool calls, refusal,
 * reasoning, opaque parts — with a finish reason and the upstream's token usage, whole or as a
 * stream of events (see model-reply.ts).
 */
export interface ModelProvider {
  readonly specificationVersion: 'v2';
  call(call: ProviderCall): Promise<ModelReply>;
}

/** What the engine takes: a v2 provider, or a v1 text provider (adapted by `modelProvider`). */
export type Provider = ModelProvider | TextProvider;

/**
 * The one adapter from contract v1 to v2: a text answer is a message of one text part that
 * finished with `stop`, a text stream is a stream of text events, and usage is unknown (the
 * engine estimates it).
 */
export function modelProvider(provider: Provider): ModelProvider {
  const problem = providerProblem(provider);
  if (problem !== null) {
    throw new WardwrightError({ code: 'invalid_argument', message: `provider ${problem}` });
  }
  if (typeof provider !== 'function') return provider;
  return {
    specificationVersion: 'v2',
    async call(call) {
      const reply = await provider(call);
      switch (reply.kind) {
        case 'text':
          return {
            kind: 'message',
            parts: reply.text === '' ? [] : [{ type: 'text', text: reply.text }],
            finish_reason: 'stop',
          };
        case 'stream':
          return { kind: 'stream', events: textEvents(reply.chunks) };
        case 'error':
          return reply;
      }
    },
  };
}

/** Why a value is not a provider (v2 object or v1 function), or null when it is one. */
export function providerProblem(value: unknown): string | null {
  if (typeof value === 'function') return null;
  if (typeof value !== 'object' || value === null) {
    return 'must be a ModelProvider ({ specificationVersion: "v2", call }) or a text provider function';
  }
  const version = (value as { specificationVersion?: unknown }).specificationVersion;
  if (version !== 'v2') {
    return `has specificationVersion ${JSON.stringify(version)}; this engine speaks provider contract "v2" (or a v1 text provider function)`;
  }
  if (typeof (value as { call?: unknown }).call !== 'function') {
    return 'has no `call` function';
  }
  return null;
}

async function* textEvents(chunks: AsyncIterable<string>): AsyncGenerator<ReplyEvent> {
  for await (const text of chunks) yield { type: 'text', text };
  yield { type: 'finish', reason: 'stop' };
}

/** The time source of an engine. Simulation and tests pass a manual clock. */
export interface Clock {
  now(): number;
  /**
   * Time moves only when told to (simulation, tests): the engine sets no timers of its own, so
   * the same inputs give the same receipt however the machine schedules them.
   */
  readonly manual?: boolean;
}

export const systemClock: Clock = Object.freeze({ now: () => Date.now() });

/** A clock that only moves when told to: deterministic receipts in tests and simulation. */
export class ManualClock implements Clock {
  readonly manual = true;
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
