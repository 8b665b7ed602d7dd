// Real-world corpus: darling_macro 0.14.1 (which itself runs darling at expansion time) from
// Debian's registry. Format: see serde_derive.rs.

// @crate darling_macro@0.14.1

// @case from-derive-input derive:FromDeriveInput expect:ok
#[darling(attributes(my), supports(struct_named))]
struct Opts { ident: syn::Ident, #[darling(default)] rename: Option<String> }

// @case from-meta-enum derive:FromMeta expect:ok
enum Level { Low, #[darling(rename = "hi")] High }

// @case from-field derive:FromField expect:ok
#[darling(attributes(field))]
struct FieldOpts { ident: Option<syn::Ident>, ty: syn::Type, #[darling(default)] skip: bool }
