//! zeroproc's attributes, written with `proc_macro` alone (no `syn`):
//!
//! * `#[zeroproc::main]` inserts `::zeroproc::init();` (and a guard that, with the `mpi`
//!   feature, ends the MPI run when `main` does) as the first statement of the
//!   function it is put on (normally `main`), so a worker process started from this
//!   program turns into a worker before any of the program's own code runs. Over an
//!   async runtime's attribute (`#[zeroproc::main] #[tokio::main] async fn main`) it
//!   keeps `init()` first all the same: the runtime's `main` becomes an inner function
//!   that a plain `main` calls after `init()`, so no worker ever starts a runtime. The
//!   other order (`#[tokio::main] #[zeroproc::main]`) works as it is.
//! * `#[zeroproc::data]` makes a type a job argument or result: it derives rkyv's
//!   `Archive`, `Serialize` and `Deserialize` with the rkyv that zeroproc re-exports (no
//!   rkyv dependency of your own, no `#[rkyv(crate = …)]` to remember).
//!
//! ```ignore
//! #[zeroproc::data]
//! struct Tile { x: u32, y: u32, pixels: Vec<u8> }
//!
//! #[zeroproc::main]
//! fn main() {
//!     let pool = zeroproc::Pool::new().unwrap();
//!     // pool.submit(render, Tile { .. }) ...
//! }
//! ```

use proc_macro::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};

/// What `#[zeroproc::main]` puts first in `main`: `init()`, and a guard that lives until
/// `main` returns or unwinds (with zeroproc's `mpi` feature its drop stops the node agents
/// and finalizes MPI; otherwise it does nothing).
const INIT: &str =
    "::zeroproc::init(); let __zeroproc_main_guard = ::zeroproc::__private::main_guard();";

/// Makes `::zeroproc::init();` the first statement of the annotated function (see the
/// crate docs for `async fn main` under a runtime attribute).
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return error("#[zeroproc::main] takes no arguments");
    }
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    let is_fn = tokens.iter().any(|t| is_ident(t, "fn"));
    if is_fn && tokens.iter().any(|t| is_ident(t, "async")) {
        return async_main(tokens);
    }
    match tokens.pop() {
        Some(TokenTree::Group(body)) if is_fn && body.delimiter() == Delimiter::Brace => {
            let init: TokenStream = INIT.parse().expect("valid tokens");
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

/// `[attrs] [vis] async fn NAME(ARGS) [-> RET] BODY` under a runtime attribute (which
/// turns it into a plain function): renamed, and called from a plain `NAME` that runs
/// `init()` first.
fn async_main(mut tokens: Vec<TokenTree>) -> TokenStream {
    let Some(fn_at) = tokens.iter().position(|t| is_ident(t, "fn")) else {
        return error("#[zeroproc::main] goes on a function with a body");
    };
    let name = match tokens.get(fn_at + 1) {
        Some(TokenTree::Ident(i)) => i.to_string(),
        _ => return error("#[zeroproc::main]: expected a function name after `fn`"),
    };
    if !has_outer_attribute(&tokens[..fn_at]) {
        return error(
            "#[zeroproc::main] on an `async fn` needs an async runtime's attribute below it, \
             e.g. #[zeroproc::main] #[tokio::main] async fn main()",
        );
    }
    // The signature after the argument list: `-> RET` (tokens up to the body).
    let is_args =
        |t: &TokenTree| matches!(t, TokenTree::Group(g) if g.delimiter() == Delimiter::Parenthesis);
    let body_last =
        matches!(tokens.last(), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace);
    let Some(args_at) = tokens.iter().skip(fn_at).position(is_args).map(|i| i + fn_at) else {
        return error("#[zeroproc::main] goes on a function with a body");
    };
    if !body_last {
        return error("#[zeroproc::main] goes on a function with a body");
    }
    let ret: TokenStream = tokens[args_at + 1..tokens.len() - 1].iter().cloned().collect();
    let inner = format!("__zeroproc_{name}");
    tokens[fn_at + 1] = TokenTree::Ident(Ident::new(&inner, Span::call_site()));
    let outer: TokenStream =
        format!("fn {name}() {ret} {{ {INIT} {inner}() }}").parse().expect("valid tokens");
    let mut out = outer;
    out.extend(tokens);
    out
}

/// Derives rkyv's `Archive`, `Serialize` and `Deserialize` with zeroproc's rkyv, so the
/// type can be a job's argument or result (or travel through a queue, pipe or shared
/// container). Goes on a struct or enum whose fields are themselves encodable.
#[proc_macro_attribute]
pub fn data(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return error("#[zeroproc::data] takes no arguments");
    }
    let head: TokenStream = "#[derive(::zeroproc::rkyv::Archive, ::zeroproc::rkyv::Serialize, \
         ::zeroproc::rkyv::Deserialize)] #[rkyv(crate = ::zeroproc::rkyv)]"
        .parse()
        .expect("valid tokens");
    let mut out = head;
    out.extend(item);
    out
}

/// Whether `tokens` (what precedes `fn`) hold an attribute other than a doc comment: the
/// async runtime's (`#[tokio::main]`, `#[async_std::main]`, ...).
fn has_outer_attribute(tokens: &[TokenTree]) -> bool {
    tokens.windows(2).any(|w| match (&w[0], &w[1]) {
        (TokenTree::Punct(p), TokenTree::Group(g))
            if p.as_char() == '#' && g.delimiter() == Delimiter::Bracket =>
        {
            !g.stream().into_iter().next().is_some_and(|t| is_ident(&t, "doc"))
        }
        _ => false,
    })
}

fn is_ident(t: &TokenTree, s: &str) -> bool {
    matches!(t, TokenTree::Ident(i) if i.to_string() == s)
}

fn error(msg: &str) -> TokenStream {
    format!("::core::compile_error!({msg:?});").parse().expect("valid tokens")
}
