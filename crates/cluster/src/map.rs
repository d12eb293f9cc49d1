//! `ClusterPool::map` / `map_unordered`: lazy, windowed, optionally chunked, like
//! [`zeroproc_sched::Map`].

use crate::future::decode;
use crate::pool::ClusterPool;
use crate::pool::Record;
use crate::shared::Dest;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use zeroproc_sched::raw::BatchBack;
use zeroproc_sched::{JobError, JobFn, Message, Never};

/// A job's items' outcomes: all results, or (an automatic batch in which an item
/// panicked) each item's own.
enum Done<R> {
    Items(Vec<R>),
    Mixed(Vec<Result<R, JobError<Never>>>),
}

type Chunk<R> = Result<Done<R>, JobError<Never>>;

/// A finished job's outcome and the envelope of the items it handed back unstarted
/// (automatic batches; empty otherwise).
type Outcome<R> = (Chunk<R>, Vec<u8>);

/// How a map's sink decodes a job's result.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// One item per job: `R`.
    One,
    /// `chunk_size(n)`: `Vec<R>`.
    Chunk,
    /// Automatic batches (as `Pool::map`): `raw::BatchBack<R>`, timed, handing back.
    Batch,
}

/// A job read from the items: how many items it holds, and its encoded record.
type Encoded = (usize, Result<Record, JobError<Never>>);

/// Reading the items for one refill for longer than this marks the input as slow (a
/// stream): results then go back to the caller before more items are read.
const SLOW_INPUT: std::time::Duration = std::time::Duration::from_millis(1);

/// The outcomes of one map's jobs, by job index.
/// (job index, outcome, the items' running time in ns, the result's bytes and the
/// envelope of the items handed back unstarted: automatic batches only).
type Finished<R> = (u64, Chunk<R>, u64, u64, Vec<u8>);

struct MapSink<R> {
    done: Mutex<Vec<Finished<R>>>,
    mode: Mode,
    /// A job of this map lost its worker: automatic batches stop (`ClusterMap::unbatch`).
    died: AtomicBool,
}

impl<R> MapSink<R> {
    fn new(mode: Mode) -> Self {
        MapSink { done: Mutex::new(Vec::new()), mode, died: AtomicBool::new(false) }
    }
}

impl<R: Message + Send + 'static> Dest for MapSink<R> {
    fn complete(&self, index: u64, outcome: Result<&[u8], JobError<Never>>) -> bool {
        let (mut ns, mut bytes, mut back) = (0, 0, Vec::new());
        let v = match (outcome, self.mode) {
            (Ok(env), Mode::Chunk) => decode::<Vec<R>>(env).map(Done::Items),
            (Ok(env), Mode::One) => decode::<R>(env).map(|r| Done::Items(vec![r])),
            (Ok(env), Mode::Batch) => decode::<BatchBack<R>>(env).map(|((t, _, items), b)| {
                (ns, bytes, back) = (t, env.len() as u64, b);
                match items {
                    Ok(v) => Done::Items(v),
                    Err(v) => Done::Mixed(
                        v.into_iter()
                            .map(|r| r.map_err(|message| JobError::Panicked { message }))
                            .collect(),
                    ),
                }
            }),
            (Err(e), _) => {
                if matches!(e, JobError::WorkerDied { .. } | JobError::StackOverflow) {
                    // Relaxed: a hint read at the map's next refill.
                    self.died.store(true, Ordering::Relaxed);
                }
                Err(e)
            }
        };
        self.done.lock().unwrap_or_else(|e| e.into_inner()).push((index, v, ns, bytes, back));
        false
    }
}

impl<R> MapSink<R> {
    fn take(&self) -> Vec<Finished<R>> {
        std::mem::take(&mut *self.done.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn is_empty(&self) -> bool {
        self.done.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }
}

/// The iterator of [`ClusterPool::map`] and [`ClusterPool::map_unordered`]: yields
/// `Ok(result)` or the job's error per item (a failed chunk yields its error for each of
/// its items).
#[must_use = "a cluster map is lazy: no job runs until it is iterated (`for r in pool.map(..)`, \
              `.collect()`, `.for_each(..)`)"]
pub struct ClusterMap<'p, F, I, A, R> {
    pool: &'p ClusterPool,
    items: I,
    exhausted: bool,
    ordered: bool,
    /// Items per job: as set by `chunk_size`, or the next automatic batch's size.
    chunk: usize,
    /// Items are batched automatically (no `chunk_size` or `window` set; the pool allows
    /// it: `ClusterPool::batching`), as `Pool::map` does.
    auto: bool,
    /// The items' measured running time (ns per item, recent batches weigh most;
    /// infinite once a job lost its worker: no more batches).
    item_ns: Option<f64>,
    /// Bytes per item of the batches' argument records and of their result records,
    /// each measured apart (a larger measure counts at once, a smaller one halves it; one
    /// shared measure let each small argument record halve a large result's measure
    /// while no result came back, and batches outgrew the spill heap), and the bytes a
    /// batch's records stay under: half of the largest record every target takes, so that
    /// items that each fit a record travel batched in one too (`Map`'s rule, review33).
    arg_bytes: u64,
    res_bytes: u64,
    batch_bytes: u64,
    window: usize,
    /// `window` was set by the caller (else it follows the pool's windows).
    fixed_window: bool,
    sink: Arc<MapSink<R>>,
    next_index: u64,
    next_yield: u64,
    in_flight: usize,
    lens: HashMap<u64, usize>,
    reorder: BTreeMap<u64, Outcome<R>>,
    /// An ordered map's jobs to yield next, before `next_yield`'s: the re-placed items of
    /// a batch that handed them back (`place_again`); `detoured` holds them until
    /// `next_yield` passes them.
    detour: VecDeque<u64>,
    detoured: std::collections::HashSet<u64>,
    ready: VecDeque<Result<R, JobError<Never>>>,
    started: bool,
    /// `timeout(d)`: the wait's budget, and its deadline once the first item is taken.
    timeout: Option<std::time::Duration>,
    deadline: Option<std::time::Instant>,
    /// The map timed out (it yielded `Timeout`) and ends.
    ended: bool,
    /// `progress()`: the bar advanced per result.
    progress: Option<zeroproc_sched::raw::ProgressBar>,
    _f: PhantomData<fn(A) -> F>,
}

impl ClusterPool {
    /// Applies `f` to every item of `items` over every node, lazily, keeping a bounded
    /// number of jobs in flight; yields results **in input order**. `.chunk_size(n)` sends
    /// `n` items per job.
    ///
    /// ```
    /// zeroproc_cluster::init();
    /// let pool = zeroproc_cluster::ClusterPool::builder().build()?;
    /// let v: Vec<u64> = pool.map(|x: u64| x * x, 1..=4).chunk_size(2).map(Result::unwrap).collect();
    /// assert_eq!(v, [1, 4, 9, 16]);
    /// # Ok::<(), zeroproc_cluster::ClusterError>(())
    /// ```
    pub fn map<F, A, R, I>(&self, f: F, items: I) -> ClusterMap<'_, F, I::IntoIter, A, R>
    where
        F: JobFn<A, R>,
        I: IntoIterator<Item = A>,
        A: Message,
        R: Message + Send + 'static,
    {
        ClusterMap::new(self, f, items.into_iter(), true)
    }

    /// Like [`map`](Self::map), yielding results as they complete (any order).
    pub fn map_unordered<F, A, R, I>(&self, f: F, items: I) -> ClusterMap<'_, F, I::IntoIter, A, R>
    where
        F: JobFn<A, R>,
        I: IntoIterator<Item = A>,
        A: Message,
        R: Message + Send + 'static,
    {
        ClusterMap::new(self, f, items.into_iter(), false)
    }
}

impl<'p, F, I, A, R> ClusterMap<'p, F, I, A, R>
where
    F: JobFn<A, R>,
    I: Iterator<Item = A>,
    A: Message,
    R: Message + Send + 'static,
{
    fn new(pool: &'p ClusterPool, _f: F, items: I, ordered: bool) -> Self {
        let window = 2 * pool.shared.lock().targets.iter().map(|t| t.window).sum::<usize>();
        ClusterMap {
            pool,
            items,
            exhausted: false,
            ordered,
            chunk: 1,
            auto: pool.batching,
            item_ns: None,
            arg_bytes: 0,
            res_bytes: 0,
            batch_bytes: (pool.max_record / 2) as u64,
            window: window.max(2),
            fixed_window: false,
            sink: Arc::new(MapSink::new(if pool.batching { Mode::Batch } else { Mode::One })),
            next_index: 0,
            next_yield: 0,
            in_flight: 0,
            lens: HashMap::new(),
            reorder: BTreeMap::new(),
            detour: VecDeque::new(),
            detoured: std::collections::HashSet::new(),
            ready: VecDeque::new(),
            started: false,
            timeout: None,
            deadline: None,
            ended: false,
            progress: None,
            _f: PhantomData,
        }
    }

    /// Items per job, as `Map::chunk_size` (without it, tiny items are batched
    /// automatically, as `Pool::map` does; `chunk_size(1)`: one job per item). Set before
    /// the first item is taken.
    pub fn chunk_size(mut self, n: usize) -> Self {
        assert!(!self.started, "chunk_size is set before iterating");
        self.chunk = n.max(1);
        self.auto = false;
        self.sink = Arc::new(MapSink::new(if self.chunk > 1 { Mode::Chunk } else { Mode::One }));
        self
    }

    /// Jobs in flight (default: twice the pool's total window, following it as the nodes'
    /// windows grow, so every node has its next jobs queued on rank 0).
    pub fn window(mut self, jobs: usize) -> Self {
        self.window = jobs.max(1);
        self.fixed_window = true;
        if self.auto && !self.started {
            // A set window counts jobs of one item, as `Map::window`.
            self.auto = false;
            self.sink = Arc::new(MapSink::new(Mode::One));
        }
        self
    }

    /// Shows a progress bar on stderr while the results are taken (as `Map::progress`):
    /// items done, rate and ETA; drawn only when stderr is a terminal (and zeroproc-sched's
    /// `progress` feature is on).
    ///
    /// ```
    /// zeroproc_cluster::init();
    /// let pool = zeroproc_cluster::ClusterPool::builder().build()?;
    /// let v: Vec<u64> = pool.map(|x: u64| x * 2, 0..100).progress().map(Result::unwrap).collect();
    /// assert_eq!(v[99], 198);
    /// # Ok::<(), zeroproc_cluster::ClusterError>(())
    /// ```
    pub fn progress(mut self) -> Self {
        let (lo, hi) = self.items.size_hint();
        self.progress = Some(zeroproc_sched::raw::ProgressBar::new((hi == Some(lo)).then_some(lo)));
        self
    }

    /// Gives up waiting after `d` in total (Python's `timeout`, as `Map::timeout`): the
    /// iterator then yields one `Err(JobError::Timeout)` and ends; jobs in flight still run.
    /// The clock starts at the first `next()` (the map is lazy). The items are read in
    /// the caller's thread: a read of the input that blocks past the deadline is not
    /// interrupted — the `Timeout` comes once it returns (Python's `map` reads its whole
    /// input before its clock starts).
    ///
    /// ```
    /// zeroproc_cluster::init();
    /// use std::time::Duration;
    /// let pool = zeroproc_cluster::ClusterPool::builder().build()?;
    /// let mut m = pool.map(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), [2000]).timeout(Duration::from_millis(20));
    /// assert_eq!(m.next(), Some(Err(zeroproc_sched::JobError::Timeout)));
    /// assert_eq!(m.next(), None);
    /// # Ok::<(), zeroproc_cluster::ClusterError>(())
    /// ```
    pub fn timeout(mut self, d: std::time::Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Sends jobs until the window is full or the items run out. Items are pulled before
    /// the pool's lock is taken (the iterator may use the pool).
    ///
    /// As `Map` on one machine: jobs are sent in batches of 1, 4, 16, … (each batch is a
    /// message per node), so the first job runs while later items are read; once reading
    /// the items has taken over [`SLOW_INPUT`] in this refill (a stream), batches stay at
    /// one job and the refill stops as soon as a result has arrived.
    ///
    /// Items the input promises (`size_hint`'s lower bound: a range, a `Vec`) are read a
    /// batch at a time and then placed under one lock. Other items (a channel,
    /// `iter::from_fn`) are placed (staged in their node's outgoing batch) each as soon as
    /// it is read, and the batch is sent at its end: an item read just before a read that
    /// blocks is staged, and the pool's progress thread (or any thread waiting on the
    /// pool) sends it at its next poll, so a stream whose next item waits for the *effect*
    /// of a job it already gave (a job feeding the map's own channel) goes on. Read in a
    /// batch and placed after, such a job waited unsent for ever.
    fn refill(&mut self) {
        if !self.started {
            self.deadline = self.timeout.and_then(|t| std::time::Instant::now().checked_add(t));
        }
        self.started = true;
        if !self.fixed_window {
            self.window = self.window.max(2 * self.pool.shared.total_window());
        }
        if self.auto {
            // Relaxed: see `MapSink::complete`.
            if self.sink.died.load(Ordering::Relaxed) {
                self.item_ns = Some(f64::INFINITY);
            }
            self.chunk = self.batch_len();
        }
        let mut reading = std::time::Duration::ZERO;
        let mut batch = 1;
        while !self.exhausted && self.in_flight < self.window {
            let n = batch.min(self.window - self.in_flight);
            // Jobs whose items the input promises: read together, then sent together.
            let sure = (self.items.size_hint().0 / self.chunk).min(n);
            if sure > 0 {
                let t0 = std::time::Instant::now();
                let jobs = self.read_jobs(sure);
                reading += t0.elapsed();
                if jobs.len() < sure {
                    self.exhausted = true; // a wrong `size_hint`
                }
                if !jobs.is_empty() {
                    self.send(jobs, true);
                }
            }
            // The others: each placed as soon as read, the last one sending the batch.
            // (Timed with their placing, ~0.1 µs a job: one clock read per batch.)
            let t0 = std::time::Instant::now();
            let mut staged = false;
            for k in sure..n {
                if self.exhausted {
                    break;
                }
                // An automatic batch takes only items the input promises (as `Map`): read
                // ahead to fill it, a stream whose next item waits for a job's effect
                // would hold that job unsent.
                let len = if self.auto {
                    self.items.size_hint().0.clamp(1, self.chunk)
                } else {
                    self.chunk
                };
                let Some(job) = self.read_job(len) else {
                    self.exhausted = true;
                    break;
                };
                staged = k + 1 < n;
                self.send(std::iter::once(job), !staged);
            }
            if sure < n {
                reading += t0.elapsed();
            }
            if staged {
                self.flush(); // the input ended early
            }
            if reading < SLOW_INPUT {
                batch *= 4;
            } else if !self.sink.is_empty() {
                return;
            } else {
                batch = 1;
            }
        }
    }

    /// Reads and encodes up to `n` jobs' items: (items in the job, its record).
    fn read_jobs(&mut self, n: usize) -> Vec<Encoded> {
        let mut jobs = Vec::with_capacity(n);
        while jobs.len() < n {
            let Some(job) = self.read_job(self.chunk) else { break };
            jobs.push(job);
        }
        jobs
    }

    /// Items in the next automatic batch, from the items' measured time and bytes
    /// (`Map`'s rule).
    fn batch_len(&self) -> usize {
        let item_bytes = self.arg_bytes.max(self.res_bytes);
        zeroproc_sched::raw::batch_len(self.item_ns, item_bytes, self.batch_bytes)
    }

    /// A batch of `n` items had a record (an argument's or a result's) of `bytes`: the
    /// new measure of `per_item` (`arg_bytes` or `res_bytes`).
    fn measured_bytes(per_item: &mut u64, bytes: u64, n: usize) {
        *per_item = bytes.div_ceil(n.max(1) as u64).max(*per_item / 2);
    }

    /// A batch of `n` items ran for `ns` in all.
    fn measured(&mut self, ns: u64, n: usize) {
        if self.item_ns == Some(f64::INFINITY) {
            return; // a job lost its worker: no more batches
        }
        let x = ns as f64 / n.max(1) as f64;
        self.item_ns = Some(self.item_ns.map_or(x, |old| 0.5 * old + 0.5 * x));
    }

    /// Reads and encodes the next job's items (`len` of them at most), if any are left.
    #[inline]
    fn read_job(&mut self, len: usize) -> Option<Encoded> {
        Some(if self.auto {
            let c: Vec<A> = self.items.by_ref().take(len).collect();
            if c.is_empty() {
                return None;
            }
            return Some(self.batch_record(c));
        } else if self.chunk == 1 {
            let a = self.items.next()?;
            (1, self.pool.record(zeroproc_sched::raw::fn_id::<F, A, R>(conjure()), &a))
        } else {
            let c: Vec<A> = self.items.by_ref().take(len).collect();
            if c.is_empty() {
                return None;
            }
            (c.len(), self.pool.record(zeroproc_sched::raw::chunk_fn_id::<F, A, R>(conjure()), &c))
        })
    }

    /// An automatic batch's job: (its items, its record).
    fn batch_record(&mut self, c: Vec<A>) -> Encoded {
        let id = zeroproc_sched::raw::batch_handback_fn_id::<F, A, R>(conjure());
        let rec = self.pool.record(id, &c);
        if let Ok(r) = &rec {
            Self::measured_bytes(&mut self.arg_bytes, r.bytes.len() as u64, c.len());
        }
        (c.len(), rec)
    }

    /// Places again the `n` items a batch handed back unstarted (`back`: their envelope),
    /// as batches sized by the measure that batch gave (`Map::place_again`'s rule); an
    /// ordered map yields them next. Items that cannot be read back fail there, each
    /// with the `Decode` error.
    #[cold]
    fn place_again(&mut self, back: &[u8], n: usize) {
        let items = match zeroproc_sched::raw::decode_handed_back::<A>(back) {
            Ok(v) if v.len() == n => v,
            Ok(v) => return self.lost_back(format!("{} of {n} items handed back", v.len()), n),
            Err(message) => return self.lost_back(message, n),
        };
        let len = self.batch_len();
        let first = self.next_index;
        let mut items = items.into_iter().peekable();
        let mut jobs = Vec::new();
        while items.peek().is_some() {
            let c: Vec<A> = items.by_ref().take(len).collect();
            jobs.push(self.batch_record(c));
        }
        self.send(jobs, true);
        if self.ordered {
            // Before the rest of the detour: a detour's batch may hand items back too.
            (first..self.next_index).rev().for_each(|i| {
                self.detour.push_front(i);
                self.detoured.insert(i);
            });
        }
    }

    /// The `n` items a batch handed back cannot be read back: each yields a `Decode`
    /// error (after that batch's results).
    #[cold]
    fn lost_back(&mut self, message: String, n: usize) {
        let message = format!("a batch's items handed back: {message}");
        self.ready.extend((0..n).map(|_| Err(JobError::Decode { message: message.clone() })));
    }

    /// Places `jobs` under one lock and, if `flush`, sends the nodes' staged batches
    /// (else they wait for the next flush: this map's, another sender's, or the progress
    /// poll's).
    fn send(&mut self, jobs: impl IntoIterator<Item = Encoded>, flush: bool) {
        let shared = &self.pool.shared;
        let mut st = shared.lock();
        // Under the state lock, which `end` takes after `close` to flush what is staged
        // before its SHUTDOWN/TERMINATE: a job placed here either is flushed there or
        // sees `closed` (read before the lock, one could be staged after that command).
        // Acquire: pairs with the Release store in `ClusterPool::close`.
        let closed = shared.closed.load(std::sync::atomic::Ordering::Acquire);
        if closed {
            // The pool is shut down: read no more input, so the map ends after the jobs
            // read already (each `Err(Shutdown)`), as `Map` on one machine (and Python's
            // `map` raises `RuntimeError` once). Before, every further item was read and
            // yielded `Err(Shutdown)`: an endless input never ended.
            self.exhausted = true;
        }
        for (len, rec) in jobs {
            let index = self.next_index;
            self.next_index += 1;
            self.lens.insert(index, len);
            self.in_flight += 1;
            match rec {
                Ok(_) if closed => self.sink.complete(index, Err(JobError::Shutdown)),
                Ok(r) => {
                    shared.place(&mut st, r, self.sink.clone(), index, shared.timeout_ns);
                    false
                }
                Err(e) => self.sink.complete(index, Err(e)),
            };
        }
        if flush {
            shared.flush(&mut st);
        }
        shared.unlock(st);
    }

    /// Sends the nodes' staged batches.
    #[cold]
    fn flush(&self) {
        let shared = &self.pool.shared;
        let mut st = shared.lock();
        shared.flush(&mut st);
        shared.unlock(st);
    }

    /// Moves job `index`'s outcome into `ready`, one entry per item, and places again
    /// the items it handed back (`back`).
    fn expand(&mut self, index: u64, (c, back): Outcome<R>) {
        let len = self.lens.remove(&index).unwrap_or(1);
        let ran = match c {
            Ok(Done::Items(v)) => {
                let ran = v.len();
                self.ready.extend(v.into_iter().map(Ok));
                ran
            }
            Ok(Done::Mixed(v)) => {
                let ran = v.len();
                self.ready.extend(v);
                ran
            }
            Err(e) => {
                self.ready.extend((0..len).map(|_| Err(e.clone())));
                len
            }
        };
        if ran < len {
            self.place_again(&back, len - ran);
        }
    }

    /// The next job an ordered map yields, if it is done: the detour's first, else
    /// `next_yield`'s (skipping those yielded by the detour already).
    fn next_in_order(&mut self) -> Option<(u64, Outcome<R>)> {
        if let Some(&d) = self.detour.front() {
            let c = self.reorder.remove(&d)?;
            self.detour.pop_front();
            return Some((d, c));
        }
        while self.detoured.remove(&self.next_yield) {
            self.next_yield += 1;
        }
        let c = self.reorder.remove(&self.next_yield)?;
        self.next_yield += 1;
        Some((self.next_yield - 1, c))
    }
}

/// Dropping the iterator before its end cancels the jobs of this map that no worker has
/// started (on rank 0 and on the nodes), as `Map`'s drop does on one machine and closing
/// Python's `map` iterator cancels its pending futures; running jobs finish and their
/// results are dropped. Before, they all ran, and the pool's shutdown waited for them.
impl<F, I, A, R> Drop for ClusterMap<'_, F, I, A, R> {
    fn drop(&mut self) {
        if self.in_flight == 0 {
            return;
        }
        self.pool.shared.cancel_dest(Arc::as_ptr(&self.sink) as *const ());
    }
}

/// The value of the zero-sized `F` is not needed for its function id: only its type.
fn conjure<F>() -> F
where
    F: Copy,
{
    const {
        assert!(
            std::mem::size_of::<F>() == 0,
            "only non-capturing closures and fn items can be sent"
        )
    };
    // SAFETY: `F` is zero-sized (asserted at compile time) and `Copy`: it has exactly one
    // value and no bytes to initialise (the same argument as zeroproc-sched's `conjure`).
    unsafe { std::mem::zeroed() }
}

impl<F, I, A, R> Iterator for ClusterMap<'_, F, I, A, R>
where
    F: JobFn<A, R>,
    I: Iterator<Item = A>,
    A: Message,
    R: Message + Send + 'static,
{
    type Item = Result<R, JobError<Never>>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = self.next_result();
        if let Some(p) = &self.progress {
            p.tick(r.is_some());
        }
        r
    }
}

impl<F, I, A, R> ClusterMap<'_, F, I, A, R>
where
    F: JobFn<A, R>,
    I: Iterator<Item = A>,
    A: Message,
    R: Message + Send + 'static,
{
    fn next_result(&mut self) -> Option<Result<R, JobError<Never>>> {
        if self.ended {
            return None;
        }
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Some(r);
            }
            self.refill();
            for (index, c, ns, bytes, back) in self.sink.take() {
                self.in_flight -= 1;
                if ns > 0 {
                    let n = self.lens.get(&index).copied().unwrap_or(1);
                    // Timed over the items it ran (a handed-back batch measures them slow).
                    let ran = match &c {
                        Ok(Done::Items(v)) => v.len(),
                        Ok(Done::Mixed(v)) => v.len(),
                        Err(_) => n,
                    };
                    if ran > 0 {
                        self.measured(ns, ran);
                    }
                    Self::measured_bytes(&mut self.res_bytes, bytes, n);
                }
                if self.ordered {
                    self.reorder.insert(index, (c, back));
                } else {
                    self.expand(index, (c, back));
                }
            }
            while let Some((i, c)) = self.next_in_order() {
                self.expand(i, c);
            }
            if !self.ready.is_empty() {
                continue;
            }
            if self.in_flight == 0 && self.exhausted {
                return None;
            }
            let sink = self.sink.clone();
            if !self.pool.shared.wait_until(self.deadline, || !sink.is_empty()) {
                // Timed out: report once, then end (the jobs in flight still run).
                self.ended = true;
                return Some(Err(JobError::Timeout));
            }
        }
    }
}
