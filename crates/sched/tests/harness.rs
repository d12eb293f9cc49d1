//! The libtest harness as users meet it: `test_worker!()` inside a module, and what the
//! workers print (their jobs' output, never libtest's own header).

use std::process::Command;
use zeroproc_sched::{Exit, Pool, Process};

/// Not at the crate root: workers find the hidden test by name wherever it is.
mod support {
    zeroproc_sched::test_worker!();
}

fn shout(x: u64) -> u64 {
    println!("job-output-{x}");
    x
}

fn shout_unit(x: u64) {
    println!("process-output-{x}");
}

#[test]
fn pool_and_process_work_with_test_worker_in_a_module() {
    let pool = Pool::builder().workers(2).build().expect("pool");
    let fs: Vec<_> = (0..20u64).map(|i| pool.submit(|x: u64| x * 3, i)).collect();
    for (i, f) in fs.into_iter().enumerate() {
        assert_eq!(f.result(), Ok(i as u64 * 3));
    }
    let mut p = Process::spawn(shout_unit, 1).expect("process");
    assert_eq!(p.join().expect("join"), Exit::Code(0));
}

/// Runs itself again as a child test binary with `CHILD` set; the child's pool and process
/// print from their jobs. The child's stdout holds libtest's header once (the child's own
/// run) and every job's line: a worker's libtest header would add more.
#[test]
fn workers_print_their_jobs_output_but_no_libtest_header() {
    const CHILD: &str = "ZEROPROC_HARNESS_TEST_CHILD";
    const NAME: &str = "workers_print_their_jobs_output_but_no_libtest_header";
    if std::env::var_os(CHILD).is_some() {
        let pool = Pool::builder().workers(2).build().expect("pool");
        for i in 0..4 {
            assert_eq!(pool.submit(shout, i).result(), Ok(i));
        }
        drop(pool);
        let mut p = Process::spawn(shout_unit, 7).expect("process");
        assert_eq!(p.join().expect("join"), Exit::Code(0));
        return;
    }
    let out = Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("running 1 test").count(), 1, "stdout:\n{stdout}");
    for i in 0..4 {
        assert!(stdout.contains(&format!("job-output-{i}\n")), "stdout:\n{stdout}");
    }
    assert!(stdout.contains("process-output-7\n"), "stdout:\n{stdout}");
}

/// The stack a program's main thread may grow to (`ulimit -s`; 8 MiB when unlimited).
fn main_stack_limit() -> usize {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into `lim`, a valid rlimit.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut lim) } == 0;
    match usize::try_from(lim.rlim_cur) {
        Ok(n) if got && lim.rlim_cur != libc::RLIM_INFINITY && n > 0 => n,
        _ => 8 << 20,
    }
}

/// Recursion `kib` frames deep, each holding 1 KiB.
#[inline(never)]
fn deep(kib: u64) -> u64 {
    let buf = [kib as u8; 1024];
    if kib == 0 {
        0
    } else {
        u64::from(std::hint::black_box(&buf)[7]) + deep(kib - 1)
    }
}

/// Uses half the main thread's stack limit (4 MiB with the usual 8 MiB `ulimit -s`).
fn half_the_main_stack(_: ()) -> u64 {
    deep((main_stack_limit() / 2 / 1024) as u64)
}

fn half_the_main_stack_then_exit(_: ()) {
    half_the_main_stack(());
    std::process::exit(5)
}

/// Jobs and `Process` bodies have the stack of a program's main thread under libtest too
/// (found by the user4 review): the worker ran on libtest's test thread, whose stack is
/// 2 MiB, so a recursion that ran in a binary overflowed in `cargo test`, reported as
/// `StackOverflow` with "`ulimit -s` sets its stack", which did not help there.
#[test]
fn jobs_get_the_main_threads_stack_under_libtest() {
    let pool = Pool::builder().workers(1).build().expect("pool");
    let r = pool.submit(half_the_main_stack, ()).result();
    assert!(r.is_ok(), "{:?}", r.map_err(|e| e.to_string()));
    let mut p = Process::spawn(half_the_main_stack_then_exit, ()).expect("process");
    assert_eq!(p.join().expect("join"), Exit::Code(5));
}
