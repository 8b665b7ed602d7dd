// Real-world corpus: data-encoding-macro-internal 0.1.10 (encodings and byte arrays decoded at expansion time; a bad
// padding panics)
// from Debian's registry. Format: see serde_derive.rs.

// @crate data-encoding-macro-internal@0.1.10

// @case new-encoding bang:internal_new_encoding expect:ok
symbols: "0123456789abcdef",
translate_from: "ABCDEF",
translate_to: "abcdef",

// @case decode-array bang:internal_decode_array expect:ok
name: "const OCTAL",
symbols: "01234567",
padding: '=',
input: "237610==",

// @case decode-slice bang:internal_decode_slice expect:ok
symbols: "01234567",
padding: '=',
input: "237610==",

// @case bad-symbols bang:internal_new_encoding expect:error
symbols: "0123",
padding: 7,
