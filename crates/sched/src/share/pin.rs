//! Keeping a [`SharedValue`](super::SharedValue) alive while a job or process that was given
//! it may still map it.
//!
//! The value lives while its creator holds a handle; a handle moved into a job's arguments
//! (`pool.submit(f, (pool.share(&t)?, i))`, the natural one-shot form) used to be dropped
//! when `submit` returned — usually before the worker mapped it, so the job failed with
//! "not reachable" most of the time and not always. Now archiving a creator's handle
//! inside [`capture`] also clones its owner into a list that the job (its entry in the
//! pool's job table), the `Process`, or the pool (initializer arguments) keeps until it no
//! longer needs the value.
//!
//! The same capture also collects the channels, containers and cells whose handles are
//! archived (`zeroproc_mp::pin`), kept in the same list ([`Pins::Channels`]).
//!
//! Cost when no value is shared and no such handle is alive: two relaxed loads per
//! submission ([`LIVE`], `zeroproc_mp::pin::any_live`).

use super::Owner;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Creators' handles alive in this process (counted per value, not per clone).
static LIVE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// True while this thread archives arguments inside [`capture`].
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    /// The owners archived so far inside [`capture`].
    static PINNED: RefCell<Vec<Arc<Owner>>> = const { RefCell::new(Vec::new()) };
}

/// A value came to life in this process.
pub(super) fn born() {
    // Relaxed: a counter. A thread that archives a handle got that handle through some
    // synchronisation after this increment, so it sees a count of at least one.
    LIVE.fetch_add(1, Ordering::Relaxed);
}

/// A value was released.
pub(super) fn died() {
    // Relaxed: as in `born`.
    LIVE.fetch_sub(1, Ordering::Relaxed);
}

/// Called when a creator's handle is archived: pinned if inside [`capture`] (once: the
/// send path may archive a value twice, measuring first).
pub(super) fn archived(owner: &Arc<Owner>) {
    if ACTIVE.with(Cell::get) {
        PINNED.with(|p| {
            let mut p = p.borrow_mut();
            if !p.iter().any(|o| Arc::ptr_eq(o, owner)) {
                p.push(owner.clone());
            }
        });
    }
}

/// The shared values an archived argument refers to, kept alive while this lives.
#[derive(Default)]
pub(crate) enum Pins {
    /// Nothing pinned.
    #[default]
    None,
    /// One value (the usual case: no allocation).
    One(#[allow(dead_code)] Arc<Owner>),
    /// Several.
    Many(#[allow(dead_code)] Box<[Arc<Owner>]>),
    /// Channels (queues, pipes) whose handles were archived, and any shared values
    /// (`zeroproc_mp::pin`: kept until the job or process is done, so that it can attach
    /// them even if their creator dropped them meanwhile).
    Channels(
        #[allow(dead_code)] Box<[Arc<Owner>]>,
        #[allow(dead_code)] Vec<zeroproc_mp::pin::Kept>,
    ),
}

impl Pins {
    /// Nothing pinned.
    pub(crate) const NONE: Pins = Pins::None;

    /// Tells the channels kept here that process `pid` was started with them in its
    /// arguments (`zeroproc_mp::pin::hand_over`: pipe ends are reserved for it, so their
    /// other ends see it die if it never attaches them).
    pub(crate) fn hand_over(&self, pid: u32) {
        if let Pins::Channels(_, kept) = self {
            zeroproc_mp::pin::hand_over(kept, pid);
        }
    }
}

/// Ends a capture, also on unwinding (a panicking `Serialize` must not leave it on).
struct Active;

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(false));
    }
}

/// Runs `archive` (which archives job or process arguments) and returns what it returned
/// with the creators' handles it archived.
#[inline]
pub(crate) fn capture<T>(archive: impl FnOnce() -> T) -> (T, Pins) {
    // Relaxed: see `born`.
    if LIVE.load(Ordering::Relaxed) == 0 {
        if !zeroproc_mp::pin::any_live() {
            return (archive(), Pins::NONE);
        }
        // Only channel handles to look for.
        let (r, kept) = zeroproc_mp::pin::capture(archive);
        let pins = if kept.is_empty() { Pins::None } else { Pins::Channels(Box::new([]), kept) };
        return (r, pins);
    }
    PINNED.with(|p| p.borrow_mut().clear());
    ACTIVE.with(|a| a.set(true));
    let guard = Active;
    let (r, kept) = zeroproc_mp::pin::capture(archive);
    drop(guard);
    // Taken out of the thread's list, which keeps its capacity for the next capture.
    let pins = PINNED.with(|p| {
        let mut p = p.borrow_mut();
        if !kept.is_empty() {
            return Pins::Channels(p.drain(..).collect(), kept);
        }
        match p.len() {
            0 => Pins::None,
            1 => Pins::One(p.pop().expect("one")),
            _ => Pins::Many(p.drain(..).collect()),
        }
    });
    (r, pins)
}

/// rkyv field adapter of the owner: archived as nothing (like `Skip`), but archiving it
/// inside [`capture`] pins the value; a deserialized handle owns nothing.
pub(super) struct PinOwner;

impl rkyv::with::ArchiveWith<Option<Arc<Owner>>> for PinOwner {
    type Archived = ();
    type Resolver = ();

    fn resolve_with(_: &Option<Arc<Owner>>, _: (), _: rkyv::Place<()>) {}
}

impl<S: rkyv::rancor::Fallible + ?Sized> rkyv::with::SerializeWith<Option<Arc<Owner>>, S>
    for PinOwner
{
    fn serialize_with(field: &Option<Arc<Owner>>, _: &mut S) -> Result<(), S::Error> {
        if let Some(owner) = field {
            archived(owner);
        }
        Ok(())
    }
}

impl<D: rkyv::rancor::Fallible + ?Sized> rkyv::with::DeserializeWith<(), Option<Arc<Owner>>, D>
    for PinOwner
{
    fn deserialize_with(_: &(), _: &mut D) -> Result<Option<Arc<Owner>>, D::Error> {
        Ok(None)
    }
}
