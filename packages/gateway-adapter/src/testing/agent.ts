import type { UpstreamReply } from '../providers/scripted.ts';

/**
 * One agent the tool-call tests share, whatever client drives it: an artifact that watches the
 * `weather` tool, and an upstream model that calls `weather` and `clock` at once when asked a
 * question and answers from their results once it is shown them.
 */

export const agentArtifact = {
  schema: 'wardwright.artifact.v1',
  model: { id: 'agent', version: '1' },
  targets: [{ model: 'upstream-agent', context_window: 100_000 }],
  request_rules: [
    {
      kind: 'tool',
      id: 'reads-weather',
      tool: { names: ['weather'], phases: ['result_interpretation'] },
      actions: [{ action: 'annotate', message: 'weather result' }],
    },
  ],
};

/** The parallel calls the model makes. */
export const AGENT_CALLS = [
  { id: 'call_w', name: 'weather', arguments: '{"city":"Oslo"}' },
  { id: 'call_c', name: 'clock', arguments: '{"tz":"Europe/Oslo"}' },
];
export const CALL_USAGE = { prompt_tokens: 61, completion_tokens: 23, total_tokens: 84 };
export const FINAL_USAGE = { prompt_tokens: 97, completion_tokens: 9, total_tokens: 106 };

/** The upstream model: calls both tools, or streams `Oslo: <results joined by ", ">`. */
export function agentReply(body: Record<string, unknown>): UpstreamReply {
  const messages = body.messages as { role: string; content?: unknown }[];
  const results = messages.filter((m) => m.role === 'tool').map((m) => toolText(m.content));
  if (results.length === 0) {
    return { kind: 'text', text: '', tool_calls: AGENT_CALLS, usage: CALL_USAGE };
  }
  return { kind: 'stream', chunks: ['Oslo: ', results.join(', ')], usage: FINAL_USAGE };
}

/** A tool message's content: a string, or text parts (as some clients send it). */
function toolText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((part) => (part as { text?: unknown }).text ?? '').join('');
  }
  return String(content);
}

/** What the client-side tools return, so every test can check the same final answer. */
export const weatherIn = (city: string): string => `3 °C in ${city}`;
export const timeIn = (tz: string): string => `14:00 in ${tz}`;
export const FINAL_TEXT = `Oslo: ${weatherIn('Oslo')}, ${timeIn('Europe/Oslo')}`;
