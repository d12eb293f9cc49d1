//! A blocking `put` (or pipe `send`) whose value needs the channel's heap to grow, where
//! the growth is refused (this process's file-size limit, `RLIMIT_FSIZE`; memory short)
//! and nothing queued could free a block, fails instead of waiting for ever. Before env36
//! it slept for ever: the "could never be served" rule applied only to a heap at its
//! maximum, and a heap that could not grow was taken as one that still might (an 8 MiB
//! `put` into `Queue::new(4)` under `ulimit -f 4096` hung, usercrate/env `bigqueue`).

use std::process::Command;
use std::time::{Duration, Instant};
use zeroproc_mp::{pipe, Queue};

const CHILD: &str = "ZEROPROC_TEST_GROW_REFUSED_CHILD";

/// Runs this binary's `test` in a child under a 4 MiB `RLIMIT_FSIZE`, killed after 30 s;
/// whether it ended by itself, and its stdout and stderr.
fn in_a_child(test: &str) -> (bool, String, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let ended = loop {
        if child.try_wait().unwrap().is_some() {
            break true;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (ended, s(&out.stdout), s(&out.stderr))
}

fn lower_the_limit() {
    let lim = libc::rlimit { rlim_cur: 4 << 20, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: lowering this (child) process's own soft limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &lim) }, 0);
}

fn check(test: &str) {
    let (ended, stdout, stderr) = in_a_child(test);
    assert!(ended, "still waiting after 30 s: {stdout}");
    assert!(stdout.contains("CHILD refused"), "{stdout}\n{stderr}");
    assert!(stderr.contains("RLIMIT_FSIZE"), "the cause is not named: {stderr}");
    assert!(stdout.contains("could not grow"), "the error does not point to it: {stdout}");
}

#[test]
fn a_put_the_heap_cannot_grow_for_fails() {
    if std::env::var_os(CHILD).is_some() {
        lower_the_limit();
        let q = Queue::<Vec<u8>>::new(4).unwrap();
        match q.put(vec![1u8; 8 << 20]) {
            Err(e) => println!("CHILD refused: {e}"),
            Ok(()) => println!("CHILD put"),
        }
        return;
    }
    check("a_put_the_heap_cannot_grow_for_fails");
}

#[test]
fn a_send_the_heap_cannot_grow_for_fails() {
    if std::env::var_os(CHILD).is_some() {
        lower_the_limit();
        let (mut a, _b) = pipe::pipe::<Vec<u8>>().unwrap();
        match a.send(vec![1u8; 8 << 20]) {
            Err(e) => println!("CHILD refused: {e}"),
            Ok(()) => println!("CHILD sent"),
        }
        return;
    }
    check("a_send_the_heap_cannot_grow_for_fails");
}

/// For the `try_` operations: the heap's refused growth is the cause, named in the error
/// (which hands the value back), not `Full` — a caller told "full" retries for ever. Before
/// errs37 both said `Full` ("queue is full", "pipe is full").
fn check_try(test: &str) {
    let (ended, stdout, stderr) = in_a_child(test);
    assert!(ended, "still waiting after 30 s: {stdout}");
    assert!(stdout.contains("CHILD refused"), "{stdout}\n{stderr}");
    assert!(stdout.contains("could not grow"), "the error names another cause: {stdout}");
    assert!(stdout.contains("RLIMIT_FSIZE"), "the error does not name the limit: {stdout}");
    assert!(!stdout.contains("is full"), "reported as full: {stdout}");
    assert!(stdout.contains(&format!("handed back {}", 8 << 20)), "{stdout}");
}

#[test]
fn a_try_put_the_heap_cannot_grow_for_names_the_refusal() {
    if std::env::var_os(CHILD).is_some() {
        lower_the_limit();
        let q = Queue::<Vec<u8>>::new(4).unwrap();
        match q.try_put(vec![1u8; 8 << 20]) {
            Err(e) => {
                println!("CHILD refused: {e} / {e:?}");
                println!("handed back {}", e.into_inner().len());
            }
            Ok(()) => println!("CHILD put"),
        }
        return;
    }
    check_try("a_try_put_the_heap_cannot_grow_for_names_the_refusal");
}

#[test]
fn a_try_send_the_heap_cannot_grow_for_names_the_refusal() {
    if std::env::var_os(CHILD).is_some() {
        lower_the_limit();
        let (mut a, _b) = pipe::pipe::<Vec<u8>>().unwrap();
        match a.try_send(vec![1u8; 8 << 20]) {
            Err(e) => {
                println!("CHILD refused: {e} / {e:?}");
                println!("handed back {}", e.into_inner().len());
            }
            Ok(()) => println!("CHILD sent"),
        }
        return;
    }
    check_try("a_try_send_the_heap_cannot_grow_for_names_the_refusal");
}

/// A put whose heap cannot grow while another value is queued waits (a reader may free
/// its block) — and says why at once, once, rather than only when it gives up. Before
/// errs37 it waited silently: here, 2 s and a `Timeout` with nothing on stderr.
#[test]
fn a_put_waiting_on_a_refused_growth_says_so_while_it_waits() {
    if std::env::var_os(CHILD).is_some() {
        lower_the_limit();
        let q = Queue::<Vec<u8>>::new(4).unwrap();
        q.put(vec![2u8; 256 << 10]).unwrap(); // spilled, and left queued: in flight
        match q.put_timeout(vec![1u8; 8 << 20], Duration::from_secs(2)) {
            Err(e) => println!("CHILD refused: {e}"),
            Ok(()) => println!("CHILD put"),
        }
        return;
    }
    let test = "a_put_waiting_on_a_refused_growth_says_so_while_it_waits";
    let (ended, stdout, stderr) = in_a_child(test);
    assert!(ended, "still waiting after 30 s: {stdout}");
    assert!(stdout.contains("CHILD refused: timed out"), "{stdout}\n{stderr}");
    let notes = stderr.matches("could not grow").count();
    assert_eq!(notes, 1, "a note naming the refusal, once: {stderr}");
    assert!(stderr.contains("RLIMIT_FSIZE"), "the cause is not named: {stderr}");
}
