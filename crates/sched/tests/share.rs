//! Read-only state for every job, on real worker processes: `initializer_with(f, args)`
//! and values archived once with `Pool::share`, read in place in the workers.

use std::sync::OnceLock;
use zeroproc_sched::{BuildError, Exit, JobError, Pool, Process, SharedValue};

zeroproc_sched::test_worker!();

static CONFIG: OnceLock<(u64, String)> = OnceLock::new();

fn setup(cfg: (u64, String)) {
    CONFIG.set(cfg).expect("the initializer runs once per worker");
}

fn configured(x: u64) -> (u64, String, u32) {
    let (k, s) = CONFIG.get().expect("initialized");
    (x * k, s.clone(), std::process::id())
}

#[test]
fn initializer_with_gives_every_worker_its_arguments_also_after_a_respawn() {
    // One worker, so that the job that kills it runs on it and every later job on its
    // successor. (With two, the test assumed the killing job would land on the worker of
    // the first job; placement goes by load and avoids the worker on the submitting
    // thread's CPU, so on a loaded host all jobs could run on the other worker: pids
    // {one pid}, 1 of ~70 runs.)
    let pool = Pool::builder()
        .workers(1)
        .initializer_with(setup, (3, "abc".to_string()))
        .build()
        .expect("pool");
    let (v, s, pid) = pool.submit(configured, 5).result().expect("job");
    assert_eq!((v, s.as_str()), (15, "abc"));
    // Kill that worker: its successor runs the initializer again, from the same segment.
    let died = pool.submit(|_: ()| -> u64 { std::process::abort() }, ()).result();
    assert!(matches!(died, Err(JobError::WorkerDied { .. })), "{died:?}");
    let mut pids = std::collections::HashSet::from([pid]);
    for i in 0..50 {
        let (v, s, pid) = pool.submit(configured, i).result().expect("job after respawn");
        assert_eq!((v, s.as_str()), (i * 3, "abc"));
        pids.insert(pid);
    }
    assert_eq!(pids.len(), 2, "the first worker and its successor: {pids:?}");
}

fn setup_panics(x: u64) {
    panic!("bad config {x}");
}

#[test]
fn a_panicking_initializer_with_fails_build() {
    let r = Pool::builder().workers(1).initializer_with(setup_panics, 7).build();
    assert!(matches!(r, Err(BuildError::Initializer { .. })), "{r:?}");
}

fn lookup((table, i): (SharedValue<Vec<u64>>, u64)) -> u64 {
    table.get().expect("shared table")[i as usize].to_native()
}

/// 8 MiB table, read by 2,000 jobs through a pool whose spill heap is 1 MiB: the table
/// never travels with a job (it could not: it is larger than the heap).
#[test]
fn a_shared_table_larger_than_the_spill_heap_is_read_by_every_job() {
    const N: u64 = 1 << 20; // 8 MiB of u64
    let pool = Pool::builder().workers(2).spill_heap(1 << 20).build().expect("pool");
    let table = pool.share(&(0..N).map(|x| x ^ 0x5555).collect::<Vec<u64>>()).expect("share");
    let items = (0..2000u64).map(|i| (table.clone(), (i * 7919) % N));
    for (i, r) in pool.map(lookup, items).enumerate() {
        let k = (i as u64 * 7919) % N;
        assert_eq!(r, Ok(k ^ 0x5555));
    }
    // Shipping the table instead is refused as too large for this pool.
    let shipped = pool.submit(|t: Vec<u64>| t.len() as u64, vec![0u64; N as usize]).result();
    assert!(matches!(shipped, Err(JobError::TooLarge { .. })), "{shipped:?}");
}

fn words_len((w, i): (SharedValue<Vec<String>>, u32)) {
    let w = w.get().expect("shared words");
    std::process::exit(w[i as usize].len() as i32)
}

#[test]
fn a_process_reads_a_shared_value() {
    let words = SharedValue::new(&vec!["a".to_string(), "four".into()]).expect("share");
    let mut p = Process::spawn(words_len, (words.clone(), 1)).expect("spawn");
    assert_eq!(p.join().expect("join"), Exit::Code(4));
}

/// The job's value and how many memfd mappings its worker has.
fn lookup_and_count_maps((table, i): (SharedValue<Vec<u64>>, u64)) -> (u64, usize) {
    let v = table.get().expect("shared table")[i as usize].to_native();
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    (v, maps.lines().filter(|l| l.contains("/memfd:")).count())
}

/// Every job gets its own deserialized handle; the worker's memfd mappings do not grow
/// with the jobs that read the value (no mapping per job is left behind; that one mapping
/// serves them all is the unit test `handles_that_travelled_map_the_value_once_per_process`).
#[test]
fn a_workers_mappings_do_not_grow_with_the_jobs_reading_a_shared_value() {
    let pool = Pool::builder().workers(1).build().expect("pool");
    let table = pool.share(&vec![7u64; 1 << 16]).expect("share");
    let (_, first) = pool.submit(lookup_and_count_maps, (table.clone(), 0)).result().unwrap();
    let items = (0..300u64).map(|i| (table.clone(), i));
    for r in pool.map(lookup_and_count_maps, items) {
        let (v, maps) = r.expect("job");
        assert_eq!(v, 7);
        assert_eq!(maps, first, "the worker's memfd mappings grew");
    }
}

/// A shared value's handle reports its segment to `zeroproc_mp::segment_refs::collect`
/// when archived (zeroproc-cluster learns from it that a job holds node-local memory).
#[test]
fn a_shared_value_reports_its_segment_when_archived() {
    let s = SharedValue::new(&vec![1u32, 2, 3]).unwrap();
    let (_, ids) = zeroproc_mp::segment_refs::collect(|| {
        rkyv::to_bytes::<rkyv::rancor::Error>(&(s.clone(), 7u64)).unwrap()
    });
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(ids[0].starts_with("memfd:") || ids[0].starts_with("shm:"), "{ids:?}");
}
