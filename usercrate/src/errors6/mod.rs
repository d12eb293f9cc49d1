//! "An error message that names the wrong cause is a bug": every error a user can meet,
//! triggered through the public API, with the key words its `Display` (and `Debug`) must
//! carry — the real cause and, where useful, the fix — next to the exception Python raises
//! for the same misuse (docs/python-mapping.md).
//!
//! Table-driven: each [`Case`] triggers one error and returns its `Display` and `Debug`
//! texts; [`check`] runs a table and reports every case whose text misses a key word
//! (case-insensitive), or that did not fail at all.

use crate::harness::{note, Outcome};
use std::time::Duration;
use zeroproc::container::{ContainerError, InsertError};
use zeroproc::sync::{BarrierError, LockTimeoutError, ReleaseError, TryLockError};
use zeroproc::{
    pipe_oneway, Barrier, BoundedSemaphore, CellHandle, JoinableQueue, Lock, Namespace, Pool,
    Process, Queue, SharedArray, SharedCell, SharedDict, SharedList, SubmitTimeoutError,
    TrySubmitError,
};

/// What a trigger returns: the error's `Display` and `Debug`, or why it could not be
/// triggered (the call succeeded, or the set-up failed).
type Texts = Result<(String, String), String>;

/// One error, how to trigger it, and what its message must say.
pub struct Case {
    /// The misuse or failure, in a user's words.
    what: &'static str,
    /// What Python raises for the same (or `-` where Python has no equivalent).
    python: &'static str,
    /// Triggers the error.
    trigger: fn() -> Texts,
    /// Words the `Display` text must contain (case-insensitive): the cause, and the fix.
    display: &'static [&'static str],
    /// Words the `Debug` text must contain (the variant's name).
    debug: &'static [&'static str],
}

fn texts<E: std::fmt::Display + std::fmt::Debug>(e: E) -> Texts {
    Ok((e.to_string(), format!("{e:?}")))
}

/// `texts` of the error in `r`, or a failure naming the unexpected success.
fn fails<T: std::fmt::Debug, E: std::fmt::Display + std::fmt::Debug>(r: Result<T, E>) -> Texts {
    match r {
        Err(e) => texts(e),
        Ok(v) => Err(format!("did not fail: Ok({v:?})")),
    }
}

fn setup<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| format!("set-up failed: {e}"))
}

/// What `body`, run in a daemon `Process` child, put on its queue: the `Display` of the
/// error it met ("" when its call succeeded), or why the child could not report.
fn error_in_daemon_child<F>(body: F) -> Result<String, String>
where
    F: zeroproc::JobFn<zeroproc::QueueHandle<String>, ()>,
{
    let q = setup(Queue::<String>::new(4))?;
    let mut d = Process::new(body, q.handle()).daemon(true);
    setup(d.start())?;
    let msg = setup(q.get_timeout(Duration::from_secs(60)))?;
    setup(d.join())?;
    Ok(msg)
}

/// Runs every case of `table`; each failing one is a line of the outcome's reason.
fn check(table: &[Case]) -> Outcome {
    let mut bad = Vec::new();
    for c in table {
        let t = std::time::Instant::now();
        let got = (c.trigger)();
        let took = t.elapsed();
        match got {
            Err(why) => bad.push(format!("[{}] {why}", c.what)),
            Ok((display, debug)) => {
                let short = |s: &str| s.chars().take(400).collect::<String>();
                note(format!(
                    "{} [{took:.0?}]  (Python: {}) -> {}  |  {}",
                    c.what,
                    c.python,
                    short(&display),
                    short(&debug)
                ));
                let (d, g) = (display.to_lowercase(), debug.to_lowercase());
                let miss: Vec<_> =
                    c.display.iter().filter(|w| !d.contains(&w.to_lowercase())).collect();
                let miss_dbg: Vec<_> =
                    c.debug.iter().filter(|w| !g.contains(&w.to_lowercase())).collect();
                if !miss.is_empty() || !miss_dbg.is_empty() {
                    bad.push(format!(
                        "[{}] display {display:?} lacks {miss:?}; debug {debug:?} lacks {miss_dbg:?}",
                        c.what
                    ));
                }
            }
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("{} of {} cases:\n    {}", bad.len(), table.len(), bad.join("\n    ")))
    }
}

fn one_worker() -> Result<Pool, String> {
    setup(Pool::builder().workers(1).pin(false).build())
}

mod channels;
mod executor;
mod process;
mod shared;
mod sync;

pub use channels::errors6_channels;
pub use executor::errors6_executor;
pub use process::errors6_process;
pub use shared::errors6_shared;
pub use sync::errors6_sync;
