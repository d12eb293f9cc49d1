//! Cross-process test support: a test binary re-executes itself to run a *role* in a child
//! process (the libtest re-exec trick), and the parent can kill it at any point.
//!
//! In the test file:
//!
//! ```ignore
//! // 1. One entry test per binary; in the parent it is a no-op, in a child it runs the role.
//! #[test]
//! fn zp_child_entry() {
//!     zeroproc_testkit::child_entry(|role, arg| match role {
//!         "writer" => writer(arg),
//!         _ => panic!("unknown role {role}"),
//!     });
//! }
//! // 2. Spawning:
//! let child = zeroproc_testkit::spawn_role("zp_child_entry", "writer", &seg.id().to_string());
//! ```
//!
//! The child's exit code is 0 when the role returns, 101 when it panics (libtest's code).

pub mod counters;
pub mod fd;
pub mod maps;
pub mod tiny_crate;

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const ROLE_ENV: &str = "ZEROPROC_TEST_ROLE";
const ARG_ENV: &str = "ZEROPROC_TEST_ARG";

/// Runs `f(role, arg)` and exits the process if this process is a child started by
/// [`spawn_role`]; returns immediately otherwise.
pub fn child_entry(f: impl FnOnce(&str, &str)) {
    if let Ok(role) = std::env::var(ROLE_ENV) {
        let arg = std::env::var(ARG_ENV).unwrap_or_default();
        f(&role, &arg);
        // Skip libtest's own reporting and any other test in this binary.
        std::process::exit(0);
    }
}

/// Whether this process is a child started by [`spawn_role`].
pub fn is_child() -> bool {
    std::env::var_os(ROLE_ENV).is_some()
}

/// Starts this test binary again, running only `entry_test` (which must call
/// [`child_entry`]), with `role` and `arg` passed through the environment.
/// The child's stdout/stderr go to the parent's (visible with `--nocapture`).
pub fn spawn_role(entry_test: &str, role: &str, arg: &str) -> Child {
    command(entry_test, role, arg).spawn().expect("spawn test child")
}

/// Like [`spawn_role`], with stdout piped (for children that report results by printing).
pub fn spawn_role_piped(entry_test: &str, role: &str, arg: &str) -> Child {
    command(entry_test, role, arg).stdout(Stdio::piped()).spawn().expect("spawn test child")
}

/// Like [`spawn_role_piped`], returning once the child has printed a line starting with
/// `word` (it panics if the child exits first). The rest of its stdout is not read: a
/// child that prints more after `word` gets a broken pipe.
pub fn spawn_until(entry_test: &str, role: &str, arg: &str, word: &str) -> Child {
    use std::io::{BufRead, BufReader};
    let mut c = spawn_role_piped(entry_test, role, arg);
    let out = BufReader::new(c.stdout.take().expect("piped stdout"));
    for line in out.lines() {
        if line.expect("child stdout").starts_with(word) {
            return c;
        }
    }
    panic!("{role} exited before printing {word:?}: {:?}", c.wait());
}

fn command(entry_test: &str, role: &str, arg: &str) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut c = Command::new(exe);
    c.args([entry_test, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(ROLE_ENV, role)
        .env(ARG_ENV, arg)
        .stdin(Stdio::null());
    c
}

/// Sends SIGKILL to a child (no cleanup of any kind runs in it).
pub fn sigkill(child: &Child) {
    // SAFETY: plain kill(2) on a pid we spawned and have not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
}

/// Sends signal `sig` to process `pid` (a worker of the test's own pool); panics if
/// `kill(2)` fails.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: plain kill(2); the pid is one of the test's own processes.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, sig) }, 0, "kill({pid}, {sig})");
}

/// Stops process `pid` (SIGSTOP) and waits until `/proc` shows it stopped: a signal is
/// delivered asynchronously, and a worker not yet stopped could claim a job given next,
/// which would then wait for the resume. Panics after 10 s.
pub fn stop(pid: u32) {
    signal(pid, libc::SIGSTOP);
    let t = Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let state = stat[stat.rfind(')').expect("comm") + 2..].chars().next();
        if state == Some('T') {
            return;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "process {pid} never stopped");
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Waits for a child with a time limit; kills it and panics if it overruns.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    let end = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() > end {
            sigkill(child);
            let _ = child.wait();
            panic!("child {} did not exit within {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The entries of `/dev/shm` (to compare before and after a test).
pub fn dev_shm_entries() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/dev/shm")
        .map(|rd| rd.flatten().filter_map(|e| e.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Archives `v` (rkyv) as lowercase hex: a handle or value passed to a child role as its
/// text argument. The inverse is [`from_hex`].
pub fn to_hex<T>(v: &T) -> String
where
    T: for<'a> rkyv::Serialize<
        rkyv::api::high::HighSerializer<
            rkyv::util::AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            rkyv::rancor::Error,
        >,
    >,
{
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(v).expect("archive");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes hex from [`to_hex`] into an aligned buffer (panics on bad hex).
pub fn unhex(s: &str) -> rkyv::util::AlignedVec {
    let mut v = rkyv::util::AlignedVec::new();
    for i in (0..s.len()).step_by(2) {
        v.push(u8::from_str_radix(&s[i..i + 2], 16).expect("hex"));
    }
    v
}

/// Validates and deserializes a value archived by [`to_hex`] (panics if invalid).
pub fn from_hex<T>(s: &str) -> T
where
    T: rkyv::Archive,
    T::Archived: for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'a, rkyv::rancor::Error>>
        + rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rkyv::rancor::Error>>,
{
    rkyv::from_bytes::<T, rkyv::rancor::Error>(&unhex(s)).expect("valid archive")
}

/// Runs `f` on a helper thread and returns its result; panics with "hung" if it has not
/// returned after `limit` (the stuck thread is left behind: a hang is the failure).
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).expect("hung")
}

/// A small xorshift generator for randomised tests (kill points, job lengths): the seed is
/// printed by the test that uses it, so a failing run can be repeated.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced: xorshift never leaves 0).
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The current state (at creation: the seed, to print so that a run can be repeated).
    pub fn state(&self) -> u64 {
        self.0
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`0..1` for `n` = 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Busy-waits for `us` microseconds (a job's work or a kill point that is not a sleep).
pub fn spin_us(us: u64) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_micros(us) {
        std::hint::spin_loop();
    }
}

/// Forks a child that runs `child`, then `_exit(0)`s if it returns (it may end itself with
/// a signal or `_exit` first); waits for it and returns its raw wait status
/// (`libc::WIFSIGNALED`/`WTERMSIG`/`WEXITSTATUS` read it).
///
/// The child must touch only what is safe after `fork` in a threaded test binary: shared
/// memory through atomics and plain copies, no locks another thread may hold, no
/// allocation through a lock. It never returns into the test harness.
pub fn fork_run(child: impl FnOnce()) -> i32 {
    // SAFETY: the caller's child obeys the rules above and ends with `_exit` or a signal;
    // the parent only waits for it.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        child();
        // SAFETY: ends the child at once, running nothing of the parent's.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: reaps the child just forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    status
}

/// Runs `child` in a process forked by [`fork_run`] and asserts that it died of SIGKILL
/// (a test's kill point reached: `at` names it in the failure message).
pub fn fork_dies_of_sigkill(at: impl std::fmt::Debug, child: impl FnOnce()) {
    let status = fork_run(child);
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL,
        "the child did not die at {at:?} (status {status:#x})"
    );
}

/// Runs `child` in a process forked (by [`fork_run`]) while another thread holds what
/// `hold` returns — the thread takes it, then the fork happens, then the thread lets it
/// go — and returns the child's wait status. The child ends with `_exit(0)` if `child`
/// says true (`_exit(1)` if false), or by SIGALRM after 10 s: a hang is a failure (status
/// 14, [`exited_0`] false). For state a forked child must not inherit locked.
pub fn fork_while_held<G: 'static>(hold: fn() -> G, child: impl FnOnce() -> bool) -> i32 {
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _g = hold();
        held_tx.send(()).unwrap();
        let _ = go_rx.recv();
    });
    held_rx.recv().unwrap();
    let status = fork_run(|| {
        // SAFETY: alarm has no preconditions; a hung child dies of SIGALRM.
        unsafe { libc::alarm(10) };
        let ok = child();
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    });
    go_tx.send(()).unwrap();
    holder.join().unwrap();
    status
}

/// Whether a wait status says the process exited with code 0.
pub fn exited_0(status: i32) -> bool {
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

/// Runs test `name` of the running test binary again, alone (`--exact`, `--nocapture`),
/// in a child process with the environment variable `marker` set (the inner test returns
/// at once without it), and returns its output: standard error piped, standard output
/// discarded. For a behaviour seen only on standard error or at a process's end.
pub fn rerun_test(name: &str, marker: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "-q", "--nocapture"])
        .env(marker, "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
}

/// Waits for `child` to exit; kills it (SIGKILL) and panics saying `what` if it has not
/// within `within`: a program that does not end is a failure, not a hung test run.
pub fn wait_or_kill(
    child: &mut std::process::Child,
    within: std::time::Duration,
    what: &str,
) -> std::process::ExitStatus {
    let until = std::time::Instant::now() + within;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if std::time::Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {within:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
