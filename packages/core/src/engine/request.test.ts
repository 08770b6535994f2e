import { describe, expect, it } from 'vitest';
import {
  contentText,
  lastUserMessage,
  renderRequestText,
  toolContextOf,
  toolNamespace,
} from './request.ts';

describe('request helpers', () => {
  it('reads text from strings, null and content parts', () => {
    expect(contentText('a')).toBe('a');
    expect(contentText(null)).toBe('');
    expect(contentText(undefined)).toBe('');
    expect(
      contentText([
        { type: 'text', text: 'a' },
        { type: 'image_url' },
        { type: 'text', text: 'b' },
      ]),
    ).toBe('a\nb');
  });

  it('renders every message as role and content, and finds the last user message', () => {
    const messages = [
      { role: 'system' as const, content: 'S' },
      { role: 'user' as const, content: 'U1' },
      { role: 'assistant' as const, content: 'A' },
      { role: 'user' as const, content: 'U2' },
    ];
    expect(renderRequestText(messages)).toBe('system\nS\nuser\nU1\nassistant\nA\nuser\nU2');
    expect(lastUserMessage(messages)).toBe('U2');
    expect(lastUserMessage([{ role: 'system', content: 'x' }])).toBe('');
  });

  it('infers the tool context from a trailing tool result, or from offered tools', () => {
    const call = (id: string, name: string) => ({ id, type: 'function', function: { name } });
    expect(
      toolContextOf({
        messages: [
          {
            role: 'assistant',
            content: null,
            tool_calls: [call('a', 'git.status'), call('b', 'fs.read')],
          },
          { role: 'tool', tool_call_id: 'b', content: 'x' },
        ],
      }),
    ).toEqual({ phase: 'result_interpretation', names: ['fs.read'] });
    expect(
      toolContextOf({ messages: [{ role: 'tool', tool_call_id: 'zzz', content: 'x' }] }),
    ).toEqual({ phase: 'result_interpretation', names: [] });
    expect(
      toolContextOf({
        messages: [{ role: 'user', content: 'x' }],
        tools: [{ function: { name: 'a' } }],
      }),
    ).toEqual({ phase: 'planning', names: ['a'] });
    expect(toolContextOf({ messages: [{ role: 'user', content: 'x' }], tools: [] })).toEqual({
      phase: null,
      names: [],
    });
  });

  it('takes the namespace before the first dot or double underscore', () => {
    expect(toolNamespace('shell.exec')).toBe('shell');
    expect(toolNamespace('github__create_issue')).toBe('github');
    expect(toolNamespace('a__b.c')).toBe('a');
    expect(toolNamespace('plain')).toBe('plain');
    expect(toolNamespace('.hidden')).toBe('.hidden');
  });
});
