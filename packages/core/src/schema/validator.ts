import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { Static, TSchema } from 'typebox';
import { ConfigError, type ConfigIssue } from '../errors/config-error.ts';

/**
 * Validation of configuration against its TypeBox schema, with errors a person can act on:
 * every issue names its JSONPath-like location, says what was expected and, for a misspelt key,
 * suggests the nearest known one. Validators are compiled once per schema object.
 */

let sharedAjv: Ajv2020 | undefined;

function ajv(): Ajv2020 {
  if (sharedAjv === undefined) {
    sharedAjv = new Ajv2020({
      allErrors: true,
      verbose: true,
      strict: true,
      // `not: {required: [a, b]}` ("not both") names keys declared beside it, not inside it.
      strictRequired: false,
      discriminator: true,
      // Config must never be changed behind the caller's back: defaults are applied in code.
      useDefaults: false,
      coerceTypes: false,
    });
    // Annotation keyword: a schema node may carry the sentence to show when it fails as a whole
    // (e.g. a `not` that forbids two keys together).
    sharedAjv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' });
  }
  return sharedAjv;
}

const compiled = new WeakMap<object, ValidateFunction>();

function validatorFor(schema: TSchema): ValidateFunction {
  let validate = compiled.get(schema);
  if (validate === undefined) {
    validate = ajv().compile(schema);
    compiled.set(schema, validate);
  }
  return validate;
}

/** Every schema issue of `value`, or an empty list when it is valid. */
export function schemaIssues(schema: TSchema, value: unknown): ConfigIssue[] {
  const validate = validatorFor(schema);
  if (validate(value)) return [];
  return formatAjvErrors(validate.errors ?? []);
}

/**
 * Validate `value` against `schema` and return it typed, or throw a `ConfigError` listing
 * every issue. The value is returned as is (never coerced, never filled with defaults).
 */
export function parseWithSchema<T extends TSchema>(
  schema: T,
  value: unknown,
  subject: string,
): Static<T> {
  const issues = schemaIssues(schema, value);
  if (issues.length > 0) throw new ConfigError(subject, issues);
  return value as Static<T>;
}

/** `/rules/0/regex` → `$.rules[0].regex`. */
export function pointerToPath(pointer: string): string {
  if (pointer === '') return '$';
  let path = '$';
  for (const raw of pointer.slice(1).split('/')) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    path += appendSegment(segment);
  }
  return path;
}

/** Append one key or index to a `$.a[0]`-style path. */
export function joinPath(path: string, segment: string | number): string {
  return path + appendSegment(String(segment), typeof segment === 'number');
}

function appendSegment(segment: string, isIndex = /^(0|[1-9][0-9]*)$/.test(segment)): string {
  if (isIndex) return `[${segment}]`;
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(segment)) return `.${segment}`;
  return `[${JSON.stringify(segment)}]`;
}

type SchemaNode = Record<string, unknown>;

const combinators = new Set(['not', 'anyOf', 'oneOf', 'if']);

function formatAjvErrors(errors: readonly ErrorObject[]): ConfigIssue[] {
  // A failed union produces one error per branch plus one for the union itself. Only the union
  // error is useful to a person; the branch errors are folded into it.
  const unionPaths = errors
    .filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf')
    .map((e) => `${e.schemaPath}/`);
  const discriminated = errors
    .filter((e) => e.keyword === 'discriminator')
    .map((e) => `${e.schemaPath.replace(/\/discriminator$/, '')}/oneOf`);
  const kept = errors.filter(
    (e) =>
      !unionPaths.some((prefix) => e.schemaPath.startsWith(prefix)) &&
      !(e.keyword === 'oneOf' && discriminated.includes(e.schemaPath)),
  );
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const error of kept) {
    const issue = describe(error);
    const key = `${issue.path}\u0000${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
  }
  return issues;
}

function describe(error: ErrorObject): ConfigIssue {
  const path = pointerToPath(error.instancePath);
  const parent = (error.parentSchema ?? {}) as SchemaNode;
  // `errorMessage` speaks for the node's combinators (`not`, `anyOf`, …), whose default
  // messages say nothing useful; leaf keywords keep their precise message.
  const custom =
    combinators.has(error.keyword) && typeof parent.errorMessage === 'string'
      ? parent.errorMessage
      : undefined;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return {
        path: joinPath(path, String(params.missingProperty)),
        message: 'is required',
      };
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys((parent.properties as SchemaNode | undefined) ?? {});
      const issue: ConfigIssue = {
        path: joinPath(path, key),
        message: 'is not a known key',
      };
      if (known.length > 0) issue.expected = `one of ${listOf(known)}`;
      const near = nearest(key, known);
      if (near !== undefined) issue.hint = `did you mean \`${near}\`?`;
      return issue;
    }
    case 'type':
      return {
        path,
        message: `must be ${article(String(params.type))}, got ${kindOf(error.data)}`,
      };
    case 'enum':
      return {
        path,
        message: `must be one of the allowed values, got ${show(error.data)}`,
        expected: `one of ${listOf((params.allowedValues as unknown[]).map(String))}`,
      };
    case 'const':
      return {
        path,
        message: `must be ${show(params.allowedValue)}, got ${show(error.data)}`,
      };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return {
        path,
        message: `must be ${params.comparison} ${params.limit}, got ${show(error.data)}`,
      };
    case 'discriminator': {
      const tag = String(params.tag);
      const variants = ((parent.oneOf as SchemaNode[] | undefined) ?? []).flatMap((v) => {
        const property = (v.properties as SchemaNode | undefined)?.[tag] as SchemaNode | undefined;
        return property?.const === undefined ? [] : [String(property.const)];
      });
      const value = (error.data as Record<string, unknown> | null)?.[tag];
      return {
        path: joinPath(path, tag),
        message: value === undefined ? 'is required' : `is not a known ${tag}, got ${show(value)}`,
        expected: `one of ${listOf(variants)}`,
      };
    }
    case 'anyOf':
    case 'oneOf': {
      const branches = (parent[error.keyword] as SchemaNode[] | undefined) ?? [];
      if (custom !== undefined) return { path, message: custom };
      if (branches.length > 0 && branches.every((b) => b.const !== undefined)) {
        return {
          path,
          message: `must be one of the allowed values, got ${show(error.data)}`,
          expected: `one of ${listOf(branches.map((b) => String(b.const)))}`,
        };
      }
      return {
        path,
        message: `does not match any allowed shape, got ${kindOf(error.data)}`,
        expected: branches.map(shapeOf).join(' or '),
      };
    }
    default:
      return { path, message: custom ?? error.message ?? `fails \`${error.keyword}\`` };
  }
}

function shapeOf(schema: SchemaNode): string {
  if (schema.const !== undefined) return show(schema.const);
  if (Array.isArray(schema.required) && schema.required.length > 0) {
    return `an object with ${listOf(schema.required.map(String))}`;
  }
  if (typeof schema.type === 'string') return article(schema.type);
  return 'a value of another shape';
}

function article(type: string): string {
  switch (type) {
    case 'integer':
      return 'an integer';
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    default:
      return `a ${type}`;
  }
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `the string ${JSON.stringify(truncate(value))}`;
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(truncate(value));
  if (value === undefined) return 'nothing';
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : truncate(json);
}

function truncate(text: string, max = 60): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function listOf(values: readonly string[]): string {
  return values.map((v) => `\`${v}\``).join(', ');
}

/** The known key closest to `key` by edit distance, when it is close enough to be a typo. */
export function nearest(
  key: string,
  known: readonly string[],
  /** Edits always allowed, however short the key. Default 1. */
  options: { min_edits?: number } = {},
): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const allowed = Math.max(options.min_edits ?? 1, Math.floor(key.length / 3));
  return bestDistance <= allowed ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(
        above + 1,
        row[j - 1]! + 1,
        diagonal + (a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1),
      );
      diagonal = above;
    }
  }
  return row[b.length]!;
}
