//! A job that closes its worker's stdout and stderr must not let the worker's later output
//! land in a shared-memory segment.
//!
//! Found by the svc32 round: a job closed descriptors 1 and 2; its worker then attached the
//! pool's spill heap (at the first large payload) and got descriptor 1 for it; the next
//! job's `println!` wrote into the heap's file at offset 0, over its header. From then on
//! every large argument or result of every worker failed with
//! `Decode("spill heap: Foreign { magic: .. }")` — "job data invalid", not the cause — for
//! the pool's life. Segments now never take descriptors 0–2.

use zeroproc_sched::Pool;

zeroproc_sched::test_worker!();

fn close_stdout_stderr(_: ()) -> u32 {
    // SAFETY: closing this worker's own descriptors 1 and 2 is what the test is about.
    unsafe {
        libc::close(1);
        libc::close(2);
    }
    1
}

fn byte_sum(v: Vec<u8>) -> u64 {
    v.iter().map(|&b| b as u64).sum()
}

fn chatty(_: ()) -> u32 {
    for i in 0..200 {
        println!("a line of the job's output on stdout, number {i}");
        eprintln!("a line of the job's output on stderr, number {i}");
    }
    2
}

fn what_is_fd(fd: u32) -> String {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "closed".into())
}

#[test]
fn output_after_a_job_closed_stdout_does_not_reach_a_segment() {
    let pool = Pool::builder().workers(1).build().unwrap();
    assert_eq!(pool.submit(close_stdout_stderr, ()).result(), Ok(1));
    // The worker's first large payload: it attaches the spill heap now.
    assert_eq!(pool.submit(byte_sum, vec![1u8; 300_000]).result(), Ok(300_000));
    assert_eq!(pool.submit(chatty, ()).result(), Ok(2));
    // A panic writes its message to stderr too.
    assert!(pool.submit(|_: ()| -> u32 { panic!("{}", "p".repeat(500)) }, ()).result().is_err());
    for round in 0..3u8 {
        let v = vec![round; 300_000];
        assert_eq!(pool.submit(byte_sum, v).result(), Ok(300_000 * round as u64));
        let r = pool.submit(|n: u32| vec![7u8; n as usize], 300_000).result();
        assert_eq!(r.map(|v| v.len()), Ok(300_000), "round {round}");
    }
    for fd in [1, 2] {
        let what = pool.submit(what_is_fd, fd).result().unwrap();
        assert!(!what.contains("memfd"), "the worker's descriptor {fd} is a segment: {what}");
    }
}

/// The controller side: a service that closed its standard descriptors (a daemon that
/// closes them rather than pointing them at `/dev/null`) builds a pool and then prints.
/// Before the fix the pool's own segment took descriptor 0 and its spill heap 1: the
/// service's `println!` wrote over the spill heap's header, and the next large argument
/// failed (the child exited 12).
#[test]
fn a_controller_without_stdio_keeps_its_segments_off_descriptors_0_to_2() {
    const CHILD: &str = "ZEROPROC_TEST_CLOSED_STDIO_CHILD";
    if std::env::var_os(CHILD).is_some() {
        // The child: no stdin, stdout or stderr; the exit code says what went wrong.
        // SAFETY: closing this process's own standard descriptors.
        unsafe {
            libc::close(0);
            libc::close(1);
            libc::close(2);
        }
        let pool = Pool::builder().workers(1).build().unwrap_or_else(|_| std::process::exit(10));
        if pool.submit(byte_sum, vec![1u8; 300_000]).result() != Ok(300_000) {
            std::process::exit(11);
        }
        for i in 0..200 {
            println!("the service's log line {i}");
        }
        // A new worker attaches the spill heap after the service's output.
        let _ = pool.submit(|_: ()| -> u32 { std::process::abort() }, ()).result();
        if pool.submit(byte_sum, vec![2u8; 300_000]).result() != Ok(600_000) {
            std::process::exit(12);
        }
        let r = pool.submit(|n: u32| vec![7u8; n as usize], 300_000).result();
        if r.map(|v| v.len()) != Ok(300_000) {
            std::process::exit(13);
        }
        for fd in 0..3 {
            if what_is_fd(fd).contains("memfd") {
                std::process::exit(20 + fd as i32);
            }
        }
        std::process::exit(0);
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_controller_without_stdio_keeps_its_segments_off_descriptors_0_to_2",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0), "the child without stdio: {status}");
}
