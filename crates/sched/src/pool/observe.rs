//! Watching a pool from another process, read-only (`zeroproc top`).
//!
//! [`PoolObserver::attach`] maps a running pool's segment with
//! [`SegmentView`](zeroproc_shm::SegmentView) (`PROT_READ`, header, owner and layout
//! checked) and [`PoolObserver::snapshot`] reads every worker's counters with Relaxed
//! loads. The observer registers nowhere and writes nothing: the pool cannot tell it is
//! watched, and cannot be disturbed by it.
//!
//! What a snapshot shows comes from three writers: the worker (jobs, busy/idle time,
//! bytes, the job it runs — the same counters as [`Pool::stats`](super::Pool::stats)),
//! and the controller's supervisor, which publishes each slot's queue depth (jobs owed)
//! and respawn count, and the length of the `submit` backlog, at every 5 ms tick
//! ([`publish`]).

use super::core::{Core, Shared};
use crate::control::{monotonic_ns, state, PoolHeader, SegmentMap, WorkerControl, POOL_LAYOUT};
use std::sync::atomic::Ordering;
use std::time::Duration;
use zeroproc_shm::{AttachError, SegmentId, SegmentView};

/// Attaching an observer failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ObserveError {
    /// The segment could not be mapped (gone, another user's, another zeroproc version:
    /// [`AttachError::Layout`]).
    Attach(AttachError),
    /// The segment's geometry does not fit its length.
    Malformed,
}

impl std::fmt::Display for ObserveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObserveError::Attach(e) => write!(f, "cannot attach the pool segment: {e}"),
            ObserveError::Malformed => write!(f, "the pool segment's geometry is inconsistent"),
        }
    }
}

impl std::error::Error for ObserveError {}

/// One worker slot at one instant, read from shared memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSnapshot {
    /// Slot index.
    pub index: usize,
    /// Pid of the slot's latest incarnation (0 before its first start).
    pub pid: u32,
    /// It finished its handshake and serves jobs (false while (re)starting).
    pub ready: bool,
    /// Id of the job it is running, 0 when idle.
    pub running: u64,
    /// Jobs completed (all incarnations).
    pub jobs_done: u64,
    /// Time spent running jobs, including the current busy period.
    pub busy: Duration,
    /// Time spent waiting for jobs, up to the worker's latest busy/idle boundary.
    pub idle: Duration,
    /// Job bytes read from its submission ring.
    pub bytes_in: u64,
    /// Result bytes written to its completion ring.
    pub bytes_out: u64,
    /// Jobs queued on it or running (as of the supervisor's latest tick).
    pub owed: u64,
    /// Times the slot's worker was replaced.
    pub respawns: u64,
}

/// Every worker slot of a pool at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSnapshot {
    /// CLOCK_MONOTONIC nanoseconds when it was taken (compare two snapshots for rates).
    pub at_ns: u64,
    /// Per worker slot.
    pub workers: Vec<WorkerSnapshot>,
    /// Jobs `submit` accepted that wait on the controller for room (as of the supervisor's
    /// latest tick; [`PoolStats::backlog`](super::PoolStats::backlog)).
    pub backlog: u64,
}

impl PoolSnapshot {
    /// Jobs completed by all workers.
    pub fn jobs_done(&self) -> u64 {
        self.workers.iter().map(|w| w.jobs_done).sum()
    }
}

/// A read-only attachment to a running pool's shared segment.
///
/// ```
/// zeroproc_sched::init();
/// use zeroproc_sched::{Pool, PoolObserver};
/// let pool = Pool::builder().workers(2).build()?;
/// pool.submit(|x: u64| x + 1, 1).result().unwrap();
/// let view = PoolObserver::attach(pool.segment_id()).unwrap();
/// // The worker counts a job just after it publishes the result: wait for the count.
/// let t = std::time::Instant::now();
/// while view.snapshot().jobs_done() < 1 && t.elapsed().as_secs() < 10 {
///     std::thread::yield_now();
/// }
/// assert_eq!(view.snapshot().jobs_done(), 1);
/// # Ok::<(), zeroproc_sched::BuildError>(())
/// ```
#[derive(Debug)]
pub struct PoolObserver {
    view: SegmentView,
    header: *const PoolHeader,
    controls: Vec<*const WorkerControl>,
}

// SAFETY: the pointers point into `view`'s mapping, which lives as long as `self`; the
// pointees are atomics read with Relaxed loads only, from any thread.
unsafe impl Send for PoolObserver {}
// SAFETY: as above.
unsafe impl Sync for PoolObserver {}

impl PoolObserver {
    /// Maps the pool segment `segment` read-only (see the module docs).
    pub fn attach(segment: &SegmentId) -> Result<PoolObserver, ObserveError> {
        let view = SegmentView::attach(segment, POOL_LAYOUT).map_err(ObserveError::Attach)?;
        let header = view.resolve(SegmentMap::header_offset(), 1).map_err(|_| malformed())?;
        // SAFETY: in bounds and aligned (resolve); `PoolHeader` is all atomics and arrays
        // of atomics, valid for any bits; read with Relaxed loads only.
        let h: &PoolHeader = unsafe { &*header };
        // Relaxed (both): written once before the segment was published READY, which
        // `SegmentView::attach` checked (Relaxed load + Acquire fence).
        let workers = h.workers.load(Ordering::Relaxed) as usize;
        let cap = h.ring_capacity.load(Ordering::Relaxed) as usize;
        let map = SegmentMap::new(workers, cap).ok_or_else(malformed)?;
        if map.data_len() + zeroproc_shm::HEADER_SIZE > view.len() {
            return Err(malformed());
        }
        let controls = (0..workers)
            .map(|w| view.resolve(map.control(w), 1).map_err(|_| malformed()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PoolObserver { view, header, controls })
    }

    /// Number of worker slots.
    pub fn workers(&self) -> usize {
        self.controls.len()
    }

    /// The segment this observer maps.
    pub fn segment_id(&self) -> &SegmentId {
        self.view.id()
    }

    /// Reads every worker slot's counters now. Each counter is exact; the set is not one
    /// atomic cut (counters move while they are read).
    pub fn snapshot(&self) -> PoolSnapshot {
        let at_ns = monotonic_ns();
        let workers = self
            .controls
            .iter()
            .enumerate()
            .map(|(index, &c)| {
                // SAFETY: resolved in bounds and aligned at attach, mapped while `self`
                // lives; all-atomic type; Relaxed loads only (read-only mapping).
                let c = unsafe { &*c };
                read_worker(index, c, at_ns)
            })
            .collect();
        // SAFETY: resolved in bounds and aligned at attach, mapped while `self` lives;
        // all-atomic type; Relaxed loads only (read-only mapping).
        let backlog = unsafe { &*self.header }.backlog.get();
        PoolSnapshot { at_ns, workers, backlog }
    }
}

fn malformed() -> ObserveError {
    ObserveError::Malformed
}

/// One control block, with Relaxed loads only (a read-only mapping allows nothing else).
fn read_worker(index: usize, c: &WorkerControl, now: u64) -> WorkerSnapshot {
    let busy_since = c.busy_since.get();
    let open = if busy_since != 0 { now.saturating_sub(busy_since) } else { 0 };
    // Relaxed (pid, state, current): shown as they are; nothing is read through them.
    WorkerSnapshot {
        index,
        pid: c.pid.load(Ordering::Relaxed),
        ready: c.state.load(Ordering::Relaxed) == state::READY,
        running: c.current.load(Ordering::Relaxed),
        jobs_done: c.jobs_done.get(),
        busy: Duration::from_nanos(c.busy_ns.get().saturating_add(open)),
        idle: Duration::from_nanos(c.idle_ns.get()),
        bytes_in: c.bytes_in.get(),
        bytes_out: c.bytes_out.get(),
        owed: c.observed.owed.get(),
        respawns: c.observed.respawns.get(),
    }
}

/// Publishes the controller-side figures of every slot, and the backlog's length
/// (supervisor tick, under the pool lock).
pub(crate) fn publish(shared: &Shared, core: &Core) {
    shared.header().backlog.set(core.backlog.len() as u64);
    for (w, s) in core.slots.iter().enumerate() {
        let o = &shared.control(w).observed;
        o.owed.set(s.load as u64);
        o.respawns.set(s.respawns);
    }
}
