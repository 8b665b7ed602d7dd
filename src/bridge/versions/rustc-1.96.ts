// rustc 1.96's proc_macro bridge: `with_api!` (library/proc_macro/src/bridge/mod.rs) as a table.
// A method's index is its tag on the wire; its codecs say how each argument and the result are
// encoded (codec.ts). test/bridge/bridge-units.test.ts checks names, order and types against mod.rs.
//
// Browser-safe: no Node APIs here.

import {
  bool,
  bound,
  diagnostic,
  literal,
  method,
  option,
  range,
  result,
  span,
  str,
  stream,
  streamRef,
  string,
  symbol,
  tokenTree,
  unit,
  usize,
  vec,
} from "../codec.js";

export const RUSTC_1_96 = {
  /**
   * In `macrobox build`'s format (bridgeAbiId, src/builder/toolchain.ts):
   * `rustc-<major>.<minor>/<first 12 hex of sha256 over library/proc_macro/src/bridge/*>`.
   */
  abi: "rustc-1.96/bc39ef00f2e7",
  methods: [
    method("injected_env_var", [str], option(string)),
    method("track_env_var", [str, option(str)], unit),
    method("track_path", [str], unit),
    method("literal_from_str", [str], result(literal, string)),
    method("emit_diagnostic", [diagnostic], unit),

    method("ts_drop", [stream], unit),
    method("ts_clone", [streamRef], stream),
    method("ts_is_empty", [streamRef], bool),
    method("ts_expand_expr", [streamRef], result(stream, unit)),
    method("ts_from_str", [str], result(stream, string)),
    method("ts_to_string", [streamRef], string),
    method("ts_from_token_tree", [tokenTree], stream),
    method("ts_concat_trees", [option(stream), vec(tokenTree)], stream),
    method("ts_concat_streams", [option(stream), vec(stream)], stream),
    method("ts_into_trees", [stream], vec(tokenTree)),

    method("span_debug", [span], string),
    method("span_parent", [span], option(span)),
    method("span_source", [span], span),
    method("span_byte_range", [span], range),
    method("span_start", [span], span),
    method("span_end", [span], span),
    method("span_line", [span], usize),
    method("span_column", [span], usize),
    method("span_file", [span], string),
    method("span_local_file", [span], option(string)),
    method("span_join", [span, span], option(span)),
    method("span_subspan", [span, bound, bound], option(span)),
    method("span_resolved_at", [span, span], span),
    method("span_source_text", [span], option(string)),
    method("span_save_span", [span], usize),
    method("span_recover_proc_macro_span", [usize], span),

    method("symbol_normalize_and_validate_ident", [str], result(symbol, unit)),
  ],
} as const;
