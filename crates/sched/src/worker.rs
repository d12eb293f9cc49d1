//! The worker process: attach the pool segment, claim its two rings, run jobs until told
//! to stop. Entered from [`crate::init`] in a re-executed copy of the program; never
//! returns.

use crate::control::{self, monotonic_ns, state, PoolHeader, SegmentMap, WorkerControl};
use crate::fntable::Validated;
use crate::job::{kind, status};
use crate::launch::Spec;
use crate::spill::{SpillHeap, WorkerSpill};
use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use zeroproc_codec::envelope::{self, Encode, Header};
use zeroproc_ring::spsc::{Producer, RecvError, ReserveError, Ring};
use zeroproc_shm::Segment;

/// Exit codes of a worker that could not start (reported by the controller).
pub(crate) mod exit {
    /// The `ZEROPROC_WORKER` spec could not be parsed.
    pub const BAD_SPEC: i32 = 90;
    /// The build fingerprint differs from the controller's.
    pub const FINGERPRINT: i32 = 91;
    /// The pool segment or a ring could not be attached.
    pub const ATTACH: i32 = 92;
    /// The initializer panicked.
    pub const INIT: i32 = 93;
    /// The controller is gone.
    pub const ORPHAN: i32 = 94;
    /// The worker's submission or completion ring is corrupt (its state word says which):
    /// the controller retires the slot instead of respawning onto the same rings.
    pub const RING_CORRUPT: i32 = 95;
    /// A panic escaped the worker's own code (a bug: user code is always caught); the
    /// rings were left open, so the successor attaches.
    pub const ESCAPED: i32 = 96;
    /// This copy of the program ran `main` without `init()` and reached `Pool::build` or
    /// `Process::start`: it stops there instead of re-running the program's work.
    pub const NO_INIT: i32 = 97;
}

/// How long a result waits for room in a full spill heap before its job fails.
const RESULT_HEAP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Last resort for a panic that unwound out of the worker's frames: the payload is leaked
/// (its `Drop` may panic) and the process exits without running any destructor.
#[cold]
pub(crate) fn escaped(p: Box<dyn std::any::Any + Send>) -> ! {
    let msg = payload_str(&*p);
    std::mem::forget(p);
    eprintln!("zeroproc worker {}: a panic escaped the worker: {msg}", std::process::id());
    std::process::exit(exit::ESCAPED)
}

/// This worker's control block, once located (for [`ring_corrupt`]).
static CONTROL: std::sync::OnceLock<&'static WorkerControl> = std::sync::OnceLock::new();

/// Reports one of this worker's rings corrupt (state `CORRUPT_*`, Release) and exits
/// with [`exit::RING_CORRUPT`]. Never returns.
#[cold]
pub(crate) fn ring_corrupt(st: u32, e: &dyn std::fmt::Display) -> ! {
    let which = if st == state::CORRUPT_SUBMISSION { "submission" } else { "completion" };
    eprintln!("zeroproc worker {}: {which} ring corrupt ({e}); exiting", std::process::id());
    if let Some(ctl) = CONTROL.get() {
        // Release: pairs with the supervisor's Acquire load of the state after the exit.
        ctl.state.store(st, Ordering::Release);
    }
    std::process::exit(exit::RING_CORRUPT)
}

/// The completion ring could not take a record: corrupt, or the controller is gone.
#[cold]
fn reserve_failed(e: ReserveError) -> ! {
    match e {
        ReserveError::Corrupt(c) => ring_corrupt(state::CORRUPT_COMPLETION, &c),
        _ => std::process::exit(exit::ORPHAN),
    }
}

/// What a trampoline sees: the job's envelope and where its completion goes.
pub(crate) struct JobCtx<'a> {
    /// The job record: envelope header + archived arguments.
    pub input: &'a [u8],
    sink: Sink<'a>,
    job_id: u64,
    spill: Option<&'a mut WorkerSpill>,
}

enum Sink<'a> {
    /// Completions go to the completion ring.
    Ring { out: &'a mut Producer, bytes: usize },
    /// Completions are only recorded (the initializer).
    Local { status: Option<(u32, String)> },
}

impl<'a> JobCtx<'a> {
    /// A context whose completion is only recorded (initializers, `Process` bodies).
    pub(crate) fn local(input: &'a [u8]) -> Self {
        JobCtx { input, sink: Sink::Local { status: None }, job_id: 0, spill: None }
    }

    /// The recorded completion of a [`local`](Self::local) context: `None` if nothing
    /// completed, else (status, message).
    pub(crate) fn local_status(self) -> Option<(u32, String)> {
        match self.sink {
            Sink::Local { status } => status,
            Sink::Ring { .. } => None,
        }
    }
}

impl JobCtx<'_> {
    /// The pool's spill heap (attached on first use).
    pub fn spill_heap(&mut self) -> Option<&SpillHeap> {
        self.spill.as_mut().and_then(|s| s.get())
    }

    /// Completes the job with `value` (status OK), which is dropped before the record is
    /// committed: its `Drop` is user code, and if it panics the job completes as PANICKED
    /// instead (on the spill path the record is committed first, and such a panic is only
    /// contained).
    pub fn complete_value<R: Encode>(&mut self, value: R) {
        let job_id = self.job_id;
        let Sink::Ring { out, bytes } = &mut self.sink else {
            let st = match drop_caught(value) {
                Ok(()) => (status::OK, String::new()),
                Err(m) => (status::PANICKED, m),
            };
            self.sink = Sink::Local { status: Some(st) };
            return;
        };
        let max = out.max_payload();
        let mut size = 256.min(max);
        loop {
            let mut r = match out.reserve(size) {
                Ok(r) => r,
                Err(e) => reserve_failed(e),
            };
            // Every arm that does not commit abandons the reservation (never committed).
            match envelope::encode_into(&mut r, Header::new(job_id, 0), &value) {
                Ok(n) => {
                    if let Err(m) = drop_caught(value) {
                        return self.complete_msg(status::PANICKED, &m);
                    }
                    r.truncate(n);
                    r.set_kind(status::OK);
                    r.set_tag(job_id);
                    r.commit();
                    *bytes += n;
                    return;
                }
                Err(envelope::EncodeError::TooLarge { .. }) if size < max => size = max,
                Err(e) if crate::spill::too_large(&e) => {
                    let sent = self.complete_spilled(&value, &e);
                    let _ = drop_caught(value); // after the commit: only contained
                    if let Err(m) = sent {
                        self.complete_msg(status::BAD_RESULT, &m);
                    }
                    return;
                }
                Err(e) => {
                    let (st, m) = match drop_caught(value) {
                        Ok(()) => (status::BAD_RESULT, e.to_string()),
                        Err(m) => (status::PANICKED, m),
                    };
                    return self.complete_msg(st, &m);
                }
            }
        }
    }

    /// Sends a result larger than any record through the spill heap (committed here).
    fn complete_spilled<R: Encode>(
        &mut self,
        value: &R,
        e: &envelope::EncodeError,
    ) -> Result<(), String> {
        let header = Header::new(self.job_id, 0);
        let Some(h) = self.spill_heap().cloned() else {
            return Err(format!("{e}, and the pool has no spill heap"));
        };
        let job_id = self.job_id;
        let Sink::Ring { out, bytes } = &mut self.sink else { unreachable!() };
        let send = crate::spill::Send::CommitWaiting;
        // A full heap is waited for: the controller frees results as it drains them and
        // keeps queued arguments to half of the heap (`submit::spill_job`).
        let t0 = std::time::Instant::now();
        loop {
            match crate::spill::send_spilled(out, &h, header, value, 0, status::OK, job_id, send) {
                Ok(_) => break,
                Err(crate::spill::SpillFailed::HeapFull(m)) if t0.elapsed() < RESULT_HEAP_WAIT => {
                    let _ = m;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(crate::spill::SpillFailed::HeapFull(m)) => {
                    return Err(format!(
                        "the result found the pool's spill heap full for {RESULT_HEAP_WAIT:?} \
                         ({m}); results are freed as the controller takes them"
                    ))
                }
                Err(crate::spill::SpillFailed::Other(m)) => return Err(m),
            }
        }
        *bytes += envelope::HEADER_LEN + zeroproc_codec::spill::SPILL_BODY_LEN;
        Ok(())
    }

    /// Completes the job with a status other than OK and a message.
    pub fn complete_msg(&mut self, st: u32, msg: &str) {
        let job_id = self.job_id;
        match &mut self.sink {
            Sink::Ring { out, bytes } => {
                let m = &msg.as_bytes()[..msg.len().min(out.max_payload())];
                let mut r = match out.reserve(m.len()) {
                    Ok(r) => r,
                    Err(e) => reserve_failed(e),
                };
                r[..m.len()].copy_from_slice(m);
                r.set_kind(st);
                r.set_tag(job_id);
                r.commit();
                *bytes += m.len();
            }
            Sink::Local { status } => *status = Some((st, msg.to_owned())),
        }
    }
}

thread_local! {
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces the panic hook: a job's panic is reported to its future (message and
/// location), not printed by the worker.
pub(crate) fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let msg = payload_str(info.payload());
        let text = match info.location() {
            Some(l) => format!("{msg} (at {}:{}:{})", l.file(), l.line(), l.column()),
            None => msg,
        };
        PANIC.with(|p| *p.borrow_mut() = Some(text));
    }));
}

fn payload_str(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// The message of a caught panic (with its location when the hook recorded it). The
/// payload is dropped here, under `catch_unwind`: its `Drop` is user code.
pub(crate) fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    let msg = PANIC.with(|c| c.borrow_mut().take()).unwrap_or_else(|| payload_str(&*p));
    let _ = drop_caught(p);
    msg
}

/// Drops `v` (user code) without letting a panic unwind further: `Err` carries the panic's
/// message. A second payload (the drop's own) is leaked, never dropped: its `Drop` may
/// panic again.
pub(crate) fn drop_caught<T>(v: T) -> Result<(), String> {
    // No thread-local access unless the drop panicked (this runs once per job).
    let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(v))) else { return Ok(()) };
    let m = PANIC.with(|c| c.borrow_mut().take()).unwrap_or_else(|| payload_str(&*p));
    std::mem::forget(p);
    Err(m)
}

/// The worker's life. Never returns.
pub(crate) fn run(spec: &Spec) -> ! {
    // Die with the controller's supervisor thread (the thread that started us).
    // SAFETY: prctl(PR_SET_PDEATHSIG, sig) takes plain integers and has no memory effects.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
    // And with the controller process whatever a job does to its credentials.
    if !crate::launch::watch_parent(spec.parent, exit::ORPHAN) {
        // The controller died before PR_SET_PDEATHSIG took effect.
        std::process::exit(exit::ORPHAN);
    }
    let Ok(seg) = Segment::attach(&spec.segment, control::POOL_LAYOUT) else {
        std::process::exit(exit::ATTACH)
    };
    // The worker never returns: its mapping of the pool segment lives until it exits.
    let seg: &'static Arc<Segment> = Box::leak(Box::new(Arc::new(seg)));
    let Some((header, ctl, map)) = locate(seg, spec.index) else {
        std::process::exit(exit::ATTACH)
    };
    let Ok(claims) = seg.resolve(map.claims(), 1) else { std::process::exit(exit::ATTACH) };
    // SAFETY: in bounds and aligned (checked by resolve); all-atomic type, valid for any
    // bits; the segment stays mapped until this process exits (leaked above).
    let claims: &crate::claim::ClaimTable = unsafe { claims.as_ref() };
    if crate::fnid::fingerprint() != spec.fingerprint {
        // Only a slot waiting for a worker is marked: a process started for a slot that is
        // served (a forged or stale spec) must not touch the live worker's state.
        // AcqRel: Release pairs with the Acquire poll of the starting controller; Acquire
        // orders the check against the controller's Release store of STARTING.
        let _ = ctl.state.compare_exchange(
            state::STARTING,
            state::REFUSED,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        std::process::exit(exit::FINGERPRINT);
    }
    let _ = CONTROL.set(ctl);
    if let Some(core) = spec.core {
        core_affinity::set_for_current(core_affinity::CoreId { id: core });
    }
    let rings = Ring::attach(seg.clone(), map.submission(spec.index))
        .and_then(|r| r.consumer())
        .and_then(|rx| {
            let tx = Ring::attach(seg.clone(), map.completion(spec.index))?.producer()?;
            Ok((rx, tx))
        });
    let Ok((rx, tx)) = rings else { std::process::exit(exit::ATTACH) };
    // Never dropped: their destructors mark the rings closed, and a successor could not
    // attach. The worker always leaves with `process::exit`, even after an unwind.
    let mut rx = ManuallyDrop::new(rx.with_wait_strategy(spec.strategy));
    let mut tx = ManuallyDrop::new(tx);
    tx.set_wait_strategy(spec.strategy);
    // Relaxed: published by the Release store of `state` below.
    ctl.pid.store(std::process::id(), Ordering::Relaxed);
    quiet_panics();
    if let Some(init) = spec.initializer {
        if !Validated::new().contains(&header.fns, init) {
            // Registered by `PoolBuilder::build` before any worker starts.
            eprintln!(
                "zeroproc worker {}: initializer id {init:#x} not in the pool's table",
                spec.index
            );
            std::process::exit(exit::BAD_SPEC);
        }
        // `initializer_with`: its arguments, mapped for this call only.
        let args = match &spec.init_args {
            None => None,
            Some(id) => match crate::share::Stored::attach(id) {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("zeroproc worker {}: initializer arguments: {e}", spec.index);
                    std::process::exit(exit::ATTACH);
                }
            },
        };
        let mut ctx = JobCtx::local(args.as_ref().map_or(&[][..], |s| s.bytes()));
        // SAFETY: the id is in the pool's function table, which only the controller
        // writes, with ids made by `fnid::id_of`; same fingerprint (checked above).
        let t = unsafe { crate::fnid::resolve(init) };
        t(&mut ctx);
        if let Some((st, msg)) = ctx.local_status() {
            if st != status::OK {
                eprintln!("zeroproc worker {}: initializer panicked: {msg}", spec.index);
                // Release: pairs with the Acquire poll of the starting controller.
                ctl.state.store(state::INIT_FAILED, Ordering::Release);
                std::process::exit(exit::INIT);
            }
        }
    }
    // Relaxed: read by observers only; a predecessor may have died busy.
    ctl.busy_since.store(0, Ordering::Relaxed);
    // Release: a predecessor may have died running a job (pairs with the Acquire in
    // `WorkerControl::current`; the job itself was failed by the controller).
    ctl.current.store(0, Ordering::Release);
    // Release: pairs with the Acquire poll of the starting controller (pid, claims).
    ctl.state.store(state::READY, Ordering::Release);
    header.completions.notify_all();

    let mut st = Local::load(ctl);
    let mut fns = Validated::new();
    let mut spill = WorkerSpill::new(header);
    let mut unreleased = 0u32;
    let mut done_here = 0u64;
    let mut mark = monotonic_ns(); // start of the current idle or busy period
    let mut idle = true;
    loop {
        // The clock is read only when the worker goes idle or wakes up (and for jobs with
        // a time-out): back-to-back jobs cost no clock reads (two per job were 20 % of a
        // worker's time on tiny jobs, measured with perf).
        if !idle && !rx.is_ready() {
            let now = monotonic_ns();
            st.busy += now - mark;
            st.flush(ctl);
            // Relaxed: read by observers only (`busy_since`).
            ctl.busy_since.store(0, Ordering::Relaxed);
            mark = now;
            idle = true;
        }
        let rec = match rx.recv() {
            Ok(rec) => rec,
            Err(RecvError::Corrupt(c)) => ring_corrupt(state::CORRUPT_SUBMISSION, &c),
            Err(_) => std::process::exit(0), // controller gone
        };
        if idle {
            let now = monotonic_ns();
            st.idle += now - mark;
            // Relaxed: read by observers only (`busy_since`).
            ctl.busy_since.store(now, Ordering::Relaxed);
            mark = now;
            idle = false;
        }
        if rec.kind() == kind::STOP {
            st.flush(ctl);
            // Relaxed: read by observers only (`busy_since`).
            ctl.busy_since.store(0, Ordering::Relaxed);
            std::process::exit(0);
        }
        let job_id = rec.tag();
        st.bytes_in += rec.len() as u64;
        // Run it only if we win its claim word (claim.rs): a job the controller revoked
        // (moved to an idle worker, or cancelled), or one a predecessor of ours claimed
        // before dying, is skipped without an answer.
        if !claims.start(job_id) {
            rec.defer_release();
            continue;
        }
        let mut ctx = JobCtx {
            input: &rec,
            sink: Sink::Ring { out: &mut tx, bytes: 0 },
            job_id,
            spill: Some(&mut spill),
        };
        // A record we cannot run is answered (the controller fails its future); a spilled
        // argument block nobody will read is freed.
        let answer_only = |ctx: &mut JobCtx<'_>, st: u32, msg: &str| {
            let input = ctx.input;
            if envelope::is_spilled(input) {
                if let Some(sh) = ctx.spill_heap().cloned() {
                    if let Ok(h) = sh.heap() {
                        let _ = zeroproc_codec::payload::discard(input, &h);
                    }
                }
            }
            ctx.complete_msg(st, msg);
        };
        let peek = envelope::Header::read(&rec).ok().map(|h| (h.fn_id, h.flags, h.job_id));
        match peek {
            Some((fn_id, _, id)) if id == job_id && !fns.contains(&header.fns, fn_id) => {
                let msg = format!(
                    "unknown function id {fn_id:#x}: not in the pool's function table \
                     (nothing was called)"
                );
                answer_only(&mut ctx, status::BAD_ARGS, &msg);
            }
            Some((fn_id, flags, id)) if id == job_id => {
                if flags & crate::job::FLAG_TIMED != 0 {
                    // Relaxed: published by the Release store of `current` below.
                    ctl.started_ns.store(monotonic_ns(), Ordering::Relaxed);
                }
                // Release: pairs with the Acquire in `WorkerControl::current` (time-outs,
                // `terminate`, observers).
                ctl.current.store(job_id, Ordering::Release);
                // SAFETY: `fn_id` is in the pool's function table (checked just above),
                // which only the controller writes, with ids made by `fnid::id_of`; the
                // build fingerprint was checked at start-up.
                let t = unsafe { crate::fnid::resolve(fn_id) };
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| t(&mut ctx))) {
                    escaped(p);
                }
            }
            _ => answer_only(&mut ctx, status::BAD_ARGS, "malformed job envelope"),
        }
        if let Sink::Ring { bytes, .. } = ctx.sink {
            st.bytes_out += bytes as u64;
        }
        // Release: after the completion was committed; pairs with the Acquire in
        // `WorkerControl::current`.
        ctl.current.store(0, Ordering::Release);
        // The record's space is given back in batches: every RELEASE_EVERY jobs, and by
        // the ring itself before this worker waits for more.
        rec.defer_release();
        unreleased += 1;
        if unreleased >= RELEASE_EVERY {
            rx.release();
            unreleased = 0;
        }
        st.jobs += 1;
        st.flush_counts(ctl);
        // The completion's commit just executed a SeqCst fence (the ring checking its own
        // sleeper) after publishing: that fence serves this wake-up check too.
        header.completions.notify_all_after_fence();
        done_here += 1;
        if spec.max_jobs.is_some_and(|m| done_here >= m) {
            st.busy += monotonic_ns() - mark;
            st.flush(ctl);
            // Relaxed: read by observers only (`busy_since`).
            ctl.busy_since.store(0, Ordering::Relaxed);
            // Give the consumed records back first: a submitter may be waiting for room.
            rx.release();
            // Retire without closing the rings (no destructors run): the successor claims
            // them and carries on with the queued jobs.
            std::process::exit(0);
        }
    }
}

/// Job records released together (one index store and wake-up check per batch).
const RELEASE_EVERY: u32 = 32;

/// This incarnation's copy of its slot's statistics (cumulative over incarnations),
/// published with plain stores: the worker is the only writer, so no locked
/// read-modify-write is needed.
struct Local {
    jobs: u64,
    busy: u64,
    idle: u64,
    bytes_in: u64,
    bytes_out: u64,
}

impl Local {
    fn load(c: &WorkerControl) -> Local {
        // Relaxed (all): this process is the only writer now; values of a dead
        // predecessor are read after its exit.
        Local {
            jobs: c.jobs_done.load(Ordering::Relaxed),
            busy: c.busy_ns.load(Ordering::Relaxed),
            idle: c.idle_ns.load(Ordering::Relaxed),
            bytes_in: c.bytes_in.load(Ordering::Relaxed),
            bytes_out: c.bytes_out.load(Ordering::Relaxed),
        }
    }

    /// Per job: counters only (no clock).
    #[inline]
    fn flush_counts(&self, c: &WorkerControl) {
        // Relaxed (all): snapshots for `pool.stats()`.
        c.jobs_done.store(self.jobs, Ordering::Relaxed);
        c.bytes_in.store(self.bytes_in, Ordering::Relaxed);
        c.bytes_out.store(self.bytes_out, Ordering::Relaxed);
    }

    /// At period boundaries: everything.
    fn flush(&self, c: &WorkerControl) {
        self.flush_counts(c);
        // Relaxed (both): as above.
        c.busy_ns.store(self.busy, Ordering::Relaxed);
        c.idle_ns.store(self.idle, Ordering::Relaxed);
    }
}

/// Resolves the pool header, worker `w`'s control block and the segment map.
pub(crate) fn locate(seg: &Segment, w: usize) -> Option<(&PoolHeader, &WorkerControl, SegmentMap)> {
    let hp = seg.resolve(control::SegmentMap::header_offset(), 1).ok()?;
    // SAFETY: in bounds and aligned (checked by resolve); all-atomic type, valid for any
    // bits; the segment outlives the returned borrow.
    let header: &PoolHeader = unsafe { hp.as_ref() };
    // Relaxed: written once before the segment was published READY (Acquire on attach).
    let workers = header.workers.load(Ordering::Relaxed) as usize;
    let cap = header.ring_capacity.load(Ordering::Relaxed) as usize;
    let map = SegmentMap::new(workers, cap)?;
    if w >= workers || map.data_len() + zeroproc_shm::HEADER_SIZE > seg.len() {
        return None;
    }
    let cp = seg.resolve(map.control(w), 1).ok()?;
    // SAFETY: as above.
    let ctl: &WorkerControl = unsafe { cp.as_ref() };
    Some((header, ctl, map))
}
