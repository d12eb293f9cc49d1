//! Claim words damaged by a stray write into the pool segment.
//!
//! Placing a job writes nothing to its claim word (`claim.rs`: a word naming an older id
//! means "queued"). A word overwritten with a *newer* id would therefore make its worker
//! skip — unanswered — the job it holds and every later job of that word, while the
//! worker looks alive and idle. No claim writes such a word: the word is not reused while
//! a job of it is held, and no id newer than the worker's last one was placed.
//!
//! The balancer's look at a live worker that holds jobs and has been idle for a while
//! (`balance.rs`, `check_stuck`) calls [`Core::repair_damage`]: if a held job's word names
//! a newer id, every such word of the worker's region is repaired (`ClaimTable::
//! repair_newer`: "resolved" for the ids placed so far, "queued" for later ones), and the
//! held jobs whose words were damaged fail with `JobError::Decode` naming the cause — the
//! worker skipped (or will skip) their records, and their arguments live only there.
//! Later jobs of the worker run normally. (Before this protocol a damaged word cost one
//! job, which then waited for ever; now no job waits.)

use super::core::{Core, Shared};
use crate::claim::Claim;
use crate::error::JobError;

impl Core {
    /// Repairs the claim words of worker `v`'s region if a job it holds has a word naming
    /// a newer id; fails those jobs. Returns how many failed.
    #[cold]
    pub(crate) fn repair_damage(&mut self, shared: &Shared, v: usize) -> usize {
        let claims = shared.claims();
        let damaged: Vec<u64> =
            self.held(v).into_iter().filter(|&id| claims.state(id) == Claim::Other).collect();
        if damaged.is_empty() {
            return 0;
        }
        // The newest id placed on `v` (one was: it holds jobs).
        let (newest, words) = self.newest_id(v);
        let repaired = claims.repair_newer(words, newest);
        crate::note!(
            "zeroproc: worker {v}: {repaired} claim word(s) in the pool segment named job ids \
             never placed (a stray write into shared memory?); repaired, and {} job(s) \
             whose records the worker skipped fail",
            damaged.len()
        );
        let message = "the job's claim word in the pool segment was overwritten (a stray \
                       write into shared memory?), so its worker skipped it; the word is \
                       repaired, the job did not run"
            .to_owned();
        self.fail_held(v, |id| damaged.contains(&id), &|| JobError::Decode {
            message: message.clone(),
        })
    }
}
