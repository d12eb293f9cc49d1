//! What travels over MPI between the controller (rank 0) and a node agent.
//!
//! ```text
//! TAG_JOBS  controller → agent   records: [token u64][timeout_ns u64][len u32][arrays n u32]
//!                                [record, padded to 8][array token u64 × n, padded to 16]
//! TAG_DONE  agent → controller   outcomes: [token u64][kind u32][len u32][payload, padded to 16]
//! TAG_CMD   controller → agent   one command: [op u8][0 × 7][args]
//! TAG_REPLY agent → controller   one reply:   [op u8][0 × 7][pool u64][args]
//! TAG_ARRAY controller → agent   an array copy (ship.rs): [id len u32][evictions n u32]
//!                                [token u64 × n][original's id, padded to 8][snapshot head]
//! TAG_ARRAY_DATA controller → agent  the copy's elements, right after its TAG_ARRAY
//!                                (none after a TAG_ARRAY with an empty id: evictions only)
//! ```
//!
//! **Several cluster pools share the run.** Every pool numbers its jobs from
//! `pool << POOL_SHIFT` (`pool_of(token)` gives it back), an agent keeps one node pool per
//! cluster pool, and every message names its pool: a job or an outcome by its token (a
//! `TAG_DONE` batch holds one pool's outcomes), a command by its first argument (`pool u64`
//! for `BUILD`, `SHUTDOWN`, `TERMINATE`, `STATS`; the token for the job commands), a reply
//! by its pool word. Rank 0 routes what it receives to the pool it names (`route.rs`).
//!
//! A record is the job's envelope exactly as encoded on the controller (header with the
//! function id, then the rkyv archive): the agent copies it into a worker's ring unchanged
//! but for the job id. An outcome's payload is the worker's result envelope exactly as it
//! lay in the completion ring. Every entry starts 16-byte aligned in its message, so an
//! envelope received into a 16-aligned buffer is aligned for rkyv. Little-endian.

use zeroproc_sched::{JobError, Never};

/// Job records (batch).
pub const TAG_JOBS: i32 = 11;
/// Job outcomes (batch).
pub const TAG_DONE: i32 = 12;
/// A command.
pub const TAG_CMD: i32 = 13;
/// A reply to a command.
pub const TAG_REPLY: i32 = 14;
/// A read-only array's snapshot for the node's cache (`ship.rs`), sent before the jobs
/// that read it.
pub const TAG_ARRAY: i32 = 15;
/// The elements of the array of the `TAG_ARRAY` just before (one buffer sent to every node).
pub const TAG_ARRAY_DATA: i32 = 16;

/// Command and reply opcodes.
pub mod op {
    /// Build the node pool of cluster pool `pool u64`: workers u32 (0: one per core),
    /// timeout_ns u64, pin u8, ring capacity u64, wait strategy u8 and spin ns u64, max
    /// jobs per worker u64, spill heap bytes u64, name (len u32, UTF-8), the initializer's
    /// shipped arrays (n u32, segment token u64 × n: sent before, `ship.rs`),
    /// [initializer: 1 u8, fn id u32, arguments' envelope].
    /// Reply: workers u32, max_record u32 — or `ERROR` with a message.
    pub const BUILD: u8 = 1;
    /// Cancel the job with token u64 if it has not started. Reply `NOT_CANCELLED` if not.
    pub const CANCEL: u8 = 2;
    /// Cancel or kill (terminate) the job with token u64.
    pub const TERMINATE_JOB: u8 = 3;
    /// Shut the node pool `pool u64` down (cancel u8): queued jobs run (or are cancelled), workers
    /// exit. Reply `SHUTDOWN` once the pool is gone.
    pub const SHUTDOWN: u8 = 4;
    /// Terminate the node pool `pool u64`: cancel queued jobs, kill running ones. Reply `SHUTDOWN`.
    pub const TERMINATE: u8 = 5;
    /// Leave: the agent takes its node pools down, sends their last outcomes, replies
    /// `STOP` (pool word 0, its last message) and finalizes MPI. Rank 0 receives until every
    /// agent's `STOP` reply: an agent's send completes only once rank 0 receives it (large
    /// messages), so neither may finalize while the other still sends.
    pub const STOP: u8 = 6;
    /// Reply: a cancel (token u64) found the job running or done.
    pub const NOT_CANCELLED: u8 = 7;
    /// Reply: an error message (UTF-8).
    pub const ERROR: u8 = 8;
    /// Is the job with token u64 running? Arguments: token u64, question u64. Reply
    /// `RUNNING`: question u64, token u64, running u8. The question's number lets rank 0
    /// drop an answer that came after its asker stopped waiting (`shared/query.rs`).
    pub const RUNNING: u8 = 9;
    /// The node pool `pool u64`'s worker statistics. Arguments: pool u64, question u64.
    /// Reply `STATS`: question u64, then per worker [`STAT_WORDS`](super::STAT_WORDS) u64
    /// (pid, jobs done, busy ns, idle ns, bytes in, bytes out, queued, respawns, moved away).
    pub const STATS: u8 = 10;
}

/// Words per worker in a `STATS` reply.
pub const STAT_WORDS: usize = 9;

/// How far a pool's tokens are shifted: pool `p` numbers its jobs from `p << POOL_SHIFT`.
pub const POOL_SHIFT: u32 = 40;

/// The cluster pool job `token` belongs to.
#[inline]
pub fn pool_of(token: u64) -> u64 {
    token >> POOL_SHIFT
}

/// The pool a message from an agent is about: a `TAG_DONE` batch's first token, a
/// `TAG_REPLY`'s pool word.
pub fn pool_of_message(tag: i32, bytes: &[u8]) -> Option<u64> {
    let word = |at: usize| Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    match tag {
        TAG_DONE => word(0).map(pool_of),
        TAG_REPLY => word(8),
        _ => None,
    }
}

/// A reply about pool `pool`: the opcode, padding, the pool, then `args`.
pub fn reply(op: u8, pool: u64, args: &[u8]) -> Vec<u8> {
    let mut v = vec![op, 0, 0, 0, 0, 0, 0, 0];
    v.extend_from_slice(&pool.to_le_bytes());
    v.extend_from_slice(args);
    v
}

/// Outcome kinds.
pub mod kind {
    /// The payload is the result envelope.
    pub const OK: u32 = 0;
    /// `Panicked`, payload: message.
    pub const PANICKED: u32 = 1;
    /// `WorkerDied`, payload: signal i32 (-1 none), exit code i32 (-1 none... see encode).
    pub const WORKER_DIED: u32 = 2;
    /// `TimeLimit` (the job ran past its time limit).
    pub const TIME_LIMIT: u32 = 3;
    /// `Cancelled`.
    pub const CANCELLED: u32 = 4;
    /// `Decode`, payload: message.
    pub const DECODE: u32 = 5;
    /// `NoWorkers`.
    pub const NO_WORKERS: u32 = 6;
    /// `Shutdown`.
    pub const SHUTDOWN: u32 = 7;
    /// `TooLarge`, payload: message.
    pub const TOO_LARGE: u32 = 8;
    /// `Timeout` (a wait gave up).
    pub const TIMEOUT: u32 = 9;
    /// `StackOverflow` (the job overflowed its worker's stack).
    pub const STACK_OVERFLOW: u32 = 10;
    /// `Decode`, payload: message — the node could not make its copy of a shipped array
    /// the job reads (`ship.rs`): rank 0 ships it again with the next job there.
    pub const NO_COPY: u32 = 11;
}

/// Bytes before a record in a `TAG_JOBS` message.
pub const JOB_PREFIX: usize = 24;
/// Bytes before a payload in a `TAG_DONE` message.
pub const DONE_PREFIX: usize = 16;

fn pad16(n: usize) -> usize {
    (n + 15) & !15
}

fn pad_to_16(buf: &mut Vec<u8>) {
    buf.resize(pad16(buf.len()), 0);
}

/// Appends one job record to a `TAG_JOBS` batch, with the segment tokens of the shipped
/// arrays it reads (`ship.rs`: the agent refuses it if its copy of one failed).
#[inline]
pub fn push_job(buf: &mut Vec<u8>, token: u64, timeout_ns: u64, record: &[u8], arrays: &[u64]) {
    buf.extend_from_slice(&token.to_le_bytes());
    buf.extend_from_slice(&timeout_ns.to_le_bytes());
    buf.extend_from_slice(&(record.len() as u32).to_le_bytes());
    buf.extend_from_slice(&(arrays.len() as u32).to_le_bytes());
    buf.extend_from_slice(record);
    if !arrays.is_empty() {
        buf.resize(buf.len().next_multiple_of(8), 0);
        arrays.iter().for_each(|t| buf.extend_from_slice(&t.to_le_bytes()));
    }
    pad_to_16(buf);
}

/// Appends one outcome to a `TAG_DONE` batch.
#[inline]
pub fn push_done(buf: &mut Vec<u8>, token: u64, kind: u32, payload: &[u8]) {
    push_done_parts(buf, token, kind, payload, &[]);
}

/// Appends one outcome whose payload is `a` then `b` (an envelope's header and archive).
#[inline]
pub fn push_done_parts(buf: &mut Vec<u8>, token: u64, kind: u32, a: &[u8], b: &[u8]) {
    buf.extend_from_slice(&token.to_le_bytes());
    buf.extend_from_slice(&kind.to_le_bytes());
    buf.extend_from_slice(&((a.len() + b.len()) as u32).to_le_bytes());
    buf.extend_from_slice(a);
    buf.extend_from_slice(b);
    pad_to_16(buf);
}

/// Appends a failed outcome.
pub fn push_error(buf: &mut Vec<u8>, token: u64, e: &JobError<Never>) {
    match e {
        JobError::Panicked { message } => push_done(buf, token, kind::PANICKED, message.as_bytes()),
        JobError::WorkerDied { signal, exit_code } => {
            let mut p = [0u8; 10];
            p[0] = u8::from(signal.is_some());
            p[1..5].copy_from_slice(&signal.unwrap_or(0).to_le_bytes());
            p[5] = u8::from(exit_code.is_some());
            p[6..10].copy_from_slice(&exit_code.unwrap_or(0).to_le_bytes());
            push_done(buf, token, kind::WORKER_DIED, &p)
        }
        JobError::StackOverflow => push_done(buf, token, kind::STACK_OVERFLOW, &[]),
        JobError::TimeLimit => push_done(buf, token, kind::TIME_LIMIT, &[]),
        JobError::Timeout => push_done(buf, token, kind::TIMEOUT, &[]),
        JobError::Cancelled => push_done(buf, token, kind::CANCELLED, &[]),
        JobError::Decode { message } => push_done(buf, token, kind::DECODE, message.as_bytes()),
        JobError::NoWorkers => push_done(buf, token, kind::NO_WORKERS, &[]),
        JobError::Shutdown => push_done(buf, token, kind::SHUTDOWN, &[]),
        JobError::TooLarge { message } => {
            push_done(buf, token, kind::TOO_LARGE, message.as_bytes())
        }
        JobError::Job(n) => match *n {},
        // `JobError` is `#[non_exhaustive]`: a kind added to zeroproc-sched and not yet
        // given a code here still fails the job at rank 0, as `Decode` with its message
        // (`every_error_kind_crosses_the_wire` fails until it gets its own code).
        other => push_done(buf, token, kind::DECODE, other.to_string().as_bytes()),
    }
}

/// The error an outcome of `kind` with `payload` stands for (`kind` must not be `OK`).
pub fn error_of(kind: u32, payload: &[u8]) -> JobError<Never> {
    let text = || String::from_utf8_lossy(payload).into_owned();
    match kind {
        kind::PANICKED => JobError::Panicked { message: text() },
        kind::WORKER_DIED if payload.len() >= 10 => {
            let i = |b: &[u8]| i32::from_le_bytes(b.try_into().expect("4 bytes"));
            JobError::WorkerDied {
                signal: (payload[0] != 0).then(|| i(&payload[1..5])),
                exit_code: (payload[5] != 0).then(|| i(&payload[6..10])),
            }
        }
        kind::STACK_OVERFLOW => JobError::StackOverflow,
        kind::TIME_LIMIT => JobError::TimeLimit,
        kind::TIMEOUT => JobError::Timeout,
        kind::CANCELLED => JobError::Cancelled,
        kind::NO_WORKERS => JobError::NoWorkers,
        kind::SHUTDOWN => JobError::Shutdown,
        kind::TOO_LARGE => JobError::TooLarge { message: text() },
        kind::DECODE | kind::NO_COPY => JobError::Decode { message: text() },
        k => JobError::Decode { message: format!("unknown outcome kind {k} from a node agent") },
    }
}

/// One entry of a batch: (token, second word, body).
pub struct Entry<'a> {
    /// The job's token.
    pub token: u64,
    /// `timeout_ns` (jobs) or the outcome kind (outcomes).
    pub word: u64,
    /// The record or payload.
    pub body: &'a [u8],
    /// A job's shipped arrays' segment tokens (u64 each, little-endian); none in outcomes.
    pub arrays: &'a [u8],
}

impl Entry<'_> {
    /// The segment tokens of the shipped arrays a job reads.
    pub fn array_tokens(&self) -> impl Iterator<Item = u64> + '_ {
        self.arrays.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().expect("8")))
    }
}

/// Iterates over a `TAG_JOBS` (`jobs = true`) or `TAG_DONE` batch. Stops at the first
/// malformed entry.
pub fn entries(buf: &[u8], jobs: bool) -> impl Iterator<Item = Entry<'_>> {
    let prefix = if jobs { JOB_PREFIX } else { DONE_PREFIX };
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let head = buf.get(at..at + prefix)?;
        let u64_at = |o: usize| u64::from_le_bytes(head[o..o + 8].try_into().expect("8"));
        let u32_at = |o: usize| u32::from_le_bytes(head[o..o + 4].try_into().expect("4"));
        let token = u64_at(0);
        let (word, len, n) = if jobs {
            (u64_at(8), u32_at(16) as usize, u32_at(20) as usize)
        } else {
            (u64::from(u32_at(8)), u32_at(12) as usize, 0)
        };
        let body = buf.get(at + prefix..at + prefix + len)?;
        let mut end = at + prefix + len;
        let mut arrays: &[u8] = &[];
        if n > 0 {
            let from = end.next_multiple_of(8);
            end = from.checked_add(n.checked_mul(8)?)?;
            arrays = buf.get(from..end)?;
        }
        at = pad16(end);
        Some(Entry { token, word, body, arrays })
    })
}

/// A command or reply: the opcode, padding, then `args`.
pub fn command(op: u8, args: &[u8]) -> Vec<u8> {
    let mut v = vec![op, 0, 0, 0, 0, 0, 0, 0];
    v.extend_from_slice(args);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroproc_sched::JobErrorKind;

    /// Every error kind a node can send crosses as itself (`JobError` is
    /// `#[non_exhaustive]`, so `push_error` cannot be checked by the compiler: a kind
    /// added to zeroproc-sched makes this fail until it has a code and a sample here).
    #[test]
    fn every_error_kind_crosses_the_wire() {
        let text = || "text".to_owned();
        let samples = [
            JobError::Panicked { message: text() },
            JobError::WorkerDied { signal: Some(9), exit_code: None },
            JobError::WorkerDied { signal: None, exit_code: Some(3) },
            JobError::StackOverflow,
            JobError::TimeLimit,
            JobError::Timeout,
            JobError::Cancelled,
            JobError::Decode { message: text() },
            JobError::NoWorkers,
            JobError::Shutdown,
            JobError::TooLarge { message: text() },
        ];
        for e in &samples {
            let mut b = Vec::new();
            push_error(&mut b, 5, e);
            let got: Vec<_> = entries(&b, false).collect();
            assert_eq!(got.len(), 1);
            assert_eq!(&error_of(got[0].word as u32, got[0].body), e);
        }
        // `Job` carries the job's own error type, never sent as a `JobError<Never>`.
        for k in JobErrorKind::ALL.iter().filter(|&&k| k != JobErrorKind::Job) {
            assert!(samples.iter().any(|e| e.kind() == *k), "{k:?} has no sample");
        }
    }

    #[test]
    fn batches_round_trip_aligned() {
        let mut b = Vec::new();
        push_job(&mut b, 7, 9, &[1, 2, 3], &[]);
        push_job(&mut b, 8, 0, &[4; 40], &[u64::MAX, 5]);
        push_job(&mut b, 9, 1, &[6; 5], &[]);
        let e: Vec<_> = entries(&b, true)
            .map(|e| (e.token, e.word, e.body.to_vec(), e.array_tokens().collect::<Vec<_>>()))
            .collect();
        assert_eq!(
            e,
            vec![
                (7, 9, vec![1, 2, 3], vec![]),
                (8, 0, vec![4; 40], vec![u64::MAX, 5]),
                (9, 1, vec![6; 5], vec![])
            ]
        );
        assert_eq!(b.len() % 16, 0);
        let mut d = Vec::new();
        push_error(&mut d, 3, &JobError::WorkerDied { signal: Some(9), exit_code: None });
        push_done(&mut d, 4, kind::OK, &[5; 17]);
        let v: Vec<_> = entries(&d, false).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(
            error_of(v[0].word as u32, v[0].body),
            JobError::WorkerDied { signal: Some(9), exit_code: None }
        );
        assert_eq!((v[1].token, v[1].body.len()), (4, 17));
        let mut d = Vec::new();
        push_error(&mut d, 5, &JobError::StackOverflow);
        let v: Vec<_> = entries(&d, false).collect();
        assert_eq!(error_of(v[0].word as u32, v[0].body), JobError::StackOverflow);
    }

    #[test]
    fn messages_name_their_pool() {
        let token = (3u64 << POOL_SHIFT) + 17;
        let mut d = Vec::new();
        push_done(&mut d, token, kind::OK, &[1]);
        assert_eq!(pool_of_message(TAG_DONE, &d), Some(3));
        assert_eq!(pool_of_message(TAG_REPLY, &reply(op::SHUTDOWN, 5, &[])), Some(5));
        assert_eq!(pool_of_message(TAG_REPLY, &[op::SHUTDOWN]), None);
    }

    #[test]
    fn a_truncated_batch_stops_without_panicking() {
        let mut b = Vec::new();
        push_job(&mut b, 1, 0, &[0; 32], &[3, 4]);
        for n in 0..b.len() {
            assert!(entries(&b[..n], true).count() <= 1);
        }
    }
}
