import { describe, expect, it } from 'vitest';
import { type CommandSpec, commandHelp, nearest, parseCommandArgs, suggestion } from './args.ts';
import { UsageError } from './errors.ts';

const spec: CommandSpec = {
  name: 'demo',
  summary: 'A demo command.',
  positionals: ['DIR...'],
  options: {
    json: { type: 'boolean', description: 'As JSON.' },
    filter: { type: 'string', value: 'SUBSTRING', description: 'Only these.' },
    name: { type: 'string', description: 'A name.' },
    verbose: { type: 'boolean', short: 'v', description: 'More.' },
  },
  details: 'Details.\n',
};

const fixed: CommandSpec = { ...spec, positionals: ['ARTIFACT', 'FIXTURE'] };

function usageError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('expected a UsageError');
}

describe('parseCommandArgs', () => {
  it('reads booleans, strings (separate or inline), shorts and positionals', () => {
    const args = parseCommandArgs(spec, ['a', '--json', '--filter', 'x', 'b', '-v', '--name=-n']);
    expect(args.values).toEqual({ json: true, filter: 'x', verbose: true, name: '-n' });
    expect(args.positionals).toEqual(['a', 'b']);
  });

  it('takes everything after -- as positionals', () => {
    expect(parseCommandArgs(spec, ['--', '--json']).positionals).toEqual(['--json']);
  });

  it('names an unknown option and the nearest known one', () => {
    expect(usageError(() => parseCommandArgs(spec, ['a', '--jsn']))).toBe(
      'unknown option --jsn (did you mean --json?)',
    );
    expect(usageError(() => parseCommandArgs(spec, ['a', '-q']))).toBe(
      'unknown option -q (known: --json, --filter, --name, --verbose, --help)',
    );
  });

  it('lists every problem at once', () => {
    expect(usageError(() => parseCommandArgs(spec, ['a', '--json=yes', '--filter']))).toBe(
      'option --json takes no value\noption --filter needs a value (SUBSTRING)',
    );
  });

  it('treats an option after a string option as a forgotten value', () => {
    expect(usageError(() => parseCommandArgs(spec, ['a', '--name', '--json']))).toBe(
      'option --name needs a value (VALUE)',
    );
  });

  it('checks positional counts', () => {
    expect(usageError(() => parseCommandArgs(spec, []))).toBe('missing DIR...');
    expect(usageError(() => parseCommandArgs(fixed, ['a']))).toBe('missing FIXTURE');
    expect(usageError(() => parseCommandArgs(fixed, ['a', 'b', 'c']))).toBe(
      'unexpected argument c',
    );
    expect(usageError(() => parseCommandArgs(fixed, ['a', 'b', 'c', 'd']))).toBe(
      'unexpected arguments c d',
    );
    expect(parseCommandArgs(spec, ['a', 'b', 'c']).positionals).toHaveLength(3);
  });

  it('--help wins over every other problem', () => {
    expect(parseCommandArgs(fixed, ['--bogus', '-h']).values.help).toBe(true);
  });
});

describe('commandHelp', () => {
  it('shows usage, summary, details and aligned options', () => {
    expect(commandHelp(spec)).toBe(
      [
        'Usage: wardwright demo DIR... [options]',
        '',
        'A demo command.',
        '',
        'Details.',
        '',
        'Options:',
        '      --json              As JSON.',
        '      --filter SUBSTRING  Only these.',
        '      --name VALUE        A name.',
        '  -v, --verbose           More.',
        '  -h, --help              Show this help.',
        '',
      ].join('\n'),
    );
  });
});

describe('nearest and suggestion', () => {
  it('finds close names, case-insensitively', () => {
    expect(nearest('chek', ['check', 'test'])).toBe('check');
    expect(nearest('TEST', ['check', 'test'])).toBe('test');
    expect(nearest('simulat', ['explain', 'simulate'])).toBe('simulate');
  });

  it('gives up on names far from every known one', () => {
    expect(nearest('xyz', ['check', 'test'])).toBeUndefined();
    expect(nearest('x', [])).toBeUndefined();
    expect(suggestion('xyz', ['check', 'test'])).toBe(' (known: check, test)');
    expect(suggestion('tst', ['check', 'test'])).toBe(' (did you mean test?)');
  });
});
