import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type ModelProvider,
  type ProviderCall,
  type ScriptedReply,
  scriptedReply,
} from '@wardwright/core';
import { GatewayError } from '../errors.ts';

/**
 * Deterministic providers for demos, tests and benchmarks: `scriptedProvider` answers in
 * process; `startScriptedUpstream` is a tiny real OpenAI-compatible HTTP server on 127.0.0.1
 * that can also misbehave on cue (500/429, hang, disconnect mid-stream, malformed SSE).
 */

export type { ScriptedReply } from '@wardwright/core';

export type Script =
  | ScriptedReply
  | readonly ScriptedReply[]
  | ((call: ProviderCall) => ScriptedReply | Promise<ScriptedReply>);

/**
 * A provider that answers from a script: one reply for every call, a list indexed by
 * `attempt_index` (the last entry repeats, so `[bad, good]` means "fail once, then succeed"
 * for every request), or a function of the call. A reply is text, tool calls, a refusal, a
 * stream of chunks or an error (`ScriptedReply`, the shape simulation fixtures use); a whole
 * answer to a streaming call is streamed part by part, and chunks to a whole-answer call are
 * joined.
 */
export function scriptedProvider(script: Script): ModelProvider {
  if (typeof script === 'function') {
    return {
      specificationVersion: 'v2',
      call: async (call) => scriptedReply(await script(call), { stream: call.stream }),
    };
  }
  const list: readonly ScriptedReply[] = Array.isArray(script) ? script : [script as ScriptedReply];
  if (list.length === 0) {
    throw new GatewayError('invalid_option', 'scriptedProvider: the script has no replies');
  }
  return {
    specificationVersion: 'v2',
    call: async (call) =>
      scriptedReply(list[Math.min(call.attempt_index, list.length - 1)]!, { stream: call.stream }),
  };
}

// ---------------------------------------------------------------------------------------------
// The scripted upstream: a real HTTP server
// ---------------------------------------------------------------------------------------------

/** What a scripted upstream's answer holds besides its text. */
export interface UpstreamAnswerExtras {
  /** Tool calls, after the text; streamed as OpenAI does (a head with id and name, then the
   * arguments in two fragments), one call after the other. */
  tool_calls?: readonly { id: string; name: string; arguments: string }[];
  refusal?: string;
  /** Default `tool_calls` when there are calls, else `stop`. */
  finish_reason?: string;
  /**
   * The usage reported (on a stream: only when the request asks with
   * `stream_options.include_usage`). Default: ⌈bytes / 4⌉ of the messages and of the answer;
   * null reports none.
   */
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
}

export type UpstreamReply =
  /** A whole answer (JSON), or one content chunk when the request streams. */
  | ({ kind: 'text'; text: string } & UpstreamAnswerExtras)
  /** Content deltas (SSE), or their concatenation when the request does not stream. */
  | ({ kind: 'stream'; chunks: readonly string[] } & UpstreamAnswerExtras)
  /** An error status with an OpenAI error body; `retryAfter` (seconds) sets the header. */
  | { kind: 'status'; status: number; message?: string; retryAfter?: number }
  /** Never answer: the request waits until the client gives up (timeouts). */
  | { kind: 'hang' }
  /** Stream `chunks`, then stop sending but keep the socket open (client aborts, idle timeouts). */
  | { kind: 'stall'; chunks: readonly string[] }
  /** Stream `chunks`, then destroy the socket without `[DONE]`. */
  | { kind: 'disconnect'; chunks: readonly string[] }
  /** Stream `chunks`, then a frame whose data is not JSON. */
  | { kind: 'malformed'; chunks: readonly string[] };

export interface UpstreamRequest {
  /** The parsed JSON body. */
  body: Record<string, unknown>;
  headers: IncomingMessage['headers'];
  /** Resolves with `performance.now()` when the client's socket closes or the answer ends. */
  closed: Promise<number>;
  /** Whether the answer was sent completely before the connection closed. */
  completed: () => boolean;
}

export interface ScriptedUpstream {
  /** Base URL, e.g. `http://127.0.0.1:34567/v1` (pass it to `openAICompatible`). */
  url: string;
  /** Every request received, in order. */
  requests: UpstreamRequest[];
  close(): Promise<void>;
}

export interface ScriptedUpstreamOptions {
  /** Replies in request order; the last one repeats. Or a function of the request. */
  replies:
    | readonly UpstreamReply[]
    | ((body: Record<string, unknown>, index: number) => UpstreamReply);
  /** Default 0 (any free port). */
  port?: number;
}

export async function startScriptedUpstream(
  options: ScriptedUpstreamOptions,
): Promise<ScriptedUpstream> {
  const replies = options.replies;
  if (Array.isArray(replies) && replies.length === 0) {
    throw new GatewayError('invalid_option', 'startScriptedUpstream: replies is empty');
  }
  const requests: UpstreamRequest[] = [];
  const created = Math.floor(Date.now() / 1000);
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, unknown>;
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"body is not JSON","type":"invalid_request_error"}}');
        return;
      }
      const index = requests.length;
      let completed = false;
      const closed = new Promise<number>((resolve) => {
        res.once('close', () => resolve(performance.now()));
      });
      res.once('finish', () => {
        completed = true;
      });
      requests.push({ body, headers: req.headers, closed, completed: () => completed });
      const reply =
        typeof replies === 'function'
          ? replies(body, index)
          : (replies as readonly UpstreamReply[])[Math.min(index, replies.length - 1)]!;
      answer(res, reply, body, created);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function answer(
  res: ServerResponse,
  reply: UpstreamReply,
  body: Record<string, unknown>,
  created: number,
): void {
  const model = typeof body.model === 'string' ? body.model : 'scripted';
  const stream = body.stream === true;
  switch (reply.kind) {
    case 'hang':
      return;
    case 'status': {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (reply.retryAfter !== undefined) headers['retry-after'] = String(reply.retryAfter);
      res.writeHead(reply.status, headers);
      res.end(
        JSON.stringify({
          error: {
            message: reply.message ?? `scripted status ${reply.status}`,
            type: 'server_error',
            param: null,
            code: null,
          },
        }),
      );
      return;
    }
    case 'text':
    case 'stream': {
      const chunks = reply.kind === 'text' ? [reply.text] : reply.chunks;
      const calls = reply.tool_calls ?? [];
      const finish = reply.finish_reason ?? (calls.length > 0 ? 'tool_calls' : 'stop');
      const usage = reply.usage === undefined ? estimatedUsage(body, chunks, calls) : reply.usage;
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(completion(model, created, chunks.join(''), reply, finish, usage)));
        return;
      }
      sseHead(res);
      for (const chunk of chunks) {
        if (chunk !== '') res.write(chunkFrame(model, created, { content: chunk }, null));
      }
      calls.forEach((call, index) => {
        const head = {
          index,
          id: call.id,
          type: 'function',
          function: { name: call.name, arguments: '' },
        };
        res.write(chunkFrame(model, created, { tool_calls: [head] }, null));
        for (const piece of halves(call.arguments)) {
          res.write(
            chunkFrame(
              model,
              created,
              { tool_calls: [{ index, function: { arguments: piece } }] },
              null,
            ),
          );
        }
      });
      if (reply.refusal !== undefined) {
        res.write(chunkFrame(model, created, { refusal: reply.refusal }, null));
      }
      res.write(chunkFrame(model, created, {}, finish));
      const options = body.stream_options as { include_usage?: unknown } | undefined;
      if (usage !== null && options?.include_usage === true) {
        res.write(
          `data: ${JSON.stringify({ id: 'chatcmpl-scripted', object: 'chat.completion.chunk', created, model, choices: [], usage })}\r\n\r\n`,
        );
      }
      res.end('data: [DONE]\n\n');
      return;
    }
    case 'stall':
    case 'disconnect':
    case 'malformed': {
      sseHead(res);
      for (const chunk of reply.chunks) {
        res.write(chunkFrame(model, created, { content: chunk }, null));
      }
      if (reply.kind === 'disconnect') {
        // Once the frames have left, cut the socket: the client sees an answer end mid-way.
        res.write('', () => res.destroy());
      } else if (reply.kind === 'malformed') {
        res.write('data: {"choices":[{"delta":{"content":"x"}\n\n');
        res.end('data: [DONE]\n\n');
      }
      return;
    }
  }
}

function sseHead(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  // A comment first: keep-alive lines must be skipped by the client's parser.
  res.write(': scripted upstream\n\n');
}

function chunkFrame(
  model: string,
  created: number,
  delta: Record<string, unknown>,
  finish: string | null,
): string {
  return `data: ${JSON.stringify({
    id: 'chatcmpl-scripted',
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  })}\r\n\r\n`;
}

function completion(
  model: string,
  created: number,
  text: string,
  extras: UpstreamAnswerExtras,
  finish: string,
  usage: UpstreamAnswerExtras['usage'],
) {
  const calls = extras.tool_calls ?? [];
  const message: Record<string, unknown> = {
    role: 'assistant',
    content: text === '' && calls.length > 0 ? null : text,
    refusal: extras.refusal ?? null,
  };
  if (calls.length > 0) {
    message.tool_calls = calls.map((call) => ({
      id: call.id,
      type: 'function',
      function: { name: call.name, arguments: call.arguments },
    }));
  }
  const answer: Record<string, unknown> = {
    id: 'chatcmpl-scripted',
    object: 'chat.completion',
    created,
    model,
    choices: [{ index: 0, message, finish_reason: finish }],
  };
  if (usage !== null && usage !== undefined) answer.usage = usage;
  return answer;
}

/** What a real upstream would roughly count: ~4 bytes a token. */
function estimatedUsage(
  body: Record<string, unknown>,
  chunks: readonly string[],
  calls: NonNullable<UpstreamAnswerExtras['tool_calls']>,
) {
  const prompt_tokens = Math.ceil(Buffer.byteLength(JSON.stringify(body.messages ?? [])) / 4);
  let bytes = 0;
  for (const chunk of chunks) bytes += Buffer.byteLength(chunk);
  for (const call of calls) bytes += Buffer.byteLength(call.arguments);
  const completion_tokens = Math.ceil(bytes / 4);
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

/** The arguments in two fragments, split between code points, as a stream would cut them. */
function halves(text: string): string[] {
  if (text.length < 2) return text === '' ? [] : [text];
  let cut = text.length >> 1;
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut++;
  return [text.slice(0, cut), text.slice(cut)];
}
