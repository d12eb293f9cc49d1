//! Jobs of a few milliseconds start about in the order they were given, as from Python's
//! single call queue. Every job over 1 ms makes its worker count as stuck
//! (`pool/balance.rs`), and before, the queued jobs of a stuck worker moved to the end of
//! another busy worker's ring: they bounced between the workers about twice per job and
//! an old job was overtaken by dozens of newer ones — a slow one among them then ran
//! alone at the end while the other worker idled. Each job counts the newer jobs that
//! started before it (marks in a directory): no clock is read.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use zeroproc_sched::Pool;

zeroproc_sched::test_worker!();

/// The tests of this file run one at a time: each measures the order in which jobs start
/// on a 2-worker pool, and another test's pool spinning on the same 2 CPUs (the 900 µs
/// test's workers) made a worker of this one start late and newer jobs overtake (the
/// few-ms tests failed so under load, flaky29).
static ALONE: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

const JOBS: u64 = 48;

/// Leaves a start mark, counts the marks of newer jobs, then runs 5 ms.
fn job((dir, x): (String, u64)) -> u64 {
    let dir = Path::new(&dir);
    let overtaken = (x + 1..JOBS).filter(|k| dir.join(format!("s{k}")).exists()).count();
    std::fs::write(dir.join(format!("s{x}")), b"").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    overtaken as u64
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("zp-job-order-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The most newer jobs that started before one job, in each of `rounds` runs of `run`,
/// sorted.
fn worst(name: &str, rounds: usize, run: impl Fn(Vec<(String, u64)>) -> Vec<u64>) -> Vec<u64> {
    let mut w: Vec<u64> = (0..rounds)
        .map(|r| {
            let d = scratch(&format!("{name}-{r}"));
            let s = d.to_string_lossy().into_owned();
            let out = run((0..JOBS).map(|x| (s.clone(), x)).collect());
            assert_eq!(out.len(), JOBS as usize);
            let _ = std::fs::remove_dir_all(&d);
            out.into_iter().max().unwrap()
        })
        .collect();
    w.sort_unstable();
    w
}

/// The median round's worst: one round whose worker lost its CPU to other processes for
/// tens of ms (a shared CI host) may see a few more overtakes (9 once, against every round
/// at 20–45 before the fix).
fn median(w: &[u64]) -> u64 {
    w[w.len() / 2]
}

/// Before: 20–45 newer jobs started before some job (of 48, on 2 workers), in every round.
#[test]
fn submitted_jobs_of_a_few_ms_are_not_overtaken_by_many_newer_ones() {
    let _alone = alone();
    let pool = Pool::builder().workers(2).build().unwrap();
    let w = worst("submit", 3, |items| {
        let fs: Vec<_> = items.into_iter().map(|a| pool.submit(job, a)).collect();
        fs.into_iter().map(|f| f.result().unwrap()).collect()
    });
    eprintln!("submit: worst per round {w:?}");
    assert!(median(&w) <= 8, "a job started after {w:?} newer ones (per round)");
}

/// An ordered map's items likewise (the window grows as workers go idle).
#[test]
fn map_items_of_a_few_ms_are_not_overtaken_by_many_newer_ones() {
    let _alone = alone();
    let pool = Pool::builder().workers(2).build().unwrap();
    let w = worst("map", 3, |items| pool.map(job, items).map(Result::unwrap).collect());
    eprintln!("map: worst per round {w:?}");
    assert!(median(&w) <= 8, "an item started after {w:?} newer ones (per round)");
}

/// Short jobs of [`SHORT`], and job 0, which waits until file `dir/go` exists (at most a
/// minute): a long job whose end the test chooses, so no clock decides the outcome.
fn short_or_held((dir, x): (String, u64)) -> u64 {
    if x == 0 {
        let go = Path::new(&dir).join("go");
        for _ in 0..60_000 {
            if go.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    } else {
        let t = std::time::Instant::now();
        while t.elapsed() < SHORT {}
    }
    x
}

const SHORT: std::time::Duration = std::time::Duration::from_micros(50);
const SHORTS: u64 = 6_000;

/// How many newer short jobs finished before each one, at most, given the short jobs'
/// numbers in the order in which they were handed back; then lets job 0 end.
fn worst_overtaken(dir: &Path, finished_order: impl Iterator<Item = u64>) -> u64 {
    let mut finished = 0u64;
    let mut worst = 0;
    for x in finished_order {
        // Jobs 1..x-1 are older: any finished before x beyond them were newer.
        worst = worst.max(finished.saturating_sub(x - 1));
        finished += 1;
        if finished == SHORTS {
            std::fs::write(dir.join("go"), b"").unwrap();
        }
    }
    worst
}

/// Before 2026-12-06, the short jobs queued behind a long one on one worker waited until
/// the other worker had run every newer job (it was never idle, so they did not move):
/// the last of them was overtaken by about 5,700 of the 6,000. Now they move to the end
/// of the busy worker's queue once that queue is short next to the time the long job has
/// run (overtaken by about 1,000: what the other worker ran until then, and its queue).
#[test]
fn short_jobs_queued_behind_a_long_one_are_not_left_for_after_every_newer_one() {
    let _alone = alone();
    let pool = Pool::builder().workers(2).build().unwrap();
    let d = scratch("held");
    let s = d.to_string_lossy().into_owned();
    let held = pool.submit(short_or_held, (s.clone(), 0));
    let shorts: Vec<_> = (1..=SHORTS).map(|x| pool.submit(short_or_held, (s.clone(), x))).collect();
    let order = zeroproc_sched::as_completed(shorts).map(|f| f.result().unwrap());
    let worst = worst_overtaken(&d, order);
    assert_eq!(held.result().unwrap(), 0);
    let _ = std::fs::remove_dir_all(&d);
    eprintln!("submit: the most newer jobs finished before a short one: {worst}");
    assert!(worst < 3_000, "a short job was overtaken by {worst} newer ones (of {SHORTS})");
}

/// The same through `map_unordered`.
#[test]
fn map_unordered_hands_back_short_items_behind_a_long_one_before_most_newer_ones() {
    let _alone = alone();
    let pool = Pool::builder().workers(2).build().unwrap();
    let d = scratch("held-map");
    let s = d.to_string_lossy().into_owned();
    let items = (0..=SHORTS).map(|x| (s.clone(), x));
    let order = pool.map_unordered(short_or_held, items).map(Result::unwrap).filter(|&x| x != 0);
    let worst = worst_overtaken(&d, order);
    let _ = std::fs::remove_dir_all(&d);
    eprintln!("map_unordered: the most newer items handed back before a short one: {worst}");
    assert!(worst < 3_000, "a short item was overtaken by {worst} newer ones (of {SHORTS})");
}

/// Sleeps `slow_us` µs on the worker whose pid names a file `slow-<pid>` in `dir` (a
/// worker slowed down, as on a core shared with another program), else spins 20 µs;
/// returns the pid of the worker that ran it.
fn slow_on_one_worker((dir, slow_us): (String, u64)) -> u32 {
    let pid = std::process::id();
    if Path::new(&dir).join(format!("slow-{pid}")).exists() {
        std::thread::sleep(std::time::Duration::from_micros(slow_us));
    } else {
        let t = std::time::Instant::now();
        while t.elapsed() < std::time::Duration::from_micros(20) {}
    }
    pid
}

/// With no thread waiting on the pool (only the supervisor's 5 ms ticks look), the jobs
/// queued behind a worker whose jobs take 3 ms move to the idle one. Before, each tick
/// found that worker in a job it had started since the last tick — progressing, not
/// stalled — and the next tick found it in another: never in one job for 1 ms, never
/// stuck. All 256 jobs queued on it ran there (5 of 5 runs) while the other worker idled.
#[test]
fn jobs_behind_a_worker_of_3_ms_jobs_move_with_nobody_waiting() {
    let _alone = alone();
    behind_a_slow_worker_with_nobody_waiting("slow-ticks", 3_000, 128);
}

/// Jobs of 900 µs never make their worker stuck (`LONG_JOB` is 1 ms): before, all 256
/// queued on the slow worker ran there (238 of 512 ran there, 2 runs) while the other
/// idled. Now a worker holding a queue worth a millisecond or more shares it with an idle
/// one: 20–53 (on a host loaded by other builds: up to 187, since the slow worker's
/// sleeps keep their pace while the fast worker and the looks wait for a CPU).
#[test]
fn jobs_behind_a_worker_of_900_us_jobs_move_to_an_idle_one() {
    let _alone = alone();
    behind_a_slow_worker_with_nobody_waiting("slow-900us", 900, 192);
}

/// 512 jobs on 2 workers, slow (`slow_us`) on worker 0, polled through `stats()` only;
/// at most `bound` may run on the slow worker.
fn behind_a_slow_worker_with_nobody_waiting(name: &str, slow_us: u64, bound: usize) {
    let pool = Pool::builder().workers(2).build().unwrap();
    let d = scratch(name);
    let slow = pool.stats().workers[0].pid;
    std::fs::write(d.join(format!("slow-{slow}")), b"").unwrap();
    let s = d.to_string_lossy().into_owned();
    let fs: Vec<_> =
        (0..512).map(|_| pool.submit(slow_on_one_worker, (s.clone(), slow_us))).collect();
    // Not waiting on the pool: polling its statistics leaves the looks to the supervisor.
    let t = std::time::Instant::now();
    while pool.stats().workers.iter().any(|w| w.queued > 0) {
        assert!(t.elapsed() < std::time::Duration::from_secs(60), "jobs never finished");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let on_slow = fs.into_iter().map(|f| f.result().unwrap()).filter(|&p| p == slow).count();
    let _ = std::fs::remove_dir_all(&d);
    eprintln!("the slow worker ran {on_slow} of 512 jobs\n{}", pool.stats());
    assert!(on_slow <= bound, "the slow worker ran {on_slow} of 512 jobs (256 queued on it)");
}

/// What each job of the burst sleeps, in ms, in the order given.
const BURST: [u64; 8] = [800, 10, 10, 400, 10, 10, 10, 200];

/// Leaves a start mark, then sleeps job `x`'s time of [`BURST`]; returns the jobs whose
/// marks were there when it started (those that started before it), as a bit set.
fn burst_job((dir, x): (String, u64)) -> u64 {
    let dir = Path::new(&dir);
    let before = (0..BURST.len() as u64)
        .filter(|k| dir.join(format!("s{k}")).exists())
        .fold(0u64, |m, k| m | 1 << k);
    std::fs::write(dir.join(format!("s{x}")), b"").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(BURST[x as usize]));
    std::fs::write(dir.join(format!("e{x}")), b"").unwrap(); // its end, for `burst_ended`
    before
}

/// Whether job `x` of [`BURST`] had ended when the job that calls this started.
fn burst_ended(dir: &Path, x: u64) -> bool {
    dir.join(format!("e{x}")).exists()
}

/// [`burst_job`], also telling whether the 800 ms job (job 0) had ended when it started.
fn burst_job_after_0((dir, x): (String, u64)) -> (u64, bool) {
    let ended = burst_ended(Path::new(&dir), 0);
    (burst_job((dir, x)), ended)
}

/// A small burst on a fresh pool of 2 (docs/python-mapping.md, the executor's shared
/// call queue): jobs of 800, 10, 10, 400, 10, 10, 10 and 200 ms given at once. They are
/// placed alternately, three 10 ms ones behind the 800 ms one; once it has run 50 ms they
/// move to the other worker, busy in the 400 ms job. Before, they went to the end of its
/// queue, behind the 200 ms job given after them: it started first (3 of 3 runs), where
/// Python's single call queue starts every 10 ms job before it. Now a moved job goes
/// before the newer jobs queued there (`balance.rs`, `Core::newer_on`): they start after the
/// 400 ms job, before the 200 ms one (CPython: before the 400 ms one too).
///
/// Asserted: every 10 ms job starts before the 200 ms one, and none waits for the
/// 800 ms one (none starts after it ended). The first needs the 10 ms jobs to move while the
/// other worker runs the 10 ms job that follows its 400 ms one: CI (2026-12-07 23:30 UTC,
/// load from two helpers) got the old order (10@11, 400@411, 10@421, 200@621, …), as did
/// 6 of 90 rounds here beside a cargo build (load average 7–9, 2026-12-08, take38), and
/// this test failed 3 of 20 runs with the base code beside one (0 of 20 now): the look
/// that the end of the 400 ms job called for took that worker at the pace of the job it
/// had left (a pace sample skipped, the last under 1 ms old), and the next look, 1 ms into
/// the 10 ms job, judged it stuck and so unable to take moved jobs. Now that look counts
/// the finished job (`Pace::sample`, `fresh`), and a worker stuck in a job it started less
/// than half as long ago as the moved jobs' worker takes them (`Core::briefly_in_a_job`).
#[test]
fn a_burst_s_short_jobs_start_before_a_newer_long_one() {
    let _alone = alone();
    for round in 0..3 {
        let pool = Pool::builder().workers(2).build().unwrap();
        let d = scratch(&format!("burst-{round}"));
        let s = d.to_string_lossy().into_owned();
        let t0 = std::time::Instant::now();
        let fs: Vec<_> = (0..BURST.len() as u64)
            .map(|x| pool.submit(burst_job_after_0, (s.clone(), x)))
            .collect();
        let ids: Vec<u64> = fs.iter().map(|f| f.id()).collect();
        let mut before = [0u64; BURST.len()];
        let mut after_0 = [false; BURST.len()];
        let mut seen = Vec::new();
        for f in zeroproc_sched::as_completed(fs) {
            let x = ids.iter().position(|&i| i == f.id()).unwrap();
            (before[x], after_0[x]) = f.result().unwrap();
            seen.push(format!("{}@{}", BURST[x], t0.elapsed().as_millis()));
        }
        let _ = std::fs::remove_dir_all(&d);
        eprintln!("burst round {round}: {}", seen.join(", "));
        // Job 7 (200 ms) started after every 10 ms job given before it: 1, 2, 4, 5, 6.
        let short: u64 = [1, 2, 4, 5, 6].iter().map(|k| 1 << k).sum();
        assert_eq!(
            before[7] & short,
            short,
            "round {round}: the 200 ms job started first: {seen:?}"
        );
        // No 10 ms job started after the 800 ms one ended (clock-free: a host that stalls the
        // 200 ms job's worker for 400 ms made it complete after the 800 ms one, once).
        assert!(
            ![1, 2, 4, 5, 6].iter().any(|&k| after_0[k]),
            "round {round}: a job waited for the 800 ms one: {seen:?}"
        );
    }
}

/// What each job of [`a_moved_job_does_not_overtake_one_given_before_it`] sleeps, in ms.
const MERGE: [u64; 10] = [800, 10, 10, 400, 10, 10, 10, 10, 10, 10];

/// [`burst_job`] with [`MERGE`]'s lengths.
fn merge_job((dir, x): (String, u64)) -> u64 {
    let dir = Path::new(&dir);
    let before = (0..MERGE.len() as u64)
        .filter(|k| dir.join(format!("s{k}")).exists())
        .fold(0u64, |m, k| m | 1 << k);
    std::fs::write(dir.join(format!("s{x}")), b"").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(MERGE[x as usize]));
    before
}

/// Jobs of 800, 10, 10, 400 and six more 10 ms ones on a fresh pool of 2, placed
/// alternately: 2, 4, 6, 8 wait behind the 800 ms job, 5, 7, 9 behind the 400 ms one.
/// When the first ones move, balance37 put every moved job before all of 5, 7 and 9
/// (`Core::newer_on` keyed the newer jobs on the oldest moved one only), so a moved job
/// started before one given before it (review37: 8 before 7 in 3 of 3 runs). Now the moved jobs are merged in by the order they were given, so a moved job
/// starts after the target's jobs given before it, as from Python's single call queue.
#[test]
fn a_moved_job_does_not_overtake_one_given_before_it() {
    let _alone = alone();
    for round in 0..3 {
        let pool = Pool::builder().workers(2).build().unwrap();
        let d = scratch(&format!("merge-{round}"));
        let s = d.to_string_lossy().into_owned();
        let fs: Vec<_> =
            (0..MERGE.len() as u64).map(|x| pool.submit(merge_job, (s.clone(), x))).collect();
        let before: Vec<u64> = fs.into_iter().map(|f| f.result().unwrap()).collect();
        let _ = std::fs::remove_dir_all(&d);
        // Pairs (i given first on the 400 ms job's worker, j moved to it): j must not
        // start first. (That 5 starts before the moved 2 and 4 is the design's limit, not
        // checked: both workers are in long jobs, so nothing moves until the 400 ms job
        // ends, and its worker takes 5 from its own ring at once.)
        let late: Vec<(u64, u64)> = [5u64, 7, 9]
            .iter()
            .flat_map(|&i| [6u64, 8].into_iter().map(move |j| (i, j)))
            .filter(|&(i, j)| i < j && before[j as usize] & 1 << i == 0)
            .collect();
        let starts: Vec<u32> = before.iter().map(|b| b.count_ones()).collect();
        assert!(
            late.is_empty(),
            "round {round}: (given first, started first): {late:?}; jobs started before each: \
             {starts:?}\n{}",
            pool.stats()
        );
    }
}
