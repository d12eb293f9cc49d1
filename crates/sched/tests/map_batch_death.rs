//! A worker's death inside one of `map`'s automatic batches fails exactly the item it died
//! in: the items of the batch that finished before it keep their results (the worker
//! writes each finished item's result into its partial-results area, `partial.rs`, which
//! the supervisor reads once it has reaped the worker), and those after it are placed
//! again. Python's `Executor.map` / `Pool.imap_unordered` (one item a task by default)
//! fail only the task that was running. Real worker processes; no assertion on speed.

use std::time::Duration;
use zeroproc_sched::{JobError, JobFn, Pool};
use zeroproc_testkit::within;

zeroproc_sched::test_worker!();

const N: u64 = 100_000;
/// The item that kills its worker: deep inside the map, where items are batched.
const BAD: u64 = 60_000;

fn aborts_at_bad(x: u64) -> u64 {
    if x == BAD {
        std::process::abort();
    }
    x * 3
}

fn sigkills_at_bad(x: u64) -> u64 {
    if x == BAD {
        // SAFETY: raise takes a signal number by value.
        unsafe { libc::raise(libc::SIGKILL) };
    }
    x * 3
}

/// Every item's outcome, by item (each seen once): `map` yields in order; `map_unordered`
/// items are recognised by their result (x * 3), the one failure by elimination.
fn outcomes<F: JobFn<u64, u64>>(
    pool: &Pool,
    f: F,
    ordered: bool,
) -> Vec<Option<Result<u64, JobError>>> {
    let mut seen: Vec<Option<Result<u64, JobError>>> = vec![None; N as usize];
    let mut errors = Vec::new();
    let results: Vec<Result<u64, JobError>> = match ordered {
        true => pool.map(f, 0..N).collect(),
        false => pool.map_unordered(f, 0..N).collect(),
    };
    assert_eq!(results.len(), N as usize, "ordered {ordered}: one outcome per item");
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(y) if ordered => {
                assert_eq!(y, i as u64 * 3, "ordered: item {i}");
                seen[i] = Some(Ok(y));
            }
            Ok(y) => {
                let x = (y / 3) as usize;
                assert!(y % 3 == 0 && x < N as usize, "unordered: result {y}");
                assert!(seen[x].is_none(), "unordered: item {x} came back twice");
                seen[x] = Some(Ok(y));
            }
            Err(e) if ordered => seen[i] = Some(Err(e)),
            Err(e) => errors.push(e),
        }
    }
    if !ordered {
        let missing: Vec<usize> = (0..N as usize).filter(|&x| seen[x].is_none()).collect();
        assert_eq!(
            missing.len(),
            errors.len(),
            "unordered: missing {missing:?}, errors {errors:?}"
        );
        for (x, e) in missing.into_iter().zip(errors) {
            seen[x] = Some(Err(e));
        }
    }
    seen
}

fn exactly_the_bad_item_fails<F: JobFn<u64, u64> + Send>(f: F, signal: i32) {
    within(Duration::from_secs(120), move || {
        let pool = Pool::builder().workers(2).build().unwrap();
        for ordered in [true, false] {
            let seen = outcomes(&pool, f, ordered);
            let failed: Vec<(usize, &JobError)> = seen
                .iter()
                .enumerate()
                .filter_map(|(i, r)| match r {
                    Some(Err(e)) => Some((i, e)),
                    _ => None,
                })
                .collect();
            assert_eq!(failed.len(), 1, "ordered {ordered}: failed {failed:?}");
            assert_eq!(failed[0].0 as u64, BAD, "ordered {ordered}");
            assert!(
                matches!(failed[0].1, JobError::WorkerDied { signal: Some(s), .. } if *s == signal),
                "ordered {ordered}: {:?}",
                failed[0].1
            );
        }
        assert_eq!(pool.submit(aborts_at_bad, 4).result(), Ok(12));
    });
}

/// Before (`Map::died_in` failed the items the batch ran): failed in 3 of 3 runs, each
/// test, with 13–57 items before `BAD` failing too (6 more runs of the main tree's code
/// also failed).
#[test]
fn an_abort_in_a_batch_fails_exactly_its_item() {
    exactly_the_bad_item_fails(aborts_at_bad, libc::SIGABRT);
}

#[test]
fn a_sigkill_in_a_batch_fails_exactly_its_item() {
    exactly_the_bad_item_fails(sigkills_at_bad, libc::SIGKILL);
}
