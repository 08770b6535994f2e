import Type, { type Static } from 'typebox';
import { assertNever } from '../util/assert-never.ts';
import type { GuardType, ValidationFailure } from './guard-validation-result.ts';

/**
 * The retry feedback of the guard loop: one system message for the next attempt, appended to
 * the ORIGINAL request, bounded in length. Everything that does not depend on the failure is
 * resolved once per plan.
 */

export const GUARD_FEEDBACK_NAME = 'wardwright_structured_output_guard';

export const FEEDBACK_MODES = ['detailed', 'generic', 'none'] as const;
export type GuardFeedbackMode = (typeof FEEDBACK_MODES)[number];

export const GuardFeedbackSchema = Type.Object(
  {
    role: Type.Readonly(Type.Literal('system')),
    name: Type.Readonly(Type.Literal(GUARD_FEEDBACK_NAME)),
    content: Type.Readonly(
      Type.String({
        description:
          'At most `max_feedback_chars` UTF-16 units; a cut text ends with `…`, never inside a surrogate pair.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'One system message to append to the original request for the next attempt.',
  },
);
export type GuardFeedback = Static<typeof GuardFeedbackSchema>;

/** A plan's feedback settings, with the texts that do not depend on the failure. */
export interface CompiledFeedback {
  readonly mode: GuardFeedbackMode;
  readonly maxChars: number;
  /** The schema ids, comma-separated, as detailed feedback lists them. */
  readonly schemaList: string;
  /** The one message `generic` feedback ever sends, shared by every retry. */
  readonly generic: GuardFeedback;
}

const GENERIC_INSTRUCTION =
  'Your previous output failed Wardwright structured-output validation. Return only one JSON value that matches the configured schema, with no markdown fences and no surrounding prose.';

const STAGE: Record<GuardType, string> = {
  json_syntax: 'JSON syntax',
  schema_validation: 'schema',
  semantic_validation: 'semantic rule',
};

export function compileFeedback(
  mode: GuardFeedbackMode,
  maxChars: number,
  schemaIds: readonly string[],
): CompiledFeedback {
  const schemaList = schemaIds.join(', ');
  return {
    mode,
    maxChars,
    schemaList,
    generic: feedbackMessage(`${GENERIC_INSTRUCTION} Available schemas: ${schemaList}.`, maxChars),
  };
}

/** The feedback for the attempt after `failure`, or null when the plan sends none. */
export function feedbackFor(
  compiled: CompiledFeedback,
  failure: ValidationFailure,
): GuardFeedback | null {
  switch (compiled.mode) {
    case 'none':
      return null;
    case 'generic':
      return compiled.generic;
    case 'detailed': {
      // The instruction comes first so that truncation only ever cuts the error list.
      let content =
        `Your previous output failed Wardwright structured-output validation at the ${STAGE[failure.guard_type]} stage (rule \`${failure.rule_id}\`). ` +
        `Return only one JSON value that matches one of these schemas: ${compiled.schemaList}; no markdown fences and no surrounding prose.\nErrors:`;
      for (const error of failure.errors) {
        content += `\n- ${error.path === '' ? '(the whole output)' : error.path}: ${error.message}`;
      }
      const more = failure.error_count - failure.errors.length;
      if (more > 0) content += `\n- … and ${more} more`;
      return feedbackMessage(content, compiled.maxChars);
    }
    default:
      return assertNever(compiled.mode, 'feedback mode');
  }
}

function feedbackMessage(content: string, maxChars: number): GuardFeedback {
  return Object.freeze({
    role: 'system',
    name: GUARD_FEEDBACK_NAME,
    content: truncate(content, maxChars),
  });
}

function truncate(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  let cut = maxChars - 1;
  // Never leave half of a surrogate pair before the ellipsis.
  const last = text.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--;
  return `${text.slice(0, cut)}…`;
}
