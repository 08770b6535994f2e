import { join, resolve } from 'node:path';
import { ConfigError, WardwrightError } from '@wardwright/core';
import { describe, expect, it } from 'vitest';
import { describeUserError, fileErrorCode, formatIssue } from './errors.ts';

function fsError(code: string, path?: string): Error {
  return Object.assign(new Error(code), {
    code,
    syscall: 'open',
    ...(path === undefined ? {} : { path }),
  });
}

describe('formatIssue', () => {
  it('adds expected and hint when present', () => {
    expect(formatIssue({ path: '$.a', message: 'is wrong' })).toBe('$.a: is wrong');
    expect(formatIssue({ path: '$.a', message: 'is wrong', expected: 'x', hint: 'try x' })).toBe(
      '$.a: is wrong (expected x); hint: try x',
    );
  });
});

describe('fileErrorCode', () => {
  it('recognises errors of file operations only', () => {
    expect(fileErrorCode(fsError('ENOENT'))).toBe('ENOENT');
    expect(fileErrorCode(new Error('plain'))).toBeUndefined();
    expect(fileErrorCode(Object.assign(new Error('x'), { code: 'E' }))).toBeUndefined();
    expect(fileErrorCode('ENOENT')).toBeUndefined();
    expect(fileErrorCode(null)).toBeUndefined();
  });
});

describe('describeUserError', () => {
  it('reports a missing resource in one line, and other Wardwright errors as bugs', () => {
    const missing = new WardwrightError({ code: 'unavailable', message: 'no SQLite driver' });
    expect(describeUserError(missing, 'w.json')).toEqual(['wardwright: no SQLite driver']);
    const bug = new WardwrightError({ code: 'invalid_argument', message: 'x' });
    expect(describeUserError(bug, 'w.json')).toBeUndefined();
  });

  it('names the file a config error is about, or the given name', () => {
    const issues = [{ path: '$.a', message: 'is wrong' }];
    expect(describeUserError(new ConfigError('artifact', issues), 'a.json')).toEqual([
      'wardwright: a.json is invalid (1 issue):',
      '  $.a: is wrong',
    ]);
    expect(
      describeUserError(new ConfigError('artifact', issues), 'dir', 'something in dir'),
    ).toEqual(['wardwright: something in dir is invalid (1 issue):', '  $.a: is wrong']);
    const inner = join(process.cwd(), 'some', 'x.json');
    expect(describeUserError(new ConfigError(inner, [...issues, ...issues]), 'dir')?.[0]).toBe(
      `wardwright: ${join('some', 'x.json')} is invalid (2 issues):`,
    );
  });

  it('shows the failing path as given, relative, or absolute outside the working directory', () => {
    expect(describeUserError(fsError('ENOENT', resolve('x.json')), 'x.json')).toEqual([
      'wardwright: cannot read x.json: ENOENT',
    ]);
    expect(describeUserError(fsError('ENOENT', resolve('sub/y.json')), 'dir')).toEqual([
      `wardwright: cannot read ${join('sub', 'y.json')}: ENOENT`,
    ]);
    const outside = resolve(process.cwd(), '..', 'elsewhere.json');
    expect(describeUserError(fsError('EACCES', outside), 'dir')).toEqual([
      `wardwright: cannot read ${outside}: EACCES`,
    ]);
    expect(describeUserError(fsError('EISDIR'), 'dir')).toEqual([
      'wardwright: cannot read dir: EISDIR',
    ]);
  });

  it('leaves other errors to be reported as bugs', () => {
    expect(describeUserError(new TypeError('x is undefined'), 'a.json')).toBeUndefined();
  });
});
