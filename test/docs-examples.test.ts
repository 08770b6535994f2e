import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';

// Every ```ts block in docs/ and README.md is a complete program a reader may paste: it is
// compiled (types stripped) and run against the built packages. A block that is only a
// fragment says so with ```ts fragment and is skipped.
const root = fileURLToPath(new URL('..', import.meta.url));
const scratch = join(root, 'test', '.docs-examples');

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(path);
    return entry.name.endsWith('.md') ? [path] : [];
  });
}

interface Example {
  file: string;
  line: number;
  code: string;
}

function examples(): Example[] {
  const files = [join(root, 'README.md'), ...markdownFiles(join(root, 'docs'))];
  const found: Example[] = [];
  for (const file of files) {
    const lines = readFileSync(file, 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (lines[i]?.trim() !== '```ts') continue;
      const start = i + 1;
      let end = start;
      while (end < lines.length && lines[end]?.trim() !== '```') end++;
      found.push({
        file: relative(root, file),
        line: start,
        code: lines.slice(start, end).join('\n'),
      });
      i = end;
    }
  }
  return found;
}

mkdirSync(scratch, { recursive: true });
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('documentation examples run as written', () => {
  const all = examples();

  it('finds examples to run', () => {
    expect(all.length).toBeGreaterThanOrEqual(4);
  });

  for (const example of all) {
    it(`${example.file}:${example.line}`, () => {
      const js = transformSync(example.code, {
        loader: 'ts',
        format: 'esm',
        target: 'node20',
      }).code;
      const path = join(
        scratch,
        `${example.file.replace(/[^A-Za-z0-9]/g, '_')}_${example.line}.mjs`,
      );
      writeFileSync(path, js);
      // Throws (and fails the test with the program's stderr) on a non-zero exit.
      execFileSync(process.execPath, [path], { cwd: root, encoding: 'utf8', stdio: 'pipe' });
    });
  }
});
