//! `pool.map(f, items)`: lazy, bounded, ordered (or not), optionally chunked.

use super::core::{Complete, Shared};
use super::locked::{Locked, LockedCell};
use super::submit::{Attempt, Batch};
use super::Pool;
use crate::error::{JobError, Never};
use crate::job::{self, status, Message};
use crate::jobfn::JobFn;
use crate::spill::{decode_owned, SpillHeap};
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroproc_codec::envelope;

#[cfg(test)]
#[path = "map_sink_tests.rs"]
mod sink_tests;

/// Upper bound of the adaptive window, per worker.
const MAX_WINDOW_PER_WORKER: usize = 1024;

/// Upper bound, per worker, of the chunks an ordered map with the adaptive window holds
/// (finished or not) while it waits for a slow oldest chunk: idle workers take chunks past
/// it until this many are held. Python's `map` holds every result; with the window's 1024
/// (what it was until 2026-12-06), four 1 s items 2,500 apart among 10,000 tiny ones took
/// 4.0 s on 2 workers against 2.6 s in CPython 3.11 (user26 `mixed`), each slow item
/// waiting for the one before it.
const MAX_HELD_PER_WORKER: usize = 16 * 1024;

/// Reading the items for one refill for longer than this marks the input as slow (a
/// stream): results then go back to the caller before more items are read.
const SLOW_INPUT: Duration = Duration::from_millis(1);

/// Longest time per item for which `map` batches items automatically ("Automatic
/// batches" below): past it, the per-job cost (~0.1–0.3 µs) is a few per cent at most.
const BATCH_BELOW_NS: f64 = 2_000.0;

/// About how long an automatic batch runs: its items' measured time.
const BATCH_TIME_NS: f64 = 16_000.0;

/// Items in an automatic batch at most: the items a worker's death fails with the one
/// that killed it.
const MAX_BATCH: usize = 64;

/// Automatic batches in flight per worker at most ("Automatic batches" below).
const BATCHES_PER_WORKER: usize = 8;

/// Items in an automatic batch ("Automatic batches" below): from the items' measured
/// time (ns per item; `None`, or 2 µs and more: 1, one job per item) and
/// bytes (per item, against the `batch_bytes` a batch's records stay under). Also
/// zeroproc-cluster's rule (`raw::batch_len`).
///
/// ```
/// use zeroproc_sched::raw::batch_len;
/// assert_eq!(batch_len(None, 0, 1 << 16), 1); // not measured yet: one job per item
/// assert_eq!(batch_len(Some(5_000.0), 8, 1 << 16), 1); // 5 µs items: one job each
/// assert_eq!(batch_len(Some(10.0), 8, 1 << 16), 64); // tiny items: 64 a batch
/// assert_eq!(batch_len(Some(10.0), 8 << 10, 1 << 16), 8); // within the bytes
/// ```
pub fn batch_len(item_ns: Option<f64>, item_bytes: u64, batch_bytes: u64) -> usize {
    let by_time = match item_ns {
        Some(ns) if ns < BATCH_BELOW_NS => {
            ((BATCH_TIME_NS / ns.max(1.0)) as usize).clamp(2, MAX_BATCH)
        }
        _ => return 1,
    };
    let by_bytes = batch_bytes / item_bytes.max(1);
    by_time.min(usize::try_from(by_bytes).unwrap_or(usize::MAX)).max(1)
}

/// A finished chunk: its result(s), or the error of the job that held it.
enum Chunk<R> {
    /// `chunk_size(1)`: the job's single result (no `Vec` per item).
    One(R),
    /// A chunk's results in item order.
    Many(Vec<R>),
    /// An automatic batch's outcome and the items it handed back unstarted
    /// (`job::call_batch_handback`), and its result's record bytes (`job::SPILLED` when it
    /// went through the spill heap).
    Batch(job::BatchBack<R>, u64),
}

/// How a sink decodes a successful job's result.
#[derive(Clone, Copy, PartialEq)]
enum Decode {
    One,
    Many,
    Batch,
}

type ChunkOutcome<R> = Result<Chunk<R>, JobError<Never>>;

/// One submitted chunk's place in the sink.
enum Slot<R> {
    /// Submitted, not completed.
    Pending,
    /// Completed.
    Ready(ChunkOutcome<R>),
    /// Handed to the iterator (unordered mode takes out of order).
    Taken,
}

struct SinkInner<R> {
    /// Sequence number of `slots[0]`.
    base: u64,
    slots: VecDeque<Slot<R>>,
    /// Completed sequence numbers in completion order (unordered mode).
    arrived: VecDeque<u64>,
    /// References to this sink given back by resolved jobs, lent to the next ones
    /// ([`Sink::lend`]): no reference-count update per job.
    spares: Vec<Arc<dyn Complete>>,
    /// The map is gone: references given back are dropped (kept, they would keep the
    /// sink alive for ever: each is a reference to the sink from inside it).
    closed: bool,
    /// How results decode, by sequence number: (first sequence number, decode), in
    /// ascending order; a `chunk_size` or `window` set between `next` calls adds one
    /// ([`Map::kind_set`]).
    decodes: Vec<(u64, Decode)>,
    /// Automatic batches whose worker died, the items each had claimed and the results'
    /// envelopes of those it finished (`Complete::died_after`, `partial.rs`), until the
    /// map takes their failure (`Map::died_in`).
    died_after: Vec<(u64, u64, Vec<Vec<u8>>)>,
    /// Automatic batches whose items from the second number on the supervisor took while
    /// an item ran (`Complete::stolen`), until the map places them (`Map::take_stolen`).
    stolen: Vec<(u64, u64)>,
}

impl<R> SinkInner<R> {
    /// How the result of chunk `seq` decodes.
    #[inline]
    fn decode_of(&self, seq: u64) -> Decode {
        let mut d = self.decodes.iter().rev();
        d.find(|&&(from, _)| from <= seq).map_or(Decode::One, |&(_, d)| d)
    }
}

/// Completed chunks, by sequence number, until the iterator takes them. A deque indexed
/// by `seq - base` (no hashing, no per-item allocation for `chunk_size(1)`), guarded by
/// the pool lock, under which completions are drained anyway (`locked.rs`: a mutex of
/// its own cost three atomic read-modify-writes per job).
struct Sink<R> {
    inner: LockedCell<SinkInner<R>>,
    /// Completions stored (a change counter for the waiting iterator). Written only
    /// under the pool lock.
    stored: AtomicU64,
    /// A job of this map lost its worker (automatic batches stop: `Map::unbatch`).
    died: std::sync::atomic::AtomicBool,
    /// Steals stored in `stolen` (a change counter, as `stored`). Written only under the
    /// pool lock.
    steals: AtomicU64,
    ordered: bool,
}

impl<R: Message + Send + 'static> Sink<R> {
    /// A reference for a job's entry in the job table: one given back by a resolved job
    /// if there is one, else a new one.
    fn lend(self: &Arc<Self>, locked: &mut Locked<'_>) -> Arc<dyn Complete> {
        match self.inner.get(locked).spares.pop() {
            Some(d) => d,
            None => self.clone(),
        }
    }

    /// Stores the outcome of chunk `seq` (sequence numbers are dense: the slots of chunks
    /// submitted before it are created as pending).
    fn store(&self, locked: &mut Locked<'_>, seq: u64, v: ChunkOutcome<R>) {
        let g = self.inner.get(locked);
        let Some(i) = seq.checked_sub(g.base) else { return };
        let i = i as usize;
        while g.slots.len() <= i {
            g.slots.push_back(Slot::Pending);
        }
        if let Slot::Pending = g.slots[i] {
            g.slots[i] = Slot::Ready(v);
            if !self.ordered {
                g.arrived.push_back(seq);
            }
        }
        // Release: pairs with the Acquire loads in `Map::take`. Every store runs under the
        // pool lock (the token), so a load and a store make the increment, without a
        // read-modify-write.
        self.stored.store(self.stored.load(Ordering::Relaxed) + 1, Ordering::Release);
    }

    /// Moves every chunk that can be taken now into `out`, in the order the iterator
    /// yields them (ordered: the completed prefix; unordered: completion order): one lock
    /// for a run of results instead of one per result.
    fn take_ready(&self, locked: &mut Locked<'_>, out: &mut VecDeque<(u64, ChunkOutcome<R>)>) {
        let g = self.inner.get(locked);
        if self.ordered {
            // A `Taken` chunk is a handed-back batch's re-placed part, taken out of turn
            // (`take_seq`).
            while let Some(Slot::Ready(..) | Slot::Taken) = g.slots.front() {
                if let Some(Slot::Ready(v)) = g.slots.pop_front() {
                    out.push_back((g.base, v));
                }
                g.base += 1;
            }
            return;
        }
        while let Some(seq) = g.arrived.pop_front() {
            let i = (seq - g.base) as usize;
            match std::mem::replace(&mut g.slots[i], Slot::Taken) {
                Slot::Ready(v) => out.push_back((seq, v)),
                _ => unreachable!("only completed chunks arrive"),
            }
        }
        while matches!(g.slots.front(), Some(Slot::Taken)) {
            g.slots.pop_front();
            g.base += 1;
        }
    }
}

impl<R> Sink<R> {
    /// Takes chunk `seq` out of turn if it is done (an ordered map's re-placed items of a
    /// handed-back batch, `Map::detour`): its slot is left `Taken`.
    #[cold]
    fn take_seq(&self, locked: &mut Locked<'_>, seq: u64) -> Option<ChunkOutcome<R>> {
        let g = self.inner.get(locked);
        let slot = g.slots.get_mut(usize::try_from(seq.checked_sub(g.base)?).ok()?)?;
        match std::mem::replace(slot, Slot::Taken) {
            Slot::Ready(v) => Some(v),
            other => {
                *slot = other;
                None
            }
        }
    }
}

impl<R: Message + Send + 'static> Complete for Sink<R> {
    fn complete(
        &self,
        locked: &mut Locked<'_>,
        seq: u64,
        st: u32,
        bytes: &[u8],
        heap: Option<&SpillHeap>,
    ) -> bool {
        let v = match st {
            status::OK => match self.inner.get(locked).decode_of(seq) {
                Decode::One => decode_owned::<R>(bytes, heap).map(Chunk::One),
                Decode::Many => decode_owned::<Vec<R>>(bytes, heap).map(Chunk::Many),
                Decode::Batch => {
                    let size = match envelope::is_spilled(bytes) {
                        true => job::SPILLED,
                        false => bytes.len() as u64,
                    };
                    decode_owned::<job::BatchBack<R>>(bytes, heap).map(|b| Chunk::Batch(b, size))
                }
            },
            status::PANICKED => {
                let message = String::from_utf8_lossy(bytes).into_owned();
                self.store(locked, seq, Err(JobError::Panicked { message }));
                return false;
            }
            status::SKIPPED => {
                self.store(locked, seq, Err(JobError::Cancelled));
                return false;
            }
            status::TOO_LARGE => {
                let message = String::from_utf8_lossy(bytes).into_owned();
                self.store(locked, seq, Err(JobError::TooLarge { message }));
                return false;
            }
            _ => Err(String::from_utf8_lossy(bytes).into_owned()),
        };
        self.store(locked, seq, v.map_err(|message| JobError::Decode { message }));
        false
    }

    fn fail(&self, locked: &mut Locked<'_>, seq: u64, e: JobError<Never>) -> bool {
        if matches!(e, JobError::WorkerDied { .. } | JobError::StackOverflow) {
            // Relaxed: a hint read at the map's next refill; a late look batches once more.
            self.died.store(true, Ordering::Relaxed);
        }
        self.store(locked, seq, Err(e));
        false
    }

    fn died_after(&self, locked: &mut Locked<'_>, seq: u64, done: u64, kept: Vec<Vec<u8>>) {
        self.inner.get(locked).died_after.push((seq, done, kept));
    }

    fn stolen(&self, locked: &mut Locked<'_>, seq: u64, at: u64) {
        self.inner.get(locked).stolen.push((seq, at));
        // Release: pairs with the Acquire loads in `Map::take` (as `stored`).
        self.steals.store(self.steals.load(Ordering::Relaxed) + 1, Ordering::Release);
    }

    fn give_back(self: Arc<Self>, locked: &mut Locked<'_>) {
        // SAFETY: the pointee lives while any `Arc` of it does; `self` is one, and is either
        // moved into the sink's own list (which lives inside the pointee) or dropped after
        // the last use of `sink`.
        let sink: &Self = unsafe { &*Arc::as_ptr(&self) };
        let g = sink.inner.get(locked);
        if !g.closed {
            g.spares.push(self);
        }
    }

    fn after(&self) {}
}

/// Drains the completion rings and moves what `sink` can hand out now into `ready`,
/// under one acquisition of the pool lock.
fn take_ready<R: Message + Send + 'static>(
    pool: &Pool,
    sink: &Sink<R>,
    ready: &mut VecDeque<(u64, ChunkOutcome<R>)>,
) {
    pool.shared.poll_locked(|core| sink.take_ready(&mut core.key.token(), ready));
}

/// Places one job through `batch`; when every ring is full, publishes the batch, drains
/// and waits (`Shared::dispatch`) until `deadline` at most (the map's time-out: then
/// `Attempt::Full`), then starts a new batch. The time spent waiting for room is added to
/// `waited`.
#[allow(clippy::too_many_arguments)]
fn place<'s, T: Message>(
    shared: &'s Shared,
    batch: &mut Option<Batch<'s>>,
    fn_id: u32,
    args: &T,
    dest: Arc<dyn Complete>,
    seq: u64,
    timeout_ns: u64,
    waited: &mut Duration,
    deadline: Option<Instant>,
) -> Result<(usize, u64), Attempt> {
    let mut dest = Some(dest);
    if let Some(b) = batch.as_mut() {
        match b.try_place(fn_id, args, &mut dest, seq, timeout_ns) {
            Err(Attempt::Full | Attempt::HeapFull) => {}
            r => return r,
        }
    }
    *batch = None; // publish what is staged and release the lock before waiting
    let dest = dest.expect("not placed: still ours");
    let t0 = Instant::now();
    let r = shared.dispatch(fn_id, args, dest, seq, timeout_ns, deadline);
    *waited += t0.elapsed();
    *batch = shared.batch().ok();
    r
}

/// The iterator returned by [`Pool::map`] and [`Pool::map_unordered`]. Jobs are submitted
/// as the iterator is consumed, at most [`window`](Self::window) at a time; each yields
/// `Ok(result)` or the [`JobError`] of the job that held that item (a failed chunk yields
/// its error once per item, so the output has one entry per input — unless a
/// [`timeout`](Self::timeout) ends it early: then one `Err(JobError::Timeout)` and the end,
/// as Python's `map` raises `TimeoutError`). Dropping the iterator before its end, or its
/// time-out, cancels the jobs no worker has started, as Python does when its `map`
/// iterator is closed or times out; jobs already running finish and their results are
/// discarded (with [`cancel_on_drop`](crate::PoolBuilder::cancel_on_drop) they are stopped).
///
/// Each item is a `Result`: `.map(Result::unwrap)` to panic on the first failed job,
/// `.collect::<Result<Vec<_>, _>>()` to stop at it (the jobs not started are then
/// cancelled), or match each one to keep going past failures.
///
/// ```
/// zeroproc_sched::init();
/// use zeroproc_sched::JobError;
/// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
/// let inv = |x: i64| if x == 0 { panic!("1/0") } else { 100 / x };
///
/// let all: Result<Vec<i64>, JobError> = pool.map(inv, [1, 2, 4]).collect();
/// assert_eq!(all, Ok(vec![100, 50, 25]));
///
/// let (ok, failed): (Vec<_>, Vec<_>) = pool.map(inv, [1, 0, 5]).partition(Result::is_ok);
/// assert_eq!((ok.len(), failed.len()), (2, 1));
/// # Ok::<(), zeroproc_sched::BuildError>(())
/// ```
///
/// **Lazy:** nothing is submitted until the iterator is consumed (Python's
/// `Executor.map` submits every item at once): a `pool.map(f, items);` statement runs
/// nothing, and the compiler warns about it:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// zeroproc_sched::init();
/// let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
/// pool.map(|x: u64| x + 1, 0..10); // error: unused `Map` that must be used: ... lazy
/// ```
#[must_use = "a pool's map is lazy: no job runs until it is iterated (`for r in pool.map(..)`, \
              `.collect()`, `.for_each(..)`)"]
pub struct Map<'p, F, I, A, R> {
    pool: &'p Pool,
    items: I,
    /// Items per chunk: as set by [`chunk_size`](Self::chunk_size), or the size of the
    /// next automatic batch.
    chunk: usize,
    /// Items are batched automatically (no `chunk_size` or `window` set, and the pool has
    /// no job time limit or `max_jobs_per_worker` and has a spill heap): "Automatic
    /// batches" below.
    auto: bool,
    /// The items' measured running time (ns per item, recent batches weigh most).
    item_ns: Option<f64>,
    /// The bytes per item of the largest of a batch's argument and result records (a
    /// larger measure counts at once, a smaller one halves it; 0: none measured yet).
    item_bytes: u64,
    /// Bytes an automatic batch's records stay under: half of a ring record, so that
    /// items that each fit one travel batched in one too (0 until the sink is made).
    batch_bytes: u64,
    /// The items of each automatic batch in flight, by sequence number, kept after
    /// placing (where they were dropped before: the same cost, later): the batch's size,
    /// and the items a worker's death in it never started, placed again
    /// ([`died_in`](Self::died_in)).
    kept: std::collections::HashMap<u64, Vec<A>>,
    /// The rest of a finished automatic batch in which an item panicked.
    mixed: std::vec::IntoIter<Result<R, String>>,
    window: usize,
    /// The window grows (up to this) while workers go idle; 0 = fixed window.
    max_window: usize,
    /// Chunks held at most (finished or not) with the adaptive window
    /// ([`MAX_HELD_PER_WORKER`] per worker).
    max_held: usize,
    ordered: bool,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
    /// The time-out is a time limit ([`time_limit`](Self::time_limit)): at it, the chunks
    /// in flight are stopped and the map goes on to yield their outcomes.
    limit: bool,
    /// The time limit struck.
    struck: bool,
    sink: Option<Arc<Sink<R>>>,
    /// Chunks taken from the sink, not yet yielded (in yield order, after `detour`).
    ready: VecDeque<(u64, ChunkOutcome<R>)>,
    /// An ordered map's chunks to yield next, before `ready`'s: the re-placed items of
    /// a batch that handed them back (sequence numbers after every chunk placed before).
    detour: VecDeque<u64>,
    /// Chunks submitted and not yet taken.
    in_flight: usize,
    /// The sink's `steals` last taken (`take_stolen`).
    steals_seen: u64,
    /// Automatic batches the supervisor took items from while they ran, until their
    /// result is taken: where (the items kept for them end there) and, for an ordered
    /// map, the chunks those items were placed again as, yielded right after the batch.
    stolen_from: std::collections::HashMap<u64, (usize, Vec<u64>)>,
    /// `top_up` calls, to space out its looks for idle workers.
    looks: u32,
    /// Time this refill waited for ring room (not reading the input).
    waited: Duration,
    next_seq: u64,
    out: std::vec::IntoIter<R>,
    /// The last chunk, when it holds fewer than `chunk` items: (seq, items).
    tail: Option<(u64, usize)>,
    /// Sizes of the chunks placed before a `chunk_size` set between `next` calls:
    /// (first sequence number after them, their size), in ascending order.
    eras: Vec<(u64, usize)>,
    errors: usize,
    error: Option<JobError<Never>>,
    exhausted: bool,
    /// `progress()`: the bar advanced per result.
    progress: Option<super::progress::Progress>,
    _f: PhantomData<fn(A) -> F>,
}

impl<'p, F, I, A, R> Map<'p, F, I, A, R>
where
    F: JobFn<A, R>,
    I: Iterator<Item = A>,
    A: Message,
    R: Message + Send + 'static,
{
    pub(crate) fn new(pool: &'p Pool, _f: F, items: I, ordered: bool) -> Self {
        Map {
            pool,
            items,
            chunk: 1,
            auto: pool.batching,
            item_ns: None,
            item_bytes: 0,
            batch_bytes: 0,
            kept: std::collections::HashMap::new(),
            mixed: Vec::new().into_iter(),
            window: pool.window.unwrap_or(2 * pool.workers()),
            max_window: if pool.window.is_some() {
                0
            } else {
                MAX_WINDOW_PER_WORKER * pool.workers()
            },
            max_held: MAX_HELD_PER_WORKER * pool.workers(),
            ordered,
            deadline: None,
            timeout: None,
            limit: false,
            struck: false,
            sink: None,
            ready: VecDeque::new(),
            detour: VecDeque::new(),
            in_flight: 0,
            steals_seen: 0,
            stolen_from: std::collections::HashMap::new(),
            looks: 0,
            waited: Duration::ZERO,
            next_seq: 0,
            out: Vec::new().into_iter(),
            tail: None,
            eras: Vec::new(),
            errors: 0,
            error: None,
            exhausted: false,
            progress: None,
            _f: PhantomData,
        }
    }

    /// Shows a progress bar on stderr while the results are taken: items done, rate and
    /// ETA (mpire's `progress_bar=True`). Needs the `progress` feature (on by default);
    /// drawn only when stderr is a terminal. The length is the items' `size_hint` when it
    /// is exact, else the bar counts without a total.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let v: Vec<u64> = pool.map(|x: u64| x * 2, 0..1000).progress().map(Result::unwrap).collect();
    /// assert_eq!(v[999], 1998);
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn progress(mut self) -> Self {
        let (lo, hi) = self.items.size_hint();
        let len = (hi == Some(lo)).then_some(lo);
        self.progress = Some(super::progress::Progress::new(len));
        self
    }

    /// Items per job (Python's `chunksize`). Without it, tiny items are batched
    /// automatically (up to 64, [`Pool::map`](super::Pool::map)) and others run one job
    /// each; a set `chunk_size` is kept as set (`chunk_size(1)`: one job per item).
    /// Larger chunks amortise the per-job cost for tiny functions: with jobs of a few
    /// microseconds, chunks of 100–1000 items are the difference between the pool's
    /// per-job overhead and the work itself. Output is still one entry per item; a chunk
    /// that fails yields its error once per item, and a panic fails its whole chunk, as in
    /// Python (an automatic batch fails only the item that panicked).
    /// **Differs:** `chunk_size(0)` is taken as 1, where Python's `map(chunksize=0)` raises
    /// `ValueError` (a setter has no error to return, and a chunk of one item is what a
    /// caller computing `len / n` with a large `n` means).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let sum: u64 = pool.map(|x: u64| x * x, 0..100_000).chunk_size(1000).map(Result::unwrap).sum();
    /// assert_eq!(sum, (0..100_000u64).map(|x| x * x).sum::<u64>());
    /// // 0 is taken as 1 (Python: ValueError).
    /// let v: Vec<u64> = pool.map(|x: u64| x, 0..3).chunk_size(0).map(Result::unwrap).collect();
    /// assert_eq!(v, [0, 1, 2]);
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn chunk_size(mut self, n: usize) -> Self {
        if self.sink.is_some() && !self.auto && self.chunk != n.max(1) {
            // Placed chunks keep their size (automatic batches are in `kept`).
            self.eras.push((self.next_seq, self.chunk));
        }
        self.chunk = n.max(1);
        self.auto = false;
        self.kind_set();
        self
    }

    /// Jobs (chunks) in flight at most. Default (unless the pool's builder set one):
    /// adaptive — it starts at 2 per worker, so long jobs are handed out on demand to
    /// whichever worker is free, and doubles whenever a worker is found idle, up to
    /// 1024 per worker, so tiny jobs keep every worker busy. `window(0)` is taken as 1.
    ///
    /// Over a slow input (a stream, e.g. items from a [`Queue`](zeroproc_mp::Queue)
    /// arriving every 200 ms) each item's job is placed before the next item is read, and
    /// a finished result is handed back before more items are read, as
    /// `multiprocessing.Pool.imap` does with its feeder thread; a result comes back about
    /// one item's arrival after its job is done. Items that arrive quickly are placed in
    /// batches (1, 2, 4, …) that are published together; an item read just before a
    /// read that blocks is already in a worker's ring, published at the pool's next
    /// supervisor tick (≤ 5 ms), so a stream whose next item waits for the *effect* of a
    /// job it gave (jobs feeding the map's own channel) goes on, as with Python's
    /// `Executor.map` (which reads the whole input first) and `Pool.imap` (a feeder
    /// thread). An input whose `size_hint` promises items (a range, a `Vec`) is read a
    /// batch at a time before placing it. The window also bounds memory: a fixed `window(n)` holds at most `n`
    /// chunks' arguments and results at once, whatever the input's length. The adaptive
    /// default counts only unfinished chunks while an ordered map waits for a slow oldest
    /// one, so that idle workers take the items behind it (as Python's `map`, which
    /// submits every item at once, does); the chunks held for order are bounded by
    /// 16,384 per worker (a stream whose oldest item never finishes holds that many
    /// results: set a `window(n)` where results are large).
    ///
    /// **A set window is kept as set**, so an ordered map whose oldest chunk is slow holds
    /// at most `jobs` chunks: once the ones behind it are done, a worker idles until it
    /// finishes (Python's `map` has submitted every item). The adaptive default keeps
    /// placing chunks past a slow oldest one while a worker is idle, holding up to 16,384
    /// chunks per worker; so does [`map_unordered`](super::Pool::map_unordered)
    /// with any window, since it hands results out as they come. (Measured, 2 workers, one
    /// 400 ms item then 59 of 10 ms: adaptive 500–520 ms, as the greedy schedule;
    /// `window(4)` 700–720 ms, `window(16)` 630–660 ms.)
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// // At most 2 jobs in flight: long jobs are handed to whichever worker is free.
    /// let v: Vec<u64> = pool.map(|x: u64| x + 1, 0..10).window(2).map(Result::unwrap).collect();
    /// assert_eq!(v, (1..11).collect::<Vec<_>>());
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn window(mut self, jobs: usize) -> Self {
        self.window = jobs.max(1);
        self.no_batches();
        self.max_window = 0;
        self
    }

    /// Gives up waiting after `d` in total (Python's `timeout`): the iterator then yields
    /// one `Err(JobError::Timeout)` and ends; as in Python, the chunks no worker has
    /// started are cancelled and running ones finish (they are stopped too if the pool
    /// was built with [`cancel_on_drop`](super::PoolBuilder::cancel_on_drop)). **Differs:** the
    /// clock starts at the first `next()` (the map is lazy: nothing is submitted before),
    /// where Python's starts at the `map` call.
    ///
    /// This is [`JobError::Timeout`] (the waiter gave up), not
    /// [`JobError::TimeLimit`] (a job was killed for running too long: see
    /// [`job_time_limit`](super::PoolBuilder::job_time_limit)).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::time::Duration;
    /// use zeroproc_sched::JobError;
    /// // `cancel_on_drop`: the job still running at the time-out is stopped too, so the
    /// // pool's drop does not wait for it.
    /// let pool = zeroproc_sched::Pool::builder().workers(2).cancel_on_drop(true).build()?;
    /// let nap = |ms: u64| { std::thread::sleep(Duration::from_millis(ms)); ms };
    /// let got: Vec<_> = pool.map(nap, [1, 60_000, 1]).timeout(Duration::from_millis(300)).collect();
    /// assert_eq!(got[0], Ok(1));
    /// assert_eq!(got.last(), Some(&Err(JobError::Timeout))); // then the iterator ended
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// A time limit for the whole map (the in-place calls' `time_limit`): once `d` has
    /// passed since the first `next`, no more chunks are placed, the ones no worker has
    /// started are cancelled (`Err(Cancelled)`), and the workers running the others are
    /// killed and replaced (`Err(TimeLimit)`, once each is reaped: nothing of the map runs
    /// after that). Unlike [`timeout`](Self::timeout) the iterator goes on, yielding every
    /// placed chunk's outcome; a chunk whose placement the limit cut short yields
    /// `Err(TimeLimit)`. [`limit_struck`](Self::limit_struck) says whether it struck.
    pub(crate) fn time_limit(mut self, d: Duration) -> Self {
        self.no_batches();
        self.timeout = Some(d);
        self.limit = true;
        self
    }

    /// Whether the [`time_limit`](Self::time_limit) struck: the items not yielded were
    /// never placed.
    pub(crate) fn limit_struck(&self) -> bool {
        self.struck
    }

    /// Ends automatic batches: one job per item from now on.
    fn no_batches(&mut self) {
        if self.auto {
            self.auto = false;
            self.chunk = 1;
            self.kind_set();
        }
    }

    /// How the results of the chunks placed now decode.
    fn decode(&self) -> Decode {
        match (self.auto, self.chunk) {
            (true, _) => Decode::Batch,
            (false, 1) => Decode::One,
            (false, _) => Decode::Many,
        }
    }

    /// A setter may have changed the kind of the jobs placed from now on (after the first
    /// `next`): their results decode as that kind, those in flight as theirs. (Before
    /// review33, `.window(8)` or `.chunk_size(1)` between two `next` calls decoded the
    /// later results as the first kind: 99,992 of 100,000 items `Decode` errors.)
    fn kind_set(&mut self) {
        self.decode_from(self.decode());
    }

    /// The chunks placed from now on decode as `d`.
    fn decode_from(&mut self, d: Decode) {
        let Some(sink) = self.sink.as_ref() else { return };
        let mut core = self.pool.shared.lock();
        let mut locked = core.key.token();
        let g = sink.inner.get(&mut locked);
        if g.decodes.last().map(|&(_, old)| old) != Some(d) {
            g.decodes.push((self.next_seq, d));
        }
    }

    /// The map's sink, made at the first `next` (the time-out's clock starts then).
    fn sink(&mut self) -> &Arc<Sink<R>> {
        let decode = self.decode();
        if self.auto && self.sink.is_none() {
            let core = self.pool.shared.lock();
            let record = core.slots.iter().map(|s| s.tx.max_payload()).min().unwrap_or(0);
            self.batch_bytes = record as u64 / 2;
        }
        self.sink.get_or_insert_with(|| {
            if let Some(t) = self.timeout {
                self.deadline = zeroproc_shm::wait::deadline_after(t);
            }
            let key = self.pool.shared.lock().key.id();
            Arc::new(Sink {
                inner: LockedCell::new(
                    key,
                    SinkInner {
                        base: 0,
                        slots: VecDeque::new(),
                        arrived: VecDeque::new(),
                        spares: Vec::new(),
                        closed: false,
                        decodes: vec![(0, decode)],
                        died_after: Vec::new(),
                        stolen: Vec::new(),
                    },
                ),
                stored: AtomicU64::new(0),
                died: std::sync::atomic::AtomicBool::new(false),
                steals: AtomicU64::new(0),
                ordered: self.ordered,
            })
        })
    }

    /// Submits chunks until the window is full or the items run out. The items are pulled
    /// from the caller's iterator *before* the pool lock is taken (the iterator may itself
    /// use this pool, e.g. a chained map). A chunk that cannot be submitted (arguments not
    /// encodable, pool shut down) gets its error at its own position in the output.
    ///
    /// Chunks are placed in batches of 1, 2, 4, … so that the first one runs while the
    /// next are read: over a slow input (a stream) a job never waits for later items to
    /// arrive, nor for a read that blocks (each chunk of a stream is staged in a ring as
    /// soon as it is read; the supervisor publishes it if the read blocks). Once reading the items (not placing them) has taken longer than
    /// [`SLOW_INPUT`] in this refill, the batches stay at one
    /// chunk and the refill stops as soon as a result can be handed out, so results come
    /// back as they are done instead of after a window of slow items.
    fn top_up(&mut self) {
        self.top_up_counting(self.in_flight);
    }

    /// [`top_up`](Self::top_up), counting `busy` chunks against the window.
    fn top_up_counting(&mut self, busy: usize) {
        if self.exhausted {
            return;
        }
        // Refill only once half the window has drained, then in few batches: one lock
        // acquisition and one publish per worker for many jobs, instead of one job each
        // time a result is taken.
        let refill = busy <= self.window / 2;
        // The look for an idle worker (a try-lock of the pool: two atomic read-modify-
        // writes) is made at each refill and at every 16th result between refills; made
        // at every result it was 4.4 % of a tiny-job map's time (`perf`, 2026-12-06).
        self.looks = self.looks.wrapping_add(1);
        if self.window < self.max_window
            && (refill || self.looks % 16 == 0)
            && self.pool.shared.starved()
        {
            self.window = (self.window * 2).min(self.max_window);
        }
        if busy > self.window / 2 {
            return;
        }
        if self.auto {
            // Relaxed: see `Sink::fail`.
            if self.sink.as_ref().is_some_and(|k| k.died.load(Ordering::Relaxed)) {
                self.unbatch();
            }
            self.chunk = self.batch_len();
        }
        // Automatic batches in flight are bounded apart: a few per worker (each about
        // [`BATCH_TIME_NS`] of work) keep it busy, and the bound is what a worker's death
        // can take with it — the batches placed before the death is seen run as they are
        // (with the window's up to 1,024 jobs a worker, a function aborting on 1 item in
        // 200 failed up to 5,870 of 40,000 items; `map_batches.rs`).
        let window = match self.auto && self.chunk > 1 {
            true => self.window.min(BATCHES_PER_WORKER * self.pool.workers()),
            false => self.window,
        };
        if busy > window / 2 {
            return;
        }
        // Automatic batches are held by items: batches of 64 would hold 64 times the
        // results of single jobs behind a slow oldest one.
        let held = match (self.max_window, self.auto) {
            (0, _) => window,
            (_, true) => self.max_held / self.chunk,
            (_, false) => self.max_held,
        };
        let want = (window - busy).min(held.saturating_sub(self.in_flight));
        if want == 0 {
            return;
        }
        // One reference count per refill (each placed job takes one more).
        let sink = &self.sink.clone().expect("made by `next_item`");
        let fn_id = if self.auto {
            crate::fnid::id_of(job::call_batch_handback::<F, A, R>)
        } else if self.chunk == 1 {
            crate::fnid::id_of(job::call::<F, A, R>)
        } else {
            crate::fnid::id_of(job::call_chunk::<F, A, R>)
        };
        let t0 = Instant::now();
        self.waited = Duration::ZERO;
        let mut batch = 1;
        let mut placed = 0;
        while placed < want && !self.exhausted {
            let n = batch.min(want - placed);
            // Items the input promises (`size_hint`'s lower bound: a range, a `Vec`) are
            // read and then placed under one batch. Other items (a channel, `from_fn`)
            // are placed (staged in a ring) each as soon as it is read, the
            // `n` published together: one wake-up check per worker and batch. An item
            // read just before a read that blocks is thus in a ring, where the supervisor
            // publishes it at its next tick — a stream whose next item waits for the
            // effect of a job it already gave (a job feeding the map's own channel) goes
            // on. Read in batches and placed after, such an item waited unplaced for
            // ever. (Placing each under a lock of its own costs ~35 ns an item: 15 % of a
            // tiny-job map over a filled channel.)
            let sure = (self.items.size_hint().0 / self.chunk).min(n);
            if sure > 0 && self.single() {
                let items: Vec<A> = self.items.by_ref().take(sure).collect();
                self.exhausted = items.len() < sure; // a wrong `size_hint`
                placed += items.len();
                self.place_all(sink, fn_id, items, Self::forget);
            } else if sure > 0 {
                // Read before any is placed: the `k`th chunk gets sequence `next_seq + k`.
                let chunks: Vec<Vec<A>> =
                    (0..sure as u64).map_while(|k| self.read_chunk(k, self.chunk)).collect();
                placed += chunks.len();
                self.place_all(sink, fn_id, chunks, Self::keep_auto);
            }
            let mut staged = false;
            for k in sure..n {
                let job = if self.exhausted {
                    None
                } else if self.single() {
                    let last = k + 1 == n;
                    self.items
                        .next()
                        .map(|item| self.place_one(sink, fn_id, item, last, Self::forget))
                } else {
                    // An automatic batch takes only items the input promises: read ahead to
                    // fill it, a stream whose next item waits for a job's effect (a crawler
                    // feeding its own channel) would hold that job unplaced in the batch
                    // being read, and hang.
                    let len = match self.auto {
                        true => self.items.size_hint().0.clamp(1, self.chunk),
                        false => self.chunk,
                    };
                    self.read_chunk(0, len).map(|chunk| {
                        self.place_one(sink, fn_id, chunk, k + 1 == n, Self::keep_auto)
                    })
                };
                if job.is_none() {
                    self.exhausted = true;
                    break;
                }
                staged = k + 1 < n;
                placed += 1;
            }
            if staged {
                self.publish_staged(); // the input ended, or the pool closed
            }
            // Reading and placing, less the waits for ring room: placing is ~0.1 µs a
            // chunk, so a refill that took [`SLOW_INPUT`] was reading. (Counted, waits
            // for room made a fast input look slow: batches of one, each published.)
            if t0.elapsed().saturating_sub(self.waited) < SLOW_INPUT {
                batch *= 2;
            } else if self.result_waiting(sink) {
                return;
            } else {
                batch = 1;
            }
        }
    }

    /// Chunks placed and not finished (with a fixed `window(n)`: placed and not yet
    /// handed out).
    fn busy(&self) -> usize {
        match (&self.sink, self.max_window) {
            (Some(sink), m) if m != 0 => {
                // Acquire: pairs with the Release store in `Sink::store`; a stale count
                // only delays a refill to the next look.
                let stored = sink.stored.load(Ordering::Acquire);
                (self.next_seq.saturating_sub(stored) as usize).min(self.in_flight)
            }
            _ => self.in_flight,
        }
    }

    /// Reads the next chunk of `len` items (the last one may be shorter); `None` (and
    /// `exhausted`) when no item is left. `ahead`: chunks read before it and not placed
    /// yet (its sequence number is `next_seq + ahead`, kept for a short chunk).
    fn read_chunk(&mut self, ahead: u64, len: usize) -> Option<Vec<A>> {
        let v: Vec<A> = self.items.by_ref().take(len).collect();
        if v.len() < len {
            self.exhausted = true;
            if v.is_empty() {
                return None;
            }
            self.tail = Some((self.next_seq + ahead, v.len()));
        }
        Some(v)
    }

    /// Whether a result can be handed out now (completions drained first).
    #[cold]
    fn result_waiting(&mut self, sink: &Sink<R>) -> bool {
        take_ready(self.pool, sink, &mut self.ready);
        !self.ready.is_empty()
    }

    /// Publishes what [`place_one`](Self::place_one) left staged.
    #[cold]
    fn publish_staged(&self) {
        self.pool.shared.lock().publish_staged();
    }

    /// Places `job` under a batch of its own, leaving it staged unless `publish` (see
    /// [`Batch::keep_staged`]).
    #[inline]
    fn place_one<T: Message>(
        &mut self,
        sink: &Arc<Sink<R>>,
        fn_id: u32,
        job: T,
        publish: bool,
        keep: fn(&mut Self, u64, T),
    ) {
        let mut batch = self.pool.shared.batch().ok();
        let seq = self.next_seq;
        self.place_in(&mut batch, sink, fn_id, &job);
        keep(self, seq, job);
        if let Some(b) = batch {
            if !publish {
                b.keep_staged();
            }
        }
    }

    /// Places `jobs` under one batch, published at its end; `keep` is given each placed
    /// job and its sequence number.
    fn place_all<T: Message>(
        &mut self,
        sink: &Arc<Sink<R>>,
        fn_id: u32,
        jobs: Vec<T>,
        keep: fn(&mut Self, u64, T),
    ) {
        let mut batch = self.pool.shared.batch().ok();
        for job in jobs {
            let seq = self.next_seq;
            self.place_in(&mut batch, sink, fn_id, &job);
            keep(self, seq, job);
        }
    }

    /// A placed job's argument, not kept.
    #[inline]
    fn forget<T>(&mut self, _seq: u64, _job: T) {}

    /// A placed chunk's items, kept if it is an automatic batch.
    #[inline]
    fn keep_auto(&mut self, seq: u64, chunk: Vec<A>) {
        if self.auto {
            self.kept.insert(seq, chunk);
        }
    }

    /// A placed automatic batch's items, kept.
    fn keep_batch(&mut self, seq: u64, chunk: Vec<A>) {
        self.kept.insert(seq, chunk);
    }

    /// Places `job` through `batch`, taking the next sequence number. A job that cannot
    /// be placed gets its error at its own position in the output.
    #[inline]
    fn place_in<'s, T: Message>(
        &mut self,
        batch: &mut Option<Batch<'s>>,
        sink: &Arc<Sink<R>>,
        fn_id: u32,
        job: &T,
    ) where
        'p: 's,
    {
        let shared: &'s Shared = &self.pool.shared;
        let t = self.pool.timeout_ns();
        let seq = self.next_seq;
        let dest = match batch.as_mut() {
            Some(b) => sink.lend(&mut b.locked()),
            None => sink.clone(),
        };
        let deadline = self.deadline;
        let failed =
            match place(shared, batch, fn_id, job, dest, seq, t, &mut self.waited, deadline) {
                Ok(_) => None,
                Err(Attempt::Encode(message)) => Some(JobError::Decode { message }),
                Err(Attempt::TooLarge(message)) => Some(JobError::TooLarge { message }),
                Err(Attempt::NoWorkers | Attempt::Corrupt) => Some(JobError::NoWorkers),
                Err(Attempt::Closed) => {
                    // The pool is shut down: read no more input, so the map ends after the
                    // chunks read already (each `Err(Shutdown)`), as Python's `map` raises
                    // `RuntimeError` once. Before, every further item was read and yielded
                    // `Err(Shutdown)`: an endless input never ended.
                    self.exhausted = true;
                    Some(JobError::Shutdown)
                }
                Err(Attempt::Full | Attempt::HeapFull) => {
                    // The map's time-out struck while this waited for room (`dispatch` returns
                    // `Full` only past a deadline): read no more input; the map yields its
                    // `Timeout` once it reaches a chunk that is not done. Before, the wait
                    // for room had no deadline: behind slow items 600 apart (3 s each) a
                    // 500 ms time-out struck after 24 s (user26 `map_timeout_overshoot`).
                    self.exhausted = true;
                    Some(JobError::Timeout)
                }
            };
        if let Some(e) = failed {
            // Under the pool lock: the batch's, or taken for this (rare) store.
            match batch.as_mut() {
                Some(b) => sink.store(&mut b.locked(), seq, Err(e)),
                None => sink.store(&mut shared.lock().key.token(), seq, Err(e)),
            }
        }
        self.in_flight += 1;
        self.next_seq += 1;
    }

    /// One job per item, its argument the item itself (not a `Vec`).
    #[inline]
    fn single(&self) -> bool {
        !self.auto && self.chunk == 1
    }

    // Automatic batches. Python's `Executor.map` sends one job per item unless given a
    // `chunksize`; `multiprocessing.Pool.map` picks a chunk size itself, and joblib sizes
    // its batches by their measured time. Here a map with neither `chunk_size` nor
    // `window` set (on a pool without a job time limit or `max_jobs_per_worker`, whose
    // unit is the job) runs each item as a job of its own while items take 2 µs or more
    // (or are not measured yet: the first ones), and batches them once they are
    // measured faster: a batch runs about 16 µs of items, at most 64 items
    // (`job::call_batch`, which times its items and catches each item's panic apart).
    // What a batch changes for its items: a panic still fails only its own item; a
    // worker's *death* (abort, segfault, SIGKILL) fails only the item it died in: the
    // items of its batch that finished before it yield the results the worker kept in its
    // partial-results area (`partial.rs`); those after it never started and are placed
    // again (`died_in`: the worker publishes the items it has claimed,
    // `WorkerControl::batch_claim`, one store per item, and the finished items' results,
    // `WorkerControl::partial`, which the supervisor reads once it has reaped it and
    // hands the sink, `Complete::died_after`, before the batch fails; the map kept the
    // batch's items, `kept`, instead of dropping them at placement);
    // a batch is one job for balancing, cancelling and `stats()`. (Measured gain:
    // docs/performance.md, "Automatic batches".)
    //
    // Handback (`job::call_batch_handback`): items measured tiny may stop being tiny (a
    // burst of 1–50 ms items after many tiny ones lands in batches of 64 sized for the
    // tiny ones: one worker ran them all while the other idled). The supervisor asks a job
    // it finds running at two ticks in a row (it has run 5 ms or more, hundreds of times
    // a batch's intended 16 µs) to hand back (`WorkerControl::hand_back`, a word in the
    // worker's control block); a batch looks at that word before each item (one load:
    // reading a clock every 8 items instead cost 22 % of a tiny-item map's rate, every 16
    // items 10 %, and ran up to 16 slow items before looking), stops, and hands the items
    // it has not started back in its result. The map places them again as new batches
    // sized by the measure that batch gives (its time over the items it ran: slow items
    // go one a job), and an ordered map yields them right after that batch's results
    // (`detour`), before the chunks placed after it. An item that started is never handed
    // back (at most once: the batch alone decides, the word is only a request). How they
    // come back: the worker deserializes them from the batch's record and encodes them
    // again into its result (`job::BatchBack`, an envelope of bytes decoded on the map's
    // thread: the sink decodes results on whichever thread drains completions, and items
    // need not be `Send`). Decided first, when the map dropped a batch's items once
    // placed; the cluster's map, which shares the worker side, still keeps no copy (its
    // records are encoded for a node, not a ring). This map now keeps its batches' items
    // (`kept`, for deaths) and places the unstarted ones again from there (`place_again`):
    // the copies read back from the result own nothing, so a `SharedValue` (or a
    // channel's handle) in them did not keep its value for the job placed again (review35:
    // "not reachable"). The result's copy is read only without them.
    //
    // Steal (`steal.rs`): a handback waits for the item running to end, so one slow item
    // held the items after it in its batch. When the supervisor asks, it also takes them
    // at once if it can prove the worker will not start them (a membarrier handshake on
    // the worker's claim word): it tells the sink (`Complete::stolen`), which wakes the
    // map's thread; `take_stolen` cuts the batch's `kept` items there and places the rest
    // again (an ordered map yields them right after the batch: `stolen_from`). The batch's
    // result then covers at most the items kept (it stopped at the first taken item or the
    // one before it, which its result hands back as usual); a steal told after the
    // result was taken is dropped (that result handed the same items back). What remains:
    // the batch-mates that ran before the slow item come back with it.

    /// A job of the map lost its worker (`Sink::fail` saw it, at the drain that reaped
    /// the worker): the rest of the map runs one job per item, so that a function that
    /// kills its worker now and then fails only those items (before: one item in 200
    /// aborting failed 11,007 of 40,000 items, a batch each; `map_batches.rs`). The
    /// batches already placed run as they are.
    #[cold]
    fn unbatch(&mut self) {
        self.item_ns = Some(f64::INFINITY);
    }

    /// Items in the next automatic batch, from the items' measured time (1 for ever after
    /// [`unbatch`](Self::unbatch)) and bytes: a batch stays within
    /// [`batch_bytes`](Self::batch_bytes), so that items that each fit a ring record do
    /// not go through the spill heap batched, or fail there when a batch is larger than
    /// the whole heap (before review33: 20 KiB results under a 1 MiB heap).
    #[inline]
    fn batch_len(&self) -> usize {
        batch_len(self.item_ns, self.item_bytes, self.batch_bytes)
    }

    /// A batch of `n` items had argument and result records of `arg` and `res` bytes
    /// (`job::SPILLED`: larger than a ring record).
    fn measured_bytes(&mut self, arg: u64, res: u64, n: usize) {
        let record = 2 * self.batch_bytes;
        let per_item = |b: u64| match b {
            job::SPILLED => (record / n.max(1) as u64).saturating_add(1),
            b => b.div_ceil(n.max(1) as u64),
        };
        self.item_bytes = per_item(arg).max(per_item(res)).max(self.item_bytes / 2);
    }

    /// A batch of `n` items ran for `ns` in all.
    fn measured(&mut self, ns: u64, n: usize) {
        if self.item_ns == Some(f64::INFINITY) {
            return; // unbatched for good
        }
        let x = ns as f64 / n.max(1) as f64;
        self.item_ns = Some(match self.item_ns {
            None => x,
            Some(old) => 0.5 * old + 0.5 * x,
        });
    }

    /// Places again the items a batch of `n` handed back unstarted (those after the `ran`
    /// it ran), as automatic batches sized by the measure its run just gave (one item
    /// each, when they ran slow); an ordered map yields them next (`detour`), before the
    /// chunks placed after that batch. The items are the batch's own, `kept` at placing:
    /// those read back from the worker's result (`back`, used only without them) are
    /// copies that own nothing — a `SharedValue` in them did not keep its value (released
    /// once the batch was taken: the re-placed items failed "not reachable"), a channel
    /// end was not pinned for its job.
    #[cold]
    fn place_again(&mut self, kept: Option<Vec<A>>, back: &[u8], ran: usize, n: usize) {
        if let Some(mut items) = kept.filter(|k| k.len() == n) {
            return self.place_items_next(items.split_off(ran));
        }
        let n = n - ran;
        match super::raw::decode_handed_back::<A>(back) {
            Ok(v) if v.len() == n => self.place_items_next(v),
            Ok(v) => self.lost_back(format!("{} of {n} items handed back", v.len()), n),
            Err(message) => self.lost_back(message, n),
        }
    }

    /// Places `items` (of a batch that handed them back, or died before them) again, as
    /// automatic batches sized by the latest measure; an ordered map yields them next.
    fn place_items_next(&mut self, back: Vec<A>) {
        let seqs = self.place_items(back);
        self.detour_next(seqs);
    }

    /// An ordered map yields chunks `seqs` next, before the rest of the detour (a
    /// detour's chunk may hand items back too) and the chunks placed before them.
    fn detour_next(&mut self, seqs: std::ops::Range<u64>) {
        if self.ordered {
            seqs.rev().for_each(|seq| self.detour.push_front(seq));
        }
    }

    /// Places `items` again as automatic batches sized by the latest measure: their
    /// sequence numbers.
    fn place_items(&mut self, back: Vec<A>) -> std::ops::Range<u64> {
        let sink = self.sink.clone().expect("made by `next_item`");
        let kind = self.decode();
        if kind != Decode::Batch {
            self.decode_from(Decode::Batch); // a `chunk_size` was set since
        }
        let len = self.batch_len();
        let mut items = back.into_iter().peekable();
        let mut chunks = Vec::new();
        while items.peek().is_some() {
            chunks.push(items.by_ref().take(len).collect::<Vec<A>>());
        }
        let first = self.next_seq;
        let fn_id = crate::fnid::id_of(job::call_batch_handback::<F, A, R>);
        self.place_all(&sink, fn_id, chunks, Self::keep_batch);
        if kind != Decode::Batch {
            self.decode_from(kind);
        }
        first..self.next_seq
    }

    /// Places the items the supervisor took from running batches (`steal.rs`, told to
    /// the sink by `Complete::stolen`): the batch keeps the items before the one taken
    /// first, and the rest are placed now; an ordered map yields them right after the
    /// batch (`stolen_from`). A steal of a batch whose result was taken already is
    /// dropped: that result handed the same items back, placed then (`place_again`).
    #[cold]
    fn take_stolen(&mut self, now: u64) {
        self.steals_seen = now;
        let Some(sink) = self.sink.as_ref() else { return };
        if self.struck {
            return; // nothing is placed after a time limit: the batches fail whole
        }
        let list = {
            let mut core = self.pool.shared.lock();
            std::mem::take(&mut sink.inner.get(&mut core.key.token()).stolen)
        };
        for (seq, at) in list {
            let at = usize::try_from(at).unwrap_or(usize::MAX);
            let Some(items) = self.kept.get_mut(&seq).filter(|k| at < k.len()) else { continue };
            let rest = items.split_off(at);
            let seqs = self.place_items(rest);
            let later = if self.ordered { seqs.collect() } else { Vec::new() };
            self.stolen_from.insert(seq, (at, later));
        }
    }

    /// Automatic batch `seq` (its `kept` items, `n` of them) lost its worker: the items
    /// it finished before the one it died in yield their results, which the worker kept
    /// in its partial-results area (`partial.rs`; queued in `out`); the items after the
    /// ones it claimed never started (the worker's claims, told to the sink by the
    /// supervisor: `Sink::died_after`) and are placed again; returns the items that fail:
    /// the one it died in (at least the first, also when it died before claiming it;
    /// none if it died between two items), and those it ran but did not keep (a result
    /// too large for the area, or after a panicked item).
    #[cold]
    fn died_in(&mut self, seq: u64, kept: Option<Vec<A>>, n: usize) -> usize {
        let (Some(mut items), Some(sink)) = (kept, self.sink.as_ref()) else { return n };
        let told = {
            let mut core = self.pool.shared.lock();
            let mut locked = core.key.token();
            let g = sink.inner.get(&mut locked);
            let i = g.died_after.iter().position(|&(s, _, _)| s == seq);
            i.map(|i| g.died_after.swap_remove(i))
        };
        let Some((_, done, results)) = told else { return n };
        let claimed = usize::try_from(done).unwrap_or(n).clamp(1, n);
        let ok = finished_results::<R>(results, claimed);
        let failed = claimed - ok.len();
        self.out = ok.into_iter();
        if claimed < n {
            let rest = items.split_off(claimed);
            self.place_items_next(rest);
        }
        failed
    }

    /// Batch `seq` (its `n` kept items) is taken: if the supervisor took items from it,
    /// an ordered map yields them next (after those this batch's own result or death
    /// places again, before the rest of the detour), and its result covers at most the
    /// kept items (`steal.rs`: the worker stopped at the first taken item, or the one
    /// before it).
    #[cold]
    fn stolen_yield_next(&mut self, seq: u64, r: &ChunkOutcome<R>, n: usize) {
        let Some((at, later)) = self.stolen_from.remove(&seq) else { return };
        debug_assert_eq!(at, n, "a stolen batch keeps the items before the steal");
        if let Ok(Chunk::Batch(((_, _, items), _), _)) = r {
            let ran = items.as_ref().map_or_else(Vec::len, Vec::len);
            debug_assert!(ran <= at && ran + 1 >= at, "batch {seq}: ran {ran}, taken from {at}");
        }
        self.detour_next(later.first().copied().unwrap_or(0)..later.last().map_or(0, |l| l + 1));
    }

    /// The `n` items a batch handed back cannot be read back: each yields a `Decode`
    /// error, at their place (after the batch's results).
    #[cold]
    fn lost_back(&mut self, message: String, n: usize) {
        let e = JobError::Decode { message: format!("a batch's items handed back: {message}") };
        self.errors += n;
        self.error = Some(e);
    }

    /// Items in chunk `seq`: its automatic batch's, its era's (placed before a new
    /// `chunk_size`), or `chunk`, except for a shorter last chunk.
    fn items_in(&self, seq: u64) -> usize {
        match self.tail {
            Some((s, n)) if s == seq => n,
            _ => self.eras.iter().find(|&&(end, _)| seq < end).map_or(self.chunk, |&(_, n)| n),
        }
    }

    /// Takes the next finished chunk (the oldest one when ordered), waiting for it.
    fn take(&mut self) -> Option<(u64, ChunkOutcome<R>)> {
        loop {
            if let Some(got) = self.take_now() {
                return Some(got);
            }
            // Borrowed, not cloned: a reference count per result was 2 atomic
            // read-modify-writes per job (`perf`, 2026-12-06).
            let sink = self.sink.as_deref().expect("made by `next_item`");
            // Acquire: pairs with the Release increment in `Sink::stolen`.
            let steals = sink.steals.load(Ordering::Acquire);
            if steals != self.steals_seen {
                self.take_stolen(steals);
                continue;
            }
            // Acquire: pairs with the Release increment in `Sink::store`.
            let seen = sink.stored.load(Ordering::Acquire);
            take_ready(self.pool, sink, &mut self.ready);
            if let Some(got) = self.take_now() {
                return Some(got);
            }
            // The oldest chunk is not done (ordered): keep idle workers fed past it.
            if self.feed_past_head() {
                continue;
            }
            let sink = self.sink.as_deref().expect("made by `next_item`");
            // Acquire: as above (the change is then re-checked under the sink's lock).
            // Woken by a steal too (the supervisor notifies after `Complete::stolen`).
            let ok = self.pool.shared.wait_until(self.deadline, || {
                sink.stored.load(Ordering::Acquire) != seen
                    || sink.steals.load(Ordering::Acquire) != steals
            });
            if !ok {
                return None;
            }
        }
    }

    /// The next chunk to yield, if it is done and taken from the sink already (a detour's,
    /// looked for in the sink too): its items and outcome.
    #[inline]
    fn take_now(&mut self) -> Option<(u64, ChunkOutcome<R>)> {
        let (seq, r) = match self.detour.front() {
            None => self.ready.pop_front()?,
            Some(&d) => {
                let r = self.take_detour(d)?;
                self.detour.pop_front();
                (d, r)
            }
        };
        self.in_flight -= 1;
        Some((seq, r))
    }

    /// Chunk `d` of the detour if it is done: from `ready` (the ordered prefix reached
    /// it), else out of turn from the sink.
    #[cold]
    fn take_detour(&mut self, d: u64) -> Option<ChunkOutcome<R>> {
        if let Some(i) = self.ready.iter().position(|&(s, _)| s == d) {
            return self.ready.remove(i).map(|(_, r)| r);
        }
        let sink = self.sink.as_deref()?;
        sink.take_seq(&mut self.pool.shared.lock().key.token(), d)
    }
}

/// Dropping the iterator before its end cancels the chunks that no worker has started,
/// as Python's `map` cancels its pending futures when its iterator is closed; chunks
/// already running finish and their results are discarded — unless the pool was built
/// with [`cancel_on_drop`](super::PoolBuilder::cancel_on_drop): then their workers are
/// killed and replaced, as for a dropped [`JobFuture`](crate::JobFuture).
impl<F, I, A, R> Drop for Map<'_, F, I, A, R> {
    fn drop(&mut self) {
        self.abandon();
        self.close_sink();
    }
}

impl<F, I, A, R> Map<'_, F, I, A, R> {
    /// Ends the sink's lending: the references it holds to itself are dropped, and those
    /// of jobs still running will be when they resolve.
    fn close_sink(&mut self) {
        let Some(sink) = self.sink.as_ref() else { return };
        let spares = {
            let mut core = self.pool.shared.lock();
            let mut locked = core.key.token();
            let g = sink.inner.get(&mut locked);
            g.closed = true;
            std::mem::take(&mut g.spares)
        };
        drop(spares); // outside the lock (the map's own reference keeps the sink)
    }

    /// Gives up the chunks in flight (the iterator was dropped or timed out): cancels
    /// those no worker has claimed; with `cancel_on_drop`, kills the workers of the rest.
    fn abandon(&mut self) {
        let kill = self.pool.shared.cancel_on_drop.then_some(JobError::Cancelled);
        self.stop_in_flight(kill);
    }

    /// The [`time_limit`](Map::time_limit) struck: no more chunks are placed and those in
    /// flight are stopped (their outcomes arrive as each is cancelled, or its worker
    /// reaped); the wait for them has no deadline.
    fn strike(&mut self) {
        self.struck = true;
        self.exhausted = true;
        self.deadline = None;
        self.stop_in_flight(Some(JobError::TimeLimit));
    }

    /// Cancels the chunks in flight that no worker has claimed; kills the workers of the
    /// rest, their jobs failing with `kill`, if it is given.
    fn stop_in_flight(&mut self, kill: Option<JobError<Never>>) {
        let Some(sink) = self.sink.as_ref() else { return };
        if self.in_flight == self.ready.len() {
            return; // everything submitted has completed
        }
        let shared: &Shared = &self.pool.shared;
        let me = Arc::as_ptr(sink) as *const ();
        let mut core = shared.lock();
        core.drain_all(shared);
        let mine: Vec<u64> = (0..core.slots.len())
            .flat_map(|w| core.held(w))
            .filter(|&id| {
                core.jobs.get(id).is_some_and(|o| Arc::as_ptr(&o.dest) as *const () == me)
            })
            .collect();
        // Claimed already (running, or about to): killed only with `cancel_on_drop`.
        let running: Vec<u64> = mine.into_iter().filter(|&id| !core.cancel(shared, id)).collect();
        let after = core.take_after();
        drop(core);
        shared.run_after(after);
        if let Some(e) = kill {
            // An aimed kill: a job that finished meanwhile is left alone (`kill_running`).
            running.into_iter().for_each(|id| {
                shared.kill_running(id, e.clone());
            });
        }
    }
}

impl<F, I, A, R> Iterator for Map<'_, F, I, A, R>
where
    F: JobFn<A, R>,
    I: Iterator<Item = A>,
    A: Message,
    R: Message + Send + 'static,
{
    type Item = Result<R, JobError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        // The items of a finished chunk: the hot path of a chunked map, inlined into the
        // caller's loop (without `always` it was a call per item: 28 → 20 controller
        // instructions per item for a `for` loop over a chunked map, 51 → 26 for
        // `collect::<Result<Vec<_>, _>>()`; callgrind, 4M items, chunks of 1000).
        if self.progress.is_none() {
            if let Some(r) = self.out.next() {
                return Some(Ok(r));
            }
        }
        self.next_slow()
    }

    /// Internal iteration (`sum`, `for_each`, `collect`, `fold`): the items of a
    /// finished chunk are handed over in a tight loop, without a `next` call and an
    /// `Option<Result<R, JobError>>` returned through memory per item.
    fn fold<B, G>(mut self, init: B, mut g: G) -> B
    where
        G: FnMut(B, Self::Item) -> B,
    {
        let mut acc = init;
        loop {
            match &self.progress {
                None => acc = self.out.by_ref().fold(acc, |a, r| g(a, Ok(r))),
                Some(p) => {
                    for r in self.out.by_ref() {
                        p.tick(true);
                        acc = g(acc, Ok(r));
                    }
                }
            }
            let r = self.next_item();
            if let Some(p) = &self.progress {
                p.tick(r.is_some());
            }
            match r {
                Some(r) => acc = g(acc, r),
                None => return acc,
            }
        }
    }
}

impl<F, I, A, R> Map<'_, F, I, A, R>
where
    F: JobFn<A, R>,
    I: Iterator<Item = A>,
    A: Message,
    R: Message + Send + 'static,
{
    /// While an ordered map waits for its oldest chunk, places more chunks if a worker is
    /// idle, counting against the window only the chunks not finished: the finished ones
    /// held behind the slow oldest one count against `max_window`, which bounds memory.
    /// (A worker sat idle for the whole of a 300 ms job at the head while the window was
    /// full of done jobs behind it, where Python's `map` has submitted everything.) A
    /// fixed `window(n)` is kept as set. True if it placed any.
    #[cold]
    fn feed_past_head(&mut self) -> bool {
        if !self.ordered || self.exhausted || self.max_window == 0 || !self.pool.shared.starved() {
            return false;
        }
        let before = self.next_seq;
        self.top_up_counting(self.busy());
        self.next_seq != before
    }

    /// `next` past the current chunk, or with a progress bar to advance.
    #[inline(never)]
    fn next_slow(&mut self) -> Option<Result<R, JobError>> {
        let r = match self.out.next() {
            Some(r) => Some(Ok(r)),
            None => self.next_item(),
        };
        if let Some(p) = &self.progress {
            p.tick(r.is_some());
        }
        r
    }

    #[cold]
    fn next_item(&mut self) -> Option<Result<R, JobError>> {
        if let Some(r) = self.out.next() {
            return Some(Ok(r));
        }
        if let Some(r) = self.mixed.next() {
            return Some(r.map_err(|message| JobError::Panicked { message }));
        }
        if self.errors > 0 {
            self.errors -= 1;
            return self.error.clone().map(Err);
        }
        self.sink();
        self.top_up();
        if self.in_flight == 0 {
            return None;
        }
        let taken = self.take().map(|(seq, r)| {
            let kept = self.kept.remove(&seq);
            let n = kept.as_ref().map_or_else(|| self.items_in(seq), Vec::len);
            if !self.stolen_from.is_empty() {
                self.stolen_yield_next(seq, &r, n);
            }
            (n, r, seq, kept)
        });
        match taken.map(|(n, r, seq, kept)| match r {
            Err(e @ (JobError::WorkerDied { .. } | JobError::StackOverflow)) => {
                (self.died_in(seq, kept, n), Err(e), None)
            }
            r => (n, r, kept),
        }) {
            // The time limit: stop what is in flight, then yield its outcomes.
            None if self.limit => {
                self.strike();
                self.next_item()
            }
            Some((n, Err(JobError::Timeout), _)) if self.limit => {
                self.strike();
                self.errors = n - 1;
                self.error = Some(JobError::TimeLimit);
                Some(Err(JobError::TimeLimit))
            }
            // (A chunk's `Timeout` is one whose placement the time-out cut short.)
            None | Some((_, Err(JobError::Timeout), _)) => {
                // Timed out: give up what is in flight (Python's `map` cancels its pending
                // futures as its `TimeoutError` leaves the iterator), report once, end.
                self.abandon();
                self.exhausted = true;
                self.in_flight = 0;
                Some(Err(JobError::Timeout))
            }
            Some((_, Ok(Chunk::One(r)), _)) => Some(Ok(r)),
            Some((_, Ok(Chunk::Many(v)), _)) => {
                self.out = v.into_iter();
                self.next_item()
            }
            Some((n, Ok(Chunk::Batch(((ns, arg, items), back), res)), kept)) => {
                let ran = match &items {
                    Ok(v) => v.len(),
                    Err(v) => v.len(),
                };
                // Timed over the items it ran (a handed-back batch measures them slow).
                if ran > 0 {
                    self.measured(ns, ran);
                }
                self.measured_bytes(arg, res, n);
                match items {
                    Ok(v) => self.out = v.into_iter(),
                    Err(v) => self.mixed = v.into_iter(),
                }
                if ran < n {
                    self.place_again(kept, &back, ran, n);
                }
                self.next_item()
            }
            // (`n` errors after the results in `out`: a batch's death delivers the items it
            // finished first, `died_in`.)
            Some((n, Err(e), _)) => {
                self.errors = n;
                self.error = Some(e);
                self.next_item()
            }
        }
    }
}

/// The results a dead batch's worker kept (`partial.rs`, their envelopes in order), at
/// most `claimed`: those before the first that does not decode.
#[cold]
fn finished_results<R: Message>(kept: Vec<Vec<u8>>, claimed: usize) -> Vec<R> {
    let mut buf = rkyv::util::AlignedVec::<16>::new();
    let mut out = Vec::with_capacity(kept.len().min(claimed));
    for bytes in kept.into_iter().take(claimed) {
        buf.clear();
        buf.extend_from_slice(&bytes);
        match crate::spill::decode_owned::<R>(&buf, None) {
            Ok(r) => out.push(r),
            Err(_) => break,
        }
    }
    out
}
