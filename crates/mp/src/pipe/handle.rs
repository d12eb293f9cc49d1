//! Handles of pipe ends: what travels to another process to use an end there. Attaching
//! claims the end's ring sides for the attaching process (one process per end at a time;
//! a dead holder's side is taken over).

use crate::channel::header::{type_hash, KIND_DUPLEX, KIND_ONEWAY};
use crate::channel::mapping::Mapping;
use crate::channel::message::Message;
use crate::channel::{cache, ChannelError};
use crate::handle::handle_impls;
use crate::pin::{Keep, PinKeep};
use crate::pipe::connection::{Connection, PipeReceiver, PipeSender};
use crate::pipe::recv::RxHalf;
use crate::pipe::send::TxHalf;
use rkyv::{Archive, Deserialize, Serialize};
use std::marker::PhantomData;
use std::sync::Arc;
use zeroproc_ring::spsc;
use zeroproc_shm::Offset;

/// The mapping of a pipe of `kind` carrying `T`.
fn open<T: Message>(segment: &str, kind: u32, hash: u64) -> Result<Arc<Mapping>, ChannelError> {
    if hash != type_hash::<T>() {
        return Err(ChannelError::TypeMismatch);
    }
    let map = cache::attach(segment)?;
    map.check(&[kind], hash)?;
    Ok(map)
}

/// Ring `i` of a pipe mapping.
pub(crate) fn ring(map: &Mapping, i: usize) -> Result<spsc::Ring, ChannelError> {
    Ok(spsc::Ring::attach(map.seg().clone(), Offset::new(map.geo().ring_off[i]))?)
}

/// Whether every ring of the pipe is empty: no record left that a receiver could take
/// (and so free the heap block a spilled one names). A ring that cannot be attached
/// counts as not empty.
pub(crate) fn rings_drained(map: &Mapping) -> bool {
    let rings = map.geo().ring_off.iter().enumerate().filter(|(_, &off)| off != 0);
    rings.map(|(i, _)| ring(map, i)).all(|r| r.is_ok_and(|r| r.is_empty()))
}

/// Which side of a ring a pipe end holds.
#[derive(Clone, Copy)]
pub(crate) enum Side {
    Producer,
    Consumer,
}

/// What a pipe end's handle keeps for a job or process given it (`crate::pin`): the
/// mapping (so the child can attach the end after its creator dropped it), and which ring
/// sides the end is, so that [`crate::pin::hand_over`] can reserve them for the child.
pub(crate) struct EndPin {
    map: Arc<Mapping>,
    sides: [Option<(usize, Side)>; 2],
}

impl EndPin {
    /// Duplex end `end`: it produces into ring `end` and consumes ring `1 - end` (as
    /// `ConnectionHandle::attach` claims them).
    fn connection(map: &Arc<Mapping>, end: u8) -> EndPin {
        let (tx, rx) = if end == 0 { (0, 1) } else { (1, 0) };
        EndPin { map: map.clone(), sides: [Some((tx, Side::Producer)), Some((rx, Side::Consumer))] }
    }

    /// One side of one ring (a one-way pipe's sender or receiver).
    fn one(map: &Arc<Mapping>, ring: usize, side: Side) -> EndPin {
        EndPin { map: map.clone(), sides: [Some((ring, side)), None] }
    }

    /// Reserves the end's sides for process `pid`, the child it was handed to (sides
    /// already claimed or closed are left alone: `spsc::Ring::reserve_producer`). The
    /// other end's waits then take that child's death for the end's, as they take a
    /// holder's: a child that dies before it attached is seen gone.
    pub(crate) fn reserve_for(&self, pid: u32) {
        for (i, side) in self.sides.iter().flatten() {
            if let Ok(r) = ring(&self.map, *i) {
                match side {
                    Side::Producer => r.reserve_producer(pid),
                    Side::Consumer => r.reserve_consumer(pid),
                };
            }
        }
    }
}

/// One end of a duplex [`pipe`](fn@crate::pipe), for another process (rkyv-archivable: a job
/// or `Process` argument). [`attach`](Self::attach) there claims the end; the creating
/// process must keep its pipe ends alive until then and must not use this end itself.
///
/// ```
/// use zeroproc_mp::pipe;
/// use zeroproc_mp::pipe::ConnectionHandle;
/// let (mut a, b) = pipe::<String>().unwrap();
/// let h: ConnectionHandle<String> = b.handle();
/// let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&h).unwrap();
/// // ... in the other process:
/// let h = rkyv::from_bytes::<ConnectionHandle<String>, rkyv::rancor::Error>(&bytes).unwrap();
/// let mut b = h.attach().unwrap();
/// a.send("ping".into()).unwrap();
/// assert_eq!(b.recv().unwrap(), "ping");
/// ```
#[derive(Archive, Serialize, Deserialize)]
pub struct ConnectionHandle<T> {
    #[rkyv(with = crate::segment_refs::SegmentRef)]
    segment: String,
    end: u8,
    type_hash: u64,
    /// Keeps the pipe for a process or job given this handle (`pin.rs`); not archived.
    #[rkyv(with = PinKeep)]
    keep: Keep,
    _t: PhantomData<fn() -> T>,
}

handle_impls!(ConnectionHandle<T> { segment, end, type_hash, keep, _t } debug { segment, end, type_hash });

impl<T: Message> ConnectionHandle<T> {
    pub(crate) fn new(map: &Arc<Mapping>, end: u8) -> Self {
        ConnectionHandle {
            segment: map.id().to_string(),
            end,
            type_hash: type_hash::<T>(),
            keep: Keep::new(Arc::new(EndPin::connection(map, end))),
            _t: PhantomData,
        }
    }

    /// This end, in this process: attaches (cached per process) and claims both of its
    /// ring sides. [`ChannelError::InUse`] if a live process already uses this end.
    ///
    /// ```
    /// use zeroproc_mp::pipe;
    /// use zeroproc_mp::queue::ChannelError;
    /// let (_a, b) = pipe::<u8>().unwrap();
    /// let h = b.handle();
    /// let _mine = h.attach().unwrap();
    /// assert!(matches!(h.attach(), Err(ChannelError::InUse { .. })));
    /// ```
    pub fn attach(&self) -> Result<Connection<T>, ChannelError> {
        let map = open::<T>(&self.segment, KIND_DUPLEX, self.type_hash)?;
        let (tx, rx) = if self.end == 0 { (0, 1) } else { (1, 0) };
        let (tring, rring) = (ring(&map, tx)?, ring(&map, rx)?);
        let mut txh = TxHalf::new(map.clone(), tring, tx);
        let mut rxh = RxHalf::new(map, rring, rx);
        claim_both(&mut txh, &mut rxh)?;
        Ok(Connection::from_halves(txh, rxh, self.end))
    }
}

/// Claims both sides of an end; if the second claim fails, the first is kept (not
/// closed: closing would end the pipe for whoever legitimately holds the other side).
fn claim_both<T>(tx: &mut TxHalf<T>, rx: &mut RxHalf<T>) -> Result<(), ChannelError> {
    tx.claim()?;
    if let Err(e) = rx.claim() {
        // Dropping the claimed producer would close the side for good; keep it claimed
        // by this process instead (another process may take it over once we exit).
        tx.forget_claim();
        return Err(e.into());
    }
    Ok(())
}

/// The sending end of a [`pipe_oneway`](crate::pipe_oneway), for another process.
///
/// ```
/// use zeroproc_mp::pipe_oneway;
/// let (tx, mut rx) = pipe_oneway::<u32>().unwrap();
/// let mut there = tx.handle().attach().unwrap(); // in the other process
/// there.send(5).unwrap();
/// assert_eq!(rx.recv().unwrap(), 5);
/// ```
#[derive(Archive, Serialize, Deserialize)]
pub struct SenderHandle<T> {
    #[rkyv(with = crate::segment_refs::SegmentRef)]
    segment: String,
    type_hash: u64,
    /// Keeps the pipe for a process or job given this handle (`pin.rs`); not archived.
    #[rkyv(with = PinKeep)]
    keep: Keep,
    _t: PhantomData<fn() -> T>,
}

handle_impls!(SenderHandle<T> { segment, type_hash, keep, _t } debug { segment, type_hash });

impl<T: Message> SenderHandle<T> {
    pub(crate) fn new(map: &Arc<Mapping>) -> Self {
        SenderHandle {
            segment: map.id().to_string(),
            type_hash: type_hash::<T>(),
            keep: Keep::new(Arc::new(EndPin::one(map, 0, Side::Producer))),
            _t: PhantomData,
        }
    }

    /// The sending end, in this process (claims it).
    ///
    /// ```
    /// let (tx, _rx) = zeroproc_mp::pipe_oneway::<u32>().unwrap();
    /// assert!(tx.handle().attach().is_ok());
    /// ```
    pub fn attach(&self) -> Result<PipeSender<T>, ChannelError> {
        let map = open::<T>(&self.segment, KIND_ONEWAY, self.type_hash)?;
        let r = ring(&map, 0)?;
        let mut tx = TxHalf::new(map, r, 0);
        tx.claim()?;
        Ok(PipeSender::from_half(tx))
    }
}

/// The receiving end of a [`pipe_oneway`](crate::pipe_oneway), for another process.
///
/// ```
/// use zeroproc_mp::pipe_oneway;
/// let (mut tx, rx) = pipe_oneway::<u32>().unwrap();
/// let mut there = rx.handle().attach().unwrap(); // in the other process
/// tx.send(6).unwrap();
/// assert_eq!(there.recv().unwrap(), 6);
/// ```
#[derive(Archive, Serialize, Deserialize)]
pub struct ReceiverHandle<T> {
    #[rkyv(with = crate::segment_refs::SegmentRef)]
    segment: String,
    type_hash: u64,
    /// Keeps the pipe for a process or job given this handle (`pin.rs`); not archived.
    #[rkyv(with = PinKeep)]
    keep: Keep,
    _t: PhantomData<fn() -> T>,
}

handle_impls!(ReceiverHandle<T> { segment, type_hash, keep, _t } debug { segment, type_hash });

impl<T: Message> ReceiverHandle<T> {
    pub(crate) fn new(map: &Arc<Mapping>) -> Self {
        ReceiverHandle {
            segment: map.id().to_string(),
            type_hash: type_hash::<T>(),
            keep: Keep::new(Arc::new(EndPin::one(map, 0, Side::Consumer))),
            _t: PhantomData,
        }
    }

    /// The receiving end, in this process (claims it).
    ///
    /// ```
    /// let (_tx, rx) = zeroproc_mp::pipe_oneway::<u32>().unwrap();
    /// assert!(rx.handle().attach().is_ok());
    /// ```
    pub fn attach(&self) -> Result<PipeReceiver<T>, ChannelError> {
        let map = open::<T>(&self.segment, KIND_ONEWAY, self.type_hash)?;
        let r = ring(&map, 0)?;
        let mut rx = RxHalf::new(map, r, 0);
        rx.claim()?;
        Ok(PipeReceiver::from_half(rx))
    }
}
