//! Errors: one enum per operation.

use std::fmt;

/// The job's own error type when it cannot fail ([`JobError<Never>`](JobError)).
pub type Never = std::convert::Infallible;

/// Why a job produced no result.
///
/// `E` is the job's own error type for jobs submitted with
/// [`Pool::submit_fallible`](crate::Pool::submit_fallible) (a function returning
/// `Result<T, E>`); it is [`Never`] otherwise, and `JobError` alone means `JobError<Never>`.
///
/// The pool is never "broken" by a failed job: every variant fails that one job, and the
/// pool keeps serving (except `Shutdown` and `NoWorkers`, which say the pool itself is
/// done). What each means for the caller:
///
/// | Variant | Did the job run? | Python | What to do |
/// |---|---|---|---|
/// | [`Panicked`](Self::Panicked) | yes, and panicked | the job's exception | a bug in the job; `message` has the panic text and location |
/// | [`Job(e)`](Self::Job) | yes, returned `Err(e)` | the job's exception | handle `e` ([`submit_fallible`](crate::Pool::submit_fallible) only) |
/// | [`WorkerDied`](Self::WorkerDied) | started; its process died (signal or exit) | `BrokenProcessPool` (whole pool) | resubmit if the cause was outside the job (OOM killer); the worker was respawned |
/// | [`StackOverflow`](Self::StackOverflow) | yes, recursed too deep | `RecursionError` | fix the recursion or raise `ulimit -s` |
/// | [`TimeLimit`](Self::TimeLimit) | yes, for longer than its **limit**; it was killed | — | the job is too slow for its limit |
/// | [`Timeout`](Self::Timeout) | unknown — the **caller** stopped waiting; the job was not stopped | `TimeoutError` | wait again, or cancel |
/// | [`Cancelled`](Self::Cancelled) | no (or stopped by `terminate`) | `CancelledError` | expected after `cancel`/`terminate`/`shutdown` |
/// | [`Decode`](Self::Decode) | maybe: arguments or result failed validation; no, if the pool's function table is full (4,096 distinct functions) | `PicklingError` / `UnpicklingError` | a bug or damaged memory; not retryable as is (table full: submit fewer distinct functions, or to another pool) |
/// | [`TooLarge`](Self::TooLarge) | arguments: no; result: **yes** | — | raise [`spill_heap`](crate::PoolBuilder::spill_heap), or send a handle (`Pool::share`, `SharedArray`) |
/// | [`Shutdown`](Self::Shutdown) | no, submitted after `shutdown` | `RuntimeError` | a bug in the caller's ordering |
/// | [`NoWorkers`](Self::NoWorkers) | no, every worker slot was retired | `BrokenProcessPool` | build a new pool |
///
/// **`TimeLimit` and `Timeout` are different things:** `TimeLimit` is the *job's* limit
/// ([`job_time_limit`](crate::PoolBuilder::job_time_limit),
/// [`submit_with_time_limit`](crate::Pool::submit_with_time_limit)) — the job was killed;
/// `Timeout` is the *waiter's* limit ([`Map::timeout`](crate::Map::timeout)) — the job may
/// still be running. (A [`JobFuture::result_timeout`](crate::JobFuture::result_timeout)
/// that runs out is not an error at all: it hands the future back.)
///
/// The enum is `#[non_exhaustive]`, like the other error enums of zeroproc: later versions
/// may add failure causes, so a `match` outside this crate needs a `_` arm (what to do with
/// a cause it does not know; [`JobErrorKind::ALL`] lists today's). A match naming every
/// variant without one does not compile:
///
/// ```compile_fail,E0004
/// use zeroproc_sched::JobError;
/// fn retry(e: &JobError) -> bool {
///     match e {
///         JobError::WorkerDied { .. } | JobError::Timeout => true,
///         JobError::Panicked { .. } | JobError::StackOverflow | JobError::TimeLimit => false,
///         JobError::Cancelled | JobError::Decode { .. } | JobError::Job(_) => false,
///         JobError::NoWorkers | JobError::Shutdown | JobError::TooLarge { .. } => false,
///     }
/// }
/// ```
///
/// ```
/// zeroproc_sched::init();
/// use std::time::Duration;
/// use zeroproc_sched::{JobError, Pool};
///
/// let pool = Pool::builder().workers(2).build()?;
/// let panics = pool.submit(|x: u32| -> u32 { panic!("bad input {x}") }, 7);
/// let dies = pool.submit(|_: ()| -> u32 { std::process::abort() }, ());
/// let slow = pool.submit_with_time_limit(
///     |_: ()| std::thread::sleep(Duration::from_secs(60)),
///     (),
///     Duration::from_millis(50),
/// );
/// let fails = pool.submit_fallible(|x: i32| if x < 0 { Err(format!("{x} < 0")) } else { Ok(x) }, -1);
///
/// match panics.result() {
///     Err(JobError::Panicked { message }) => assert!(message.contains("bad input 7")),
///     other => panic!("{other:?}"),
/// }
/// assert!(matches!(dies.result(), Err(JobError::WorkerDied { .. })));
/// assert_eq!(slow.result(), Err(JobError::TimeLimit));
/// assert_eq!(fails.result(), Err(JobError::Job("-1 < 0".to_string())));
/// // None of these broke the pool:
/// assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2));
/// # Ok::<(), zeroproc_sched::BuildError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum JobError<E = Never> {
    /// The job panicked; the pool and its worker carry on.
    Panicked {
        /// The panic message and location. One longer than a completion record (about
        /// 128 KiB with the default ring) keeps its start and its end (the location)
        /// around a note of how much was cut; the whole message is on the worker's stderr.
        message: String,
    },
    /// The worker process died while running the job (segfault, abort, SIGKILL, exit).
    /// It has been respawned; only this job failed (in a [`map`](crate::Pool::map) of
    /// tiny items, its automatic batch: the items batched with the one that died fail
    /// with it, at most 64).
    WorkerDied {
        /// The signal that killed it, if any.
        signal: Option<i32>,
        /// Its exit code, if it exited.
        exit_code: Option<i32>,
    },
    /// The job overflowed its stack (deep or unbounded recursion): Python's
    /// `RecursionError`. Rust cannot unwind from it, so the worker died (Rust's message is
    /// on its stderr) and was respawned; only this job failed (in a
    /// [`map`](crate::Pool::map) of tiny items, its automatic batch, as for
    /// [`WorkerDied`](Self::WorkerDied): the items batched with the one that overflowed get
    /// this error too). Jobs run on the worker's
    /// main thread, whose stack limit is the process's (`ulimit -s`, 8 MiB by default).
    StackOverflow,
    /// The job ran longer than its time limit
    /// ([`submit_with_time_limit`](crate::Pool::submit_with_time_limit),
    /// [`job_time_limit`](crate::PoolBuilder::job_time_limit)); its worker was killed and
    /// respawned.
    TimeLimit,
    /// Waiting for the result gave up (`map(..).timeout(d)`, Python's `timeout`); the job
    /// itself was not stopped.
    Timeout,
    /// The job was cancelled ([`JobFuture::cancel`](crate::JobFuture::cancel) before it
    /// started, [`JobFuture::terminate`](crate::JobFuture::terminate) while it ran,
    /// `shutdown(cancel_futures = true)`, [`Pool::terminate`](crate::Pool::terminate), or a
    /// shutdown's `timeout` that ran out while it ran).
    Cancelled,
    /// The job's data was unusable — despite the name, in either direction: the arguments
    /// could not be encoded at submission (a serializer error; the job never ran), the
    /// result failed validation when it came back (the job ran), or the worker slot's rings
    /// were found corrupt and the slot was retired (its jobs fail with this). `message`
    /// says which.
    ///
    /// Also, though no data was wrong: the job's function could not be registered because
    /// the pool's **function table is full** — a pool runs at most
    /// [`FN_TABLE_SLOTS`](crate::FN_TABLE_SLOTS) (4,096) distinct functions (each distinct
    /// function or closure submitted counts once, for the pool's life). The job never ran;
    /// `Display` then prints the message alone, without "job data invalid". (A variant of
    /// its own would break exhaustive matches on `JobError`.) The same for a pool used in a
    /// process forked from the one that built it (`fork()` in the controller): the child's
    /// submissions, and its waits for inherited unfinished futures, fail with a message
    /// naming the fork; the parent's pool is left alone.
    Decode {
        /// What was wrong.
        message: String,
    },
    /// The job returned `Err(e)`. `Display` prints `job failed: ` and `e`'s own `Display`
    /// (Python's `str(exc)`: `job failed: -1 < 0`, not `"-1 < 0"`; until errs37 it was
    /// `e`'s `Debug`).
    Job(E),
    /// The pool has no worker slot left to run it: every slot was retired (one of its
    /// rings was found corrupt, or its worker failed to start repeatedly). A slot retired
    /// because its process could not be created (`fork`/`exec` refused) is tried again
    /// every second: once one starts, later jobs run.
    NoWorkers,
    /// The job was submitted after the pool was shut down (Python raises `RuntimeError:
    /// cannot schedule new futures after shutdown`); it never ran.
    Shutdown,
    /// The job's arguments or its result are larger than the pool can carry (larger than
    /// its spill heap, or the pool has none). The message says which: for arguments the
    /// job never ran; for a result the job **ran** and its result could not be returned.
    /// A resource limit, not bad data: `PoolBuilder::spill_heap` sets the size.
    TooLarge {
        /// Sizes involved.
        message: String,
    },
}

impl JobError<Never> {
    /// This failure as a `JobError<E>` for any job error type `E`: a failure that is not
    /// the job's own error (the pool's, the worker's) fits every job's future. (`JobError`
    /// is `#[non_exhaustive]`, so code outside this crate cannot write this match itself.)
    ///
    /// ```
    /// use zeroproc_sched::{JobError, Never};
    /// let e: JobError<std::io::Error> = JobError::<Never>::Cancelled.widen();
    /// assert!(matches!(e, JobError::Cancelled));
    /// ```
    pub fn widen<E>(self) -> JobError<E> {
        self.map_job(|n| match n {})
    }
}

impl<E> JobError<E> {
    /// The variant, without its data: to count failures by kind, or compare without the
    /// message (Python's `type(e)`).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::JobErrorKind;
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let e = pool.submit(|_: ()| -> u32 { panic!("no") }, ()).result().unwrap_err();
    /// assert_eq!(e.kind(), JobErrorKind::Panicked);
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn kind(&self) -> JobErrorKind {
        match self {
            JobError::Panicked { .. } => JobErrorKind::Panicked,
            JobError::WorkerDied { .. } => JobErrorKind::WorkerDied,
            JobError::StackOverflow => JobErrorKind::StackOverflow,
            JobError::TimeLimit => JobErrorKind::TimeLimit,
            JobError::Timeout => JobErrorKind::Timeout,
            JobError::Cancelled => JobErrorKind::Cancelled,
            JobError::Decode { .. } => JobErrorKind::Decode,
            JobError::Job(_) => JobErrorKind::Job,
            JobError::NoWorkers => JobErrorKind::NoWorkers,
            JobError::Shutdown => JobErrorKind::Shutdown,
            JobError::TooLarge { .. } => JobErrorKind::TooLarge,
        }
    }

    pub(crate) fn map_job<F>(self, f: impl FnOnce(E) -> F) -> JobError<F> {
        match self {
            JobError::Panicked { message } => JobError::Panicked { message },
            JobError::WorkerDied { signal, exit_code } => {
                JobError::WorkerDied { signal, exit_code }
            }
            JobError::StackOverflow => JobError::StackOverflow,
            JobError::TimeLimit => JobError::TimeLimit,
            JobError::Timeout => JobError::Timeout,
            JobError::Cancelled => JobError::Cancelled,
            JobError::Decode { message } => JobError::Decode { message },
            JobError::Job(e) => JobError::Job(f(e)),
            JobError::NoWorkers => JobError::NoWorkers,
            JobError::Shutdown => JobError::Shutdown,
            JobError::TooLarge { message } => JobError::TooLarge { message },
        }
    }
}

/// [`JobError`]'s variants without data: what [`JobError::kind`] and
/// [`JobFuture::exception_kind`](crate::JobFuture::exception_kind) return, to match on or
/// count failures without the job's error type `E` or the messages.
///
/// ```
/// zeroproc_sched::init();
/// use std::collections::HashMap;
/// use zeroproc_sched::{JobErrorKind, Pool};
/// let pool = Pool::builder().workers(2).build()?;
/// let mut failures: HashMap<JobErrorKind, usize> = HashMap::new();
/// for r in pool.map(|x: u32| if x % 3 == 0 { panic!("{x}") } else { x }, 0..9) {
///     if let Err(e) = r {
///         *failures.entry(e.kind()).or_default() += 1;
///     }
/// }
/// assert_eq!(failures[&JobErrorKind::Panicked], 3);
/// # Ok::<(), zeroproc_sched::BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobErrorKind {
    /// See [`JobError::Panicked`].
    Panicked,
    /// See [`JobError::WorkerDied`].
    WorkerDied,
    /// See [`JobError::StackOverflow`].
    StackOverflow,
    /// See [`JobError::TimeLimit`].
    TimeLimit,
    /// See [`JobError::Timeout`].
    Timeout,
    /// See [`JobError::Cancelled`].
    Cancelled,
    /// See [`JobError::Decode`].
    Decode,
    /// See [`JobError::Job`].
    Job,
    /// See [`JobError::NoWorkers`].
    NoWorkers,
    /// See [`JobError::Shutdown`].
    Shutdown,
    /// See [`JobError::TooLarge`].
    TooLarge,
}

impl JobErrorKind {
    /// Every kind, in declaration order. The enum is `#[non_exhaustive]` (later versions
    /// may add kinds): code that must handle each one — a wire format, a table of counters —
    /// can check itself against this list in a test.
    ///
    /// ```
    /// use zeroproc_sched::JobErrorKind;
    /// assert!(JobErrorKind::ALL.contains(&JobErrorKind::TimeLimit));
    /// ```
    pub const ALL: &'static [JobErrorKind] = &[
        JobErrorKind::Panicked,
        JobErrorKind::WorkerDied,
        JobErrorKind::StackOverflow,
        JobErrorKind::TimeLimit,
        JobErrorKind::Timeout,
        JobErrorKind::Cancelled,
        JobErrorKind::Decode,
        JobErrorKind::Job,
        JobErrorKind::NoWorkers,
        JobErrorKind::Shutdown,
        JobErrorKind::TooLarge,
    ];
}

impl<E: fmt::Display> fmt::Display for JobError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Panicked { message } => write!(f, "job panicked: {message}"),
            JobError::WorkerDied { signal: Some(s), .. } => {
                write!(f, "worker died running the job (signal {s}{}{IN_INIT})", signal_cause(*s))
            }
            JobError::WorkerDied { exit_code: Some(c), .. } => {
                match crate::worker::exit::meaning(*c) {
                    // A replacement that failed to start: the job may never have run. A
                    // job may exit with the same number itself (exec38: a job's `exit(93)`
                    // read only as a failed initializer, in a pool without one).
                    Some(m) => write!(
                        f,
                        "worker died (exit code {c}: zeroproc's code for {m}; or the job, or \
                         code it called, ended the process with exit({c}))"
                    ),
                    None => write!(
                        f,
                        "worker died running the job (exit code {c}: the job, code it \
                         called, or a thread an earlier job left running ended the process, \
                         e.g. std::process::exit{IN_INIT})"
                    ),
                }
            }
            JobError::WorkerDied { .. } => {
                write!(f, "worker died running the job (its exit status is unknown)")
            }
            JobError::StackOverflow => write!(
                f,
                "job overflowed its stack (deep or unbounded recursion); its worker was \
                 restarted (jobs run on the worker's main thread: `ulimit -s` sets its stack)"
            ),
            JobError::TimeLimit => {
                write!(f, "job ran past its time limit; its worker was restarted")
            }
            JobError::Timeout => write!(f, "timed out waiting for the result"),
            JobError::Cancelled => write!(f, "job cancelled"),
            // Not about the data: the message says what it is on its own.
            JobError::Decode { message }
                if crate::fntable::is_table_full(message)
                    || crate::fork::is_fork_message(message) =>
            {
                write!(f, "{message}")
            }
            JobError::Decode { message } => write!(f, "job data invalid: {message}"),
            JobError::Job(e) => write!(f, "job failed: {e}"),
            JobError::NoWorkers => {
                write!(f, "no worker left to run the job: {NO_WORKERS_WHY}")
            }
            JobError::Shutdown => write!(f, "cannot run new jobs after the pool was shut down"),
            JobError::TooLarge { message } => write!(f, "too large to carry: {message}"),
        }
    }
}

/// `Error` for any job error type that has `Debug` and `Display` (`String` included, which
/// is not an `Error` itself). [`source`](std::error::Error::source) is `None`, also for
/// [`Job(e)`](JobError::Job): `e`'s message is already in the `Display` ("job failed: {e}"),
/// and an error reported both ways prints it twice in a chain (`anyhow`'s `{:#}`: "job
/// failed: x: x"); a `source` of `e` would also need `E: Error + 'static`, taking `Error`
/// away from `JobError<String>`. To reach `e` itself, match `JobError::Job(e)`.
impl<E: fmt::Debug + fmt::Display> std::error::Error for JobError<E> {}

/// Why a pool has no worker: the two ways a slot is retired, so the message names the
/// likely cause (it said only "every worker slot was retired": a new user whose
/// initializer failed in the respawned workers could not tell why; Python's
/// `BrokenProcessPool` names no cause either, but its log shows the initializer's
/// exception).
const NO_WORKERS_WHY: &str = "every worker slot was retired — its worker failed to start \
    several times in a row (most often the pool's initializer failing in the respawned \
    workers: its panic is on stderr; or the program can no longer be started), or one of its \
    rings was found corrupt; the pool cannot run jobs any more: build a new one. (A slot \
    retired only because no process could be created — fork or exec refused, stderr says \
    why — is tried again every second and serves again once one starts)";

/// What a signal that killed a worker usually means, for messages: its name, and its
/// usual cause when it has one.
/// The other way a `WorkerDied` comes about, said after its cause: a replacement worker
/// (after a crash or `max_jobs_per_worker`) that died in the pool's initializer fails the
/// job it was to run once its slot is given up (3 failed starts), with that death's signal
/// or exit code. A panicking initializer exits with its own code (93, named as such); one
/// that called `exit(5)` or aborted was reported as the job's own doing (exec38).
const IN_INIT: &str = "; or, in a replacement worker, the pool's initializer did so and \
                       the job never ran";

fn signal_cause(signal: i32) -> &'static str {
    match signal {
        // Who sent it is not known (a job can kill its own process): the usual senders.
        libc::SIGKILL => {
            ", SIGKILL: usually the kernel's OOM killer, or a `kill -9` (from outside the \
             pool, or by the job itself)"
        }
        libc::SIGTERM => {
            ", SIGTERM: usually stopped from outside the pool — a `kill`, or a service \
             manager (systemd) stopping every process of the program — or by the job itself"
        }
        libc::SIGSEGV => ", SIGSEGV: invalid memory access in the job (unsafe code or FFI)",
        libc::SIGBUS => ", SIGBUS: bad memory access in the job (e.g. a truncated mapped file)",
        libc::SIGABRT => {
            ", SIGABRT: the job aborted — a stack overflow, std::process::abort, a panic \
             that could not unwind, or a failed allocation; the worker's stderr says which"
        }
        libc::SIGFPE => ", SIGFPE: arithmetic fault in the job",
        libc::SIGILL => ", SIGILL: illegal instruction in the job (e.g. core::intrinsics::abort)",
        libc::SIGXCPU => {
            ", SIGXCPU: the worker used up its CPU time limit (RLIMIT_CPU, `ulimit -t`)"
        }
        libc::SIGXFSZ => {
            ", SIGXFSZ: the job wrote past the file size limit (RLIMIT_FSIZE, `ulimit -f`)"
        }
        libc::SIGPIPE => {
            ", SIGPIPE: the job wrote to a pipe or socket whose reader is gone (the job \
             unblocked SIGPIPE, or it was sent by `kill`)"
        }
        libc::SIGSYS => ", SIGSYS: a system call forbidden by a seccomp filter",
        libc::SIGTRAP => ", SIGTRAP: a breakpoint or trap instruction in the job",
        libc::SIGHUP => ", SIGHUP: sent from outside the pool (hang-up, or `kill -HUP`)",
        // A started worker catches SIGINT and ignores it (Ctrl-C is the controller's to
        // decide: `worker::start`), so it dies of one only once its job or initializer
        // restored the default action; a death before that is started again, not reported.
        libc::SIGINT => {
            ", SIGINT: the job (or the initializer) had restored SIGINT's default action — a \
             started worker ignores SIGINT, leaving Ctrl-C to the controller — and then \
             raised it, or a Ctrl-C or `kill -INT` reached the worker"
        }
        libc::SIGQUIT => ", SIGQUIT: sent from outside the pool (Ctrl-\\, or `kill -QUIT`)",
        libc::SIGALRM => ", SIGALRM: an alarm() or timer set by the job expired unhandled",
        libc::SIGVTALRM => ", SIGVTALRM: a virtual timer set by the job expired unhandled",
        libc::SIGPROF => ", SIGPROF: a profiling timer expired unhandled",
        libc::SIGUSR1 => ", SIGUSR1: sent by the job or from outside (`kill -USR1`), not handled",
        libc::SIGUSR2 => ", SIGUSR2: sent by the job or from outside (`kill -USR2`), not handled",
        libc::SIGIO => ", SIGIO: asynchronous I/O readiness, not handled",
        libc::SIGPWR => ", SIGPWR: power failure reported",
        s if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&s) => {
            ", a real-time signal (SIGRTMIN+n): sent by the job or from outside, not handled"
        }
        _ => "",
    }
}

/// Why [`Pool::build`](crate::PoolBuilder::build) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// Called from the body of a daemon `Process`: pools cannot be created inside a
    /// daemon process child, as in Python ("daemonic processes are not allowed to have
    /// children"). The controller, a job or initializer of a pool (as in CPython's
    /// `ProcessPoolExecutor`, whose workers are not daemonic) and a non-daemon `Process`
    /// child may build them.
    InsideWorker,
    /// Bad configuration.
    Config(String),
    /// The pool segment could not be created.
    Segment(zeroproc_shm::CreateError),
    /// A ring could not be set up.
    Ring(zeroproc_ring::spsc::RingError),
    /// A worker process could not be started.
    Spawn(std::io::Error),
    /// A worker exited during the handshake.
    WorkerExited {
        /// Which worker.
        index: usize,
        /// Its exit code (90–95: see the worker module), if it exited.
        exit_code: Option<i32>,
        /// What that code means.
        reason: &'static str,
    },
    /// The worker is not the same build (fingerprint mismatch).
    Fingerprint,
    /// The initializer panicked in a worker.
    Initializer {
        /// The panic's message and location (`None` if it could not be read back, e.g.
        /// two workers failed at once and the other one's was still being written).
        message: Option<String>,
    },
    /// A worker did not attach the pool within 10 s of its start (a program that does not
    /// call `init()` first). The initializer, which runs after that, is not timed.
    HandshakeTimeout,
    /// A worker runs the program's `main` instead of serving: `main` did not call
    /// `init()` first. Seen when the worker reaches `Pool::build` (it exits there, code
    /// 97) or, within about a second, when it sleeps or spends CPU time in `main` before
    /// attaching the pool.
    NoInit {
        /// Which worker.
        index: usize,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NoInit { index } => write!(
                f,
                "worker {index} is running the program's main instead of serving: \
                 zeroproc::init() must be the first line of main (or use \
                 #[zeroproc::main]; under libtest, zeroproc::test_worker!(); in a doctest, \
                 `zeroproc::init();` as the example's first line). A worker is \
                 this program started again, and init() is what turns it into a worker"
            ),
            BuildError::InsideWorker => write!(
                f,
                "pools cannot be created inside a daemon Process child (its body called \
                 Pool::build; as in Python: daemonic processes are not allowed to have \
                 children); build it in the controller, a job, or a non-daemon Process child"
            ),
            BuildError::Config(s) => write!(f, "bad pool configuration: {s}"),
            BuildError::Segment(e) => write!(f, "pool segment: {e}"),
            BuildError::Ring(e) => write!(f, "pool ring: {e}"),
            BuildError::Spawn(e) => write!(f, "starting a worker: {e}"),
            BuildError::WorkerExited { index, exit_code: Some(c), reason } => {
                write!(f, "worker {index} exited during start-up (exit code {c}: {reason})")
            }
            BuildError::WorkerExited { index, exit_code: None, reason } => {
                write!(f, "worker {index} died during start-up ({reason})")
            }
            BuildError::Fingerprint => write!(f, "worker is a different build than the controller"),
            BuildError::Initializer { message: Some(m) } => {
                write!(f, "the initializer panicked in a worker: {m}")
            }
            BuildError::Initializer { message: None } => write!(
                f,
                "the initializer panicked in a worker (its message is on the worker's stderr)"
            ),
            BuildError::HandshakeTimeout => write!(
                f,
                "a worker did not attach the pool within 10 s of its start: is \
                 zeroproc::init() (or \
                 #[zeroproc::main]) the first thing main does? A worker is this program \
                 started again, and runs main until init() takes over"
            ),
        }
    }
}

impl std::error::Error for BuildError {}

/// Why [`Pool::try_submit`](crate::Pool::try_submit) did not submit; hands the arguments
/// back ([`into_inner`](Self::into_inner)).
///
/// ```
/// zeroproc_sched::init();
/// use zeroproc_sched::TrySubmitError;
/// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
/// pool.shutdown();
/// match pool.try_submit(|s: String| s.len(), "kept".to_string()) {
///     Err(TrySubmitError::Shutdown(s)) => assert_eq!(s, "kept"),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), zeroproc_sched::BuildError>(())
/// ```
///
/// `PartialEq`/`Eq` when `A` has them (as crossbeam-channel's `TrySendError<T>`), so
/// `assert_eq!(pool.try_submit(f, 7), Err(TrySubmitError::Shutdown(7)))` holds; `Debug`
/// names the variant and its message but not the arguments (`Full(..)`), so it needs no
/// `A: Debug` and a large argument is not printed by `unwrap()`.
#[derive(PartialEq, Eq)]
#[non_exhaustive]
pub enum TrySubmitError<A> {
    /// Every worker's submission ring is full right now.
    Full(A),
    /// The pool is shut down.
    Shutdown(A),
    /// The arguments could not be encoded (too large for a ring record, or a serializer
    /// error), or the function could not be registered (the pool's function table is
    /// full).
    Encode(A, String),
    /// Every worker slot was retired ([`JobError::NoWorkers`]).
    NoWorkers(A),
    /// The arguments are larger than the pool can carry ([`JobError::TooLarge`]).
    TooLarge(A, String),
}

/// Why [`Pool::submit_timeout`](crate::Pool::submit_timeout) /
/// [`Pool::submit_deadline`](crate::Pool::submit_deadline) did not submit; hands the
/// arguments back ([`into_inner`](Self::into_inner)). ([`Pool::submit`](crate::Pool::submit)
/// itself never fails: the same causes give it a future that is already failed, with the
/// [`JobError`] of the same name.)
///
/// ```
/// zeroproc_sched::init();
/// use std::time::Duration;
/// use zeroproc_sched::SubmitTimeoutError;
/// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
/// pool.shutdown();
/// let e = pool.submit_timeout(|x: u64| x, 7, Duration::from_millis(10)).unwrap_err();
/// assert!(matches!(e, SubmitTimeoutError::Shutdown(7)));
/// assert_eq!(e.into_inner(), 7);
/// # Ok::<(), zeroproc_sched::BuildError>(())
/// ```
///
/// Compares and prints as [`TrySubmitError`] does.
#[derive(PartialEq, Eq)]
#[non_exhaustive]
pub enum SubmitTimeoutError<A> {
    /// The pool is shut down.
    Shutdown(A),
    /// The arguments could not be encoded.
    Encode(A, String),
    /// No room before the deadline (`submit_timeout` / `submit_deadline`).
    Timeout(A),
    /// Every worker slot was retired ([`JobError::NoWorkers`]).
    NoWorkers(A),
    /// The arguments are larger than the pool can carry ([`JobError::TooLarge`]).
    TooLarge(A, String),
}

impl<A> TrySubmitError<A> {
    /// The arguments that were not submitted, whatever the reason.
    pub fn into_inner(self) -> A {
        match self {
            TrySubmitError::Full(a)
            | TrySubmitError::Shutdown(a)
            | TrySubmitError::Encode(a, _)
            | TrySubmitError::NoWorkers(a)
            | TrySubmitError::TooLarge(a, _) => a,
        }
    }
}

/// The former name of [`SubmitTimeoutError`], renamed to follow the families
/// (`TryXError`, `XError`, `XTimeoutError`: the error of `submit_timeout` /
/// `submit_deadline` is `SubmitTimeoutError`, as the queue's `put_timeout` gives
/// `PutTimeoutError`; `submit` itself never fails).
#[deprecated(note = "renamed SubmitTimeoutError (the error of submit_timeout/submit_deadline)")]
pub type SubmitError<A> = SubmitTimeoutError<A>;

impl<A> SubmitTimeoutError<A> {
    /// The arguments that were not submitted, whatever the reason.
    pub fn into_inner(self) -> A {
        match self {
            SubmitTimeoutError::Shutdown(a)
            | SubmitTimeoutError::Encode(a, _)
            | SubmitTimeoutError::Timeout(a)
            | SubmitTimeoutError::NoWorkers(a)
            | SubmitTimeoutError::TooLarge(a, _) => a,
        }
    }
}

impl<A> fmt::Display for TrySubmitError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySubmitError::Full(_) => write!(f, "every submission ring is full"),
            TrySubmitError::Shutdown(_) => write!(f, "the pool is shut down"),
            TrySubmitError::Encode(_, e) if crate::fntable::is_table_full(e) => write!(f, "{e}"),
            TrySubmitError::Encode(_, e) => write!(f, "arguments not encodable: {e}"),
            TrySubmitError::NoWorkers(_) => f.write_str(NO_WORKERS_WHY),
            TrySubmitError::TooLarge(_, e) => write!(f, "arguments too large: {e}"),
        }
    }
}

impl<A> fmt::Display for SubmitTimeoutError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitTimeoutError::Shutdown(_) => write!(f, "the pool is shut down"),
            SubmitTimeoutError::Encode(_, e) if crate::fntable::is_table_full(e) => {
                write!(f, "{e}")
            }
            SubmitTimeoutError::Encode(_, e) => write!(f, "arguments not encodable: {e}"),
            SubmitTimeoutError::Timeout(_) => write!(f, "no room in the submission rings in time"),
            SubmitTimeoutError::NoWorkers(_) => f.write_str(NO_WORKERS_WHY),
            SubmitTimeoutError::TooLarge(_, e) => write!(f, "arguments too large: {e}"),
        }
    }
}

impl<A> fmt::Debug for TrySubmitError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySubmitError::Full(_) => f.write_str("Full(..)"),
            TrySubmitError::Shutdown(_) => f.write_str("Shutdown(..)"),
            TrySubmitError::Encode(_, e) => write!(f, "Encode(.., {e:?})"),
            TrySubmitError::NoWorkers(_) => f.write_str("NoWorkers(..)"),
            TrySubmitError::TooLarge(_, e) => write!(f, "TooLarge(.., {e:?})"),
        }
    }
}

impl<A> fmt::Debug for SubmitTimeoutError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitTimeoutError::Shutdown(_) => f.write_str("Shutdown(..)"),
            SubmitTimeoutError::Encode(_, e) => write!(f, "Encode(.., {e:?})"),
            SubmitTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            SubmitTimeoutError::NoWorkers(_) => f.write_str("NoWorkers(..)"),
            SubmitTimeoutError::TooLarge(_, e) => write!(f, "TooLarge(.., {e:?})"),
        }
    }
}

impl<A> std::error::Error for TrySubmitError<A> {}
impl<A> std::error::Error for SubmitTimeoutError<A> {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every signal's text reads as one sentence (SIGINT's carried two runs of 14 spaces: a
    /// literal broken over lines without a `\`; found by api31 and num31), and SIGTERM's does not rule
    /// out the job itself (a job's `raise(SIGTERM)` was reported as "stopped from outside
    /// the pool").
    #[test]
    fn signal_texts_read_without_runs_of_spaces() {
        for signal in 1..=64 {
            let e = JobError::<Never>::WorkerDied { signal: Some(signal), exit_code: None };
            let m = e.to_string();
            assert!(!m.contains("  ") && !m.contains('\n'), "signal {signal}: {m:?}");
        }
        let term = JobError::<Never>::WorkerDied { signal: Some(libc::SIGTERM), exit_code: None };
        assert!(term.to_string().contains("the job itself"), "{term}");
    }

    /// `JobErrorKind::ALL` lists every kind once (the match fails to compile when a kind is
    /// added: add it to `ALL` too).
    #[test]
    fn all_lists_every_kind() {
        fn position(k: JobErrorKind) -> usize {
            match k {
                JobErrorKind::Panicked => 0,
                JobErrorKind::WorkerDied => 1,
                JobErrorKind::StackOverflow => 2,
                JobErrorKind::TimeLimit => 3,
                JobErrorKind::Timeout => 4,
                JobErrorKind::Cancelled => 5,
                JobErrorKind::Decode => 6,
                JobErrorKind::Job => 7,
                JobErrorKind::NoWorkers => 8,
                JobErrorKind::Shutdown => 9,
                JobErrorKind::TooLarge => 10,
            }
        }
        for (i, &k) in JobErrorKind::ALL.iter().enumerate() {
            assert_eq!(position(k), i, "{k:?}");
        }
        assert_eq!(JobErrorKind::ALL.len(), 11);
    }

    #[test]
    fn every_fatal_signal_is_named() {
        for (sig, name) in [
            (libc::SIGUSR1, "SIGUSR1"),
            (libc::SIGUSR2, "SIGUSR2"),
            (libc::SIGXCPU, "RLIMIT_CPU"),
            (libc::SIGXFSZ, "RLIMIT_FSIZE"),
            (libc::SIGPIPE, "SIGPIPE"),
            (libc::SIGSYS, "seccomp"),
            (libc::SIGHUP, "SIGHUP"),
            (libc::SIGINT, "SIGINT"),
            (libc::SIGALRM, "SIGALRM"),
            (libc::SIGRTMIN() + 2, "real-time"),
            (libc::SIGSEGV, "SIGSEGV"),
        ] {
            let e = JobError::<Never>::WorkerDied { signal: Some(sig), exit_code: None };
            let text = e.to_string();
            assert!(text.contains(&format!("signal {sig}")) && text.contains(name), "{text}");
        }
    }

    /// An exit that is not one of zeroproc's codes is the job ending its process: say so
    /// (it read "worker died running the job (exit code 3)", no cause).
    #[test]
    fn a_plain_exit_code_names_the_exit() {
        let e = JobError::<Never>::WorkerDied { signal: None, exit_code: Some(3) };
        let text = e.to_string();
        assert!(text.contains("exit code 3") && text.contains("std::process::exit"), "{text}");
        // A thread a finished job left behind can end the worker during the next job
        // (measured: a job whose thread `_exit(7)`s 100 ms later fails the job after it);
        // the message named the running job alone.
        assert!(text.contains("a thread an earlier job left running"), "{text}");
    }

    /// No `A: Debug` needed, and a large argument is not printed (it was: `unwrap()` of a
    /// refused 4 MiB `Vec<u8>` printed some 12 MB).
    #[test]
    fn submit_errors_debug_without_the_arguments() {
        struct Opaque;
        let e = TrySubmitError::Full(Opaque);
        assert_eq!(format!("{e:?}"), "Full(..)");
        let e = TrySubmitError::TooLarge(vec![7u8; 1 << 20], "the arguments need 1 MiB".into());
        assert_eq!(format!("{e:?}"), "TooLarge(.., \"the arguments need 1 MiB\")");
        let e = SubmitTimeoutError::Timeout(vec![7u8; 1 << 20]);
        assert_eq!(format!("{e:?}"), "Timeout(..)");
        let boxed: Box<dyn std::error::Error> = Box::new(SubmitTimeoutError::Shutdown(Opaque));
        assert_eq!(boxed.to_string(), "the pool is shut down");
    }

    #[test]
    fn submit_errors_are_eq_when_the_arguments_are() {
        fn is_eq<E: Eq>(_: &E) {}
        is_eq(&TrySubmitError::Full(1u8));
        is_eq(&SubmitTimeoutError::Timeout(String::new()));
        assert_eq!(TrySubmitError::Shutdown(7), TrySubmitError::Shutdown(7));
        assert_ne!(TrySubmitError::Shutdown(7), TrySubmitError::Full(7));
        assert_ne!(SubmitTimeoutError::Timeout(7), SubmitTimeoutError::Timeout(8));
    }

    /// The old name still compiles (deprecated) and is the same type.
    #[test]
    #[allow(deprecated)]
    fn the_former_name_is_an_alias() {
        let e: SubmitError<u8> = SubmitTimeoutError::Timeout(1);
        assert_eq!(e, SubmitTimeoutError::Timeout(1));
    }

    /// The job's own error prints with its `Display`, as Python's `str(exc)` prints the
    /// exception's message: `job failed: -1 < 0`. Before errs37 it was its `Debug`
    /// (`job failed: "-1 < 0"`, quotes and escapes; an `io::Error` as `Os { code: 2, .. }`).
    #[test]
    fn a_job_error_prints_with_its_display() {
        let e = JobError::Job("-1 < 0".to_string());
        assert_eq!(e.to_string(), "job failed: -1 < 0");
        let io = std::io::Error::from_raw_os_error(libc::ENOENT);
        let e = JobError::Job(io);
        assert!(e.to_string().starts_with("job failed: No such file"), "{e}");
        // `Error` for any `Debug + Display` job error, `String` included; its message is
        // in the `Display`, so it is not also the `source` (it would print twice).
        let boxed: Box<dyn std::error::Error> = Box::new(JobError::Job("bad".to_string()));
        assert!(boxed.source().is_none());
    }

    #[test]
    fn zero_workers_names_the_call() {
        let Err(e) = crate::Pool::builder().workers(0).build() else {
            panic!("workers(0) built a pool")
        };
        let text = e.to_string();
        assert!(text.contains("workers(0)") && text.contains("at least one worker"), "{text}");
    }
}
