//! Whole arrays copied to another node (for `zeroproc-cluster`; docs/cluster.md, "What is
//! node-local"): a type-erased snapshot of an array where it lives, a copy made from it on
//! another node, and the **alias table** through which that node's worker processes open
//! the copy when a handle names the original.
//!
//! A job's arguments travel to a node unchanged, so an [`ArrayHandle`](super::ArrayHandle)
//! there still names the original segment (`memfd:PID:FD:TOKEN` of the controller's
//! process). The node agent publishes "original → copy" in an alias table (a memfd segment
//! it creates before it starts any pool; its id is in [`ALIAS_ENV`], which the workers
//! inherit). `cache::attach` looks the id up there first: an aliased id opens the copy,
//! never the original (on one machine the original would be attachable through `/proc`).
//! Without the variable (every process not under a node agent) nothing changes.
//!
//! **Versions.** A copy is of one [`Version`]: the array's `generation` (which array the
//! segment holds) and its `writes` word (bumped before the owner writes in place or a
//! split opens). A snapshot is taken under a reader lease, once the array is readable, and
//! reads the version under that lease: no write can start while it copies, and any write
//! that ended before has bumped `writes` first (SeqCst, before its state store, which the
//! snapshot's state load sees).
//!
//! **The table.** Fixed slots of atomics, written by the agent's one thread with a
//! sequence word per slot (odd while it changes), read by the workers without locks. The
//! table names the process making the change (pid and start time) before each odd
//! sequence: a reader that finds a slot odd for long and that process gone fails the lookup
//! with [`SharedError::AliasWriterDied`] rather than spinning for ever (`alias_in`).
//! Copies are replaced by making the new one, pointing the slot at it, then dropping the
//! old one; a worker that looked up the old one just before retries once its attach fails
//! (`attach_alias`).

use super::header::{claim_word, ArrayHeader, Mode, State, CLOSED, KIND_ARRAY, LAYOUT};
use super::mapping::Mapping;
use super::{cache, readers, SharedError};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{fence, AtomicU64};
use std::sync::{Arc, OnceLock};
use zeroproc_shm::{process, AttachError, Layout, Segment, SegmentBuilder, SegmentId, HEADER_SIZE};

/// The environment variable holding the node's alias table's segment id (set by the node
/// agent, inherited by its workers).
pub const ALIAS_ENV: &str = "ZEROPROC_ARRAY_ALIASES";

/// Slots of an alias table: the most arrays one node holds copies of at once.
pub const ALIAS_SLOTS: usize = 1024;

/// An array's version: differs whenever its elements may differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// Which array the segment holds (`recycle.rs`).
    pub generation: u64,
    /// The in-place writes and splits begun so far.
    pub writes: u64,
}

/// A whole array (not a vector) that can be shipped: its segment token and the bytes a
/// copy takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shippable {
    /// The segment's token.
    pub token: u64,
    /// Bytes of a copy's segment.
    pub bytes: usize,
}

/// Why [`probe`] refused a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotShippable {
    /// The segment never will be (not a memfd segment holding a whole array: a vector, a
    /// queue, a lock, a container…); otherwise it may be later (a split unfinished, the
    /// owner writing, not attachable now).
    pub permanent: bool,
    /// Why, for an error message.
    pub why: String,
}

/// Whether segment `id` (text form) is a shared array that this process can snapshot now: a
/// memfd segment of the array layout holding a [`SharedArray`](super::SharedArray) (not a
/// vector, queue, container…), readable (no split unfinished — a job holding one of its
/// writable chunk handles is never shipped —, the owner not writing).
pub fn probe(id: &str) -> Result<Shippable, NotShippable> {
    let never = |why: String| NotShippable { permanent: true, why };
    let parsed: SegmentId = id.parse().map_err(|e| never(format!("{e:?}")))?;
    if !matches!(parsed, SegmentId::Memfd { .. }) {
        return Err(never("a named segment, not a shared array's memfd".into()));
    }
    let m = match cache::attach(id) {
        Ok(m) => m,
        Err(SharedError::Attach(e @ AttachError::Layout { .. })) => {
            return Err(never(format!("not a shared array: {e}")))
        }
        Err(e) => return Err(NotShippable { permanent: false, why: e.to_string() }),
    };
    if m.geo().kind != KIND_ARRAY {
        return Err(never("a shared vector, not an array".into()));
    }
    m.readable().map_err(|e| NotShippable { permanent: false, why: e.to_string() })?;
    Ok(Shippable { token: parsed.token(), bytes: m.geo().end() })
}

/// The bytes a copy of array `id` takes.
pub fn copy_bytes(id: &str) -> Result<usize, String> {
    Ok(attach_here(id)?.geo().end())
}

fn attach_here(id: &str) -> Result<Arc<Mapping>, String> {
    let m = cache::attach(id).map_err(|e| e.to_string())?;
    if m.geo().kind != KIND_ARRAY {
        return Err("a shared vector, not an array".into());
    }
    Ok(m)
}

/// The current version of array `id` (cheap: the mapping is cached).
pub fn version(id: &str) -> Result<Version, String> {
    let m = attach_here(id)?;
    let h = m.header();
    // SeqCst: the writes bump comes before the owner's state store (split.rs); a stale
    // value here only causes a snapshot, which reads both again under a lease.
    Ok(Version { generation: h.generation.load(SeqCst), writes: h.writes.load(SeqCst) })
}

/// `b"ZPSHIP01"`: a snapshot's first word.
const SHIP_MAGIC: u64 = u64::from_le_bytes(*b"ZPSHIP01");
/// Words before the claims: magic, kind, elem size, elem align, type hash, capacity,
/// max chunks, state epoch, chunk_len, generation, writes.
const SHIP_WORDS: usize = 11;

/// A snapshot of an array ([`snapshot`]): its header words and claim table (`head`, small)
/// and its elements (`data`), which travel separately (the elements once for every node,
/// received straight into the copy).
#[derive(Debug)]
pub struct Snapshot {
    /// The version it holds.
    pub version: Version,
    /// Header words and claim table ([`NodeCopy::create`] reads them).
    pub head: Vec<u8>,
    /// The elements' bytes.
    pub data: Vec<u8>,
}

/// A snapshot of array `id`, taken under a reader lease. Refused (with the reason) while
/// the array is not readable: a split unfinished, the owner writing, dropped.
pub fn snapshot(id: &str) -> Result<Snapshot, String> {
    let m = attach_here(id)?;
    let h = m.header();
    let slot = readers::acquire(h).map_err(|e| e.to_string())?;
    let r = (|| {
        m.readable().map_err(|e| e.to_string())?;
        let state = m.state();
        // SeqCst: after the lease and the state load (module docs): every write that
        // ended before the state we loaded bumped this first; none starts while we hold
        // the lease.
        let v = Version { generation: h.generation.load(SeqCst), writes: h.writes.load(SeqCst) };
        // Acquire: pairs with the owner's Release store (`mark_dropped`).
        if h.dropped.load(Acquire) != 0 {
            return Err(SharedError::Dropped.to_string());
        }
        let g = m.geo();
        let words: [u64; SHIP_WORDS] = [
            SHIP_MAGIC,
            u64::from(g.kind),
            g.elem_size as u64,
            g.elem_align as u64,
            g.type_hash,
            g.capacity as u64,
            g.max_chunks as u64,
            u64::from(state.epoch),
            // Relaxed: published with the split (claim words' Release), fixed while readable.
            h.chunk_len.load(Relaxed),
            v.generation,
            v.writes,
        ];
        let mut head = Vec::with_capacity(SHIP_WORDS * 8 + g.max_chunks * 8);
        words.iter().for_each(|w| head.extend_from_slice(&w.to_le_bytes()));
        for i in 0..g.max_chunks {
            // Acquire: pairs with the Release stores of the claim words (terminal while
            // the array is readable and our lease holds off new splits).
            let w = m.claim(i).map_or(claim_word(0, CLOSED), |c| c.load(Acquire));
            head.extend_from_slice(&w.to_le_bytes());
        }
        // SAFETY: `capacity * elem_size` bytes at `data` lie inside the mapping (validated
        // geometry); our lease keeps every writer out while we copy (readers.rs), as for a
        // `ReadGuard`.
        let data = unsafe { std::slice::from_raw_parts(m.data::<u8>(), g.capacity * g.elem_size) };
        Ok(Snapshot { version: v, head, data: data.to_vec() })
    })();
    readers::release(h, slot);
    r
}

/// A copy of an array made from a snapshot, on another node: a segment of this process
/// with the same header words (generation, writes, element type, length), Idle, no reader.
/// Dropping it marks it dropped (workers unmap their mappings of it) and closes it.
#[derive(Debug)]
pub struct NodeCopy {
    map: Arc<Mapping>,
    version: Version,
}

impl NodeCopy {
    /// Makes the copy's segment from a snapshot's `head` (checking the shape); its
    /// elements are zero until written through [`data_mut`](Self::data_mut).
    pub fn create(b: &[u8]) -> Result<NodeCopy, String> {
        let word = |i: usize| {
            b.get(i * 8..i * 8 + 8).map(|w| u64::from_le_bytes(w.try_into().expect("8")))
        };
        let w: Vec<u64> = (0..SHIP_WORDS).map_while(word).collect();
        if w.len() != SHIP_WORDS || w[0] != SHIP_MAGIC || w[1] != u64::from(KIND_ARRAY) {
            return Err("not an array snapshot".into());
        }
        let size = |v: u64| usize::try_from(v).map_err(|_| "snapshot: size".to_string());
        let (elem_size, elem_align) = (size(w[2])?, size(w[3])?);
        let (capacity, max_chunks) = (size(w[5])?, size(w[6])?);
        if elem_size == 0 || !elem_align.is_power_of_two() || elem_align > 4096 {
            return Err("snapshot: element layout".into());
        }
        let claims_at = SHIP_WORDS * 8;
        if max_chunks.checked_mul(8).and_then(|c| c.checked_add(claims_at)) != Some(b.len()) {
            return Err(format!("snapshot head: {} bytes for {max_chunks} chunks", b.len()));
        }
        let bytes = capacity.checked_mul(elem_size).ok_or("snapshot: size")?;
        // The same placement as `Geometry::plan` (one build everywhere).
        let claims_off = HEADER_SIZE + size_of::<ArrayHeader>();
        let data_off = (max_chunks * 8 + claims_off)
            .checked_next_multiple_of(elem_align.max(64))
            .ok_or("snapshot: size")?;
        let end = data_off.checked_add(bytes).ok_or("snapshot: size")?;
        let version = Version { generation: w[9], writes: w[10] };
        let epoch = u32::try_from(w[7]).map_err(|_| "snapshot: epoch".to_string())?;
        let seg = SegmentBuilder::new(LAYOUT, end - HEADER_SIZE)
            .populate(false)
            .create_with(|seg| {
                let h = ArrayHeader::new(
                    KIND_ARRAY, elem_size, elem_align, w[4], capacity, max_chunks, claims_off,
                    data_off,
                );
                // Relaxed (these four): a local value, written into the segment below and
                // published with it (`create_with`'s READY Release store, which `attach`
                // Acquires).
                h.state.store(State { epoch, mode: Mode::Idle, chunks: 0 }.pack(), Relaxed);
                h.chunk_len.store(w[8], Relaxed);
                h.generation.store(version.generation, Relaxed);
                h.writes.store(version.writes, Relaxed);
                // SAFETY: the segment is fresh (nobody attaches before `create_with`
                // returns, which publishes it) and holds `end` bytes: the header at
                // HEADER_SIZE (256-aligned), then `max_chunks` claim words.
                unsafe {
                    seg.data().cast::<ArrayHeader>().write(h);
                    let claims = seg.base().add(claims_off).cast::<AtomicU64>();
                    for i in 0..max_chunks {
                        let c = &b[claims_at + i * 8..claims_at + i * 8 + 8];
                        let v = u64::from_le_bytes(c.try_into().expect("8"));
                        claims.add(i).write(AtomicU64::new(v));
                    }
                }
            })
            .map_err(|e| format!("creating the copy: {e}"))?;
        let map = Mapping::from_segment(seg).map_err(|e| e.to_string())?;
        Ok(NodeCopy { map: Arc::new(map), version })
    }

    /// The copy's elements, to be written before its id is published (in the alias
    /// table): nobody else maps it yet.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let bytes = self.map.geo().capacity * self.map.geo().elem_size;
        // SAFETY: `bytes` bytes at `data` lie inside the mapping (validated); `&mut self`
        // and an id nobody has yet (the caller publishes it only after writing) make this
        // the only access.
        unsafe { std::slice::from_raw_parts_mut(self.map.data::<u8>(), bytes) }
    }

    /// The copy's segment id (what the alias table points to).
    pub fn id(&self) -> &SegmentId {
        self.map.id()
    }

    /// The version it is a copy of.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Bytes of its segment.
    pub fn bytes(&self) -> usize {
        self.map.geo().end()
    }
}

impl Drop for NodeCopy {
    fn drop(&mut self) {
        self.map.mark_dropped();
    }
}

/// One slot: `seq` (odd while the agent changes it), the original (pid << 32 | fd, token)
/// and the copy (pid << 32 | fd, token). A token of 0: free (original) / none (copy).
#[repr(C)]
struct Slot {
    seq: AtomicU64,
    words: [AtomicU64; 4],
}

#[repr(C, align(64))]
struct TableHeader {
    /// Slots ever used (a prefix of `slots`).
    used: AtomicU64,
    /// The process that last began changing a slot: `pid << 32 | start` (the low 32 bits of
    /// its start time, `process::start_time`), stored before the slot's odd sequence. A
    /// reader that finds a sequence odd for long asks whether it still runs.
    writer: AtomicU64,
    slots: [Slot; ALIAS_SLOTS],
}

/// Version 2: the `writer` word.
const ALIAS_LAYOUT: Layout = Layout::new("zeroproc-array-aliases", 2).with_type::<TableHeader>();

/// Spins a reader makes on an odd sequence before it first asks whether the writer runs.
const WRITER_SPINS: u32 = 1 << 10;

fn memfd_words(id: &SegmentId) -> Option<(u64, u64)> {
    match *id {
        SegmentId::Memfd { pid, fd, token } => {
            Some((u64::from(pid) << 32 | fd as u32 as u64, token))
        }
        SegmentId::Named { .. } => None,
    }
}

fn memfd_id(place: u64, token: u64) -> SegmentId {
    SegmentId::Memfd { pid: (place >> 32) as u32, fd: place as u32 as i32, token }
}

fn table_of(seg: &Segment) -> &TableHeader {
    // SAFETY: the segment was created (or attached, layout checked) with a data region
    // of at least `size_of::<TableHeader>()` bytes, 256-aligned, mapped while `seg`
    // lives; every field is an atomic, valid for any bits (memfd pages start zeroed).
    unsafe { &*seg.data().cast::<TableHeader>() }
}

/// A node's alias table, owned by its agent (the only writer).
#[derive(Debug)]
pub struct AliasTable {
    seg: Segment,
}

impl AliasTable {
    /// A new, empty table (a memfd segment: nothing is left behind).
    pub fn create() -> Result<AliasTable, String> {
        let seg = SegmentBuilder::new(ALIAS_LAYOUT, size_of::<TableHeader>())
            .create()
            .map_err(|e| format!("alias table: {e}"))?;
        Ok(AliasTable { seg })
    }

    /// Its segment id (the value of [`ALIAS_ENV`] for the workers).
    pub fn id(&self) -> &SegmentId {
        self.seg.id()
    }

    /// Points `original` at `copy` (`None`: removes it). False if the table is full or
    /// `original` is not a memfd id.
    pub fn set(&mut self, original: &SegmentId, copy: Option<&SegmentId>) -> bool {
        let Some((place, token)) = memfd_words(original) else { return false };
        let (cplace, ctoken) = copy.and_then(memfd_words).unwrap_or((0, 0));
        let t = table_of(&self.seg);
        // Relaxed: only this thread writes `used`.
        let used = t.used.load(Relaxed) as usize;
        let mut free = None;
        let mut at = None;
        for (i, s) in t.slots[..used].iter().enumerate() {
            // Relaxed: our own stores.
            let f = s.words[1].load(Relaxed);
            if f == token && s.words[0].load(Relaxed) == place {
                at = Some(i);
                break;
            }
            if f == 0 && free.is_none() {
                free = Some(i);
            }
        }
        if copy.is_none() {
            match at {
                Some(i) => write_slot(t, i, [0, 0, 0, 0]),
                None => return true,
            }
            return true;
        }
        let i = match at.or(free) {
            Some(i) => i,
            None if used < ALIAS_SLOTS => used,
            None => return false,
        };
        write_slot(t, i, [place, token, cplace, ctoken]);
        if i == used {
            // Release: the slot's words before the count that makes readers look at it.
            t.used.store(used as u64 + 1, Release);
        }
        true
    }
}

/// This process as the table's `writer` word: `pid << 32 | low 32 bits of its start time`.
fn writer_word() -> u64 {
    u64::from(process::current_pid()) << 32 | process::current_start_time() as u32 as u64
}

/// Opens the seqlock write of slot `i` (odd sequence); returns the sequence before it.
fn begin_write(t: &TableHeader, i: usize) -> u64 {
    let s = &t.slots[i];
    // Relaxed: published by the Release store of the odd sequence below (a reader that sees
    // the odd sequence sees who made it).
    t.writer.store(writer_word(), Relaxed);
    let seq = s.seq.load(Relaxed);
    // Release: pairs with the reader's Acquire load of `seq` (the `writer` word above).
    s.seq.store(seq + 1, Release);
    // Release fence: the odd sequence is ordered before the words (a reader that sees any
    // new word then sees the odd or a later sequence on its re-read).
    fence(Release);
    seq
}

/// The seqlock write of slot `i` (the agent's thread only).
fn write_slot(t: &TableHeader, i: usize, words: [u64; 4]) {
    let s = &t.slots[i];
    let seq = begin_write(t, i);
    for (w, v) in s.words.iter().zip(words) {
        // Relaxed: published by the Release store of the even sequence below.
        w.store(v, Relaxed);
    }
    // Release: pairs with the reader's Acquire load of `seq`.
    s.seq.store(seq + 2, Release);
}

/// This process's view of its node's alias table: `None` unless [`ALIAS_ENV`] names one
/// (a worker of a node agent).
fn table() -> Option<&'static Segment> {
    static TABLE: OnceLock<Option<Segment>> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            let id: SegmentId = std::env::var(ALIAS_ENV).ok()?.parse().ok()?;
            Segment::attach(&id, ALIAS_LAYOUT).ok()
        })
        .as_ref()
}

/// What the alias table says about `id`: `Ok(None)` if nothing (open `id` itself),
/// `Ok(Some(copy))` if the node holds a copy of it; `Err(AliasWriterDied)` if the node's
/// agent died in the middle of changing a slot the lookup must read.
pub(crate) fn alias(id: &SegmentId) -> Result<Option<SegmentId>, SharedError> {
    match table() {
        Some(seg) => alias_in(seg, id),
        None => Ok(None),
    }
}

/// [`alias`] in the table `seg`.
///
/// A slot's sequence is odd only while its writer changes it (five stores). A reader that
/// finds it odd spins [`WRITER_SPINS`] times, then, between sleeps of a millisecond, asks
/// whether the process in the `writer` word still runs (pid and start time, so a reused
/// pid does not pass for it). The agent is the table's only writer, so once it is gone the
/// slot stays odd for good: the lookup fails with the cause instead of spinning for ever.
fn alias_in(seg: &Segment, id: &SegmentId) -> Result<Option<SegmentId>, SharedError> {
    let Some((place, token)) = memfd_words(id) else { return Ok(None) };
    let t = table_of(seg);
    // Acquire: pairs with the Release store of `used` (the slots below it are written).
    let used = (t.used.load(Acquire) as usize).min(ALIAS_SLOTS);
    for s in &t.slots[..used] {
        let mut spins = 0u32;
        let w = loop {
            // Acquire: pairs with the writer's Release stores of the odd sequence (so the
            // `writer` word is its own) and of the even one (so the words are complete).
            let s1 = s.seq.load(Acquire);
            if s1 & 1 == 1 {
                if spins < WRITER_SPINS {
                    spins += 1;
                    std::hint::spin_loop();
                    continue;
                }
                // Relaxed: ordered by the Acquire load of the odd sequence above.
                let w = t.writer.load(Relaxed);
                let pid = (w >> 32) as u32;
                if !process::is_running(pid, w as u32 as u64, true) {
                    // Re-read: the sequence may have moved on just before the writer
                    // exited (then the slot is whole: look again).
                    if s.seq.load(Acquire) == s1 {
                        return Err(SharedError::AliasWriterDied { pid });
                    }
                    continue;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
                continue;
            }
            // Relaxed: validated by the sequence re-read below.
            let w: [u64; 4] = std::array::from_fn(|i| s.words[i].load(Relaxed));
            // Acquire fence: the word loads above happen before the re-read of `seq`.
            fence(Acquire);
            // Relaxed: ordered by the fence above.
            if s.seq.load(Relaxed) == s1 {
                break w;
            }
        };
        if w[1] == token && w[0] == place && w[3] != 0 {
            return Ok(Some(memfd_id(w[2], w[3])));
        }
    }
    Ok(None)
}

/// Attaches the copy `local` that the table gave for `id`, with `attach`; if that fails
/// because the agent replaced the copy meanwhile, looks again.
pub(crate) fn attach_alias<M>(
    id: &SegmentId,
    mut local: SegmentId,
    attach: impl Fn(&SegmentId) -> Result<M, SharedError>,
) -> Result<M, SharedError> {
    loop {
        match attach(&local) {
            Ok(m) => return Ok(m),
            Err(e) => match alias(id)? {
                Some(now) if now != local => local = now,
                _ => return Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::SharedArray;

    #[test]
    fn a_snapshot_makes_an_equal_copy_and_versions_change_with_writes() {
        let mut a = SharedArray::from_slice(&[1.5f64, 2.5, 3.0]).unwrap();
        let id = a.segment_id().to_string();
        assert_eq!(probe(&id).unwrap().token, a.segment_id().token());
        assert_eq!(probe(&id).unwrap().bytes, copy_bytes(&id).unwrap());
        let v0 = version(&id).unwrap();
        let snap = snapshot(&id).unwrap();
        assert_eq!(snap.version, v0);
        let mut copy = NodeCopy::create(&snap.head).unwrap();
        copy.data_mut().copy_from_slice(&snap.data);
        assert_eq!(copy.version(), v0);
        let m = cache::attach(&copy.id().to_string()).unwrap();
        m.check::<f64>(KIND_ARRAY, 3).unwrap();
        // SAFETY: three f64 at `data` (checked just above); nobody writes the copy.
        let s = unsafe { std::slice::from_raw_parts(m.data::<f64>(), 3) };
        assert_eq!(s, &[1.5, 2.5, 3.0]);
        a.write().unwrap()[0] = 9.0;
        assert_ne!(version(&id).unwrap(), v0, "an owner write changes the version");
        let v1 = version(&id).unwrap();
        let open = a.chunks_mut(3).unwrap();
        assert_ne!(version(&id).unwrap(), v1, "a split changes the version");
        // An open split: not readable, no snapshot.
        let e = snapshot(&id).unwrap_err();
        assert!(e.contains("not finished"), "{e}");
        let e = probe(&id).unwrap_err();
        assert!(!e.permanent && e.why.contains("not finished"), "{e:?}");
        drop(open);
        a.abandon_chunks().unwrap();
        snapshot(&id).unwrap();
        assert!(NodeCopy::create(&snap.head[..snap.head.len() - 1]).is_err());
    }

    #[test]
    fn other_objects_are_never_shippable() {
        let v = crate::shared::SharedVec::<u8>::with_capacity(4).unwrap();
        let dbg = format!("{:?}", v.handle()); // VecHandle { segment: "memfd:…", .. }
        let id = dbg.split('"').nth(1).unwrap();
        let e = probe(id).unwrap_err();
        assert!(e.permanent && e.why.contains("vector"), "{e:?}");
        let q = crate::Queue::<u64>::new(4).unwrap();
        let e = probe(q.handle().segment_id()).unwrap_err();
        assert!(e.permanent && e.why.contains("not a shared array"), "{e:?}");
    }

    #[test]
    fn the_alias_table_maps_and_forgets() {
        let mut t = AliasTable::create().unwrap();
        let a: SegmentId = "memfd:1:2:00000000000000aa".parse().unwrap();
        let b: SegmentId = "memfd:3:4:00000000000000bb".parse().unwrap();
        assert!(t.set(&a, Some(&b)));
        // This process reads the table it would inherit through ALIAS_ENV.
        let seg = Segment::attach(t.id(), ALIAS_LAYOUT).unwrap();
        let tb = table_of(&seg);
        assert_eq!(tb.used.load(Acquire), 1);
        assert_eq!(tb.slots[0].words[3].load(Acquire), 0xbb);
        assert!(t.set(&a, None));
        assert_eq!(tb.slots[0].words[1].load(Acquire), 0);
        assert!(t.set(&b, Some(&a)));
        assert_eq!(tb.used.load(Acquire), 1, "a freed slot is reused");
    }

    #[test]
    fn a_lookup_fails_naming_the_agent_killed_mid_write_instead_of_spinning() {
        let mut t = AliasTable::create().unwrap();
        let a: SegmentId = "memfd:1:2:00000000000000aa".parse().unwrap();
        let b: SegmentId = "memfd:3:4:00000000000000bb".parse().unwrap();
        let c: SegmentId = "memfd:5:6:00000000000000cc".parse().unwrap();
        assert!(t.set(&a, Some(&b)));
        assert!(t.set(&c, Some(&b)));
        // A worker's view of the table (what `table()` attaches through ALIAS_ENV).
        let seg = Segment::attach(t.id(), ALIAS_LAYOUT).unwrap();
        assert_eq!(alias_in(&seg, &c).unwrap(), Some(b.clone()));
        // The writer (a forked process, as the agent is one) opens its write of slot 0 and
        // is SIGKILLed before it ends it.
        let st = zeroproc_testkit::fork_run(|| {
            begin_write(table_of(&t.seg), 0);
            // SAFETY: kills this forked child only.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        });
        assert!(libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGKILL, "{st}");
        let writer = (table_of(&seg).writer.load(Acquire) >> 32) as u32;
        assert_ne!(writer, process::current_pid());
        // Looking up `c` reads slot 0 first: it must fail, naming the dead writer, not spin.
        let r = zeroproc_testkit::within(std::time::Duration::from_secs(20), move || {
            alias_in(&seg, &c)
        });
        match r {
            Err(e @ SharedError::AliasWriterDied { pid }) => {
                assert_eq!(pid, writer);
                assert!(e.to_string().contains(&format!("agent (process {pid}) was killed")));
            }
            r => panic!("expected AliasWriterDied, got {r:?}"),
        }
        // A live writer in the middle of its write is waited for, not failed.
        let t2 = AliasTable::create().unwrap();
        let seq = begin_write(table_of(&t2.seg), 0);
        let w = [&a, &b].map(|x| memfd_words(x).unwrap());
        for (k, v) in [w[0].0, w[0].1, w[1].0, w[1].1].into_iter().enumerate() {
            table_of(&t2.seg).slots[0].words[k].store(v, Relaxed);
        }
        table_of(&t2.seg).used.store(1, Release);
        let seg = Segment::attach(t2.id(), ALIAS_LAYOUT).unwrap();
        let reader = std::thread::spawn(move || alias_in(&seg, &a));
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!reader.is_finished(), "the reader waits for the live writer");
        table_of(&t2.seg).slots[0].seq.store(seq + 2, Release);
        assert_eq!(reader.join().unwrap().unwrap(), Some(b));
    }
}
