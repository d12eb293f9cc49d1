//! What a worker or a `Process` child writes on standard error about itself (a child's
//! panic, a worker that reached `Pool::build` without `init()`) goes out in one `write`,
//! so that the notes of several processes sharing the terminal do not interleave.
//!
//! Before docs33 each note was an `eprintln!` with arguments, which std's unbuffered
//! standard error writes piece by piece: eight children panicking at once printed
//! `zeroproc process zeroproc process "Process-1" panicked: …` (measured: garbled in most
//! runs), and a worker killed by its controller between two pieces left half a note.
//!
//! The test gives the re-run test binary a datagram socket as its standard error: each
//! `write` is one datagram, so a note split over several writes is seen as such.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use zeroproc_sched::{Pool, Process};

zeroproc_sched::test_worker!();

const MARKER: &str = "ZEROPROC_TEST_STDERR_NOTES";

/// Runs test `name` of this binary again with `env` set and a datagram socket as its
/// standard error; returns the datagrams it (and its children) wrote there.
fn rerun_with_datagram_stderr(name: &str, env: &[(&str, &str)]) -> Vec<String> {
    let (ours, theirs) = UnixDatagram::pair().unwrap();
    // SAFETY: `into_raw_fd` hands over the descriptor, owned once by the `OwnedFd`.
    let theirs = unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(theirs)) };
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "-q", "--nocapture"])
        .env(MARKER, "1")
        .stdout(Stdio::null())
        .stderr(Stdio::from(theirs));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    drop(cmd); // our copy of the child's end
               // Read while the child runs, so that no writer waits for room in the socket.
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        std::thread::spawn(move || {
            ours.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            let mut out = Vec::new();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match ours.recv(&mut buf) {
                    Ok(n) => out.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                    // Acquire: pairs with the Release store once the child was reaped.
                    Err(_) if done.load(Ordering::Acquire) => return out,
                    Err(_) => {}
                }
            }
        })
    };
    zeroproc_testkit::wait_or_kill(&mut child, Duration::from_secs(30), name);
    // Release: pairs with the reader's Acquire load; what the child wrote is queued.
    done.store(true, Ordering::Release);
    reader.join().unwrap()
}

fn child_panics(i: u32) {
    panic!("child {i} failed on purpose");
}

/// The inner half: eight children panic at once.
#[test]
fn inner_children_panic() {
    if std::env::var_os(MARKER).is_none() {
        return;
    }
    let mut kids: Vec<Process> = (0..8).map(|i| Process::spawn(child_panics, i).unwrap()).collect();
    for k in &mut kids {
        k.join().unwrap();
    }
}

#[test]
fn a_childs_panic_note_is_one_write() {
    let grams = rerun_with_datagram_stderr("inner_children_panic", &[]);
    let notes: Vec<&String> = grams.iter().filter(|g| g.contains("zeroproc process")).collect();
    assert_eq!(notes.len(), 8, "one write per child's note: {grams:#?}");
    for n in notes {
        assert!(
            n.starts_with("zeroproc process \"Process-")
                && n.contains("panicked: child ")
                && n.contains("failed on purpose (at crates/sched/tests/stderr_notes_whole.rs:")
                && n.ends_with(")\n"),
            "{n:?}"
        );
    }
}

/// The inner half: this process plays a worker started without `init()` (the variable
/// a worker is started with is set, and no `init()` ran): `build` stops it with its note.
#[test]
fn inner_no_init() {
    if std::env::var_os(MARKER).is_none() {
        return;
    }
    let _ = Pool::builder().workers(1).build();
    unreachable!("a worker without init() exits in build");
}

#[test]
fn the_missing_init_note_is_one_write() {
    let grams = rerun_with_datagram_stderr("inner_no_init", &[("ZEROPROC_WORKER", "x")]);
    let notes: Vec<&String> = grams.iter().filter(|g| g.contains("zeroproc")).collect();
    assert_eq!(notes.len(), 1, "{grams:#?}");
    assert!(notes[0].starts_with("zeroproc: process "), "{:?}", notes[0]);
    assert!(notes[0].contains("was started as a worker but reached Pool::build"), "{:?}", notes[0]);
    assert!(notes[0].ends_with("as the example's first line)\n"), "{:?}", notes[0]);
}
