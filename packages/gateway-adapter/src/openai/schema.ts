import Type, { type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';

/**
 * The fields of a chat-completions body the gateway reads, and their types. Unknown fields are
 * allowed (OpenAI clients send many, and they pass through to the upstream); a known field of
 * the wrong type is a 400 that names it. The engine checks the finer points (roles, tools)
 * again and its `InvalidRequestError` is answered the same way.
 */

const ContentPart = Type.Object({ type: Type.String() }, { additionalProperties: true });

const Message = Type.Object(
  {
    role: Type.String({ minLength: 1 }),
    content: Type.Optional(
      Type.Union([Type.String(), Type.Null(), Type.Array(ContentPart)], {
        description: 'a string, null or an array of content parts',
      }),
    ),
  },
  { additionalProperties: true },
);

export const ChatCompletionBodySchema = Type.Object(
  {
    model: Type.String({ minLength: 1 }),
    messages: Type.Array(Message, { minItems: 1 }),
    stream: Type.Optional(
      Type.Union([Type.Boolean(), Type.Null()], { description: 'a boolean or null' }),
    ),
    stream_options: Type.Optional(
      Type.Union(
        [
          Type.Object(
            { include_usage: Type.Optional(Type.Boolean()) },
            { additionalProperties: true },
          ),
          Type.Null(),
        ],
        { description: 'an object ({ include_usage?: boolean }) or null' },
      ),
    ),
    user: Type.Optional(Type.String()),
    metadata: Type.Optional(
      Type.Union(
        [
          Type.Object({ session_id: Type.Optional(Type.String()) }, { additionalProperties: true }),
          Type.Null(),
        ],
        { description: 'an object (its session_id a string) or null' },
      ),
    ),
    temperature: Type.Optional(
      Type.Union([Type.Number(), Type.Null()], { description: 'a number or null' }),
    ),
    top_p: Type.Optional(
      Type.Union([Type.Number(), Type.Null()], { description: 'a number or null' }),
    ),
    max_tokens: Type.Optional(
      Type.Union([Type.Integer(), Type.Null()], { description: 'an integer or null' }),
    ),
    max_completion_tokens: Type.Optional(
      Type.Union([Type.Integer(), Type.Null()], { description: 'an integer or null' }),
    ),
    n: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1, maximum: 1 }), Type.Null()], {
        description: '1 or null (the gateway answers with one choice)',
      }),
    ),
    tools: Type.Optional(Type.Array(Type.Object({}, { additionalProperties: true }))),
  },
  { additionalProperties: true },
);
export type ChatCompletionBody = Static<typeof ChatCompletionBodySchema>;

export const SimulateBodySchema = Type.Object(
  {
    model: Type.String({ minLength: 1 }),
    fixture: Type.Object({}, { additionalProperties: true }),
  },
  { additionalProperties: false },
);
export type SimulateBody = Static<typeof SimulateBodySchema>;

/** One problem, named by the field (`messages[0].content`) it is about. */
export interface BodyIssue {
  param: string;
  message: string;
}

interface Validator<T> {
  check(value: unknown): value is T;
  /** The first issue of an invalid value (call only after `check` failed). */
  issue(value: unknown): BodyIssue;
}

function validator<T>(schema: TSchema): Validator<T> {
  const compiled = Compile(schema);
  return {
    check: (value): value is T => compiled.Check(value),
    issue(value) {
      const errors = [...compiled.Errors(value)];
      const first = errors[0];
      if (first === undefined) return { param: '', message: 'is invalid' };
      // A union reports one error per branch and then its own: name the union, not a branch.
      const union = errors.find(
        (e) => e.keyword === 'anyOf' && e.instancePath === first.instancePath,
      );
      const chosen = union ?? first;
      if (chosen.keyword === 'required') {
        const missing = (chosen.params as { requiredProperties?: string[] })
          .requiredProperties?.[0];
        const base = pointerToParam(chosen.instancePath);
        const param = missing === undefined ? base : base === '' ? missing : `${base}.${missing}`;
        return { param, message: 'is required' };
      }
      const described = union === undefined ? undefined : describeAt(schema, chosen.schemaPath);
      return {
        param: pointerToParam(chosen.instancePath),
        message: described === undefined ? chosen.message : `must be ${described}`,
      };
    },
  };
}

/** The `description` of the schema node at a `#/properties/…` path, if any. */
function describeAt(schema: unknown, schemaPath: string): string | undefined {
  let node = schema as Record<string, unknown> | undefined;
  for (const segment of schemaPath.replace(/^#\/?/, '').split('/')) {
    if (segment === '' || node === undefined) continue;
    node = node[segment] as Record<string, unknown> | undefined;
  }
  const description = node?.description;
  return typeof description === 'string' ? description : undefined;
}

/** `/messages/0/content` → `messages[0].content` (the `param` OpenAI errors use). */
export function pointerToParam(pointer: string): string {
  let param = '';
  for (const raw of pointer.split('/')) {
    if (raw === '') continue;
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(segment)) param += `[${segment}]`;
    else param += param === '' ? segment : `.${segment}`;
  }
  return param;
}

export const chatCompletionBody = validator<ChatCompletionBody>(ChatCompletionBodySchema);
export const simulateBody = validator<SimulateBody>(SimulateBodySchema);
