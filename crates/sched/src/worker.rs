//! The worker process: attach the pool segment, claim its two rings, run jobs until told
//! to stop. Entered from [`crate::init`] in a re-executed copy of the program; never
//! returns.

use crate::control::{self, monotonic_ns, state, PoolHeader, SegmentMap, WorkerControl};
use crate::job::{kind, status};
use crate::launch::Spec;
use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use zeroproc_codec::envelope::{self, Encode, Header};
use zeroproc_ring::spsc::{Producer, Ring};
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
}

/// What a trampoline sees: the job's envelope and where its completion goes.
pub(crate) struct JobCtx<'a> {
    /// The job record: envelope header + archived arguments.
    pub input: &'a [u8],
    sink: Sink<'a>,
    job_id: u64,
}

enum Sink<'a> {
    /// Completions go to the completion ring.
    Ring { out: &'a mut Producer, bytes: usize },
    /// Completions are only recorded (the initializer).
    Local { status: Option<(u32, String)> },
}

impl JobCtx<'_> {
    /// Completes the job with `value` (status OK).
    pub fn complete_ok<R: Encode>(&mut self, value: &R) {
        let job_id = self.job_id;
        let Sink::Ring { out, bytes } = &mut self.sink else {
            self.sink = Sink::Local { status: Some((status::OK, String::new())) };
            return;
        };
        let max = out.max_payload();
        let mut size = 256.min(max);
        loop {
            let Ok(mut r) = out.reserve(size) else { std::process::exit(exit::ORPHAN) };
            match envelope::encode_into(&mut r, Header::new(job_id, 0), value) {
                Ok(n) => {
                    r.truncate(n);
                    r.set_kind(status::OK);
                    r.set_tag(job_id);
                    r.commit();
                    *bytes += n;
                    return;
                }
                Err(envelope::EncodeError::TooLarge { .. }) if size < max => size = max,
                // The unfinished reservation is abandoned (never committed).
                Err(e) => return self.complete_msg(status::BAD_RESULT, &e.to_string()),
            }
        }
    }

    /// Completes the job with a status other than OK and a message.
    pub fn complete_msg(&mut self, st: u32, msg: &str) {
        let job_id = self.job_id;
        match &mut self.sink {
            Sink::Ring { out, bytes } => {
                let m = &msg.as_bytes()[..msg.len().min(out.max_payload())];
                let Ok(mut r) = out.reserve(m.len()) else { std::process::exit(exit::ORPHAN) };
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
fn quiet_panics() {
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

/// The message of a caught panic (with its location when the hook recorded it).
pub(crate) fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    PANIC.with(|c| c.borrow_mut().take()).unwrap_or_else(|| payload_str(&*p))
}

/// Reads `(fn_id, job_id)` from an envelope header (layout in zeroproc-codec's envelope).
fn peek(bytes: &[u8]) -> Option<(u32, u64)> {
    if bytes.len() < envelope::HEADER_LEN
        || u16::from_le_bytes([bytes[0], bytes[1]]) != envelope::MAGIC
        || bytes[2] != envelope::VERSION
    {
        return None;
    }
    let fn_id = u32::from_le_bytes(bytes[4..8].try_into().ok()?);
    let job_id = u64::from_le_bytes(bytes[8..16].try_into().ok()?);
    Some((fn_id, job_id))
}

/// The worker's life. Never returns.
pub(crate) fn run(spec: &Spec) -> ! {
    // Die with the controller's supervisor thread (the thread that started us).
    // SAFETY: prctl(PR_SET_PDEATHSIG, sig) takes plain integers and has no memory effects.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } as u32 != spec.parent {
        // The controller died before PR_SET_PDEATHSIG took effect.
        std::process::exit(exit::ORPHAN);
    }
    let Ok(seg) = Segment::attach(&spec.segment, control::POOL_LAYOUT) else {
        std::process::exit(exit::ATTACH)
    };
    let seg = Arc::new(seg);
    let Some((header, ctl, map)) = locate(&seg, spec.index) else {
        std::process::exit(exit::ATTACH)
    };
    if crate::fnid::fingerprint() != spec.fingerprint {
        // Release: pairs with the Acquire poll of the starting controller.
        ctl.state.store(state::REFUSED, Ordering::Release);
        std::process::exit(exit::FINGERPRINT);
    }
    if let Some(core) = spec.core {
        core_affinity::set_for_current(core_affinity::CoreId { id: core });
    }
    let rings = Ring::attach(seg.clone(), map.submission(spec.index))
        .and_then(|r| r.consumer())
        .and_then(|rx| {
            let tx = Ring::attach(seg.clone(), map.completion(spec.index))?.producer()?;
            Ok((rx, tx))
        });
    let Ok((rx, mut tx)) = rings else { std::process::exit(exit::ATTACH) };
    let mut rx = rx.with_wait_strategy(spec.strategy);
    tx.set_wait_strategy(spec.strategy);
    // Relaxed: published by the Release store of `state` below.
    ctl.pid.store(std::process::id(), Ordering::Relaxed);
    quiet_panics();
    if let Some(init) = spec.initializer {
        let mut ctx = JobCtx { input: &[], sink: Sink::Local { status: None }, job_id: 0 };
        // SAFETY: the id was made by `fnid::id_of` in the controller, same fingerprint
        // (checked above).
        let t = unsafe { crate::fnid::resolve(init) };
        t(&mut ctx);
        if let Sink::Local { status: Some((st, msg)) } = ctx.sink {
            if st != status::OK {
                eprintln!("zeroproc worker {}: initializer panicked: {msg}", spec.index);
                // Release: pairs with the Acquire poll of the starting controller.
                ctl.state.store(state::INIT_FAILED, Ordering::Release);
                std::process::exit(exit::INIT);
            }
        }
    }
    // Release: pairs with the Acquire poll of the starting controller (pid, claims).
    ctl.state.store(state::READY, Ordering::Release);
    header.completions.notify_all();

    let mut done_here = 0u64;
    let mut idle_from = monotonic_ns();
    loop {
        let Ok(rec) = rx.recv() else { std::process::exit(0) }; // controller gone
        let t0 = monotonic_ns();
        // Relaxed (all statistics): single writer, read as snapshots.
        ctl.idle_ns.fetch_add(t0 - idle_from, Ordering::Relaxed);
        if rec.kind() == kind::STOP {
            std::process::exit(0);
        }
        let job_id = rec.tag();
        ctl.bytes_in.fetch_add(rec.len() as u64, Ordering::Relaxed);
        if ctl.current() == job_id {
            // The previous incarnation died running this job; the controller failed it.
            drop(rec);
            // Release: pairs with the Acquire in `WorkerControl::current`.
            ctl.current.store(0, Ordering::Release);
            idle_from = monotonic_ns();
            continue;
        }
        let mut ctx = JobCtx { input: &rec, sink: Sink::Ring { out: &mut tx, bytes: 0 }, job_id };
        if ctl.is_cancelled(job_id) {
            ctx.complete_msg(status::SKIPPED, "");
        } else {
            match peek(&rec) {
                Some((fn_id, id)) if id == job_id => {
                    // Relaxed: published by the Release store of `current` below.
                    ctl.started_ns.store(t0, Ordering::Relaxed);
                    // Release: pairs with the Acquire in `WorkerControl::current` (the
                    // controller judging a death, a successor skipping this job).
                    ctl.current.store(job_id, Ordering::Release);
                    // SAFETY: ids in submission records are made by `fnid::id_of` in the
                    // controller, whose fingerprint was checked at start-up.
                    let t = unsafe { crate::fnid::resolve(fn_id) };
                    t(&mut ctx);
                }
                _ => ctx.complete_msg(status::BAD_ARGS, "malformed job envelope"),
            }
        }
        let out = match ctx.sink {
            Sink::Ring { bytes, .. } => bytes,
            Sink::Local { .. } => 0,
        };
        // Release: after the completion was committed (see README: accounting).
        ctl.current.store(0, Ordering::Release);
        drop(rec);
        let t1 = monotonic_ns();
        ctl.busy_ns.fetch_add(t1 - t0, Ordering::Relaxed);
        ctl.bytes_out.fetch_add(out as u64, Ordering::Relaxed);
        ctl.jobs_done.fetch_add(1, Ordering::Relaxed);
        header.completions.notify_all();
        done_here += 1;
        if spec.max_jobs.is_some_and(|m| done_here >= m) {
            // Retire without closing the rings (no destructors run): the successor claims
            // them and carries on with the queued jobs.
            std::process::exit(0);
        }
        idle_from = t1;
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
