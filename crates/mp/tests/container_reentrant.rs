//! A closure that runs under a container's lock (`update`, `get_with`, `for_each`) and uses
//! the same container — through the same object or another attachment of it — panics with
//! a message naming the cause, and the container stays usable. Before, it waited for
//! itself for ever (the lock is per process). New-user finding; each test fails (hangs,
//! caught by a time-out) without the check.

use std::sync::mpsc;
use std::time::Duration;
use zeroproc_mp::{Namespace, SharedDict, SharedList};

/// Runs `f` on a helper thread; `Err(panic message)` if it panicked; panics on a hang.
fn outcome(f: impl FnOnce() + Send + 'static) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r.map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        }));
    });
    rx.recv_timeout(Duration::from_secs(20)).expect("hung: the closure waited for its own lock")
}

fn names_the_cause(r: Result<(), String>) {
    let msg = r.expect_err("re-entrant use must not succeed");
    assert!(msg.contains("under its own lock"), "{msg}");
}

#[test]
fn dict_update_closure_using_the_same_dict_panics_and_the_dict_stays_usable() {
    let d = SharedDict::<u64, u64>::new().unwrap();
    d.insert(1, 10).unwrap();
    let d2 = d.handle().attach().unwrap();
    let d3 = d.handle().attach().unwrap();
    names_the_cause(outcome(move || {
        let _ = d2.update(&1, |v| *v = d2.get(&1).unwrap().map(|x| x + 1));
    }));
    names_the_cause(outcome(move || {
        let _ = d3.get_with(&1, |_| d3.len());
    }));
    // Nothing changed; the lock was released by the unwinding.
    assert_eq!(d.get(&1).unwrap(), Some(10));
    d.update(&1, |v| *v = Some(11)).unwrap();
    assert_eq!(d.get(&1).unwrap(), Some(11));
}

#[test]
fn list_and_namespace_closures_are_checked_too() {
    let l = SharedList::<u64>::new().unwrap();
    l.push(1).unwrap();
    let l2 = l.handle().attach().unwrap();
    names_the_cause(outcome(move || {
        let _ = l2.update(0, |v| *v = l2.len().unwrap() as u64);
    }));
    assert_eq!(l.to_vec().unwrap(), [1]);
    let ns = Namespace::new().unwrap();
    ns.set("x", 1u64).unwrap();
    let ns2 = ns.handle().attach().unwrap();
    names_the_cause(outcome(move || {
        let _ = ns2.update("x", |v: &mut Option<u64>| *v = ns2.get::<u64>("x").unwrap());
    }));
    assert_eq!(ns.get::<u64>("x").unwrap(), Some(1));
}

#[test]
fn closures_over_two_different_containers_nest() {
    let a = SharedDict::<u64, u64>::new().unwrap();
    let b = SharedDict::<u64, u64>::new().unwrap();
    a.insert(1, 1).unwrap();
    b.insert(1, 2).unwrap();
    a.update(&1, |v| *v = Some(v.unwrap() + b.get(&1).unwrap().unwrap())).unwrap();
    assert_eq!(a.get(&1).unwrap(), Some(3));
    // And the same container again once the closure has returned.
    a.update(&1, |v| *v = Some(v.unwrap() + 1)).unwrap();
    assert_eq!(a.get(&1).unwrap(), Some(4));
}

/// A child forked inside an `update` closure (the parent holds the dict's lock) reads the
/// dict: it waits for its parent's lock like any other process, and reads what the parent
/// committed. Before, its copy of this thread's "held" list made it panic saying it held
/// the lock itself and would wait for itself — the wrong process named.
#[test]
fn a_child_forked_inside_an_update_waits_for_its_parents_lock() {
    let d = zeroproc_mp::SharedDict::<u32, u32>::new().unwrap();
    d.insert(1, 10).unwrap();
    let pid = d
        .update(&1, |v| {
            *v = Some(11);
            // SAFETY: the child reads the dict (shared memory, the dict's robust lock) and
            // ends with `_exit` inside the closure; the parent only records the pid.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork");
            if pid == 0 {
                // SAFETY: alarm has no preconditions; a hung child dies of SIGALRM.
                unsafe { libc::alarm(10) };
                let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| d.get(&1)));
                let code = match got {
                    Ok(Ok(Some(11))) => 0,
                    Ok(_) => 1,
                    Err(_) => 2, // panicked
                };
                // SAFETY: ends the child at once, inside the closure.
                unsafe { libc::_exit(code) };
            }
            pid
        })
        .unwrap();
    let mut status = 0;
    // SAFETY: our own child; its alarm bounds the wait.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child status {status:#x} (14 = SIGALRM: it hung)");
    assert_eq!(libc::WEXITSTATUS(status), 0, "1: wrong value, 2: it panicked (re-entry)");
}

/// A child forked inside an `update` closure that returns from it (instead of ending
/// there): the update fails with `ForkedUnderLock` naming the parent and writes nothing.
/// Before, the child wrote the container while its parent held the lock (its copy of the
/// guard is the parent's), and its `update` returned `Ok`.
#[test]
fn a_child_returning_from_an_update_closure_writes_nothing() {
    let d = zeroproc_mp::SharedDict::<u32, u32>::new().unwrap();
    d.insert(1, 10).unwrap();
    let parent = std::process::id();
    let r = d.update(&1, |v| {
        // SAFETY: the child returns from this closure into `update` (the case under test),
        // then ends with `_exit` below; the parent waits for it here, holding the lock.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            // SAFETY: alarm has no preconditions; a hung child dies of SIGALRM.
            unsafe { libc::alarm(10) };
            *v = Some(99);
            return Some(pid);
        }
        let mut status = 0;
        // SAFETY: our own child; its alarm bounds the wait.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), 0, "the child's update was written (exit 1)");
        *v = Some(11);
        None
    });
    if std::process::id() != parent {
        let refused = matches!(
            r,
            Err(zeroproc_mp::container::ContainerError::ForkedUnderLock { holder })
                if holder == parent
        );
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(i32::from(!refused)) };
    }
    assert_eq!(r.unwrap(), None);
    assert_eq!(d.get(&1).unwrap(), Some(11));
}
