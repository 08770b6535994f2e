import type { JsonValue } from '@wardwright/core';
import fc from 'fast-check';
import type { QuickJSContext, QuickJSHandle, QuickJSRuntime } from 'quickjs-emscripten-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBinaryJson } from './binary-json.ts';
import { Engine } from './session.ts';

let runtime: QuickJSRuntime;
let context: QuickJSContext;
let parse: QuickJSHandle;

beforeAll(async () => {
  const engine = await Engine.create(1024);
  runtime = engine.module.newRuntime();
  context = runtime.newContext();
  parse = context.unwrapResult(context.evalCode('(text) => JSON.parse(text)'));
});
afterAll(() => {
  parse.dispose();
  context.dispose();
  runtime.dispose();
});

/** QuickJS's own encoding of the value its JSON.parse makes from the text. */
function quickjsBytes(text: string): Uint8Array {
  const arg = context.newString(text);
  const value = context.unwrapResult(context.callFunction(parse, context.undefined, arg));
  arg.dispose();
  const encoded = context.encodeBinaryJSON(value);
  value.dispose();
  const bytes = new Uint8Array(context.getArrayBuffer(encoded).value);
  encoded.dispose();
  return bytes.slice();
}

/** What the guest sees after decoding our bytes, as JSON text. */
function decodedText(bytes: Uint8Array): string {
  const buffer = context.newArrayBuffer(bytes.slice().buffer);
  const value = context.decodeBinaryJSON(buffer);
  buffer.dispose();
  const stringify = context.unwrapResult(context.evalCode('(v) => JSON.stringify(v)'));
  const result = context.unwrapResult(context.callFunction(stringify, context.undefined, value));
  const text = context.getString(result);
  for (const handle of [result, stringify, value]) handle.dispose();
  return text;
}

const normalised = (value: unknown): JsonValue => JSON.parse(JSON.stringify(value)) as JsonValue;

function encoded(value: JsonValue): Uint8Array {
  const bytes = encodeBinaryJson(value);
  if (bytes === undefined) throw new Error('not encoded');
  return bytes;
}

describe('encodeBinaryJson', () => {
  it('writes byte for byte what QuickJS writes for the same JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (raw) => {
        const value = normalised(raw);
        const text = JSON.stringify(value);
        expect(Buffer.from(encoded(value)).toString('hex')).toBe(
          Buffer.from(quickjsBytes(text)).toString('hex'),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('decodes in the guest to the same JSON text, for the edge cases', () => {
    const cases: JsonValue[] = [
      0,
      -1,
      2 ** 31 - 1,
      -(2 ** 31),
      2 ** 31,
      -(2 ** 31) - 1,
      1.5,
      -0.000001,
      1e300,
      Number.MAX_SAFE_INTEGER,
      '',
      'latin-1 é ÿ',
      'wide ē 日本 😀 \ud800 lone surrogate',
      { '': 1, __proto__: 2, '0': 'a', '10': 'b', '2147483647': 'c', '2147483648': 'd', '01': 'e' },
      { constructor: { prototype: null }, toString: 'x', length: 3 },
      [[[]], {}, [null, true, false]],
      Array.from({ length: 300 }, (_, i) => ({ [`k${i % 7}`]: i })),
    ];
    for (const value of cases) {
      // Built with JSON.parse, as the backend does: `__proto__` is then an own property.
      const parsed = JSON.parse(JSON.stringify(value)) as JsonValue;
      const text = JSON.stringify(parsed);
      expect(decodedText(encoded(parsed))).toBe(text);
      expect(Buffer.from(encoded(parsed))).toEqual(Buffer.from(quickjsBytes(text)));
    }
  });

  it('long strings, Latin-1 and wide (and wide only at the end), match QuickJS', () => {
    for (const text of [
      'x'.repeat(40),
      `${'é'.repeat(40)}ÿ`,
      `${'日'.repeat(33)}\ud800z`,
      `${'a'.repeat(31)}€`,
    ]) {
      const value = { text, list: [text, text.slice(1)] };
      expect(Buffer.from(encoded(value))).toEqual(Buffer.from(quickjsBytes(JSON.stringify(value))));
      expect(decodedText(encoded(value))).toBe(JSON.stringify(value));
    }
  });

  it('refuses input nested deeper than the limit, counting arrays and objects alike', () => {
    const nest = (depth: number): JsonValue => {
      let v: JsonValue = 0;
      for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { a: v };
      return v;
    };
    expect(encodeBinaryJson(nest(1000), 1000)).toBeDefined();
    expect(encodeBinaryJson(nest(1001), 1000)).toBeUndefined();
    // Wide is not deep: a thousand siblings one level down.
    expect(
      encodeBinaryJson(
        Array.from({ length: 5000 }, () => [1]),
        2,
      ),
    ).toBeDefined();
    // Far deeper than the host's stack would allow a recursive writer to go.
    expect(encodeBinaryJson(nest(200_000), 1000)).toBeUndefined();
  });

  it('an own __proto__ property stays a property, not the prototype', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": true}}') as JsonValue;
    const buffer = context.newArrayBuffer(encoded(parsed).slice().buffer);
    const value = context.decodeBinaryJSON(buffer);
    buffer.dispose();
    const check = context.unwrapResult(
      context.evalCode(
        '(v) => [Object.keys(v).join(), Object.getPrototypeOf(v) === Object.prototype, typeof ({}).polluted]',
      ),
    );
    const result = context.unwrapResult(context.callFunction(check, context.undefined, value));
    expect(context.dump(result)).toEqual(['__proto__', true, 'undefined']);
    for (const handle of [result, check, value]) handle.dispose();
  });
});
