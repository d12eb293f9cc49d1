//! # zeroproc-sched (not yet implemented)
//!
//! The layer that will launch and pin workers, identify functions, and provide `Pool`,
//! `JobFuture`, `wait`/`as_completed`, `Process` and supervision. It is delivered by the pool
//! issue (#3); today the crate only reserves its place in the workspace.
