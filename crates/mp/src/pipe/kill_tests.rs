//! A pipe sender SIGKILLed while it holds a spilled block that no record names yet: its
//! reference waiting for room in a full ring. Before 2026-12-07 pipe senders were not in
//! the holds table and the block leaked for the life of the pipe; now the sender holds
//! it there until just before the record's commit, and a sweep gives it back.

use super::PipeBuilder;
use crate::channel::holds;
use std::time::Duration;

const K: usize = 1024;

fn in_use(map: &crate::channel::mapping::Mapping) -> u64 {
    let heap = map.heap().expect("a heap");
    holds::sweep_now(map, heap);
    heap.stats().in_use_blocks()
}

/// Fills the ring and then sends `bytes` (a value) in a forked child (the end is claimed
/// there) that is SIGKILLed after `after`.
fn killed_while_sending(a: &mut super::Connection<Vec<u8>>, bytes: Vec<u8>, after: Duration) {
    // SAFETY: the child only sends through shared memory and ends with `_exit` (or the
    // signal); the parent only sleeps, kills and reaps it.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        // Fill the ring with small records: the reference of the spilled value must wait.
        for len in [100, 0] {
            while a.try_send(vec![1; len]).is_ok() {}
        }
        let _ = a.send(bytes);
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(0) };
    }
    std::thread::sleep(after);
    let mut status = 0;
    // SAFETY: signals and reaps the child just forked.
    unsafe {
        assert_eq!(libc::kill(pid, libc::SIGKILL), 0);
        assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
    }
    assert!(libc::WIFSIGNALED(status), "the send returned: the ring was not full");
}

#[test]
fn a_sender_killed_while_its_spilled_reference_waits_for_ring_room_leaks_nothing() {
    let (mut a, mut b) = PipeBuilder::<Vec<u8>>::new()
        .capacity(4 * K)
        .heap_size(1 << 20)
        .max_heap_size(1 << 20)
        .duplex()
        .unwrap();
    assert_eq!(in_use(a.mapping()), 0);
    killed_while_sending(&mut a, vec![2; 300 * K], Duration::from_millis(300));
    // Everything the dead sender published, then Disconnected.
    let mut got = 0;
    while let Ok(v) = b.recv_timeout(Duration::from_secs(5)) {
        assert!(v.len() <= 100, "the spilled value was never published");
        got += 1;
    }
    assert!(got > 0);
    assert_eq!(in_use(a.mapping()), 0, "the dead sender's block leaked");
    a.mapping().heap().unwrap().check().unwrap();
}
