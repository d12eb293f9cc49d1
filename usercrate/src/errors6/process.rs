//! `Process` misuse and failures.

use super::*;

const PROCESS: &[Case] = &[
    Case {
        what: "start twice",
        python: "AssertionError: cannot start a process twice",
        trigger: || {
            let mut p = Process::new(|_: ()| {}, ());
            setup(p.start())?;
            let r = p.start();
            setup(p.join())?;
            fails(r)
        },
        display: &["already started"],
        debug: &["AlreadyStarted"],
    },
    Case {
        what: "join before start",
        python: "AssertionError: can only join a started process",
        trigger: || fails(Process::new(|_: ()| {}, ()).join()),
        display: &["not started", "start"],
        debug: &["NotStarted"],
    },
    Case {
        what: "a Process started inside a daemon Process",
        python: "AssertionError: daemonic processes are not allowed to have children \
                 (a ProcessPoolExecutor job may start one: its workers are not daemonic)",
        trigger: || {
            let msg = error_in_daemon_child(|q: zeroproc::QueueHandle<String>| {
                let e = Process::spawn(|_: ()| {}, ()).err().map(|e| e.to_string());
                q.attach().unwrap().put(e.unwrap_or_default()).unwrap();
            })?;
            match msg.is_empty() {
                false => Ok((msg, String::new())),
                true => Err("the inner spawn did not fail".into()),
            }
        },
        display: &["daemon", "non-daemon", "controller"],
        debug: &[],
    },
];

/// `Process` misuse.
pub fn errors6_process() -> Outcome {
    check(PROCESS)
}
