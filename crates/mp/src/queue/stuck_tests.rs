//! A blocking put whose value can never fit the spill heap as it stands — blocks leaked
//! by killed processes (here: one block taken from the heap and never freed) split its
//! free space, and nothing is queued or held that a reader could free — must not wait
//! for ever: it fails with `TooLarge` once that has lasted `STUCK_AFTER`. A value that
//! fits once a reader frees a block still waits for it.

use super::{PutError, PutTimeoutError, Queue};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const K: usize = 1024;

/// A queue whose 1 MiB heap (already at its maximum) has one 16 KiB block leaked just
/// after the first value's block (384 KiB): free runs of 384 KiB and about 630 KiB, no
/// more; without the leak a value needing a 896 KiB block would fit.
fn fragmented() -> Queue<Vec<u8>> {
    let q = Queue::<Vec<u8>>::builder(4).heap_size(1 << 20).max_heap_size(1 << 20).build().unwrap();
    q.put(vec![1; 300 * K]).unwrap();
    let heap = q.map.heap().expect("a heap");
    let _leaked = heap.alloc(16 * K, 16).unwrap(); // never freed: as a killed holder's
    assert_eq!(q.get().unwrap().len(), 300 * K);
    assert!(q.is_empty());
    q
}

/// Runs `f` on a thread; its result, or `None` if it has not returned within `limit`
/// (the thread is then left behind, blocked).
fn within<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

#[test]
fn a_blocking_put_that_can_never_fit_the_leaked_heap_is_too_large_not_a_hang() {
    let q = fragmented();
    let q2 = q.clone();
    let r = within(Duration::from_secs(20), move || {
        q2.put(vec![2; 700 * K]).map_err(|e| e.to_string())
    })
    .expect("put waited for ever on an empty queue whose heap cannot fit the value");
    let e = r.expect_err("the value cannot fit");
    assert!(e.contains("leaked") && e.contains("max_heap_size"), "{e}");
    // A value that fits a free run still goes through.
    q.put(vec![3; 300 * K]).unwrap();
    assert_eq!(q.get().unwrap().len(), 300 * K);
}

#[test]
fn put_timeout_reports_too_large_when_stuck_and_timeout_when_the_deadline_comes_first() {
    let q = fragmented();
    let t = Instant::now();
    match q.put_timeout(vec![2; 700 * K], Duration::from_millis(200)) {
        Err(PutTimeoutError::Timeout(v)) => assert_eq!(v.len(), 700 * K),
        r => panic!("expected Timeout, got {:?}", r.map_err(|e| e.to_string())),
    }
    assert!(t.elapsed() < Duration::from_secs(10));
    match q.put_timeout(vec![2; 700 * K], Duration::from_secs(20)) {
        Err(PutTimeoutError::TooLarge(v)) => assert_eq!(v.len(), 700 * K),
        r => panic!("expected TooLarge, got {:?}", r.map_err(|e| e.to_string())),
    }
}

#[test]
fn a_put_waits_while_a_reader_holds_the_block_it_needs() {
    let q = fragmented();
    // 400 KiB (a 512 KiB block) fits only the run after the leaked block; hold one there.
    q.put(vec![4; 400 * K]).unwrap();
    let held = q.get_ref().unwrap(); // a reader holding a spilled value (registered)
    assert!(q.is_empty());
    let q2 = q.clone();
    let rx = {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(q2.put(vec![5; 400 * K]).map_err(|e: PutError<_>| e.to_string()));
        });
        rx
    };
    // Well past the time after which an idle heap is given up on: still waiting.
    assert!(rx.recv_timeout(Duration::from_millis(2500)).is_err(), "gave up on a held block");
    drop(held);
    rx.recv_timeout(Duration::from_secs(20)).expect("woken by the free").expect("put");
    assert_eq!(q.get().unwrap().len(), 400 * K);
}

/// A child process that merges the queue's heap over and over (fragments it with small
/// blocks, then asks for a large one), stopped (SIGSTOP) while it holds the merge lock.
/// Killed (and reaped) on drop.
struct StoppedMerger(libc::pid_t);

impl StoppedMerger {
    fn new(q: &Queue<Vec<u8>>) -> StoppedMerger {
        let heap = q.map.heap().expect("a heap");
        // SAFETY: the child only allocates and frees in the shared heap, in a loop, until it
        // is killed; it never returns into the test harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            loop {
                let small: Vec<_> = std::iter::from_fn(|| heap.alloc(100, 16).ok()).collect();
                for o in small {
                    let _ = heap.free(o);
                }
                if let Ok(b) = heap.alloc(400 * K, 16) {
                    let _ = heap.free(b);
                }
            }
        }
        let me = StoppedMerger(pid);
        for _ in 0..2000 {
            std::thread::sleep(Duration::from_micros(
                200 + (Instant::now().elapsed().as_nanos() % 700) as u64,
            ));
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            while !zeroproc_shm::process::is_halted(pid as u32) {
                std::thread::yield_now();
            }
            if heap.merge_holder() == Some(pid as u32) {
                return me;
            }
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
        panic!("never caught the child inside a merge pass");
    }
}

impl Drop for StoppedMerger {
    fn drop(&mut self) {
        // SAFETY: our child; waitpid reaps it.
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
            libc::waitpid(self.0, std::ptr::null_mut(), 0);
        }
    }
}

#[test]
fn put_timeout_keeps_its_deadline_while_the_merge_lock_holder_is_stopped() {
    let q = Queue::<Vec<u8>>::builder(4).heap_size(1 << 20).max_heap_size(1 << 20).build().unwrap();
    let merger = StoppedMerger::new(&q);
    // The stopped merger holds the lock and every free block it drained: the put cannot
    // be served until it resumes, and must give up at its deadline — not wait inside the
    // heap for as long as the stop lasts (before the fix: until SIGCONT), and not call the
    // value TooLarge (the merge will hand the blocks back).
    let q2 = q.clone();
    let r = within(Duration::from_secs(20), move || {
        let t = Instant::now();
        let r = q2.put_timeout(vec![1; 300 * K], Duration::from_millis(1500));
        (r.map_err(|e| matches!(e, PutTimeoutError::Timeout(_))), t.elapsed())
    });
    let (r, took) = r.expect("put_timeout waited for the stopped merge-lock holder");
    assert_eq!(r, Err(true), "expected Timeout");
    assert!(took >= Duration::from_millis(1500), "{took:?}");
    drop(merger);
}

#[test]
fn a_put_starved_by_blocks_it_cannot_see_is_not_called_too_large() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let q = fragmented();
    // Holders the put cannot see (not queued, not in the holds table: as readers in the
    // instant between a ring claim and a registration, over and over) keep taking room
    // and freeing it: a 320 KiB block for good, and always one 160 KiB block (the next is
    // taken before the last is freed), so that no run of 512 KiB (the value's block) is
    // ever free while they run, though blocks are freed every 5 ms.
    let stop = Arc::new(AtomicBool::new(false));
    let heap = q.map.heap().expect("a heap");
    let (p, mut x) = (heap.alloc(300 * K, 16).unwrap(), heap.alloc(150 * K, 16).unwrap());
    let churn = {
        let (q, stop) = (q.clone(), stop.clone());
        std::thread::spawn(move || {
            let heap = q.map.heap().expect("a heap");
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(5));
                let y = heap.alloc(150 * K, 16).unwrap();
                heap.free(x).unwrap();
                q.map.heap_freed();
                x = y;
            }
            heap.free(x).unwrap();
            heap.free(p).unwrap();
            q.map.heap_freed();
        })
    };
    let q2 = q.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(q2.put(vec![6; 400 * K]).map_err(|e| e.to_string()));
    });
    // Blocks keep being freed: something was in flight all along, and the put waits.
    if let Ok(r) = rx.recv_timeout(Duration::from_millis(2500)) {
        panic!("the put returned while the room was taken: {r:?}");
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    rx.recv_timeout(Duration::from_secs(20)).expect("woken").expect("put");
    assert_eq!(q.get().unwrap().len(), 400 * K);
}
