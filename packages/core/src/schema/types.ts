import Type, { type Static, type TSchema, type TUnion } from 'typebox';

/**
 * A string that must be one of `values`. Emitted as `{"type":"string","enum":[...]}` rather
 * than a union of literals, so a wrong value gets one error ("must be one of …") instead of one
 * error per literal.
 */
export function StringEnum<const V extends readonly [string, ...string[]]>(
  values: V,
  options: { description?: string; default?: V[number] } = {},
) {
  return Type.Unsafe<V[number]>({ type: 'string', enum: [...values], ...options });
}

/**
 * A union of object variants told apart by one tag property (`kind`, `type`, …). Validated
 * with the `discriminator` keyword, so a value is checked against its own variant only and the
 * errors name that variant's fields instead of every alternative's.
 */
export function TaggedUnion<const T extends TSchema[]>(
  tag: string,
  variants: [...T],
  options: { description?: string } = {},
) {
  return Type.Unsafe<Static<TUnion<T>>>({
    type: 'object',
    oneOf: variants,
    discriminator: { propertyName: tag },
    ...options,
  });
}
