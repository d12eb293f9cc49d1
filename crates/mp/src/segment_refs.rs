//! Which shared-memory segments an archived value refers to, learnt while it is archived.
//!
//! Every handle that names a segment (arrays, vectors, cells, queues, pipes, containers,
//! and `zeroproc_sched`'s `SharedValue`) archives the segment's id text through the field
//! adapter [`SegmentRef`]. Its archive is exactly a `String`'s (the handles' archived
//! layout is unchanged), but archiving it inside [`collect`] also records the id. So a layer
//! that forwards archives elsewhere (zeroproc-cluster, which sends job records to other
//! nodes, where such ids name nothing) learns the ids the value really holds when it
//! encodes it — instead of scanning the encoded bytes for id-shaped text, which took a
//! user's `String` or bytes spelling an id for a handle.
//!
//! Cost outside [`collect`]: one thread-local read per handle archived.

use rkyv::rancor::{Fallible, Source};
use rkyv::string::{ArchivedString, StringResolver};
use rkyv::{Place, SerializeUnsized};
use std::cell::RefCell;

thread_local! {
    /// The ids archived so far inside [`collect`] on this thread (`None`: not collecting).
    static IDS: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Restores the enclosing collection (none, usually), also on unwinding.
struct Restore(Option<Vec<String>>);

impl Drop for Restore {
    fn drop(&mut self) {
        let outer = self.0.take();
        IDS.with(|ids| *ids.borrow_mut() = outer);
    }
}

/// Runs `archive` (which archives some value) and returns what it returned with the
/// distinct segment ids (text) of the handles it archived, in the order first archived.
///
/// ```
/// use zeroproc_mp::SharedArray;
/// let a = SharedArray::from_slice(&[1u32, 2, 3]).unwrap();
/// let user_text = a.segment_id().to_string(); // data that merely spells an id
/// let (bytes, ids) = zeroproc_mp::segment_refs::collect(|| {
///     rkyv::to_bytes::<rkyv::rancor::Error>(&(a.handle(), user_text.clone(), "memfd:1:2:00000000000000aa".to_string()))
/// });
/// assert!(bytes.is_ok());
/// assert_eq!(ids, [a.segment_id().to_string()]); // the handle's, once; the strings are data
/// let (_, none) = zeroproc_mp::segment_refs::collect(|| rkyv::to_bytes::<rkyv::rancor::Error>(&user_text));
/// assert!(none.is_empty());
/// ```
pub fn collect<T>(archive: impl FnOnce() -> T) -> (T, Vec<String>) {
    let outer = IDS.with(|ids| ids.borrow_mut().replace(Vec::new()));
    let restore = Restore(outer);
    let r = archive();
    let ids = IDS.with(|ids| ids.borrow_mut().take()).unwrap_or_default();
    drop(restore);
    (r, ids)
}

/// Records `id` if a [`collect`] runs on this thread (once per id: a send path may archive
/// a value twice, measuring first).
fn archived(id: &str) {
    IDS.with(|ids| {
        if let Some(ids) = ids.borrow_mut().as_mut() {
            if !ids.iter().any(|i| i == id) {
                ids.push(id.to_string());
            }
        }
    });
}

/// rkyv field adapter of a handle's segment id (`String`): archived exactly as the
/// `String`, and recorded by a running [`collect`].
///
/// ```
/// #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
/// struct MyHandle {
///     #[rkyv(with = zeroproc_mp::segment_refs::SegmentRef)]
///     segment: String,
/// }
/// let h = MyHandle { segment: "memfd:1:2:00000000000000aa".into() };
/// let (bytes, ids) =
///     zeroproc_mp::segment_refs::collect(|| rkyv::to_bytes::<rkyv::rancor::Error>(&h).unwrap());
/// assert_eq!(ids, ["memfd:1:2:00000000000000aa"]);
/// let back = rkyv::from_bytes::<MyHandle, rkyv::rancor::Error>(&bytes).unwrap();
/// assert_eq!(back.segment, h.segment);
/// ```
pub struct SegmentRef;

impl rkyv::with::ArchiveWith<String> for SegmentRef {
    type Archived = ArchivedString;
    type Resolver = StringResolver;

    fn resolve_with(field: &String, resolver: StringResolver, out: Place<ArchivedString>) {
        ArchivedString::resolve_from_str(field, resolver, out);
    }
}

impl<S: Fallible + ?Sized> rkyv::with::SerializeWith<String, S> for SegmentRef
where
    S::Error: Source,
    str: SerializeUnsized<S>,
{
    fn serialize_with(field: &String, s: &mut S) -> Result<StringResolver, S::Error> {
        archived(field);
        ArchivedString::serialize_from_str(field, s)
    }
}

impl<D: Fallible + ?Sized> rkyv::with::DeserializeWith<ArchivedString, String, D> for SegmentRef {
    fn deserialize_with(field: &ArchivedString, _: &mut D) -> Result<String, D::Error> {
        Ok(field.as_str().to_string())
    }
}
