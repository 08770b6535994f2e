export { boundaryAtOrBefore, lastGraphemeStart } from './graphemes.ts';
export {
  type CompiledRegex,
  compileRegex,
  literalPattern,
  type TextMatch,
  type TextPattern,
} from './pattern.ts';
export { indexWithinBudget, utf8Exceeds, utf8Length } from './utf8.ts';
