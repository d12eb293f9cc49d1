//! Shared-memory segments: creation with space reserved up front, attachment with the
//! header checked before anything else is read, and cleanup that leaves nothing behind.
//!
//! Two backings:
//!
//! * **memfd** (default): an anonymous file. Other processes of the same user open it via
//!   `/proc/PID/fd/FD`; nothing ever appears in `/dev/shm`, so nothing can leak there,
//!   whether the creator returns, panics, calls `exit` or is SIGKILLed. The memory is freed
//!   when the last process holding a mapping or descriptor exits.
//! * **named**: a file created `O_CREAT|O_EXCL`, mode 0600, named
//!   `zeroproc-<pid>-<64 random bits>` in a tmpfs directory (default `/dev/shm`). Unlinked on
//!   drop, on unwinding, and by an `atexit` hook on `exit()`; what a SIGKILLed creator
//!   leaves is removed by [`sweep_stale`], which every named creation runs first.
//!
//! Space is reserved at creation (`fallocate`) after a check against the free space, so a
//! full `/dev/shm` is a [`CreateError::NoSpace`] there, never a SIGBUS on first touch.
//!
//! **Growable segments** ([`SegmentBuilder::max_data_len`]): every process maps the
//! maximum length once (address space only); the file is extended underneath by
//! [`Segment::grow_to`] (`fallocate`, from any attached process: they all hold the same
//! file), and the header's `committed_len` ([`Extent`](crate::extent::Extent)) says how
//! much of it is backed. Nobody remaps; bytes past `committed_len` are never touched
//! (a structure in the segment, like a growable heap, keeps its own extent below it).

mod addr;
mod error;
mod grow;
pub(crate) use grow::grow_file;

/// This process's file-size limit in bytes (`RLIMIT_FSIZE`, `ulimit -f`), `None` when
/// unlimited. A segment is a file: one larger than the limit cannot be made or grown
/// ([`CreateError::Io`] / [`GrowError::Io`] with `EFBIG`, naming the limit), so a
/// structure that picks its own first size keeps under it.
///
/// ```
/// // Under `ulimit -f 1024` (KiB) this is `Some(1048576)`; with no limit, `None`.
/// if let Some(limit) = zeroproc_shm::file_size_limit() {
///     println!("no segment of more than {limit} bytes");
/// }
/// ```
pub fn file_size_limit() -> Option<u64> {
    os::file_size_limit()
}
mod header;
mod id;
mod layout;
mod os;
mod reuse;
mod view;

#[cfg(test)]
mod fork_tests;

pub use addr::AddressSpace;
pub use error::{AttachError, CreateError};
pub use grow::GrowError;
pub use header::{Header, HEADER_SIZE, HEADER_VERSION, MAGIC};
pub use id::{ParseSegmentIdError, SegmentId};
pub use layout::Layout;
pub use os::sweep_stale;
pub use view::SegmentView;

use crate::atomic::Ordering;
use crate::offset::{Offset, OffsetError};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

/// Where a new segment's memory comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backing {
    /// An anonymous memfd (the default; leaves nothing behind, ever).
    Memfd,
    /// A named file in this tmpfs directory (`/dev/shm` for POSIX shared memory).
    Named(PathBuf),
}

/// Options for [`Segment::create`].
///
/// # Example
/// ```
/// use zeroproc_shm::{Layout, SegmentBuilder};
/// let seg = SegmentBuilder::new(Layout::new("doc", 1), 1 << 16).create().unwrap();
/// assert!(seg.data_len() >= (1 << 16));
/// ```
#[derive(Debug, Clone)]
pub struct SegmentBuilder {
    layout: Layout,
    data_len: usize,
    max_data_len: usize,
    backing: Backing,
    populate: bool,
    reserve: bool,
}

impl SegmentBuilder {
    /// A memfd-backed segment for `layout` with at least `data_len` usable bytes.
    pub fn new(layout: Layout, data_len: usize) -> Self {
        Self {
            layout,
            data_len,
            max_data_len: data_len,
            backing: Backing::Memfd,
            populate: true,
            reserve: true,
        }
    }

    /// Chooses the backing (default [`Backing::Memfd`]).
    pub fn backing(mut self, b: Backing) -> Self {
        self.backing = b;
        self
    }

    /// Lets the data region grow to `bytes` (at least `data_len`) with
    /// [`Segment::grow_to`]: that much address space is mapped in every process now, and
    /// only `data_len` bytes are reserved. Default: `data_len` (no growth).
    ///
    /// ```
    /// use zeroproc_shm::{Layout, SegmentBuilder};
    /// let seg = SegmentBuilder::new(Layout::new("doc-grow", 1), 4096)
    ///     .max_data_len(1 << 20)
    ///     .create()
    ///     .unwrap();
    /// assert_eq!(seg.committed_len(), 8192); // HEADER_SIZE + 4096, rounded to pages
    /// seg.grow_to(1 << 16).unwrap();
    /// assert_eq!(seg.committed_len(), 1 << 16);
    /// assert!(seg.grow_to(seg.len() as u64 + 1).is_err());
    /// ```
    pub fn max_data_len(mut self, bytes: usize) -> Self {
        self.max_data_len = bytes;
        self
    }

    /// Whether to pre-fault the creator's page tables (`MAP_POPULATE`, default on). The
    /// pages themselves are reserved unless [`reserve_later`](Self::reserve_later).
    pub fn populate(mut self, on: bool) -> Self {
        self.populate = on;
        self
    }

    /// Leaves a memfd segment's pages unallocated at creation (default: every page
    /// allocated, `fallocate`): each is allocated where some process first touches it, as
    /// anonymous memory is, and the creation costs no time per page (1.3 MiB took 0.36 ms
    /// to allocate and 0.45 ms more to map here). The available memory is still checked
    /// against the whole size ([`CreateError::NoSpace`]); a touch that finds no memory
    /// later meets what any allocation would (reclaim, the OOM killer) — a memfd has no
    /// size limit of its own, so never a SIGBUS. A segment over a sixteenth of the memory
    /// available is allocated at creation all the same: pages left to fault in are not
    /// counted by the next creation's check, so large segments created one after another
    /// would each pass it (under a memory cgroup: a SIGKILL later instead of `NoSpace`).
    /// A [`Backing::Named`] segment ignores this: a full tmpfs would be a SIGBUS on first
    /// touch. Implies `populate(false)`.
    ///
    /// ```
    /// use zeroproc_shm::{Layout, SegmentBuilder};
    /// let seg = SegmentBuilder::new(Layout::new("doc-reserve-later", 1), 1 << 20)
    ///     .reserve_later()
    ///     .create()
    ///     .unwrap();
    /// assert!(seg.data_len() >= 1 << 20); // usable now; pages come as they are touched
    /// ```
    pub fn reserve_later(mut self) -> Self {
        self.reserve = false;
        self.populate = false;
        self
    }

    /// Creates the segment; it is ready (attachable) when this returns.
    pub fn create(self) -> Result<Segment, CreateError> {
        self.create_with(|_| {})
    }

    /// Creates the segment, runs `init` on it, then marks it ready. Attachers that arrive
    /// before `init` finished get [`AttachError::NotReady`].
    pub fn create_with(self, init: impl FnOnce(&Segment)) -> Result<Segment, CreateError> {
        let seg = Segment::create_uninit(&self)?;
        init(&seg);
        // Release: publishes everything `init` wrote; pairs with the Acquire in `attach`.
        seg.header().state.store(header::STATE_READY, Ordering::Release);
        Ok(seg)
    }
}

/// A mapped shared-memory segment: a [`Header`] followed by the data region.
///
/// `Segment` is `Send + Sync`: it only hands out raw pointers and offsets; what lives in
/// the data region decides its own synchronisation (atomics, rings, locks).
///
/// # Example
/// ```
/// use zeroproc_shm::{Layout, Segment, SegmentBuilder};
/// const L: Layout = Layout::new("doc-attach", 1);
/// let a = SegmentBuilder::new(L, 4096).create().unwrap();
/// let b = Segment::attach(a.id(), L).unwrap(); // another process would do the same
/// assert_eq!(a.data_len(), b.data_len());
/// ```
#[derive(Debug)]
pub struct Segment {
    base: NonNull<u8>,
    len: usize,
    fd: OwnedFd,
    id: SegmentId,
    unlink_on_drop: Option<PathBuf>,
}

// SAFETY: the mapping is process-wide and stays valid until `drop`; the type itself holds no
// thread-affine state. Access to the memory is synchronised by what is stored in it.
unsafe impl Send for Segment {}
// SAFETY: as above; `&Segment` only exposes raw pointers and immutable metadata.
unsafe impl Sync for Segment {}

impl Segment {
    /// Creates a memfd segment with at least `data_len` usable bytes (shorthand for
    /// [`SegmentBuilder::create`]).
    pub fn create(layout: Layout, data_len: usize) -> Result<Segment, CreateError> {
        SegmentBuilder::new(layout, data_len).create()
    }

    fn create_uninit(b: &SegmentBuilder) -> Result<Segment, CreateError> {
        let page = os::page_size() as u64;
        let pages = |data_len: usize| {
            (HEADER_SIZE as u64)
                .checked_add(data_len as u64)
                .and_then(|t| t.checked_next_multiple_of(page))
                .filter(|&t| t <= isize::MAX as u64)
                .ok_or(CreateError::BadSize(data_len as u64))
        };
        let total = pages(b.data_len)?;
        let map_len = pages(b.max_data_len.max(b.data_len))?;
        let token = os::random_u64();
        let pid = crate::process::current_pid();
        // Whether every page is allocated now (`reserve_later` honoured only for a memfd
        // segment small next to the memory left, see below).
        let mut allocate = true;
        let (fd, id, unlink) = match &b.backing {
            Backing::Memfd => {
                let avail = os::mem_available_for(total);
                if total > avail {
                    return Err(CreateError::NoSpace { requested: total, available: avail });
                }
                // A segment left to fault in is not counted by the next creation's check:
                // large ones (a pool's with 8 MiB rings is 32 MiB) created one after
                // another each passed it, and under a memory cgroup the jobs touching
                // their pages later met the OOM killer's SIGKILL instead of a NoSpace at
                // creation. Over a sixteenth of the room left, the pages are allocated now.
                allocate = b.reserve || total > avail / 16;
                let fd = os::memfd(&format!("zeroproc-{pid}"))?;
                let id = SegmentId::Memfd { pid, fd: fd.as_raw_fd(), token };
                (fd, id, None)
            }
            Backing::Named(dir) => {
                os::sweep_stale(dir);
                let avail = os::fs_available(dir);
                if total > avail {
                    return Err(CreateError::NoSpace { requested: total, available: avail });
                }
                let path = dir.join(format!("{}{pid}-{:016x}", os::NAME_PREFIX, os::random_u64()));
                let fd = os::open_excl(&path)?;
                os::register_named(&path);
                let id = SegmentId::Named { path: path.to_string_lossy().into_owned(), token };
                (fd, id, Some(path))
            }
        };
        let cleanup = |e| {
            if let Some(p) = &unlink {
                os::unlink_named(p);
            }
            e
        };
        // Before any page is reserved: a mapping past RLIMIT_AS would fail after (addr.rs).
        if let Some(a) = addr::refused(map_len) {
            return Err(cleanup(CreateError::AddressSpace(a)));
        }
        os::size(&fd, total).map_err(cleanup)?;
        if allocate {
            os::allocate(&fd, total).map_err(cleanup)?;
        }
        // A growable segment is mapped whole but only its reserved part is pre-faulted
        // (past the end of the file a fault is a SIGBUS, so MAP_POPULATE must not go there).
        let base = os::map(&fd, map_len as usize, b.populate && map_len == total).map_err(|e| {
            cleanup(match addr::explain(map_len, &e) {
                Some(a) => CreateError::AddressSpace(a),
                None => CreateError::Io("mmap", e),
            })
        })?;
        if b.populate && map_len > total {
            // Best effort, like MAP_POPULATE: on kernels before 5.14 pages fault in later.
            let _ = os::populate_write(base, total as usize);
        }
        let seg = Segment {
            base: NonNull::new(base).expect("mmap never returns null on success"),
            len: map_len as usize,
            fd,
            id,
            unlink_on_drop: unlink,
        };
        // SAFETY: the mapping is at least HEADER_SIZE bytes, page aligned, freshly zeroed by
        // the kernel, and nobody else can have attached yet (state is STATE_INIT = 0 and the
        // id has not been handed out).
        unsafe {
            seg.base.as_ptr().cast::<Header>().write(Header {
                magic: MAGIC,
                header_version: HEADER_VERSION,
                header_size: HEADER_SIZE as u32,
                total_len: map_len,
                token,
                layout_name: b.layout.name_bytes(),
                layout_version: b.layout.version,
                creator_pid: pid,
                layout_hash: b.layout.hash,
                creator_uid: libc::geteuid(),
                state: crate::atomic::AtomicU32::new(header::STATE_INIT),
                reserved_len: total,
                committed_len: crate::extent::Extent::new(total),
            });
        }
        Ok(seg)
    }

    /// Attaches to the segment `id`, refusing anything that is not a ready zeroproc segment
    /// of exactly `layout`, created by this user with mode 0600, carrying the id's token.
    pub fn attach(id: &SegmentId, layout: Layout) -> Result<Segment, AttachError> {
        let fd = open_rw(&id_path(id))?;
        Self::attach_fd(fd, id.clone(), layout)
    }

    fn attach_fd(fd: OwnedFd, id: SegmentId, layout: Layout) -> Result<Segment, AttachError> {
        let actual = check_file(&fd).map_err(|e| reuse::explain(&id, e, false))?;
        let base = os::map(&fd, actual as usize, false).map_err(|e| map_failed(actual, e))?;
        let mut seg = Segment {
            base: NonNull::new(base).expect("mmap never returns null on success"),
            len: actual as usize,
            fd,
            id,
            unlink_on_drop: None,
        };
        // From here on, dropping `seg` unmaps. Every field is checked before trust.
        check_header(seg.header(), actual, &seg.id, &layout)?;
        let map_len = seg.header().total_len;
        if map_len > actual {
            // A growable segment: map its maximum (checked ≥ the file) instead.
            let whole =
                os::map(&seg.fd, map_len as usize, false).map_err(|e| map_failed(map_len, e))?;
            // SAFETY: `base`/`len` are exactly the first mapping, which nothing borrows yet.
            unsafe { libc::munmap(seg.base.as_ptr().cast(), seg.len) };
            seg.base = NonNull::new(whole).expect("mmap never returns null on success");
            seg.len = map_len as usize;
        }
        Ok(seg)
    }

    /// Maps every page of the segment into this process now and allocates the ones not yet
    /// allocated (`MADV_POPULATE_WRITE`), as [`SegmentBuilder::populate`] does at
    /// creation — but at a moment of the caller's choosing, e.g. while it waits for
    /// something else. The contents are unchanged. On kernels before 5.14 this is an
    /// error (`EINVAL`) and the pages simply fault in on first use.
    ///
    /// ```
    /// use zeroproc_shm::{Layout, SegmentBuilder};
    /// let seg = SegmentBuilder::new(Layout::new("doc-populate", 1), 1 << 20)
    ///     .populate(false)
    ///     .create()
    ///     .unwrap();
    /// seg.populate().unwrap();
    /// ```
    pub fn populate(&self) -> std::io::Result<()> {
        os::populate_write(self.base.as_ptr(), self.committed_len())
    }

    /// The id other processes pass to [`Segment::attach`].
    pub fn id(&self) -> &SegmentId {
        &self.id
    }

    /// The header at offset 0.
    pub fn header(&self) -> &Header {
        // SAFETY: the mapping is at least HEADER_SIZE bytes and page aligned; `Header` is
        // repr(C) with only integer/atomic fields, valid for any bit pattern.
        unsafe { &*self.base.as_ptr().cast::<Header>() }
    }

    /// Start of the mapping (the header).
    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Total mapped length, header included (for a growable segment: its maximum; see
    /// [`committed_len`](Self::committed_len) for the part backed now).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a segment has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Start of the data region (offset [`HEADER_SIZE`], 256-byte aligned).
    pub fn data(&self) -> *mut u8 {
        // SAFETY: HEADER_SIZE < len (checked at create and attach).
        unsafe { self.base.as_ptr().add(HEADER_SIZE) }
    }

    /// Length of the data region (for a growable segment: at its maximum).
    pub fn data_len(&self) -> usize {
        self.len - HEADER_SIZE
    }

    /// The offset from this segment's base of a pointer into it, if it points inside.
    pub fn offset_of<T>(&self, p: *const T) -> Option<Offset<T>> {
        let a = p as usize;
        let b = self.base.as_ptr() as usize;
        (a >= b && a < b + self.len).then(|| Offset::new((a - b) as u64))
    }

    /// Resolves an offset to a pointer valid in this process, checking bounds (against the
    /// [`committed_len`](Self::committed_len)) and alignment for `count` elements of `T`.
    /// Never dereferences.
    pub fn resolve<T>(&self, off: Offset<T>, count: usize) -> Result<NonNull<T>, OffsetError> {
        off.resolve_in(self.base, self.committed_len(), count)
    }

    /// Unlinks a named segment now (processes already attached keep it); no-op for memfd.
    /// Call once every peer has attached to leave nothing behind even on SIGKILL.
    pub fn unlink(&mut self) {
        if let Some(p) = self.unlink_on_drop.take() {
            os::unlink_named(&p);
        }
    }

    /// The descriptor of the backing file (memfd ids refer to it by number, so it stays
    /// open as long as the segment).
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    /// Path of the backing file of a named segment.
    pub fn path(&self) -> Option<&Path> {
        self.unlink_on_drop.as_deref()
    }
}

/// Checks the backing file of an attach: owned by this user, mode 0600 (nobody else may
/// read or write it), at least a header long. Returns its length.
fn check_file(fd: &OwnedFd) -> Result<u64, AttachError> {
    // SAFETY: `st` is a properly sized out-parameter for fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is valid; `st` is a valid out pointer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(AttachError::Io("fstat", os::last_err()));
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if st.st_uid != me || st.st_mode & 0o077 != 0 {
        return Err(AttachError::Permission { uid: st.st_uid, mode: st.st_mode & 0o7777 });
    }
    let actual = st.st_size as u64;
    if actual < HEADER_SIZE as u64 {
        return Err(AttachError::Truncated { expected: HEADER_SIZE as u64, actual });
    }
    Ok(actual)
}

/// Checks a mapped header (of a mapping `actual` bytes long) against the id and the
/// expected layout: magic, header version, length, token, layout, then READY. A refusal
/// caused by the id's descriptor now naming another file is `NotFound` (`reuse.rs`).
fn check_header(
    h: &Header,
    actual: u64,
    id: &SegmentId,
    layout: &Layout,
) -> Result<(), AttachError> {
    check_header_fields(h, actual, id, layout).map_err(|e| reuse::explain(id, e, h.magic == [0; 8]))
}

fn check_header_fields(
    h: &Header,
    actual: u64,
    id: &SegmentId,
    layout: &Layout,
) -> Result<(), AttachError> {
    if h.magic != MAGIC {
        return Err(AttachError::Foreign);
    }
    if h.header_version != HEADER_VERSION || h.header_size != HEADER_SIZE as u32 {
        return Err(AttachError::HeaderVersion {
            found: h.header_version,
            expected: HEADER_VERSION,
        });
    }
    // The file lies between what was reserved at creation and the maximum mapping (a
    // growable segment's file grows in between; `grow_to` never passes `total_len`).
    // Both lengths are whole pages (create rounds them; growth stays below `total_len`).
    let page = os::page_size() as u64;
    let whole = |n: u64| n % page == 0 && n <= isize::MAX as u64;
    if actual < h.reserved_len
        || actual > h.total_len
        || h.reserved_len < HEADER_SIZE as u64
        || !whole(h.reserved_len)
        || !whole(h.total_len)
    {
        return Err(AttachError::Truncated { expected: h.reserved_len, actual });
    }
    if h.token != id.token() {
        return Err(AttachError::Token);
    }
    if !h.layout_matches(layout) {
        return Err(AttachError::Layout {
            found: (h.layout_name_lossy(), h.layout_version, h.layout_hash),
            expected: (layout.name.to_owned(), layout.version, layout.hash),
        });
    }
    // Relaxed load + Acquire fence (the fence pairs with the Release store in
    // `create_with`): after this, the data the creator initialised is visible. A Relaxed
    // load rather than an Acquire one because it is also what a read-only mapping
    // permits (see `view.rs`).
    let ready = h.state.load(Ordering::Relaxed) == header::STATE_READY;
    crate::atomic::fence(Ordering::Acquire);
    if !ready {
        return Err(AttachError::NotReady);
    }
    Ok(())
}

/// Why attaching's mapping of `len` bytes failed with `e`: the address-space limit when
/// that is the cause (addr.rs), else the system's error.
fn map_failed(len: u64, e: std::io::Error) -> AttachError {
    match addr::explain(len, &e) {
        Some(a) => AttachError::AddressSpace(a),
        None => AttachError::Io("mmap", e),
    }
}

/// The path through which `id` is opened.
fn id_path(id: &SegmentId) -> PathBuf {
    match id {
        SegmentId::Memfd { pid, fd, .. } => PathBuf::from(format!("/proc/{pid}/fd/{fd}")),
        SegmentId::Named { path, .. } => PathBuf::from(path),
    }
}

fn open_rw(path: &Path) -> Result<OwnedFd, AttachError> {
    open_with(path, libc::O_RDWR)
}

/// Opens `path` with `mode` (`O_RDWR` or `O_RDONLY`), close-on-exec.
fn open_with(path: &Path, mode: libc::c_int) -> Result<OwnedFd, AttachError> {
    let c = os::cpath(path);
    // SAFETY: `c` is a valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), mode | libc::O_CLOEXEC) };
    if fd < 0 {
        let e = os::last_err();
        return Err(match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ESRCH) => AttachError::NotFound(e),
            Some(libc::EACCES) | Some(libc::EPERM) => {
                AttachError::Permission { uid: u32::MAX, mode: 0 }
            }
            _ => AttachError::Io("open", e),
        });
    }
    // SAFETY: freshly returned descriptor, owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    os::above_stdio(fd).map_err(|e| AttachError::Io("fcntl(F_DUPFD_CLOEXEC)", e))
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly the mapping created in create/attach, and no
        // reference derived from it outlives `self` (they borrow `self`).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
        if let Some(p) = self.unlink_on_drop.take() {
            // Only in the creating process: a forked child's copy of the segment dropped
            // (the child returned from the scope holding it) unlinked the file from under
            // its parent. An explicit `unlink` in the child still unlinks.
            let name = p.file_name().and_then(|n| n.to_str());
            if name.and_then(os::creator_of) == Some(crate::process::current_pid()) {
                os::unlink_named(&p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes of memory the segment's file holds now.
    fn allocated(seg: &Segment) -> u64 {
        zeroproc_testkit::fd::allocated(seg.fd())
    }

    #[test]
    fn a_segment_reserved_later_holds_only_the_pages_touched() {
        let seg = SegmentBuilder::new(Layout::new("reserve-later", 1), 1 << 20)
            .reserve_later()
            .create()
            .unwrap();
        let page = os::page_size();
        // The header's page (written by the creation) and nothing else yet.
        assert_eq!(allocated(&seg), page as u64);
        // SAFETY: inside the data region, which nothing else uses.
        unsafe { seg.data().add(3 * page).write(1) };
        assert_eq!(allocated(&seg), 2 * page as u64, "one more page, where it was touched");
        // The default still allocates every page at creation.
        let eager = SegmentBuilder::new(Layout::new("reserve-now", 1), 1 << 20).create().unwrap();
        assert_eq!(allocated(&eager), eager.committed_len() as u64);
    }

    /// A child forked while another thread was reading the available memory (the reading
    /// kept for 100 ms is behind a lock) creates segments: it must not wait for a lock
    /// whose holder does not exist in it (as "A pool built in the child afterwards is the
    /// child's own and works", `zeroproc-sched`'s `fork.rs`).
    #[test]
    fn a_child_forked_during_a_memory_reading_can_read_it() {
        use std::sync::atomic::{AtomicBool, Ordering};
        static STOP: AtomicBool = AtomicBool::new(false);
        // Large requests read afresh every time: the lock is held most of the time.
        let reader = std::thread::spawn(|| {
            while !STOP.load(Ordering::Relaxed) {
                let _ = os::mem_available_for(u64::MAX / 2);
            }
        });
        let mut hung = 0;
        for _ in 0..20 {
            // SAFETY: the child calls only the function under test, then `_exit`.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                // SAFETY: plain calls in the child; `alarm` ends a hung child with SIGALRM.
                unsafe {
                    libc::alarm(5);
                    let _ = os::mem_available_for(1);
                    libc::_exit(0);
                }
            }
            let mut status = 0;
            // SAFETY: our own child; a valid out-pointer.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
                hung += 1;
            }
        }
        STOP.store(true, Ordering::Relaxed);
        reader.join().unwrap();
        assert_eq!(hung, 0, "children stuck on the memory reading's lock (of 20)");
    }

    #[test]
    fn a_named_segment_is_reserved_whatever_the_builder_says() {
        let seg = SegmentBuilder::new(Layout::new("reserve-named", 1), 1 << 20)
            .backing(Backing::Named("/dev/shm".into()))
            .reserve_later()
            .create()
            .unwrap();
        assert_eq!(allocated(&seg), seg.committed_len() as u64);
    }
}
