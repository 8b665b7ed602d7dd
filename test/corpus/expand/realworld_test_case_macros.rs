// Real-world corpus: test-case-macros 2.2.2 (the `test_case` attribute of test-case) from Debian's
// registry (librust-test-case-dev), cases after test-case's README and its acceptance tests.
// Format: see serde_derive.rs.

// @crate test-case-macros@2.2.2

// @case simple-expected attr:test_case expect:ok
// @args -2, -4 ; "when both operands are negative"
#[test_case(2, 4 ; "when both operands are positive")]
#[test_case(4, 2 ; "when operands are swapped")]
fn multiplication_tests(x: i8, y: i8) {
    let actual = (x * y).abs();
    assert_eq!(8, actual)
}

// @case expected-results attr:test_case expect:ok
// @args 2 => 4
#[test_case(3 => 9)]
#[test_case::case(-1 => 1 ; "negative")]
fn square(x: i32) -> i32 { x * x }

// @case matchers attr:test_case expect:ok uses:to_string
// @args 1.0 => with |v: f64| assert!(v > 0.0)
#[test_case(2.0 => is greater_than 1.0)]
#[test_case(0.5 => is almost 0.5 precision 0.01)]
#[test_case("abc" => matches Some(_))]
#[test_case(0 => panics "division")]
#[test_case(7 => ignore)]
#[test_case(8 => using check_result)]
fn checks(x: impl Into<f64>) -> f64 { x.into() }

// @case contains-and-is attr:test_case expect:ok
// @args vec![1, 2, 3] => it contains 2
#[test_case(vec![1] => it len 1)]
#[test_case(vec![] => is empty)]
#[test_case(vec![3, 1] => is not contains_in_order [1, 3])]
fn vecs(v: Vec<i32>) -> Vec<i32> { v }

// @case result-and-async attr:test_case expect:ok uses:to_string
// @args "42" ; "parses"
#[test_case("x" => matches Err(_) ; "fails")]
#[tokio::test]
async fn parse(input: &str) -> Result<u32, std::num::ParseIntError> { input.parse() }

// @case generic-and-patterns attr:test_case expect:ok
// @args (1, 2), &[3u8] => 6
fn sum_all((a, b): (u8, u8), rest: &[u8]) -> u8 { a + b + rest.iter().sum::<u8>() }

// @case error-bad-args attr:test_case expect:error
// @args 1, 2 => =>
fn broken(x: u8, y: u8) {}

// @case error-bad-second attr:test_case expect:error
// @args 1
#[test_case(1 => is frobnicated 3)]
fn broken2(x: u8) -> u8 { x }

// @case error-not-a-fn attr:test_case expect:error
// @args 1
struct NotAFn;
