import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AssistantPart,
  finishReasonOf,
  impliedFinish,
  MessageAssembler,
  messageEvents,
  type ReplyEvent,
} from './model-reply.ts';
import { modelProvider } from './provider.ts';

const text = fc.string({ minLength: 1, maxLength: 12 });
const part: fc.Arbitrary<AssistantPart> = fc.oneof(
  text.map((t) => ({ type: 'text' as const, text: t })),
  fc
    .record({ id: fc.string({ minLength: 1, maxLength: 8 }), name: text, arguments: fc.json() })
    .map((c) => ({ type: 'tool_call' as const, ...c })),
  text.map((t) => ({ type: 'refusal' as const, text: t })),
  text.map((t) => ({ type: 'reasoning' as const, text: t })),
);

/** Adjacent parts of one text kind would merge when streamed: a message never has them. */
function canonical(parts: AssistantPart[]): AssistantPart[] {
  const out: AssistantPart[] = [];
  for (const p of parts) {
    const last = out[out.length - 1];
    if (
      last !== undefined &&
      last.type === p.type &&
      (p.type === 'text' || p.type === 'refusal' || p.type === 'reasoning')
    ) {
      out[out.length - 1] = { ...p, text: (last as { text: string }).text + p.text };
    } else out.push(p);
  }
  return out;
}

/** Split every event's text or arguments into fragments, as an upstream stream would. */
function fragment(events: ReplyEvent[], cuts: number[]): ReplyEvent[] {
  const out: ReplyEvent[] = [];
  let c = 0;
  const cut = (s: string) => {
    const at = s.length === 0 ? 0 : (cuts[c++ % cuts.length] ?? 0) % (s.length + 1);
    return [s.slice(0, at), s.slice(at)] as const;
  };
  for (const e of events) {
    if (e.type === 'text' || e.type === 'refusal' || e.type === 'reasoning') {
      const [a, b] = cut(e.text);
      out.push({ ...e, text: a }, { ...e, text: b });
    } else if (e.type === 'tool_call') {
      const [a, b] = cut(e.arguments ?? '');
      out.push({ ...e, arguments: a }, { type: 'tool_call', index: e.index, arguments: b });
    } else out.push(e);
  }
  return out;
}

describe('stream events and messages', () => {
  it('a message streamed in any fragments assembles back to itself', () => {
    fc.assert(
      fc.property(
        fc.array(part, { maxLength: 6 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
        (parts, cuts) => {
          const message = canonical(parts);
          const assembler = new MessageAssembler();
          const usage = { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 };
          for (const e of fragment(
            [...messageEvents(message, impliedFinish(message), usage)],
            cuts,
          )) {
            assembler.add(e);
          }
          expect(assembler.parts).toEqual(message);
          expect(assembler.finish_reason).toBe(impliedFinish(message));
          expect(assembler.usage).toEqual(usage);
          expect(assembler.text).toBe(
            message.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join(''),
          );
        },
      ),
    );
  });

  it('interleaved tool-call fragments join under their index, in order of first appearance', () => {
    const a = new MessageAssembler();
    const events: ReplyEvent[] = [
      { type: 'text', text: 'Let me look.' },
      { type: 'tool_call', index: 0, id: 'call_a', name: 'search', arguments: '{"q":' },
      { type: 'tool_call', index: 1, id: 'call_b', name: 'fetch', arguments: '{"url"' },
      { type: 'tool_call', index: 0, arguments: '"x"}' },
      { type: 'tool_call', index: 1, arguments: ':"y"}' },
      { type: 'finish', reason: 'tool_calls' },
    ];
    for (const e of events) a.add(e);
    expect(a.toolCalls).toEqual([
      { type: 'tool_call', id: 'call_a', name: 'search', arguments: '{"q":"x"}' },
      { type: 'tool_call', id: 'call_b', name: 'fetch', arguments: '{"url":"y"}' },
    ]);
    expect(a.text).toBe('Let me look.');
  });

  it('names upstream finish reasons in our terms', () => {
    expect(['stop', 'length', 'tool_calls', 'content_filter'].map(finishReasonOf)).toEqual([
      'stop',
      'length',
      'tool_calls',
      'content_filter',
    ]);
    expect(finishReasonOf('function_call')).toBe('tool_calls');
    expect(finishReasonOf('end_turn')).toBe('other');
    expect(finishReasonOf(null)).toBeNull();
  });
});

describe('modelProvider: the v1 adapter', () => {
  const call = {
    model: 'm',
    messages: [],
    stream: false,
    attempt_index: 0,
    request: { messages: [{ role: 'user' as const, content: 'hi' }] },
    signal: new AbortController().signal,
  };

  it('answers a text reply as a message of one text part, a text stream as text events', async () => {
    const whole = modelProvider(async () => ({ kind: 'text', text: 'hello' }));
    expect(await whole.call(call)).toEqual({
      kind: 'message',
      parts: [{ type: 'text', text: 'hello' }],
      finish_reason: 'stop',
    });
    const streamed = modelProvider(async () => ({
      kind: 'stream',
      chunks: (async function* () {
        yield 'a';
        yield 'b';
      })(),
    }));
    const reply = await streamed.call(call);
    if (reply.kind !== 'stream') throw new Error('expected a stream');
    const events: ReplyEvent[] = [];
    for await (const e of reply.events) events.push(e);
    expect(events).toEqual([
      { type: 'text', text: 'a' },
      { type: 'text', text: 'b' },
      { type: 'finish', reason: 'stop' },
    ]);
    const failing = modelProvider(async () => ({ kind: 'error', status: 'x' }));
    expect(await failing.call(call)).toEqual({ kind: 'error', status: 'x' });
  });

  it('passes a v2 provider through unchanged', () => {
    const v2 = {
      specificationVersion: 'v2' as const,
      call: async () => ({ kind: 'error' as const, status: 'x' }),
    };
    expect(modelProvider(v2)).toBe(v2);
  });
});
