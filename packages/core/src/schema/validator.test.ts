import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/config-error.ts';
import { StringEnum, TaggedUnion } from './types.ts';
import { nearest, parseWithSchema, pointerToPath, schemaIssues } from './validator.ts';

const Rule = Type.Object(
  {
    id: Type.String({ minLength: 1 }),
    capacity: Type.Integer({ minimum: 0 }),
    action: StringEnum(['pass', 'block']),
    contains: Type.Optional(Type.String()),
    regex: Type.Optional(Type.String()),
  },
  {
    additionalProperties: false,
    not: { required: ['contains', 'regex'] },
    errorMessage: 'has both `contains` and `regex`; a rule takes exactly one matcher',
  },
);
const Config = Type.Object({ rules: Type.Array(Rule) }, { additionalProperties: false });

const Shape = TaggedUnion('kind', [
  Type.Object(
    { kind: Type.Literal('circle'), radius: Type.Number() },
    { additionalProperties: false },
  ),
  Type.Object(
    { kind: Type.Literal('square'), side: Type.Number() },
    { additionalProperties: false },
  ),
]);

describe('schema validation issues', () => {
  it('accepts a valid value and returns it unchanged', () => {
    const value = { rules: [{ id: 'a', capacity: 1, action: 'pass', contains: 'x' }] };
    expect(parseWithSchema(Config, value, 'test config')).toBe(value);
  });

  it('reports every issue with a JSONPath, not only the first', () => {
    const issues = schemaIssues(Config, {
      rules: [{ id: '', capacity: -1, action: 'explode', contians: 'x' }],
    });
    expect(issues).toEqual([
      {
        path: '$.rules[0].contians',
        message: 'is not a known key',
        expected: 'one of `id`, `capacity`, `action`, `contains`, `regex`',
        hint: 'did you mean `contains`?',
      },
      { path: '$.rules[0].id', message: 'must NOT have fewer than 1 characters' },
      { path: '$.rules[0].capacity', message: 'must be >= 0, got -1' },
      {
        path: '$.rules[0].action',
        message: 'must be one of the allowed values, got "explode"',
        expected: 'one of `pass`, `block`',
      },
    ]);
  });

  it('uses the schema’s own sentence for a forbidden combination', () => {
    const issues = schemaIssues(Config, {
      rules: [{ id: 'a', capacity: 1, action: 'block', contains: 'x', regex: 'y' }],
    });
    expect(issues).toEqual([
      {
        path: '$.rules[0]',
        message: 'has both `contains` and `regex`; a rule takes exactly one matcher',
      },
    ]);
  });

  it('names missing required keys and wrong types', () => {
    expect(schemaIssues(Config, { rules: [{ capacity: '3', action: 'pass' }] })).toEqual([
      { path: '$.rules[0].id', message: 'is required' },
      { path: '$.rules[0].capacity', message: 'must be an integer, got the string "3"' },
    ]);
    expect(schemaIssues(Config, [])).toEqual([
      { path: '$', message: 'must be an object, got an array' },
    ]);
  });

  it('checks a tagged union against the named variant only', () => {
    expect(schemaIssues(Shape, { kind: 'circle', radius: 'big' })).toEqual([
      { path: '$.radius', message: 'must be a number, got the string "big"' },
    ]);
    expect(schemaIssues(Shape, { kind: 'hexagon' })).toEqual([
      {
        path: '$.kind',
        message: 'is not a known kind, got "hexagon"',
        expected: 'one of `circle`, `square`',
      },
    ]);
    expect(schemaIssues(Shape, { radius: 1 })).toEqual([
      { path: '$.kind', message: 'is required', expected: 'one of `circle`, `square`' },
    ]);
  });

  it('summarises a plain union as the shapes it allows', () => {
    const Either = Type.Union([
      Type.String(),
      Type.Object({ a: Type.Number() }, { required: ['a'] }),
    ]);
    expect(schemaIssues(Either, 3)).toEqual([
      {
        path: '$',
        message: 'does not match any allowed shape, got 3',
        expected: 'a string or an object with `a`',
      },
    ]);
  });

  it('throws a ConfigError that lists every issue in its message', () => {
    let caught: unknown;
    try {
      parseWithSchema(Config, { rules: [{ id: 'a', capacity: -2, action: 'pass', x: 1 }] }, 'demo');
    } catch (error) {
      caught = error;
    }
    expect(ConfigError.isInstance(caught)).toBe(true);
    const error = caught as ConfigError;
    expect(error.code).toBe('config_invalid');
    expect(error.subject).toBe('demo');
    expect(error.issues).toHaveLength(2);
    expect(error.message).toBe(
      [
        'invalid demo: 2 issues',
        '  - $.rules[0].x: is not a known key (expected one of `id`, `capacity`, `action`, `contains`, `regex`)',
        '  - $.rules[0].capacity: must be >= 0, got -2',
      ].join('\n'),
    );
  });
});

describe('paths and suggestions', () => {
  it('turns JSON pointers into readable paths', () => {
    expect(pointerToPath('')).toBe('$');
    expect(pointerToPath('/a/0/b~1c/d~0e/f g')).toBe('$.a[0]["b/c"]["d~e"]["f g"]');
  });

  it('suggests a key only when it is a plausible typo', () => {
    expect(nearest('horizon_byte', ['horizon_bytes', 'max_hold_ms'])).toBe('horizon_bytes');
    expect(nearest('zzz', ['horizon_bytes', 'max_hold_ms'])).toBeUndefined();
  });
});
