import { hasMarker, WardwrightError } from './wardwright-error.ts';

/** One problem found in a piece of configuration, located by a JSONPath-like `path`. */
export interface ConfigIssue {
  /** Where the problem is, e.g. `$.rules[2].regex`. `$` is the root of the validated value. */
  path: string;
  /** What is wrong, in a sentence that reads after the path. */
  message: string;
  /** The expected shape or value, when there is a short way to say it. */
  expected?: string;
  /** A suggestion for a common mistake (a misspelt key, a JavaScript-only regex feature). */
  hint?: string;
}

const marker = Symbol.for('wardwright.error.config_invalid');

/**
 * Configuration that does not satisfy its schema or its semantic checks. It lists every issue
 * found (not only the first), so a user fixes a config in one round trip.
 */
export class ConfigError extends WardwrightError {
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: read via the registry symbol in isInstance
  private readonly [marker] = true;
  /** What was being validated, e.g. `stream rules`. */
  readonly subject: string;
  readonly issues: readonly ConfigIssue[];

  constructor(subject: string, issues: readonly ConfigIssue[]) {
    super({ code: 'config_invalid', message: formatConfigIssues(subject, issues) });
    this.name = 'ConfigError';
    this.subject = subject;
    this.issues = issues;
  }

  static override isInstance(error: unknown): error is ConfigError {
    return hasMarker(error, marker);
  }
}

export function formatConfigIssue(issue: ConfigIssue): string {
  let line = `${issue.path}: ${issue.message}`;
  if (issue.expected !== undefined) line += ` (expected ${issue.expected})`;
  if (issue.hint !== undefined) line += `; hint: ${issue.hint}`;
  return line;
}

function formatConfigIssues(subject: string, issues: readonly ConfigIssue[]): string {
  const head = `invalid ${subject}: ${issues.length} issue${issues.length === 1 ? '' : 's'}`;
  return [head, ...issues.map((issue) => `  - ${formatConfigIssue(issue)}`)].join('\n');
}
