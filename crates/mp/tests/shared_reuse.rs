//! A dropped SharedArray's segment kept for the next array of the same shape
//! (`src/shared/recycle.rs`): reused only when nobody reads or writes it, an old handle is
//! refused (`Dropped`) in every process and never sees the new array's elements, and
//! other processes read the new array through the mapping they already have.
//!
//! Each test uses its own array length: the kept segments are per process, and the tests
//! of this file run in parallel threads of one process.

use rkyv::rancor::Error;
use std::io::{BufRead, BufReader};
use std::process::Child;
use std::time::Duration;
use zeroproc_mp::shared::{cache, ArrayHandle, ChunkMut, SharedError, VecHandle};
use zeroproc_mp::{SharedArray, SharedVec};
use zeroproc_testkit as tk;
use zeroproc_testkit::{to_hex as hex, unhex};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn zp_reuse_child() {
    tk::child_entry(|role, arg| {
        let b = unhex(arg);
        match role {
            // Reads an old handle until told to stop: every read either sees the old array
            // whole (all elements 1) or is refused; once refused as dropped, always.
            "watch" => {
                let (h, ctl) =
                    rkyv::from_bytes::<(ArrayHandle<u64>, VecHandle<u32>), Error>(&b).unwrap();
                let mut dropped = false;
                println!("watching");
                while ctl.read().unwrap().is_empty() {
                    match h.read() {
                        Ok(x) => {
                            assert!(!dropped, "read the array again after it was dropped");
                            assert!(x.iter().all(|&v| v == 1), "an old handle saw other data");
                        }
                        Err(SharedError::Dropped) => dropped = true,
                        // (Not OwnerWriting either: the owner never writes this array, and a
                        // drop in progress is told as Dropped.)
                        Err(e) => panic!("{e}"),
                    }
                }
                // One read after the stop: the loop may not have run at all while the
                // parent recycled (a loaded machine), and this one must be refused then.
                match h.read() {
                    Ok(x) => {
                        assert!(!dropped, "read the array again after it was dropped");
                        assert!(x.iter().all(|&v| v == 1), "an old handle saw other data");
                    }
                    Err(SharedError::Dropped) => dropped = true,
                    Err(e) => panic!("{e}"),
                }
                // (stdout is closed by now: the answer is the exit status.)
                std::process::exit(if dropped { 0 } else { 3 });
            }
            // Prints the sum of the array a handle names (or the error).
            "sum" => {
                let h = rkyv::from_bytes::<ArrayHandle<u64>, Error>(&b).unwrap();
                match h.read() {
                    Ok(x) => println!("sum {}", x.iter().sum::<u64>()),
                    Err(e) => println!("error {e:?}"),
                }
            }
            // Reads both handles of the pair, in this one process (one cached mapping).
            "sum_both" => {
                let (old, new) =
                    rkyv::from_bytes::<(ArrayHandle<u64>, ArrayHandle<u64>), Error>(&b).unwrap();
                let r = old.read().map(|x| x.iter().sum::<u64>());
                println!("old {r:?}");
                let r = new.read().map(|x| x.iter().sum::<u64>());
                println!("new {r:?}");
            }
            "no_reuse_at_limit_zero" => {
                cache::set_reuse_limit(0);
                let a = SharedArray::<u8>::zeroed(10).unwrap();
                let id = a.segment_id().clone();
                drop(a);
                assert_eq!(cache::release_dropped(), 0);
                assert_ne!(*SharedArray::<u8>::zeroed(10).unwrap().segment_id(), id);
            }
            "lease_hold" => {
                let h = rkyv::from_bytes::<ArrayHandle<u64>, Error>(&b).unwrap();
                let _g = h.read().unwrap();
                println!("leased");
                std::thread::sleep(LIMIT);
            }
            // Keeps its dropped array's segment, then forks: the child's array of the same
            // shape must get a segment of its own, not its parent's kept one (which the
            // parent hands to its own next array: two live arrays in one segment).
            "fork_take" => {
                let a = SharedArray::from_slice(&[1u64; 1013]).unwrap();
                let id = a.segment_id().clone();
                drop(a);
                // SAFETY: this role runs alone on the test's thread; the child only creates
                // and drops an array, then leaves with `_exit` (no atexit, no destructors
                // of the parent's state).
                let pid = unsafe { libc::fork() };
                assert!(pid >= 0, "fork");
                if pid == 0 {
                    let code = match SharedArray::from_slice(&[2u64; 1013]) {
                        Ok(b) if *b.segment_id() == id => 3,
                        Ok(_) => 0,
                        Err(_) => 4,
                    };
                    // SAFETY: ends the forked child at once.
                    unsafe { libc::_exit(code) };
                }
                let mut st = 0;
                // SAFETY: waits for the child forked above.
                assert_eq!(unsafe { libc::waitpid(pid, &mut st, 0) }, pid);
                assert!(libc::WIFEXITED(st), "forked child: status {st:#x}");
                assert_eq!(
                    libc::WEXITSTATUS(st),
                    0,
                    "the forked child's array took its parent's kept segment"
                );
                let c = SharedArray::from_slice(&[4u64; 1013]).unwrap();
                assert_eq!(*c.segment_id(), id, "the parent reuses its own kept segment");
                assert!(c.as_slice().unwrap().iter().all(|&v| v == 4));
            }
            // Prints a handle of an array, drops the array once told (its segment is kept),
            // then exits normally.
            "keep_then_exit" => {
                let ctl = rkyv::from_bytes::<VecHandle<u32>, Error>(&b).unwrap();
                let a = SharedArray::from_slice(&[5u64; 1014]).unwrap();
                println!("handle {}", hex(&a.handle()));
                while ctl.read().unwrap().is_empty() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                drop(a); // kept (the default limit), and the process exits holding it
            }
            // Lowers the limit to 0 while another thread drops arrays: once both are done,
            // nothing may be kept (a drop racing the change kept a segment for good).
            "limit_race" => {
                use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
                let mut over = 0;
                for _ in 0..2_000 {
                    cache::set_reuse_limit(1 << 20);
                    let stop = AtomicBool::new(false);
                    std::thread::scope(|s| {
                        s.spawn(|| {
                            while !stop.load(Relaxed) {
                                drop(SharedArray::<u64>::zeroed(64).unwrap());
                            }
                        });
                        std::thread::sleep(Duration::from_micros(20));
                        cache::set_reuse_limit(0);
                        stop.store(true, Relaxed);
                    });
                    over += cache::release_dropped();
                }
                assert_eq!(over, 0, "segments kept beyond a limit of 0");
            }
            // Threads create and drop arrays of one shape (segments pass between them)
            // while another changes the limit and frees kept segments: no two live arrays
            // ever share a segment, each holds what it was made with, old handles are
            // refused.
            "threads" => {
                use std::collections::HashSet;
                use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
                use std::sync::Mutex;
                let live = Mutex::new(HashSet::new());
                let seen = Mutex::new(HashSet::new());
                let reuses = std::sync::atomic::AtomicUsize::new(0);
                let stop = AtomicBool::new(false);
                std::thread::scope(|s| {
                    let workers: Vec<_> = (0..4u64)
                        .map(|t| {
                            let (live, seen, reuses) = (&live, &seen, &reuses);
                            s.spawn(move || {
                                let mut old: Vec<ArrayHandle<u64>> = Vec::new();
                                let mut guard = None;
                                for i in 0..3_000u64 {
                                    let tag = t << 32 | i;
                                    let a = SharedArray::from_slice(&[tag; 1016]).unwrap();
                                    let id = a.segment_id().to_string();
                                    assert!(live.lock().unwrap().insert(id.clone()), "shared");
                                    if !seen.lock().unwrap().insert(id.clone()) {
                                        reuses.fetch_add(1, Relaxed);
                                    }
                                    assert!(a.as_slice().unwrap().iter().all(|&v| v == tag));
                                    let h = a.handle();
                                    assert!(h.read().unwrap().iter().all(|&v| v == tag));
                                    for o in &old {
                                        match o.read() {
                                            Err(SharedError::Dropped | SharedError::Attach(_)) => {}
                                            Ok(_) => panic!("an old handle read"),
                                            Err(e) => panic!("{e:?}"),
                                        }
                                    }
                                    if i % 7 == 0 {
                                        guard = Some((h.read().unwrap(), tag)); // across the drop
                                    }
                                    old.push(h);
                                    if old.len() > 4 {
                                        old.remove(0);
                                    }
                                    assert!(live.lock().unwrap().remove(&id));
                                    drop(a);
                                    if let Some((g, tag)) = guard.take() {
                                        if i % 2 == 0 {
                                            assert!(g.iter().all(|&v| v == tag), "guard changed");
                                        } else {
                                            guard = Some((g, tag)); // one more round
                                        }
                                    }
                                }
                            })
                        })
                        .collect();
                    s.spawn(|| {
                        let mut n = 0u64;
                        while !stop.load(Relaxed) {
                            n += 1;
                            match n % 4 {
                                0 => cache::set_reuse_limit(0),
                                1 => cache::set_reuse_limit(20_000),
                                2 => drop(cache::release_dropped()),
                                _ => cache::set_reuse_limit(1 << 30),
                            }
                            std::thread::yield_now();
                        }
                    });
                    for w in workers {
                        w.join().unwrap();
                    }
                    stop.store(true, Relaxed);
                });
                assert!(reuses.load(Relaxed) > 0, "nothing was reused");
            }
            // Kept segments are bounded (count and bytes), and a creation that fails for
            // want of descriptors frees them and succeeds.
            "bounds" => {
                let mine = || {
                    let name = format!("/memfd:zeroproc-{} ", std::process::id());
                    std::fs::read_dir("/proc/self/fd")
                        .unwrap()
                        .flatten()
                        .filter(|e| {
                            let l = std::fs::read_link(e.path()).unwrap_or_default();
                            format!("{} ", l.display()).starts_with(&name)
                        })
                        .count()
                };
                let base = mine();
                for n in 0..20 {
                    drop(SharedArray::<u64>::zeroed(3000 + n).unwrap());
                }
                assert_eq!(mine(), base + 8, "at most 8 kept");
                let one = SharedArray::<u8>::zeroed(1 << 20).unwrap().handle(); // 1 MiB + header
                drop(one);
                cache::set_reuse_limit(3 << 20);
                for n in 0..6 {
                    drop(SharedArray::<u8>::zeroed((1 << 20) + n).unwrap());
                }
                assert!(mine() <= base + 2, "3 MiB hold two 1 MiB arrays and the small ones");
                cache::set_reuse_limit(1 << 30);
                assert!(cache::release_dropped() > 0);
                assert_eq!(mine(), base);
                // Descriptors: 8 kept, then none left for a new segment.
                for n in 0..8 {
                    drop(SharedArray::<u64>::zeroed(4000 + n).unwrap());
                }
                let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                // SAFETY: dup/close of stdin (the lowest free descriptor number, every one
                // below it in use); plain getrlimit/setrlimit on a valid struct.
                unsafe {
                    let next = libc::dup(0);
                    assert!(next > 0);
                    libc::close(next);
                    let open = next as u64;
                    assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
                    let low = libc::rlimit { rlim_cur: open, rlim_max: lim.rlim_max };
                    assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &low), 0);
                }
                let a = SharedArray::<u64>::zeroed(5000);
                // SAFETY: as above.
                unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
                let a = a.expect("a creation short of descriptors frees the kept segments");
                assert_eq!(cache::release_dropped(), 0, "freed before the retry");
                drop(a);
            }
            // A forked child inherits a copy of a live array; its parent then drops the
            // array and reuses the segment: the child's copy is an old array now, and must
            // neither see nor hand out the new one.
            "fork_inherit" => {
                let a = SharedArray::from_slice(&[1u64; 1017]).unwrap();
                let id = a.segment_id().clone();
                let mut fds = [0; 2];
                // SAFETY: a pipe into the two-element array.
                assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
                // SAFETY: as in "fork_take"; the child waits on the pipe, looks at its copy
                // of `a`, and leaves with `_exit` (its copy never dropped).
                let pid = unsafe { libc::fork() };
                assert!(pid >= 0, "fork");
                if pid == 0 {
                    let mut byte = 0u8;
                    // SAFETY: one byte into `byte`.
                    unsafe { libc::read(fds[0], (&mut byte as *mut u8).cast(), 1) };
                    let new = |x: &[u64]| x.contains(&2);
                    let mut code = 0;
                    if a.as_slice().is_ok_and(new) {
                        code |= 1;
                    }
                    if a.handle().read().is_ok_and(|g| new(&g)) {
                        code |= 2;
                    }
                    if a.as_slice().is_ok() || a.handle().read().is_ok() {
                        code |= 4; // (an old array is refused, as its handles are)
                    }
                    drop(a); // not the child's to mark dropped: the parent's `b` lives
                             // SAFETY: ends the forked child at once.
                    unsafe { libc::_exit(code) };
                }
                drop(a);
                let b = SharedArray::from_slice(&[2u64; 1017]).unwrap();
                assert_eq!(*b.segment_id(), id, "the test needs a reuse");
                // SAFETY: one byte from a valid buffer.
                assert_eq!(unsafe { libc::write(fds[1], [1u8].as_ptr().cast(), 1) }, 1);
                let mut st = 0;
                // SAFETY: waits for the child forked above.
                assert_eq!(unsafe { libc::waitpid(pid, &mut st, 0) }, pid);
                assert!(libc::WIFEXITED(st), "forked child: status {st:#x}");
                let code = libc::WEXITSTATUS(st);
                assert_eq!(code & 1, 0, "the child's copy of the old array read the new one");
                assert_eq!(code & 2, 0, "a handle from the child's copy read the new array");
                assert_eq!(code & 4, 0, "the child's copy of a dropped array was not refused");
                // A process that reads `b` keeps its mapping: `b` was not marked dropped.
                let lines = output("evict_after_read", &hex(&b.handle()));
                assert_eq!(
                    lines,
                    ["evicted 0"],
                    "the child's drop marked the parent's array dropped"
                );
                assert!(b.as_slice().unwrap().iter().all(|&v| v == 2));
            }
            // Reads an array, then sweeps its cache: prints how many mappings went.
            "evict_after_read" => {
                let h = rkyv::from_bytes::<ArrayHandle<u64>, Error>(&b).unwrap();
                assert!(h.read().is_ok());
                println!("evicted {}", cache::evict_unused());
            }
            // Claims old chunks over and over (writing a marker, then giving them back)
            // until told to stop; exits 0 once refused as dropped.
            "chunk_hammer" => {
                let (chunks, ctl) =
                    rkyv::from_bytes::<(Vec<ChunkMut<u64>>, VecHandle<u32>), Error>(&b).unwrap();
                let mut dropped = false;
                println!("hammering");
                loop {
                    let stop = !ctl.read().unwrap().is_empty();
                    for c in &chunks {
                        match c.write() {
                            Ok(mut g) => {
                                assert!(!dropped, "claimed a chunk after the array dropped");
                                g.fill(0xDEAD);
                                g.unclaim(); // FREE again: claimable by the next try
                            }
                            Err(SharedError::Dropped) => dropped = true,
                            // Stale: the drop, a reuse and a new split all came between
                            // this write's generation check and its claim (under load).
                            Err(
                                SharedError::ChunkBusy { .. }
                                | SharedError::ChunkAbandoned
                                | SharedError::ChunkStale,
                            ) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                    if stop {
                        break;
                    }
                }
                std::process::exit(if dropped { 0 } else { 3 });
            }
            _ => panic!("unknown role {role}"),
        }
    });
}

/// Runs a child role to its end and returns its output lines.
fn output(role: &str, arg: &str) -> Vec<String> {
    let c = tk::spawn_role_piped("zp_reuse_child", role, arg);
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "{role}: {:?}", out.status);
    // Without libtest's own lines.
    let ours = |l: &&str| !l.is_empty() && !l.starts_with("running ");
    String::from_utf8(out.stdout).unwrap().lines().filter(ours).map(str::to_owned).collect()
}

fn spawn_until(role: &str, arg: &str, word: &str) -> Child {
    tk::spawn_until("zp_reuse_child", role, arg, word)
}

#[test]
fn a_dropped_array_of_the_same_shape_is_reused_and_its_old_handles_refused() {
    let a = SharedArray::from_slice(&[7u64; 1001]).unwrap();
    let (id, old) = (a.segment_id().clone(), a.handle());
    drop(a);
    assert!(matches!(old.read(), Err(SharedError::Dropped)));
    let b = SharedArray::from_slice(&[9u64; 1001]).unwrap();
    assert_eq!(*b.segment_id(), id, "the kept segment was reused");
    assert_ne!(b.handle(), old);
    assert!(b.handle().read().unwrap().iter().all(|&v| v == 9));
    assert!(matches!(old.read(), Err(SharedError::Dropped)), "old handle saw the new array");
    // A zeroed array in a reused segment is zero.
    drop(b);
    let c = SharedArray::<u64>::zeroed(1001).unwrap();
    assert_eq!(*c.segment_id(), id);
    assert!(c.as_slice().unwrap().iter().all(|&v| v == 0));
    // A chunk handle of an earlier array is refused too.
    let mut c = c;
    let chunk = c.chunks_mut(100).unwrap().remove(0);
    chunk.write().unwrap().fill(3);
    c.abandon_chunks().unwrap(); // the other nine are never written
    drop(c);
    let d = SharedArray::<u64>::zeroed(1001).unwrap();
    assert_eq!(*d.segment_id(), id);
    assert!(matches!(chunk.write(), Err(SharedError::Dropped)));
    assert!(d.as_slice().unwrap().iter().all(|&v| v == 0));
}

#[test]
fn only_the_same_shape_reuses_a_segment() {
    let a = SharedArray::<u64>::zeroed(1002).unwrap();
    let id = a.segment_id().clone();
    drop(a);
    // Another length, element type or claim table: a fresh segment.
    assert_ne!(*SharedArray::<u64>::zeroed(1003).unwrap().segment_id(), id);
    assert_ne!(*SharedArray::<i64>::zeroed(1002).unwrap().segment_id(), id);
    assert_ne!(*SharedArray::<u64>::zeroed_with_max_chunks(1002, 7).unwrap().segment_id(), id);
    assert_eq!(*SharedArray::<u64>::zeroed(1002).unwrap().segment_id(), id);
}

#[test]
fn a_segment_in_use_is_not_reused() {
    // A read guard (here, another thread's would be the same) outlives the array.
    let a = SharedArray::from_slice(&[1u64; 1004]).unwrap();
    let id = a.segment_id().clone();
    let h = a.handle();
    let g = h.read().unwrap();
    drop(a);
    let b = SharedArray::from_slice(&[2u64; 1004]).unwrap();
    assert_ne!(*b.segment_id(), id, "reused under a live reader");
    assert!(g.iter().all(|&v| v == 1), "the reader's array changed");
    drop(g);
    // A chunk being written when the array drops.
    let mut c = SharedArray::<u64>::zeroed(1005).unwrap();
    let id = c.segment_id().clone();
    let chunks = c.chunks_mut(500).unwrap();
    let mut w = chunks[1].write().unwrap();
    drop(c);
    let d = SharedArray::<u64>::zeroed(1005).unwrap();
    assert_ne!(*d.segment_id(), id, "reused under a live writer");
    w.fill(5); // still ours to write
    drop(w);
    assert!(d.as_slice().unwrap().iter().all(|&v| v == 0));
}

#[test]
fn a_reader_in_another_process_blocks_reuse() {
    let a = SharedArray::from_slice(&[1u64; 1006]).unwrap();
    let id = a.segment_id().clone();
    let mut r = spawn_until("lease_hold", &hex(&a.handle()), "leased");
    drop(a);
    let b = SharedArray::from_slice(&[2u64; 1006]).unwrap();
    assert_ne!(*b.segment_id(), id, "reused under another process's lease");
    tk::sigkill(&r);
    r.wait().unwrap();
}

#[test]
fn another_process_reads_the_new_array_and_refuses_the_old_handle() {
    let a = SharedArray::from_slice(&[1u64; 1007]).unwrap();
    let old = a.handle();
    assert_eq!(output("sum", &hex(&old)), ["sum 1007"]);
    drop(a);
    let b = SharedArray::from_slice(&[3u64; 1007]).unwrap();
    assert_eq!(b.handle().segment_id(), old.segment_id(), "reused");
    let lines = output("sum_both", &hex(&(old, b.handle())));
    assert_eq!(lines, ["old Err(Dropped)", "new Ok(3021)"]);
}

#[test]
fn an_old_handle_never_sees_a_later_array_while_arrays_are_recycled_under_it() {
    // The watcher's lease may be live when the array drops: then the segment is not kept
    // (also correct; the watcher finishes that read, and later ones are refused). Tried
    // until it is kept.
    for attempt in 0.. {
        let a = SharedArray::from_slice(&[1u64; 1008]).unwrap();
        let id = a.segment_id().clone();
        let mut ctl = SharedVec::<u32>::with_capacity(1).unwrap();
        let mut w = spawn_until("watch", &hex(&(a.handle(), ctl.handle())), "watching");
        std::thread::sleep(Duration::from_millis(10)); // let it read the old array a while
        drop(a);
        let first = SharedArray::from_slice(&[2u64; 1008]).unwrap();
        let reused = *first.segment_id() == id;
        drop(first);
        let mut reuses = 0;
        for round in 0..2_000u64 {
            let b = SharedArray::from_slice(&[round + 3; 1008]).unwrap();
            reuses += usize::from(*b.segment_id() == id);
        }
        ctl.push(1).unwrap();
        let st = tk::wait_timeout(&mut w, LIMIT);
        // Refused in the end whether or not the segment was reused: the array was dropped.
        match st.code() {
            Some(0) => {}
            Some(3) => panic!("never refused (the segment reused: {reused})"),
            _ => panic!("the watcher failed ({st:?}): see its panic"),
        }
        if reused {
            assert!(reuses > 0);
            return;
        }
        assert!(attempt < 50, "the segment was never kept in 50 attempts");
        cache::release_dropped();
    }
}

#[test]
fn a_zero_limit_keeps_nothing() {
    assert!(output("no_reuse_at_limit_zero", "").is_empty());
}

#[test]
fn a_forked_child_does_not_take_its_parents_kept_segment() {
    assert!(output("fork_take", "").is_empty());
}

/// The memfd mappings in this process of segments created by `pid`.
fn mapped_segments_of(pid: u32) -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let name = format!("/memfd:zeroproc-{pid} ");
    maps.lines().filter(|l| l.contains(&name)).count()
}

#[test]
fn a_kept_segment_is_unmapped_elsewhere_once_its_owner_exits() {
    // Before reuse, a dropped array told other processes so (`dropped`) and they unmapped
    // their copies; a kept segment must say so when its process exits.
    let mut ctl = SharedVec::<u32>::with_capacity(1).unwrap();
    let mut c = tk::spawn_role_piped("zp_reuse_child", "keep_then_exit", &hex(&ctl.handle()));
    let mut out = BufReader::new(c.stdout.take().unwrap());
    let h = loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "child exited: {:?}", c.wait());
        if let Some(x) = line.trim().strip_prefix("handle ") {
            break rkyv::from_bytes::<ArrayHandle<u64>, Error>(&unhex(x)).unwrap();
        }
    };
    assert_eq!(h.read().unwrap().iter().sum::<u64>(), 5 * 1014); // mapped here now
    assert!(mapped_segments_of(c.id()) > 0);
    ctl.push(1).unwrap();
    assert!(tk::wait_timeout(&mut c, LIMIT).success());
    cache::evict_unused();
    assert_eq!(mapped_segments_of(c.id()), 0, "the exited owner's kept segment stays mapped");
}

#[test]
fn a_stale_handle_is_refused_as_dropped_not_as_owner_writing() {
    // A reader whose handle goes stale between its generation check (on attach) and its
    // state check found the kept segment in owner write mode: it was told OwnerWriting (the
    // owner is writing: try again) about an array that is gone.
    let (mut dropped, mut owner_writing) = (0, 0);
    for round in 0..300u64 {
        let a = SharedArray::from_slice(&[round; 1015]).unwrap();
        let h = a.handle();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let errors = std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut errors = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match h.read() {
                        Ok(x) => assert!(x.iter().all(|&v| v == round), "saw another array"),
                        Err(e) => errors.push(e),
                    }
                }
                errors
            });
            std::thread::sleep(Duration::from_micros(50));
            drop(a);
            // The next array of this shape takes the kept segment (if it was kept).
            let b = SharedArray::from_slice(&[u64::MAX; 1015]).unwrap();
            std::thread::sleep(Duration::from_micros(50));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let errors = reader.join().unwrap();
            drop(b);
            errors
        });
        for e in errors {
            match e {
                SharedError::Dropped => dropped += 1,
                SharedError::OwnerWriting => owner_writing += 1,
                // Not kept (the reader held its lease at the drop): the segment is gone
                // and this process's descriptor number may name another one by now.
                SharedError::Attach(_) => {}
                e => panic!("round {round}: {e:?}"),
            }
        }
    }
    assert!(dropped > 0, "never kept: the test needs a reuse");
    assert_eq!(owner_writing, 0, "a stale handle was told OwnerWriting ({dropped} Dropped)");
}

#[test]
fn a_limit_lowered_while_arrays_drop_is_kept_to() {
    assert!(output("limit_race", "").is_empty());
}

#[test]
fn threads_recycling_one_shape_while_the_limit_changes() {
    assert!(output("threads", "").is_empty());
}

#[test]
fn kept_segments_are_bounded_and_given_back_when_a_creation_fails() {
    assert!(output("bounds", "").is_empty());
}

#[test]
fn a_forked_childs_copy_of_a_dropped_array_does_not_see_the_next_one() {
    assert!(output("fork_inherit", "").is_empty());
}

#[test]
fn old_chunk_handles_in_another_process_never_write_a_later_array() {
    for attempt in 0.. {
        let mut a = SharedArray::<u64>::zeroed(1018).unwrap();
        let id = a.segment_id().clone();
        let chunks = a.chunks_mut(100).unwrap();
        let mut ctl = SharedVec::<u32>::with_capacity(1).unwrap();
        let mut w = spawn_until("chunk_hammer", &hex(&(chunks, ctl.handle())), "hammering");
        std::thread::sleep(Duration::from_millis(10));
        drop(a); // kept only if no chunk is claimed at this moment
        let mut reuses = 0;
        for round in 0..2_000u64 {
            let mut b = SharedArray::from_slice(&[round; 1018]).unwrap();
            reuses += usize::from(*b.segment_id() == id);
            assert!(b.as_slice().unwrap().iter().all(|&v| v == round), "round {round}");
            if round % 10 == 0 {
                // Splits of later arrays: their epochs follow the old one's.
                for c in b.chunks_mut(100).unwrap() {
                    c.write().unwrap().fill(round + 1);
                }
                assert!(b.as_slice().unwrap().iter().all(|&v| v == round + 1));
            }
        }
        ctl.push(1).unwrap();
        let st = tk::wait_timeout(&mut w, LIMIT);
        assert_eq!(st.code(), Some(0), "the hammer failed or was never refused: {st:?}");
        if reuses > 0 {
            return;
        }
        assert!(attempt < 50, "the segment was never kept in 50 attempts");
        cache::release_dropped();
    }
}
