//! A worker's serve loop and its statistics.

use super::start::Attached;
use super::{escaped, ring_corrupt, JobCtx, Sink};
use crate::control::{monotonic_ns, state, PoolHeader, Start, WorkerControl};
use crate::fntable::Validated;
use crate::job::{kind, status};
use crate::launch::Spec;
use crate::spill::WorkerSpill;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use zeroproc_codec::envelope;
use zeroproc_ring::spsc::{Producer, RecvError};

/// The serve loop: take a job, win its claim, run it, answer; until STOP, the controller
/// is gone, or `max_jobs_per_worker` is reached. Never returns.
pub(super) fn serve(spec: &Spec, w: Attached) -> ! {
    let Attached { header, ctl, claims, mut rx, mut tx } = w;
    let mut st = Local::load(ctl);
    let mut fns = Validated::new();
    let mut spill = WorkerSpill::new(header, ctl);
    let mut unreleased = 0u32;
    let mut done_here = 0u64;
    let mut mark = monotonic_ns(); // start of the current idle or busy period
    let mut idle = true;
    // The controller's count of dropped arrays when this worker last swept its caches.
    let mut swept_drops = 0u64;
    loop {
        // The clock is read only when the worker goes idle or wakes up (and for jobs with
        // a time-out): back-to-back jobs cost no clock reads (two per job were 20 % of a
        // worker's time on tiny jobs, measured with perf).
        if !idle && !rx.is_ready() {
            let now = monotonic_ns();
            st.busy += now - mark;
            st.flush(ctl);
            ctl.busy_since.set(0);
            mark = now;
            idle = true;
        }
        let rec = match rx.recv() {
            Ok(rec) => rec,
            Err(RecvError::Corrupt(c)) => ring_corrupt(state::CORRUPT_SUBMISSION, &c),
            Err(_) => std::process::exit(0), // controller gone
        };
        // The controller dropped arrays since the last look: their descriptors and mappings
        // go now, even for a worker that never idles (a job queued behind a long one).
        // Acquire: pairs with the supervisor's Release store (`publish_drops`).
        let drops = header.array_drops.load(Ordering::Acquire);
        if drops != swept_drops {
            swept_drops = drops;
            sweep_caches();
        }
        if rec.kind() == kind::SWEEP {
            // Only the wake-up for the sweep above (the supervisor stored the new count
            // before committing this record): no job, and the worker stays idle.
            rec.defer_release();
            continue;
        }
        if idle {
            let now = monotonic_ns();
            st.idle += now - mark;
            ctl.busy_since.set(now);
            if now - mark >= SWEEP_AFTER_IDLE_NS {
                sweep_caches();
            }
            mark = now;
            idle = false;
        }
        if rec.kind() == kind::STOP {
            st.flush(ctl);
            ctl.busy_since.set(0);
            finish_before_exit(ctl);
            std::process::exit(0);
        }
        let job_id = rec.tag();
        st.bytes_in += rec.len() as u64;
        // A job with a time-out gets its start time before it is published as `current`
        // (`start_job`), so the supervisor never pairs it with a stale one.
        let head = envelope::Header::read(&rec).ok().filter(|h| h.job_id == job_id);
        if head.as_ref().is_some_and(|h| h.flags & crate::job::FLAG_TIMED != 0) {
            // Relaxed: published by the Release store of `current` in `start_job`.
            ctl.started_ns.store(monotonic_ns(), Ordering::Relaxed);
        }
        // Run it only if we win its claim word (claim.rs): a job the controller revoked
        // (moved to an idle worker, or cancelled), or one a predecessor of ours claimed
        // before dying, is skipped without an answer.
        if let Start::Skip { go_on } = ctl.start_job(claims, job_id) {
            if !go_on {
                ctl.wait_for_kill();
            }
            rec.defer_release();
            continue;
        }
        st.bytes_out +=
            run_job(&rec, head, job_id, &mut tx, &mut spill, &mut fns, header, ctl) as u64;
        // A copy forked by the job that got here without answering leaves too.
        super::leave_if_forked();
        // After the completion was committed: `current` cleared, and no further job is
        // claimed while a kill aimed at the finished one is on its way.
        ctl.finish_job();
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
            ctl.busy_since.set(0);
            // Give the consumed records back first: a submitter may be waiting for room.
            rx.release();
            // The pools and `Process` children the jobs left are joined first, as at a STOP
            // (Python's worker that reached `max_tasks_per_child` joins its non-daemon
            // children at its exit, and the executor joins it). Before (review32b), `exit`
            // joined them within the 200 ms grace RETIRING starts: the SIGKILL cut the join
            // short and a job's child ran on alone. While JOINING the supervisor neither
            // kills it nor waits for it with the queued jobs (not READY: they move).
            join_what_jobs_left(ctl);
            // Say so before `exit`, which runs whatever a job registered (`atexit`, static
            // destructors) and may never return: the supervisor kills a retiring worker
            // that lingers, as one asked to stop. Release: pairs with its Acquire load
            // (`supervisor::note_retiring`); the records released above come first.
            ctl.state.store(state::RETIRING, Ordering::Release);
            // Retire without closing the rings (no destructors run): the successor claims
            // them and carries on with the queued jobs.
            std::process::exit(0);
        }
    }
}

/// At a shutdown's STOP: what `exit` would do with the pools and `Process` children the
/// jobs left (the hooks of `pool/live.rs` and `process/orphans.rs`), done first and said
/// (`state::JOINING`), so that the supervisor waits for it rather than SIGKILLing the
/// worker 200 ms after its STOP — in the middle of that join, which left a job's child
/// running alone after the program had exited (harness32;
/// `tests/exit_without_main.rs`). Python's worker joins its non-daemon children at its
/// exit, and `shutdown(wait=True)` joins the worker. What `exit` runs after this (handlers
/// a job registered) still has the 200 ms grace.
fn finish_before_exit(ctl: &WorkerControl) {
    join_what_jobs_left(ctl);
    // Release: pairs with the supervisor's Acquire load (`stop_lingering`).
    ctl.state.store(state::READY, Ordering::Release);
}

/// Says JOINING, then shuts down the pools and joins the `Process` children the jobs left
/// (the callers store the next state: READY at a STOP, RETIRING at a retirement).
fn join_what_jobs_left(ctl: &WorkerControl) {
    // Release: pairs with the supervisor's Acquire loads (`stop_lingering`,
    // `note_retiring`, `check_stuck`): it is neither READY nor RETIRING meanwhile.
    ctl.state.store(state::JOINING, Ordering::Release);
    crate::pool::shutdown_live_pools();
    crate::process::finish_children();
}

/// A worker idle this long sweeps its caches of attached segments before its next job.
const SWEEP_AFTER_IDLE_NS: u64 = 1_000_000;

/// Unmaps and closes the arrays, channels and containers this worker attached whose owners have
/// dropped them (and that no guard still uses). An attach sweeps too, but a worker whose
/// jobs attach nothing more kept every dropped array's descriptor and mapping: after
/// reading 1,017 arrays, all dropped, its jobs failed to open files under `ulimit -n`
/// 1024 (hpc29). Only after an idle spell: back-to-back jobs (a round trip is well under
/// a microsecond) take no lock, and the owner's drops come between a batch of jobs and
/// the next.
#[cold]
fn sweep_caches() {
    zeroproc_mp::shared::cache::evict_unused();
    // Arrays a job made and dropped while another process still used them.
    zeroproc_mp::shared::cache::free_pending();
    zeroproc_mp::channel::cache::evict_unused();
    // Dicts, lists and namespaces too: before mpsem31 a dropped 200 MiB dict a job had
    // read stayed in memory until a job attached another container.
    zeroproc_mp::container::evict_unused();
}

/// Runs one claimed job (`rec`, id `job_id`) and commits its completion; returns the
/// completion record's payload bytes. A record it cannot run is answered with an error
/// status (the controller fails its future). `ctl`: the worker's block, whose
/// `hand_back` word the job may read.
#[inline]
#[allow(clippy::too_many_arguments)] // the serving loop's state, passed apart to borrow apart
fn run_job(
    rec: &[u8],
    head: Option<envelope::Header>,
    job_id: u64,
    tx: &mut Producer,
    spill: &mut WorkerSpill,
    fns: &mut Validated,
    header: &PoolHeader,
    ctl: &WorkerControl,
) -> usize {
    let mut ctx = JobCtx {
        input: rec,
        sink: Sink::Ring { out: tx, bytes: 0 },
        job_id,
        spill: Some(spill),
        ctl: Some(ctl),
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
    // `head`: the record's envelope header, if it names `job_id` (read by `serve`).
    match head.map(|h| h.fn_id) {
        Some(fn_id) if !fns.contains(&header.fns, fn_id) => {
            let msg = format!(
                "unknown function id {fn_id:#x}: not in the pool's function table \
                 (nothing was called)"
            );
            answer_only(&mut ctx, status::BAD_ARGS, &msg);
        }
        Some(fn_id) => {
            // (`current` and the start time were published before the claim: `serve`.)
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
    match ctx.sink {
        Sink::Ring { bytes, .. } => bytes,
        Sink::Local { .. } => 0,
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
        // This process is the only writer now; a dead predecessor's values are read
        // after its exit.
        Local {
            jobs: c.jobs_done.get(),
            busy: c.busy_ns.get(),
            idle: c.idle_ns.get(),
            bytes_in: c.bytes_in.get(),
            bytes_out: c.bytes_out.get(),
        }
    }

    /// Per job: counters only (no clock).
    #[inline]
    fn flush_counts(&self, c: &WorkerControl) {
        c.jobs_done.set(self.jobs);
        c.bytes_in.set(self.bytes_in);
        c.bytes_out.set(self.bytes_out);
    }

    /// At period boundaries: everything.
    fn flush(&self, c: &WorkerControl) {
        self.flush_counts(c);
        c.busy_ns.set(self.busy);
        c.idle_ns.set(self.idle);
    }
}
