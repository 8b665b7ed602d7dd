// Real-world corpus: derivative 2.1.1 from Debian's registry (librust-derivative-dev), cases after
// derivative's docs and tests. Format: see serde_derive.rs.

// @crate derivative@2.1.1

// @case debug-options derive:Derivative expect:ok
#[derivative(Debug)]
struct Foo {
    foo: u8,
    #[derivative(Debug = "ignore")]
    secret: String,
    #[derivative(Debug(format_with = "path::to::my_fmt_fn"))]
    custom: Vec<u8>,
}

// @case default-bounds derive:Derivative expect:ok
#[derivative(Default(bound = ""), Clone(bound = "T: Clone"), PartialEq, Eq, Hash)]
pub struct Wrapper<T> {
    #[derivative(Default(value = "Vec::new()"))]
    items: Vec<T>,
    #[derivative(PartialEq = "ignore", Hash = "ignore")]
    cache: Option<T>,
    #[derivative(PartialEq(compare_with = "cmp_fn"))]
    key: u32,
}

// @case enum-default-ord derive:Derivative expect:ok
#[derivative(Debug, Default, Copy, Clone, PartialOrd = "feature_allow_slow_enum", Ord = "feature_allow_slow_enum", PartialEq)]
enum Kind {
    A(u8),
    #[derivative(Default)]
    B { x: u16 },
    #[derivative(Debug = "transparent")]
    C(u32),
}

// @case debug-bound-generics derive:Derivative expect:ok
#[derivative(Debug(bound = "T: std::fmt::Debug"), Clone)]
struct Generic<'a, T: 'a, const N: usize> where T: Copy {
    #[derivative(Debug(bound = ""))]
    phantom: std::marker::PhantomData<&'a T>,
    arr: [T; N],
}

// @case error-unknown-trait derive:Derivative expect:error
#[derivative(Frobnicate)]
struct Bad { a: u8 }

// @case error-unknown-option derive:Derivative expect:error
#[derivative(Debug(banana = "1"))]
struct Bad2 { a: u8 }

// @case error-clone-copy-generic derive:Derivative expect:error
#[derivative(Clone = "Copy")]
struct Bad3<T> { a: T }
