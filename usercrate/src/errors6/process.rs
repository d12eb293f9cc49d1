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
        what: "a Process started inside a job",
        python:
            "(allowed; daemonic processes: 'daemonic processes are not allowed to have children')",
        trigger: || {
            let pool = one_worker()?;
            let inner = pool
                .submit(|_: ()| Process::spawn(|_: ()| {}, ()).err().map(|e| e.to_string()), ())
                .result();
            match inner {
                Ok(Some(msg)) => Ok((msg, String::new())),
                other => Err(format!("the inner spawn did not fail: {other:?}")),
            }
        },
        display: &["inside a worker", "controller"],
        debug: &[],
    },
];

/// `Process` misuse.
pub fn errors6_process() -> Outcome {
    check(PROCESS)
}
