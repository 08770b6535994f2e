import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, normalize } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';
import { afterAll, describe, it } from 'vitest';

// A fresh clone follows the documentation (issue 16). The files a clone of this work tree would
// hold (`git ls-files -co --exclude-standard`: tracked, uncommitted edits included, and untracked
// files that are not ignored) are copied to a temporary folder, and every ```sh command of
// README.md and docs/guides/*.md runs there, line by line, in order: `npm install` first, as a
// newcomer would. A command fails the test when it exits non-zero or prints a stack trace.
//
// - `npm test` is skipped: it is the suite this test belongs to.
// - `npm start` and `wardwright serve` run until their banner, on a free port (`--port 0`, the
//   CLI's override; examples/serve/serve.test.ts picks a free port too), answer one chat
//   request and one receipts query, and are stopped with SIGINT, as Ctrl-C would.
// - README commands run in the checkout; a block marked `<!-- cwd: project -->` runs in "your
//   project" instead, a fresh `npm init -y` folder. A guide is written for your own project:
//   all of it runs in such a folder of its own.
// - `<!-- file: PATH -->` before a fenced block means "the block is the whole of this file": the
//   runner writes it (in the project) where it appears, so later commands see it.
// - The packages are not on the registry yet, so in a project `npm install @wardwright/x` installs
//   tarballs packed (`npm pack`) from the checkout instead: x's and those of the Wardwright
//   packages it needs (dependencies and required peers), as the registry would resolve them.
// - A path under /tmp/ in a command is moved into this test's temporary folder.
// - The ```ts examples of a document run after its commands, in its project, against the
//   installed tarballs: as ESM (types stripped by esbuild) and as CommonJS (imports rewritten
//   to require, the body wrapped in an async function). This is the pack-and-install dry run.
//
// The Node 24 CI leg installs with --ignore-scripts and sets WARDWRIGHT_SKIP_FRESH_CLONE.

const root = fileURLToPath(new URL('..', import.meta.url));
const DOCS = [
  'README.md',
  ...readdirSync(join(root, 'docs', 'guides'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/guides/${name}`),
];

/** The whole run, set-up included: an install alone takes ~3 min on a busy 2-core machine. */
const BUDGET_MS = 15 * 60_000;
const INSTALL_MS = 10 * 60_000;
const COMMAND_MS = 3 * 60_000;
const BANNER_MS = 2 * 60_000;
const STOP_MS = 30_000;

type Where = 'checkout' | 'project';

type Step =
  | { kind: 'copy' }
  | { kind: 'init'; doc: string }
  | { kind: 'file'; doc: string; line: number; path: string; content: string }
  | { kind: 'run'; doc: string; line: number; command: string; where: Where }
  | { kind: 'serve'; doc: string; line: number; command: string; where: Where }
  | { kind: 'skip'; doc: string; line: number; command: string; reason: string }
  | { kind: 'example'; doc: string; line: number; code: string; format: 'esm' | 'cjs' };

interface Block {
  line: number;
  lang: string;
  body: string[];
  marker?: { kind: 'file' | 'cwd'; value: string };
}

const MARKER = /^<!--\s*(file|cwd):\s*(.+?)\s*-->$/;

function blocksOf(doc: string): Block[] {
  const lines = readFileSync(join(root, doc), 'utf8').split('\n');
  const blocks: Block[] = [];
  let pending: { kind: 'file' | 'cwd'; value: string; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!;
    const marker = MARKER.exec(text.trim());
    if (marker !== null) {
      if (pending !== undefined) throw new Error(`${doc}:${pending.line}: a marker without block`);
      pending = { kind: marker[1] as 'file' | 'cwd', value: marker[2]!, line: i + 1 };
      continue;
    }
    const fence = /^```(\S*)/.exec(text);
    if (fence === null) {
      if (pending !== undefined && text.trim() !== '') {
        throw new Error(`${doc}:${pending.line}: a marker must come right before a fenced block`);
      }
      continue;
    }
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    const block: Block = { line: i + 2, lang: fence[1]!, body: lines.slice(i + 1, end) };
    if (pending !== undefined) block.marker = { kind: pending.kind, value: pending.value };
    blocks.push(block);
    pending = undefined;
    i = end;
  }
  return blocks;
}

/** The commands of a ```sh block with their lines: comments dropped, `\` continuations joined. */
function commandsOf(block: Block): { line: number; command: string }[] {
  const commands: { line: number; command: string }[] = [];
  let current: { line: number; command: string } | undefined;
  block.body.forEach((raw, index) => {
    const text = raw.replace(/(^|\s)#.*$/, '').trim();
    if (current === undefined) {
      if (text === '') return;
      current = { line: block.line + index, command: '' };
    }
    const continued = text.endsWith('\\');
    current.command += `${current.command === '' ? '' : ' '}${continued ? text.slice(0, -1).trim() : text}`;
    if (!continued) {
      commands.push(current);
      current = undefined;
    }
  });
  if (current !== undefined) commands.push(current);
  return commands;
}

const LONG_RUNNING = /^npm (start|run start)\b|\bwardwright serve\b/;

function stepsOf(doc: string): Step[] {
  const home: Where = doc === 'README.md' ? 'checkout' : 'project';
  const steps: Step[] = [];
  const examples: Step[] = [];
  for (const block of blocksOf(doc)) {
    if (block.marker?.kind === 'file') {
      const path = normalize(block.marker.value);
      if (isAbsolute(path) || path.startsWith('..')) {
        throw new Error(`${doc}:${block.line}: a file marker names a path outside the project`);
      }
      const content = `${block.body.join('\n')}\n`;
      steps.push({ kind: 'file', doc, line: block.line, path, content });
    } else if (block.lang === 'sh') {
      let where = home;
      if (block.marker !== undefined) {
        if (block.marker.value !== 'project') {
          throw new Error(`${doc}:${block.line}: cwd marker must say "project"`);
        }
        where = 'project';
      }
      for (const { line, command } of commandsOf(block)) {
        if (/^npm (test|t|run test)$/.test(command)) {
          const reason = 'it is the suite this test belongs to';
          steps.push({ kind: 'skip', doc, line, command, reason });
        } else if (LONG_RUNNING.test(command)) {
          steps.push({ kind: 'serve', doc, line, command, where });
        } else {
          steps.push({ kind: 'run', doc, line, command, where });
        }
      }
    } else if (block.lang === 'ts') {
      const code = block.body.join('\n');
      examples.push({ kind: 'example', doc, line: block.line, code, format: 'esm' });
      examples.push({ kind: 'example', doc, line: block.line, code, format: 'cjs' });
    }
  }
  const all = [...steps, ...examples];
  const first = all.findIndex(
    (step) =>
      step.kind === 'file' ||
      step.kind === 'example' ||
      ('where' in step && step.where === 'project'),
  );
  if (first >= 0) all.splice(first, 0, { kind: 'init', doc });
  return all;
}

function titleOf(step: Step): string {
  switch (step.kind) {
    case 'copy':
      return 'copies the work tree as a fresh clone (git ls-files -co --exclude-standard)';
    case 'init':
      return `${step.doc}: a fresh project (npm init -y)`;
    case 'file':
      return `${step.doc}:${step.line} writes ${step.path}`;
    case 'run':
      return `${step.doc}:${step.line} (${step.where}) $ ${step.command}`;
    case 'serve':
      return `${step.doc}:${step.line} (${step.where}) $ ${step.command} — serves, answers, stops on SIGINT`;
    case 'skip':
      return `${step.doc}:${step.line} $ ${step.command} — skipped: ${step.reason}`;
    case 'example':
      return `${step.doc}:${step.line} runs the ts example in the project as ${step.format === 'esm' ? 'ESM (.mjs)' : 'CommonJS (.cjs)'}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Child processes: each in its own process group (so a timeout or a stop reaches npm's children
// too), with an environment free of what `npm test` and vitest put into this one.

/** The environment a newcomer's shell would have: no npm run-script or vitest variables. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|VITEST)/i.test(key) || key === 'INIT_CWD' || key === 'FORCE_COLOR') continue;
    if ((key === 'NODE_ENV' && value === 'test') || (key === 'TEST' && value === 'true')) continue;
    env[key] = value;
  }
  // `npm run` puts the repository's node_modules/.bin (and node-gyp's) first on PATH.
  env.PATH = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => !/node_modules[\\/]\.bin$|node-gyp-bin$/.test(dir))
    .join(delimiter);
  env.NO_COLOR = '1';
  return env;
}

const env = cleanEnv();
const running = new Set<ChildProcess>();

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

interface Started {
  child: ChildProcess;
  output: () => { stdout: string; stderr: string };
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(command: string, cwd: string, reap = true): Started {
  const child = spawn('/bin/sh', ['-c', command], {
    cwd,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    // Whatever a command left behind in its group goes with it. ('close' waits for every
    // process holding the output pipes, so a server stopping after its npm parent waits too.)
    if (reap) child.on('exit', () => signalGroup(child, 'SIGKILL'));
    child.on('error', (error) => {
      stderr += `${error.stack ?? error.message}\n`;
      running.delete(child);
      done({ code: null, signal: null });
    });
    child.on('close', (code, signal) => {
      running.delete(child);
      done({ code, signal });
    });
  });
  return { child, output: () => ({ stdout, stderr }), closed };
}

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

async function run(command: string, cwd: string, limitMs: number): Promise<Result> {
  const started = start(command, cwd);
  const timer = sleep(limitMs, 'timeout' as const);
  const first = await Promise.race([started.closed, timer]);
  if (first === 'timeout') signalGroup(started.child, 'SIGKILL');
  const { code, signal } = await started.closed;
  return { code, signal, ...started.output(), timedOut: first === 'timeout' };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences
const ANSI = /\u001b\[[0-9;]*m/g;

/** The first line that looks like a stack frame or an internal error, if any. */
function traceIn(output: string): string | undefined {
  return output
    .replace(ANSI, '')
    .split('\n')
    .find(
      (line) =>
        /^\s+at .+\(.*:\d+:\d+\)$/.test(line) ||
        /^\s+at (async )?\S+:\d+:\d+$/.test(line) ||
        /internal error[:,]/i.test(line),
    );
}

function tail(text: string, max = 6_000): string {
  const trimmed = text.trimEnd();
  return trimmed.length <= max ? trimmed : `…${trimmed.slice(-max)}`;
}

// ---------------------------------------------------------------------------------------------
// The run's state: one temporary folder for everything, removed afterwards.

let temp = '';
let deadline = 0;
let failed: string | undefined;
const projects = new Map<string, string>();
const installed = new Map<string, Set<string>>();
let tarballs: Map<string, string> | undefined;

const checkout = () => join(temp, 'wardwright');

function remaining(limitMs: number): number {
  const left = deadline - Date.now();
  if (left <= 0) throw new Error(`the ${BUDGET_MS / 60_000}-minute budget of this test is spent`);
  return Math.min(limitMs, left);
}

function log(message: string): void {
  process.stdout.write(`[fresh-clone] ${message}\n`);
}

async function runChecked(
  where: string,
  command: string,
  cwd: string,
  label: string,
  limitMs = /^npm (install|i|ci)\b/.test(command) ? INSTALL_MS : COMMAND_MS,
): Promise<Result> {
  const limit = remaining(limitMs);
  const began = Date.now();
  const result = await run(command, cwd, limit);
  log(`${where} (${label}) $ ${command} — ${((Date.now() - began) / 1000).toFixed(1)} s`);
  const problems: string[] = [];
  if (result.timedOut) problems.push(`did not finish within ${Math.round(limit / 1000)} s`);
  else if (result.code !== 0) {
    problems.push(`exited with ${result.code ?? result.signal ?? 'an error'}`);
  }
  const trace = traceIn(`${result.stdout}\n${result.stderr}`);
  if (trace !== undefined)
    problems.push(`printed a stack trace or internal error: ${trace.trim()}`);
  // Set-up is clean on every supported Node: no EBADENGINE, no unreviewed install scripts.
  const warning = /^npm warn .*$/m.exec(result.stderr);
  if (label === 'checkout' && /^npm (install|ci)$/.test(command) && warning !== null) {
    problems.push(`warned: ${warning[0]}`);
  }
  if (problems.length > 0) {
    throw new Error(
      `${where}: \`${command}\` (in ${label}, ${cwd}) ${problems.join('; ')}\n` +
        `--- stdout ---\n${tail(result.stdout)}\n--- stderr ---\n${tail(result.stderr)}`,
    );
  }
  return result;
}

function copyWorkTree(to: string): number {
  const listed = execFileSync('git', ['ls-files', '-z', '-co', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
    .split('\0')
    .filter((path) => path !== '');
  let copied = 0;
  for (const path of new Set(listed)) {
    const from = join(root, path);
    const target = join(to, path);
    try {
      const stat = lstatSync(from);
      mkdirSync(dirname(target), { recursive: true });
      if (stat.isSymbolicLink()) symlinkSync(readlinkSync(from), target);
      else if (stat.isDirectory()) cpSync(from, target, { recursive: true });
      else copyFileSync(from, target);
      copied++;
    } catch (error) {
      // Deleted in the work tree (not yet staged): a clone of it would not have it either.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return copied;
}

function projectOf(doc: string): string {
  const project = projects.get(doc);
  if (project === undefined) throw new Error(`${doc}: no project was made`);
  return project;
}

function cwdOf(step: { doc: string; where: Where }): string {
  return step.where === 'checkout' ? checkout() : projectOf(step.doc);
}

/** Paths under /tmp/ in a documented command go into this test's temporary folder. */
function localised(command: string): string {
  return command.replace(/(^|[\s='"])\/tmp\//g, `$1${join(temp, 'tmp')}/`);
}

interface Manifest {
  name: string;
  private?: boolean;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

function workspaceManifests(): Map<string, Manifest> {
  const rootManifest = JSON.parse(readFileSync(join(checkout(), 'package.json'), 'utf8')) as {
    workspaces: string[];
  };
  const manifests = new Map<string, Manifest>();
  for (const dir of rootManifest.workspaces) {
    const manifest = JSON.parse(
      readFileSync(join(checkout(), dir, 'package.json'), 'utf8'),
    ) as Manifest;
    if (manifest.private !== true) manifests.set(manifest.name, manifest);
  }
  return manifests;
}

/** Packs every public workspace package of the checkout, once: name → tarball path. */
async function packed(where: string): Promise<Map<string, string>> {
  if (tarballs !== undefined) return tarballs;
  const destination = join(temp, 'packs');
  mkdirSync(destination, { recursive: true });
  const names = [...workspaceManifests().keys()];
  const command = `npm pack --json --pack-destination ${destination} ${names.map((name) => `--workspace ${name}`).join(' ')}`;
  const result = await runChecked(where, command, checkout(), 'checkout');
  const list = JSON.parse(result.stdout) as { name: string; filename: string }[];
  tarballs = new Map(list.map((entry) => [entry.name, join(destination, entry.filename)]));
  return tarballs;
}

/**
 * `npm install [flags] @wardwright/x…` in a project, rewritten to install the packed tarballs of
 * the named packages and of the Wardwright packages they need (dependencies and required
 * peers) that are not installed yet; undefined for any other command.
 */
async function withTarballs(
  command: string,
  doc: string,
  where: string,
): Promise<string | undefined> {
  const words = command.split(/\s+/);
  if (words[0] !== 'npm' || !['install', 'i', 'add'].includes(words[1] ?? '')) return undefined;
  const named = words.slice(2).filter((word) => word.startsWith('@wardwright/'));
  if (named.length === 0) return undefined;
  const manifests = workspaceManifests();
  const done = installed.get(doc) ?? new Set<string>();
  installed.set(doc, done);
  const wanted = new Set<string>();
  const visit = (name: string) => {
    const manifest = manifests.get(name);
    if (manifest === undefined) throw new Error(`${where}: ${name} is not a public workspace`);
    if (wanted.has(name)) return;
    wanted.add(name);
    const peers = Object.keys(manifest.peerDependencies ?? {}).filter(
      (peer) => manifest.peerDependenciesMeta?.[peer]?.optional !== true,
    );
    for (const used of [...Object.keys(manifest.dependencies ?? {}), ...peers]) {
      if (manifests.has(used) && !done.has(used)) visit(used);
    }
  };
  for (const word of named) visit(word.replace(/^(@wardwright\/[^@]+)@.*$/, '$1'));
  const packs = await packed(where);
  for (const name of wanted) done.add(name);
  const files = [...wanted].map((name) => packs.get(name)!);
  const rest = words.filter((word) => !word.startsWith('@wardwright/'));
  return [...rest, ...files].join(' ');
}

async function serveAndStop(where: string, command: string, cwd: string, label: string) {
  // A free port, so nothing else listening on the config's port (8787) is in the way.
  const onFreePort = /--port\b/.test(command)
    ? command
    : /^npm /.test(command)
      ? `${command} -- --port 0`
      : `${command} --port 0`;
  const began = Date.now();
  const server = start(onFreePort, cwd, false);
  const report = (problem: string) => {
    const { stdout, stderr } = server.output();
    return new Error(
      `${where}: \`${onFreePort}\` (in ${label}, ${cwd}) ${problem}\n` +
        `--- stdout ---\n${tail(stdout)}\n--- stderr ---\n${tail(stderr)}`,
    );
  };
  let exited = false;
  void server.closed.then(() => {
    exited = true;
  });
  try {
    const bannerBy = Date.now() + remaining(BANNER_MS);
    let banner: RegExpExecArray | null = null;
    while (banner === null) {
      banner = /serving (\S+?)[,\s].*? on (http:\/\/\S+)/.exec(
        server.output().stdout.replace(ANSI, ''),
      );
      if (banner !== null) break;
      if (exited) throw report('exited before its banner (`serving … on http://…`)');
      if (Date.now() > bannerBy) throw report('printed no banner in time');
      await sleep(100);
    }
    const [, model, url] = banner;
    log(`${where} serving on ${url} after ${((Date.now() - began) / 1000).toFixed(1)} s`);
    const chat = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }] }),
      signal: AbortSignal.timeout(30_000),
    });
    const answer = await chat.text();
    if (chat.status !== 200) {
      throw report(`answered POST /v1/chat/completions with ${chat.status}: ${answer}`);
    }
    if (!Array.isArray((JSON.parse(answer) as { choices?: unknown }).choices)) {
      throw report(`answered a chat request without choices: ${answer}`);
    }
    const receipts = await fetch(`${url}/v1/wardwright/receipts?limit=1`, {
      signal: AbortSignal.timeout(30_000),
    });
    const page = await receipts.text();
    if (receipts.status !== 200) {
      throw report(`answered GET /v1/wardwright/receipts with ${receipts.status}: ${page}`);
    }
    // Ctrl-C: SIGINT to the whole foreground group (npm, its shell and the server).
    signalGroup(server.child, 'SIGINT');
    const stopped = await Promise.race([server.closed, sleep(STOP_MS, 'timeout' as const)]);
    if (stopped === 'timeout') throw report(`did not stop within ${STOP_MS / 1000} s of SIGINT`);
    // npm (like a shell) ends itself with the signal that stopped its script, as after Ctrl-C.
    if (stopped.code !== 0 && stopped.code !== 130 && stopped.signal !== 'SIGINT') {
      throw report(`exited with ${stopped.code ?? stopped.signal} on SIGINT`);
    }
    const { stdout, stderr } = server.output();
    const trace = traceIn(`${stdout}\n${stderr}`);
    if (trace !== undefined) throw report(`printed a stack trace or internal error: ${trace}`);
    // `npm install` built everything: starting must not build again (it is fast and quiet).
    const built = /^building @wardwright\/.*$/m.exec(`${stdout}\n${stderr}`);
    if (built !== null) throw report(`built before starting: ${built[0]}`);
    log(`${where} (${label}) $ ${onFreePort} — ${((Date.now() - began) / 1000).toFixed(1)} s`);
  } finally {
    signalGroup(server.child, 'SIGKILL');
    await server.closed;
  }
}

/** The ESM example as CommonJS: imports become require calls, the body an async function. */
function commonJs(esm: string, where: string): string {
  const body = esm.replace(
    /^import\s+(.+?)\s+from\s+(['"][^'"]+['"]);?$/gm,
    (_, what: string, from: string) => {
      if (what.startsWith('{'))
        return `const ${what.replace(/\s+as\s+/g, ': ')} = require(${from});`;
      const namespace = /^\*\s+as\s+([\w$]+)$/.exec(what);
      if (namespace !== null) return `const ${namespace[1]} = require(${from});`;
      if (/^[\w$]+$/.test(what)) return `const ${what} = require(${from});`;
      throw new Error(`${where}: cannot rewrite \`import ${what}\` for CommonJS`);
    },
  );
  if (/^\s*(import|export)\s/m.test(body)) {
    throw new Error(`${where}: an import or export left that the CommonJS rewrite cannot handle`);
  }
  return [
    "'use strict';",
    '(async () => {',
    body,
    '})().catch((error) => {',
    '  console.error(error);',
    '  process.exit(1);',
    '});',
    '',
  ].join('\n');
}

async function execute(step: Step): Promise<void> {
  switch (step.kind) {
    case 'copy': {
      temp = realpathSync(mkdtempSync(join(tmpdir(), 'wardwright-fresh-clone-')));
      mkdirSync(checkout());
      const copied = copyWorkTree(checkout());
      // CI keeps `../shared` beside the repository; a clone there has it beside it too.
      const shared = join(root, '..', 'shared');
      if (existsSync(shared)) symlinkSync(realpathSync(shared), join(temp, 'shared'));
      log(`copied ${copied} files to ${checkout()}`);
      return;
    }
    case 'init': {
      const slug = step.doc.replace(/^.*\//, '').replace(/\.md$/, '').toLowerCase();
      const project = join(temp, `${slug}-project`, 'my-project');
      mkdirSync(project, { recursive: true });
      projects.set(step.doc, project);
      await runChecked(step.doc, 'npm init -y', project, 'project');
      return;
    }
    case 'file': {
      const target = join(projectOf(step.doc), step.path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, step.content);
      return;
    }
    case 'run': {
      const where = `${step.doc}:${step.line}`;
      let command = localised(step.command);
      if (step.where === 'project') {
        const rewritten = await withTarballs(command, step.doc, where);
        if (rewritten !== undefined) {
          log(`${where} \`${step.command}\` installs packed tarballs: ${rewritten}`);
          command = rewritten;
        }
      }
      await runChecked(where, command, cwdOf(step), step.where);
      return;
    }
    case 'serve':
      await serveAndStop(
        `${step.doc}:${step.line}`,
        localised(step.command),
        cwdOf(step),
        step.where,
      );
      return;
    case 'skip':
      return;
    case 'example': {
      const where = `${step.doc}:${step.line}`;
      const esm = transformSync(step.code, { loader: 'ts', format: 'esm', target: 'node20' }).code;
      const code = step.format === 'esm' ? esm : commonJs(esm, where);
      const name = `example-${step.doc.replace(/[^A-Za-z0-9]/g, '_')}-${step.line}.${step.format === 'esm' ? 'mjs' : 'cjs'}`;
      const project = projectOf(step.doc);
      writeFileSync(join(project, name), code);
      await runChecked(where, `node ${name}`, project, 'project');
      return;
    }
  }
}

const skip = Boolean(process.env.WARDWRIGHT_SKIP_FRESH_CLONE);
const steps: Step[] = [{ kind: 'copy' }, ...DOCS.flatMap(stepsOf)];

afterAll(async () => {
  for (const child of running) signalGroup(child, 'SIGKILL');
  await sleep(running.size > 0 ? 500 : 0);
  if (temp !== '') rmSync(temp, { recursive: true, force: true, maxRetries: 3 });
}, 120_000);

describe.skipIf(skip)('a fresh clone follows its README and guides', () => {
  for (const step of steps) {
    const test = step.kind === 'skip' ? it.skip : it;
    test(
      titleOf(step),
      async (context) => {
        // Every step builds on the ones before it.
        if (failed !== undefined) context.skip();
        if (deadline === 0) deadline = Date.now() + BUDGET_MS;
        try {
          await execute(step);
        } catch (error) {
          failed = titleOf(step);
          throw error;
        }
      },
      BUDGET_MS + 60_000,
    );
  }
});
