//! The controller-side backlog: jobs a blocking `submit` accepted while every worker
//! already held its maximum of jobs in flight (`Core::alloc_id`: half its claim region,
//! 256 per worker by default).
//!
//! Python's `ProcessPoolExecutor.submit` never waits: it queues the work item and returns
//! the future. A `submit` here that finds no room likewise archives the arguments once, into
//! a buffer of their own, and queues the job behind the pool lock ([`Core::backlog`]); its
//! future is returned at once. Whoever drains completions — a waiting caller's `poll`,
//! the supervisor at every tick — then places backlog jobs, oldest first, as rings get room
//! ([`Core::place_backlog`], called at the end of [`Core::drain_all`]). No thread of its
//! own: room comes back only when completions are drained, and those threads already do.
//!
//! * **FIFO.** While the backlog holds a job, no new job is placed ahead of it: `place`
//!   answers `Full` to every other submission (`submit` then queues behind it,
//!   `try_submit`/`submit_timeout`/`map` treat it as a full pool). On the hot path this is
//!   one test, `backlog.is_empty()`, under the lock `place` holds anyway.
//! * **Ids.** A job's routing id (its claim word, `claim.rs`) is allocated when it is
//!   *placed*, as for every job: ids that share a claim word keep increasing in placement
//!   order, which the claim protocol relies on. The id the future reports
//!   ([`JobFuture::id`](crate::JobFuture::id)) is given at submit, from a namespace no
//!   placed id reaches ([`BACKLOG_ID`]: placed ids are below 2^63 for the life of any
//!   pool), and stays the job's id for its whole life, as for a job that moves between
//!   workers.
//! * **Resolution.** A backlogged job is not running (`running()` is false), can be
//!   cancelled (`Core::cancel`), is cancelled by `shutdown(cancel_futures)` and
//!   `terminate`, runs before a `shutdown(wait)` ends (the supervisor queues no STOP while
//!   the backlog holds jobs), and fails with `NoWorkers` when every slot is retired. A
//!   fork child never places the parent's backlog.
//! * **Memory.** The backlog is unbounded, like Python's: each job holds its archived
//!   arguments (and the shared values they name stay alive, as for a placed job).

use super::core::{Complete, Core, Shared};
use super::submit::{place_in, Attempt};
use crate::job::Message;
use crate::share::pin::{self, Pins};
use crate::JobError;
use rkyv::rancor::Fallible;
use rkyv::ser::Writer;
use rkyv::{Archive, Place, Serialize};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use zeroproc_codec::envelope::{Header, HEADER_LEN};
use zeroproc_codec::send::{self, Buffer, NoOverflow};

/// The bit that marks the ids given to backlogged jobs at submit (below it: ids of
/// placed jobs, `claim::Regions::id`, which would need 2^48 laps of a worker's region to
/// reach it).
pub(crate) const BACKLOG_ID: u64 = 1 << 63;

/// The worker a backlogged job's future names until it is placed.
pub(crate) const NOT_PLACED: usize = usize::MAX;

/// Jobs waiting for room, oldest first: keyed by their backlog id, which grows with each
/// submission, so the map's order is submission order and `cancel` finds a job in
/// O(log n). (A `VecDeque` searched from the front cost O(n) per cancel: cancelling a
/// 50,000-job backlog newest first took 1.58 s, where CPython 3.11 cancels 190,000
/// futures in 0.36 s; user28 `cancel_backlog_reverse`.)
#[derive(Default)]
pub(crate) struct Backlog {
    jobs: BTreeMap<u64, Pending>,
    /// Backlog ids given so far.
    next: u64,
}

impl Backlog {
    /// Jobs waiting.
    pub(crate) fn len(&self) -> usize {
        self.jobs.len()
    }

    /// True when no job waits (the one test on the hot path of `place`).
    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

/// One backlogged job.
struct Pending {
    /// The id its future reports (`BACKLOG_ID | n`).
    id: u64,
    fn_id: u32,
    timeout_ns: u64,
    dest: Arc<dyn Complete>,
    /// The archived arguments, placed as they are.
    args: Box<dyn Archived>,
    /// Shared values the arguments name, kept alive from submit until the job is resolved.
    pins: Pins,
}

/// Type-erased placement of archived arguments (the argument type is needed only for
/// the root's size and alignment).
trait Archived: Send {
    fn place(
        &self,
        shared: &Shared,
        core: &mut Core,
        fn_id: u32,
        dest: &mut Option<Arc<dyn Complete>>,
        timeout_ns: u64,
    ) -> Result<(usize, u64), Attempt>;
}

/// Arguments of type `A` archived once (at submit): re-encoding them writes the same
/// bytes. An rkyv archive is relative (its pointers are offsets between its own bytes),
/// and the send path always starts an archive at position 0 of a 16-byte aligned body:
/// writing the bytes before the root, then the root, reproduces it exactly wherever the
/// record or spill block lies.
struct Prearchived<A> {
    /// The envelope the arguments were encoded into (header, then the archive).
    env: rkyv::util::AlignedVec<16>,
    /// Position of the root within the archive.
    root: usize,
    _a: PhantomData<fn() -> A>,
}

impl<A: Archive> Prearchived<A> {
    fn archive(&self) -> &[u8] {
        &self.env[HEADER_LEN..]
    }
}

impl<A: Archive> Archive for Prearchived<A> {
    type Archived = A::Archived;
    type Resolver = ();

    fn resolve(&self, _: (), out: Place<Self::Archived>) {
        let root = &self.archive()[self.root..];
        assert_eq!(root.len(), size_of::<A::Archived>(), "the root of the archive");
        // SAFETY: `out` points at `size_of::<A::Archived>()` writable bytes (the place the
        // serializer reserved for the root); `root` is that many bytes of the archived
        // root, written by rkyv for this very type — all initialised (the contents of a
        // vector; rkyv zeroes padding), as `Place::ptr` requires of what is written through
        // it — whose relative pointers stay valid as the bytes before it are written at the
        // same positions (type docs).
        unsafe {
            std::ptr::copy_nonoverlapping(root.as_ptr(), out.ptr().cast::<u8>(), root.len());
        }
    }
}

impl<A: Archive, S: Fallible + Writer<S::Error> + ?Sized> Serialize<S> for Prearchived<A> {
    fn serialize(&self, serializer: &mut S) -> Result<(), S::Error> {
        // Everything before the root (out-of-line data and the padding before the root):
        // the serializer then aligns for the root, which is a no-op at this position.
        serializer.write(&self.archive()[..self.root])
    }
}

impl<A: Message> Archived for Prearchived<A> {
    fn place(
        &self,
        shared: &Shared,
        core: &mut Core,
        fn_id: u32,
        dest: &mut Option<Arc<dyn Complete>>,
        timeout_ns: u64,
    ) -> Result<(usize, u64), Attempt> {
        place_in(shared, core, fn_id, self, dest, 0, timeout_ns, false)
    }
}

impl Shared {
    /// A blocking submission (`submit`, `submit_fallible`, `submit_with_time_limit`):
    /// places the job, or queues it in the backlog when the pool has no room (or a
    /// backlog already waits). `Ok(Some((worker, id)))`: placed; `Ok(None)`: queued (its
    /// future was given its id). Never waits for room.
    pub(crate) fn submit_or_backlog<A: Message>(
        &self,
        fn_id: u32,
        args: &A,
        dest: Arc<dyn Complete>,
        timeout_ns: u64,
    ) -> Result<Option<(usize, u64)>, Attempt> {
        let mut d = Some(dest);
        match self.try_dispatch(fn_id, args, &mut d, 0, timeout_ns) {
            Err(Attempt::Full | Attempt::HeapFull) => {}
            r => return r.map(Some),
        }
        // Room may be waiting in the completion rings.
        self.poll();
        let mut core = self.lock();
        // `place` re-checks `closed` and the backlog under the lock.
        match super::submit::place(self, &mut core, fn_id, args, &mut d, 0, timeout_ns, false) {
            Err(Attempt::Full | Attempt::HeapFull) => {}
            r => return r.map(Some),
        }
        let (env, pins) = pin::capture(|| {
            let mut buf = Buffer::new();
            send::send(&mut buf, &mut NoOverflow, Header::new(0, fn_id), args)
                .map(|_| buf.into_vec())
        });
        let env = env.map_err(|e| Attempt::Encode(e.to_string()))?;
        let root = env.len() - HEADER_LEN - size_of::<A::Archived>();
        let args = Box::new(Prearchived::<A> { env, root, _a: PhantomData });
        let backlog = &mut core.backlog;
        backlog.next += 1;
        let id = BACKLOG_ID | backlog.next;
        let dest = d.take().expect("not placed");
        dest.assign(NOT_PLACED, id);
        backlog.jobs.insert(id, Pending { id, fn_id, timeout_ns, dest, args, pins });
        Ok(None)
    }
}

impl Core {
    /// Places backlogged jobs, oldest first, until the pool has no room (under the lock,
    /// after completions were drained). A job that can never be placed fails with its
    /// error; with every slot retired, all of them fail with `NoWorkers`.
    #[cold]
    pub(crate) fn place_backlog(&mut self, shared: &Shared) {
        if shared.forked() {
            return; // the parent's jobs
        }
        if self.stranded() {
            // Jobs left on a retired slot were placed before any backlogged job.
            self.rehome_stranded(shared);
        }
        while let Some((_, mut p)) = self.backlog.jobs.pop_first() {
            // SeqCst: as in `dispatch` (the spill heap's release counter).
            let trims = shared.spill_trims.load(Ordering::SeqCst);
            let mut dest = Some(p.dest.clone());
            let err = match p.args.place(shared, self, p.fn_id, &mut dest, p.timeout_ns) {
                Ok((_, id)) => {
                    self.jobs.set_pins(id, std::mem::replace(&mut p.pins, Pins::NONE));
                    continue;
                }
                Err(Attempt::HeapFull) if self.owed() > 0 || shared.trim_overlapped(trims) => {
                    None // blocks come back as workers read their arguments
                }
                Err(Attempt::HeapFull) => Some(JobError::TooLarge {
                    message: super::submit::spill_heap_exhausted(shared.spill.capacity()),
                }),
                Err(Attempt::Full | Attempt::Closed | Attempt::Corrupt) => None,
                Err(Attempt::NoWorkers) => Some(JobError::NoWorkers),
                Err(Attempt::Encode(message)) => Some(JobError::Decode { message }),
                Err(Attempt::TooLarge(message)) => Some(JobError::TooLarge { message }),
            };
            match err {
                None => {
                    self.backlog.jobs.insert(p.id, p); // first again: the smallest id
                    return;
                }
                Some(JobError::NoWorkers) => {
                    self.fail_pending(p, JobError::NoWorkers);
                    self.fail_backlog(JobError::NoWorkers);
                    return;
                }
                Some(e) => self.fail_pending(p, e),
            }
        }
    }

    /// Cancels backlogged job `id` (a backlog id): true if it was there.
    pub(crate) fn cancel_backlogged(&mut self, id: u64) -> bool {
        if id & BACKLOG_ID == 0 {
            return false;
        }
        let Some(p) = self.backlog.jobs.remove(&id) else { return false };
        self.fail_pending(p, JobError::Cancelled);
        true
    }

    /// Fails every backlogged job with `e` (`Cancelled`: a cancelling shutdown).
    pub(crate) fn fail_backlog(&mut self, e: JobError<crate::Never>) {
        for (_, p) in std::mem::take(&mut self.backlog.jobs) {
            self.fail_pending(p, e.clone());
        }
    }

    fn fail_pending(&mut self, p: Pending, e: JobError<crate::Never>) {
        if p.dest.fail(&mut self.key.token(), 0, e) {
            self.push_after(p.dest);
        }
    }
}
