//! Peer processes: the benchmark binary re-executes itself with an environment variable
//! naming the peer's role; [`entry`] (first line of `main`) runs that role and exits.

use std::process::{Child, Command, Stdio};

const ENV: &str = "ZEROPROC_BENCH_PEER";

/// In a peer process: runs the peer role named in the environment, then exits.
/// In a pool worker or `Process` child (the workloads of `pool.rs`, `pool_array.rs` and
/// `queue.rs` start them): becomes that, via `zeroproc_sched::init`, and never returns.
/// In any other process: returns immediately.
pub fn entry() {
    zeroproc_sched::init();
    let Ok(spec) = std::env::var(ENV) else { return };
    let (role, arg) = spec.split_once('|').unwrap_or((spec.as_str(), ""));
    crate::affinity::pin_to(1);
    let code = match crate::workloads::run_peer(role, arg) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("bench peer {role}: {e}");
            1
        }
    };
    std::process::exit(code);
}

/// Starts this executable again as the peer `role` with `arg`.
pub fn spawn(role: &str, arg: &str) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    let (k, v) = crate::affinity::child_env();
    Command::new(exe).env(ENV, format!("{role}|{arg}")).env(k, v).stdin(Stdio::null()).spawn()
}

/// Waits for a peer and turns a failure into an error.
pub fn finish(mut c: Child) -> Result<(), String> {
    let st = c.wait().map_err(|e| e.to_string())?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("peer exited with {st}"))
    }
}
