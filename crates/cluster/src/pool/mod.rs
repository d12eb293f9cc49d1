//! [`ClusterPool`]: the executor over every node of an MPI run.

use crate::idle::Idle;
use crate::launch;

use crate::shared::{Shared, Via};
use crate::wire::op;
use rkyv::util::AlignedVec;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zeroproc_codec::envelope::{self, Header};
use zeroproc_sched::{JobError, Message, Never, PoolStats, Shutdown};

/// How long ending a pool (shutdown's or terminate's last step) waits for the agents'
/// answers; a node that does not answer by then (frozen, unreachable) is left behind, and
/// after `terminate` its unfinished jobs fail with `Cancelled` (`fail_unanswered`).
const END_WAIT: Duration = Duration::from_secs(60);

/// How long a timed shutdown (`shutdown_with(..timeout(d))`), its time-out passed, waits
/// for the nodes' answers to its terminate (a live agent answers in milliseconds). The
/// caller gave a time budget: before, a frozen node held it for `d` + 60 s + 5 s.
const TIMED_END_WAIT: Duration = Duration::from_secs(2);

mod builder;
mod live;
mod submit;

pub(crate) use live::{close_live_cluster_pools, finish_live_cluster_pools};

pub use builder::{ClusterBuilder, ClusterError};

/// Polls while nobody waits, so that callbacks run and queued jobs flow; runs the
/// done-callbacks a waiting thread received for other futures (unparked at once).
fn progress_loop(shared: &Shared, stop: &AtomicBool) {
    shared.start_callbacks();
    let mut idle = Idle::default();
    // Relaxed: a stop flag; the joiner synchronizes through `join`.
    while !stop.load(Ordering::Relaxed) {
        // Relaxed: a hint (a waiter drives progress itself).
        // Parked rather than asleep: a waiting thread that defers a callback unparks it.
        if shared.waiters.load(Ordering::Relaxed) > 0 {
            if shared.run_deferred() == 0 {
                std::thread::park_timeout(Duration::from_millis(1));
            }
            continue;
        }
        if shared.progress() {
            idle.active();
        } else {
            match idle.next_pause() {
                Duration::ZERO => std::thread::yield_now(),
                d => std::thread::park_timeout(d),
            }
        }
    }
    shared.stop_callbacks();
}

/// The executor over every node of an MPI run: [`Pool`](zeroproc_sched::Pool)'s API, jobs spread over the
/// workers of every node agent (and rank 0's own pool if it has workers).
///
/// Under `mpirun`/`srun`, [`crate::init`] (or `zeroproc::init` with the `mpi` feature) makes
/// every rank but 0 a node agent; rank 0 runs `main` and builds the pool. Run without a
/// launcher, the same program uses a local pool only.
///
/// ```
/// zeroproc_cluster::init();
/// use zeroproc_cluster::ClusterPool;
/// fn square(x: u64) -> u64 { x * x }
/// let pool = ClusterPool::builder().build()?;
/// assert_eq!(pool.submit(square, 7).result(), Ok(49));
/// let total: u64 = pool.map(square, 0..1000u64).chunk_size(100).map(Result::unwrap).sum();
/// assert_eq!(total, (0..1000u64).map(square).sum::<u64>());
/// # Ok::<(), zeroproc_cluster::ClusterError>(())
/// ```
pub struct ClusterPool {
    /// The read-only arrays in the initializer's arguments, shipped to every node at build
    /// and kept there (one user each) until the pool ends.
    pub(crate) init_arrays: Vec<crate::ship::Need>,
    pub(crate) shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    progress: Mutex<Option<JoinHandle<()>>>,
    /// The largest job record every target takes.
    pub(crate) max_record: usize,
    /// `map` may batch tiny items (as `Pool::map`): no job time limit, no
    /// `max_jobs_per_worker`, and the nodes have spill heaps.
    pub(crate) batching: bool,
    ended: AtomicBool,
    /// Held while `stats` waits for the nodes' answers.
    questions: Mutex<()>,
    name: String,
}

impl std::fmt::Debug for ClusterPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterPool").field("nodes", &self.nodes()).finish()
    }
}

impl ClusterPool {
    /// A builder with the defaults.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// A pool with the defaults.
    pub fn new() -> Result<ClusterPool, ClusterError> {
        ClusterBuilder::default().build()
    }

    /// Workers per target, as (rank, workers): rank 0 is this process's own pool.
    pub fn nodes(&self) -> Vec<(usize, usize)> {
        let st = self.shared.lock();
        st.targets
            .iter()
            .map(|t| match t.via {
                Via::Local(_) => (0, t.workers),
                Via::Agent(r) => (r, t.workers),
            })
            .collect()
    }

    /// The pool's name ([`ClusterBuilder::name`], default `<executable>-<pid>`); each node's
    /// pool is `NAME-node-RANK` in `zeroproc top` on its node.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Workers over all nodes.
    pub fn workers(&self) -> usize {
        self.nodes().iter().map(|n| n.1).sum()
    }

    /// Per-worker statistics of every node, as one [`PoolStats`] ([`Pool::stats`]'s type):
    /// the workers of rank 0's own pool first, then each node's in rank order, numbered
    /// across the cluster (a `pid` is a process id on its node; [`node_stats`](Self::node_stats)
    /// keeps the nodes apart). Asks every node (one message round trip). Its `backlog`
    /// is the jobs waiting on rank 0 for a node with room (submitted past every node's
    /// window; as a `Pool`'s backlog, they have not started and can be cancelled).
    ///
    /// [`Pool::stats`]: zeroproc_sched::Pool::stats
    ///
    /// ```
    /// zeroproc_cluster::init();
    /// let pool = zeroproc_cluster::ClusterPool::builder().build()?;
    /// // One job per item (`chunk_size(1)`): a default map batches tiny items, and a batch
    /// // is one job here.
    /// pool.map(|x: u64| x + 1, 0..100).chunk_size(1).for_each(drop);
    /// assert_eq!(pool.stats().jobs_done(), 100);
    /// # Ok::<(), zeroproc_cluster::ClusterError>(())
    /// ```
    pub fn stats(&self) -> PoolStats {
        let (mut workers, mut backlog) = (Vec::new(), 0);
        // The jobs waiting on rank 0 for a node with room: the cluster's counterpart of a
        // `Pool`'s backlog (before, only rank 0's own pool's backlog was summed, which a
        // cluster pool never fills: 0 with 4,992 of 5,000 jobs waiting, user28 `c_many`).
        backlog += self.shared.lock().waiting();
        for (_, s) in self.node_stats() {
            workers.extend(s.workers);
            backlog += s.backlog;
        }
        workers.iter_mut().enumerate().for_each(|(i, w)| w.index = i);
        PoolStats { workers, uptime: self.shared.created.elapsed(), backlog }
    }

    /// Per-worker statistics of each node, as (rank, stats); rank 0 is this process's own
    /// pool.
    pub fn node_stats(&self) -> Vec<(usize, PoolStats)> {
        // One question at a time: concurrent ones would take each other's answers.
        let _one = self.questions.lock().unwrap_or_else(|e| e.into_inner());
        self.shared.node_stats()
    }

    /// The encoded job record of `f(args)`, or why it cannot be sent.
    pub(crate) fn record<A: Message>(
        &self,
        fn_id: u32,
        args: &A,
    ) -> Result<Record, JobError<Never>> {
        encode_record(fn_id, args, self.max_record)
    }

    /// Python's `shutdown()`: stops accepting jobs, lets the nodes finish every queued and
    /// running job, then stops their pools; returns when they are gone. `Drop` does this.
    pub fn shutdown(&self) {
        self.shutdown_with(Shutdown::new());
    }

    /// [`shutdown`](Self::shutdown) with `Pool::shutdown_with`'s options: `wait(false)`
    /// returns at once (the nodes finish in the background; the pool's drop waits for
    /// them), `cancel_futures(true)` cancels every job that has not started (on rank 0 and
    /// on the nodes), `timeout(d)` terminates what still runs after `d` (those futures fail
    /// with [`JobError::Cancelled`]). True if everything finished in time. Idempotent.
    ///
    /// With `timeout(d)` it returns within about `d` + 2 s even while a node is frozen or
    /// unreachable: once `d` has passed it waits at most 2 s for the nodes' answers to its
    /// terminate, then fails the jobs of a node that did not answer with `Cancelled`
    /// (named on stderr; the node kills them if it ever resumes). Every job done in time,
    /// it waits for the end of the node pools at most until `d` + 2 s (a silent node ends
    /// its pool when it resumes). With `wait(false)` the time-out is ignored, and the
    /// cancels of `cancel_futures(true)` are final when it returns, as without one.
    pub fn shutdown_with(&self, how: Shutdown) -> bool {
        let (wait, cancel_futures, timeout) = zeroproc_sched::raw::shutdown_options(&how);
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        self.close();
        if cancel_futures {
            let tokens = {
                let mut st = self.shared.lock();
                self.shared.cancel_queue(&mut st);
                let tokens = st.owed_tokens();
                self.shared.unlock(st); // callbacks of the cancelled jobs
                tokens
            };
            let mut asked = Vec::new();
            for t in tokens {
                // A refusal (running, done) needs no answer here; a node's answer is
                // awaited below, so no cancelled job starts after this returns.
                if self.shared.request_cancel(t, false).is_none() {
                    asked.push(t);
                }
            }
            // The time-out bounds a shutdown that waits (what the cancels leave pending
            // is terminated after it). One that does not wait ignores it for the jobs, so
            // it must not cut this wait either: the cancels would not be final when it
            // returns (Python's `shutdown(wait=False, cancel_futures=True)` returns with
            // them cancelled; `a_shutdown_without_wait_cancels_before_returning`).
            self.shared.await_cancels(&asked, deadline.filter(|_| wait));
        }
        if !wait {
            return self.shared.owed() == 0;
        }
        if deadline.is_none() {
            // Waits as Python's `shutdown(wait=True)`, but a node that owes jobs and stops
            // answering (frozen, hung) aborts the run naming it, as a dead one does.
            live::wait_or_abort(&self.shared, "being shut down");
        }
        if !self.shared.wait_until(deadline, || self.shared.owed() == 0) {
            self.terminate_within(TIMED_END_WAIT);
            return false;
        }
        // A time-out bounds the end of the node pools too: with every job done, a frozen
        // node held a `timeout(1 s)` shutdown for the full 60 s
        // (`a_timed_shutdown_keeps_its_time_when_frozen_nodes_owe_nothing`). Such a node
        // ends its pool when it reads the command, if it ever resumes.
        let wait = deadline.map_or(END_WAIT, |d| {
            (d.saturating_duration_since(Instant::now()) + TIMED_END_WAIT).min(END_WAIT)
        });
        self.end(op::SHUTDOWN, wait);
        true
    }

    /// Stops now: queued jobs are cancelled, running jobs are killed with their workers on
    /// every node (their futures fail with [`JobError::Cancelled`]), and the node pools are
    /// gone when this returns — but for a node that does not answer within 60 s (frozen,
    /// unreachable), whose unfinished jobs then fail with `Cancelled`.
    pub fn terminate(&self) {
        self.terminate_within(END_WAIT);
    }

    /// [`terminate`](Self::terminate), waiting at most `wait` in all for the nodes'
    /// answers and the outcomes they send (those at most 5 s after the answers).
    fn terminate_within(&self, wait: Duration) {
        let until = Instant::now() + wait;
        self.close();
        let mut st = self.shared.lock();
        st.terminating = true; // a job being moved between nodes is cancelled, not moved
        self.shared.cancel_queue(&mut st);
        self.shared.unlock(st); // callbacks of the cancelled jobs
        self.end(op::TERMINATE, wait);
        let outcomes = (Instant::now() + Duration::from_secs(5)).min(until);
        self.shared.wait_until(Some(outcomes), || self.shared.owed() == 0);
        self.fail_unanswered();
    }

    /// After `terminate`: jobs a node still owes (it did not answer the terminate: frozen,
    /// or its host unreachable) fail with `Cancelled`, as `terminate` promises, so no future
    /// waits for ever; the node kills them if it ever reads the terminate. Before
    /// (cluster30), with a node frozen by SIGSTOP, `terminate` returned with its futures
    /// pending and `result()` on them never returned.
    fn fail_unanswered(&self) {
        let mut st = self.shared.lock();
        let (n, ranks) = self.shared.fail_agents_jobs(&mut st, JobError::Cancelled);
        self.shared.unlock(st); // their callbacks
        if n > 0 {
            zeroproc_sched::note!(
                "zeroproc-cluster: ranks {ranks:?} did not answer the pool's terminate; their \
                 {n} unfinished jobs fail with Cancelled"
            );
            self.shared.poke(); // wake the threads waiting on them
        }
    }

    fn close(&self) {
        // Release: pairs with the Acquire in `submit`.
        self.shared.closed.store(true, Ordering::Release);
    }

    /// Takes the node pools down (`code`: SHUTDOWN or TERMINATE) and waits for every
    /// agent's answer, at most `wait` (or the test hook's answer wait); then stops the
    /// progress thread. Once.
    fn end(&self, code: u8, wait: Duration) {
        // AcqRel: `end` runs once, whichever of shutdown/terminate/drop gets here first.
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        let agents: Vec<usize> = {
            let mut st = self.shared.lock();
            let mut ranks = Vec::new();
            for t in st.targets.iter_mut() {
                match &t.via {
                    Via::Agent(r) => ranks.push(*r),
                    Via::Local(p) if code == op::TERMINATE => p.terminate(),
                    Via::Local(p) => p.shutdown(),
                }
            }
            // Jobs a map staged reach their nodes before the command that ends them.
            self.shared.flush(&mut st);
            ranks
        };
        let live = launch::live();
        if live && !agents.is_empty() {
            let mut args = self.shared.id.to_le_bytes().to_vec();
            args.push(0);
            for &r in &agents {
                self.shared.command(r, code, &args);
            }
            let mut answered = 0;
            let mut idle = Idle::default();
            let until = Instant::now() + crate::shared::node_wait(END_WAIT).min(wait);
            while answered < agents.len() && Instant::now() < until {
                self.shared.progress();
                let replies = self.shared.take_replies(op::SHUTDOWN);
                let n = replies.len();
                answered += n;
                self.shared.keep_last_stats(replies);
                if n > 0 {
                    idle.active();
                } else {
                    idle.pause();
                }
            }
            // Outcomes the agents sent before answering (terminated jobs) are in.
            self.shared.progress();
        }
        if !self.init_arrays.is_empty() {
            // No worker of this pool runs its initializer any more.
            agents
                .iter()
                .for_each(|&r| crate::shared::release_shipped(r, &self.init_arrays, false));
        }
        // Relaxed: see `progress_loop`.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.progress.lock().unwrap_or_else(|e| e.into_inner()).take() {
            // From a done-callback the progress thread runs (a callback that shuts down,
            // terminates or drops its own pool), joining itself would fail (before: a
            // panic, "Resource deadlock avoided", and the pool half ended): it sees the
            // stop flag once the callback returns, and ends on its own.
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
        if let Some(mut c) = launch::controller() {
            c.close_route(self.shared.id);
        }
    }
}

impl Drop for ClusterPool {
    /// [`shutdown`](ClusterPool::shutdown), or `terminate` while the thread panics.
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.terminate();
        } else {
            self.shutdown();
        }
    }
}

/// An encoded job record, and the segment ids of the handles its arguments hold.
///
/// The ids are learnt while the arguments are archived (`zeroproc_mp::segment_refs`: every
/// handle archives its segment's id through one field adapter), never read back from the
/// record's bytes: a `String` or byte payload that spells an id is the user's data and is
/// neither refused nor shipped (before, the bytes were scanned for id-shaped text, and
/// such data was taken for a handle).
pub(crate) struct Record {
    /// The envelope: header, then the rkyv archive of the arguments.
    pub bytes: AlignedVec<16>,
    /// The segment ids of the handles in the arguments (distinct; usually none).
    pub ids: Vec<String>,
}

/// Encodes the job record (envelope: header with `fn_id`, rkyv archive of `args`) once,
/// through the one send path into a buffer of at most `max` bytes; it travels unchanged
/// from here to the worker. The handles archived on the way are collected with it.
pub(crate) fn encode_record<A: Message>(
    fn_id: u32,
    args: &A,
    max: usize,
) -> Result<Record, JobError<Never>> {
    use zeroproc_codec::send::{send, Buffer, NoOverflow, SendError};
    let mut buf = Buffer::limited(max.max(envelope::HEADER_LEN));
    let (sent, ids) = zeroproc_mp::segment_refs::collect(|| {
        send(&mut buf, &mut NoOverflow, Header::new(0, fn_id), args)
    });
    match sent {
        Ok(_) => Ok(Record { bytes: buf.into_vec(), ids }),
        Err(SendError::Overflow(u)) => Err(JobError::TooLarge {
            message: format!(
                "the arguments need at least {} bytes; a cluster job record is at most {max} \
                 bytes (what every node's spill heap holds); give the pool a larger \
                 ClusterBuilder::spill_heap, or pass the data in a SharedArray (its handle \
                 is a few bytes; the array is shipped to each node once)",
                u.need
            ),
        }),
        Err(SendError::Serialize(e)) => Err(JobError::Decode { message: e.to_string() }),
        Err(SendError::Records(never) | SendError::Finish(never)) => match never {},
    }
}
