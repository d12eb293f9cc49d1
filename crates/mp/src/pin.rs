//! Keeping a channel alive for a job or process that was given its handle.
//!
//! A memfd segment is reached through its creator (`/proc/<pid>/fd/<n>`), so a queue or
//! pipe dropped by its creator before the child attached it was gone: the child's
//! `attach()` failed, and values sent meanwhile were lost. Python keeps the pipe of a
//! queue or connection pickled into a `Process` argument open for the child, so
//! `p.start(); child_conn.close()` or a writer that sends and closes at once work there.
//!
//! Now a handle made by [`handle()`](crate::Queue::handle) in a process that holds the
//! channel carries (not archived) a reference to its mapping; archiving that handle inside
//! [`capture`] (the scheduler wraps the archiving of `Process` and job arguments in it)
//! hands the reference to whoever called `capture`, which keeps it until the child or the
//! job is done. A handle decoded from an archive carries nothing.
//!
//! Cost when no such handle is alive in the process: one relaxed load per capture
//! (`LIVE`).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Something kept alive (a channel's mapping).
pub type Kept = Arc<dyn Any + Send + Sync>;

/// Handles carrying a [`Keep`] alive in this process.
static LIVE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// True while this thread archives arguments inside [`capture`].
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    /// What the handles archived so far inside [`capture`] keep.
    static KEPT: RefCell<Vec<Kept>> = const { RefCell::new(Vec::new()) };
}

/// A handle's reference to its channel (none in a decoded handle).
pub(crate) struct Keep(Option<Kept>);

impl Keep {
    /// Keeps `what` (the channel's mapping) for a job or process given the handle.
    pub(crate) fn new(what: Kept) -> Keep {
        // Relaxed: a counter; a thread that archives the handle got it through some
        // synchronisation after this increment, so it sees a count of at least one.
        LIVE.fetch_add(1, Ordering::Relaxed);
        Keep(Some(what))
    }
}

impl Clone for Keep {
    fn clone(&self) -> Self {
        match &self.0 {
            Some(k) => Keep::new(k.clone()),
            None => Keep(None),
        }
    }
}

impl Drop for Keep {
    fn drop(&mut self) {
        if self.0.is_some() {
            // Relaxed: as in `new`.
            LIVE.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Handles compare by what they name, not by what they keep.
impl PartialEq for Keep {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Keep(..)" } else { "Keep(None)" })
    }
}

/// Runs `archive` (which archives job or process arguments) and returns what it returned
/// with what the handles it archived keep alive: hold that until the job or process no
/// longer needs to attach them.
///
/// ```
/// use zeroproc_mp::{queue::QueueHandle, Queue};
/// let q = Queue::<u32>::new(4).unwrap();
/// let h = q.handle(); // e.g. in a `Process`'s arguments
/// let (bytes, kept) =
///     zeroproc_mp::pin::capture(|| rkyv::to_bytes::<rkyv::rancor::Error>(&h).unwrap());
/// assert_eq!(kept.len(), 1);
/// q.put(7).unwrap();
/// drop((q, h)); // the creator's queue is gone, but `kept` keeps the channel for the receiver
/// let h = rkyv::from_bytes::<QueueHandle<u32>, rkyv::rancor::Error>(&bytes).unwrap();
/// assert_eq!(h.attach().unwrap().get().unwrap(), 7);
/// drop(kept);
/// assert!(h.attach().is_err());
/// ```
#[inline]
pub fn capture<T>(archive: impl FnOnce() -> T) -> (T, Vec<Kept>) {
    // Relaxed: see `Keep::new`.
    if LIVE.load(Ordering::Relaxed) == 0 {
        return (archive(), Vec::new());
    }
    KEPT.with(|k| k.borrow_mut().clear());
    ACTIVE.with(|a| a.set(true));
    let guard = Active;
    let r = archive();
    drop(guard);
    let kept = KEPT.with(|k| std::mem::take(&mut *k.borrow_mut()));
    (r, kept)
}

/// Tells what `kept` holds that the process `pid` was started with those handles in its
/// arguments: the pipe ends among them are reserved for it (`spsc::Ring::reserve_producer`),
/// so that the other end sees the end gone if `pid` dies before attaching it (Python: the
/// child's copy of the connection closes with the child; the parent's `recv` raises
/// `EOFError`). Call it once the child is started; ends already attached are left alone.
///
/// ```
/// use zeroproc_mp::pipe::RecvTimeoutError;
/// let (tx, mut rx) = zeroproc_mp::pipe_oneway::<u32>().unwrap();
/// let h = tx.handle(); // in a child's arguments
/// let (_bytes, kept) =
///     zeroproc_mp::pin::capture(|| rkyv::to_bytes::<rkyv::rancor::Error>(&h).unwrap());
/// drop((tx, h));
/// let dead = u32::MAX >> 2; // a child that died before attaching (no such pid)
/// zeroproc_mp::pin::hand_over(&kept, dead);
/// let t = std::time::Duration::from_secs(5);
/// assert_eq!(rx.recv_timeout(t), Err(RecvTimeoutError::Disconnected));
/// ```
pub fn hand_over(kept: &[Kept], pid: u32) {
    for k in kept {
        if let Some(end) = k.downcast_ref::<crate::pipe::EndPin>() {
            end.reserve_for(pid);
        }
    }
}

/// Whether a [`capture`] could find anything to keep (a handle carrying a reference is
/// alive in this process).
#[inline]
pub fn any_live() -> bool {
    // Relaxed: see `Keep::new`.
    LIVE.load(Ordering::Relaxed) != 0
}

/// Ends a capture, also on unwinding (a panicking `Serialize` must not leave it on).
struct Active;

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(false));
    }
}

/// rkyv field adapter of a [`Keep`]: archived as nothing (like `Skip`), but archiving it
/// inside [`capture`] keeps its channel; a deserialized handle keeps nothing.
pub(crate) struct PinKeep;

impl rkyv::with::ArchiveWith<Keep> for PinKeep {
    type Archived = ();
    type Resolver = ();

    fn resolve_with(_: &Keep, _: (), _: rkyv::Place<()>) {}
}

impl<S: rkyv::rancor::Fallible + ?Sized> rkyv::with::SerializeWith<Keep, S> for PinKeep {
    fn serialize_with(field: &Keep, _: &mut S) -> Result<(), S::Error> {
        if let Some(k) = &field.0 {
            if ACTIVE.with(Cell::get) {
                KEPT.with(|kept| {
                    let mut kept = kept.borrow_mut();
                    // Once per channel (the send path may archive a value twice).
                    if !kept.iter().any(|o| Arc::ptr_eq(o, k)) {
                        kept.push(k.clone());
                    }
                });
            }
        }
        Ok(())
    }
}

impl<D: rkyv::rancor::Fallible + ?Sized> rkyv::with::DeserializeWith<(), Keep, D> for PinKeep {
    fn deserialize_with(_: &(), _: &mut D) -> Result<Keep, D::Error> {
        Ok(Keep(None))
    }
}
