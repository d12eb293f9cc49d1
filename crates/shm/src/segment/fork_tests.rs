//! Named segments in a child forked by `libc::fork` (see `crate::fork`).

use super::*;
use zeroproc_testkit::{exited_0, fork_while_held};

fn named() -> SegmentBuilder {
    SegmentBuilder::new(Layout::new("fork-named", 1), 4096)
        .backing(Backing::Named("/dev/shm".into()))
}

fn path_of(seg: &Segment) -> String {
    match seg.id() {
        SegmentId::Named { path, .. } => path.clone(),
        other => panic!("not named: {other:?}"),
    }
}

/// A child forked while another thread registered a named segment (the list of named
/// segments to unlink at exit was locked) creates one, and exits through `exit` (whose
/// handler walks that list). Before the list was per fork generation, the child waited
/// for ever on the lock at its first named segment (ended by its 10 s alarm).
#[test]
fn a_child_forked_while_a_named_segment_is_registered_creates_one_and_exits() {
    // The exit handler is registered with the first named segment.
    drop(named().create().unwrap());
    let status = fork_while_held(
        || os::NAMED.get().lock().unwrap_or_else(|e| e.into_inner()),
        || {
            let Ok(seg) = named().create() else { return false };
            let path = path_of(&seg);
            std::mem::forget(seg); // left to the exit handler
                                   // SAFETY: runs the process's exit handlers, ours among them, then ends it.
            unsafe { libc::exit(if std::path::Path::new(&path).exists() { 0 } else { 1 }) }
        },
    );
    assert!(exited_0(status), "child status {status:#x} (14 = SIGALRM: it hung)");
}

/// A forked child that drops its copy of its parent's named segment, and one that exits
/// normally with the parent's segment registered, leave the parent's file in place, as
/// Python's forked child closing its copy of a `SharedMemory` does. Before, the drop
/// unlinked the file from under the parent (a later attach by name failed).
#[test]
fn a_forked_child_leaves_its_parents_named_segment_in_place() {
    let mut seg = Some(named().create().unwrap());
    let path = path_of(seg.as_ref().unwrap());
    for exit_normally in [false, true] {
        // SAFETY: the child only drops its copy of the segment and ends (`_exit` or `exit`).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            // SAFETY: alarm has no preconditions.
            unsafe { libc::alarm(10) };
            if exit_normally {
                // SAFETY: runs the exit handlers (the named-segment one) and ends.
                unsafe { libc::exit(0) };
            }
            drop(seg.take());
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: our own child; a valid out-pointer.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(exited_0(status), "child status {status:#x}");
        assert!(
            std::path::Path::new(&path).exists(),
            "the child unlinked its parent's segment (exit: {exit_normally})"
        );
    }
    assert!(Segment::attach(seg.as_ref().unwrap().id(), Layout::new("fork-named", 1)).is_ok());
    drop(seg);
    assert!(!std::path::Path::new(&path).exists(), "the creator's drop unlinks");
}
