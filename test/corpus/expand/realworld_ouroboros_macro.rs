// Real-world corpus: ouroboros_macro 0.15.3 from Debian's registry (librust-ouroboros-macro-dev,
// Inflector, proc-macro-error), cases after ouroboros's docs and examples. Format: see serde_derive.rs.

// @crate ouroboros_macro@0.15.3

// @case docs-example attr:self_referencing expect:ok
// @args
struct MyStruct {
    int_data: i32,
    float_data: f32,
    #[borrows(int_data)]
    int_reference: &'this i32,
    #[borrows(mut float_data)]
    float_reference: &'this mut f32,
}

// @case panic-covariant-twice attr:self_referencing expect:error
// @args pub_extras
pub struct Chain {
    data: Box<String>,
    #[borrows(data)]
    #[covariant]
    first: &'this str,
    #[borrows(first)]
    #[not_covariant]
    parsed: Vec<&'this str>,
}

// @case panic-const-generics attr:self_referencing expect:error
// @args no_doc, pub_extras
pub(crate) struct Generic<T: 'static + Clone, const N: usize> where T: Default {
    data: [T; N],
    #[borrows(data)]
    view: &'this [T],
}

// @case generics-options attr:self_referencing expect:ok
// @args no_doc, pub_extras
pub(crate) struct Generic<'a, T: 'static + Clone> where T: Default {
    outer: &'a str,
    data: Vec<T>,
    data2: T,
    #[borrows(data)]
    view: &'this [T],
    #[borrows(mut data2, view)]
    view2: &'this mut T,
}

// @case async-constructor attr:self_referencing expect:ok
// @args
struct Async {
    owner: String,
    #[borrows(owner)]
    #[covariant]
    dependent: Option<&'this str>,
}

// @case error-no-lifetime-field attr:self_referencing expect:error
// @args
struct Bad {
    data: String,
    #[borrows(missing)]
    view: &'this str,
}

// @case error-unknown-option attr:self_referencing expect:error
// @args frobnicate
struct Bad2 { data: String }

// @case error-tuple-struct attr:self_referencing expect:error
// @args
struct Bad3(String);
