// Real-world corpus: futures-macro 0.3.21 (what `join!`, `try_join!`, `select!`, `select_biased!` and `stream_select!`
// expand through, and `#[futures::test]`)
// from Debian's registry. Format: see serde_derive.rs.

// @crate futures-macro@0.3.21

// @case join bang:join_internal expect:ok
a, b, async { 3 }

// @case try-join bang:try_join_internal expect:ok
fut_a, fut_b

// @case select bang:select_internal expect:ok
a = fut_a => a + 1,
b = fut_b => { b }
complete => 0,
default => 1,

// @case select-biased bang:select_biased_internal expect:ok
x = f => x,
complete => break,

// @case stream-select bang:stream_select_internal expect:ok
s1, s2, s3

// @case test-attr attr:test_internal expect:ok
// @args
async fn t() { assert!(true); }

// @case select-bad bang:select_internal expect:error
a => 1
