//! The MPI side, kept small: non-blocking sends whose buffers live until MPI is done with
//! them, and a non-blocking receive of whatever arrived (matched probe + receive into a
//! 16-byte aligned buffer). Only one thread at a time uses a [`Net`] (its owner holds it
//! under a mutex); MPI is initialized with `MPI_THREAD_MULTIPLE` so that this may be any
//! thread.

use mpi::point_to_point::{Destination, Source};
use mpi::request::{Request, StaticScope};
use mpi::topology::{Communicator, SimpleCommunicator};
use rkyv::util::AlignedVec;
use std::sync::Arc;

/// A send in flight and the buffer MPI reads from.
struct Pending {
    request: Request<'static, [u8], StaticScope>,
    /// A leaked box (`send`), or the bytes of `shared`.
    buffer: *mut [u8],
    /// `send_shared`: the buffer's owner (several sends may read it).
    shared: Option<Arc<Vec<u8>>>,
}

/// One received message.
pub struct Received {
    /// Sender's rank.
    pub from: usize,
    /// Its tag.
    pub tag: i32,
    /// Its bytes, 16-byte aligned.
    pub bytes: AlignedVec<16>,
}

/// The communicator and the sends in flight.
pub struct Net {
    world: SimpleCommunicator,
    pending: Vec<Pending>,
}

// SAFETY: MPI was initialized with MPI_THREAD_MULTIPLE (checked in `launch`), so MPI calls
// may come from any thread; the raw buffer pointers are owned by this value alone (leaked
// boxes reclaimed in `reap`), and a `Net` is only used by one thread at a time (`&mut`).
unsafe impl Send for Net {}

impl Net {
    pub fn new(world: SimpleCommunicator) -> Self {
        Net { world, pending: Vec::new() }
    }

    pub fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    pub fn size(&self) -> usize {
        self.world.size() as usize
    }

    pub fn world(&self) -> &SimpleCommunicator {
        &self.world
    }

    /// Starts sending `bytes` to `rank` with `tag`; the buffer is kept until MPI is done.
    pub fn send(&mut self, rank: usize, tag: i32, bytes: Vec<u8>) {
        let buffer: &'static mut [u8] = Box::leak(bytes.into_boxed_slice());
        let raw: *mut [u8] = buffer;
        // SAFETY: `raw` comes from a leaked box: valid and not freed until `reap` sees the
        // request complete; nothing writes to it meanwhile.
        let shared: &'static [u8] = unsafe { &*raw };
        let request = self.world.process_at_rank(rank as i32).immediate_send_with_tag(
            StaticScope,
            shared,
            tag,
        );
        self.pending.push(Pending { request, buffer: raw, shared: None });
        self.reap();
    }

    /// Starts sending `bytes` to `rank` with `tag`; `bytes` is kept until MPI is done (other
    /// sends may read it at the same time: one buffer for every node).
    pub fn send_shared(&mut self, rank: usize, tag: i32, bytes: Arc<Vec<u8>>) {
        let raw: *const [u8] = &bytes[..];
        // SAFETY: the Vec's buffer is kept alive (the Arc is stored with the request) and
        // never written (nobody has `&mut` through a shared Arc) until `reap` sees the
        // request complete.
        let shared: &'static [u8] = unsafe { &*raw };
        let request = self.world.process_at_rank(rank as i32).immediate_send_with_tag(
            StaticScope,
            shared,
            tag,
        );
        self.pending.push(Pending { request, buffer: raw as *mut [u8], shared: Some(bytes) });
        self.reap();
    }

    /// Frees the buffers of completed sends; true if some send is still in flight.
    pub fn reap(&mut self) -> bool {
        let mut i = 0;
        while i < self.pending.len() {
            let p = self.pending.swap_remove(i);
            match p.request.test() {
                Ok(_) if p.shared.is_some() => drop(p.shared),
                Ok(_) => {
                    // SAFETY: the send completed, so MPI no longer reads the buffer, which
                    // came from `Box::leak` in `send` and is freed exactly once, here.
                    drop(unsafe { Box::from_raw(p.buffer) });
                }
                Err(request) => {
                    self.pending.push(Pending { request, buffer: p.buffer, shared: p.shared });
                    let last = self.pending.len() - 1;
                    self.pending.swap(i, last);
                    i += 1;
                }
            }
        }
        !self.pending.is_empty()
    }

    /// Waits until every send has completed.
    pub fn flush(&mut self) {
        while self.reap() {
            std::thread::yield_now();
        }
    }

    /// A message that has arrived (from anyone, any tag), if any.
    pub fn try_receive(&mut self) -> Option<Received> {
        let (msg, status) = self.world.any_process().immediate_matched_probe()?;
        let len = status.count(u8::equivalent()) as usize;
        let mut bytes = AlignedVec::<16>::with_capacity(len.max(16));
        bytes.resize(len, 0);
        receive_matched(msg, &mut bytes[..]);
        Some(Received { from: status.source_rank() as usize, tag: status.tag(), bytes })
    }
}

impl Net {
    /// Receives the next message from `from` with `tag` straight into `into`, if it has
    /// arrived: `Some(Ok(()))`; one of another length is received and dropped:
    /// `Some(Err(its length))`. A large message is received without spinning
    /// (`receive_matched`).
    pub fn try_receive_into(
        &mut self,
        from: usize,
        tag: i32,
        into: &mut [u8],
    ) -> Option<Result<(), usize>> {
        let (msg, status) =
            self.world.process_at_rank(from as i32).immediate_matched_probe_with_tag(tag)?;
        let len = status.count(u8::equivalent()) as usize;
        if len != into.len() {
            let mut scratch = vec![0u8; len];
            msg.matched_receive_into(&mut scratch[..]);
            return Some(Err(len));
        }
        receive_matched(msg, into);
        Some(Ok(()))
    }
}

/// Messages from this size on are received without spinning.
const LARGE: usize = 64 << 10;

/// Receives matched message `msg` into `into`. A large one (a rendezvous transfer that
/// takes a while to arrive) is received non-blocking, tested between `sched_yield`s:
/// Open MPI's blocking receive spins meanwhile, on the core the node's workers (or rank 0)
/// need — measured: a 64 MiB array reached 2 nodes in 147–211 ms spinning, 108–157 ms not.
fn receive_matched(msg: mpi::point_to_point::Message, into: &mut [u8]) {
    if into.len() < LARGE {
        msg.matched_receive_into(into);
        return;
    }
    mpi::request::scope(|scope| {
        let mut request = msg.immediate_matched_receive_into(scope, into);
        loop {
            match request.test() {
                Ok(_) => break,
                Err(r) => request = r,
            }
            std::thread::yield_now();
        }
    });
}

use mpi::datatype::Equivalence;

trait Equivalent {
    fn equivalent() -> <u8 as Equivalence>::Out;
}

impl Equivalent for u8 {
    fn equivalent() -> <u8 as Equivalence>::Out {
        <u8 as Equivalence>::equivalent_datatype()
    }
}
