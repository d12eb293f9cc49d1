//! The controller's state of one cluster pool: its targets (the node agents, and rank 0's
//! own pool if it has one), the jobs owed, and the queue of jobs no target has room for.
//!
//! **Dispatch is work-conserving across nodes.** Each target takes at most its *window*
//! of jobs (`window_per_worker` × its workers to start with): a job is sent to a node only
//! when the node has room, so a slow or busy node never holds jobs another could start; the
//! rest wait here, in submission order, and go to whichever target frees room first. A
//! target that answers its whole window while jobs wait here doubles its window (tiny
//! jobs: the window must cover the MPI round trip), up to 1024 per worker. Inside a node
//! the node's pool balances over its workers as on one machine.
//!
//! **Jobs a busy target holds move to an idle one.** A window is more than a target's
//! workers (it covers the round trip), so a node (or rank 0's own pool) whose workers are
//! all taken by long jobs still holds jobs that have not started. When nothing waits here
//! and some target has an idle worker, rank 0 takes the newest such jobs back (`CANCEL`
//! to a node, `RecordHandle::cancel` in its own pool: the same exact revocation as
//! `ClusterFuture::cancel`; a refusal means it started, and that job is not tried again)
//! and places them again: a short job never waits behind a long one while a worker
//! anywhere idles. Rank 0 keeps each record sent until its outcome arrives (no copy: the
//! buffer the job was encoded into; at most `KEEP_FOR_RESEND` bytes), to send it again.
//! A job holding a node-local handle is never moved.
//!
//! **Progress is caller-driven** (as in the local pool): a thread waiting for a result
//! polls MPI and the local pool itself (`progress`, a `try_lock`), yielding and then
//! sleeping with backoff (`idle.rs`); the pool's progress thread polls only while nobody
//! waits, so callbacks run and queued jobs flow on their own. Done-callbacks a waiting
//! thread receives are handed to the progress thread (`run_after`): a wait never runs
//! another future's callback.

mod progress;
mod query;
mod waiting;

pub(crate) use progress::waiting_for;
pub use query::set_answer_wait;
pub(crate) use query::{node_wait, ANSWER_WAIT};

use crate::launch;
use crate::outbox::Outbox;
use crate::pool::Record;
use crate::ship::{Need, Placement};
use crate::wire::{self, op, TAG_CMD, TAG_JOBS};
use rkyv::util::AlignedVec;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;
use zeroproc_sched::raw::{RecordError, RecordHandle};
use zeroproc_sched::{JobError, Never, Pool};

/// Where a job's outcome goes (a future's slot, or a map's queue).
pub(crate) trait Dest: Send + Sync {
    /// Stores the outcome of job `index` (a result envelope, or an error). True when
    /// [`after`](Self::after) must run once the state lock is released.
    fn complete(&self, index: u64, outcome: Result<&[u8], JobError<Never>>) -> bool;
    /// Runs callbacks, outside the lock.
    fn after(&self) {}
    /// True if [`after`](Self::after) runs user code (done-callbacks): then a thread
    /// waiting on the pool hands it to the pool's progress thread (`Shared::run_after`).
    fn runs_user_code(&self) -> bool {
        false
    }
}

/// Where a target's jobs go.
pub(crate) enum Via {
    /// A node agent (MPI rank).
    Agent(usize),
    /// Rank 0's own pool.
    Local(Pool),
}

/// The id of the next cluster pool (it numbers its jobs from `id << POOL_SHIFT`).
static POOLS: AtomicU64 = AtomicU64::new(0);

/// A fresh pool id: unique in this run, so a late outcome of an earlier pool (after a
/// terminate gave up waiting) matches no job, and agents tell the pools apart.
pub(crate) fn next_pool_id() -> u64 {
    // Relaxed: a counter; nothing else is published with it.
    POOLS.fetch_add(1, Ordering::Relaxed)
}

/// The largest window per worker a target grows to (the local `map`'s cap).
const MAX_WINDOW_PER_WORKER: usize = 1024;

pub(crate) struct Target {
    pub via: Via,
    pub workers: usize,
    pub window: usize,
    /// The most `window` grows to.
    max_window: usize,
    pub in_flight: usize,
    /// Records staged for this agent (`TAG_JOBS` batch).
    outgoing: Vec<u8>,
    /// Tokens sent to this agent, oldest first (some answered already: trimmed lazily);
    /// the newest are the ones taken back for an idle target.
    sent: VecDeque<u64>,
}

struct Owed {
    dest: Arc<dyn Dest>,
    index: u64,
    /// Index into `targets`, `None` while queued here.
    target: Option<usize>,
    /// Rank 0's pool only: the job there.
    local: Option<RecordHandle>,
    /// The read-only arrays it reads, shipped to the node that runs it (`ship.rs`).
    arrays: Vec<Need>,
    /// Sent to a target: the record and its time limit, kept to place the job again if
    /// it is taken back from a busy target (see the module's docs).
    resend: Option<(u64, AlignedVec<16>)>,
    /// False for a job holding a node-local handle: it runs on rank 0's pool only.
    movable: bool,
}

pub(crate) struct State {
    pub targets: Vec<Target>,
    owed: HashMap<u64, Owed>,
    /// Jobs no target had room for: (token, timeout_ns, record).
    queue: waiting::Waiting,
    /// Jobs holding a node-local handle, waiting for room on rank 0's own pool.
    local_queue: waiting::Waiting,
    next_token: u64,
    /// Cancels an agent answered with "running or done".
    refused: HashSet<u64>,
    /// Replies to commands: (rank, opcode, arguments).
    replies: Vec<(usize, u8, Vec<u8>)>,
    /// Questions (`RUNNING`, `STATS`) whose askers still wait, by number: a reply to any
    /// other question came after its asker gave up and is dropped (`query.rs`).
    asked: HashSet<u64>,
    after: Vec<Arc<dyn Dest>>,
    /// Jobs being taken back from a busy node (`rebalance`).
    stealing: HashSet<u64>,
    /// Jobs on a node that the user asked to cancel or terminate: never taken back, and
    /// their `Cancelled` outcome is the job's even if rank 0 was moving them.
    cancel_asked: HashSet<u64>,
    /// `terminate` began: a job taken back is cancelled, not placed again.
    pub terminating: bool,
    /// Bytes of the records kept in `Owed::resend` (at most [`KEEP_FOR_RESEND`]).
    kept: usize,
    /// When a record was first staged in a `Target::outgoing` batch since the last
    /// [`Shared::flush`] (a map staged it and its input's next read blocks): a progress
    /// poll sends batches staged for over [`STAGED_MAX`].
    staged_at: Option<std::time::Instant>,
}

/// How long a record staged for a node (by a map whose input's next read is slow, or
/// blocks) waits before a progress poll sends it. Short against a blocking read; long
/// enough that the progress thread, polling hot while a map reads a fast input, does not
/// split the map's batches into a message per job.
pub(crate) const STAGED_MAX: Duration = Duration::from_millis(1);

/// The most record bytes a cluster pool keeps to move jobs between nodes; past it a job
/// sent to a node stays there (its record is not kept), so rank 0's memory stays bounded
/// with large arguments in wide windows.
const KEEP_FOR_RESEND: usize = 64 << 20;

impl State {
    /// Jobs waiting on rank 0 for a target with room (`queue` and `local_queue`): what
    /// [`ClusterPool::stats`](crate::ClusterPool::stats) reports as its backlog.
    pub(crate) fn waiting(&self) -> usize {
        self.queue.len() + self.local_queue.len()
    }

    /// Forgets the record kept for job `o` (answered, or failed).
    fn unkeep(&mut self, o: &mut Owed) -> Option<(u64, AlignedVec<16>)> {
        let r = o.resend.take();
        if let Some((_, rec)) = &r {
            self.kept -= rec.len();
        }
        r
    }

    /// Fails owed job `token` with `e` (its destination is completed after the lock, from
    /// `after`); an outcome that arrives later is dropped (the token is no longer owed:
    /// `resolve`). Returns the rank of the node agent it was sent to, if any; `None` also
    /// when it is not owed.
    fn fail_owed(&mut self, token: u64, e: JobError<Never>) -> Option<usize> {
        let mut o = self.owed.remove(&token)?;
        self.unkeep(&mut o);
        let rank = o.target.and_then(|i| {
            self.targets[i].in_flight -= 1;
            match self.targets[i].via {
                Via::Agent(r) => Some(r),
                Via::Local(_) => None,
            }
        });
        if o.dest.complete(o.index, Err(e)) {
            self.after.push(o.dest);
        }
        rank
    }

    /// The ranks of the node agents that owe jobs, in order.
    fn owing_agents(&self) -> Vec<usize> {
        let mut ranks: Vec<usize> = self
            .owed
            .values()
            .filter_map(|o| match self.targets[o.target?].via {
                Via::Agent(r) => Some(r),
                Via::Local(_) => None,
            })
            .collect();
        ranks.sort_unstable();
        ranks.dedup();
        ranks
    }
}

pub(crate) struct Shared {
    /// This cluster pool's id (`wire::pool_of` of its tokens).
    pub id: u64,
    pub state: Mutex<State>,
    pub closed: AtomicBool,
    local_outbox: Arc<Outbox>,
    /// Completions so far (waiters compare it) and the condition they sleep on.
    completed: AtomicU64,
    changed: Condvar,
    sleepers: Mutex<()>,
    /// Threads blocked (or about to block) on `changed`: only then does a completion pay
    /// for `notify_all` (a futex system call), not when the waiter polls for itself.
    sleeping: AtomicUsize,
    /// Threads in `wait_until` (the progress thread leaves progress to them).
    pub waiters: AtomicUsize,
    pub timeout_ns: u64,
    /// When the pool was built (`stats().uptime`).
    pub created: std::time::Instant,
    /// Futures of this pool terminate their job when dropped unfinished.
    pub cancel_on_drop: bool,
    /// Each agent's statistics when its node pool went down, as (rank, `STATS` reply):
    /// what `stats()` reports once the pool has ended, as `Pool::stats` after shutdown.
    last_stats: Mutex<Option<Vec<NodeStats>>>,
    /// Done-callbacks a waiting thread received, for the progress thread to run
    /// (`run_after`).
    deferred: Mutex<Vec<Arc<dyn Dest>>>,
    /// The progress thread runs deferred callbacks (false before it starts and once it
    /// has ended: then the thread that receives an outcome runs its callbacks).
    callback_thread: AtomicBool,
    /// The progress thread, unparked when a callback is deferred to it.
    callback_runner: std::sync::OnceLock<std::thread::Thread>,
}

/// A node's `STATS` reply, by rank.
pub(crate) type NodeStats = (usize, Vec<u8>);

impl Shared {
    pub(crate) fn new(
        id: u64,
        targets: Vec<Target>,
        local_outbox: Arc<Outbox>,
        timeout_ns: u64,
    ) -> Self {
        Shared {
            id,
            state: Mutex::new(State {
                targets,
                owed: HashMap::new(),
                queue: waiting::Waiting::new(),
                local_queue: waiting::Waiting::new(),
                // Token 0 means "never sent" (a failed future).
                next_token: (id << wire::POOL_SHIFT) | 1,
                refused: HashSet::new(),
                replies: Vec::new(),
                asked: HashSet::new(),
                after: Vec::new(),
                stealing: HashSet::new(),
                cancel_asked: HashSet::new(),
                kept: 0,
                terminating: false,
                staged_at: None,
            }),
            closed: AtomicBool::new(false),
            local_outbox,
            completed: AtomicU64::new(0),
            changed: Condvar::new(),
            sleepers: Mutex::new(()),
            sleeping: AtomicUsize::new(0),
            waiters: AtomicUsize::new(0),
            timeout_ns,
            created: std::time::Instant::now(),
            cancel_on_drop: false,
            last_stats: Mutex::new(None),
            deferred: Mutex::new(Vec::new()),
            callback_thread: AtomicBool::new(false),
            callback_runner: std::sync::OnceLock::new(),
        }
    }

    /// Keeps the statistics the agents sent with their `SHUTDOWN` replies.
    pub(crate) fn keep_last_stats(&self, replies: Vec<NodeStats>) {
        let mut g = self.last_stats.lock().unwrap_or_else(|e| e.into_inner());
        g.get_or_insert_with(Vec::new).extend(replies);
    }

    /// The agents' statistics kept when the pool ended, if it has.
    pub(crate) fn last_stats(&self) -> Option<Vec<NodeStats>> {
        self.last_stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues job `record` for `dest` (as its `index`); returns its token. The record goes
    /// to a target with room now or waits here; [`flush`](Self::flush) sends the batches.
    #[inline]
    pub(crate) fn place(
        &self,
        st: &mut State,
        record: Record,
        dest: Arc<dyn Dest>,
        index: u64,
        timeout_ns: u64,
    ) -> u64 {
        let token = st.next_token;
        st.next_token += 1;
        let Record { bytes: record, ids } = record;
        let arrays = match crate::ship::classify(&ids) {
            Placement::Anywhere => Vec::new(),
            Placement::Ship(needs) => needs,
            Placement::Local(id, why) => {
                return self.place_local(st, token, record, dest, index, timeout_ns, id, why)
            }
        };
        st.owed.insert(
            token,
            Owed { dest, index, target: None, local: None, arrays, resend: None, movable: true },
        );
        let mut record = record;
        if st.queue.is_empty() {
            if let Some(t) = st.pick() {
                match self.send_to(st, t, token, timeout_ns, record) {
                    Ok(()) => return token,
                    Err(back) => record = back,
                }
            }
        }
        st.queue.push_back((token, timeout_ns, record));
        token
    }

    /// A job whose arguments name node-local memory that cannot be shipped (`id`, for the
    /// reason `why`): it runs on rank 0's own pool, or fails now if there is none.
    #[cold]
    #[allow(clippy::too_many_arguments)]
    fn place_local(
        &self,
        st: &mut State,
        token: u64,
        record: AlignedVec<16>,
        dest: Arc<dyn Dest>,
        index: u64,
        timeout_ns: u64,
        id: String,
        why: String,
    ) -> u64 {
        let Some(local) = st.targets.iter().position(|t| matches!(t.via, Via::Local(_))) else {
            let message = local_refusal(&id, &why);
            if dest.complete(index, Err(JobError::Decode { message })) {
                st.after.push(dest);
            }
            return token;
        };
        st.owed.insert(
            token,
            Owed {
                dest,
                index,
                target: None,
                local: None,
                arrays: Vec::new(),
                resend: None,
                movable: false,
            },
        );
        let t = &st.targets[local];
        let record = if st.local_queue.is_empty() && t.in_flight < t.window {
            match self.send_to(st, local, token, timeout_ns, record) {
                Ok(()) => return token,
                Err(back) => back,
            }
        } else {
            record
        };
        st.local_queue.push_back((token, timeout_ns, record));
        token
    }

    /// Runs what completing jobs under the lock left to do, after releasing it.
    pub(crate) fn unlock(&self, mut st: MutexGuard<'_, State>) {
        let after = std::mem::take(&mut st.after);
        drop(st);
        for d in after {
            d.after();
        }
    }

    /// Gives job `token` to target `t`. Rank 0's own pool may have no room in its rings
    /// (large records, or more jobs than its claim regions): the record is handed back and
    /// the target's window shrinks to what it holds, so the job waits for room here.
    fn send_to(
        &self,
        st: &mut State,
        t: usize,
        token: u64,
        timeout_ns: u64,
        record: AlignedVec<16>,
    ) -> Result<(), AlignedVec<16>> {
        st.targets[t].in_flight += 1;
        let State { targets, owed, after, kept, staged_at, .. } = &mut *st;
        let target = &mut targets[t];
        let local = match &target.via {
            Via::Agent(rank) => {
                let needs = owed.get(&token).map_or(&[][..], |o| &o.arrays[..]);
                if !needs.is_empty() {
                    if let Err(message) = ship_to(*rank, needs) {
                        target.in_flight -= 1;
                        let o = owed.remove(&token).expect("sent jobs are owed");
                        if o.dest.complete(o.index, Err(JobError::Decode { message })) {
                            after.push(o.dest);
                        }
                        return Ok(());
                    }
                }
                let tokens: Vec<u64> = needs.iter().map(|n| n.token).collect();
                if staged_at.is_none() {
                    *staged_at = Some(std::time::Instant::now());
                }
                wire::push_job(&mut target.outgoing, token, timeout_ns, &record, &tokens);
                target.sent.push_back(token);
                if target.sent.len() > 2 * target.in_flight + 64 {
                    // Answered tokens behind a long job: drop them (amortized O(1)).
                    target.sent.retain(|k| owed.get(k).is_some_and(|o| o.target == Some(t)));
                }
                if let Some(o) = owed.get_mut(&token) {
                    o.target = Some(t);
                    if *kept + record.len() <= KEEP_FOR_RESEND {
                        *kept += record.len();
                        o.resend = Some((timeout_ns, record));
                    }
                }
                return Ok(());
            }
            Via::Local(pool) => {
                let timeout = (timeout_ns != 0).then(|| Duration::from_nanos(timeout_ns));
                match pool.try_submit_record(
                    &record,
                    self.local_outbox.clone(),
                    token,
                    timeout,
                    false,
                ) {
                    Ok(h) => {
                        if let Some(o) = owed.get_mut(&token) {
                            if o.movable && *kept + record.len() <= KEEP_FOR_RESEND {
                                target.sent.push_back(token);
                                *kept += record.len();
                                o.target = Some(t);
                                o.local = Some(h);
                                o.resend = Some((timeout_ns, record));
                                return Ok(());
                            }
                        }
                        Some(h)
                    }
                    Err(RecordError::Full) => {
                        target.in_flight -= 1;
                        target.window = target.in_flight.max(1);
                        return Err(record);
                    }
                    Err(e) => {
                        // The local pool refused it: fail it as an agent would.
                        let err = match e {
                            RecordError::Shutdown | RecordError::Full => JobError::Shutdown,
                            RecordError::NoWorkers => JobError::NoWorkers,
                            RecordError::TooLarge { .. } => {
                                JobError::TooLarge { message: e.to_string() }
                            }
                            RecordError::Invalid(m) => JobError::Decode { message: m },
                            // `#[non_exhaustive]`: a refusal not known here, with its
                            // message.
                            e => JobError::Decode { message: e.to_string() },
                        };
                        self.local_outbox.fail(token, &err);
                        None
                    }
                }
            }
        };
        if let Some(o) = st.owed.get_mut(&token) {
            o.target = Some(t);
            o.local = local;
        }
        Ok(())
    }

    /// Takes jobs that have not started back from busy nodes while another target has an
    /// idle worker and nothing waits here (see the module's docs): one `CANCEL` per idle
    /// worker not yet served by a move under way, for the newest job of the node holding
    /// the most beyond its workers.
    pub(crate) fn rebalance(&self, st: &mut State) {
        if !st.queue.is_empty() || st.terminating {
            return;
        }
        let idle: usize = st.targets.iter().map(|t| t.workers.saturating_sub(t.in_flight)).sum();
        let mut want = idle.saturating_sub(st.stealing.len());
        let mut commands = Vec::new();
        while want > 0 {
            // The target holding the most jobs beyond its workers (moves under way count
            // as gone).
            let mut best: Option<(usize, usize)> = None;
            for (i, t) in st.targets.iter().enumerate() {
                let leaving = st
                    .stealing
                    .iter()
                    .filter(|k| st.owed.get(k).is_some_and(|o| o.target == Some(i)))
                    .count();
                let extra = t.in_flight.saturating_sub(t.workers + leaving);
                if extra > 0 && best.is_none_or(|b| extra > b.1) {
                    best = Some((i, extra));
                }
            }
            let Some((i, _)) = best else { break };
            let State { targets, owed, stealing, cancel_asked, .. } = &mut *st;
            let t = &mut targets[i];
            // The newest job still owed by it and not being moved already.
            let mut pick = None;
            while let Some(&k) = t.sent.back() {
                let mine = owed
                    .get(&k)
                    .is_some_and(|o| o.target == Some(i) && o.resend.is_some() && o.movable);
                if !mine {
                    t.sent.pop_back();
                    continue;
                }
                if !stealing.contains(&k) && !cancel_asked.contains(&k) {
                    pick = Some(k);
                }
                break;
            }
            if pick.is_none() {
                // The newest is being moved: look further back (rare; bounded by `want`).
                pick = t.sent.iter().rev().copied().find(|k| {
                    !stealing.contains(k)
                        && !cancel_asked.contains(k)
                        && owed
                            .get(k)
                            .is_some_and(|o| o.target == Some(i) && o.resend.is_some() && o.movable)
                });
            }
            let Some(k) = pick else { break };
            stealing.insert(k);
            match &t.via {
                Via::Agent(rank) => commands.push((*rank, k)),
                // Rank 0's own pool: revoked here and now (exact); its `Cancelled` outcome
                // comes through the local outbox and is placed again like a node's.
                Via::Local(_) => {
                    let revoked =
                        owed.get(&k).and_then(|o| o.local.as_ref()).is_some_and(|h| h.cancel());
                    if !revoked {
                        // It started: never tried again.
                        stealing.remove(&k);
                        if let Some(o) = owed.get_mut(&k) {
                            o.movable = false;
                        }
                    }
                }
            }
            want -= 1;
        }
        if !commands.is_empty() {
            // A job a map staged (`ClusterMap::refill`) reaches its node before the
            // cancel of it (the same pair of ranks: MPI keeps their order).
            self.flush(st);
        }
        for (rank, k) in commands {
            self.command(rank, op::CANCEL, &k.to_le_bytes());
        }
    }

    /// The user cancels or terminates job `token` (owed by a target): it is not taken back
    /// from its node, and its `Cancelled` outcome is final even if it was being taken back.
    fn mark_cancelled(st: &mut State, token: u64) {
        if st.owed.contains_key(&token) {
            st.cancel_asked.insert(token);
        }
    }

    /// Sends every agent's staged records.
    pub(crate) fn flush(&self, st: &mut State) {
        if st.staged_at.take().is_none() {
            return;
        }
        let Some(mut c) = launch::controller() else { return };
        let Some(net) = c.net.as_mut() else { return };
        for t in st.targets.iter_mut().filter(|t| !t.outgoing.is_empty()) {
            if let Via::Agent(rank) = t.via {
                net.send(rank, TAG_JOBS, std::mem::take(&mut t.outgoing));
            }
        }
    }

    /// The jobs all targets may hold now.
    pub(crate) fn total_window(&self) -> usize {
        self.lock().targets.iter().map(|t| t.window).sum()
    }

    /// Moves queued jobs to targets with room, in order.
    pub(crate) fn drain_queue(&self, st: &mut State) {
        if let Some(l) = st.targets.iter().position(|t| matches!(t.via, Via::Local(_))) {
            while st.targets[l].in_flight < st.targets[l].window {
                let Some((token, timeout_ns, record)) = st.local_queue.pop_front() else { break };
                if let Err(back) = self.send_to(st, l, token, timeout_ns, record) {
                    st.local_queue.push_front((token, timeout_ns, back));
                    break;
                }
            }
        }
        while !st.queue.is_empty() {
            let Some(t) = st.pick() else { break };
            let (token, timeout_ns, record) = st.queue.pop_front().expect("not empty");
            if let Err(back) = self.send_to(st, t, token, timeout_ns, record) {
                // Out of room (Full implies jobs in flight there): the next completion
                // drains the queue again.
                st.queue.push_front((token, timeout_ns, back));
                break;
            }
        }
        self.flush(st);
    }

    /// Fails job `token` with `e` if it is still queued here; true if it was.
    pub(crate) fn fail_queued(&self, st: &mut State, token: u64, e: JobError<Never>) -> bool {
        if st.queue.remove(token).is_none() && st.local_queue.remove(token).is_none() {
            return false;
        }
        let o = st.owed.remove(&token).expect("queued jobs are owed");
        if o.dest.complete(o.index, Err(e)) {
            st.after.push(o.dest);
        }
        true
    }

    /// Fails every queued job with `Cancelled`.
    pub(crate) fn cancel_queue(&self, st: &mut State) {
        let tokens: Vec<u64> = st.queue.tokens().chain(st.local_queue.tokens()).collect();
        for t in tokens {
            self.fail_queued(st, t, JobError::Cancelled);
        }
    }

    /// Asks for job `token` to be cancelled (or, with `kill`, terminated) where it is.
    /// Returns `Some(true)` if it was cancelled here, `Some(false)` if it cannot be
    /// (unknown or done), `None` if a node agent was asked (the answer arrives as the
    /// job's outcome or as a refusal).
    pub(crate) fn request_cancel(&self, token: u64, kill: bool) -> Option<bool> {
        let mut st = self.lock();
        if self.fail_queued(&mut st, token, JobError::Cancelled) {
            let after = std::mem::take(&mut st.after);
            drop(st);
            after.iter().for_each(|d| d.after());
            self.bump();
            return Some(true);
        }
        Self::mark_cancelled(&mut st, token);
        let o = st.owed.get(&token)?;
        let t = o.target?;
        if let Some(h) = &o.local {
            let h = h.clone();
            drop(st);
            return Some(if kill {
                h.terminate();
                true
            } else {
                h.cancel()
            });
        }
        let Via::Agent(rank) = st.targets[t].via else { return Some(false) };
        // A job a map staged (`ClusterMap::refill`) reaches its node before the cancel of
        // it: a node answers a cancel of a job it has not received "not cancelled" (and
        // ignores a terminate of it), and the job would then run.
        self.flush(&mut st);
        drop(st);
        let code = if kill { op::TERMINATE_JOB } else { op::CANCEL };
        self.command(rank, code, &token.to_le_bytes());
        None
    }

    /// Cancels every job whose outcome goes to the destination at `me` (a dropped map's
    /// sink, compared by address) that has not started: queued here they fail now; on a
    /// node or rank 0's pool they are revoked there (a running job finishes). Their
    /// outcomes go to that destination, which nobody reads any more.
    pub(crate) fn cancel_dest(&self, me: *const ()) {
        let mut st = self.lock();
        let mine: Vec<u64> = st
            .owed
            .iter()
            .filter(|(_, o)| Arc::as_ptr(&o.dest) as *const () == me)
            .map(|(&t, _)| t)
            .collect();
        let mut commands = Vec::new();
        for t in mine {
            if self.fail_queued(&mut st, t, JobError::Cancelled) {
                continue;
            }
            Self::mark_cancelled(&mut st, t);
            let Some(o) = st.owed.get(&t) else { continue };
            if let Some(h) = &o.local {
                h.cancel();
            } else if let Some(Via::Agent(rank)) = o.target.map(|i| &st.targets[i].via) {
                commands.push((*rank, t));
            }
        }
        // Room freed by the jobs failed here goes to other jobs waiting.
        self.drain_queue(&mut st);
        self.unlock(st);
        for &(rank, t) in &commands {
            self.command(rank, op::CANCEL, &t.to_le_bytes());
        }
        self.bump();
        let tokens: Vec<u64> = commands.iter().map(|c| c.1).collect();
        self.await_cancels(&tokens, None);
    }

    /// Waits until every node asked to cancel `tokens` has answered (the job's outcome, or
    /// a refusal: it runs), so a job said to be cancelled cannot start afterwards — as
    /// Python's `cancel()` is final when it returns (before, a map's drop returned with
    /// its cancels still on their way, and jobs a worker freed just then ran). A round
    /// trip; bounded by the answer wait (a frozen agent, `query::ANSWER_WAIT`) and by
    /// `deadline` (a timed shutdown's).
    pub(crate) fn await_cancels(&self, tokens: &[u64], deadline: Option<std::time::Instant>) {
        if tokens.is_empty() {
            return;
        }
        let answered = |st: &State, t: &u64| !st.owed.contains_key(t) || st.refused.contains(t);
        let until = std::time::Instant::now() + node_wait(ANSWER_WAIT);
        let deadline = deadline.map_or(until, |d| d.min(until));
        self.wait_until(Some(deadline), || {
            let st = self.lock();
            tokens.iter().all(|t| answered(&st, t))
        });
        let mut st = self.lock();
        for t in tokens {
            st.refused.remove(t);
        }
    }

    /// True if an agent refused to cancel `token` (running or done); forgets it.
    pub(crate) fn take_refusal(&self, token: u64) -> bool {
        self.lock().refused.remove(&token)
    }

    /// Sends one command to an agent.
    pub(crate) fn command(&self, rank: usize, code: u8, args: &[u8]) {
        if let Some(mut c) = launch::controller() {
            if let Some(net) = c.net.as_mut() {
                net.send(rank, TAG_CMD, wire::command(code, args));
            }
        }
    }

    /// Takes the replies with opcode `code` received so far: (rank, arguments).
    pub(crate) fn take_replies(&self, code: u8) -> Vec<(usize, Vec<u8>)> {
        let mut st = self.lock();
        let (mine, rest) = std::mem::take(&mut st.replies).into_iter().partition(|r| r.1 == code);
        st.replies = rest;
        mine.into_iter().map(|(rank, _, args): (usize, u8, Vec<u8>)| (rank, args)).collect()
    }

    /// Opens question `q` (its answers will be kept until [`close_question`](Self::close_question)).
    pub(crate) fn open_question(&self, q: u64) {
        self.lock().asked.insert(q);
    }

    /// Closes question `q`: answers to it that arrive later are dropped.
    pub(crate) fn close_question(&self, q: u64) {
        self.lock().asked.remove(&q);
    }

    /// Takes the answers with opcode `code` to question `q` received so far, as (rank,
    /// arguments after the question number), and drops those to closed questions (their
    /// askers gave up waiting: a node that answered late). Answers to other open questions
    /// stay for their askers.
    pub(crate) fn take_answers(&self, code: u8, q: u64) -> Vec<(usize, Vec<u8>)> {
        let mut st = self.lock();
        let st = &mut *st;
        let mut mine = Vec::new();
        let number = |a: &[u8]| a.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8")));
        st.replies.retain_mut(|(rank, op, args)| {
            if *op != code {
                return true;
            }
            match number(args) {
                Some(n) if n == q => {
                    mine.push((*rank, args.split_off(8)));
                    false
                }
                Some(n) => st.asked.contains(&n),
                None => false,
            }
        });
        mine
    }

    /// Jobs owed (queued here or in flight on a target).
    pub(crate) fn owed(&self) -> usize {
        self.lock().owed.len()
    }
}

/// Makes node `rank` hold the arrays `needs` (sending what it lacks now, before the batch
/// the job goes in); `Err`: why not.
pub(crate) fn ship_to(rank: usize, needs: &[Need]) -> Result<(), String> {
    let Some(mut c) = launch::controller() else { return Ok(()) };
    let c = &mut *c;
    let Some(net) = c.net.as_mut() else { return Ok(()) };
    c.shipped.ensure(net, rank, needs)
}

/// Jobs that read `needs` on node `rank` have answered: their copies may be evicted.
/// `failed`: the node refused the job, its copy of one of them failed: ship them again.
pub(crate) fn release_shipped(rank: usize, needs: &[Need], failed: bool) {
    if let Some(mut c) = launch::controller() {
        c.shipped.release(rank, needs);
        if failed {
            c.shipped.failed(rank, needs);
        }
    }
}

/// Why a job holding node-local handle `id` (not shippable: `why`) cannot run in a cluster
/// pool without workers on rank 0.
fn local_refusal(id: &str, why: &str) -> String {
    format!(
        "the arguments hold a node-local handle ({id}): it names shared memory on one node, \
         which a job on another node cannot attach, and it is not a read-only array that \
         could be shipped to the nodes ({why}); give rank 0 workers \
         (ClusterBuilder::local_workers) to run such jobs there, or send the data itself"
    )
}

impl Shared {
    /// Why `record` cannot run in this pool (it holds a node-local handle and rank 0 has
    /// no workers), if so.
    pub(crate) fn refuse_local(&self, ids: &[String]) -> Option<String> {
        let Placement::Local(id, why) = crate::ship::classify(ids) else { return None };
        let st = self.lock();
        let local = st.targets.iter().any(|t| matches!(t.via, Via::Local(_)));
        (!local).then(|| local_refusal(&id, &why))
    }

    /// True if a job (holding a node-local handle: `local`) could be sent now.
    pub(crate) fn has_room(&self, local: bool) -> bool {
        self.lock().has_room(local)
    }
}

impl State {
    /// True if a job (holding a node-local handle: `local`) could go to a target now
    /// rather than wait here.
    pub(crate) fn has_room(&self, local: bool) -> bool {
        if local {
            self.local_queue.is_empty()
                && self
                    .targets
                    .iter()
                    .any(|t| matches!(t.via, Via::Local(_)) && t.in_flight < t.window)
        } else {
            self.queue.is_empty() && self.pick().is_some()
        }
    }

    /// Every job owed.
    pub(crate) fn owed_tokens(&self) -> Vec<u64> {
        self.owed.keys().copied().collect()
    }

    /// The target with room and the fewest jobs per worker in flight.
    #[inline]
    fn pick(&self) -> Option<usize> {
        let mut best: Option<(usize, usize, usize)> = None;
        for (i, t) in self.targets.iter().enumerate() {
            if t.in_flight >= t.window {
                continue;
            }
            // Compare in_flight / workers without division.
            let better = match best {
                None => true,
                Some((_, f, w)) => t.in_flight * w < f * t.workers,
            };
            if better {
                best = Some((i, t.in_flight, t.workers.max(1)));
            }
        }
        best.map(|b| b.0)
    }
}

impl Target {
    pub(crate) fn new(via: Via, workers: usize, window: usize) -> Self {
        let max_window = (workers.max(1) * MAX_WINDOW_PER_WORKER).max(window);
        Target {
            via,
            workers,
            window: window.max(1),
            max_window,
            in_flight: 0,
            outgoing: Vec::new(),
            sent: VecDeque::new(),
        }
    }
}
