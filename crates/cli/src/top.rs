//! `zeroproc top`: a live view of a running pool.

/// Arguments of `zeroproc top`.
#[derive(clap::Args)]
pub struct Args {
    /// The pool to watch; without it, the running pools are listed.
    pool: Option<String>,
}

/// Not written yet (issue #5).
pub fn run(_a: Args) -> Result<(), String> {
    Err("`zeroproc top` is not implemented yet".into())
}
