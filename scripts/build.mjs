#!/usr/bin/env node
// Builds the workspace packages that are out of date, in dependency order, and nothing else.
//
//   node scripts/build.mjs                      every package
//   node scripts/build.mjs @wardwright/cli      the CLI and the packages it uses
//   node scripts/build.mjs --force              rebuild even when current
//
// A package is current when its dist/ exists and its stamp (kept in node_modules/.cache, out of
// the published files) equals the hash of everything its build reads: its sources (tests excepted), its package.json and build config, the shared compiler
// settings, the lockfile (tool versions) and the stamps of the workspace packages it uses. So a
// second run costs a few milliseconds, which lets `npm install` build once and `npm start` skip
// straight to its banner. tsup's output is shown only when a build fails.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const STAMPS = join(root, 'node_modules', '.cache', 'wardwright-build');
const SHARED_INPUTS = ['tsconfig.base.json', 'package-lock.json'];

/** @typedef {{ name: string, dir: string, uses: string[] }} Workspace */

/** @returns {Map<string, Workspace>} */
function workspaces() {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const found = new Map();
  for (const dir of manifest.workspaces) {
    const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
    if (!pkg.scripts?.build) continue;
    found.set(pkg.name, { name: pkg.name, dir: join(root, dir), uses: [] });
  }
  for (const workspace of found.values()) {
    const pkg = JSON.parse(readFileSync(join(workspace.dir, 'package.json'), 'utf8'));
    const names = Object.keys({
      ...pkg.dependencies,
      ...pkg.peerDependencies,
      ...pkg.optionalDependencies,
    });
    workspace.uses = names.filter((name) => found.has(name));
  }
  return found;
}

function sourceFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.test\.ts$|\.fixtures\.ts$/.test(entry.name) ? [] : [path];
  });
}

function inputsHash(workspace, stampOf) {
  const hash = createHash('sha256');
  const own = readdirSync(workspace.dir)
    .filter(
      (file) => file === 'package.json' || /^(tsup\.config|tsconfig).*\.(ts|json)$/.test(file),
    )
    .map((file) => join(workspace.dir, file));
  const files = [
    ...SHARED_INPUTS.map((file) => join(root, file)),
    ...own,
    ...sourceFiles(join(workspace.dir, 'src')),
  ].sort();
  for (const file of files) {
    if (!existsSync(file)) continue;
    hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  for (const used of workspace.uses) hash.update(used).update(stampOf(used));
  return hash.digest('hex');
}

function stampPath(workspace) {
  return join(STAMPS, `${workspace.name.replace('/', '__')}.sha256`);
}

function readStamp(workspace) {
  const path = stampPath(workspace);
  if (!existsSync(path) || !existsSync(join(workspace.dir, 'dist'))) return '';
  return readFileSync(path, 'utf8').trim();
}

function runTsup(workspace) {
  const tsup = join(root, 'node_modules', 'tsup', 'dist', 'cli-default.js');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [tsup], {
      cwd: workspace.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.on('close', (code) => resolve({ code, output }));
  });
}

function order(all, wanted) {
  const sorted = [];
  const seen = new Set();
  const visit = (name) => {
    if (seen.has(name)) return;
    seen.add(name);
    const workspace = all.get(name);
    if (!workspace) {
      throw new Error(`unknown package ${name} (expected one of ${[...all.keys()].join(', ')})`);
    }
    for (const used of workspace.uses) visit(used);
    sorted.push(workspace);
  };
  for (const name of wanted) visit(name);
  return sorted;
}

async function main() {
  const args = process.argv.slice(2);
  const force = args.includes('--force');
  const names = args.filter((arg) => !arg.startsWith('--'));
  const all = workspaces();
  const plan = order(all, names.length > 0 ? names : [...all.keys()]);
  const stamps = new Map();
  const stampOf = (name) => stamps.get(name) ?? readStamp(all.get(name));
  for (const workspace of plan) {
    const wanted = inputsHash(workspace, stampOf);
    stamps.set(workspace.name, wanted);
    if (!force && readStamp(workspace) === wanted) continue;
    const started = Date.now();
    process.stderr.write(`building ${workspace.name} … `);
    const { code, output } = await runTsup(workspace);
    if (code !== 0) {
      process.stderr.write(`failed\n\n${output}\n`);
      process.exit(1);
    }
    mkdirSync(STAMPS, { recursive: true });
    writeFileSync(stampPath(workspace), `${wanted}\n`);
    process.stderr.write(`${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
}

await main();
