//! One node pool of an agent: the shared-memory [`Pool`] it runs one cluster pool's jobs
//! on, the jobs forwarded into it, the records its rings had no room for yet, and the
//! outcomes waiting to go back to rank 0.

use crate::outbox::Outbox;
use crate::wire::STAT_WORDS;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use zeroproc_sched::raw::{Initializer, RawOutcome, RecordError, RecordHandle, RecordSink};
use zeroproc_sched::{JobError, Pool, Shutdown, WaitStrategy};

pub(super) struct NodePool {
    pool: Pool,
    /// This agent's rank (for messages).
    rank: usize,
    handles: HashMap<u64, RecordHandle>,
    outbox: Arc<Outbox>,
    /// Records the rings had no room for yet: (token, timeout_ns, record).
    backlog: VecDeque<(u64, u64, Vec<u8>)>,
}

impl NodePool {
    /// Builds the pool `BUILD` asks for: workers u32 (0: one per core), timeout_ns u64,
    /// pin u8, ring capacity u64, wait strategy u8 (0: the default, 1 spin, 2 spin then
    /// sleep, 3 sleep) and its spin ns u64, max jobs per worker u64 (0: none), spill heap
    /// bytes u64 (`u64::MAX`: the default), the cluster pool's name (len u32, UTF-8), then,
    /// if there is an initializer, 1 u8, its function id u32 and the envelope of its
    /// arguments (to the end, if any).
    pub(super) fn build(rank: usize, args: &[u8]) -> Result<NodePool, String> {
        let u32_at =
            |a: usize| args.get(a..a + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4")));
        let u64_at =
            |a: usize| args.get(a..a + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8")));
        let workers = crate::node::workers(u32_at(0).unwrap_or(0) as usize);
        let name_len = u32_at(46).unwrap_or(0) as usize;
        let name = args.get(50..50 + name_len).map_or("cluster".into(), String::from_utf8_lossy);
        // The initializer's shipped arrays (checked by the agent: `init_arrays`).
        let n_arrays = u32_at(50 + name_len).unwrap_or(0) as usize;
        let init_at = 54 + name_len + 8 * n_arrays;
        let timeout_ns = u64_at(4).unwrap_or(0);
        let pin = args.get(12) != Some(&0);
        let ring = u64_at(13).unwrap_or(1 << 18);
        let mut b = Pool::builder()
            .workers(workers)
            .pin(pin)
            .ring_capacity(ring as usize)
            .name(format!("{name}-node-{rank}"));
        if let Some(cores) = crate::node::cores_for(workers).filter(|_| pin) {
            b = b.cores(cores);
        }
        if timeout_ns != 0 {
            b = b.job_time_limit(Duration::from_nanos(timeout_ns));
        }
        let spin = Duration::from_nanos(u64_at(22).unwrap_or(0));
        match args.get(21) {
            Some(1) => b = b.wait_strategy(WaitStrategy::Spin),
            Some(2) => b = b.wait_strategy(WaitStrategy::SpinThenSleep { spin }),
            Some(3) => b = b.wait_strategy(WaitStrategy::Sleep),
            _ => {}
        }
        if let Some(n) = u64_at(30).filter(|&n| n > 0) {
            b = b.max_jobs_per_worker(n);
        }
        if let Some(n) = u64_at(38).filter(|&n| n != u64::MAX) {
            b = b.spill_heap(usize::try_from(n).unwrap_or(usize::MAX));
        }
        if let (Some(1), Some(fn_id)) = (args.get(init_at), u32_at(init_at + 1)) {
            let rest = &args[init_at + 5..];
            let init = Initializer { fn_id, args: (!rest.is_empty()).then(|| rest.to_vec()) };
            b = b.forwarded_initializer(&init);
        }
        let pool = b.build().map_err(|e| format!("node agent {rank}: {e}"))?;
        Ok(NodePool {
            pool,
            rank,
            handles: HashMap::new(),
            outbox: Arc::new(Outbox::default()),
            backlog: VecDeque::new(),
        })
    }

    /// The segment tokens of the shipped arrays the initializer of `BUILD` `args` reads.
    pub(super) fn init_arrays(args: &[u8]) -> Vec<u64> {
        let u32_at =
            |a: usize| args.get(a..a + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4")));
        let at = 50 + u32_at(46).unwrap_or(0) as usize;
        let n = u32_at(at).unwrap_or(0) as usize;
        (0..n)
            .map_while(|i| args.get(at + 4 + 8 * i..at + 12 + 8 * i))
            .map(|b| u64::from_le_bytes(b.try_into().expect("8")))
            .collect()
    }

    /// The `BUILD` reply: workers u32, max record u32.
    pub(super) fn built(&self) -> Vec<u8> {
        let mut r = (self.pool.workers() as u32).to_le_bytes().to_vec();
        // Saturated: a heap limit past 4 GiB still allows records up to 4 GiB (not a
        // truncated, smaller limit).
        let max = u32::try_from(self.pool.max_record()).unwrap_or(u32::MAX);
        r.extend_from_slice(&max.to_le_bytes());
        r
    }

    /// Takes one forwarded job: into a ring now, or behind the backlog.
    pub(super) fn take(&mut self, token: u64, timeout_ns: u64, record: &[u8]) {
        if !self.backlog.is_empty() {
            self.backlog.push_back((token, timeout_ns, record.to_vec()));
        } else if let Some(record) = self.place(token, timeout_ns, record) {
            self.backlog.push_back((token, timeout_ns, record));
        }
    }

    /// Publishes the records placed since the last call.
    pub(super) fn publish(&self) {
        self.pool.publish_records();
    }

    /// Places one record; hands it back (as a copy to keep) when the rings are full.
    fn place(&mut self, token: u64, timeout_ns: u64, record: &[u8]) -> Option<Vec<u8>> {
        let timeout = (timeout_ns != 0).then(|| Duration::from_nanos(timeout_ns));
        let e = match self.pool.try_submit_record(record, self.outbox.clone(), token, timeout, true)
        {
            Ok(h) => {
                self.handles.insert(token, h);
                return None;
            }
            Err(RecordError::Full) => return Some(record.to_vec()),
            Err(RecordError::Shutdown) => JobError::Shutdown,
            Err(RecordError::NoWorkers) => JobError::NoWorkers,
            Err(e @ RecordError::TooLarge { .. }) => {
                JobError::TooLarge { message: format!("node {}: {e}", self.rank) }
            }
            Err(RecordError::Invalid(m)) => {
                JobError::Decode { message: format!("node {}: {m}", self.rank) }
            }
            // `RecordError` is `#[non_exhaustive]`: a refusal this code does not know yet
            // still fails the job, with its message.
            Err(e) => JobError::Decode { message: format!("node {}: {e}", self.rank) },
        };
        self.fail(token, &e);
        None
    }

    /// Moves backlogged records into the rings while they have room; true if any moved.
    pub(super) fn retry_backlog(&mut self) -> bool {
        let mut placed = false;
        while let Some((token, t, rec)) = self.backlog.pop_front() {
            if let Some(rec) = self.place(token, t, &rec) {
                self.backlog.push_front((token, t, rec));
                break;
            }
            placed = true;
        }
        if placed {
            self.publish();
        }
        placed
    }

    /// Drains the pool's completions into the outbox; true if any arrived.
    pub(super) fn poll(&self) -> bool {
        self.pool.poll_records()
    }

    fn fail(&self, token: u64, e: &JobError) {
        self.outbox.done(token, RawOutcome::Failed(e.clone()));
    }

    /// The outcomes to send (a `TAG_DONE` batch), if any.
    pub(super) fn outcomes(&mut self) -> Option<Vec<u8>> {
        let (bytes, tokens) = self.outbox.take()?;
        for t in tokens {
            self.handles.remove(&t);
        }
        Some(bytes)
    }

    /// Cancels (or with `kill`, terminates) the job `token`; true if it will not run.
    pub(super) fn cancel(&mut self, token: u64, kill: bool) -> bool {
        if let Some(i) = self.backlog.iter().position(|b| b.0 == token) {
            self.backlog.remove(i);
            self.fail(token, &JobError::Cancelled);
            return true;
        }
        let Some(h) = self.handles.get(&token) else { return false };
        if kill {
            h.terminate();
            true
        } else {
            h.cancel()
        }
    }

    /// True while a worker runs job `token`.
    pub(super) fn running(&self, token: u64) -> bool {
        self.handles.get(&token).is_some_and(RecordHandle::running)
    }

    /// The `STATS` reply: [`STAT_WORDS`] u64 per worker.
    pub(super) fn stats(&self) -> Vec<u8> {
        let s = self.pool.stats();
        let mut v = Vec::with_capacity(s.workers.len() * STAT_WORDS * 8);
        for w in &s.workers {
            let words: [u64; STAT_WORDS] = [
                u64::from(w.pid),
                w.jobs_done,
                u64::try_from(w.busy.as_nanos()).unwrap_or(u64::MAX),
                u64::try_from(w.idle.as_nanos()).unwrap_or(u64::MAX),
                w.bytes_in,
                w.bytes_out,
                w.queued as u64,
                w.respawns,
                w.moved_away,
            ];
            words.iter().for_each(|x| v.extend_from_slice(&x.to_le_bytes()));
        }
        v
    }

    /// [`close`](Self::close), and the pool's statistics once it is down (a `STATS` reply).
    pub(super) fn close_with_stats(
        mut self,
        terminate: bool,
        cancel: bool,
    ) -> (Option<Vec<u8>>, Vec<u8>) {
        let outcomes = self.close_pool(terminate, cancel);
        (outcomes, self.stats())
    }

    /// Takes the pool down — `terminate`: kill what runs; else shut down, cancelling what
    /// has not started if `cancel` — and fails the backlog with `Cancelled`. Returns the
    /// last outcomes.
    pub(super) fn close(mut self, terminate: bool, cancel: bool) -> Option<Vec<u8>> {
        self.close_pool(terminate, cancel)
    }

    fn close_pool(&mut self, terminate: bool, cancel: bool) -> Option<Vec<u8>> {
        if terminate {
            self.pool.terminate();
        } else {
            self.pool.shutdown_with(Shutdown::new().cancel_futures(cancel));
        }
        for (t, _, _) in std::mem::take(&mut self.backlog) {
            self.fail(t, &JobError::Cancelled);
        }
        self.outcomes()
    }
}
