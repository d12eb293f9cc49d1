//! Bad input (issue #6, part 2): garbage written into LIVE segments — a pool's job
//! records, envelopes and ring indices, and a Queue's segment header, ring words and
//! payloads. Each case must give a clear error (or be ignored harmlessly) within a bound:
//! never a crash of the process that reads it, never a hang, never a wrong value.

mod reliability_common;

use reliability_common::RawPool;
use std::sync::Arc;
use std::time::Duration;
use zeroproc::queue::{CorruptError, GetTimeoutError, TryGetError};
use zeroproc::raw::ring::mpmc;
use zeroproc::raw::ring::spsc::RECORD_HEADER;
use zeroproc::raw::shm::{AttachError, Layout, Offset, Segment};
use zeroproc::{JobError, Pool, Queue, TrySubmitError};

zeroproc::test_worker!();

const BOUND: Duration = Duration::from_secs(10);

fn sleepy(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn text_len(s: String) -> usize {
    s.len()
}

/// A one-worker pool whose worker is busy for 300 ms, with `victim` queued behind it:
/// returns the pool, the raw view, the victim's record offset and the victim future.
fn queued_victim() -> (Pool, RawPool, usize, zeroproc::JobFuture<usize>) {
    let p = Pool::builder().workers(1).build().unwrap();
    let raw = RawPool::of(&p);
    let busy = p.submit(sleepy, 300);
    let t = std::time::Instant::now();
    while !busy.running() {
        assert!(t.elapsed() < BOUND);
        std::thread::yield_now();
    }
    let victim = p.submit(text_len, "a string long enough to live out of line".to_owned());
    let recs = raw.records(0);
    assert_eq!(recs.len(), 2, "busy job and victim queued");
    std::mem::forget(busy);
    (p, raw, recs[1], victim)
}

fn expect_decode_error(f: zeroproc::JobFuture<usize>, case: &str) -> String {
    match f.result_timeout(BOUND) {
        Ok(Err(JobError::Decode { message })) => message,
        Ok(r) => panic!("{case}: {r:?}"),
        Err(_) => panic!("{case}: no outcome within {BOUND:?} (hang)"),
    }
}

/// Garbage patterns over a queued job's archive: each is refused by validation (a clear
/// `Decode` error) or happens to be a valid archive of the argument type (then the job
/// runs on that value) — never a crash, a hang or another job's value.
#[test]
fn garbage_in_queued_job_arguments_is_a_decode_error() {
    let (mut decode, mut valid) = (Vec::new(), 0);
    for pattern in [0x00u8, 0x80, 0xff, 0x7f, 0x41] {
        let (p, raw, rec, victim) = queued_victim();
        // Record header 16 B, envelope header 16 B, then the archive.
        let len = u32::from_le_bytes(raw.bytes(rec, 4).try_into().unwrap()) as usize;
        raw.fill(rec + RECORD_HEADER + 16, len - 16, pattern);
        match victim.result_timeout(BOUND).expect("no hang") {
            Err(JobError::Decode { message }) => decode.push(format!("{pattern:#04x}:{message}")),
            Ok(n) => {
                assert!(n <= len, "{pattern:#x}: a string longer than its record: {n}");
                valid += 1;
            }
            r => panic!("{pattern:#x}: {r:?}"),
        }
        assert_eq!(p.submit(text_len, "ok".to_owned()).result(), Ok(2), "the pool serves on");
    }
    assert!(!decode.is_empty(), "some garbage is refused by validation");
    println!(
        "RELIABILITY bad_input case=pool_job_archive patterns=5 decode_error={} \
         valid_archive={valid} ({}) pool_ok=yes",
        decode.len(),
        decode.join("; ")
    );
}

#[test]
fn garbage_in_a_queued_job_envelope_header_is_a_decode_error() {
    let (p, raw, rec, victim) = queued_victim();
    raw.write(rec + RECORD_HEADER, &[0xde, 0xad, 0xbe, 0xef]);
    let m = expect_decode_error(victim, "envelope magic");
    assert_eq!(p.submit(text_len, "ok".to_owned()).result(), Ok(2));
    println!("RELIABILITY bad_input case=pool_envelope_magic outcome=Decode({m:?}) pool_ok=yes");
}

/// The pool segment's header is overwritten, then its worker dies: the respawned worker
/// refuses to attach (exit 92) and, after the start-failure limit, the slot's queued
/// jobs fail with that exit code instead of waiting forever.
#[test]
fn garbage_in_the_pool_segment_header_fails_jobs_clearly() {
    let p = Pool::builder().workers(1).build().unwrap();
    let raw = RawPool::of(&p);
    let busy = p.submit(sleepy, 200);
    let queued = p.submit(sleepy, 1);
    let t = std::time::Instant::now();
    while !busy.running() {
        assert!(t.elapsed() < BOUND);
        std::thread::yield_now();
    }
    raw.set_u64(0, u64::from_le_bytes(*b"GARBAGE!")); // the segment magic
    let pid = p.stats().workers[0].pid;
    // SAFETY: plain kill(2) of our own worker.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let b = busy.result_timeout(BOUND).expect("no hang");
    assert_eq!(b, Err(JobError::WorkerDied { signal: Some(libc::SIGKILL), exit_code: None }));
    let r = queued.result_timeout(BOUND).expect("no hang");
    assert_eq!(r, Err(JobError::WorkerDied { signal: None, exit_code: Some(92) }));
    println!("RELIABILITY bad_input case=pool_segment_magic outcome={r:?} no_hang=yes");
}

/// A retired one-worker pool refuses new jobs clearly instead of queueing them forever.
fn assert_no_workers(p: &Pool, case: &str) {
    let r = p.submit(text_len, "after".to_owned()).result_timeout(BOUND).expect("no hang");
    assert_eq!(r, Err(JobError::NoWorkers), "{case}: a new job");
    let t = p.try_submit(text_len, "after".to_owned());
    assert!(matches!(t, Err(TrySubmitError::NoWorkers(_))), "{case}: {t:?}");
}

/// A corrupt record header in a worker's submission ring: the worker reports it (state
/// word + exit code 95) instead of exiting 0, and the supervisor retires the slot — its
/// queued jobs fail with a clear `Decode` error, it is not respawned onto the same rings
/// (formerly: respawned every 5 ms forever, futures never resolved).
#[test]
fn garbage_in_a_submission_ring_record_header_resolves_the_jobs() {
    let (p, raw, rec, victim) = queued_victim();
    let respawns = p.stats().workers[0].respawns;
    raw.set_u64(rec, 0x1234_5678_9abc_def0); // len + mark|kind
    let m = expect_decode_error(victim, "submission ring header");
    assert!(m.contains("submission ring corrupt"), "{m}");
    std::thread::sleep(Duration::from_millis(50)); // ten supervisor ticks
    assert_eq!(p.stats().workers[0].respawns, respawns, "not respawned onto corrupt rings");
    assert_no_workers(&p, "submission ring");
    println!("RELIABILITY bad_input case=pool_submission_ring outcome=Decode({m:?}) respawns=0");
}

/// A corrupt completion ring (a garbage header where the next completion goes, as a
/// hostile or broken worker could write it): the controller's drain sees `Corrupt`, kills
/// the worker and retires the slot; the owed jobs fail with a clear `Decode` error
/// (formerly: they never resolved). (Until ring version 2 the garbage was a tail moved
/// out of range; the consumer no longer reads the tail.)
#[test]
fn garbage_in_a_completion_ring_header_resolves_the_jobs() {
    let p = Pool::builder().workers(1).build().unwrap();
    let raw = RawPool::of(&p);
    let f = p.submit(sleepy, 200);
    let queued = p.submit(sleepy, 1);
    raw.set_u64(raw.next_record(1), 0x1234_5678_9abc_def0); // len + a bad mark|kind
    let r = f.result_timeout(BOUND).expect("no hang");
    let q = queued.result_timeout(BOUND).expect("no hang");
    for r in [&r, &q] {
        assert!(
            matches!(r, Err(JobError::Decode { message }) if message.contains("completion ring corrupt")),
            "{r:?}"
        );
    }
    assert_no_workers(&p, "completion ring");
    println!("RELIABILITY bad_input case=pool_completion_ring outcome={r:?}");
}

/// With two workers, a retired slot leaves the pool serving on the other one.
#[test]
fn a_retired_slot_leaves_the_other_workers_serving() {
    let p = Pool::builder().workers(2).build().unwrap();
    let raw = RawPool::of(&p);
    // Worker 0's completion ring (rings: sub 0, comp 0, sub 1, comp 1).
    let busy: Vec<_> = (0..2).map(|_| p.submit(sleepy, 200)).collect();
    raw.set_u64(raw.next_record(1), 0x1234_5678_9abc_def0); // len + a bad mark|kind
    let outcomes: Vec<_> =
        busy.into_iter().map(|f| f.result_timeout(BOUND).expect("no hang")).collect();
    assert!(outcomes.iter().any(|r| matches!(r, Err(JobError::Decode { .. }))), "{outcomes:?}");
    assert!(outcomes.contains(&Ok(200)), "{outcomes:?}");
    for i in 0..20u64 {
        let r = p.submit(sleepy, i % 2).result_timeout(BOUND).expect("no hang");
        assert_eq!(r, Ok(i % 2), "job {i}");
    }
    println!("RELIABILITY bad_input case=pool_retired_slot other_worker_serves=yes");
}

// --- a live Queue ----------------------------------------------------------------------

/// The queue's segment attached behind its back (channel header: 1408 bytes, align 128;
/// the MPMC ring right after it, as in crates/codec/tests/channel_queue.rs).
fn channel_layout() -> Layout {
    #[repr(C, align(128))]
    struct HeaderShape([u8; 1408]);
    Layout::new("zeroproc-channel", 5).with_type::<HeaderShape>()
}

fn queue_segment(q: &Queue<String>) -> Arc<Segment> {
    let id = q.handle().segment_id().parse().unwrap();
    Arc::new(Segment::attach(&id, channel_layout()).unwrap())
}

fn word(seg: &Segment, off: u64) -> &std::sync::atomic::AtomicU64 {
    let p = seg.resolve(Offset::<std::sync::atomic::AtomicU64>::new(off), 1).unwrap();
    // SAFETY: in bounds and aligned (checked by resolve); atomics are valid for any bits.
    unsafe { p.as_ref() }
}

/// Every field of a live queue's segment header overwritten in turn: a new attach is
/// refused with the matching error while the queue's existing users carry on.
#[test]
fn garbage_in_a_live_queue_segment_header_is_refused_at_attach() {
    let q = Queue::<String>::new(8).unwrap();
    q.put("before".into()).unwrap();
    let seg = queue_segment(&q);
    let id = q.handle().segment_id().parse().unwrap();
    // (offset, what it holds) per zeroproc-shm's segment header.
    let mut refused = Vec::new();
    for (off, field) in [(0u64, "magic"), (8, "header version"), (16, "total len"), (24, "token")] {
        let w = word(&seg, off);
        let keep = w.load(std::sync::atomic::Ordering::Relaxed);
        w.store(keep ^ 0x0101_0101_0101_0101, std::sync::atomic::Ordering::Relaxed);
        let e = Segment::attach(&id, channel_layout()).expect_err(field);
        assert!(
            matches!(
                e,
                AttachError::Foreign
                    | AttachError::HeaderVersion { .. }
                    | AttachError::Truncated { .. }
                    | AttachError::Token
                    | AttachError::Layout { .. }
            ),
            "{field}: {e:?}"
        );
        refused.push(format!("{field}:{e}"));
        w.store(keep, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(q.get_timeout(BOUND).unwrap(), "before", "{field}: users carry on");
        q.put("before".into()).unwrap();
    }
    // The layout name/hash area (bytes 32..) garbled.
    let w = word(&seg, 32);
    let keep = w.load(std::sync::atomic::Ordering::Relaxed);
    w.store(!keep, std::sync::atomic::Ordering::Relaxed);
    let e = Segment::attach(&id, channel_layout()).expect_err("layout");
    assert!(matches!(e, AttachError::Layout { .. }), "{e:?}");
    refused.push(format!("layout name:{e}"));
    w.store(keep, std::sync::atomic::Ordering::Relaxed);
    assert!(Segment::attach(&id, channel_layout()).is_ok(), "restored");
    println!(
        "RELIABILITY bad_input case=queue_segment_header fields=5 refused=5 ({})",
        refused.join("; ")
    );
}

/// Garbage in a live queue's MPMC ring: slot state words, slot lengths, the head/tail
/// hints and payload bytes. Gets and puts return values, `Corrupt` or time out — within
/// a bound, without a crash — and the queue keeps carrying intact values.
#[test]
fn garbage_in_a_live_queue_ring_and_payloads_is_reported() {
    let q = Queue::<String>::new(8).unwrap();
    let seg = queue_segment(&q);
    let ring = mpmc::Ring::attach(seg.clone(), Offset::new(256 + 1408)).unwrap();
    let mut outcomes = Vec::new();
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    // Payload bytes of a queued value.
    q.put("payload to be damaged, long enough".into()).unwrap();
    let (_, len) = ring.slot_word_offsets(0);
    let payload = len + 8;
    for i in 0..6 {
        let w = word(&seg, payload + 8 * i);
        w.store(w.load(relaxed) ^ 0xa5a5_a5a5_a5a5_a5a5, relaxed);
    }
    match q.get_timeout(BOUND) {
        Err(GetTimeoutError::Corrupt(CorruptError::Decode(e))) => {
            outcomes.push(format!("payload:{e}"))
        }
        r => panic!("payload garbage: {r:?}"),
    }
    // A slot length larger than the slot.
    q.put("x".into()).unwrap();
    let (_, len1) = ring.slot_word_offsets(1);
    word(&seg, len1).store(u64::MAX, relaxed);
    match q.try_get() {
        Err(TryGetError::Corrupt(c)) => outcomes.push(format!("slot_len:{c}")),
        r => panic!("slot len garbage: {r:?}"),
    }
    // A slot state word that is no state the protocol writes.
    q.put("y".into()).unwrap();
    let (state2, _) = ring.slot_word_offsets(2);
    word(&seg, state2).store(0xdead_beef_dead_beef, relaxed);
    let r = q.get_timeout(Duration::from_millis(500));
    outcomes.push(format!("slot_state:{r:?}"));
    assert!(
        !matches!(r, Ok(ref v) if v != "y"),
        "a damaged slot never yields another value: {r:?}"
    );
    // Head and tail hints (the ring control block: tail at +128, head at +256).
    let ctl = 256 + 1408;
    word(&seg, ctl + 128).store(u64::MAX - 5, relaxed);
    word(&seg, ctl + 256).store(12345, relaxed);
    let put = q.put_timeout("z".into(), Duration::from_millis(500));
    let got = q.get_timeout(Duration::from_millis(500));
    outcomes.push(format!("hints: put={:?} get={got:?}", put.as_ref().map_err(|e| e.to_string())));
    assert!(!matches!(got, Ok(ref v) if v != "z" && v != "y"), "no foreign value: {got:?}");
    println!("RELIABILITY bad_input case=queue_ring outcomes=[{}]", outcomes.join(" | "));
}
