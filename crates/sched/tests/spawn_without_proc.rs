//! Workers and `Process` children are this executable started again through
//! `/proc/self/exe`; where `/proc` is not mounted (a chroot, a bubblewrap sandbox without
//! `--proc`, a mount namespace that unmounted it) the spawn fails with ENOENT. Before env36
//! the message was "executing /proc/self/exe: No such file or directory", which reads as
//! a missing program, not a missing `/proc`; now it names the mount and the remedy.
//!
//! Needs root (a mount namespace made with `unshare -m`): elsewhere the test says so on
//! stderr and checks nothing.

use std::process::Command;
use zeroproc_sched::{BuildError, Pool, Process};

zeroproc_sched::test_worker!();

const CHILD: &str = "ZEROPROC_TEST_NO_PROC_CHILD";
const TEST: &str = "a_spawn_without_proc_names_the_mount";

fn noop(_: ()) {}

#[test]
fn a_spawn_without_proc_names_the_mount() {
    if std::env::var_os(CHILD).is_some() {
        match Pool::builder().workers(1).build() {
            Err(BuildError::Spawn(e)) => println!("CHILD pool: {e}"),
            other => println!("CHILD pool other: {:?}", other.map(|_| ())),
        }
        match Process::spawn(noop, ()) {
            Err(e) => println!("CHILD process: {e}"),
            Ok(mut p) => println!("CHILD process started: {:?}", p.join()),
        }
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: cannot unmount /proc in a mount namespace; skipped");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", "umount -l /proc && exec \"$0\" --exact \"$1\" --nocapture"])
        .arg(&exe)
        .arg(TEST)
        .env(CHILD, "1")
        .output();
    let out = match out {
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains("CHILD") => o,
        other => {
            eprintln!("no mount namespace without /proc could be made ({other:?}); skipped");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    for who in ["CHILD pool:", "CHILD process:"] {
        let line =
            stdout.lines().find(|l| l.starts_with(who)).unwrap_or_else(|| panic!("{stdout}"));
        assert!(line.contains("/proc is not mounted"), "{line}");
    }
}
