//! Telling a job's stack overflow apart from other aborts.
//!
//! Rust's runtime catches a fault in a thread's stack guard, prints "thread '…' has
//! overflowed its stack" to stderr and aborts: the controller would only see a worker
//! killed by SIGABRT, as for `std::process::abort`. Python raises `RecursionError` in the
//! job instead. So the worker puts a handler of its own in front of the runtime's for
//! SIGSEGV and SIGBUS: when the faulting address lies in the main thread's guard region
//! (below the lowest address its stack may grow to — jobs run on the main thread), it
//! stores the current job's id in `WorkerControl::overflowed`, then restores the previous
//! handler and returns. The faulting instruction runs again and faults into the runtime's
//! handler, which prints its message and aborts as before (any other fault goes straight
//! to it, or to the default action). The supervisor reports a SIGABRT death whose job is
//! the one in `overflowed` as `JobError::StackOverflow`.
//!
//! A SIGSEGV or SIGBUS *sent* to the process (`kill`, `raise`, `sigqueue`: `si_code <= 0`)
//! is no fault: returning would re-run nothing, and the runtime's handler (which resets
//! the default action and returns, expecting the fault to recur) would swallow it too, so
//! `kill -SEGV` left a worker or `Process` child running (a job that raised SIGSEGV
//! returned its value). The handler applies the default action to such a signal instead:
//! the process dies of it, as a Python process does (`exitcode == -11`). `Process` children
//! install the handler too ([`watch_sent`]), without the overflow part.
//!
//! The handler only loads and stores atomics and calls `sigaction`, `signal` and `raise`,
//! which are async-signal-safe; it runs on the alternate signal stack the runtime set up for the main
//! thread (`SA_ONSTACK`; without one, an overflow cannot run any handler and the worker
//! dies of SIGSEGV, reported as `WorkerDied`).

use crate::control::WorkerControl;
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// The guard region is taken as this much below the stack's lowest address (the kernel's
/// stack guard gap is 256 pages; a large frame can skip past the first guard page).
const GUARD_SPAN: usize = 4 << 20;

/// This worker's control block. Relaxed (all statics here): written once before the
/// handlers are installed (`sigaction` orders that for the handler), then only read.
static CTL: AtomicPtr<WorkerControl> = AtomicPtr::new(std::ptr::null_mut());
/// The guard region `[LOW, HIGH)`.
static LOW: AtomicUsize = AtomicUsize::new(0);
static HIGH: AtomicUsize = AtomicUsize::new(0);

/// The handlers that were installed before ours (index 0: SIGSEGV, 1: SIGBUS).
struct Previous(UnsafeCell<[MaybeUninit<libc::sigaction>; 2]>);
// SAFETY: written only by `watch`, before our handler is installed, on the one thread that
// installs it; afterwards only read (by the handler).
unsafe impl Sync for Previous {}
static PREVIOUS: Previous = Previous(UnsafeCell::new([MaybeUninit::zeroed(); 2]));

const SIGNALS: [libc::c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];

/// Installs the handlers (once, at worker start, on the main thread). Overflows are not
/// told apart if the main thread's stack cannot be located (sent signals still are).
pub(crate) fn watch(ctl: &'static WorkerControl) {
    if let Some(low) = main_stack_low() {
        // Relaxed: see `CTL`.
        CTL.store(std::ptr::from_ref(ctl).cast_mut(), Ordering::Relaxed);
        LOW.store(low.saturating_sub(GUARD_SPAN), Ordering::Relaxed);
        HIGH.store(low + page_size(), Ordering::Relaxed);
    }
    install();
}

/// Installs the handlers for a `Process` child (once, at its start): a sent SIGSEGV or
/// SIGBUS ends it; faults go to the runtime's handler as before.
pub(crate) fn watch_sent() {
    install();
}

fn install() {
    for (i, &sig) in SIGNALS.iter().enumerate() {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler
        // has the SA_SIGINFO signature; PREVIOUS[i] is written here before the handler
        // can run (it is installed by this very call) and never again.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = handler as *const () as libc::sighandler_t;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut act.sa_mask);
            let prev = (*PREVIOUS.0.get())[i].as_mut_ptr();
            libc::sigaction(sig, &act, prev);
        }
    }
    // A process starts with its parent's signal mask: a controller that blocked every
    // signal (to handle them on a `sigwait` thread) gave its workers SIGSEGV blocked, and a
    // fault with its signal blocked kills at once, bypassing every handler — an overflow
    // was then a bare SIGSEGV death, not `StackOverflow`. Jobs run on this thread, which
    // is the one installing the handlers; the other signals keep the inherited mask.
    // SAFETY: sigemptyset/sigaddset fill a local set; pthread_sigmask changes this
    // thread's mask only.
    unsafe {
        let mut faults: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut faults);
        for &sig in &SIGNALS {
            libc::sigaddset(&mut faults, sig);
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &faults, std::ptr::null_mut());
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers of SIGSEGV/SIGBUS.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    if code <= 0 {
        // Sent by a process (SI_USER, SI_QUEUE, SI_TKILL ...), not a fault: die of it.
        // SAFETY: signal and raise are async-signal-safe. The signal is blocked while
        // its handler runs (no SA_NODEFER), so the raised one is delivered, with the
        // default action, when this handler returns.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
        return;
    }
    // Relaxed (all): see `CTL`.
    let in_guard = LOW.load(Ordering::Relaxed) <= addr && addr < HIGH.load(Ordering::Relaxed);
    let ctl = CTL.load(Ordering::Relaxed);
    if in_guard && !ctl.is_null() {
        // SAFETY: the control block lives in the pool segment, mapped until exit.
        let ctl = unsafe { &*ctl };
        // Relaxed: the job id is this thread's own store (`serve`).
        let job = ctl.current.load(Ordering::Relaxed);
        // Release: pairs with the supervisor's Acquire load after it reaped this process.
        ctl.overflowed.store(job, Ordering::Release);
    }
    let i = usize::from(sig == libc::SIGBUS);
    // SAFETY: PREVIOUS[i] was filled by `sigaction` in `watch` before this handler was
    // installed; sigaction is async-signal-safe. Returning re-runs the faulting
    // instruction, which now faults into the previous handler.
    unsafe { libc::sigaction(sig, (*PREVIOUS.0.get())[i].as_ptr(), std::ptr::null_mut()) };
}

/// The lowest address the calling (main) thread's stack may grow to.
fn main_stack_low() -> Option<usize> {
    // SAFETY: pthread_getattr_np fills `attr` for the calling thread (destroyed below);
    // pthread_attr_getstack only reads it.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let (mut addr, mut size) = (std::ptr::null_mut(), 0usize);
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        (ok && !addr.is_null()).then_some(addr as usize)
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(p).unwrap_or(4096)
}
