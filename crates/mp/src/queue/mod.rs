//! [`Queue`]: a bounded multi-producer multi-consumer queue of typed values shared by any
//! number of processes, over the MPMC slot ring in a memfd segment of its own, with a
//! spill heap in the same segment for values larger than a slot.

mod error;
mod get;
mod handle;
pub mod joinable;
#[cfg(test)]
mod kill_tests;
#[cfg(test)]
mod lost_tests;
mod put;
#[cfg(test)]
mod stuck_tests;

pub use crate::channel::{ChannelError, CorruptError, Ref};
pub use error::{GetError, GetTimeoutError, PutError, PutTimeoutError, TryGetError, TryPutError};
pub use handle::{ArchivedQueueHandle, QueueHandle};
pub use joinable::{
    ArchivedJoinableQueueHandle, JoinTimeoutError, JoinableQueue, JoinableQueueHandle,
    TaskDoneError,
};

use crate::channel::header::{type_hash, KIND_QUEUE};
use crate::channel::mapping::{heap_lengths, Mapping, Plan};
use crate::channel::message::Message;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use zeroproc_ring::mpmc;
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_shm::Offset;

/// Slot payload bytes of [`Queue::new`]: with the slot's 16-byte state and length words, a
/// slot is exactly 1 KiB.
pub const DEFAULT_SLOT_SIZE: usize = 1008;
/// Spill heap bytes of [`Queue::new`] (for values larger than a slot), reserved at creation
/// (resident memory for every queue, so small: the heap grows on demand; it was 2 MiB
/// before heaps grew, and 20,000 queues then took 40 GiB).
pub const DEFAULT_HEAP_SIZE: usize = 64 << 10;
/// The most the spill heap of [`Queue::new`] grows to (1 GiB): it grows on demand, so a
/// 64 MiB value fits a default queue. Only address space is taken at creation.
pub const DEFAULT_MAX_HEAP_SIZE: usize = 1 << 30;
/// The smallest slot: a spilled value's reference (48 bytes) must fit one.
pub const MIN_SLOT_SIZE: usize = 48;

/// A bounded queue of `T` for any number of producer and consumer **processes**
/// (Python's `multiprocessing.Queue`).
///
/// * Values are rkyv-archived into a slot of a shared MPMC ring (`put`) and validated with
///   bytecheck when taken out (`get` deserializes; [`get_ref`](Self::get_ref) and
///   [`get_with`](Self::get_with) read the archive in place).
/// * Values larger than a slot are serialized straight into a block of a **spill heap**
///   in the queue's segment; the slot carries a 48-byte reference, and the consumer frees
///   the block. A value the heap can never hold is [`TryPutError::TooLarge`], handed back.
/// * Every operation comes as `try_op`, `op` (blocking), `op_timeout`, `op_deadline`;
///   every put error hands the value back.
/// * Another process gets the same queue from [`handle`](Self::handle) (rkyv-archivable,
///   fit for a job or `Process` argument) with [`QueueHandle::attach`].
/// * A process killed in the middle of an operation loses at most the value it was
///   putting or the one it had taken (see the README beside this file).
///
/// `Queue` is `Clone` (another handle to the same queue) and `Send + Sync`.
///
/// ```
/// use zeroproc_mp::Queue;
/// let q = Queue::<(u32, String)>::new(16).unwrap();
/// let q2 = q.clone(); // in another process: q.handle() → handle.attach()
/// let t = std::thread::spawn(move || {
///     for i in 0..100 {
///         q2.put((i, format!("job {i}"))).unwrap();
///     }
///     q2.close(); // no more puts; gets drain, then report Closed
/// });
/// let mut n = 0;
/// while let Ok((i, s)) = q.get() {
///     assert_eq!(s, format!("job {i}"));
///     n += 1;
/// }
/// assert_eq!(n, 100);
/// t.join().unwrap();
/// ```
///
/// [`TryPutError::TooLarge`]: crate::queue::TryPutError::TooLarge
pub struct Queue<T> {
    pub(crate) map: Arc<Mapping>,
    pub(crate) ring: mpmc::Ring,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue { map: self.map.clone(), ring: self.ring.clone(), _t: PhantomData }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("segment", &self.map.id().to_string())
            .field("capacity", &self.capacity())
            .field("slot_size", &self.slot_size())
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Configures a [`Queue`] (or [`JoinableQueue`]) before creating
/// it; from [`Queue::builder`].
///
/// ```
/// use zeroproc_mp::Queue;
/// let q = Queue::<Vec<u8>>::builder(100).slot_size(240).heap_size(0).build().unwrap();
/// assert_eq!((q.capacity(), q.slot_size(), q.heap_size()), (128, 240, 0));
/// ```
pub struct QueueBuilder<T> {
    capacity: usize,
    slot_size: usize,
    heap_size: usize,
    max_heap_size: usize,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for QueueBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueBuilder")
            .field("capacity", &self.capacity)
            .field("slot_size", &self.slot_size)
            .field("heap_size", &self.heap_size)
            .field("max_heap_size", &self.max_heap_size)
            .finish()
    }
}

impl<T: Message> QueueBuilder<T> {
    /// Payload bytes per slot (default [`DEFAULT_SLOT_SIZE`]; at least [`MIN_SLOT_SIZE`],
    /// rounded up to 16). A value whose envelope (16 bytes + its archive) fits a slot is
    /// copied into it; a larger one goes through the spill heap.
    pub fn slot_size(mut self, bytes: usize) -> Self {
        self.slot_size = bytes;
        self
    }

    /// Bytes of the spill heap reserved at creation (default [`DEFAULT_HEAP_SIZE`];
    /// rounded up to 4 KiB; 0: no heap, values larger than a slot are refused with
    /// `TooLarge`). The heap grows on demand up to [`max_heap_size`](Self::max_heap_size).
    pub fn heap_size(mut self, bytes: usize) -> Self {
        self.heap_size = bytes;
        self
    }

    /// The most the spill heap grows to (default [`DEFAULT_MAX_HEAP_SIZE`]; rounded up to
    /// 4 KiB; at least [`heap_size`](Self::heap_size)). A put that finds the heap full
    /// grows it (doubling, for every process using the queue); at the maximum a blocking
    /// put waits for consumers to free room, and a value that cannot fit even then is
    /// `TooLarge`, handed back. Creating the queue maps this much address space but
    /// reserves only `heap_size`.
    ///
    /// ```
    /// use zeroproc_mp::queue::{Queue, TryPutError};
    /// let q = Queue::<Vec<u8>>::builder(4).heap_size(64 << 10).max_heap_size(1 << 20).build().unwrap();
    /// q.put(vec![1; 300 << 10]).unwrap(); // larger than the initial heap: it grows
    /// assert!(q.heap_size() > 64 << 10);
    /// assert!(matches!(q.try_put(vec![2; 2 << 20]), Err(TryPutError::TooLarge(v)) if v.len() == 2 << 20));
    /// ```
    pub fn max_heap_size(mut self, bytes: usize) -> Self {
        self.max_heap_size = bytes;
        self
    }

    /// Creates the queue in a new memfd segment.
    pub fn build(self) -> Result<Queue<T>, ChannelError> {
        self.build_kind(KIND_QUEUE)
    }

    pub(crate) fn build_kind(self, kind: u32) -> Result<Queue<T>, ChannelError> {
        if self.capacity == 0 {
            // Python's `Queue()` / `maxsize=0` is unbounded; a Python user writes `new(0)`.
            return Err(ChannelError::Config(
                "queue capacity 0: a zeroproc queue is always bounded (Python's unbounded \
                 `Queue()` / `maxsize=0` has no equivalent); give the most values it holds, \
                 1..=2^32, e.g. `Queue::new(1024)`: `put` waits while it is full",
            ));
        }
        if self.capacity > mpmc::MAX_CAPACITY {
            return Err(ChannelError::Config("queue capacity must be in 1..=2^32"));
        }
        let capacity = self.capacity.next_power_of_two();
        let slot_size = self.slot_size.max(MIN_SLOT_SIZE);
        if slot_size > mpmc::MAX_SLOT_SIZE {
            return Err(ChannelError::Config("queue slot size above 16 MiB"));
        }
        let (heap_len, heap_max) = heap_lengths(self.heap_size, self.max_heap_size)?;
        let plan = Plan {
            kind,
            type_hash: type_hash::<T>(),
            ring_sizes: [mpmc::Ring::required_size(capacity, slot_size)?, 0],
            ring_cap: capacity,
            slot_size,
            heap_len,
            heap_max,
        };
        let mut ring = None;
        let map = Mapping::create(&plan, |seg, geo| {
            // SAFETY: the segment is fresh (zero: `Mapping::create` wrote only its header
            // before) and its id not handed out yet; the region at `ring_off[0]` was sized
            // for this ring and nothing else uses it.
            let r = unsafe {
                mpmc::Ring::create_in_zeroed(
                    seg.clone(),
                    Offset::new(geo.ring_off[0]),
                    capacity,
                    slot_size,
                )
            }?;
            ring = Some(r);
            Ok(())
        })?;
        let ring = ring.expect("set by init_rings");
        Ok(Queue::from_parts(map, ring))
    }
}

// The bounds are on each constructor rather than on the `impl`: a `Queue` of a type that
// is not a `Message` is then refused with `Message`'s own error ("`P` cannot be sent to a
// worker or another process ... put `#[zeroproc::data]` on ...") instead of rustc's
// "the function `new` exists for `Queue<P>`, but its trait bounds were not satisfied".
impl<T> Queue<T> {
    /// A queue of at least `capacity` values (rounded up to a power of two) with
    /// [`DEFAULT_SLOT_SIZE`]-byte slots and a [`DEFAULT_HEAP_SIZE`] spill heap.
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<u64>::new(1000).unwrap();
    /// assert_eq!(q.capacity(), 1024);
    /// ```
    ///
    /// `T` must be a [`Message`] (an rkyv type; `#[zeroproc::data]` on your own types);
    /// another type is refused here with what to add:
    ///
    /// ```compile_fail,E0277
    /// struct Point { x: f64 } // no #[zeroproc::data]
    /// // error[E0277]: `Point` cannot be sent to a worker or another process: it is not encodable
    /// let q = zeroproc_mp::Queue::<Point>::new(4);
    /// ```
    pub fn new(capacity: usize) -> Result<Queue<T>, ChannelError>
    where
        T: Message,
    {
        Self::builder(capacity).build()
    }

    /// A queue of at least `capacity` values with `slot_size`-byte slots.
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<u64>::with_slot_size(8, 64).unwrap();
    /// assert_eq!(q.slot_size(), 64);
    /// ```
    pub fn with_slot_size(capacity: usize, slot_size: usize) -> Result<Queue<T>, ChannelError>
    where
        T: Message,
    {
        Self::builder(capacity).slot_size(slot_size).build()
    }

    /// A [`QueueBuilder`] for at least `capacity` values, to set the slot and heap sizes.
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<u64>::builder(4).heap_size(1 << 20).build();
    /// assert_eq!(q.unwrap().heap_size(), 1 << 20);
    /// ```
    pub fn builder(capacity: usize) -> QueueBuilder<T>
    where
        T: Message,
    {
        QueueBuilder {
            capacity,
            slot_size: DEFAULT_SLOT_SIZE,
            heap_size: DEFAULT_HEAP_SIZE,
            max_heap_size: DEFAULT_MAX_HEAP_SIZE,
            _t: PhantomData,
        }
    }

    /// The handle another process attaches with ([`QueueHandle::attach`]). This process
    /// (the creator's, for a queue made here) must keep the queue alive until the other
    /// process has attached: the segment is reached through the creator's descriptor.
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<u32>::new(4).unwrap();
    /// let h = q.handle(); // rkyv-archivable: a job or Process argument
    /// let same = h.attach().unwrap(); // normally in the other process
    /// q.put(7).unwrap();
    /// assert_eq!(same.get().unwrap(), 7);
    /// ```
    pub fn handle(&self) -> QueueHandle<T>
    where
        T: Message,
    {
        QueueHandle::new(&self.map, false)
    }
}

impl<T> Queue<T> {
    pub(crate) fn from_parts(map: Arc<Mapping>, mut ring: mpmc::Ring) -> Self {
        // A spilled record that the ring's crash recovery drops (its consumer died before
        // registering the block in the holds table, or its producer died after clearing
        // its entry and before publishing) names a block nobody else will free: take it
        // back by its nonce (`holds.rs`).
        let weak = Arc::downgrade(&map);
        ring.set_lost_record_hook(move |record| {
            if let Some(map) = weak.upgrade() {
                if crate::channel::holds::reclaim_lost(&map, record) {
                    map.heap_freed();
                }
            }
        });
        Queue { map, ring, _t: PhantomData }
    }

    /// Number of slots (the requested capacity rounded up to a power of two).
    ///
    /// ```
    /// assert_eq!(zeroproc_mp::Queue::<u8>::new(3).unwrap().capacity(), 4);
    /// ```
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Payload bytes per slot.
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<u8>::new(2).unwrap();
    /// assert_eq!(q.slot_size(), zeroproc_mp::queue::DEFAULT_SLOT_SIZE);
    /// ```
    pub fn slot_size(&self) -> usize {
        self.ring.slot_size()
    }

    /// Bytes of the spill heap now (0: none); it grows up to
    /// [`max_heap_size`](Self::max_heap_size).
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<u8>::builder(2).heap_size(0).build().unwrap();
    /// assert_eq!((q.heap_size(), q.max_heap_size()), (0, 0));
    /// ```
    pub fn heap_size(&self) -> usize {
        self.map.heap().map_or(0, |h| h.region_len() as usize)
    }

    /// The most the spill heap grows to (0: no heap).
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<u8>::new(2).unwrap();
    /// assert_eq!(q.max_heap_size(), zeroproc_mp::queue::DEFAULT_MAX_HEAP_SIZE);
    /// ```
    pub fn max_heap_size(&self) -> usize {
        self.map.geo().heap_max as usize
    }

    /// Occupancy of the spill heap (`None`: the queue has none): blocks in use and free
    /// per size class, after taking back the blocks that processes killed while holding
    /// them left behind (as a put that finds the heap full does). Exact only while no
    /// process puts or gets; meant for tests and diagnostics, e.g. checking that nothing
    /// leaked.
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<Vec<u64>>::builder(2).max_heap_size(2 << 20).build().unwrap();
    /// q.put(vec![7; 100_000]).unwrap(); // 800 KB: spilled
    /// assert_eq!(q.heap_stats().unwrap().in_use_blocks(), 1);
    /// drop(q.get().unwrap());
    /// assert_eq!(q.heap_stats().unwrap().in_use_blocks(), 0);
    /// ```
    pub fn heap_stats(&self) -> Option<zeroproc_shm::heap::HeapStats> {
        self.map.heap().map(|h| {
            if crate::channel::holds::sweep_now(&self.map, h) > 0 {
                self.map.heap_freed();
            }
            h.stats()
        })
    }

    /// Values put and not yet taken (Python's `qsize()`): a snapshot, exact when no
    /// operation is in flight.
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<u8>::new(2).unwrap();
    /// q.put(1).unwrap();
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether [`len`](Self::len) is 0 (a snapshot).
    ///
    /// ```
    /// assert!(zeroproc_mp::Queue::<u8>::new(2).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Whether every slot is taken (a snapshot).
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<u8>::new(1).unwrap();
    /// q.put(1).unwrap();
    /// assert!(q.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.ring.is_full()
    }

    /// Closes the queue **for every process**: later puts fail with `Closed` (handing the
    /// value back); gets return what was put before, then `Closed`. Wakes every waiter.
    /// A put racing with `close` is either delivered or refused, never lost.
    ///
    /// ```
    /// use zeroproc_mp::Queue;
    /// use zeroproc_mp::queue::{TryGetError, TryPutError};
    /// let q = Queue::<u8>::new(2).unwrap();
    /// q.put(1).unwrap();
    /// q.close();
    /// assert!(matches!(q.try_put(2), Err(TryPutError::Closed(2))));
    /// assert_eq!(q.try_get().unwrap(), 1);
    /// assert!(matches!(q.try_get(), Err(TryGetError::Closed)));
    /// ```
    pub fn close(&self) {
        self.ring.close();
        // Producers waiting for heap space are not on the ring's event counts.
        self.map.heap_freed();
    }

    /// Whether the queue was closed (by any process).
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<u8>::new(2).unwrap();
    /// q.close();
    /// assert!(q.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.ring.is_closed()
    }

    /// How this handle's blocking calls wait (default: spin 50 µs, then sleep).
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<u8>::new(2).unwrap();
    /// assert!(matches!(q.wait_strategy(), zeroproc_shm::wait::WaitStrategy::SpinThenSleep { .. }));
    /// ```
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.ring.wait_strategy()
    }

    /// Sets how this handle's blocking calls wait (other handles are unaffected).
    ///
    /// ```
    /// use zeroproc_shm::wait::WaitStrategy;
    /// let mut q = zeroproc_mp::Queue::<u8>::new(2).unwrap();
    /// q.set_wait_strategy(WaitStrategy::Sleep);
    /// assert_eq!(q.wait_strategy(), WaitStrategy::Sleep);
    /// ```
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.ring.set_wait_strategy(strategy);
    }

    /// Crash-recovery counters of the queue's ring, shared by every process (dead writers
    /// tombstoned, dead readers' slots released, corrupt slots skipped).
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<u8>::new(2).unwrap();
    /// assert_eq!(q.ring_stats().dead_writers, 0);
    /// ```
    pub fn ring_stats(&self) -> mpmc::Stats {
        self.ring.stats()
    }
}
