// The token layer's public API: rustc 1.96's lexer, `TokenStream::from_str`,
// `Literal::from_str` and `TokenStream::to_string`, over the shared token model.
//
// Browser-safe: no Node APIs here.

export * from "./model.js";
export {
  tokenStreamFromStr,
  parseLiteral,
  normalizeAndValidateIdent,
  shebangLength,
  ICE_PANIC_MESSAGE,
  normalizeSource,
  type ParseOptions,
  type ParseResult,
  type LexFailure,
  type LiteralResult,
} from "./parse.js";
export type { Edition, LexDiagnostic } from "./cook.js";
export { printTokenStream, printTokenTree, printLiteral, printedLengthBound, isReservedIdent, type PrintOptions } from "./print.js";
export { fromClientTree, pushInternal } from "./convert.js";
export { RawCursor, Raw, Lit, DocStyle, type RawKind } from "./lexer.js";
export { isIdStart, isIdContinue, isIdent, isWhitespace } from "./unicode.js";
export { escapeDefault, unescapeStr } from "./escape.js";
export { streamShape, type StreamShape } from "./shape.js";
export { forEachTree, copyStream } from "./walk.js";
