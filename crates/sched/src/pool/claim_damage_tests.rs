//! A damaged claim word must not hang the jobs that use it.
//!
//! Placing a job writes nothing to its claim word (`claim.rs`: a word naming an older id
//! means "queued"). So a word overwritten with a *newer* id (a stray write into the pool
//! segment) would make its worker skip every later job of that word, unanswered, while a
//! probe shows the worker alive and well: those futures waited for ever (`damage.rs`).

use crate::claim::CLAIM_SLOTS;
use crate::{JobError, Pool};
use std::time::Duration;

crate::test_worker!();

fn echo(x: u64) -> u64 {
    x
}

#[test]
fn jobs_of_damaged_claim_words_fail_and_later_jobs_run() {
    let pool = Pool::builder().workers(2).build().expect("pool");
    assert_eq!(pool.submit(echo, 1).result(), Ok(1), "warm-up");
    // Damage every word of the table: each names an id far newer than any job's.
    let newer = (u64::MAX >> 3) << 2 | 2;
    for slot in 0..CLAIM_SLOTS as u64 {
        pool.shared.claims().overwrite(slot, newer);
    }
    let fs: Vec<_> = (0..20u64).map(|x| pool.submit(echo, x)).collect();
    let mut failed = 0;
    for (x, f) in fs.into_iter().enumerate() {
        match f.result_timeout(Duration::from_secs(20)) {
            Ok(Ok(v)) => assert_eq!(v, x as u64),
            Ok(Err(JobError::Decode { message })) => {
                assert!(message.contains("claim word"), "{message}");
                failed += 1;
            }
            Ok(Err(e)) => panic!("job {x}: {e}"),
            Err(_) => panic!("job {x} of a damaged claim word was never answered"),
        }
    }
    assert!(failed > 0, "the damage was not met");
    // The words are repaired: every later job runs.
    for x in 0..200u64 {
        let f = pool.submit(echo, x);
        match f.result_timeout(Duration::from_secs(20)) {
            Ok(r) => assert_eq!(r, Ok(x), "after the repair"),
            Err(_) => panic!("job {x} after the repair was never answered"),
        }
    }
}
