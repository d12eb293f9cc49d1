//! Cross-process tests of the MPMC ring with real processes (the test binary re-executed
//! in a role, see `zeroproc_testkit`). Meant for release mode:
//! `cargo test -p zeroproc-ring --release --test mpmc_process -- --nocapture`.
//!
//! * 2 producer and 2 consumer processes, ≥ 2M records of varied sizes, each carrying
//!   (producer id, seq, checksum): every record received exactly once, per-producer order
//!   preserved per consumer.
//! * Consumers SIGKILLed at random points of the stream (and one killed while provably
//!   holding a record): the others continue; the lost records are at most one per kill, and
//!   each identified one is exactly the record the killed consumer held.
//! * Producers SIGKILLed at random points (and one killed while provably mid-write): no
//!   hang, tombstones skipped, and each killed producer's records arrive as a gap-free
//!   prefix covering every push that returned.
//!
//! Results are collected in a second shared segment (the "board"): one counter per
//! record, each producer's number of completed pushes, each consumer's record in hand.
#![cfg(not(loom))]

use std::process::Child;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroproc_ring::mpmc::{Descriptor, PopError, Ring};
use zeroproc_shm::{Layout, Offset, Segment, SegmentId, HEADER_SIZE};
use zeroproc_testkit as tk;

const ENTRY: &str = "zp_child_entry";
const BOARD: Layout = Layout::new("mpmc-test-board", 1);
const MAX_PRODUCERS: u64 = 16;
const MAX_CONSUMERS: u64 = 32;
const SLOT: usize = 64;
/// Producer id of the records the parent itself pushes at the end of a run.
const SENTINEL: u64 = MAX_PRODUCERS - 1;
/// Records are at least this long: p (4) | seq (8) | checksum (8).
const HEAD: usize = 20;

/// Process tests share two vCPUs: run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------- records

fn checksum(head: &[u8], tail: &[u8]) -> u64 {
    // FNV-1a.
    head.iter()
        .chain(tail)
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

fn record_len(p: u64, seq: u64) -> usize {
    HEAD + ((seq.wrapping_mul(7) + p) % (SLOT - HEAD + 1) as u64) as usize
}

fn encode(p: u64, seq: u64, buf: &mut [u8]) {
    buf[..4].copy_from_slice(&(p as u32).to_le_bytes());
    buf[4..12].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in buf[HEAD..].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_add(i as u8).wrapping_mul(31) ^ p as u8;
    }
    let sum = checksum(&buf[..12], &buf[HEAD..]);
    buf[12..HEAD].copy_from_slice(&sum.to_le_bytes());
}

/// (producer, seq) as a record claims them, unverified.
fn peek(buf: &[u8]) -> Option<(u64, u64)> {
    if buf.len() < HEAD {
        return None;
    }
    let p = u32::from_le_bytes(buf[..4].try_into().unwrap()) as u64;
    let seq = u64::from_le_bytes(buf[4..12].try_into().unwrap());
    (p < MAX_PRODUCERS && seq < 1 << 40).then_some((p, seq))
}

/// (producer, seq) of a well-formed record, or None.
fn decode(buf: &[u8]) -> Option<(u64, u64)> {
    let (p, seq) = peek(buf)?;
    let sum = u64::from_le_bytes(buf[12..HEAD].try_into().unwrap());
    let ok = sum == checksum(&buf[..12], &buf[HEAD..]) && buf.len() == record_len(p, seq);
    ok.then_some((p, seq))
}

/// A record's code in a consumer's "in hand" word (0 = nothing).
fn code(p: u64, seq: u64) -> u64 {
    ((p << 40) | seq) + 1
}

fn uncode(c: u64) -> (u64, u64) {
    ((c - 1) >> 40, (c - 1) & ((1 << 40) - 1))
}

// ---------------------------------------------------------------- the board

/// Shared results: misc words, per-producer pushes done, per-consumer record in hand and
/// count, then one counter byte per (producer, seq).
struct Board {
    seg: Segment,
    n: u64,
}

const MISC_ERRORS: u64 = 0;
const MISC_HOLDING: u64 = 1;

impl Board {
    fn size(n: u64) -> usize {
        (8 * (8 + MAX_PRODUCERS + 2 * MAX_CONSUMERS) + MAX_PRODUCERS * n) as usize
    }

    fn create(n: u64) -> Board {
        Board { seg: Segment::create(BOARD, Board::size(n)).unwrap(), n }
    }

    fn attach(id: &str, n: u64) -> Board {
        let id: SegmentId = id.parse().unwrap();
        Board { seg: Segment::attach(&id, BOARD).unwrap(), n }
    }

    fn word(&self, i: u64) -> &AtomicU64 {
        let p = self.seg.resolve(Offset::<AtomicU64>::new(HEADER_SIZE as u64 + 8 * i), 1);
        // SAFETY: in bounds and aligned (checked by `resolve`); zero-initialised atomics.
        unsafe { p.unwrap().as_ref() }
    }

    fn misc(&self, i: u64) -> &AtomicU64 {
        self.word(i)
    }

    /// Pushes completed (returned Ok) by producer `p`.
    fn pushed(&self, p: u64) -> &AtomicU64 {
        self.word(8 + p)
    }

    fn in_hand(&self, c: u64) -> &AtomicU64 {
        self.word(8 + MAX_PRODUCERS + c)
    }

    fn received(&self, c: u64) -> &AtomicU64 {
        self.word(8 + MAX_PRODUCERS + MAX_CONSUMERS + c)
    }

    fn count(&self, p: u64, seq: u64) -> &AtomicU8 {
        assert!(p < MAX_PRODUCERS && seq < self.n);
        let base = HEADER_SIZE as u64 + 8 * (8 + MAX_PRODUCERS + 2 * MAX_CONSUMERS);
        let p = self.seg.resolve(Offset::<AtomicU8>::new(base + p * self.n + seq), 1);
        // SAFETY: in bounds (checked by `resolve`); zero-initialised atomics.
        unsafe { p.unwrap().as_ref() }
    }

    fn error(&self, msg: std::fmt::Arguments<'_>) {
        // Relaxed: a counter read by the parent after the children exited.
        if self.misc(MISC_ERRORS).fetch_add(1, Ordering::Relaxed) < 10 {
            eprintln!("mpmc_process error: {msg}");
        }
    }
}

// ---------------------------------------------------------------- child roles

/// `arg` = "RING-DESCRIPTOR BOARD-ID N INDEX [HOLD-AT]".
struct Args {
    ring: Ring,
    board: Board,
    index: u64,
    extra: u64,
}

fn parse(arg: &str) -> Args {
    let v: Vec<&str> = arg.split(' ').collect();
    let desc: Descriptor = v[0].parse().unwrap();
    let n = v[2].parse().unwrap();
    Args {
        ring: Ring::open(&desc).unwrap(),
        board: Board::attach(v[1], n),
        index: v[3].parse().unwrap(),
        extra: v.get(4).map_or(0, |x| x.parse().unwrap()),
    }
}

#[test]
fn zp_child_entry() {
    tk::child_entry(|role, arg| {
        let a = parse(arg);
        match role {
            "producer" => producer(&a, false),
            "hold_producer" => producer(&a, true),
            "consumer" => consumer(&a, false),
            "hold_consumer" => consumer(&a, true),
            _ => panic!("unknown role {role}"),
        }
    });
}

/// Pushes records 0..n as producer `index` (alternating in-place and copy pushes). With
/// `hold`, stops forever in the middle of writing record `extra`, flagging it on the board.
fn producer(a: &Args, hold: bool) {
    let (p, b) = (a.index, &a.board);
    let mut buf = [0u8; SLOT];
    for seq in 0..b.n {
        let len = record_len(p, seq);
        if hold && seq == a.extra {
            let _ = a.ring.push_with(len, |w| {
                encode(p, seq, &mut w[..]);
                w[..len / 2].fill(0xee); // half written
                                         // Release: the parent's Acquire poll sees the flag after the claim.
                b.misc(MISC_HOLDING).store(1, Ordering::Release);
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
        }
        if seq % 2 == 0 {
            a.ring.push_with(len, |w| encode(p, seq, w)).unwrap();
        } else {
            encode(p, seq, &mut buf[..len]);
            a.ring.push(&buf[..len]).unwrap();
        }
        // Release: the parent reads it after this process exited or was reaped.
        b.pushed(p).store(seq + 1, Ordering::Release);
    }
}

/// Pops until the ring is closed and drained, as consumer `index`: checks each record,
/// counts it, and checks per-producer order. With `hold`, stops forever while holding the
/// first record it pops, flagging it on the board.
fn consumer(a: &Args, hold: bool) {
    let (c, b) = (a.index, &a.board);
    let mut last = vec![None::<u64>; MAX_PRODUCERS as usize];
    loop {
        let r = a.ring.pop_with(|buf| {
            // First note what we hold (before verifying it), to keep the window between
            // the claim and this store small.
            if let Some((p, seq)) = peek(buf) {
                // Relaxed (all board words): read by the parent after this process is gone.
                b.in_hand(c).store(code(p, seq), Ordering::Relaxed);
            }
            let Some((p, seq)) = decode(buf) else {
                b.error(format_args!("consumer {c}: malformed record of {} bytes", buf.len()));
                return;
            };
            if hold {
                b.misc(MISC_HOLDING).store(1, Ordering::Release);
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            b.count(p, seq).fetch_add(1, Ordering::Relaxed);
            let l = &mut last[p as usize];
            if l.is_some_and(|l| l >= seq) {
                b.error(format_args!("consumer {c}: producer {p} seq {seq} after {l:?}"));
            }
            *l = Some(seq);
            b.received(c).fetch_add(1, Ordering::Relaxed);
            b.in_hand(c).store(0, Ordering::Relaxed);
        });
        match r {
            Ok(()) => {}
            Err(PopError::Closed) => return,
            Err(e) => b.error(format_args!("consumer {c}: {e}")),
        }
    }
}

// ---------------------------------------------------------------- parent side

struct Run {
    ring: Ring,
    board: Board,
}

impl Run {
    fn new(n: u64) -> Run {
        Run { ring: Ring::new(256, SLOT).unwrap(), board: Board::create(n) }
    }

    fn spawn(&self, role: &str, index: u64, extra: u64) -> Child {
        let arg = format!(
            "{} {} {} {index} {extra}",
            self.ring.descriptor(),
            self.board.seg.id(),
            self.board.n
        );
        tk::spawn_role(ENTRY, role, &arg)
    }

    fn received(&self) -> u64 {
        (0..MAX_CONSUMERS).map(|c| self.board.received(c).load(Ordering::Relaxed)).sum()
    }

    fn wait_holding(&self) {
        let t = Instant::now();
        // Acquire: pairs with the child's Release store of the flag.
        while self.board.misc(MISC_HOLDING).swap(0, Ordering::Acquire) == 0 {
            assert!(t.elapsed() < Duration::from_secs(60), "child never got to hold a slot");
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn errors(&self) -> u64 {
        self.board.misc(MISC_ERRORS).load(Ordering::Relaxed)
    }
}

/// SIGKILLs a child and reaps it at once: until reaped, a zombie still "exists" for
/// `kill(pid, 0)` and its claims would not be recovered.
fn kill(mut c: Child) {
    tk::sigkill(&c);
    c.wait().unwrap();
}

fn finish(mut c: Child, what: &str) {
    let st = tk::wait_timeout(&mut c, Duration::from_secs(600));
    assert!(st.success(), "{what} exited with {st}");
}

/// A small xorshift generator seeded from the clock (the seed is printed).
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
                as u64
                | 1;
        println!("rng seed {seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn scale(release: u64, debug: u64) -> u64 {
    if cfg!(debug_assertions) {
        debug
    } else {
        release
    }
}

#[test]
fn two_producers_two_consumers_exactly_once_in_order() {
    let _s = serial();
    let n = scale(1_000_000, 50_000);
    let run = Run::new(n);
    let t = Instant::now();
    let consumers: Vec<_> = (0..2).map(|c| run.spawn("consumer", c, 0)).collect();
    let producers: Vec<_> = (0..2).map(|p| run.spawn("producer", p, 0)).collect();
    for p in producers {
        finish(p, "producer");
    }
    run.ring.close();
    for c in consumers {
        finish(c, "consumer");
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(run.errors(), 0, "consumers reported errors (see stderr)");
    let mut bad = Vec::new();
    for p in 0..2 {
        for seq in 0..n {
            let k = run.board.count(p, seq).load(Ordering::Relaxed);
            if k != 1 && bad.len() < 10 {
                bad.push((p, seq, k));
            }
        }
    }
    assert!(bad.is_empty(), "records not received exactly once: {bad:?}");
    assert_eq!(run.received(), 2 * n);
    let per: Vec<_> = (0..2).map(|c| run.board.received(c).load(Ordering::Relaxed)).collect();
    println!(
        "exactly once: {} records through 2+2 processes in {secs:.2} s; per consumer {per:?}; {:?}",
        2 * n,
        run.ring.stats()
    );
}

#[test]
fn killed_consumers_lose_at_most_the_record_they_held() {
    let _s = serial();
    let n = scale(600_000, 30_000);
    let kills = 6u64;
    let run = Run::new(n);
    let mut rng = Rng::new();
    let mut killed: Vec<u64> = Vec::new(); // consumer indices
                                           // First, a consumer killed while it provably holds a record (the first it pops).
    let holder = 0;
    let h = run.spawn("hold_consumer", holder, 0);
    let producers: Vec<_> = (0..2).map(|p| run.spawn("producer", p, 0)).collect();
    run.wait_holding();
    kill(h);
    killed.push(holder);
    let held = run.board.in_hand(holder).load(Ordering::Relaxed);
    assert_ne!(held, 0);
    let mut next_c = 1u64;
    let mut live: Vec<(u64, Child)> = Vec::new();
    for _ in 0..2 {
        live.push((next_c, run.spawn("consumer", next_c, 0)));
        next_c += 1;
    }
    // Then consumers killed at random points of the stream (by records received).
    let mut points: Vec<u64> = (0..kills).map(|_| rng.below(2 * n * 8 / 10)).collect();
    points.sort_unstable();
    for &at in &points {
        let t = Instant::now();
        while run.received() < at {
            assert!(t.elapsed() < Duration::from_secs(300), "stream stalled at {at}");
            std::thread::sleep(Duration::from_micros(100));
        }
        let (c, child) = live.remove(rng.below(live.len() as u64) as usize);
        kill(child);
        killed.push(c);
        live.push((next_c, run.spawn("consumer", next_c, 0)));
        next_c += 1;
    }
    for p in producers {
        finish(p, "producer");
    }
    // One more lap of records from this process: its pushes pass every slot, so a slot
    // still held by a dead consumer is recovered now and the accounting below is exact.
    for seq in 0..run.ring.capacity() as u64 {
        let mut buf = [0u8; SLOT];
        let len = record_len(SENTINEL, seq);
        encode(SENTINEL, seq, &mut buf[..len]);
        run.ring.push(&buf[..len]).unwrap();
    }
    run.ring.close();
    for (_, c) in live {
        finish(c, "consumer");
    }
    assert_eq!(run.errors(), 0, "consumers reported errors (see stderr)");
    assert!(next_c <= MAX_CONSUMERS);

    let mut lost = Vec::new();
    for p in 0..2 {
        for seq in 0..n {
            match run.board.count(p, seq).load(Ordering::Relaxed) {
                1 => {}
                0 => lost.push(code(p, seq)),
                k => panic!("record ({p}, {seq}) received {k} times"),
            }
        }
    }
    let in_hand: Vec<u64> =
        killed.iter().map(|&c| run.board.in_hand(c).load(Ordering::Relaxed)).collect();
    let identified: Vec<_> = lost.iter().filter(|r| in_hand.contains(r)).collect();
    let unexplained = lost.len() - identified.len();
    let empty_handed = in_hand.iter().filter(|&&c| c == 0).count();
    println!(
        "consumer kills: {} (1 holding + {} random); lost {} record(s): {:?}; identified as \
         the victim's record in hand: {}; unexplained: {unexplained}; {:?}",
        killed.len(),
        kills,
        lost.len(),
        lost.iter().map(|&c| uncode(c)).collect::<Vec<_>>(),
        identified.len(),
        run.ring.stats()
    );
    for (c, h) in killed.iter().zip(&in_hand) {
        match *h {
            0 => println!("  killed consumer {c}: nothing in hand"),
            h => println!(
                "  killed consumer {c}: held {:?}, {}",
                uncode(h),
                if lost.contains(&h) { "lost" } else { "counted before the kill" }
            ),
        }
    }
    let st = run.ring.stats();
    assert!(lost.len() <= killed.len(), "more records lost than consumers killed");
    // Every lost record is one a dead consumer held: each was recovered from a READING
    // slot (a victim may also die after counting its record, before releasing the slot).
    assert!(lost.len() as u64 <= st.dead_readers, "a record vanished without a dead reader");
    assert!(st.dead_readers <= killed.len() as u64);
    assert!(lost.contains(&held), "the holder's record {:?} must be lost", uncode(held));
    // A loss not matching an in-hand word can only come from a kill in the tiny window
    // between the claim and the read closure, i.e. from a victim with nothing in hand.
    assert!(unexplained <= empty_handed, "losses not attributable to a killed consumer");
}

#[test]
fn killed_producers_never_hang_consumers() {
    let _s = serial();
    let n = scale(400_000, 20_000);
    let kills = 5u64;
    let run = Run::new(n);
    let mut rng = Rng::new();
    let consumers: Vec<_> = (0..2).map(|c| run.spawn("consumer", c, 0)).collect();
    let steady = run.spawn("producer", 0, 0);
    // Producers 1..=kills are killed at random points of their own stream.
    for p in 1..=kills {
        let child = run.spawn("producer", p, 0);
        let at = 1 + rng.below(n / 2);
        let t = Instant::now();
        while run.board.pushed(p).load(Ordering::Acquire) < at {
            assert!(t.elapsed() < Duration::from_secs(300), "producer {p} stalled");
            std::thread::sleep(Duration::from_micros(100));
        }
        kill(child);
    }
    // One producer killed while it provably holds a half-written slot.
    let holder = kills + 1;
    let hold_at = 1 + rng.below(1000);
    let h = run.spawn("hold_producer", holder, hold_at);
    run.wait_holding();
    kill(h);
    finish(steady, "steady producer");
    run.ring.close();
    for c in consumers {
        finish(c, "consumer");
    }
    assert_eq!(run.errors(), 0, "consumers reported errors (see stderr)");
    for p in 0..=holder {
        let pushed = run.board.pushed(p).load(Ordering::Acquire);
        let got: Vec<u8> =
            (0..n).map(|seq| run.board.count(p, seq).load(Ordering::Relaxed)).collect();
        assert!(got.iter().all(|&k| k <= 1), "producer {p}: a record was duplicated");
        let prefix = got.iter().take_while(|&&k| k == 1).count() as u64;
        assert!(got[prefix as usize..].iter().all(|&k| k == 0), "producer {p}: gap in records");
        // Every push that returned is delivered; the one in flight at the kill may be.
        assert!(
            prefix == pushed || prefix == pushed + 1,
            "producer {p}: {pushed} pushes returned, {prefix} delivered"
        );
        if p == 0 {
            assert_eq!(prefix, n);
        }
        if p == holder {
            assert_eq!(prefix, hold_at, "the half-written record must not be delivered");
        }
    }
    let st = run.ring.stats();
    println!("producer kills: {} ({kills} random + 1 mid-write); {st:?}", kills + 1);
    assert!(st.dead_writers >= 1, "the mid-write producer's slot was tombstoned");
    assert!(st.tombstones_skipped >= st.dead_writers);
    assert!(st.dead_writers <= kills + 1);
}
