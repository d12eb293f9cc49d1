//! SharedArray across real processes: children writing disjoint chunks, a duplicated chunk
//! handle refused in another process, a SIGKILLed writer's chunk claimed again, reading
//! refused until every chunk is done, and a killed reader not blocking the owner.
//! Handles travel to the children rkyv-encoded, as job arguments do.

use rkyv::rancor::Error;
use std::process::Child;
use std::time::Duration;
use zeroproc_mp::shared::{cache, ArrayHandle, ChunkMut, SharedError, VecHandle};
use zeroproc_mp::{SharedArray, SharedVec};
use zeroproc_testkit as tk;
use zeroproc_testkit::{to_hex as hex, unhex};

const LIMIT: Duration = Duration::from_secs(60);

fn value(i: usize) -> u64 {
    i as u64 * 7 + 1
}

fn fill(c: &ChunkMut<u64>) {
    let mut g = c.write().unwrap();
    let r = g.range();
    for (x, i) in g.iter_mut().zip(r) {
        *x = value(i);
    }
}

#[test]
fn zp_shared_child() {
    tk::child_entry(|role, arg| {
        let b = unhex(arg);
        match role {
            "write" => fill(&rkyv::from_bytes::<ChunkMut<u64>, Error>(&b).unwrap()),
            "hold" => {
                let (c, ctl) =
                    rkyv::from_bytes::<(ChunkMut<u64>, VecHandle<u32>), Error>(&b).unwrap();
                let mut g = c.write().unwrap();
                println!("claimed {}", std::process::id());
                while ctl.read().unwrap().is_empty() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let r = g.range();
                for (x, i) in g.iter_mut().zip(r) {
                    *x = value(i);
                }
            }
            "expect_busy" => {
                let c = rkyv::from_bytes::<ChunkMut<u64>, Error>(&b).unwrap();
                let r = c.write();
                assert!(
                    matches!(r, Err(SharedError::ChunkBusy { pid }) if pid != std::process::id()),
                    "{r:?}"
                );
            }
            "read_refused" => {
                let h = rkyv::from_bytes::<ArrayHandle<u64>, Error>(&b).unwrap();
                let r = h.read();
                assert!(matches!(r, Err(SharedError::SplitInProgress { .. })), "{r:?}");
            }
            "read_check" => {
                let h = rkyv::from_bytes::<ArrayHandle<u64>, Error>(&b).unwrap();
                for _ in 0..100 {
                    let x = h.read().unwrap();
                    assert!(x.iter().enumerate().all(|(i, &v)| v == value(i)));
                }
                assert_eq!(cache::cached(), 1, "mapped once for 100 reads");
            }
            "lease_hold" => {
                let h = rkyv::from_bytes::<ArrayHandle<u64>, Error>(&b).unwrap();
                let _g = h.read().unwrap();
                println!("leased");
                std::thread::sleep(LIMIT);
            }
            "owner_writing" => {
                let mut a = SharedArray::<u64>::zeroed(100).unwrap();
                println!("handle {}", hex(&a.handle()));
                let _g = a.write().unwrap();
                println!("writing");
                std::thread::sleep(LIMIT);
            }
            _ => panic!("unknown role {role}"),
        }
    });
}

fn run(role: &str, arg: &str) {
    let mut c = tk::spawn_role("zp_shared_child", role, arg);
    let st = tk::wait_timeout(&mut c, LIMIT);
    assert!(st.success(), "{role}: {st:?}");
}

fn spawn_until(role: &str, arg: &str, word: &str) -> Child {
    tk::spawn_until("zp_shared_child", role, arg, word)
}

fn check_all(a: &SharedArray<u64>) {
    assert!(a.as_slice().unwrap().iter().enumerate().all(|(i, &v)| v == value(i)));
}

#[test]
fn two_children_write_disjoint_chunks() {
    let mut a = SharedArray::<u64>::zeroed(1_000_000).unwrap();
    let chunks = a.chunks_mut(500_000).unwrap();
    let mut kids: Vec<Child> =
        chunks.iter().map(|c| tk::spawn_role("zp_shared_child", "write", &hex(c))).collect();
    for k in &mut kids {
        assert!(tk::wait_timeout(k, LIMIT).success());
    }
    a.wait_chunks(Duration::from_secs(5)).unwrap();
    check_all(&a);
    run("read_check", &hex(&a.handle()));
}

#[test]
fn a_duplicated_chunk_handle_is_refused_in_another_process() {
    let mut a = SharedArray::<u64>::zeroed(1000).unwrap();
    let mut ctl = SharedVec::<u32>::with_capacity(1).unwrap();
    let chunks = a.chunks_mut(500).unwrap();
    let mut holder = spawn_until("hold", &hex(&(chunks[0].clone(), ctl.handle())), "claimed");
    // The holder's claim is live: no second writer anywhere, no reader anywhere.
    let r = chunks[0].write();
    assert!(matches!(r, Err(SharedError::ChunkBusy { pid }) if pid == holder.id()), "{r:?}");
    run("expect_busy", &hex(&chunks[0]));
    run("read_refused", &hex(&a.handle()));
    assert!(matches!(a.as_slice(), Err(SharedError::SplitInProgress { pending: 2 })));
    fill(&chunks[1]);
    ctl.push(1).unwrap(); // let the holder finish
    assert!(tk::wait_timeout(&mut holder, LIMIT).success());
    a.wait_chunks(Duration::from_secs(5)).unwrap();
    check_all(&a);
    assert!(matches!(chunks[0].write(), Err(SharedError::ChunkDone)));
}

#[test]
fn a_sigkilled_writers_chunk_can_be_claimed_again() {
    let mut a = SharedArray::<u64>::zeroed(1000).unwrap();
    let ctl = SharedVec::<u32>::with_capacity(1).unwrap(); // never pushed: holds forever
    let chunks = a.chunks_mut(400).unwrap();
    let mut holder = spawn_until("hold", &hex(&(chunks[1].clone(), ctl.handle())), "claimed");
    fill(&chunks[0]);
    fill(&chunks[2]);
    tk::sigkill(&holder);
    holder.wait().unwrap();
    // The dead writer's chunk is not done...
    assert!(matches!(
        a.wait_chunks(Duration::from_millis(50)),
        Err(SharedError::Timeout { pending: 1 })
    ));
    // ...but anyone may claim it again, in another process or here.
    run("write", &hex(&chunks[1]));
    a.wait_chunks(Duration::from_secs(5)).unwrap();
    check_all(&a);
}

#[test]
fn a_killed_writer_or_reader_does_not_block_the_owner() {
    let mut a = SharedArray::<u64>::zeroed(100).unwrap();
    // A writer killed mid-chunk: the owner abandons the split instead of waiting.
    let ctl = SharedVec::<u32>::with_capacity(1).unwrap();
    let chunks = a.chunks_mut(50).unwrap();
    let mut w = spawn_until("hold", &hex(&(chunks[0].clone(), ctl.handle())), "claimed");
    assert!(matches!(a.abandon_chunks(), Err(SharedError::ChunkBusy { .. })));
    tk::sigkill(&w);
    w.wait().unwrap();
    a.abandon_chunks().unwrap();
    assert!(matches!(chunks[0].write(), Err(SharedError::ChunkAbandoned)));
    // A reader killed while holding its lease.
    let mut r = spawn_until("lease_hold", &hex(&a.handle()), "leased");
    let e = a.chunks_mut(10);
    assert!(matches!(e, Err(SharedError::ReadersActive { pid }) if pid == r.id()), "{e:?}");
    tk::sigkill(&r);
    r.wait().unwrap();
    for c in a.chunks_mut(10).unwrap() {
        fill(&c);
    }
    check_all(&a);
}

#[test]
fn an_owner_killed_while_writing_is_reported_not_retried_for_ever() {
    // The owner enters its write mode and is SIGKILLed there. Readers were told
    // `OwnerWriting` ("read after it is dropped": try again) for ever, as the state never
    // leaves the owner's write mode; a reader that retried hung.
    use std::io::{BufRead, BufReader};
    let mut owner = tk::spawn_role_piped("zp_shared_child", "owner_writing", "");
    let mut lines = BufReader::new(owner.stdout.take().unwrap()).lines();
    // The next line of the owner's that starts with `word` (libtest prints some first).
    let mut until = |word: &str| loop {
        let l = lines.next().expect("owner output").unwrap();
        if let Some(rest) = l.strip_prefix(word) {
            break rest.to_string();
        }
    };
    let h = rkyv::from_bytes::<ArrayHandle<u64>, Error>(&unhex(&until("handle "))).unwrap();
    until("writing");
    let r = h.read(); // maps the array here (cached) while its owner lives
    assert!(matches!(r, Err(SharedError::OwnerWriting)), "{r:?}");
    tk::sigkill(&owner);
    owner.wait().unwrap();
    let r = h.read();
    assert!(
        matches!(r, Err(SharedError::OwnerDied { pid }) if pid == owner.id()),
        "a dead owner's write mode: {r:?}"
    );
    assert!(r.unwrap_err().to_string().contains("was killed"), "the message says why");
}
