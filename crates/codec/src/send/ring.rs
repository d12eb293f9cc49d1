//! [`Records`] over an SPSC ring's producer: values are archived straight into the
//! reserved record.

use super::{Draft, Records, Wait};
use std::ops::{Deref, DerefMut};
use zeroproc_ring::spsc::{Producer, Reservation, ReserveTimeoutError};

/// What publishing a record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// Commit it (visible to the consumer, which is woken if it sleeps).
    Commit,
    /// Stage it: the next [`Producer::publish`] or commit makes it visible (batches).
    Stage,
}

/// An SPSC producer as a destination of records of one kind and tag.
///
/// ```
/// use zeroproc_codec::envelope::{decode, Header};
/// use zeroproc_codec::send::{send, NoOverflow, Publish, Ring, Wait};
/// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(1 << 12).unwrap();
/// let mut ring = Ring::new(&mut tx, Wait::Never, Publish::Commit).kind(3).tag(9);
/// send(&mut ring, &mut NoOverflow, Header::new(9, 0), &(1u8, 2.5f64)).unwrap();
/// let rec = rx.try_recv().unwrap();
/// assert_eq!((rec.kind(), rec.tag()), (3, 9));
/// let (_, v) = decode::<(u8, f64)>(&rec).unwrap();
/// assert_eq!(v.1, 2.5);
/// ```
#[derive(Debug)]
pub struct Ring<'p> {
    producer: &'p mut Producer,
    wait: Wait,
    publish: Publish,
    kind: u32,
    tag: u64,
    first: Option<usize>,
    limit: Option<usize>,
}

impl<'p> Ring<'p> {
    /// Records of kind 0 and tag 0 into `producer`; a full ring is waited for per `wait`
    /// (`Wait::Never`: refused at once as `Timeout`).
    #[inline]
    pub fn new(producer: &'p mut Producer, wait: Wait, publish: Publish) -> Self {
        Self { producer, wait, publish, kind: 0, tag: 0, first: None, limit: None }
    }

    /// Sets the records' kind.
    #[inline]
    pub fn kind(mut self, kind: u32) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the records' tag.
    #[inline]
    pub fn tag(mut self, tag: u64) -> Self {
        self.tag = tag;
        self
    }

    /// Spills envelopes larger than `len` bytes, though a record could hold them (at
    /// least a spilled record's 48 bytes).
    #[inline]
    pub fn spill_above(mut self, len: usize) -> Self {
        self.limit = Some(len.max(super::SPILLED_RECORD_LEN));
        self
    }

    /// Sets the first draft's size (default [`FIRST_LEN`](super::FIRST_LEN)).
    #[inline]
    pub fn first_len(mut self, len: usize) -> Self {
        self.first = Some(len);
        self
    }
}

impl Records for Ring<'_> {
    type Error = ReserveTimeoutError;
    type Draft<'a>
        = RingDraft<'a>
    where
        Self: 'a;

    #[inline]
    fn max_len(&self) -> usize {
        let max = self.producer.max_payload();
        self.limit.map_or(max, |l| l.min(max))
    }

    #[inline]
    fn first_len(&self) -> usize {
        self.first.unwrap_or(super::FIRST_LEN).min(self.max_len())
    }

    #[inline(always)]
    fn draft(&mut self, len: usize) -> Result<RingDraft<'_>, ReserveTimeoutError> {
        let r = match self.wait {
            Wait::Never => self.producer.try_reserve(len).map_err(ReserveTimeoutError::from),
            Wait::Until(None) => self.producer.reserve(len).map_err(ReserveTimeoutError::from),
            Wait::Until(Some(d)) => self.producer.reserve_deadline(len, d),
        }?;
        Ok(RingDraft { r, publish: self.publish, kind: self.kind, tag: self.tag })
    }
}

/// A reserved ring record ([`Ring`]'s draft).
#[derive(Debug)]
pub struct RingDraft<'a> {
    r: Reservation<'a>,
    publish: Publish,
    kind: u32,
    tag: u64,
}

impl Deref for RingDraft<'_> {
    type Target = [u8];
    #[inline(always)]
    fn deref(&self) -> &[u8] {
        &self.r
    }
}

impl DerefMut for RingDraft<'_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.r
    }
}

impl Draft for RingDraft<'_> {
    type Error = ReserveTimeoutError;

    #[inline(always)]
    fn publish(mut self, len: usize) -> Result<(), ReserveTimeoutError> {
        self.r.truncate(len);
        self.r.set_kind(self.kind);
        self.r.set_tag(self.tag);
        match self.publish {
            Publish::Commit => self.r.commit(),
            Publish::Stage => self.r.stage(),
        }
        Ok(())
    }
}
