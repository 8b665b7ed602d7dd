//! macrobox's example proc-macro crate, written like any ordinary proc-macro crate.
//!
//! - `#[derive(Describe)]` with helper attribute `#[describe(skip)]` / `#[describe(rename = "..")]`
//!   adds `fn describe() -> String` and `const FIELD_NAMES: &[&str]`.
//! - `#[route(GET, "/path")]` on a function adds a `<NAME>_ROUTE` constant with method and path.
//! - `sql!(SELECT a, b FROM t WHERE ...)` checks the statement's first keyword and yields the
//!   normalised statement as a string literal.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{parse_macro_input, Data, DeriveInput, Fields, ItemFn, Lit, LitStr, Meta, NestedMeta, Token};

#[proc_macro_derive(Describe, attributes(describe))]
pub fn derive_describe(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match describe(&input) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

enum FieldAttr {
    Skip,
    Rename(LitStr),
}

fn field_attr(attrs: &[syn::Attribute]) -> syn::Result<Option<FieldAttr>> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path.is_ident("describe")) {
        let list = match attr.parse_meta()? {
            Meta::List(list) => list,
            other => return Err(syn::Error::new(other.span(), "expected #[describe(skip)] or #[describe(rename = \"...\")]")),
        };
        for nested in list.nested {
            found = Some(match nested {
                NestedMeta::Meta(Meta::Path(p)) if p.is_ident("skip") => FieldAttr::Skip,
                NestedMeta::Meta(Meta::NameValue(nv)) if nv.path.is_ident("rename") => match nv.lit {
                    Lit::Str(s) => FieldAttr::Rename(s),
                    other => return Err(syn::Error::new(other.span(), "rename expects a string literal")),
                },
                other => return Err(syn::Error::new(other.span(), "unknown describe attribute")),
            });
        }
    }
    Ok(found)
}

fn describe(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let (kind, fields) = match &input.data {
        Data::Struct(s) => ("struct", &s.fields),
        Data::Enum(e) => {
            let variants: Vec<String> = e.variants.iter().map(|v| v.ident.to_string()).collect();
            let text = format!("enum {} {{ {} }}", name, variants.join(", "));
            return Ok(quote! {
                impl #impl_generics #name #ty_generics #where_clause {
                    pub fn describe() -> ::std::string::String { ::std::string::String::from(#text) }
                    pub const FIELD_NAMES: &'static [&'static str] = &[];
                }
            });
        }
        Data::Union(u) => return Err(syn::Error::new(u.union_token.span, "Describe does not support unions")),
    };
    let mut names = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let shown = match field_attr(&field.attrs)? {
            Some(FieldAttr::Skip) => continue,
            Some(FieldAttr::Rename(s)) => s.value(),
            None => field.ident.as_ref().map(|id| id.to_string()).unwrap_or_else(|| i.to_string()),
        };
        names.push(shown);
    }
    let shape = match fields {
        Fields::Named(_) => "named",
        Fields::Unnamed(_) => "tuple",
        Fields::Unit => "unit",
    };
    let text = format!("{} {} ({}) {{ {} }}", kind, name, shape, names.join(", "));
    Ok(quote! {
        impl #impl_generics #name #ty_generics #where_clause {
            pub fn describe() -> ::std::string::String { ::std::string::String::from(#text) }
            pub const FIELD_NAMES: &'static [&'static str] = &[#(#names),*];
        }
    })
}

struct RouteArgs {
    method: syn::Ident,
    path: LitStr,
}

impl Parse for RouteArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let method: syn::Ident = input.parse()?;
        let allowed = ["GET", "POST", "PUT", "PATCH", "DELETE"];
        if !allowed.iter().any(|m| method == m) {
            return Err(syn::Error::new(method.span(), format!("unknown HTTP method `{}`, expected one of {}", method, allowed.join(", "))));
        }
        input.parse::<Token![,]>()?;
        let path: LitStr = input.parse()?;
        if !path.value().starts_with('/') {
            return Err(syn::Error::new(path.span(), "route path must start with `/`"));
        }
        Ok(RouteArgs { method, path })
    }
}

#[proc_macro_attribute]
pub fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = parse_macro_input!(args as RouteArgs);
    let func = parse_macro_input!(item as ItemFn);
    let konst = format_ident!("{}_ROUTE", func.sig.ident.to_string().to_uppercase());
    let method = args.method.to_string();
    let path = args.path;
    quote! {
        #func
        #[allow(dead_code)]
        pub const #konst: (&str, &str) = (#method, #path);
    }
    .into()
}

#[proc_macro]
pub fn sql(input: TokenStream) -> TokenStream {
    let input = proc_macro2::TokenStream::from(input);
    let first = input.clone().into_iter().next();
    let keyword = match &first {
        Some(TokenTree::Ident(id)) => id.to_string().to_uppercase(),
        Some(other) => {
            return quote_spanned!(other.span()=> compile_error!("sql! expects a statement starting with a keyword")).into()
        }
        None => return quote_spanned!(Span::call_site()=> compile_error!("sql! expects a statement")).into(),
    };
    if !["SELECT", "INSERT", "UPDATE", "DELETE"].contains(&keyword.as_str()) {
        let span = first.unwrap().span();
        let msg = format!("unsupported SQL statement `{}`", keyword);
        return quote_spanned!(span=> compile_error!(#msg)).into();
    }
    let text = input.to_string();
    quote!(#text).into()
}
