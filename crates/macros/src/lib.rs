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
//!   rkyv dependency of your own, no `#[rkyv(crate = …)]` to remember). On a recursive
//!   type it also applies rkyv's recipe for recursion (see `recursive` below).
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
    let (item, recursive) = recursive::mark(item);
    if recursive {
        out.extend(recursive::BOUNDS.parse::<TokenStream>().expect("valid tokens"));
    }
    out.extend(item);
    out
}

/// Recursive types (`struct Tree { kids: Vec<Tree> }`, `enum Json { List(Vec<Json>), .. }`)
/// under `#[zeroproc::data]`: rkyv's derive bounds every field's type by its own traits,
/// so a field holding the type itself makes the compiler prove the type's impls from
/// themselves (error E0275, "overflow evaluating the requirement"). rkyv's recipe is
/// `#[rkyv(omit_bounds)]` on such fields plus explicit bounds for the serializer, the
/// deserializer and the validator: applied here to every field whose type names the type
/// or `Self`, unless the item already says `omit_bounds` (the user applied it).
mod recursive {
    use proc_macro::{Delimiter, Group, Spacing, TokenStream, TokenTree};

    /// The bounds rkyv needs once a field's own bounds are omitted (what zeroproc's
    /// serializer, deserializer and validator satisfy).
    pub(crate) const BOUNDS: &str = "
        #[rkyv(serialize_bounds(
            __S: ::zeroproc::rkyv::ser::Writer + ::zeroproc::rkyv::ser::Allocator,
            __S::Error: ::zeroproc::rkyv::rancor::Source,
        ))]
        #[rkyv(deserialize_bounds(__D::Error: ::zeroproc::rkyv::rancor::Source))]
        #[rkyv(bytecheck(bounds(
            __C: ::zeroproc::rkyv::validation::ArchiveContext,
            __C::Error: ::zeroproc::rkyv::rancor::Source,
        )))]";

    /// `item` with `#[rkyv(omit_bounds)]` on its self-referencing fields, and whether it
    /// had any.
    pub(crate) fn mark(item: TokenStream) -> (TokenStream, bool) {
        let mut tokens: Vec<TokenTree> = item.clone().into_iter().collect();
        if mentions(&item, &|i| i == "omit_bounds") {
            return (item, false);
        }
        let Some(kw) = tokens.iter().position(|t| is(t, "struct") || is(t, "enum")) else {
            return (item, false);
        };
        let is_enum = is(&tokens[kw], "enum");
        let Some(TokenTree::Ident(name)) = tokens.get(kw + 1) else { return (item, false) };
        let name = name.to_string();
        let Some(body) = body_index(&tokens, kw + 2) else { return (item, false) };
        let TokenTree::Group(g) = &tokens[body] else { return (item, false) };
        let own = |i: &str| i == name || i == "Self";
        let mut marked = false;
        let stream = if is_enum {
            let variants = split(g.stream()).into_iter().map(|v| {
                v.into_iter()
                    .map(|t| match t {
                        TokenTree::Group(f)
                            if matches!(
                                f.delimiter(),
                                Delimiter::Brace | Delimiter::Parenthesis
                            ) =>
                        {
                            let (s, m) = mark_fields(f.stream(), &own);
                            marked |= m;
                            TokenTree::Group(respan(Group::new(f.delimiter(), s), &f))
                        }
                        t => t,
                    })
                    .collect::<Vec<_>>()
            });
            join(variants.collect())
        } else {
            let (s, m) = mark_fields(g.stream(), &own);
            marked = m;
            s
        };
        if !marked {
            return (item, false); // as written, spans and all
        }
        tokens[body] = TokenTree::Group(respan(Group::new(g.delimiter(), stream), g));
        (tokens.into_iter().collect(), true)
    }

    /// The fields of a struct or variant body, each marked if its type names the type.
    fn mark_fields(body: TokenStream, own: &dyn Fn(&str) -> bool) -> (TokenStream, bool) {
        let mut marked = false;
        let fields = split(body)
            .into_iter()
            .map(|f| {
                // The type: after the field's name and colon (a tuple field is all type;
                // a path's `::` then only cuts off its start, never the type's name).
                let colon =
                    f.iter().position(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ':'));
                let ty: TokenStream = f[colon.map_or(0, |k| k + 1)..].iter().cloned().collect();
                if mentions(&ty, own) {
                    marked = true;
                    let mut out: Vec<TokenTree> = "#[rkyv(omit_bounds)]"
                        .parse::<TokenStream>()
                        .expect("valid")
                        .into_iter()
                        .collect();
                    out.extend(f);
                    out
                } else {
                    f
                }
            })
            .collect();
        (join(fields), marked)
    }

    /// The body's index: the first brace group after the name at angle depth 0, or a
    /// parenthesized one (a tuple struct) if no `where` came before it.
    fn body_index(tokens: &[TokenTree], from: usize) -> Option<usize> {
        let mut depth = 0i32;
        let mut after_dash = false;
        let mut seen_where = false;
        for (i, t) in tokens.iter().enumerate().skip(from) {
            match t {
                TokenTree::Punct(p) if p.as_char() == '<' => depth += 1,
                TokenTree::Punct(p) if p.as_char() == '>' && !after_dash => depth -= 1,
                TokenTree::Ident(w) if w.to_string() == "where" => seen_where = true,
                TokenTree::Group(g) if depth == 0 => match g.delimiter() {
                    Delimiter::Brace => return Some(i),
                    Delimiter::Parenthesis if !seen_where => return Some(i),
                    _ => {}
                },
                _ => {}
            }
            after_dash = matches!(t, TokenTree::Punct(p) if p.as_char() == '-' && p.spacing() == Spacing::Joint);
        }
        None
    }

    /// Splits at the commas outside angle brackets (`HashMap<K, V>` stays whole; the
    /// `>` of `->` closes nothing).
    fn split(ts: TokenStream) -> Vec<Vec<TokenTree>> {
        let mut out = vec![Vec::new()];
        let mut depth = 0i32;
        let mut after_dash = false;
        for t in ts {
            let dash = matches!(&t, TokenTree::Punct(p) if p.as_char() == '-' && p.spacing() == Spacing::Joint);
            match &t {
                TokenTree::Punct(p) if p.as_char() == ',' && depth == 0 => {
                    out.push(Vec::new());
                    after_dash = false;
                    continue;
                }
                TokenTree::Punct(p) if p.as_char() == '<' => depth += 1,
                TokenTree::Punct(p) if p.as_char() == '>' && !after_dash => depth -= 1,
                _ => {}
            }
            after_dash = dash;
            out.last_mut().expect("never empty").push(t);
        }
        out
    }

    /// The pieces of [`split`] put back with commas between them.
    fn join(parts: Vec<Vec<TokenTree>>) -> TokenStream {
        let n = parts.len();
        let mut out = TokenStream::new();
        for (i, p) in parts.into_iter().enumerate() {
            out.extend(p);
            if i + 1 < n {
                out.extend(",".parse::<TokenStream>().expect("valid"));
            }
        }
        out
    }

    /// Whether `ts` holds an identifier for which `f` holds, at any depth.
    fn mentions(ts: &TokenStream, f: &dyn Fn(&str) -> bool) -> bool {
        ts.clone().into_iter().any(|t| match t {
            TokenTree::Ident(i) => f(&i.to_string()),
            TokenTree::Group(g) => mentions(&g.stream(), f),
            _ => false,
        })
    }

    fn is(t: &TokenTree, s: &str) -> bool {
        matches!(t, TokenTree::Ident(i) if i.to_string() == s)
    }

    fn respan(mut g: Group, like: &Group) -> Group {
        g.set_span(like.span());
        g
    }
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
