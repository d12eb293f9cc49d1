//! Starting workers: the program re-executes itself (`/proc/self/exe`) with a marker in
//! the environment, and [`init`] — the first line of `main` — turns that copy into a
//! worker that never returns to `main`.
//!
//! | where the pool is used | the one line it needs |
//! |---|---|
//! | a binary or example | `zeroproc::init();` first in `main` (or `#[zeroproc::main]`) |
//! | a bench with `harness = false` | the same, first in its `main` |
//! | a bench with criterion | `zeroproc::criterion_main!(benches);` instead of criterion's |
//! | a bench with divan | `fn main() { zeroproc::init(); divan::main(); }` |
//! | an integration test or a crate's unit tests (libtest, also run by `cargo nextest`) | `zeroproc::test_worker!();` once per test binary, at the top level or in any module (`mod tests`): a hidden `#[test]` the worker is started on |
//! | a libtest `#[bench]` (nightly, a `benches/` file with the default harness) | `zeroproc::test_worker!();` once per bench file, as for tests |
//! | a doctest | `zeroproc::init();` as the first line of the example |
//!
//! Workers are started with the arguments `__zeroproc_worker --nocapture -q
//! --test-threads=1`, which libtest understands as "run only the tests whose name contains
//! `__zeroproc_worker`, one at a time" — the hidden test of [`test_worker!`](crate::test_worker!), wherever its
//! module is (the first one found never returns) — and every other program ignores
//! because `init` takes over before it parses its arguments.
//!
//! **Output.** libtest prints a header (`running 1 test`) before it runs the hidden test.
//! So that it does not appear in the program's output, a worker starts with its standard
//! output on `/dev/null` and the controller's standard output (a duplicate of the same
//! open file) as its standard input; `init` moves it back to descriptor 1 and puts
//! `/dev/null` on 0 (Python's children have no stdin either). What jobs print therefore
//! goes where the controller's output goes, and nothing printed before `init` does.
//!
//! No constructor tricks (`.init_array`): the worker starts in `main`, with std set up.

use crate::control::SegmentMap;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_shm::SegmentId;

/// The environment variable that marks a process as a worker and carries its spec.
pub const WORKER_ENV: &str = "ZEROPROC_WORKER";

/// Arguments given to a worker process (see the module docs). The first is the libtest
/// filter selecting the hidden test of [`test_worker!`](crate::test_worker!).
pub const WORKER_ARGS: [&str; 4] = ["__zeroproc_worker", "--nocapture", "-q", "--test-threads=1"];

/// Set (to `0`) in a worker's environment when its standard input carries the
/// controller's standard output (see the module docs).
const STDOUT_ENV: &str = "ZEROPROC_STDOUT_ON_STDIN";

/// Turns this process into a worker if it was started as one, and never returns in that
/// case; returns at once (a few nanoseconds: one environment lookup) otherwise, having
/// made `exit` shut down the pools the program never drops (a `static` one), their jobs
/// finishing first, as Python waits at exit for its executors' pending work
/// ([`shutdown_live_pools`](crate::shutdown_live_pools)).
///
/// Call it as the **first line of `main`**, before anything else runs (threads, argument
/// parsing, I/O): a worker must not run the program's own work.
///
/// ```
/// zeroproc_sched::init(); // the first line of `main`
/// // ... the program, which may build pools ...
/// ```
///
/// A doctest is a `main` too: without `init()` as its first line, its workers run the
/// example again, and the error says where the line goes.
///
/// ```
/// // (no `zeroproc_sched::init();` here)
/// let e = zeroproc_sched::Pool::builder().workers(1).build().unwrap_err();
/// assert!(e.to_string().contains("in a doctest, `zeroproc::init();` as the example's first line"), "{e}");
/// ```
pub fn init() {
    restore_stdout();
    if let Some(raw) = take_env(crate::process::PROCESS_ENV) {
        name_after_the_program();
        on_a_main_sized_stack(move || crate::process::child_main(&raw));
    }
    let Some(raw) = take_env(WORKER_ENV) else {
        // An ordinary process: pools it never drops finish their jobs at `exit`.
        crate::pool::shutdown_at_exit();
        return;
    };
    name_after_the_program();
    let spec = raw.to_str().and_then(Spec::parse);
    match spec {
        Some(s) => on_a_main_sized_stack(move || {
            // `run` never returns; an unwind out of it (a bug) must not reach `main`.
            let p = std::panic::catch_unwind(|| crate::worker::run(&s));
            crate::worker::escaped(p.err().unwrap_or_else(|| Box::new("worker returned")))
        }),
        None => {
            crate::note!("zeroproc: malformed {WORKER_ENV}={raw:?}");
            std::process::exit(crate::worker::exit::BAD_SPEC)
        }
    }
}

/// Names this process (its `comm`) after the program, as the controller is named: started
/// from `/proc/self/exe`, a worker or `Process` child was called `exe` in `ps`, `top` and
/// the kernel's log ("Out of memory: Killed process 1234 (exe)"), and `pgrep PROGRAM`
/// missed it. The name is the last component of `argv[0]` (the controller's, handed
/// over), cut to the kernel's 15 bytes. Written through `/proc/self/comm`, which names the
/// process (its first thread) from whichever thread `init` runs on.
fn name_after_the_program() {
    use std::os::unix::ffi::OsStrExt;
    let Some(a0) = std::env::args_os().next() else { return };
    let Some(base) = std::path::Path::new(&a0).file_name() else { return };
    let base = base.as_bytes();
    if base.is_empty() {
        return;
    }
    let _ = std::fs::write("/proc/self/comm", &base[..base.len().min(15)]);
}

/// Runs `life` (a worker's or a `Process` child's, which ends the process) with the stack
/// a program's main thread has. `init` is called on the main thread in a binary, where
/// that is the stack `life` runs on; under libtest (`test_worker!`) it is called on the
/// test's thread, whose stack is libtest's 2 MiB (`RUST_MIN_STACK`), so a job that
/// recursed fine in a binary overflowed in `cargo test`. There `life` runs on a thread of
/// its own whose stack is the main thread's limit (`ulimit -s`; 8 MiB when unlimited),
/// and the test's thread waits for ever.
fn on_a_main_sized_stack(life: impl FnOnce() + Send + 'static) -> ! {
    // SAFETY: getpid and gettid have no preconditions.
    let on_main = unsafe { libc::gettid() == libc::getpid() };
    if on_main {
        life();
        crate::worker::escaped(Box::new("the worker's life returned"))
    }
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the limit into `lim`, a valid rlimit.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut lim) } == 0;
    let size = match usize::try_from(lim.rlim_cur) {
        Ok(n) if got && lim.rlim_cur != libc::RLIM_INFINITY && n > 0 => n,
        _ => 8 << 20,
    };
    type Slot<F> = std::sync::Arc<std::sync::Mutex<Option<F>>>;
    fn take<F>(slot: &Slot<F>) -> Option<F> {
        slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }
    let slot: Slot<_> = std::sync::Arc::new(std::sync::Mutex::new(Some(life)));
    let theirs = std::sync::Arc::clone(&slot);
    let thread = std::thread::Builder::new()
        .name("main".into())
        .stack_size(size)
        .spawn(move || take(&theirs).map_or((), |l| l()));
    let end = match thread {
        // `life` ends the process: the join returns only if it did not.
        Ok(t) => t.join().err(),
        // No thread (out of resources): `life` runs here, on the test's stack.
        Err(_) => {
            if let Some(l) = take(&slot) {
                l();
            }
            None
        }
    };
    crate::worker::escaped(end.unwrap_or_else(|| Box::new("the worker's life returned")))
}

/// Puts back the standard output the controller handed over on descriptor 0 (see the
/// module docs), and `/dev/null` on 0.
fn restore_stdout() {
    if std::env::var_os(STDOUT_ENV).is_none() {
        return;
    }
    std::env::remove_var(STDOUT_ENV);
    // SAFETY: dup2/open/close on descriptors this process owns; `init` runs before the
    // program starts threads, so no other thread uses descriptors 0 and 1 meanwhile.
    unsafe {
        libc::dup2(0, 1);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::close(null);
        }
    }
}

/// Makes `cmd` start with its standard output on `/dev/null` and ours on its standard
/// input, to be moved back by [`init`] (see the module docs). Without a standard output
/// of our own, the child inherits the same (nothing).
///
/// A terminal is opened again write-only rather than duplicated: a terminal is usually
/// open read-write, and a copy of the program that never reaches `init` (it was forgotten)
/// and reads its standard input must not read the user's keystrokes. Pipes and files are
/// duplicated (a file must share our offset).
pub(crate) fn hand_over_stdout(cmd: &mut Command) {
    use std::io::IsTerminal;
    use std::os::fd::AsFd;
    use std::process::Stdio;
    let out = std::io::stdout();
    let fd = if out.is_terminal() {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/proc/self/fd/1")
            .map(std::os::fd::OwnedFd::from)
    } else {
        out.as_fd().try_clone_to_owned()
    };
    match fd {
        Ok(fd) => {
            cmd.stdin(Stdio::from(fd)).stdout(Stdio::null()).env(STDOUT_ENV, "0");
        }
        Err(_) => {
            cmd.stdin(Stdio::null());
        }
    }
}

/// Set once `init` took a marker: this process is a worker or a `Process` child.
static ENTERED: AtomicBool = AtomicBool::new(false);

/// Set by a non-daemon `Process` child before its body runs: it may start pools and
/// processes of its own, as a non-daemon `multiprocessing.Process` may (its workers and
/// children are started from the same executable, as the controller's are).
static MAY_HAVE_CHILDREN: AtomicBool = AtomicBool::new(false);

/// Called by a non-daemon `Process` child before its body runs, and by a pool worker
/// before its start (see [`MAY_HAVE_CHILDREN`]). A pool worker may have children as
/// CPython's `ProcessPoolExecutor` workers may (they are not daemonic: a job there can
/// run an executor or a `Process` of its own; `multiprocessing.Pool`'s daemonic workers
/// cannot). What a job starts is this executable started again, as the controller's
/// workers are; a pool's workers die with the thread that started them
/// (`PR_SET_PDEATHSIG`), so a nested pool's workers go with a worker that is killed.
pub(crate) fn allow_children() {
    // Relaxed: read on this thread or on threads the body starts later (spawn orders it).
    MAY_HAVE_CHILDREN.store(true, Ordering::Relaxed);
}

/// Set by a pool worker before its start: this process serves a pool (a job or an
/// initializer is calling).
static POOL_WORKER: AtomicBool = AtomicBool::new(false);

/// Marks this process as a pool worker (see [`in_pool_worker`]).
pub(crate) fn mark_pool_worker() {
    // Relaxed: read on this thread or on threads a job starts later (spawn orders it).
    POOL_WORKER.store(true, Ordering::Relaxed);
}

/// True in a pool worker: in a job or an initializer. A local `Pool` may be built there
/// (as in CPython's `ProcessPoolExecutor`); a cluster pool may not (its workers never
/// touch MPI), and `zeroproc-cluster` asks this to refuse it naming the cause.
#[doc(hidden)]
pub fn in_pool_worker() -> bool {
    // Relaxed: see `mark_pool_worker`.
    POOL_WORKER.load(Ordering::Relaxed)
}

/// Reads and removes a marker variable, so that programs this process starts (a job or a
/// body running its own executable as a helper) do not inherit it and act on it too.
/// `init` runs first in `main`, before the program starts threads (its contract), so
/// nothing reads the environment concurrently.
fn take_env(name: &str) -> Option<std::ffi::OsString> {
    let v = std::env::var_os(name)?;
    std::env::remove_var(name);
    // Relaxed: read on this thread or on threads a job starts later (spawn orders it).
    ENTERED.store(true, Ordering::Relaxed);
    Some(v)
}

/// Whether (and how) this process is one zeroproc started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Started {
    /// An ordinary process.
    No,
    /// A daemon `Process` child whose `init` ran: its body is calling. (A pool worker
    /// and a non-daemon `Process` child count as `No`: they may have children.)
    Entered,
    /// Started as one, but `main` did not call `init` first (it re-runs the program).
    WithoutInit,
}

/// See [`Started`].
pub(crate) fn started() -> Started {
    // Relaxed: see `take_env`.
    if ENTERED.load(Ordering::Relaxed) {
        // Relaxed: see `allow_children`.
        if MAY_HAVE_CHILDREN.load(Ordering::Relaxed) {
            Started::No
        } else {
            Started::Entered
        }
    } else if std::env::var_os(WORKER_ENV).is_some()
        || std::env::var_os(crate::process::PROCESS_ENV).is_some()
    {
        Started::WithoutInit
    } else {
        Started::No
    }
}

/// A worker or `Process` child whose `main` did not call [`init`] first reached
/// `Pool::build` or `Process::start`: it is a copy of the program re-running `main`.
/// It stops here (exit code 97, which the controller reports as a missing `init()`)
/// rather than returning an error that `main` would handle by going on with the
/// program's own work, or by starting workers of its own.
#[cold]
pub(crate) fn without_init(what: &str) -> ! {
    crate::note!(
        "zeroproc: process {} was started as a worker but reached {what} without \
         zeroproc::init(): make `zeroproc::init();` the first line of main (or use \
         #[zeroproc::main]; under libtest, zeroproc::test_worker!(); in a doctest, \
         `zeroproc::init();` as the example's first line)",
        std::process::id()
    );
    std::process::exit(crate::worker::exit::NO_INIT)
}

/// Makes this process exit (`_exit(exit_code)`) when its parent process `parent` exits,
/// whatever the process later does to itself: `PR_SET_PDEATHSIG` is cleared by a change
/// of credentials (`setresuid` in a job) and fires on the exit of the parent *thread*, so
/// a small thread waits in `poll(2)` on a pidfd of the parent instead. Returns `false` if
/// the parent is already not `parent` (it died before we looked). Without pidfds (Linux
/// before 5.3) or a thread, only the death signal remains.
///
/// What is still possible: a job that forks (or double-forks) makes processes this watch
/// does not cover; they are the job's own.
pub(crate) fn watch_parent(parent: u32, exit_code: i32) -> bool {
    // SAFETY: pidfd_open(pid, flags) takes two integers; it returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, parent as libc::pid_t, 0) } as i32;
    // SAFETY: getppid has no preconditions.
    let ppid = unsafe { libc::getppid() } as u32;
    if fd < 0 {
        return ppid == parent;
    }
    // The pidfd names whoever had the pid when it was opened: our parent only if it still
    // is now (a pid is not reused while we are its child).
    if ppid != parent {
        // SAFETY: `fd` is ours and closed once.
        unsafe { libc::close(fd) };
        return false;
    }
    let t = std::thread::Builder::new()
        .name("zeroproc-parent".into())
        .stack_size(64 << 10)
        .spawn(move || wait_for_exit(fd, exit_code));
    if t.is_err() {
        // SAFETY: as above (the thread never started, so it never owned the fd).
        unsafe { libc::close(fd) };
    }
    true
}

/// Blocks until the pidfd `fd` reports its process's exit, then ends this process.
fn wait_for_exit(fd: i32, exit_code: i32) -> ! {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    loop {
        // SAFETY: `p` is a valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut p, 1, -1) };
        if r > 0 {
            // SAFETY: _exit ends the process at once (no destructors or atexit handlers
            // racing the main thread), like the death signal would.
            unsafe { libc::_exit(exit_code) };
        }
    }
}

/// Everything a worker needs to find its place.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spec {
    pub segment: SegmentId,
    pub index: usize,
    pub core: Option<usize>,
    pub fingerprint: u64,
    pub strategy: WaitStrategy,
    pub initializer: Option<u32>,
    /// The segment holding the initializer's arguments (`initializer_with`).
    pub init_args: Option<SegmentId>,
    pub max_jobs: Option<u64>,
    pub parent: u32,
}

impl Spec {
    fn format(&self) -> String {
        let strategy = match self.strategy {
            WaitStrategy::Spin => "spin".to_owned(),
            WaitStrategy::Sleep => "sleep".to_owned(),
            WaitStrategy::SpinThenSleep { spin } => format!("sts{}", spin.as_nanos()),
        };
        let opt = |o: Option<String>| o.unwrap_or_else(|| "-".into());
        format!(
            "{}|{}|{}|{:x}|{}|{}|{}|{}|{}",
            self.segment,
            self.index,
            opt(self.core.map(|c| c.to_string())),
            self.fingerprint,
            strategy,
            opt(self.initializer.map(|c| c.to_string())),
            opt(self.init_args.as_ref().map(|c| c.to_string())),
            opt(self.max_jobs.map(|c| c.to_string())),
            self.parent,
        )
    }

    pub fn parse(s: &str) -> Option<Spec> {
        let f: Vec<&str> = s.split('|').collect();
        let [seg, index, core, fp, strategy, init, init_args, max, parent] = f[..] else {
            return None;
        };
        fn opt<T: std::str::FromStr>(v: &str) -> Result<Option<T>, T::Err> {
            if v == "-" {
                Ok(None)
            } else {
                v.parse().map(Some)
            }
        }
        let strategy = match strategy {
            "spin" => WaitStrategy::Spin,
            "sleep" => WaitStrategy::Sleep,
            s => WaitStrategy::SpinThenSleep {
                spin: std::time::Duration::from_nanos(s.strip_prefix("sts")?.parse().ok()?),
            },
        };
        Some(Spec {
            segment: seg.parse().ok()?,
            index: index.parse().ok()?,
            core: opt(core).ok()?,
            fingerprint: u64::from_str_radix(fp, 16).ok()?,
            strategy,
            initializer: opt(init).ok()?,
            init_args: opt(init_args).ok()?,
            max_jobs: opt(max).ok()?,
            parent: parent.parse().ok()?,
        })
    }
}

/// Environment variable naming the program workers run instead of `/proc/self/exe`: for
/// profiling the controller alone under valgrind (whose `/proc/self/exe` is valgrind's own
/// tool binary), e.g. `ZEROPROC_WORKER_EXE=target/release/app valgrind --tool=callgrind
/// target/release/app`. It must be the same build as the controller: the build
/// fingerprint is checked at the handshake.
pub const WORKER_EXE_ENV: &str = "ZEROPROC_WORKER_EXE";

/// The program a worker runs: `/proc/self/exe` (the very inode the controller runs,
/// even if the file was replaced since), unless [`WORKER_EXE_ENV`] names another.
fn worker_program() -> std::ffi::OsString {
    std::env::var_os(WORKER_EXE_ENV).unwrap_or_else(|| "/proc/self/exe".into())
}

/// Starts worker `spec.index`. Call from the pool's supervisor thread only: the worker's
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked it exits, and that thread lives
/// exactly as long as the pool.
pub(crate) fn spawn(spec: &Spec, _map: &SegmentMap) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let program = worker_program();
    let mut cmd = Command::new(&program);
    if let Some(a0) = std::env::args_os().next() {
        cmd.arg0(a0);
    }
    cmd.args(WORKER_ARGS).env(WORKER_ENV, spec.format());
    hand_over_stdout(&mut cmd);
    // No `pre_exec` hook: without one std starts the child with posix_spawn (vfork-like),
    // which does not copy the controller's page tables — a fork of a process with large
    // shared mappings cost 2–8 ms per worker here. The worker sets its own
    // PR_SET_PDEATHSIG first thing (`worker::run`) and then checks that its parent is
    // still the controller, which closes the window between exec and prctl.
    cmd.spawn().map_err(|e| spawn_error(&program.to_string_lossy(), e))
}

/// A failed spawn of `program`, its `errno` explained ([`spawn_hint`]): for the pool's
/// workers and for `Process` children alike (before env36 a `Process` gave the OS's text
/// alone: "process: Too many open files (os error 24)").
#[cold]
pub(crate) fn spawn_error(program: &str, e: std::io::Error) -> std::io::Error {
    let mut hint = e.raw_os_error().map_or_else(String::new, spawn_hint);
    if e.raw_os_error() == Some(libc::ENOENT)
        && program.starts_with("/proc/")
        && !std::path::Path::new("/proc/self").exists()
    {
        hint = " (/proc is not mounted here — a chroot, a sandbox or a mount namespace \
                without it: workers and processes are this executable started again \
                through /proc/self/exe; mount it, `mount -t proc proc /proc`, or give \
                the sandbox /proc, bubblewrap's `--proc /proc`)"
            .to_string();
    }
    std::io::Error::new(e.kind(), format!("executing {program}: {e}{hint}"))
}

/// What a failed spawn's `errno` usually means here, for its message (the OS's own text,
/// "Resource temporarily unavailable", does not say that a process limit was reached:
/// review30, a pids cgroup filled).
fn spawn_hint(errno: i32) -> String {
    let hint = match errno {
        libc::EAGAIN => {
            " (a process limit is reached: RLIMIT_NPROC, `ulimit -u`, or the cgroup's \
             `pids.max`; processes or threads a job left behind count)"
        }
        libc::E2BIG => {
            " (the environment and arguments are too large for exec: a single string over \
             128 KiB, or all of them over the limit)"
        }
        libc::ENOMEM => " (not enough memory to create a process)",
        libc::EMFILE => return fd_limit_hint(),
        libc::ENFILE => " (the system-wide open-file limit is reached: fs.file-max)",
        _ => "",
    };
    hint.to_string()
}

/// EMFILE: this process's descriptor limit, with its values and the remedy (before env36
/// "no file descriptor free to start a process", which named no limit: a user under
/// `prlimit --nofile=8:8` could not tell which limit, or what held the descriptors).
fn fd_limit_hint() -> String {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a valid resource and a properly sized out pointer.
    let limits = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        let show = |v: libc::rlim_t| match v {
            libc::RLIM_INFINITY => "unlimited".to_string(),
            v => v.to_string(),
        };
        format!("soft limit {}, hard limit {}", show(lim.rlim_cur), show(lim.rlim_max))
    } else {
        "limit unknown".to_string()
    };
    format!(
        " (this process's descriptor limit is reached: {limits}; starting a process takes \
         a few descriptors for a moment, and every live shared array, queue, pipe, \
         container and pool holds one — raise the soft limit, `ulimit -n` or \
         setrlimit(RLIMIT_NOFILE), or drop objects no longer used)"
    )
}

/// Expands to the hidden `#[test]` a libtest harness needs so that workers can be started
/// from its tests: put it once per test binary — at the top level of an integration test
/// file, or in the crate's `mod tests` (any module works: the worker selects the test by
/// the name `__zeroproc_worker`, whatever its path).
///
/// ```
/// #[cfg(test)]
/// mod tests {
///     zeroproc_sched::test_worker!(); // then any #[test] of this binary may build pools
/// }
/// ```
///
/// (`crates/sched/tests/harness.rs` and the user crate's `src/unit_tests.rs` are complete
/// test files written this way.)
///
/// Without it, a pool built in a test fails with
/// [`BuildError::WorkerExited`](crate::BuildError::WorkerExited) naming
/// `zeroproc::test_worker!()`: the worker found no test to run and exited.
#[macro_export]
macro_rules! test_worker {
    () => {
        #[test]
        #[doc(hidden)]
        fn __zeroproc_worker() {
            $crate::init();
        }
    };
}

/// criterion's `criterion_main!` with [`init`] first: the `main` of a `cargo bench` target
/// (`harness = false`) whose benchmarks use pools. Workers are the bench binary
/// re-executed; they stop in `init` before criterion parses the arguments they were
/// started with. Needs `criterion` as a dev-dependency under that name: 0.4 to 0.8 (0.5.1
/// runs in `harnesscrate/`, 0.8.2 was checked once in a scratch crate).
///
/// ```
/// use criterion::{criterion_group, Criterion};
/// use std::time::Duration;
///
/// fn round_trip(c: &mut Criterion) {
///     let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
///     c.bench_function("submit + result", |b| {
///         b.iter(|| pool.submit(|x: u64| x + 1, 1).result().unwrap())
///     });
/// }
///
/// criterion_group! {
///     name = benches;
///     config = Criterion::default()
///         .sample_size(10)
///         .warm_up_time(Duration::from_millis(10))
///         .measurement_time(Duration::from_millis(50));
///     targets = round_trip
/// }
/// zeroproc_sched::criterion_main!(benches);
/// ```
#[macro_export]
macro_rules! criterion_main {
    ($($group:path),+ $(,)?) => {
        fn main() {
            $crate::init();
            $($group();)+
            ::criterion::Criterion::default().configure_from_args().final_summary();
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EAGAIN from fork/exec is a process limit (measured with a pids cgroup full): the
    /// message said only "Resource temporarily unavailable".
    #[test]
    fn a_spawn_refused_for_the_process_limit_names_it() {
        assert!(spawn_hint(libc::EAGAIN).contains("pids.max"));
        assert!(spawn_hint(libc::EAGAIN).contains("ulimit -u"));
        assert_eq!(spawn_hint(libc::EPERM), "");
    }

    #[test]
    fn spec_round_trips() {
        let s = Spec {
            segment: "memfd:12:7:00ff00ff00ff00ff".parse().unwrap(),
            index: 3,
            core: Some(1),
            fingerprint: 0xdead_beef,
            strategy: WaitStrategy::SpinThenSleep { spin: std::time::Duration::from_micros(50) },
            initializer: Some(123),
            init_args: Some("memfd:12:8:00ff00ff00ff00fe".parse().unwrap()),
            max_jobs: None,
            parent: 99,
        };
        assert_eq!(Spec::parse(&s.format()), Some(s));
        assert_eq!(Spec::parse("garbage"), None);
    }
}
