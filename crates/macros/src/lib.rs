//! `#[zeroproc::main]`: inserts `::zeroproc::init();` as the first statement of the
//! function it is put on (normally `main`), so a worker process started from this program
//! turns into a worker before any of the program's own code runs.
//!
//! ```ignore
//! #[zeroproc::main]
//! fn main() {
//!     let pool = zeroproc::Pool::new().unwrap();
//!     // ...
//! }
//! ```
//!
//! Written with `proc_macro` alone (no `syn`): the item's last token tree must be the
//! function body, a `{ ... }` group.

use proc_macro::{Delimiter, Group, TokenStream, TokenTree};

/// Makes `::zeroproc::init();` the first statement of the annotated function.
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return error("#[zeroproc::main] takes no arguments");
    }
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    let is_fn = tokens.iter().any(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"));
    match tokens.pop() {
        Some(TokenTree::Group(body)) if is_fn && body.delimiter() == Delimiter::Brace => {
            let init: TokenStream = "::zeroproc::init();".parse().expect("valid tokens");
            let mut inner = init;
            inner.extend(body.stream());
            let mut g = Group::new(Delimiter::Brace, inner);
            g.set_span(body.span());
            tokens.push(TokenTree::Group(g));
            tokens.into_iter().collect()
        }
        _ => error("#[zeroproc::main] goes on a function with a body"),
    }
}

fn error(msg: &str) -> TokenStream {
    format!("::core::compile_error!({msg:?});").parse().expect("valid tokens")
}
