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
