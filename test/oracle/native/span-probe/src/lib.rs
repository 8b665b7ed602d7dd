//! Proc macros that ask the proc-macro server about spans and emit what they learn as string
//! literals (each literal carrying an interesting span of its own), so the answers, the
//! sub-requests a server sends the client to get them, and the output span tables can be compared
//! between rust-analyzer's native server and macrobox's. Built natively and to wasm; needs
//! RUSTC_BOOTSTRAP for the unstable parts of `proc_macro_span` (join, parent, source, byte_range)
//! and `proc_macro::quote!`.
//!
//! `spin!`, `boom!` and `trap!` misbehave on purpose (the server's robustness tests).
#![feature(proc_macro_span, proc_macro_quote, proc_macro_expand, proc_macro_def_site)]

extern crate proc_macro;
use proc_macro::{Delimiter, Group, Literal, Span, TokenStream, TokenTree};

fn lit_at(text: &str, span: Span) -> TokenTree {
    let mut l = Literal::string(text);
    l.set_span(span);
    TokenTree::Literal(l)
}

/// Everything a span can be asked, in a fixed order (so servers send the same sub-requests).
fn describe(s: Span) -> String {
    format!(
        "file={:?} local={:?} text={:?} line={} col={} end={}:{} range={:?} parent={:?} source={:?} start={:?}",
        s.file(),
        s.local_file(),
        s.source_text(),
        s.line(),
        s.column(),
        s.end().line(),
        s.end().column(),
        s.byte_range(),
        s.parent(),
        s.source(),
        s.start(),
    )
}

/// `probe!(tokens...)`: for every token (groups: open, close and whole), a literal describing its
/// span, spanned by it; literals spanned by its parent and source; then joins, resolved_at and
/// located_at across the first and last token, and the three global spans.
#[proc_macro]
pub fn probe(input: TokenStream) -> TokenStream {
    let trees: Vec<TokenTree> = input.into_iter().collect();
    let mut out = Vec::new();
    for t in &trees {
        let s = t.span();
        out.push(lit_at(&describe(s), s));
        if let TokenTree::Group(g) = t {
            out.push(lit_at(&describe(g.span_open()), g.span_open()));
            out.push(lit_at(&describe(g.span_close()), g.span_close()));
        }
        if let TokenTree::Literal(l) = t {
            match l.subspan(1..) {
                Some(sub) => out.push(lit_at(&format!("subspan {}", describe(sub)), sub)),
                None => out.push(lit_at("subspan none", s)),
            }
        }
        if let Some(p) = s.parent() {
            out.push(lit_at("parent", p));
        }
        out.push(lit_at("source", s.source()));
    }
    let call = Span::call_site();
    if let (Some(first), Some(last)) = (trees.first(), trees.last()) {
        let (a, b) = (first.span(), last.span());
        match a.join(b) {
            Some(j) => out.push(lit_at(&format!("join {}", describe(j)), j)),
            None => out.push(lit_at("join none", call)),
        }
        let r = a.resolved_at(call);
        out.push(lit_at(&format!("resolved {r:?}"), r));
        let l = a.located_at(Span::mixed_site());
        out.push(lit_at(&format!("located {l:?}"), l));
    }
    for (name, s) in [("call", call), ("def", Span::def_site()), ("mixed", Span::mixed_site())] {
        out.push(lit_at(&format!("{name} {}", describe(s)), s));
    }
    let mut stream = TokenStream::new();
    stream.extend([TokenTree::Group(Group::new(Delimiter::Bracket, out.into_iter().collect()))]);
    stream
}

/// `quoted!()`: tokens from `proc_macro::quote!`, whose spans the expansion recovers
/// (`save_span` / `recover_proc_macro_span`).
#[proc_macro]
pub fn quoted(input: TokenStream) -> TokenStream {
    let inner = input;
    proc_macro::quote!(const QUOTED: &[u8] = &[$inner];)
}

/// `expanded!(expr)`: `TokenStream::expand_expr` on the input, or a literal saying it failed.
#[proc_macro]
pub fn expanded(input: TokenStream) -> TokenStream {
    match input.expand_expr() {
        Ok(ts) => ts,
        Err(_) => TokenTree::Literal(Literal::string("expand_expr failed")).into(),
    }
}

/// `spin!()`: runs for as long as it is let run (fuel or the wall clock stop it).
#[proc_macro]
pub fn spin(_input: TokenStream) -> TokenStream {
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

/// `boom!()`: panics.
#[proc_macro]
pub fn boom(_input: TokenStream) -> TokenStream {
    panic!("span-probe: boom")
}

/// `trap!()`: a wasm trap (`unreachable`) in wasm; natively a panic (an abort would end the server).
#[proc_macro]
pub fn trap(_input: TokenStream) -> TokenStream {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("span-probe: trap")
}

/// `ok!()`: a well-behaved macro, for the expansion after each failure.
#[proc_macro]
pub fn ok(_input: TokenStream) -> TokenStream {
    "const OK: u8 = 1;".parse().unwrap()
}

/// `envs!()`: what the environment holds for the crate being compiled (rust-analyzer passes
/// cargo's CARGO_PKG_* values with every request), and a variable nobody sets.
#[proc_macro]
pub fn envs(_input: TokenStream) -> TokenStream {
    let mut out = TokenStream::new();
    for name in ["CARGO_PKG_NAME", "MACROBOX_SPAN_PROBE_UNSET"] {
        out.extend([TokenTree::Literal(Literal::string(&format!("{name}={:?}", std::env::var(name))))]);
    }
    out
}
