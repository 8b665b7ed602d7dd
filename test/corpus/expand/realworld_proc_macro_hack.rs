// Real-world corpus: proc-macro-hack 0.5.19 (`#[proc_macro_hack]` on a function and on a re-export; on anything else, an error)
// from Debian's registry. Format: see serde_derive.rs.

// @crate proc-macro-hack@0.5.19

// @case hack-fn attr:proc_macro_hack expect:ok
// @args
pub fn add_one(input: TokenStream) -> TokenStream { input }

// @case hack-use attr:proc_macro_hack expect:ok
// @args
pub use demo_hack_impl::add_one;

// @case hack-bad attr:proc_macro_hack expect:error
// @args
struct NotAFunction;
