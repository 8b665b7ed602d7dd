//! Proc macros that return what they are given, so a token stream sent through a proc-macro
//! server comes back unchanged (spans included, in the server's `Id` span mode).
extern crate proc_macro;
use proc_macro::TokenStream;

/// `echo!(...)` expands to exactly its input.
#[proc_macro]
pub fn echo(input: TokenStream) -> TokenStream {
    input
}

/// `#[echo_attr(args)] item` expands to the arguments followed by the item.
#[proc_macro_attribute]
pub fn echo_attr(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut out = args;
    out.extend(item);
    out
}

/// `#[derive(EchoDerive)]` expands to its input item again.
#[proc_macro_derive(EchoDerive, attributes(echo))]
pub fn echo_derive(input: TokenStream) -> TokenStream {
    input
}

/// `panic_now!()` panics with a known message.
#[proc_macro]
pub fn panic_now(_input: TokenStream) -> TokenStream {
    panic!("echo-macros: asked to panic")
}

/// `reparse!(...)` prints its input and parses it back, exercising the server's own lexer.
#[proc_macro]
pub fn reparse(input: TokenStream) -> TokenStream {
    input.to_string().parse().unwrap()
}
