import { type Matcher, RE2JS, RE2JSException } from 're2js';
import type { ConfigIssue } from '../errors/config-error.ts';

/**
 * Text patterns used by the decision cores: literal substrings and user regexes.
 *
 * User regexes run through RE2 (the `re2js` port): matching time is linear in the input, so no
 * pattern, however written, can stall the host with catastrophic backtracking. The price is
 * RE2 syntax: no lookahead and no backreferences.
 */

/** A match as UTF-16 indices into the searched string; `end` is exclusive. */
export interface TextMatch {
  start: number;
  end: number;
}

export interface TextPattern {
  readonly kind: 'literal' | 'regex';
  /** The pattern as written in the configuration. */
  readonly source: string;
  /** The leftmost non-empty match starting at or after `from`. */
  find(text: string, from?: number): TextMatch | undefined;
  /** Does `text` contain a match? */
  test(text: string): boolean;
}

export function literalPattern(needle: string): TextPattern {
  return {
    kind: 'literal',
    source: needle,
    find(text, from = 0) {
      if (needle.length === 0) return undefined;
      const start = text.indexOf(needle, from);
      return start < 0 ? undefined : { start, end: start + needle.length };
    },
    test(text) {
      return needle.length > 0 && text.includes(needle);
    },
  };
}

class RegexPattern implements TextPattern {
  readonly kind = 'regex' as const;
  readonly source: string;
  readonly #re: RE2JS;
  // One matcher per pattern, re-pointed at each text: creating a matcher costs more than a
  // typical search. Safe because `find` never hands the matcher out and nothing here is async.
  readonly #matcher: Matcher;

  constructor(source: string, re: RE2JS) {
    this.source = source;
    this.#re = re;
    this.#matcher = re.matcher('');
  }

  find(text: string, from = 0): TextMatch | undefined {
    // Most texts match no rule: `RE2JS.test` rejects them several times faster than a search
    // for positions. (Only from the start: a later start changes what `^` and `\b` see.)
    if (from === 0 && !this.#re.test(text)) return undefined;
    const matcher = this.#matcher.resetMatcherInput(text);
    let position = from;
    while (position <= text.length && matcher.find(position)) {
      const start = matcher.start();
      const end = matcher.end();
      if (end > start) return { start, end };
      // An empty match carries no text to act on; look again one character further on.
      position = start + 1;
    }
    return undefined;
  }

  test(text: string): boolean {
    // `find` tests first (no match positions); only a text it accepts is searched, because its
    // match may be an empty one, which does not count here.
    return this.find(text) !== undefined;
  }
}

export type CompiledRegex = { ok: true; pattern: TextPattern } | { ok: false; issue: ConfigIssue };

/**
 * Compile a user regex with RE2 semantics. Errors come back as a `ConfigIssue` located at
 * `path`, with a hint when the pattern uses a JavaScript-only feature.
 */
export function compileRegex(source: string, path: string): CompiledRegex {
  if (source.length === 0) {
    return { ok: false, issue: { path, message: 'must not be empty' } };
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(source);
  } catch (error) {
    const issue: ConfigIssue = {
      path,
      message: `is not a valid RE2 regex: ${describeRegexError(error)}`,
    };
    if (/\(\?[=!<]|\\[1-9]/.test(source)) {
      issue.hint =
        'lookaround and backreferences are not supported: RE2 guarantees linear-time matching';
    }
    return { ok: false, issue };
  }
  return { ok: true, pattern: new RegexPattern(source, re) };
}

function describeRegexError(error: unknown): string {
  if (error instanceof RE2JSException) return error.message;
  return error instanceof Error ? error.message : String(error);
}
