//! Default process names follow Python's: `Process-N` in the program, and in a `Process`
//! child `<its identity>:N` for the processes it creates (`Process-2:1`, `Process-2:1:1`),
//! whatever name the child itself was given.
//!
//! Found by mpsem31: a child's children were named `Process-1`, `Process-2`, …, the same
//! names as the program's own first processes (CPython 3.11: `Process-2:1`, then
//! `Process-2:1:1` one level down), so logs of nested processes could not tell them apart.

use std::time::Duration;
use zeroproc_mp::queue::QueueHandle;
use zeroproc_mp::Queue;
use zeroproc_sched::{Exit, Process};

zeroproc_sched::test_worker!();

/// Puts its name and the default names of the processes it creates; goes `depth` more
/// levels down.
fn level((q, depth): (QueueHandle<String>, u32)) {
    let out = q.attach().unwrap();
    let first = Process::new(|_: ()| {}, ());
    out.put(format!("{} made {}", Process::current_name().unwrap(), first.get_name())).unwrap();
    if depth > 0 {
        let mut p = Process::spawn(level, (q, depth - 1)).unwrap();
        assert_eq!(p.join_timeout(Duration::from_secs(60)).unwrap(), Some(Exit::Code(0)));
    }
}

#[test]
fn a_child_names_its_children_after_its_identity_as_in_python() {
    let q = Queue::<String>::new(16).unwrap();
    let mut p = Process::new(level, (q.handle(), 2)).name("renamed");
    let n: u32 = Process::new(|_: ()| {}, ()).get_name()["Process-".len()..].parse().unwrap();
    // `p` was created just before: its identity is the number before that one.
    let id = n - 1;
    p.start().unwrap();
    assert_eq!(p.join_timeout(Duration::from_secs(60)).unwrap(), Some(Exit::Code(0)));
    let got: Vec<String> = std::iter::from_fn(|| q.try_get().ok()).collect();
    assert_eq!(
        got,
        [
            format!("renamed made Process-{id}:1"),
            format!("Process-{id}:2 made Process-{id}:2:1"),
            format!("Process-{id}:2:2 made Process-{id}:2:2:1"),
        ]
    );
}
