//! `Process` (Python's `multiprocessing.Process`): run one function, or one [`Run`]
//! object, in a process of its own.
//!
//! The child is this program re-executed (like a pool worker: `init()` takes over in
//! `main`). Its arguments are archived into a small memfd segment of its own, which the
//! child attaches; the same segment carries back how the body ended (returned, or panicked
//! with which message), so `join` can tell a panic from a crash from a clean exit:
//!
//! ```text
//! [segment header 256] [ProcessBlock: outcome, message length, message bytes, lengths]
//! [args envelope] [name]
//! ```
//!
//! Exit codes follow Python: 0 after the body returned, 1 after it panicked, the code of
//! `std::process::exit(n)` if the body called it, and `-signal` (here: [`Exit::Signal`])
//! when a signal killed the process.

mod child;
mod inherited;
mod orphans;
mod spawner;

use crate::job::{self, Message};
use crate::reap;
use crate::share::pin::{self, Pins};
pub(crate) use child::child_main;
pub(crate) use orphans::finish_children;
pub use orphans::join_adopted;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroproc_shm::{Layout, Segment, SegmentBuilder};

/// Environment variable that marks a process as a `Process` child and carries its spec.
pub const PROCESS_ENV: &str = "ZEROPROC_PROCESS";

/// Set (to anything) for a daemon child.
const DAEMON_ENV: &str = "ZEROPROC_PROCESS_DAEMON";

/// In a `Process` child: its name (the environment variable is removed at start).
static CURRENT_NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// In a `Process` child: its identity, Python's `_identity` joined with `:` (`"2"` for the
/// program's second process, `"2:1"` for that one's first): the default names of the
/// processes it creates extend it, as Python's do.
static CURRENT_IDENTITY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

const LAYOUT: Layout = Layout::new("zeroproc-process", 3).with_type::<ProcessBlock>();

/// Longest panic message carried back (longer ones are cut).
const MESSAGE_MAX: usize = 4096;

/// How a process body ended, written by the child.
mod outcome {
    /// Still running (or killed before it could say).
    pub const RUNNING: u32 = 0;
    /// The body returned.
    pub const RETURNED: u32 = 1;
    /// The body panicked; the message follows.
    pub const PANICKED: u32 = 2;
    /// The arguments could not be decoded; the message follows.
    pub const BAD_ARGS: u32 = 3;
    /// The child attached its segment and is calling the body (so an exit without
    /// RETURNED/PANICKED is the body's own `exit(n)`, not a child that never got there).
    pub const STARTED: u32 = 4;
}

/// The shared block at the start of a process segment.
#[repr(C)]
struct ProcessBlock {
    /// [`outcome`] state. Writer: the child.
    outcome: AtomicU32,
    /// Bytes of `message` in use. Writer: the child, before `outcome` (Release).
    message_len: AtomicU32,
    /// Panic message (UTF-8).
    message: [AtomicU8; MESSAGE_MAX],
    /// Bytes of the argument envelope that follows the block. Writer: the parent, before
    /// the child exists.
    args_len: AtomicU32,
    /// The one function this process may call (a one-entry function table, as a pool's):
    /// the child calls the id of its spec only if it equals this. Writer: the parent,
    /// before the child exists.
    fn_id: AtomicU32,
    /// Bytes of the process's name (UTF-8), which follows the argument envelope. Writer:
    /// the parent, before the child exists. The name travels here rather than in the
    /// child's environment, where a string is limited to 128 KiB and cannot hold a NUL
    /// byte (Python's names are any `str`).
    name_len: AtomicU32,
}

/// Bytes from the data start to the argument envelope (16-aligned).
const ARGS_AT: usize = std::mem::size_of::<ProcessBlock>().next_multiple_of(16);

/// A body that can run in a [`Process`] — Python's "subclass `Process` and override
/// `run`" style: the object is archived, sent, and `run` is called on it in the child.
///
/// ```
/// zeroproc_sched::init();
/// #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
/// struct Squares { upto: u64 }
/// impl zeroproc_sched::Run for Squares {
///     fn run(self) {
///         let s: u64 = (1..=self.upto).map(|i| i * i).sum();
///         assert_eq!(s, 55);
///     }
/// }
/// let mut p = zeroproc_sched::Process::from_run(Squares { upto: 5 });
/// p.start().unwrap();
/// assert_eq!(p.join().unwrap(), zeroproc_sched::Exit::Code(0));
/// ```
pub trait Run: Message {
    /// The process body.
    fn run(self);
}

/// How a process ended: what [`Process::join`] and [`Process::exit_code`] return.
///
/// ```
/// zeroproc_sched::init();
/// use zeroproc_sched::{Exit, Process};
/// let mut ok = Process::spawn(|_: ()| {}, ())?;
/// let mut panics = Process::spawn(|_: ()| panic!("no"), ())?;
/// let mut exits = Process::spawn(|c: i32| std::process::exit(c), 3)?;
/// let mut aborts = Process::spawn(|_: ()| std::process::abort(), ())?;
/// assert_eq!(ok.join()?, Exit::Code(0));
/// assert_eq!(panics.join()?, Exit::Code(1));
/// assert_eq!(exits.join()?, Exit::Code(3));
/// assert_eq!(aborts.join()?, Exit::Signal(libc::SIGABRT));
/// assert_eq!(Exit::Signal(libc::SIGABRT).python_code(), -6); // Python's `exitcode`
/// # Ok::<(), zeroproc_sched::ProcessError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code (0: the body returned; 1: it panicked). If the program
    /// ignores SIGCHLD, the kernel reaps children and their status is lost: then 0 or 1
    /// from what the body did, and -1 when that is unknown (killed, or `exit` in the body).
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

impl Exit {
    /// Python's `exitcode`: the code, or minus the signal number.
    ///
    /// ```
    /// use zeroproc_sched::Exit;
    /// assert_eq!(Exit::Code(3).python_code(), 3);
    /// assert_eq!(Exit::Signal(9).python_code(), -9); // p.kill(): Python's exitcode -9
    /// ```
    pub fn python_code(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => -s,
        }
    }
}

/// Why a process could not be started or waited for. A body that panics or a process
/// that is killed is **not** an error: [`join`](Process::join) returns its [`Exit`].
///
/// ```
/// zeroproc_sched::init();
/// use zeroproc_sched::{Process, ProcessError};
/// let mut p = Process::new(|_: ()| {}, ());
/// assert!(matches!(p.join(), Err(ProcessError::NotStarted)));
/// p.start()?;
/// assert!(matches!(p.start(), Err(ProcessError::AlreadyStarted)));
/// p.join()?;
/// # Ok::<(), ProcessError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ProcessError {
    /// `start` on a process that was started already.
    AlreadyStarted,
    /// `join` (or similar) on a process that was never started.
    NotStarted,
    /// The arguments could not be encoded.
    Encode(String),
    /// The segment carrying the arguments could not be created.
    Segment(zeroproc_shm::CreateError),
    /// The process could not be started or waited for.
    Io(std::io::Error),
    /// Called from the body of a daemon `Process`: processes cannot be started inside a
    /// daemon process child, as in Python. The controller, a job or initializer of a pool
    /// (as in CPython's `ProcessPoolExecutor`) and a non-daemon `Process` child may start
    /// them.
    InsideWorker,
    /// `join` on a handle inherited through `fork()`: the process is the child of the
    /// process that started it, not of this one (Python: "can only join a child process").
    Inherited {
        /// The process whose child it is.
        parent: u32,
    },
    /// The child exited before its body ran (e.g. `main` did not call `init()` first).
    NotRun {
        /// The child's exit code.
        exit_code: i32,
        /// Why.
        reason: &'static str,
    },
}

impl std::fmt::Display for ProcessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProcessError::AlreadyStarted => write!(
                f,
                "process already started: a Process starts once (create another to run \
                 the body again)"
            ),
            ProcessError::NotStarted => write!(f, "process not started: call start() first"),
            ProcessError::Inherited { parent } => write!(
                f,
                "this Process handle was inherited through fork(): the process is a child \
                 of process {parent}, which alone can join it (as in Python: can only join \
                 a child process); is_alive, exit_code, terminate and kill still work"
            ),
            ProcessError::Encode(e) => write!(f, "process arguments not encodable: {e}"),
            ProcessError::Segment(e) => write!(f, "process segment: {e}"),
            ProcessError::Io(e) => write!(f, "process: {e}"),
            ProcessError::NotRun { exit_code, reason } => {
                write!(
                    f,
                    "the process exited (code {exit_code}) without running its body: {reason}"
                )
            }
            ProcessError::InsideWorker => write!(
                f,
                "processes cannot be started inside a daemon Process child (its body \
                 called Process::start; as in Python: daemonic processes are not allowed to \
                 have children); start it in the controller, a job, or a non-daemon Process \
                 child"
            ),
        }
    }
}

impl std::error::Error for ProcessError {}

/// One function (or [`Run`] object) running in a process of its own.
///
/// ```
/// zeroproc_sched::init();
/// use zeroproc_sched::{Exit, Process};
/// let mut p = Process::spawn(|(a, b): (u64, u64)| assert_eq!(a + b, 5), (2, 3)).unwrap();
/// assert_eq!(p.join().unwrap(), Exit::Code(0));
///
/// let mut q = Process::new(|_: ()| panic!("boom"), ()).name("failing");
/// q.start().unwrap();
/// assert_eq!(q.join().unwrap(), Exit::Code(1));
/// assert!(q.panic_message().unwrap().contains("boom"));
/// ```
pub struct Process {
    name: String,
    /// `N` in the program, `<parent's identity>:N` in a child (see [`CURRENT_IDENTITY`]).
    identity: String,
    fn_id: u32,
    /// The archived arguments, or why they could not be archived (told by `start`).
    args: Option<Result<Vec<u8>, String>>,
    daemon: bool,
    seg: Option<Segment>,
    pid: Option<u32>,
    /// The process that started it (0 before `start`); any other process holds a copy
    /// inherited through `fork()` (`inherited.rs`).
    parent: u32,
    /// The child until reaped, and how it ended: behind a lock so that `is_alive` and
    /// `exit_code` take `&self`, as Python's do (the `&mut self` methods use `get_mut`).
    reap: Mutex<Reap>,
}

#[derive(Default)]
struct Reap {
    child: Option<Child>,
    exit: Option<Exit>,
    /// Shared values named by the arguments (`share/pin.rs`), kept for the child until it
    /// has ended, then released (Python's `Process` drops its arguments at `start`; ours
    /// must keep them until the child has attached them, and cannot know when it has).
    pins: Pins,
}

impl Reap {
    /// Reaps the child without blocking if it has ended (`lost`: its exit if its status
    /// was lost, see `reap.rs`).
    fn poll(&mut self, lost: impl FnOnce() -> Exit) -> Option<Exit> {
        if self.exit.is_none() {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(reap::try_wait) {
                self.ended(st, lost);
            }
        }
        self.exit
    }

    /// Records how the reaped child ended; exit no longer waits for it (`orphans::track`:
    /// its pid may now be reused), and the shared values of its arguments are no longer
    /// kept for it (a dict its creator dropped is freed now, not with this handle).
    fn ended(&mut self, st: std::process::ExitStatus, lost: impl FnOnce() -> Exit) {
        self.exit = Some(to_exit(st, lost));
        self.pins = Pins::NONE;
        if let Some(c) = &self.child {
            orphans::untrack(c.id());
        }
    }
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.pid())
            .field("exit", &self.exit_code())
            .finish()
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(1);

impl Process {
    /// A process that will run `f(args)` once started (Python's
    /// `Process(target=f, args=...)`). `f` is a non-capturing closure or fn item
    /// ([`JobFn`](crate::JobFn)); several arguments go as a tuple. Nothing runs until
    /// [`start`](Self::start); [`spawn`](Self::spawn) does both.
    ///
    /// What `f` returns is dropped in the child, as Python ignores a target's return
    /// value: the child's exit code says only whether it panicked (1) or called
    /// `std::process::exit`. A returned `Err` is dropped like any value — to fail the child,
    /// panic (`.unwrap()`, `.expect(..)`); to get a value back, send it through a
    /// [`Queue`](zeroproc_mp::Queue) or a pipe passed in `args`, or run the function
    /// as a pool job, whose future carries it.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::{Exit, Process};
    /// let mut p = Process::new(|(who, n): (String, u32)| println!("{who} x{n}"), ("hello".into(), 2))
    ///     .name("greeter");
    /// p.start()?;
    /// assert_eq!(p.join()?, Exit::Code(0));
    /// # Ok::<(), zeroproc_sched::ProcessError>(())
    /// ```
    pub fn new<F, A, R>(f: F, args: A) -> Process
    where
        F: crate::JobFn<A, R>,
        A: Message,
    {
        let _ = f;
        let fn_id = crate::fnid::id_of(job::call_ignoring::<F, A, R>);
        Process::with(fn_id, &args)
    }

    /// A process that will call `obj.run()` once started (the subclass style: see [`Run`]
    /// for an example). `obj` is archived and travels to the child.
    pub fn from_run<T: Run>(obj: T) -> Process {
        Process::with(crate::fnid::id_of(job::call_run::<T>), &obj)
    }

    /// [`new`](Self::new) and [`start`](Self::start) in one (for a name or `daemon`, use
    /// `new` and `start`).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::{Exit, Process};
    /// let mut p = Process::spawn(|x: u64| assert_eq!(x * 2, 84), 42)?;
    /// assert_eq!(p.join()?, Exit::Code(0));
    ///
    /// // A function that returns a value runs too; the value is dropped in the child.
    /// fn double(x: u64) -> u64 {
    ///     x * 2
    /// }
    /// let mut q = Process::spawn(double, 21)?;
    /// assert_eq!(q.join()?, Exit::Code(0));
    /// # Ok::<(), zeroproc_sched::ProcessError>(())
    /// ```
    pub fn spawn<F, A, R>(f: F, args: A) -> Result<Process, ProcessError>
    where
        F: crate::JobFn<A, R>,
        A: Message,
    {
        let mut p = Process::new(f, args);
        p.start()?;
        Ok(p)
    }

    fn with<A: Message>(fn_id: u32, args: &A) -> Process {
        // Relaxed: a name counter.
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let identity = match CURRENT_IDENTITY.get() {
            Some(me) => format!("{me}:{n}"),
            None => n.to_string(),
        };
        // The shared values archived in `args` stay alive as long as this handle, or the
        // child if the handle is dropped while it runs.
        let (args, pins) = pin::capture(|| crate::job::encode_owned(args).map(|b| b.to_vec()));
        Process {
            name: format!("Process-{identity}"),
            identity,
            fn_id,
            args: Some(args),
            daemon: false,
            seg: None,
            pid: None,
            parent: 0,
            reap: Mutex::new(Reap { pins, ..Reap::default() }),
        }
    }

    /// Sets the name (default `Process-N`, N counting the processes this program created;
    /// in a `Process` child `Process-<its identity>:N`, as Python names them:
    /// `Process-2:1` is the first process created by the program's second), builder
    /// style, before
    /// [`start`](Self::start); read it with [`get_name`](Self::get_name) here, and with
    /// [`current_name`](Self::current_name) in the child.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::{Exit, Process};
    /// let mut p = Process::new(|_: ()| assert_eq!(Process::current_name().as_deref(), Some("loader")), ())
    ///     .name("loader");
    /// assert_eq!(p.get_name(), "loader");
    /// p.start()?;
    /// assert_eq!(p.join()?, Exit::Code(0));
    /// assert_eq!(Process::current_name(), None); // not in a Process child
    /// # Ok::<(), zeroproc_sched::ProcessError>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Daemon processes die with the process that started them (`PR_SET_PDEATHSIG`, armed
    /// against a thread that lives as long as that process: a daemon started by a thread
    /// that then ends runs on, as in Python) and are killed when it exits, before its other
    /// children are joined, as Python terminates its daemonic children first — whether
    /// their `Process` is still held or was dropped, as in Python, where a daemon runs
    /// until the program exits whether or not its object is kept. Others (the default, as
    /// in Python) outlive their handle too, and the program waits for them when it exits
    /// (`main` returning, `std::process::exit`, a test binary's end), as Python joins its
    /// non-daemon children at exit. A parent killed by a signal does not wait: its
    /// non-daemon children run on. As in Python, a non-daemon child (and a pool's job, as
    /// in CPython's `ProcessPoolExecutor`) may build pools and start processes of its
    /// own; in a daemon child both fail with `InsideWorker`. To stop a daemon earlier,
    /// [`terminate`](Self::terminate) or [`kill`](Self::kill) it.
    ///
    /// Python's worker-pool idiom, `Process(target=worker, args=(q,), daemon=True).start()`
    /// keeping no object, is the same here written as a temporary (before newuser36 the
    /// dropped handle killed the worker before it ran, and `join()` waited for ever):
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_mp::queue::{JoinableQueue, JoinableQueueHandle};
    /// use zeroproc_sched::Process;
    ///
    /// fn worker(q: JoinableQueueHandle<u64>) {
    ///     let q = q.attach().unwrap();
    ///     while let Ok(_task) = q.get() {
    ///         q.task_done().unwrap();
    ///     }
    /// }
    ///
    /// let q = JoinableQueue::<u64>::new(16).unwrap();
    /// for _ in 0..2 {
    ///     Process::new(worker, q.handle()).daemon(true).start()?;
    /// }
    /// (0..10).for_each(|t| q.put(t).unwrap());
    /// q.join(); // both workers run on without their handles
    /// // The program's exit kills them, as Python's terminates its daemons.
    /// # Ok::<(), zeroproc_sched::ProcessError>(())
    /// ```
    pub fn daemon(mut self, on: bool) -> Self {
        self.daemon = on;
        self
    }

    /// The process's name (set with [`name`](Self::name)): Python's `p.name`. See
    /// [`name`](Self::name) for an example.
    pub fn get_name(&self) -> &str {
        &self.name
    }

    /// In a process started by [`Process`]: its name (Python's
    /// `current_process().name`). `None` elsewhere (Python says `MainProcess`). See
    /// [`name`](Self::name) for an example.
    pub fn current_name() -> Option<String> {
        CURRENT_NAME.get().cloned()
    }

    /// Starts the process: a fresh copy of this program (not a fork) that runs the
    /// function on its arguments — `main` must call [`init`](crate::init) first, or the
    /// child fails with [`ProcessError::NotRun`] at `join`. A process starts once.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::{Exit, Process};
    /// let mut p = Process::new(|_: ()| {}, ());
    /// assert_eq!(p.pid(), None);
    /// p.start()?;
    /// assert!(p.pid().is_some());
    /// assert_eq!(p.join()?, Exit::Code(0));
    /// # Ok::<(), zeroproc_sched::ProcessError>(())
    /// ```
    pub fn start(&mut self) -> Result<(), ProcessError> {
        match crate::launch::started() {
            crate::launch::Started::No => {}
            crate::launch::Started::Entered => return Err(ProcessError::InsideWorker),
            crate::launch::Started::WithoutInit => crate::launch::without_init("Process::start"),
        }
        if self.args.is_none() {
            return Err(ProcessError::AlreadyStarted);
        }
        if self.name.len() > u32::MAX as usize {
            return Err(ProcessError::Encode(format!(
                "the process name is {} bytes long; at most {} are carried to the child",
                self.name.len(),
                u32::MAX
            )));
        }
        let args = self.args.take().ok_or(ProcessError::AlreadyStarted)?;
        let args = args.map_err(|e| {
            ProcessError::Encode(format!("the arguments could not be archived: {e}"))
        })?;
        if args.len() > u32::MAX as usize {
            return Err(ProcessError::Encode(format!(
                "the arguments archive to {} bytes; at most {} are carried to the child",
                args.len(),
                u32::MAX
            )));
        }
        let fn_id = self.fn_id;
        let name = self.name.as_bytes();
        let seg = SegmentBuilder::new(LAYOUT, ARGS_AT + args.len() + name.len())
            .create_with(|s| {
                let p = s.data();
                // SAFETY: the fresh data region holds ARGS_AT + args.len() + name.len()
                // bytes (asked for above), is 256-byte aligned and seen by nobody else yet.
                unsafe {
                    let b = &*p.cast::<ProcessBlock>();
                    // Relaxed: published by the segment's READY state (the length fits:
                    // checked above).
                    b.args_len.store(args.len() as u32, Ordering::Relaxed);
                    // Relaxed: as above.
                    b.fn_id.store(fn_id, Ordering::Relaxed);
                    // Relaxed: as above (the length fits: checked above).
                    b.name_len.store(name.len() as u32, Ordering::Relaxed);
                    std::ptr::copy_nonoverlapping(args.as_ptr(), p.add(ARGS_AT), args.len());
                    let at = p.add(ARGS_AT + args.len());
                    std::ptr::copy_nonoverlapping(name.as_ptr(), at, name.len());
                }
            })
            .map_err(ProcessError::Segment)?;
        let spec = format!(
            "{}|{}|{:x}|{}|{}",
            seg.id(),
            self.fn_id,
            crate::fnid::fingerprint(),
            std::process::id(),
            self.identity,
        );
        let mut cmd = Command::new("/proc/self/exe");
        if let Some(a0) = std::env::args_os().next() {
            use std::os::unix::process::CommandExt;
            cmd.arg0(a0);
        }
        cmd.args(crate::launch::WORKER_ARGS).env(PROCESS_ENV, spec);
        crate::launch::hand_over_stdout(&mut cmd);
        let child = if self.daemon {
            cmd.env(DAEMON_ENV, "1");
            // Its death signal follows the spawning thread: spawn from one that lives as
            // long as this process (`spawner.rs`).
            spawner::spawn_for_life(cmd)
        } else {
            cmd.spawn()
        }
        .map_err(|e| ProcessError::Io(crate::launch::spawn_error("/proc/self/exe", e)))?;
        // The pipe ends in the arguments are the child's to attach: reserved for it, their
        // other ends see it gone if it dies first (Python: the child's copies close with it).
        self.reap.get_mut().unwrap_or_else(|e| e.into_inner()).pins.hand_over(child.id());
        // Python terminates its daemonic children at exit and joins the others, held or not.
        orphans::track(child.id(), self.daemon);
        self.seg = Some(seg);
        self.pid = Some(child.id());
        self.parent = zeroproc_shm::process::current_pid();
        self.reap.get_mut().unwrap_or_else(|e| e.into_inner()).child = Some(child);
        Ok(())
    }

    /// The child's pid if this handle is a copy inherited through `fork()` (`inherited.rs`).
    #[inline]
    fn copied_pid(&self) -> Option<u32> {
        self.pid.filter(|_| inherited::is_copy(self.parent))
    }

    /// The child's pid once started (Python's `p.pid`: `None` before `start`, kept after
    /// the child ended).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let mut p = zeroproc_sched::Process::new(|_: ()| {}, ());
    /// assert_eq!(p.pid(), None); // not started
    /// p.start()?;
    /// let pid = p.pid().unwrap();
    /// assert_ne!(pid, std::process::id());
    /// p.join()?;
    /// assert_eq!(p.pid(), Some(pid));
    /// # Ok::<(), zeroproc_sched::ProcessError>(())
    /// ```
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// True while the process runs (started and not ended; Python's `is_alive()`).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::Process;
    /// let p = Process::spawn(|ms: u64| std::thread::sleep(std::time::Duration::from_millis(ms)), 100)?;
    /// let watcher = &p; // a shared reference is enough
    /// assert!(watcher.is_alive());
    /// assert_eq!(watcher.exit_code(), None);
    /// # Ok::<(), zeroproc_sched::ProcessError>(())
    /// ```
    pub fn is_alive(&self) -> bool {
        self.pid.is_some() && self.poll_exit().is_none()
    }

    fn poll_exit(&self) -> Option<Exit> {
        if let Some(pid) = self.copied_pid() {
            return (!inherited::runs(pid)).then(|| lost_exit(self.seg.as_ref()));
        }
        let lost = || lost_exit(self.seg.as_ref());
        self.reap.lock().unwrap_or_else(|e| e.into_inner()).poll(lost)
    }

    /// How the process ended, if it has (Python's `exitcode`, as an enum; `None` while it
    /// runs or before it started). Never waits.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::{Exit, Process};
    /// let mut p = Process::spawn(|_: ()| std::process::exit(7), ())?;
    /// p.join()?;
    /// assert_eq!(p.exit_code(), Some(Exit::Code(7)));
    /// # Ok::<(), zeroproc_sched::ProcessError>(())
    /// ```
    pub fn exit_code(&self) -> Option<Exit> {
        self.poll_exit()
    }

    /// Waits for the process to end and says how ([`Exit`]); again later, it returns the
    /// same. A panic in the body is `Exit::Code(1)` (its message:
    /// [`panic_message`](Self::panic_message)), a signal `Exit::Signal(n)`.
    /// Errors: [`ProcessError::NotStarted`], or [`ProcessError::NotRun`] when the child
    /// exited before its body started.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::{Exit, Process};
    /// let mut p = Process::spawn(|n: u64| assert!(n < 10, "{n} is too many"), 12)?;
    /// assert_eq!(p.join()?, Exit::Code(1));
    /// assert!(p.panic_message().unwrap().contains("12 is too many"));
    /// # Ok::<(), zeroproc_sched::ProcessError>(())
    /// ```
    pub fn join(&mut self) -> Result<Exit, ProcessError> {
        match self.join_until(None)? {
            Some(e) => Ok(e),
            None => unreachable!("no deadline"),
        }
    }

    /// Waits at most `timeout`; `Ok(None)` if it still runs (Python's `join(timeout)`,
    /// which returns `None` either way and leaves you to check `exitcode`).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::{Exit, Process};
    /// use std::time::Duration;
    /// let mut p = Process::spawn(|_: ()| loop { std::thread::park() }, ())?;
    /// assert_eq!(p.join_timeout(Duration::from_millis(50))?, None); // still running
    /// p.kill();
    /// assert_eq!(p.join_timeout(Duration::from_secs(10))?, Some(Exit::Signal(libc::SIGKILL)));
    /// # Ok::<(), zeroproc_sched::ProcessError>(())
    /// ```
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<Option<Exit>, ProcessError> {
        self.join_until(zeroproc_shm::wait::deadline_after(timeout))
    }

    /// Waits until `deadline`; `Ok(None)` if it still runs then (see
    /// [`join_timeout`](Self::join_timeout)).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::{Exit, Process};
    /// use std::time::{Duration, Instant};
    /// let mut p = Process::spawn(|_: ()| {}, ())?;
    /// assert_eq!(p.join_deadline(Instant::now() + Duration::from_secs(10))?, Some(Exit::Code(0)));
    /// # Ok::<(), zeroproc_sched::ProcessError>(())
    /// ```
    pub fn join_deadline(&mut self, deadline: Instant) -> Result<Option<Exit>, ProcessError> {
        self.join_until(Some(deadline))
    }

    /// `join` (`None`) and its bounded forms: an exit before the body started is an
    /// error naming why, not an exit code the body never chose.
    fn join_until(&mut self, deadline: Option<Instant>) -> Result<Option<Exit>, ProcessError> {
        if self.copied_pid().is_some() {
            return Err(ProcessError::Inherited { parent: self.parent });
        }
        let exit = self.reap_until(deadline)?;
        match exit {
            Some(Exit::Code(c)) if !self.body_started() => {
                Err(ProcessError::NotRun { exit_code: c, reason: not_run_reason(c) })
            }
            e => Ok(e),
        }
    }

    /// Whether the child reached its body (it says so in the block before calling it).
    fn body_started(&self) -> bool {
        let Some(seg) = self.seg.as_ref() else { return true };
        // SAFETY: the data region starts with a ProcessBlock (all atomics), kept mapped by
        // `seg`.
        let b = unsafe { &*seg.data().cast::<ProcessBlock>() };
        // Acquire: pairs with the child's Release stores of the outcome.
        b.outcome.load(Ordering::Acquire) != outcome::RUNNING
    }

    /// Waits for the child's exit (reaped once; later calls return it again).
    fn reap_until(&mut self, deadline: Option<Instant>) -> Result<Option<Exit>, ProcessError> {
        let seg = self.seg.as_ref();
        let lost = || lost_exit(seg);
        let reap = self.reap.get_mut().unwrap_or_else(|e| e.into_inner());
        let child = reap.child.as_mut().ok_or(ProcessError::NotStarted)?;
        if reap.exit.is_some() {
            return Ok(reap.exit);
        }
        if deadline.is_none() {
            let st = reap::wait(child).map_err(ProcessError::Io)?;
            reap.ended(st, lost);
            return Ok(reap.exit);
        }
        let mut pause = Duration::from_micros(50);
        loop {
            if let Some(st) = reap::try_wait(child).map_err(ProcessError::Io)? {
                reap.ended(st, lost);
                return Ok(reap.exit);
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(None);
            }
            let left = deadline.map_or(pause, |d| d - now);
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    /// Sends SIGTERM (Python's `terminate`); does not wait — [`join`](Self::join) after
    /// it. Nothing happens on a process not started (Python raises) or one that has ended
    /// (its pid may belong to another process by now). (Unlike
    /// [`JobFuture::terminate`](crate::JobFuture::terminate), which stops one job.)
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::{Exit, Process};
    /// let mut p = Process::spawn(|_: ()| loop { std::thread::park() }, ())?;
    /// p.terminate();
    /// assert_eq!(p.join()?, Exit::Signal(libc::SIGTERM));
    /// # Ok::<(), zeroproc_sched::ProcessError>(())
    /// ```
    pub fn terminate(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Sends SIGKILL (Python's `kill`): as [`terminate`](Self::terminate), for a process
    /// that handles or ignores SIGTERM; nothing on a process not started or ended. See
    /// [`join_timeout`](Self::join_timeout) for an example.
    pub fn kill(&self) {
        self.signal(libc::SIGKILL);
    }

    fn signal(&self, sig: i32) {
        if let Some(pid) = self.copied_pid() {
            return inherited::signal(pid, sig);
        }
        // Under the lock: the child is not reaped meanwhile, so its pid is not reused.
        let lost = || lost_exit(self.seg.as_ref());
        let mut reap = self.reap.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(pid), None) = (self.pid, reap.poll(lost)) {
            // SAFETY: kill(2) with our own child's pid (not yet reaped, so not reused).
            unsafe { libc::kill(pid as i32, sig) };
        }
    }

    /// The panic message, if the body panicked (after the process ended; `None` while it
    /// runs, or if it ended otherwise). See [`join`](Self::join) for an example. A message
    /// longer than 4 KiB keeps its start and its end (with the panic's location) around a
    /// note of its full length; the child's standard error has all of it.
    pub fn panic_message(&self) -> Option<String> {
        let seg = self.seg.as_ref()?;
        // SAFETY: the data region starts with a ProcessBlock (all atomics), kept mapped by
        // `seg`.
        let b = unsafe { &*seg.data().cast::<ProcessBlock>() };
        // Acquire: pairs with the child's Release store of the outcome.
        match b.outcome.load(Ordering::Acquire) {
            outcome::PANICKED | outcome::BAD_ARGS => {
                // Relaxed (all): ordered by the Acquire above.
                let n = (b.message_len.load(Ordering::Relaxed) as usize).min(MESSAGE_MAX);
                let bytes: Vec<u8> =
                    b.message[..n].iter().map(|c| c.load(Ordering::Relaxed)).collect();
                Some(String::from_utf8_lossy(&bytes).into_owned())
            }
            // Still running, or killed before it could say: no message.
            outcome::RUNNING => None,
            _ => None,
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // A forked copy: the child and what is kept for it are the parent's.
        if self.copied_pid().is_some() {
            return;
        }
        // A running child runs on, as in Python: it keeps its argument segment (it may not
        // have attached it yet) and is reaped when it ends (`orphans.rs`); at the program's
        // exit a daemon is killed, any other child waited for.
        if self.poll_exit().is_none() {
            let daemon = self.daemon;
            let reap = self.reap.get_mut().unwrap_or_else(|e| e.into_inner());
            if let Some(child) = reap.child.take() {
                let pid = child.id();
                let pins = std::mem::take(&mut reap.pins);
                let kept = orphans::Kept { _seg: self.seg.take(), _pins: pins };
                orphans::adopt(child, kept, daemon);
                // From here on the adoption list holds it (`join_adopted`, the exit).
                orphans::untrack(pid);
            }
        }
    }
}

/// Why a child that exited with `code` never ran its body.
fn not_run_reason(code: i32) -> &'static str {
    use crate::worker::exit;
    match code {
        exit::NO_INIT => {
            "main did not call zeroproc::init() first: the child ran the program's \
                          main up to Process::start"
        }
        // libtest found no test named `__zeroproc_worker` and exited successfully, or a
        // program's main ran to its end.
        0 => {
            "the child ran the program's main to its end without serving: in a test binary, \
             add zeroproc::test_worker!() (at the top level or in `mod tests`; every file in \
             tests/ is a test binary of its own, the crate's unit tests another); elsewhere, \
             zeroproc::init() must be the first line of main"
        }
        exit::FINGERPRINT => "the child is a different build of the program",
        exit::ATTACH | exit::BAD_SPEC => "the child could not attach its argument segment",
        exit::ORPHAN => "the parent died before the child started",
        126 | 127 => "the program could not be executed again (/proc/self/exe)",
        _ => "the child exited before its body started (its own error is on stderr)",
    }
}

/// How a child ended when its exit status was lost (`reap.rs`), from what it wrote in its
/// block (`seg`, read after the child has exited): 0 if the body returned, 1 if it
/// panicked (as its exit would have said), else -1 (unknown: killed, or its body called
/// `exit`).
fn lost_exit(seg: Option<&Segment>) -> Exit {
    let Some(seg) = seg else { return Exit::Code(-1) };
    // SAFETY: the data region starts with a ProcessBlock (all atomics), kept mapped by
    // `seg`.
    let b = unsafe { &*seg.data().cast::<ProcessBlock>() };
    // Acquire: pairs with the child's Release stores of the outcome.
    match b.outcome.load(Ordering::Acquire) {
        outcome::RETURNED => Exit::Code(0),
        outcome::PANICKED | outcome::BAD_ARGS => Exit::Code(1),
        _ => Exit::Code(-1),
    }
}

/// `st` as an [`Exit`]; `lost()` if the status was lost (`reap.rs`).
fn to_exit(st: std::process::ExitStatus, lost: impl FnOnce() -> Exit) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    if reap::is_lost(st) {
        return lost();
    }
    match (st.code(), st.signal()) {
        (Some(c), _) => Exit::Code(c),
        (None, Some(s)) => Exit::Signal(s),
        (None, None) => Exit::Code(-1),
    }
}
