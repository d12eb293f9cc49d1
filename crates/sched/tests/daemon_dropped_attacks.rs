//! A dropped daemon `Process` runs until its program exits, which kills it (review36's
//! attacks on e1f87b5): dropped inside a pool job (the worker's retirement, its exit, the
//! pool's `terminate()`), inside a non-daemon child, a thousand at once, while another
//! thread calls `std::process::exit`, ignoring SIGTERM, its program SIGKILLed, holding a
//! pipe end the program reads to its end. Each case runs this binary again on one hidden
//! test (the program whose exit is checked); the daemons write their pids into a
//! directory, and the checks are on which of them still live.

use std::time::{Duration, Instant};
use zeroproc_sched::{Pool, Process};

zeroproc_sched::test_worker!();

/// Set in the binary run again: the case, then a directory for the pids.
const CASE_ENV: &str = "ZP_DAEMON_ATTACK_CASE";
const DIR_ENV: &str = "ZP_DAEMON_ATTACK_DIR";

/// A daemon's body: writes its pid into `dir`, then sleeps (for ever if `ms` is 0).
fn sleeper((dir, ms, ignore_term): (String, u64, bool)) {
    if ignore_term {
        // SAFETY: setting a signal's disposition to ignore.
        unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    }
    std::fs::write(format!("{dir}/{}", std::process::id()), "").unwrap();
    match ms {
        0 => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        _ => std::thread::sleep(Duration::from_millis(ms)),
    }
}

/// Starts a daemon running `sleeper` and drops its handle.
fn drop_daemon(dir: &str, ms: u64, ignore_term: bool) {
    Process::new(sleeper, (dir.to_string(), ms, ignore_term)).daemon(true).start().unwrap();
}

/// The pids written into `dir`.
fn pids(dir: &str) -> Vec<u32> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().unwrap().parse().ok())
        .collect()
}

/// Whether `pid` runs (a zombie does not: dead, not reaped yet by whoever got it).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Waits up to `limit` for `n` pids in `dir`; them.
fn wait_pids(dir: &str, n: usize, limit: Duration) -> Vec<u32> {
    let end = Instant::now() + limit;
    loop {
        let p = pids(dir);
        if p.len() >= n || Instant::now() > end {
            return p;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits up to `limit` for every pid in `dir` to end; those still running then.
fn wait_dead(dir: &str, limit: Duration) -> Vec<u32> {
    let end = Instant::now() + limit;
    loop {
        let live: Vec<u32> = pids(dir).into_iter().filter(|&p| alive(p)).collect();
        if live.is_empty() || Instant::now() > end {
            return live;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// This process's children that are zombies (ended, not reaped).
fn my_zombies() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .filter(|s| {
            let rest: Vec<&str> = s.rsplit(')').next().unwrap_or("").split_whitespace().collect();
            rest.first() == Some(&"Z") && rest.get(1) == Some(&me.as_str())
        })
        .count()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// A pool job: drops a daemon, returns once it runs (a worker retiring right after the
/// job would kill it before, as Python's retiring worker terminates its daemons); the
/// worker's pid.
fn job_drops_daemon(dir: String) -> u32 {
    drop_daemon(&dir, 0, false);
    assert_eq!(wait_pids(&dir, 1, Duration::from_secs(10)).len(), 1);
    std::process::id()
}

/// A non-daemon child: drops a daemon, returns once it runs (its exit kills it, as
/// Python's child's `_exit_function` terminates its daemonic children).
fn child_drops_daemon(dir: String) {
    drop_daemon(&dir, 0, false);
    assert_eq!(wait_pids(&dir, 1, Duration::from_secs(10)).len(), 1);
}

/// The program run again: the case named in its environment.
#[test]
fn inner_case() {
    let (Some(case), Some(dir)) = (std::env::var_os(CASE_ENV), std::env::var_os(DIR_ENV)) else {
        return;
    };
    let (case, dir) = (case.into_string().unwrap(), dir.into_string().unwrap());
    let sec = Duration::from_secs(10);
    match case.as_str() {
        "pool_retire" => {
            // The worker retires after the job: its exit kills the daemon the job dropped.
            let pool = Pool::builder().workers(1).max_jobs_per_worker(1).build().unwrap();
            let w1 = pool.submit(job_drops_daemon, dir.clone()).result().unwrap();
            assert_eq!(wait_pids(&dir, 1, sec).len(), 1);
            let w2 = pool.submit(|x: u32| x + std::process::id(), 0).result().unwrap();
            assert_ne!(w1, w2, "the worker retired");
            assert_eq!(wait_dead(&dir, sec), Vec::<u32>::new(), "outlived its worker's retirement");
        }
        "pool_terminate" => {
            let pool = Pool::builder().workers(1).build().unwrap();
            pool.submit(job_drops_daemon, dir.clone()).result().unwrap();
            assert_eq!(wait_pids(&dir, 1, sec).len(), 1);
            pool.terminate();
            assert_eq!(wait_dead(&dir, sec), Vec::<u32>::new(), "outlived terminate()");
        }
        "pool_exit" => {
            // The program ends with the pool (its worker exits at the shutdown).
            let pool = Pool::builder().workers(1).build().unwrap();
            pool.submit(job_drops_daemon, dir.clone()).result().unwrap();
            assert_eq!(wait_pids(&dir, 1, sec).len(), 1);
        }
        "nondaemon_child" => {
            let mut c = Process::new(child_drops_daemon, dir.clone());
            c.start().unwrap();
            c.join().unwrap();
            assert_eq!(wait_pids(&dir, 1, sec).len(), 1);
            assert_eq!(wait_dead(&dir, sec), Vec::<u32>::new(), "outlived its parent's exit");
        }
        "many" => {
            (0..10).for_each(|_| drop_daemon(&dir, 1, false));
            std::thread::sleep(Duration::from_millis(500));
            let fds = open_fds();
            for _ in 0..1_000 {
                drop_daemon(&dir, 1, false);
            }
            assert_eq!(wait_pids(&dir, 1_010, Duration::from_secs(60)).len(), 1_010);
            assert_eq!(wait_dead(&dir, Duration::from_secs(60)), Vec::<u32>::new());
            let end = Instant::now() + sec;
            while my_zombies() > 0 && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(my_zombies(), 0, "dropped daemons left unreaped");
            assert!(open_fds() <= fds + 2, "descriptors grew: {fds} → {}", open_fds());
        }
        "exit_from_thread" => {
            let d = dir.clone();
            std::thread::spawn(move || loop {
                drop_daemon(&d, 0, false);
            });
            wait_pids(&dir, 5, sec);
            std::process::exit(0);
        }
        "join_adopted" => {
            drop_daemon(&dir, 0, false);
            assert_eq!(wait_pids(&dir, 1, sec).len(), 1);
            let t = Instant::now();
            zeroproc_sched::join_adopted();
            assert!(t.elapsed() < Duration::from_secs(4), "join_adopted waited for a daemon");
        }
        "ignore_term" => {
            drop_daemon(&dir, 0, true);
            assert_eq!(wait_pids(&dir, 1, sec).len(), 1);
        }
        "killed" => {
            drop_daemon(&dir, 0, false);
            assert_eq!(wait_pids(&dir, 1, sec).len(), 1);
            eprintln!("inner: ready");
            std::thread::sleep(Duration::from_secs(3600));
        }
        "pipe" => {
            let (tx, mut rx) = zeroproc_mp::pipe_oneway::<u64>().unwrap();
            fn send(h: zeroproc_mp::pipe::SenderHandle<u64>) {
                let mut tx = h.attach().unwrap();
                (0..3).for_each(|i| tx.send(i).unwrap());
            }
            Process::new(send, tx.handle()).daemon(true).start().unwrap();
            drop(tx);
            let mut got = Vec::new();
            let end = loop {
                match rx.recv_timeout(Duration::from_secs(20)) {
                    Ok(v) => got.push(v),
                    Err(e) => break e,
                }
            };
            assert_eq!(got, [0, 1, 2]);
            assert_eq!(end, zeroproc_mp::pipe::RecvTimeoutError::Disconnected);
        }
        other => panic!("no case {other}"),
    }
    eprintln!("inner: done");
}

/// Runs case `case` in this binary again; its exit status, its standard error, and the
/// pids its daemons wrote (the directory removed). `kill`: SIGKILLs it once it says
/// `inner: ready`.
fn outer(case: &str, kill: bool) -> (std::process::ExitStatus, String, Vec<u32>, String) {
    let dir = std::env::temp_dir().join(format!("zp-daemon-attack-{}-{case}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "inner_case", "-q", "--nocapture"])
        .env(CASE_ENV, case)
        .env(DIR_ENV, &dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    if kill {
        use std::io::BufRead;
        let mut r = std::io::BufReader::new(child.stderr.take().unwrap());
        while !err.contains("inner: ready") {
            if r.read_line(&mut err).unwrap() == 0 {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        err.push_str("(killed)");
    }
    let status = zeroproc_testkit::wait_or_kill(&mut child, Duration::from_secs(90), case);
    if let Some(mut e) = child.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut err).unwrap();
    }
    let d = dir.to_str().unwrap().to_string();
    (status, err, pids(&d), d)
}

/// Runs `case`, which must succeed; its daemons must be dead once it has ended.
fn case_kills_its_daemons(case: &str, want: usize) {
    let (status, err, pids, dir) = outer(case, false);
    assert!(status.success(), "{case}: the inner program failed: {err}");
    assert!(err.contains("inner: done") || case == "exit_from_thread", "{case}: {err}");
    assert!(pids.len() >= want, "{case}: daemons that ran: {pids:?}");
    let live = wait_dead(&dir, Duration::from_secs(5));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(live, Vec::<u32>::new(), "{case}: daemons outlived the program");
}

#[test]
fn a_daemon_dropped_in_a_pool_job_ends_with_its_worker() {
    case_kills_its_daemons("pool_retire", 1);
    case_kills_its_daemons("pool_terminate", 1);
    case_kills_its_daemons("pool_exit", 1);
}

#[test]
fn a_daemon_dropped_in_a_non_daemon_child_ends_with_it() {
    case_kills_its_daemons("nondaemon_child", 1);
}

#[test]
fn a_thousand_dropped_daemons_are_reaped() {
    case_kills_its_daemons("many", 1_010);
}

#[test]
fn exit_from_another_thread_while_daemons_are_dropped() {
    for _ in 0..3 {
        case_kills_its_daemons("exit_from_thread", 5);
    }
}

#[test]
fn join_adopted_does_not_wait_for_daemons() {
    case_kills_its_daemons("join_adopted", 1);
}

#[test]
fn a_dropped_daemon_ignoring_sigterm_is_killed_at_exit() {
    case_kills_its_daemons("ignore_term", 1);
}

#[test]
fn a_dropped_daemon_dies_with_its_program_killed() {
    let (_, err, pids, dir) = outer("killed", true);
    assert_eq!(pids.len(), 1, "{err}");
    let live = wait_dead(&dir, Duration::from_secs(5));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(live, Vec::<u32>::new(), "outlived its program's SIGKILL");
}

#[test]
fn a_dropped_daemon_s_pipe_end_disconnects_when_it_ends() {
    case_kills_its_daemons("pipe", 0);
}
