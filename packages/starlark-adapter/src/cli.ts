import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { getHeapStatistics } from 'node:v8';
import type { Dialect } from './dialect.ts';
import { runtimeError } from './errors.ts';
import { Builtin } from './eval/function.ts';
import { type ExecLimits, Program, StarlarkError } from './interpreter.ts';
import { parseExpression } from './syntax/parser.ts';
import { equal } from './values/ops.ts';
import { repr } from './values/repr.ts';
import { truth, type Value } from './values/values.ts';

const USAGE = `usage: wardwright-starlark <command> [flags]
  run FILE            run a Starlark file; print() goes to stdout, errors to stderr (exit 1)
  test FILE...        run files in the bazelbuild/starlark test_suite format
  repl                interactive read-eval-print loop
flags:
  --recursion --while --toplevel-control --set     dialect options (all off by default)
  --max-steps N  --max-alloc BYTES  --max-memory BYTES  --max-depth N  --timeout-ms N
    By default a program may allocate without a cumulative budget (--max-alloc sets one, as
    policies have) and its live heap is bounded at 1 GiB (--max-memory).
  --impl go|java|rust   which '### impl:' expectations apply (test; default: the folder name)`;

interface Flags {
  dialect: Partial<Dialect>;
  limits: ExecLimits;
  impl: string | null;
  files: string[];
}

function parseFlags(argv: string[]): Flags {
  const dialect: { -readonly [K in keyof Dialect]?: boolean } = {};
  const limits: { -readonly [K in keyof ExecLimits]?: ExecLimits[K] } = {};
  let impl: string | null = null;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error(`${a} wants a positive integer`);
      return v;
    };
    switch (a) {
      case '--recursion':
        dialect.recursion = true;
        break;
      case '--while':
        dialect.while = true;
        break;
      case '--toplevel-control':
        dialect.toplevelControl = true;
        break;
      case '--set':
        dialect.set = true;
        break;
      case '--max-steps':
        limits.maxSteps = num();
        break;
      case '--max-alloc':
        limits.maxAllocBytes = num();
        break;
      case '--max-memory':
        limits.maxLiveBytes = num();
        break;
      case '--max-depth':
        limits.maxDepth = num();
        break;
      case '--timeout-ms':
        limits.timeoutMs = num();
        break;
      case '--impl':
        impl = argv[++i] ?? null;
        break;
      default:
        if (a.startsWith('--')) throw new Error(`unknown flag ${a}`);
        files.push(a);
    }
  }
  return { dialect, limits: programLimits(limits), impl, files };
}

/** What a program run from the command line gets unless a flag says otherwise. */
export const PROGRAM_LIVE_BYTES = 1024 * 1024 * 1024;

/**
 * Limits for running programs, not policies: the allocation budget counts every byte a run ever
 * allocates, freed or not, which ordinary programs (string building in a loop, a dict rebuilt
 * per item) exceed long before they hold much. So a program gets no cumulative budget unless
 * `--max-alloc` asks for one, and a bound on its live heap instead, read with the clock.
 */
function programLimits(limits: ExecLimits): ExecLimits {
  return {
    ...limits,
    maxAllocBytes: limits.maxAllocBytes ?? Number.POSITIVE_INFINITY,
    maxLiveBytes: limits.maxLiveBytes ?? PROGRAM_LIVE_BYTES,
    liveBytes: () => getHeapStatistics().used_heap_size,
  };
}

function formatError(e: unknown): string {
  if (StarlarkError.isInstance(e)) return e.format();
  return e instanceof Error ? `internal error: ${e.message}` : String(e);
}

function run(flags: Flags): number {
  const file = flags.files[0];
  if (file === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const src = readFileSync(file, 'utf8');
  try {
    const program = Program.compile(src, { filename: file, dialect: flags.dialect });
    program.init({ limits: flags.limits, print: (line) => process.stdout.write(`${line}\n`) });
    return 0;
  } catch (e) {
    process.stderr.write(`${formatError(e)}\n`);
    return 1;
  }
}

/** assert_eq, assert_ne and assert_ as failing builtins (the suite's prelude only prints). */
export const TEST_PREDECLARED: ReadonlyMap<string, Value> = new Map<string, Value>([
  [
    'assert_eq',
    new Builtin('assert_eq', (args) => {
      if (args.length !== 2) throw runtimeError('assert_eq: want 2 arguments');
      if (!equal(args[0]!, args[1]!))
        throw runtimeError(`assert_eq: ${repr(args[0]!)} != ${repr(args[1]!)}`);
      return null;
    }),
  ],
  [
    'assert_ne',
    new Builtin('assert_ne', (args) => {
      if (args.length !== 2) throw runtimeError('assert_ne: want 2 arguments');
      if (equal(args[0]!, args[1]!))
        throw runtimeError(`assert_ne: ${repr(args[0]!)} == ${repr(args[1]!)}`);
      return null;
    }),
  ],
  [
    'assert_',
    new Builtin('assert_', (args) => {
      if (args.length < 1 || args.length > 2) throw runtimeError('assert_: want 1 or 2 arguments');
      if (!truth(args[0]!))
        throw runtimeError(`assert_: ${args.length > 1 ? String(args[1]) : 'assertion failed'}`);
      return null;
    }),
  ],
]);

export interface Chunk {
  readonly code: string;
  readonly expected: string | null;
  readonly line: number;
  readonly options: string[];
}

/** Split a test-suite file as the reference runner does: `---` lines, `### [impl:] regex`. */
export function chunks(text: string, impl: string): Chunk[] {
  const out: Chunk[] = [];
  let code: string[] = [];
  let expected: string | null = null;
  let options: string[] = [];
  let start = 1;
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '---') {
      out.push({ code: code.join('\n'), expected, line: start, options });
      code = [];
      expected = null;
      options = [];
      start = i + 2;
      return;
    }
    const m = /### *((go|java|rust):)? *(.*)/.exec(line);
    if (m && (m[2] === undefined || m[2] === impl)) expected = m[3]!;
    const o = /^# *option:(.*)$/.exec(line);
    if (o) options.push(...o[1]!.trim().split(/\s+/));
    code.push(line);
  });
  out.push({ code: code.join('\n'), expected, line: start, options });
  return out;
}

export function runChunk(
  chunk: Chunk,
  filename: string,
  base: Partial<Dialect>,
  limits: ExecLimits,
): string | null {
  const dialect: { -readonly [K in keyof Dialect]?: boolean } = { ...base };
  for (const o of chunk.options) {
    if (o === 'recursion') dialect.recursion = true;
    else if (o === 'set') dialect.set = true;
    else if (o === 'toplevelcontrol' || o === 'globalreassign') dialect.toplevelControl = true;
    else if (o === 'while') dialect.while = true;
  }
  let error: string | null = null;
  try {
    const program = Program.compile(chunk.code, {
      filename,
      dialect,
      predeclared: TEST_PREDECLARED,
    });
    program.init({ limits });
  } catch (e) {
    error = formatError(e);
  }
  const exp = chunk.expected;
  if (exp === null) return error === null ? null : `unexpected error: ${error}`;
  if (error === null) return `expected error matching ${JSON.stringify(exp)}, got success`;
  const low = error.toLowerCase();
  const want = exp.toLowerCase();
  let matched = low.includes(want);
  if (!matched) {
    try {
      matched = new RegExp(want).test(low);
    } catch {
      matched = false;
    }
  }
  return matched
    ? null
    : `error ${JSON.stringify(error.split('\n').pop())} does not match ${JSON.stringify(exp)}`;
}

function test(flags: Flags): number {
  let passed = 0;
  let failed = 0;
  for (const file of flags.files) {
    const impl =
      flags.impl ??
      (['go', 'java', 'rust'].includes(basename(dirname(file))) ? basename(dirname(file)) : 'java');
    const text = readFileSync(file, 'utf8');
    let fp = 0;
    let ff = 0;
    for (const chunk of chunks(text, impl)) {
      const dialect: Partial<Dialect> = {
        toplevelControl: true,
        while: impl !== 'java',
        ...flags.dialect,
      };
      const problem = runChunk(chunk, file, dialect, flags.limits);
      if (problem === null) fp++;
      else {
        ff++;
        process.stdout.write(`  ${file}:${chunk.line}: ${problem}\n`);
      }
    }
    passed += fp;
    failed += ff;
    process.stdout.write(`${ff === 0 ? 'PASS' : 'FAIL'} ${file}: ${fp} passed, ${ff} failed\n`);
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

function repl(flags: Flags): Promise<number> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: '>>> ' });
  let globals = new Map<string, Value>();
  let buffer: string[] = [];
  const evaluate = (src: string): void => {
    let code = src;
    let isExpr = false;
    try {
      parseExpression(src, '<stdin>');
      isExpr = true;
      code = `__repl_value__ = (${src})`;
    } catch {
      isExpr = false;
    }
    try {
      const program = Program.compile(code, {
        filename: '<stdin>',
        dialect: { toplevelControl: true, ...flags.dialect },
        predeclared: globals,
      });
      const { module } = program.init({
        limits: flags.limits,
        print: (l) => process.stdout.write(`${l}\n`),
        freeze: false,
      });
      const next = new Map(globals);
      for (const [k, v] of module.globals) next.set(k, v);
      const value = next.get('__repl_value__');
      next.delete('__repl_value__');
      globals = next;
      if (isExpr && value !== undefined && value !== null) process.stdout.write(`${repr(value)}\n`);
    } catch (e) {
      process.stdout.write(`${formatError(e)}\n`);
    }
  };
  rl.prompt();
  rl.on('line', (line) => {
    if (buffer.length > 0) {
      if (line.trim() === '') {
        const src = buffer.join('\n');
        buffer = [];
        evaluate(src);
        rl.setPrompt('>>> ');
      } else buffer.push(line);
    } else if (/:\s*(#.*)?$/.test(line) || /[([{]\s*$/.test(line)) {
      buffer.push(line);
      rl.setPrompt('... ');
    } else if (line.trim() !== '') evaluate(line);
    rl.prompt();
  });
  return new Promise((resolve) => rl.on('close', () => resolve(0)));
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  let flags: Flags;
  try {
    flags = parseFlags(rest);
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
    return 2;
  }
  switch (cmd) {
    case 'run':
      return run(flags);
    case 'test':
      return test(flags);
    case 'repl':
      return repl(flags);
    default:
      process.stderr.write(`${USAGE}\n`);
      return 2;
  }
}

const isMain =
  process.argv[1] !== undefined &&
  /wardwright-starlark(\.js)?$|cli\.(js|ts)$/.test(process.argv[1]);
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${formatError(e)}\n`);
      process.exitCode = 1;
    },
  );
}
