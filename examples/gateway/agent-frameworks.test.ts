import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The example runs against the built packages; keep what it prints true.
const example = fileURLToPath(new URL('./agent-frameworks.mjs', import.meta.url));

describe('examples/gateway/agent-frameworks.mjs', () => {
  it('runs the tool loop with the AI SDK and LangChain, and streams a guarded object', () => {
    const result = spawnSync(process.execPath, [example], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const answer = 'In Oslo: 3 °C in Oslo, 14:00 in Europe/Oslo';
    expect(result.stdout).toContain('ai sdk calls:     weather, clock');
    expect(result.stdout).toContain(`ai sdk answer:    ${answer}`);
    expect(result.stdout).toContain('langchain calls:  weather, clock');
    expect(result.stdout).toContain(`langchain answer: ${answer}`);
    expect(result.stdout).toContain('streamed object:  {"city":"Oslo","celsius":3}');
    // Two for each agent loop, two for the object (the fenced attempt and its retry).
    expect(result.stdout).toContain('upstream calls:   6');
  });
});
