//! The node agent: every rank but 0. It owns one shared-memory [`Pool`] on its node (built
//! when the controller builds a [`ClusterPool`](crate::ClusterPool)), copies the job records
//! it receives into the pool's rings, and sends the result records back as the workers
//! wrote them. One thread, polling MPI and the pool; idle, it sleeps (`idle.rs`) instead of
//! spinning on the cores its workers use.

use crate::idle::Idle;
use crate::net::{Net, Received};
use crate::outbox::Outbox;
use crate::wire::{self, op, TAG_CMD, TAG_DONE, TAG_JOBS, TAG_REPLY};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use zeroproc_sched::raw::{RawOutcome, RecordError, RecordHandle, RecordSink};
use zeroproc_sched::{JobError, Pool, Shutdown};

struct Agent {
    net: Net,
    /// The controller's fingerprint matches ours (else `BUILD` is refused).
    same_build: bool,
    pool: Option<Pool>,
    handles: HashMap<u64, RecordHandle>,
    outbox: Arc<Outbox>,
    /// Records the rings had no room for yet: (token, timeout_ns, record).
    backlog: VecDeque<(u64, u64, Vec<u8>)>,
    stop: bool,
}

/// Serves until the controller says `STOP` (or the run ends).
pub(crate) fn serve(net: Net, same_build: bool) {
    let mut a = Agent {
        net,
        same_build,
        pool: None,
        handles: HashMap::new(),
        outbox: Arc::new(Outbox::default()),
        backlog: VecDeque::new(),
        stop: false,
    };
    let mut idle = Idle::default();
    while !a.stop {
        let mut busy = false;
        while let Some(m) = a.net.try_receive() {
            busy = true;
            a.handle(m);
            if a.stop {
                break;
            }
        }
        busy |= a.retry_backlog();
        if let Some(p) = &a.pool {
            busy |= p.poll_records();
        }
        busy |= a.send_outcomes();
        a.net.reap();
        if busy {
            idle.active();
        } else {
            idle.pause();
        }
    }
    if let Some(p) = a.pool.take() {
        p.terminate();
    }
    a.send_outcomes();
    a.net.flush();
}

impl Agent {
    fn handle(&mut self, m: Received) {
        match m.tag {
            TAG_JOBS => self.jobs(&m.bytes),
            TAG_CMD if !m.bytes.is_empty() => {
                self.command(m.bytes[0], &m.bytes[8.min(m.bytes.len())..])
            }
            _ => eprintln!(
                "zeroproc-cluster agent {}: unexpected message (tag {}, {} bytes) from rank {}",
                self.net.rank(),
                m.tag,
                m.bytes.len(),
                m.from
            ),
        }
    }

    fn jobs(&mut self, batch: &[u8]) {
        for e in wire::entries(batch, true) {
            if !self.backlog.is_empty() {
                self.backlog.push_back((e.token, e.word, e.body.to_vec()));
                continue;
            }
            if let Some(record) = self.place(e.token, e.word, e.body) {
                self.backlog.push_back((e.token, e.word, record));
            }
        }
        if let Some(p) = &self.pool {
            p.publish_records();
        }
    }

    /// Places one record; hands it back (as a copy to keep) when the rings are full.
    fn place(&mut self, token: u64, timeout_ns: u64, record: &[u8]) -> Option<Vec<u8>> {
        let Some(pool) = &self.pool else {
            self.fail(token, &JobError::Shutdown);
            return None;
        };
        let timeout = (timeout_ns != 0).then(|| Duration::from_nanos(timeout_ns));
        match pool.try_submit_record(record, self.outbox.clone(), token, timeout, true) {
            Ok(h) => {
                self.handles.insert(token, h);
                None
            }
            Err(RecordError::Full) => Some(record.to_vec()),
            Err(RecordError::Shutdown) => {
                self.fail(token, &JobError::Shutdown);
                None
            }
            Err(RecordError::NoWorkers) => {
                self.fail(token, &JobError::NoWorkers);
                None
            }
            Err(e @ RecordError::TooLarge { .. }) => {
                let message = format!("node {}: {e}", self.net.rank());
                self.fail(token, &JobError::TooLarge { message });
                None
            }
            Err(RecordError::Invalid(m)) => {
                let message = format!("node {}: {m}", self.net.rank());
                self.fail(token, &JobError::Decode { message });
                None
            }
        }
    }

    fn retry_backlog(&mut self) -> bool {
        let mut placed = false;
        while let Some((token, t, rec)) = self.backlog.pop_front() {
            if let Some(rec) = self.place(token, t, &rec) {
                self.backlog.push_front((token, t, rec));
                break;
            }
            placed = true;
        }
        if placed {
            if let Some(p) = &self.pool {
                p.publish_records();
            }
        }
        placed
    }

    fn fail(&self, token: u64, e: &JobError) {
        self.outbox.done(token, RawOutcome::Failed(e.clone()));
    }

    fn send_outcomes(&mut self) -> bool {
        let Some((bytes, tokens)) = self.outbox.take() else { return false };
        for t in tokens {
            self.handles.remove(&t);
        }
        self.net.send(0, TAG_DONE, bytes);
        true
    }

    fn reply(&mut self, op: u8, args: &[u8]) {
        self.net.send(0, TAG_REPLY, wire::command(op, args));
    }

    fn command(&mut self, code: u8, args: &[u8]) {
        let token = || {
            u64::from_le_bytes(args.get(..8).and_then(|b| b.try_into().ok()).unwrap_or_default())
        };
        match code {
            op::BUILD => self.build(args),
            op::CANCEL => {
                let t = token();
                if !self.cancel(t, false) {
                    self.reply(op::NOT_CANCELLED, &t.to_le_bytes());
                }
            }
            op::TERMINATE_JOB => {
                self.cancel(token(), true);
            }
            op::SHUTDOWN | op::TERMINATE => {
                if let Some(p) = self.pool.take() {
                    if code == op::TERMINATE {
                        p.terminate();
                    } else {
                        p.shutdown_with(Shutdown::new().cancel_futures(args.first() == Some(&1)));
                    }
                }
                for (t, _, _) in std::mem::take(&mut self.backlog) {
                    self.fail(t, &JobError::Cancelled);
                }
                self.send_outcomes();
                self.handles.clear();
                self.reply(op::SHUTDOWN, &[]);
            }
            op::STOP => self.stop = true,
            other => {
                eprintln!("zeroproc-cluster agent {}: unknown command {other}", self.net.rank())
            }
        }
    }

    /// Cancels (or with `kill`, terminates) the job `token`; true if it will not run.
    fn cancel(&mut self, token: u64, kill: bool) -> bool {
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

    fn build(&mut self, args: &[u8]) {
        if !self.same_build {
            let m = format!("node agent {} runs another build than rank 0", self.net.rank());
            return self.reply(op::ERROR, m.as_bytes());
        }
        if self.pool.is_some() {
            return self.reply(op::ERROR, b"a cluster pool is already open on this node");
        }
        let workers =
            args.get(0..4).map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4")) as usize);
        let timeout_ns =
            args.get(4..12).map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8")));
        let pin = args.get(12) != Some(&0);
        let ring =
            args.get(13..21).map_or(1 << 18, |b| u64::from_le_bytes(b.try_into().expect("8")));
        let workers = crate::node::workers(workers);
        let mut b = Pool::builder()
            .workers(workers)
            .pin(pin)
            .ring_capacity(ring as usize)
            .name(format!("cluster-node-{}", self.net.rank()));
        if let Some(cores) = crate::node::cores_for(workers).filter(|_| pin) {
            b = b.cores(cores);
        }
        if timeout_ns != 0 {
            b = b.job_time_limit(Duration::from_nanos(timeout_ns));
        }
        match b.build() {
            Ok(p) => {
                let mut r = (p.workers() as u32).to_le_bytes().to_vec();
                r.extend_from_slice(&(p.max_record() as u32).to_le_bytes());
                self.pool = Some(p);
                self.reply(op::BUILD, &r);
            }
            Err(e) => {
                let m = format!("node agent {}: {e}", self.net.rank());
                self.reply(op::ERROR, m.as_bytes());
            }
        }
    }
}
