// Real-world corpus: rustversion 1.0.6 (`#[stable]`, `#[since]`, `#[before]`, `#[nightly]`, `#[attr(...)]`, against the
// compiler version its build script read; a bad version is an error). Not here: an unparsable version's
// message names "today" from the clock (natively the real date, in the sandbox always 2020-02-25, the
// crate's fallback for a clock before 2019: macrobox's clock is fixed), a difference by design
// from Debian's registry. Format: see serde_derive.rs.

// @crate rustversion@1.0.6

// @case stable attr:stable expect:ok
// @args
fn only_stable() {}

// @case since attr:since expect:ok
// @args 1.40
fn newer() {}

// @case before attr:before expect:ok
// @args 2021-01-01
fn older() {}

// @case any-attr attr:attr expect:ok
// @args any(stable, nightly), derive(Debug)
struct S;

// @case nightly attr:nightly expect:ok
// @args
fn only_nightly() {}

// @case bad-version attr:since expect:error
// @args 1.2.3.4
fn bad() {}
