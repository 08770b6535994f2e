import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// `npm start` runs this demo against the built package; keep what it shows true.
const demo = fileURLToPath(new URL('./stream-demo.mjs', import.meta.url));

describe('npm start demo', () => {
  it('redacts a split secret, retries before release, reroutes, and shows the clean answer', () => {
    const out = execFileSync(process.execPath, [demo], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
    expect(out).toContain(
      'client received: Set the client up with your key: sk-•••• and call connect(). TODO: retries.',
    );
    expect(out).toContain('mask-api-keys: rewrite_window, window match at bytes 33–48');
    expect(out).toContain('no-removed-client: retry_with_reminder, chunk match at bytes 17–27');
    expect(out).toContain('reroute: 8202 tokens with the reminder > 8192 on small-8k → large-128k');
    expect(out).toContain('client received: To connect, call NewClient.connect(url) and await it.');
    // Nothing the client received (the released column) ever contains the removed API.
    const released = out
      .split('\n')
      .filter((line) => line.includes('→ client') || line.includes('client received:'))
      .map((line) => line.split(/→ client|client received:/)[1] ?? '');
    expect(released.length).toBeGreaterThan(10);
    for (const text of released) expect(text).not.toContain('OldClient');
  });
});
