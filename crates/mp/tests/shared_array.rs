//! SharedArray / SharedVec in one process: the chunk claim protocol (duplicates refused,
//! reads refused until a split is finished, new splits only after the old one), leases,
//! handles through envelopes, and the per-process segment cache.

use rkyv::rancor::Error;
use std::time::Duration;
use zeroproc_codec::envelope::{decode, encode_into, Header};
use zeroproc_mp::shared::{ArrayHandle, ChunkMut, SharedError};
use zeroproc_mp::{SharedArray, SharedVec};

#[test]
fn chunks_cover_the_array_disjointly_and_the_owner_reads_when_all_are_done() {
    let mut a = SharedArray::<u64>::zeroed(1003).unwrap();
    let chunks = a.chunks_mut(100).unwrap();
    assert_eq!(chunks.len(), 11);
    let mut covered = vec![0u8; 1003];
    for c in chunks.iter().rev() {
        let mut g = c.write().unwrap();
        for i in g.range() {
            covered[i] += 1;
        }
        let r = g.range();
        for (x, i) in g.iter_mut().zip(r) {
            *x = i as u64 * 3;
        }
    }
    assert!(covered.iter().all(|&c| c == 1));
    a.wait_chunks(Duration::from_secs(1)).unwrap();
    let s = a.as_slice().unwrap();
    assert!(s.iter().enumerate().all(|(i, &x)| x == i as u64 * 3));
    assert_eq!(a.handle().read().unwrap()[1002], 3006);
}

#[test]
fn a_duplicated_chunk_handle_never_gives_a_second_mut() {
    let mut a = SharedArray::<u32>::zeroed(64).unwrap();
    let chunks = a.chunks_mut(16).unwrap();
    let dup = chunks[1].clone();
    let g = chunks[1].write().unwrap();
    let me = std::process::id();
    assert!(matches!(dup.write(), Err(SharedError::ChunkBusy { pid }) if pid == me));
    assert!(matches!(chunks[1].write(), Err(SharedError::ChunkBusy { .. })));
    // From another thread too.
    std::thread::scope(|s| {
        s.spawn(|| assert!(matches!(dup.write(), Err(SharedError::ChunkBusy { .. }))));
    });
    drop(g);
    assert!(matches!(dup.write(), Err(SharedError::ChunkDone)));
}

#[test]
fn reading_before_every_chunk_is_done_is_refused() {
    let mut a = SharedArray::<f32>::zeroed(40).unwrap();
    let h = a.handle();
    let chunks = a.chunks_mut(10).unwrap();
    assert!(matches!(a.as_slice(), Err(SharedError::SplitInProgress { pending: 4 })));
    assert!(matches!(h.read(), Err(SharedError::SplitInProgress { pending: 4 })));
    for c in &chunks[..3] {
        c.write().unwrap().fill(1.0);
    }
    let held = chunks[3].write().unwrap();
    assert!(matches!(h.read(), Err(SharedError::SplitInProgress { pending: 1 })));
    assert!(matches!(
        a.wait_chunks(Duration::from_millis(20)),
        Err(SharedError::Timeout { pending: 1 })
    ));
    drop(held);
    assert_eq!(a.pending_chunks(), 0);
    assert_eq!(h.read().unwrap().iter().sum::<f32>(), 30.0);
}

#[test]
fn a_new_split_needs_the_old_one_finished_or_abandoned() {
    let mut a = SharedArray::<u8>::zeroed(30).unwrap();
    let first = a.chunks_mut(10).unwrap();
    first[0].write().unwrap().fill(1);
    assert!(matches!(a.chunks_mut(5), Err(SharedError::SplitInProgress { pending: 2 })));
    let mut busy = first[1].write().unwrap();
    busy.fill(1);
    assert!(matches!(a.abandon_chunks(), Err(SharedError::ChunkBusy { .. })));
    // Chunk 2 was closed by that attempt already; chunk 1 is still being written.
    assert!(matches!(first[2].write(), Err(SharedError::ChunkAbandoned)));
    drop(busy);
    a.abandon_chunks().unwrap();
    assert_eq!(a.as_slice().unwrap()[..20], [1; 20]);
    let second = a.chunks_mut(15).unwrap();
    // Handles of the first split are stale now (chunk 2, beyond the new split, keeps
    // its closed word of the old split).
    assert!(matches!(first[0].write(), Err(SharedError::ChunkStale)));
    assert!(matches!(first[1].write(), Err(SharedError::ChunkStale)));
    assert!(matches!(first[2].write(), Err(SharedError::ChunkAbandoned)));
    for c in &second {
        c.write().unwrap().fill(2);
    }
    assert_eq!(a.as_slice().unwrap(), &[2; 30]);
}

#[test]
fn a_panicking_writer_gives_its_chunk_back() {
    let mut a = SharedArray::<u16>::zeroed(8).unwrap();
    let chunks = a.chunks_mut(8).unwrap();
    let c = chunks[0].clone();
    let r = std::thread::spawn(move || {
        let mut g = c.write().unwrap();
        g[0] = 99;
        panic!("kernel failed");
    })
    .join();
    assert!(r.is_err());
    assert_eq!(a.pending_chunks(), 1);
    let g = chunks[0].write().unwrap(); // FREE again
    g.unclaim(); // and again
    chunks[0].write().unwrap().fill(5);
    assert_eq!(a.as_slice().unwrap(), &[5; 8]);
}

#[test]
fn readers_and_the_owner_writer_exclude_each_other() {
    let mut a = SharedArray::<i64>::zeroed(10).unwrap();
    let h = a.handle();
    let r = h.read().unwrap();
    let r2 = h.read().unwrap(); // leases nest
    assert!(matches!(a.write(), Err(SharedError::ReadersActive { .. })));
    assert!(matches!(a.chunks_mut(5), Err(SharedError::ReadersActive { .. })));
    drop(r);
    assert!(matches!(a.write(), Err(SharedError::ReadersActive { .. })));
    drop(r2);
    {
        let mut w = a.write().unwrap();
        assert!(matches!(h.read(), Err(SharedError::OwnerWriting)));
        w[3] = -7;
    }
    assert_eq!(h.read().unwrap()[3], -7);
    // The refused split attempt above did not leave the array split.
    assert_eq!(a.pending_chunks(), 0);
    assert_eq!(a.chunks_mut(5).unwrap().len(), 2);
}

#[test]
fn handles_travel_inside_envelopes() {
    let input = SharedArray::from_slice(&[1.5f64, 2.5, 3.5, 4.5]).unwrap();
    let mut out = SharedArray::<f64>::zeroed(4).unwrap();
    let mut buf = vec![0u128; 64];
    // SAFETY: u128 has no padding; any bits are valid bytes.
    let b = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<u8>(), 1024) };
    for c in out.chunks_mut(2).unwrap() {
        let n = encode_into(b, Header::new(1, 1), &(input.handle(), c)).unwrap();
        let (_, a) = decode::<(ArrayHandle<f64>, ChunkMut<f64>)>(&b[..n]).unwrap();
        let (inp, chunk): (ArrayHandle<f64>, ChunkMut<f64>) =
            rkyv::deserialize::<_, Error>(a).unwrap();
        let x = inp.read().unwrap();
        let mut g = chunk.write().unwrap();
        let r = g.range();
        for (o, v) in g.iter_mut().zip(&x[r]) {
            *o = v * 2.0;
        }
    }
    assert_eq!(out.as_slice().unwrap(), &[3.0, 5.0, 7.0, 9.0]);
}

#[derive(rkyv::Archive, rkyv::Serialize)]
struct ForgedChunk {
    array: ArrayHandle<u32>,
    epoch: u32,
    index: u32,
}

fn forge(array: ArrayHandle<u32>, epoch: u32, index: u32) -> ChunkMut<u32> {
    let bytes = rkyv::to_bytes::<Error>(&ForgedChunk { array, epoch, index }).unwrap();
    rkyv::from_bytes::<ChunkMut<u32>, Error>(&bytes).unwrap()
}

#[test]
fn forged_and_mistyped_handles_are_refused() {
    let mut a = SharedArray::<u32>::zeroed(100).unwrap();
    // Before any split every chunk is closed (epoch 0).
    assert!(matches!(forge(a.handle(), 0, 0).write(), Err(SharedError::ChunkAbandoned)));
    let chunks = a.chunks_mut(50).unwrap();
    assert_eq!(chunks.len(), 2);
    // An index beyond the split (inside the claim table, or beyond it).
    assert!(matches!(forge(a.handle(), 1, 2).write(), Err(SharedError::ChunkStale)));
    assert!(matches!(forge(a.handle(), 1, u32::MAX).write(), Err(SharedError::ChunkStale)));
    assert!(matches!(forge(a.handle(), 7, 0).write(), Err(SharedError::ChunkStale)));
    // A handle reinterpreted as another element type.
    let bytes = rkyv::to_bytes::<Error>(&a.handle()).unwrap();
    let wrong = rkyv::from_bytes::<ArrayHandle<f32>, Error>(&bytes).unwrap();
    assert!(matches!(wrong.read(), Err(SharedError::TypeMismatch)));
    // A vector handle is not an array.
    let v = SharedVec::<u32>::with_capacity(100).unwrap();
    let bytes = rkyv::to_bytes::<Error>(&v.handle()).unwrap();
    #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
    struct H {
        segment: String,
        len: u64,
        type_hash: u64,
    }
    #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
    struct AsArray {
        segment: String,
        len: u64,
        type_hash: u64,
        generation: u64,
    }
    let h = rkyv::from_bytes::<H, Error>(&bytes).unwrap();
    let h = AsArray { segment: h.segment, len: h.len, type_hash: h.type_hash, generation: 0 };
    let as_array = rkyv::to_bytes::<Error>(&h).unwrap();
    let as_array = rkyv::from_bytes::<ArrayHandle<u32>, Error>(&as_array).unwrap();
    assert!(matches!(as_array.read(), Err(SharedError::Foreign(_))));
    drop(chunks);
}

#[test]
fn bad_splits_are_refused() {
    let mut a = SharedArray::<u8>::zeroed_with_max_chunks(100, 4).unwrap();
    assert!(matches!(a.chunks_mut(0), Err(SharedError::BadChunkLen)));
    assert!(matches!(a.chunks_mut(10), Err(SharedError::TooManyChunks { chunks: 10, max: 4 })));
    assert_eq!(a.chunks_mut(25).unwrap().len(), 4);
    let mut empty = SharedArray::<u8>::zeroed(0).unwrap();
    assert!(empty.chunks_mut(10).unwrap().is_empty());
    assert_eq!(empty.as_slice().unwrap(), &[] as &[u8]);
    assert!(matches!(SharedArray::<()>::zeroed(3), Err(SharedError::ZeroSized)));
    assert!(matches!(SharedArray::<u64>::zeroed(usize::MAX / 4), Err(SharedError::TooLarge)));
}

#[test]
fn shared_vec_publishes_a_growing_prefix() {
    let mut v = SharedVec::<[f32; 3]>::with_capacity(4).unwrap();
    let h = v.handle();
    assert!(h.read().unwrap().is_empty());
    v.push([1.0, 2.0, 3.0]).unwrap();
    let snap = h.read().unwrap();
    v.extend_from_slice(&[[4.0; 3], [5.0; 3]]).unwrap();
    assert_eq!(snap.len(), 1);
    assert_eq!(h.read().unwrap().len(), 3);
    assert!(matches!(v.extend_from_slice(&[[0.0; 3]; 2]), Err(SharedError::Full { capacity: 4 })));
    v.push([6.0; 3]).unwrap();
    assert!(matches!(v.push([7.0; 3]), Err(SharedError::Full { .. })));
    assert_eq!(v.as_slice()[3], [6.0; 3]);
    assert_eq!(&*h.read().unwrap(), v.as_slice());
}

#[test]
fn from_slice_copies_every_element_of_a_multi_page_array() {
    // 3 MiB + a partial page, elements not a power of two in size: every element checked.
    let data: Vec<[u8; 3]> =
        (0..(1 << 20) + 1001).map(|i: u32| [i as u8, (i >> 8) as u8, 7]).collect();
    let a = SharedArray::from_slice(&data).unwrap();
    assert_eq!(a.as_slice().unwrap(), &data[..]);
    assert_eq!(&*a.handle().read().unwrap(), &data[..]);
    let z = SharedArray::<u64>::zeroed(3 << 17).unwrap();
    assert!(z.as_slice().unwrap().iter().all(|&v| v == 0));
}

/// A length whose bytes overflow the address space says so (it said "array too large",
/// which reads like "not enough memory").
#[test]
fn overflowing_length_names_the_overflow() {
    let e = zeroproc_mp::SharedArray::<f64>::zeroed(usize::MAX / 4).unwrap_err();
    assert!(matches!(e, zeroproc_mp::shared::SharedError::TooLarge), "{e:?}");
    assert!(e.to_string().contains("overflows the address space"), "{e}");
}

/// The errors a user meets when using an array at the wrong moment name the way out (they
/// said "2 chunks are not finished", "process N is reading the array", "shared vector full
/// (2 elements)").
#[test]
fn busy_array_errors_name_the_way_out() {
    let mut a = zeroproc_mp::SharedArray::<f64>::zeroed(8).unwrap();
    let chunks = a.chunks_mut(4).unwrap();
    let e = a.as_slice().unwrap_err().to_string();
    assert!(e.contains("2 chunks are not finished") && e.contains("abandon_chunks"), "{e}");
    drop(chunks);
    a.abandon_chunks().unwrap();
    let h = a.handle();
    let g = h.read().unwrap();
    let e = a.write().map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("is reading the array") && e.contains("drop the guard"), "{e}");
    drop(g);
    let mut v = zeroproc_mp::SharedVec::<u32>::with_capacity(1).unwrap();
    v.push(1).unwrap();
    let e = v.push(2).unwrap_err().to_string();
    assert!(e.contains("capacity of 1") && e.contains("with_capacity"), "{e}");
}

/// A cell handle of another type is a `TypeMismatch` that says so (it was an `Attach`
/// error reading `attaching the array segment: segment holds "zeroproc-cell" v1 (hash ..),
/// expected "zeroproc-cell" v1 (hash ..)`).
#[test]
fn a_cell_of_another_type_is_a_type_mismatch() {
    use zeroproc_mp::shared::{CellHandle, SharedCell, SharedError};
    use zeroproc_shm::sync::{Event, Lock};
    let c = SharedCell::new(Lock::new()).unwrap();
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&c.handle()).unwrap();
    let h = rkyv::from_bytes::<CellHandle<Event>, rkyv::rancor::Error>(&bytes).unwrap();
    let e = h.attach().map(|_| ()).unwrap_err();
    assert!(matches!(e, SharedError::TypeMismatch), "{e:?}");
    assert!(e.to_string().contains("the cell holds another type"), "{e}");
    // The same type still attaches.
    let same = rkyv::from_bytes::<CellHandle<Lock>, rkyv::rancor::Error>(&bytes).unwrap();
    assert!(same.attach().is_ok());
}

/// A process forked while it holds a read lease gets a copy of the `ReadGuard`; when the
/// child drops that copy (its locals going out of scope), the parent's lease must stay:
/// the child never took one. The copy's drop released the parent's lease slot, the owner's
/// `write()` then succeeded while the parent still read the elements through its guard (a
/// `&mut [T]` and a `&[T]` over the same memory).
#[test]
fn a_forked_childs_copy_of_a_read_guard_does_not_release_the_parents_lease() {
    let mut a = SharedArray::<u64>::zeroed(16).unwrap();
    let h = a.handle();
    let g = h.read().unwrap();
    let status = zeroproc_testkit::fork_run(|| {
        // SAFETY: the child's bitwise copy of the parent's guard, dropped once in the child
        // (as its inherited locals are); the parent's `g` is untouched by it. Only atomics
        // and a reference count change: nothing after `fork` here takes a lock.
        let copy = unsafe { std::ptr::read(&g) };
        drop(copy);
    });
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child: {status:#x}");
    let w = a.write();
    assert!(
        matches!(w, Err(SharedError::ReadersActive { pid }) if pid == std::process::id()),
        "the owner was let in while the parent still reads: {:?}",
        w.as_ref().map(|_| "a write guard")
    );
    drop(w);
    assert_eq!(g[3], 0);
    drop(g);
    a.write().unwrap()[3] = 7;
}

/// As above for the owner's write guard and a chunk writer's guard: a forked child's copy
/// dropped in the child ended the parent's write mode (readers let in while the owner
/// writes) or marked the parent's chunk done (the split finished and readers let in while
/// the chunk's writer writes).
#[test]
fn a_forked_childs_copy_of_a_write_or_chunk_guard_does_not_end_the_parents_write() {
    let mut a = SharedArray::<u64>::zeroed(16).unwrap();
    let h = a.handle();
    {
        let mut w = a.write().unwrap();
        let status = zeroproc_testkit::fork_run(|| {
            // SAFETY: as in the test above: the child's copy, dropped once in the child.
            drop(unsafe { std::ptr::read(&w) });
        });
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{status:#x}");
        let r = h.read();
        assert!(
            matches!(r, Err(SharedError::OwnerWriting)),
            "a reader was let in while the owner writes: {:?}",
            r.as_ref().map(|_| "a read guard")
        );
        drop(r);
        w[0] = 1;
    }
    assert_eq!(h.read().unwrap()[0], 1);
    let chunks = a.chunks_mut(16).unwrap(); // one chunk: the whole array
    {
        let mut g = chunks[0].write().unwrap();
        let status = zeroproc_testkit::fork_run(|| {
            // SAFETY: as above.
            drop(unsafe { std::ptr::read(&g) });
        });
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{status:#x}");
        let r = h.read();
        assert!(
            matches!(r, Err(SharedError::SplitInProgress { pending: 1 })),
            "a reader was let in while the chunk is written: {:?}",
            r.as_ref().map(|_| "a read guard")
        );
        drop(r);
        g[1] = 2;
    }
    a.wait_chunks(Duration::from_secs(5)).unwrap();
    assert_eq!(a.as_slice().unwrap()[..2], [1, 2]);
}

/// A claim table of 0 chunks allows one (the whole array), as a `max_chunks` above the cap
/// allows the cap: before, the array was made and every split of it refused — "1 chunks
/// requested, the array allows 0 (use larger chunks …)", a fix that could not work
/// (hpc29).
#[test]
fn a_claim_table_of_zero_chunks_allows_the_whole_array() {
    let mut a = SharedArray::<u32>::zeroed_with_max_chunks(100, 0).unwrap();
    let chunks = a.chunks_mut(100).unwrap();
    assert_eq!(chunks.len(), 1);
    chunks[0].write().unwrap().fill(7);
    assert_eq!(a.as_slice().unwrap()[99], 7);
    assert!(matches!(a.chunks_mut(10), Err(SharedError::TooManyChunks { chunks: 10, max: 1 })));
}

/// A read guard the caller itself still holds is named as its own, not as "process N"
/// (num31: `for_each_chunk_mut` refused with "process 28431 is reading the array", the
/// caller's own pid, with a `handle.read()` guard alive a few lines up).
#[test]
fn a_read_guard_of_the_callers_own_is_named_so() {
    let mut a = SharedArray::<f64>::zeroed(10).unwrap();
    let h = a.handle();
    let r = h.read().unwrap();
    let m = a.chunks_mut(5).map(|_| ()).unwrap_err().to_string();
    assert!(m.contains("this process") && m.contains(&std::process::id().to_string()), "{m}");
    assert!(m.contains("ReadGuard"), "the guard to drop is not named: {m}");
    let m = a.write().map(|_| ()).unwrap_err().to_string();
    assert!(m.contains("this process"), "{m}");
    drop(r);
    a.write().unwrap();
}
