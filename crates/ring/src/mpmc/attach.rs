//! Creating a ring in a segment, attaching to one (validating everything first), and the
//! printable descriptor another process attaches with.

use super::layout::{Control, Geometry, GeometryError, SlotCtl, CONTROL_SIZE, RING_MAGIC};
use super::layout::{REGION_ALIGN, RING_VERSION};
use super::protocol::Core;
use super::ring::Ring;
use super::setup_error::{AttachError, CreateError};
use super::storage::ShmStorage;
use std::fmt;
use std::ptr::NonNull;
use std::str::FromStr;
use std::sync::Arc;
use zeroproc_shm::atomic::Ordering;
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_shm::{Layout, Offset, OffsetError, Segment, SegmentBuilder, SegmentId, HEADER_SIZE};

/// The [`Layout`] of segments made by [`Ring::new`] (what [`Ring::open`] expects).
pub const SEGMENT_LAYOUT: Layout =
    Layout::new("zeroproc-mpmc", RING_VERSION).with_type::<Control>().with_type::<SlotCtl>();

fn geometry(capacity: usize, slot_size: usize) -> Result<Geometry, CreateError> {
    Geometry::new(capacity, slot_size).map_err(|e| match e {
        GeometryError::Capacity(c) => CreateError::BadCapacity(c),
        GeometryError::SlotSize(s) => CreateError::BadSlotSize(s),
    })
}

/// Writes a fresh ring of geometry `geo` at `base` and publishes it. `zeroed`: the slots'
/// bytes are known to be zero (fresh memory), which is what an EMPTY slot is: they are not
/// written, and their pages are not touched until values reach them.
///
/// # Safety
/// `base` is valid for writes of `geo.region_size()` bytes, aligned to [`REGION_ALIGN`],
/// nothing else (in any process) accesses those bytes until this returns, and if `zeroed`
/// every byte past the control block is zero.
unsafe fn init_region(base: *mut u8, geo: Geometry, zeroed: bool) {
    // SAFETY: in bounds and aligned for `Control` (contract); nobody else reads it yet.
    unsafe { base.cast::<Control>().write(Control::new(geo)) };
    for i in (0..geo.capacity).filter(|_| !zeroed) {
        // SAFETY: slot `i` lies at CONTROL_SIZE + i * stride, inside the region, 64-byte
        // aligned (CONTROL_SIZE and stride are multiples of 64, base of 128).
        unsafe {
            base.add(CONTROL_SIZE + i * geo.stride).cast::<SlotCtl>().write(SlotCtl::empty())
        };
    }
    // SAFETY: initialised just above.
    unsafe { &*base.cast::<Control>() }.publish();
}

/// Builds the handle for a validated ring.
///
/// # Safety
/// The region at `offset` in `seg` holds an initialised ring of geometry `geo`, entirely
/// inside the mapping, and `offset` is a multiple of [`REGION_ALIGN`].
unsafe fn handle(seg: Arc<Segment>, offset: u64, geo: Geometry) -> Ring {
    // SAFETY: the region is inside the mapping (contract).
    let base = unsafe { seg.base().add(offset as usize) };
    // SAFETY: a pointer into a live mapping is non-null; CONTROL_SIZE < region size.
    let (control, slots) = unsafe {
        (
            NonNull::new_unchecked(base.cast::<Control>()),
            NonNull::new_unchecked(base.add(CONTROL_SIZE)),
        )
    };
    // SAFETY: control and slots are initialised, aligned and inside `seg` (contract).
    let storage = unsafe { ShmStorage::new(seg, offset, control, slots, geo) };
    Ring::from_core(Core::new(storage), WaitStrategy::default())
}

impl Ring {
    /// Bytes a ring of `capacity` slots of `slot_size` payload bytes occupies in a segment
    /// (for [`create_in`](Self::create_in)); the slot size is rounded up to 16.
    ///
    /// # Example
    /// ```
    /// use zeroproc_ring::mpmc::Ring;
    /// assert!(Ring::required_size(64, 256).unwrap() >= 64 * 256);
    /// assert!(Ring::required_size(3, 256).is_err(), "capacity must be a power of two");
    /// ```
    pub fn required_size(capacity: usize, slot_size: usize) -> Result<usize, CreateError> {
        Ok(geometry(capacity, slot_size)?.region_size())
    }

    /// A ring of `capacity` slots (a power of two) of `slot_size` payload bytes (rounded up
    /// to a multiple of 16), in a new memfd segment of its own. Other processes attach with
    /// [`descriptor`](Self::descriptor) and [`open`](Self::open).
    ///
    /// # Example
    /// ```
    /// use zeroproc_ring::mpmc::Ring;
    /// let ring = Ring::new(8, 100).unwrap();
    /// assert_eq!((ring.capacity(), ring.slot_size()), (8, 112));
    /// ```
    pub fn new(capacity: usize, slot_size: usize) -> Result<Ring, CreateError> {
        let geo = geometry(capacity, slot_size)?;
        let offset = HEADER_SIZE;
        let seg = SegmentBuilder::new(SEGMENT_LAYOUT, geo.region_size())
            // Slot pages come as values reach them (creating a 1 MiB ring wrote and
            // faulted in every slot).
            .reserve_later()
            .create_with(|seg| {
                // SAFETY: the data region starts at HEADER_SIZE (256-aligned), holds at
                // least region_size bytes, is fresh (zero), and nobody can attach before
                // `create_with` marks the segment ready.
                unsafe { init_region(seg.data(), geo, true) }
            })
            .map_err(CreateError::Segment)?;
        // SAFETY: initialised just above at `offset`, inside the mapping, 256-aligned.
        Ok(unsafe { handle(Arc::new(seg), offset as u64, geo) })
    }

    /// Creates a ring in `seg` at `offset` (from the segment's base; a multiple of
    /// [`REGION_ALIGN`], past the segment header), occupying
    /// [`required_size`](Self::required_size) bytes.
    ///
    /// # Safety
    /// Those bytes are not used by anything else, in this or any other process, and no
    /// reference into them is alive: they are overwritten.
    ///
    /// # Example
    /// ```
    /// use std::sync::Arc;
    /// use zeroproc_ring::mpmc::Ring;
    /// use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};
    /// let need = Ring::required_size(16, 64).unwrap();
    /// let seg = Arc::new(Segment::create(Layout::new("two-rings", 1), 2 * need).unwrap());
    /// let at = (HEADER_SIZE + need) as u64; // the second half of the data region
    /// // SAFETY: nothing else uses this segment.
    /// let ring = unsafe { Ring::create_in(seg.clone(), Offset::new(at), 16, 64) }.unwrap();
    /// let again = Ring::attach(seg, Offset::new(at)).unwrap();
    /// ring.try_push(b"hi").unwrap();
    /// assert_eq!(again.try_pop().unwrap(), b"hi");
    /// ```
    pub unsafe fn create_in(
        seg: Arc<Segment>,
        offset: Offset<u8>,
        capacity: usize,
        slot_size: usize,
    ) -> Result<Ring, CreateError> {
        // SAFETY: the caller's contract; not known zeroed, so every slot is written.
        unsafe { Self::create_at(seg, offset, capacity, slot_size, false) }
    }

    /// [`create_in`](Self::create_in) for bytes known to be zero (a segment just created,
    /// never written there): the slots are not written, so a ring's pages are faulted in
    /// only as values reach them — creating a 1 MiB queue no longer touches 1 MiB.
    ///
    /// # Safety
    /// As `create_in`, and every one of those bytes is zero.
    ///
    /// # Example
    /// ```
    /// use std::sync::Arc;
    /// use zeroproc_ring::mpmc::Ring;
    /// use zeroproc_shm::{Layout, Offset, SegmentBuilder, HEADER_SIZE};
    /// let need = Ring::required_size(1024, 1008).unwrap();
    /// let seg = SegmentBuilder::new(Layout::new("fresh-ring", 1), need).reserve_later();
    /// let seg = Arc::new(seg.create().unwrap());
    /// // SAFETY: nothing else uses this segment, and it is fresh: zero.
    /// let ring =
    ///     unsafe { Ring::create_in_zeroed(seg, Offset::new(HEADER_SIZE as u64), 1024, 1008) };
    /// let ring = ring.unwrap();
    /// ring.try_push(b"hi").unwrap();
    /// assert_eq!(ring.try_pop().unwrap(), b"hi");
    /// ```
    pub unsafe fn create_in_zeroed(
        seg: Arc<Segment>,
        offset: Offset<u8>,
        capacity: usize,
        slot_size: usize,
    ) -> Result<Ring, CreateError> {
        // SAFETY: the caller's contract, zero bytes included.
        unsafe { Self::create_at(seg, offset, capacity, slot_size, true) }
    }

    /// `create_in` and `create_in_zeroed`.
    ///
    /// # Safety
    /// As `create_in`; if `zeroed`, every one of those bytes is zero.
    unsafe fn create_at(
        seg: Arc<Segment>,
        offset: Offset<u8>,
        capacity: usize,
        slot_size: usize,
        zeroed: bool,
    ) -> Result<Ring, CreateError> {
        let geo = geometry(capacity, slot_size)?;
        let off = offset.get();
        if off % REGION_ALIGN as u64 != 0 || off < HEADER_SIZE as u64 {
            return Err(CreateError::BadOffset(off));
        }
        let need = geo.region_size();
        let base = seg.resolve(offset, need).map_err(|_| CreateError::TooSmall {
            needed: need as u64,
            available: (seg.len() as u64).saturating_sub(off),
        })?;
        // SAFETY: `resolve` checked the bounds; the alignment is checked above (segment
        // bases are page aligned); exclusivity and zero bytes are the caller's contract.
        unsafe { init_region(base.as_ptr(), geo, zeroed) };
        // SAFETY: initialised just above, inside the mapping, aligned.
        Ok(unsafe { handle(seg, off, geo) })
    }

    /// Attaches to the ring at `offset` in `seg`, refusing anything that is not an
    /// initialised MPMC ring of this version that fits in the segment.
    ///
    /// # Example
    /// ```
    /// use zeroproc_ring::mpmc::{AttachError, Ring};
    /// use zeroproc_shm::Offset;
    /// let ring = Ring::new(4, 64).unwrap();
    /// let seg = ring.segment().clone();
    /// assert!(Ring::attach(seg.clone(), ring.offset()).is_ok());
    /// let wrong = Offset::new(ring.offset().get() + 128);
    /// assert!(matches!(Ring::attach(seg, wrong), Err(AttachError::NotInitialized)));
    /// ```
    pub fn attach(seg: Arc<Segment>, offset: Offset<u8>) -> Result<Ring, AttachError> {
        let off = offset.get();
        if off % REGION_ALIGN as u64 != 0 {
            return Err(AttachError::Offset(OffsetError::Misaligned {
                offset: off,
                align: REGION_ALIGN,
            }));
        }
        let ctl = seg.resolve(offset.cast::<Control>(), 1).map_err(AttachError::Offset)?;
        // SAFETY: in bounds and aligned (checked by `resolve`); `Control` consists of
        // atomics only, valid for any bit pattern, and is only read here.
        let ctl = unsafe { ctl.as_ref() };
        // Acquire: pairs with the Release store in `Control::publish`: every other field
        // the creator initialised is visible from here on.
        let magic = ctl.meta.magic.load(Ordering::Acquire);
        if magic == 0 {
            return Err(AttachError::NotInitialized);
        }
        if magic != RING_MAGIC {
            return Err(AttachError::BadMagic(magic));
        }
        // Relaxed (all four): written before the magic, made visible by its Acquire load.
        let version = ctl.meta.version.load(Ordering::Relaxed);
        if version != RING_VERSION {
            return Err(AttachError::Version { found: version, expected: RING_VERSION });
        }
        let capacity = ctl.meta.capacity.load(Ordering::Relaxed);
        let slot_size = ctl.meta.slot_size.load(Ordering::Relaxed);
        let stride = ctl.meta.stride.load(Ordering::Relaxed);
        let bad = || AttachError::BadGeometry { capacity, slot_size, stride };
        let geo = Geometry::new(
            usize::try_from(capacity).map_err(|_| bad())?,
            usize::try_from(slot_size).map_err(|_| bad())?,
        )
        .map_err(|_| bad())?;
        if geo.slot_size as u64 != slot_size || geo.stride as u64 != stride {
            return Err(bad());
        }
        let need = geo.region_size();
        seg.resolve(offset, need).map_err(|_| AttachError::TooSmall {
            needed: need as u64,
            available: (seg.len() as u64).saturating_sub(off),
        })?;
        // SAFETY: validated above: initialised (magic), geometry consistent, the whole
        // region inside the mapping, offset aligned.
        Ok(unsafe { handle(seg, off, geo) })
    }

    /// Attaches to the ring a [`Descriptor`] names (made by [`Ring::new`] in any process of
    /// this user). For a ring in a segment of your own, attach the segment and use
    /// [`attach`](Self::attach).
    ///
    /// # Example
    /// ```
    /// use zeroproc_ring::mpmc::{Descriptor, Ring};
    /// let ring = Ring::new(4, 64).unwrap();
    /// let text = ring.descriptor().to_string(); // e.g. passed in argv to a worker
    /// let other = Ring::open(&text.parse::<Descriptor>().unwrap()).unwrap();
    /// other.try_push(b"from afar").unwrap();
    /// assert_eq!(ring.try_pop().unwrap(), b"from afar");
    /// ```
    pub fn open(desc: &Descriptor) -> Result<Ring, AttachError> {
        let seg = Segment::attach(&desc.segment, SEGMENT_LAYOUT).map_err(AttachError::Segment)?;
        Ring::attach(Arc::new(seg), Offset::new(desc.offset))
    }

    /// The segment and offset another process needs to attach.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor { segment: self.segment().id().clone(), offset: self.offset().get() }
    }
}

/// Where a ring lives: its segment's id and its offset there. The text form
/// (`mpmc:OFFSET@SEGMENT-ID`) is what goes into argv or an environment variable.
///
/// # Example
/// ```
/// use zeroproc_ring::mpmc::Descriptor;
/// let d: Descriptor = "mpmc:256@memfd:42:7:00ff".parse().unwrap();
/// assert_eq!(d.offset, 256);
/// assert_eq!(d.to_string(), "mpmc:256@memfd:42:7:00000000000000ff");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Descriptor {
    /// The segment holding the ring.
    pub segment: SegmentId,
    /// Byte offset of the ring from the segment's base.
    pub offset: u64,
}

impl fmt::Display for Descriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mpmc:{}@{}", self.offset, self.segment)
    }
}

/// A descriptor's text did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDescriptorError(pub String);

impl fmt::Display for ParseDescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an MPMC ring descriptor: {:?}", self.0)
    }
}

impl std::error::Error for ParseDescriptorError {}

impl FromStr for Descriptor {
    type Err = ParseDescriptorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseDescriptorError(s.to_owned());
        let (off, seg) = s.strip_prefix("mpmc:").and_then(|r| r.split_once('@')).ok_or_else(bad)?;
        Ok(Descriptor {
            offset: off.parse().map_err(|_| bad())?,
            segment: seg.parse().map_err(|_| bad())?,
        })
    }
}
