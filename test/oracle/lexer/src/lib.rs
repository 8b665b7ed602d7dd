//! The lexer/printer oracle: rustc 1.96 itself answers, through the real proc_macro bridge,
//! what `TokenStream::from_str`, `Literal::from_str` and `TokenStream::to_string` give for
//! each record of the corpus.
//!
//! The test harness (test/tokens-oracle.ts) writes the records to the file named by
//! `MACROBOX_ORACLE_INPUT` and a driver file with one `probe!(K);` per line; each invocation
//! answers record K into `$MACROBOX_ORACLE_OUT/K.json`. One invocation per line, so that the
//! non-fatal diagnostics rustc emits while lexing (which go to the call site) can be
//! attributed to their record by line number.
//!
//! Input record format: `<kind> <index> <byte length>\n<payload>\n`, kind one of
//! `stream`, `literal`, `built`, `spans`.

#![feature(proc_macro_span, proc_macro_diagnostic)]
// (byte_range and Diagnostic are unstable: the harness builds this oracle with
// RUSTC_BOOTSTRAP=1; test-only.)

extern crate proc_macro;

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use std::fmt::Write as _;
use std::panic;
use std::str::FromStr;

struct Record {
    kind: String,
    payload: String,
}

fn read_record(index: usize) -> Record {
    let path = std::env::var("MACROBOX_ORACLE_INPUT").expect("MACROBOX_ORACLE_INPUT not set");
    let data = std::fs::read(&path).expect("cannot read oracle input");
    let mut pos = 0;
    loop {
        let nl = pos + data[pos..].iter().position(|&b| b == b'\n').expect("bad header");
        let header = std::str::from_utf8(&data[pos..nl]).unwrap();
        let mut parts = header.split(' ');
        let kind = parts.next().unwrap().to_string();
        let k: usize = parts.next().unwrap().parse().unwrap();
        let len: usize = parts.next().unwrap().parse().unwrap();
        let start = nl + 1;
        if k == index {
            let payload = String::from_utf8(data[start..start + len].to_vec()).unwrap();
            return Record { kind, payload };
        }
        pos = start + len + 1;
        assert!(pos < data.len(), "record {index} not found");
    }
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `kind`, `suffix` from the Literal's Debug form (the only stable way to see them).
fn literal_parts(lit: &Literal) -> (String, Option<String>) {
    let dbg = format!("{lit:?}");
    let kind_start = dbg.find("kind: ").unwrap() + 6;
    let kind_end = dbg.find(", symbol: ").unwrap();
    let suffix_start = dbg.rfind(", suffix: ").unwrap() + 10;
    let suffix_end = dbg.rfind(", span: ").unwrap();
    let suffix = &dbg[suffix_start..suffix_end];
    let suffix = if suffix == "None" {
        None
    } else {
        Some(suffix.strip_prefix("Some(\"").unwrap().strip_suffix("\")").unwrap().to_string())
    };
    (dbg[kind_start..kind_end].to_string(), suffix)
}

fn span_json(out: &mut String, span: Span) {
    let r = span.byte_range();
    let _ = write!(out, "[{},{}]", r.start, r.end);
}

fn dump_trees(out: &mut String, stream: TokenStream, with_spans: bool) {
    out.push('[');
    let mut first = true;
    for tt in stream {
        if !first {
            out.push(',');
        }
        first = false;
        match tt {
            TokenTree::Group(g) => {
                let d = match g.delimiter() {
                    Delimiter::Parenthesis => "Parenthesis",
                    Delimiter::Brace => "Brace",
                    Delimiter::Bracket => "Bracket",
                    Delimiter::None => "None",
                };
                let _ = write!(out, "{{\"t\":\"group\",\"d\":\"{d}\",");
                if with_spans {
                    out.push_str("\"open\":");
                    span_json(out, g.span_open());
                    out.push_str(",\"close\":");
                    span_json(out, g.span_close());
                    out.push_str(",\"entire\":");
                    span_json(out, g.span());
                    out.push(',');
                }
                out.push_str("\"s\":");
                dump_trees(out, g.stream(), with_spans);
                out.push('}');
            }
            TokenTree::Punct(p) => {
                let _ = write!(
                    out,
                    "{{\"t\":\"punct\",\"c\":\"{}\",\"j\":{}",
                    if p.as_char() == '\\' { "\\\\".to_string() } else { p.as_char().to_string() },
                    p.spacing() == Spacing::Joint
                );
                if with_spans {
                    out.push_str(",\"span\":");
                    span_json(out, p.span());
                }
                out.push('}');
            }
            TokenTree::Ident(i) => {
                out.push_str("{\"t\":\"ident\",\"s\":");
                json_str(out, &i.to_string());
                if with_spans {
                    out.push_str(",\"span\":");
                    span_json(out, i.span());
                }
                out.push('}');
            }
            TokenTree::Literal(l) => {
                let (kind, suffix) = literal_parts(&l);
                out.push_str("{\"t\":\"literal\",\"kind\":");
                json_str(out, &kind);
                out.push_str(",\"s\":");
                json_str(out, &l.to_string());
                out.push_str(",\"suffix\":");
                match suffix {
                    Some(s) => json_str(out, &s),
                    None => out.push_str("null"),
                }
                if with_spans {
                    out.push_str(",\"span\":");
                    span_json(out, l.span());
                }
                out.push('}');
            }
        }
    }
    out.push(']');
}

/// `to_string()` of each top-level tree (Group through the server, the rest by the client).
fn pieces_json(out: &mut String, stream: &TokenStream) {
    out.push_str(",\"pieces\":[");
    for (i, tt) in stream.clone().into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, &tt.to_string());
    }
    out.push(']');
}

fn panic_message(e: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = e.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "<non-string panic>".to_string()
    }
}

fn answer_stream(out: &mut String, src: &str) {
    match panic::catch_unwind(|| TokenStream::from_str(src)) {
        Ok(Ok(stream)) => {
            out.push_str("\"result\":\"ok\",\"trees\":");
            dump_trees(out, stream.clone(), false);
            out.push_str(",\"display\":");
            json_str(out, &stream.to_string());
            // Rebuilt from its trees: what a macro that collects the trees again prints.
            let rebuilt: TokenStream = stream.clone().into_iter().collect();
            out.push_str(",\"rebuilt\":");
            json_str(out, &rebuilt.to_string());
            pieces_json(out, &stream);
        }
        Ok(Err(e)) => {
            out.push_str("\"result\":\"err\",\"message\":");
            json_str(out, &e.to_string());
        }
        Err(p) => {
            out.push_str("\"result\":\"panic\",\"message\":");
            json_str(out, &panic_message(p));
        }
    }
}

fn answer_literal(out: &mut String, src: &str) {
    match panic::catch_unwind(|| Literal::from_str(src)) {
        Ok(Ok(lit)) => {
            let (kind, suffix) = literal_parts(&lit);
            out.push_str("\"result\":\"ok\",\"kind\":");
            json_str(out, &kind);
            out.push_str(",\"s\":");
            json_str(out, &lit.to_string());
            out.push_str(",\"suffix\":");
            match suffix {
                Some(s) => json_str(out, &s),
                None => out.push_str("null"),
            }
            // The literal alone in a stream: printed by the server, not the client.
            let stream: TokenStream = TokenTree::Literal(lit).into();
            out.push_str(",\"display\":");
            json_str(out, &stream.to_string());
        }
        Ok(Err(e)) => {
            out.push_str("\"result\":\"err\",\"message\":");
            json_str(out, &e.to_string());
        }
        Err(p) => {
            out.push_str("\"result\":\"panic\",\"message\":");
            json_str(out, &panic_message(p));
        }
    }
}

/// A stream built with the API from a line-per-item description:
/// `P<c>` alone punct, `J<c>` joint punct, `I<name>` ident, `R<name>` raw ident,
/// `L<src>` literal from `Literal::from_str`, `S<src>` a whole stream from `from_str` pushed
/// as one piece, `(` `[` `{` `<` open a group (`<` = Delimiter::None), `)` `]` `}` `>` close it.
fn build(payload: &str) -> TokenStream {
    let mut stack: Vec<(Delimiter, Vec<TokenStream>)> = vec![(Delimiter::None, Vec::new())];
    for item in payload.split('\n') {
        let (tag, rest) = item.split_at(1);
        let piece: Option<TokenStream> = match tag {
            "P" => Some(TokenTree::Punct(Punct::new(rest.chars().next().unwrap(), Spacing::Alone)).into()),
            "J" => Some(TokenTree::Punct(Punct::new(rest.chars().next().unwrap(), Spacing::Joint)).into()),
            "I" => Some(TokenTree::Ident(Ident::new(rest, Span::call_site())).into()),
            "R" => Some(TokenTree::Ident(Ident::new_raw(rest, Span::call_site())).into()),
            "L" => Some(TokenTree::Literal(Literal::from_str(rest).unwrap()).into()),
            "S" => Some(TokenStream::from_str(rest).unwrap()),
            "(" | "[" | "{" | "<" => {
                let d = match tag {
                    "(" => Delimiter::Parenthesis,
                    "[" => Delimiter::Bracket,
                    "{" => Delimiter::Brace,
                    _ => Delimiter::None,
                };
                stack.push((d, Vec::new()));
                None
            }
            ")" | "]" | "}" | ">" => {
                let (d, pieces) = stack.pop().unwrap();
                let inner: TokenStream = pieces.into_iter().collect();
                Some(TokenTree::Group(Group::new(d, inner)).into())
            }
            _ => panic!("bad built item {item:?}"),
        };
        if let Some(p) = piece {
            stack.last_mut().unwrap().1.push(p);
        }
    }
    assert_eq!(stack.len(), 1, "unbalanced built description");
    stack.pop().unwrap().1.into_iter().collect()
}

fn answer_built(out: &mut String, payload: &str) {
    match panic::catch_unwind(|| build(payload)) {
        Ok(stream) => {
            out.push_str("\"result\":\"ok\",\"trees\":");
            dump_trees(out, stream.clone(), false);
            out.push_str(",\"display\":");
            json_str(out, &stream.to_string());
            pieces_json(out, &stream);
        }
        Err(p) => {
            out.push_str("\"result\":\"panic\",\"message\":");
            json_str(out, &panic_message(p));
        }
    }
}

/// `probe!(K)` answers record K of the input file.
#[proc_macro]
pub fn probe(input: TokenStream) -> TokenStream {
    let index: usize = input.to_string().trim().parse().expect("probe!(index)");
    let record = read_record(index);
    panic::set_hook(Box::new(|_| {}));
    // A marker before this record's diagnostics: those from `Literal::from_str` are not at
    // the call site (it lexes a file of its own), so the harness attributes them by order.
    Span::call_site().warning(format!("macrobox-probe {index}")).emit();
    let mut out = String::new();
    let _ = write!(out, "{{\"index\":{index},\"kind\":\"{}\",", record.kind);
    match record.kind.as_str() {
        "stream" => {
            answer_stream(&mut out, &record.payload);
            // The same text through `Literal::from_str`, whose lexer reports with real spans
            // (the result is of no interest: only the diagnostics' byte ranges are). rustc
            // makes one source file per distinct text and drops repeated diagnostics, so a
            // comment naming the record (`/*K*/`, its length subtracted by the harness) keeps
            // the text distinct from every other record's.
            // (Small texts only: rustc's JSON diagnostics quote the whole source line, which
            // for a large one-line text costs quadratic time.)
            if record.payload.len() <= 4096 {
                let tagged = format!("/*{index}*/{}", record.payload);
                let _ = panic::catch_unwind(|| Literal::from_str(&tagged));
            }
        }
        "literal" => answer_literal(&mut out, &record.payload),
        "built" => answer_built(&mut out, &record.payload),
        k => panic!("unknown record kind {k}"),
    }
    out.push('}');
    let _ = panic::take_hook();
    let dir = std::env::var("MACROBOX_ORACLE_OUT").expect("MACROBOX_ORACLE_OUT not set");
    std::fs::write(format!("{dir}/{index}.json"), out).expect("cannot write oracle answer");
    TokenStream::new()
}

/// `spans! { tokens }` dumps its own input with byte ranges (relative to the file), so the
/// harness can check the spans of valid snippets placed in real source.
#[proc_macro]
pub fn spans(input: TokenStream) -> TokenStream {
    let mut it = input.into_iter();
    let index = match it.next() {
        Some(TokenTree::Literal(l)) => l.to_string(),
        _ => panic!("spans!(index; tokens)"),
    };
    let _semi = it.next();
    let rest: TokenStream = it.collect();
    let mut out = String::new();
    let _ = write!(out, "{{\"index\":{index},\"trees\":");
    dump_trees(&mut out, rest, true);
    out.push('}');
    let dir = std::env::var("MACROBOX_ORACLE_OUT").expect("MACROBOX_ORACLE_OUT not set");
    std::fs::write(format!("{dir}/spans-{index}.json"), out).expect("cannot write oracle answer");
    TokenStream::new()
}
