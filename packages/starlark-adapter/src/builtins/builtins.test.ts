import { describe, expect, it } from 'vitest';
import { err, ev } from '../testing/helpers.ts';

describe('string methods', () => {
  it('find/index/count with bounds, partition, strip with chars', () => {
    expect(ev('"banana".find("an", 2), "banana".rfind("an"), "banana".count("a", 2)')).toBe(
      '(3, 3, 2)',
    );
    expect(err('"abc".index("z")')).toMatch(/substring "z" not found/);
    expect(ev('"a=b=c".partition("="), "a=b=c".rpartition("=")')).toBe(
      '(("a", "=", "b=c"), ("a=b", "=", "c"))',
    );
    expect(ev('"xxhixx".strip("x"), "  a".lstrip(), "a  ".rstrip()')).toBe('("hi", "a", "a")');
    expect(ev('"abc".removeprefix("a"), "abc".removesuffix("c")')).toBe('("bc", "ab")');
    expect(ev('"a\\r\\nb\\n".splitlines(True)')).toBe('["a\\r\\n", "b\\n"]');
    expect(
      ev(
        '"Ab1".isalnum(), "ab".islower(), "AB".isupper(), " ".isspace(), "12".isdigit(), "Ab Cd".istitle()',
      ),
    ).toBe('(True, True, True, True, True, True)');
    expect(ev('"aXbXc".replace("X", "-", 1), "ab".replace("", "-")')).toBe('("a-bXc", "-a-b-")');
    expect(ev('"a b  c".split(" ", 1), " a b c ".rsplit(None, 1)')).toBe(
      '(["a", "b  c"], [" a b", "c"])',
    );
    expect(ev('"é😀".codepoints(), "é".codepoint_ords(), "é".elem_ords()')).toBe(
      '(["é", "😀"], [233], [195, 169])',
    );
  });

  it('format and % report their errors', () => {
    expect(err('x = "{}".format()')).toMatch(/No replacement found for index 0/);
    expect(err('x = "%d" % "a"')).toMatch(/requires number/);
    expect(err('x = "%s %s" % (1,)')).toMatch(/not enough arguments/);
    expect(ev('"%e|%f|%g" % (1.5, 2, 1e-7)')).toBe('"1.500000e+00|2.000000|1e-07"');
    expect(ev('"{!r}{!s}".format("a", "b")')).toBe('"\\"a\\"b"');
  });
});

describe('list and dict methods', () => {
  it('mutate in place and check their arguments', () => {
    expect(ev('[[1, 2].pop(0), [3].index(3)]')).toBe('[1, 0]');
    expect(err('x = [].pop()')).toMatch(/out of range/);
    expect(ev('{"a": 1}.setdefault("b", 2)')).toBe('2');
    expect(err('x = {}.pop("k")')).toMatch(/missing key/);
    expect(ev('len(dir([])) > 5, getattr([], "append") != None')).toBe('(True, True)');
    expect(err('x = [].nope')).toMatch(/list has no .nope field or method/);
    expect(err('x = "".fnd("a")')).toMatch(/did you mean .find/);
  });
});

describe('universe', () => {
  it('converts between types', () => {
    expect(ev('int("0x1f", 16), int("-12"), int(3.9), int(True), float("1e3"), float(2)')).toBe(
      '(31, -12, 3, 1, 1000.0, 2.0)',
    );
    expect(err('x = int("1.5")')).toMatch(/invalid literal/);
    expect(err('x = int("5", 1)')).toMatch(/>= 2 && <= 36/);
    expect(ev('bool([]), bool("x"), str(None), repr("a"), tuple([1]), list((1,))')).toBe(
      '(False, True, "None", "\\"a\\"", (1,), [1])',
    );
    expect(ev('bytes("é"), abs(-3), abs(-2.5), len(range(0, 10, 3))')).toBe(
      '(b"\\xc3\\xa9", 3, 2.5, 4)',
    );
    expect(err('x = len(1)')).toMatch(/has no len/);
    expect(err('x = min()')).toMatch(/at least one item/);
    expect(ev('min([], default=7), max("b", "a")')).toBe('(7, "b")');
    expect(err('x = range(1, 2, 0)')).toMatch(/step argument must not be zero/);
    expect(err('x = json.encode(float("nan"))')).toMatch(/non-finite/);
    expect(err('x = json.decode("{")')).toMatch(/json.decode/);
    expect(err('x = json.encode({1: 2})')).toMatch(/dict has int key/);
  });
});
