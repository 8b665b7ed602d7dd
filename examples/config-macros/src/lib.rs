//! Macros whose output depends on files and env vars, read the way crates on the registry read
//! them: `std::fs` relative to `CARGO_MANIFEST_DIR`, and `std::env::var`. No dependencies, so the
//! token handling is by hand.
//!
//! - `#[derive(Greeting)]` with `#[greeting = "path"]`: `impl T { pub fn greeting() -> &'static str }`
//!   returning the file's text (trimmed).
//! - `config_consts!("path")`: one `pub const NAME: &str = "value";` per `name = value` line.
//! - `#[env_or("VAR")]` on a fn returning `&'static str`: the body becomes the variable's value
//!   when it is set, and stays as written when not.

extern crate proc_macro;

use proc_macro::{Delimiter, Group, Literal, Span, TokenStream, TokenTree};

/// A file of the crate being compiled, by its path relative to that crate's manifest directory.
fn read_config(path: &str) -> Result<String, String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").map_err(|e| format!("CARGO_MANIFEST_DIR: {}", e))?;
    let full = std::path::Path::new(&dir).join(path);
    std::fs::read_to_string(&full).map_err(|e| format!("cannot read {}: {}", full.display(), e))
}

fn error(message: &str, span: Span) -> TokenStream {
    let mut lit = Literal::string(message);
    lit.set_span(span);
    let mut out: TokenStream = "::core::compile_error!".parse().unwrap();
    out.extend([TokenTree::Group(Group::new(Delimiter::Parenthesis, TokenTree::Literal(lit).into()))]);
    out
}

/// The text of a plain string literal token (no escapes needed for paths and names).
fn string_literal(tree: &TokenTree) -> Option<String> {
    match tree {
        TokenTree::Literal(l) => {
            let s = l.to_string();
            if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
                Some(s[1..s.len() - 1].to_string())
            } else {
                None
            }
        }
        _ => None,
    }
}

#[proc_macro_derive(Greeting, attributes(greeting))]
pub fn derive_greeting(input: TokenStream) -> TokenStream {
    let trees: Vec<TokenTree> = input.into_iter().collect();
    let mut path = None;
    let mut name = None;
    for (i, t) in trees.iter().enumerate() {
        if let TokenTree::Group(g) = t {
            let inner: Vec<TokenTree> = g.stream().into_iter().collect();
            if g.delimiter() == Delimiter::Bracket && matches!(inner.first(), Some(TokenTree::Ident(id)) if id.to_string() == "greeting") {
                path = inner.get(2).and_then(string_literal);
            }
        }
        if let TokenTree::Ident(id) = t {
            let word = id.to_string();
            if (word == "struct" || word == "enum") && name.is_none() {
                name = trees.get(i + 1).map(|n| n.to_string());
            }
        }
    }
    let (Some(path), Some(name)) = (path, name) else {
        return error("#[derive(Greeting)] needs #[greeting = \"path\"] on a struct or enum", Span::call_site());
    };
    match read_config(&path) {
        Ok(text) => format!("impl {} {{ pub fn greeting() -> &'static str {{ {:?} }} }}", name, text.trim()).parse().unwrap(),
        Err(e) => error(&e, Span::call_site()),
    }
}

#[proc_macro]
pub fn config_consts(input: TokenStream) -> TokenStream {
    let first = input.into_iter().next();
    let Some(path) = first.as_ref().and_then(string_literal) else {
        return error("config_consts! takes a path in a string literal", first.map_or(Span::call_site(), |t| t.span()));
    };
    let text = match read_config(&path) {
        Ok(t) => t,
        Err(e) => return error(&e, first.unwrap().span()),
    };
    let mut out = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) => out.push_str(&format!("pub const {}: &str = {:?};\n", k.trim().to_uppercase(), v.trim())),
            None => return error(&format!("{}: `{}` is not `name = value`", path, line), first.unwrap().span()),
        }
    }
    out.parse().unwrap()
}

#[proc_macro_attribute]
pub fn env_or(args: TokenStream, item: TokenStream) -> TokenStream {
    let Some(var) = args.into_iter().next().as_ref().and_then(string_literal) else {
        return error("#[env_or(\"VAR\")] takes a variable name in a string literal", Span::call_site());
    };
    let value = match std::env::var(&var) {
        Ok(v) => v,
        Err(_) => return item,
    };
    // Everything up to the body as written, then the value as the body.
    let mut trees: Vec<TokenTree> = item.into_iter().collect();
    match trees.last() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => {
            let span = g.span();
            let mut body = Group::new(Delimiter::Brace, TokenTree::Literal(Literal::string(&value)).into());
            body.set_span(span);
            *trees.last_mut().unwrap() = TokenTree::Group(body);
            trees.into_iter().collect()
        }
        _ => error("#[env_or] goes on a fn with a body", Span::call_site()),
    }
}
