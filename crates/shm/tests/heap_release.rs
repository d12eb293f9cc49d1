//! `Heap::release_free_pages`: the pages of large free blocks go back to the system (the
//! backing file's allocated size drops) and the blocks stay usable, in every process.

use zeroproc_shm::heap::Heap;
use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};

/// Bytes the segment's file has allocated (st_blocks × 512).
fn allocated(seg: &Segment) -> u64 {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes a `stat` into `st`, a valid, owned value; the fd is the
    // segment's, open for the call.
    let rc = unsafe { libc::fstat(seg.fd().as_raw_fd(), &mut st) };
    assert_eq!(rc, 0);
    st.st_blocks as u64 * 512
}

#[test]
fn free_large_blocks_give_their_pages_back_and_stay_usable() {
    let seg = Segment::create(Layout::new("heap-release", 1), 64 << 20).unwrap();
    let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 60 << 20).unwrap();
    let big = heap.alloc(32 << 20, 16).unwrap();
    let small = heap.alloc(1000, 16).unwrap();
    let p = heap.ptr_len(big, 32 << 20).unwrap();
    // SAFETY: `big` is a live 32 MiB block only this test uses.
    unsafe { p.as_ptr().write_bytes(7, 32 << 20) };
    let written = allocated(&seg);
    heap.free(big).unwrap();
    heap.free(small).unwrap();
    let released = heap.release_free_pages(1 << 20);
    let after = allocated(&seg);
    assert!(released >= (32 << 20) - 8192, "released {released}");
    assert!(after + (31 << 20) <= written, "file allocated {written} → {after} bytes");
    heap.check().unwrap();
    // The block is reused whole: zeroed pages, writable again.
    let again = heap.alloc(32 << 20, 16).unwrap();
    assert_eq!(again, big);
    let p = heap.ptr_len(again, 32 << 20).unwrap();
    // SAFETY: as above.
    unsafe {
        assert_eq!(*p.as_ptr().add(1 << 20), 0);
        p.as_ptr().write_bytes(9, 32 << 20);
        assert_eq!(*p.as_ptr().add((32 << 20) - 1), 9);
    }
    // Blocks smaller than the threshold keep their pages; a heap with no free large block
    // releases nothing.
    assert_eq!(heap.release_free_pages(1 << 20), 0);
    heap.free(again).unwrap();
    heap.check().unwrap();
}
