import { isAbsolute, relative, resolve } from 'node:path';
import { ConfigError, type ConfigIssue, WardwrightError } from '@wardwright/core';

/**
 * The errors a user can cause (a wrong command line, a file that is missing or invalid) are
 * reported in one or a few lines and never with a stack trace; anything else is a bug.
 */

/** A wrong command line: exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A failure already explained to the user (on stderr): exit code 1. */
export class ReportedError extends Error {
  override readonly name = 'ReportedError';
}

/** The installation is broken (a package that does not load): exit code 1, no usage hint. */
export class SetupError extends Error {
  override readonly name = 'SetupError';
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** EX_SOFTWARE from sysexits.h: an internal error, i.e. a bug in wardwright. */
export const EXIT_INTERNAL = 70;

/** `$.path: message (expected …); hint: …`, the one-line form of a config issue. */
export function formatIssue(issue: ConfigIssue): string {
  let line = `${issue.path}: ${issue.message}`;
  if (issue.expected !== undefined) line += ` (expected ${issue.expected})`;
  if (issue.hint !== undefined) line += `; hint: ${issue.hint}`;
  return line;
}

/** The error code of a failed file operation (ENOENT, EISDIR…), if that is what it is. */
export function fileErrorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, syscall } = error as { code?: unknown; syscall?: unknown };
  return typeof code === 'string' && typeof syscall === 'string' ? code : undefined;
}

/**
 * Lines describing a user error about `file`, or undefined when `error` is not one (then it
 * is a bug and deserves its stack). `unnamed` names an invalid value whose error carries no
 * file name.
 */
export function describeUserError(
  error: unknown,
  file: string,
  unnamed: string = file,
): string[] | undefined {
  if (ConfigError.isInstance(error)) {
    // Loaders name the file as the subject; compilers name what they compiled (`artifact`).
    const subject = /[\\/]|\.json$/.test(error.subject)
      ? displayPath(error.subject, file)
      : unnamed;
    return [
      `wardwright: ${subject} is invalid (${error.issues.length === 1 ? '1 issue' : `${error.issues.length} issues`}):`,
      ...error.issues.map((issue) => `  ${formatIssue(issue)}`),
    ];
  }
  // Something the command needs is missing (a driver to install, a store from a newer version).
  if (WardwrightError.isInstance(error) && error.code === 'unavailable') {
    return [`wardwright: ${error.message}`];
  }
  const code = fileErrorCode(error);
  if (code !== undefined) {
    // The failing file may be one the given file names (a scenario's artifact).
    const path = (error as { path?: unknown }).path;
    return [
      `wardwright: cannot read ${typeof path === 'string' ? displayPath(path, file) : file}: ${code}`,
    ];
  }
  return undefined;
}

/** The path as the user gave it when it is that file, else relative to the working directory. */
function displayPath(path: string, given: string): string {
  if (resolve(path) === resolve(given)) return given;
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}
