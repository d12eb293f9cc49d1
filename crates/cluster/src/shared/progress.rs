//! Progress: polling MPI and rank 0's own pool for outcomes, resolving them, and waiting
//! (yield, then sleep with back-off; `idle.rs`) until a condition holds.

use super::{Shared, State, Via};
use crate::idle::Idle;
use crate::launch;
use crate::wire::{self, op, TAG_DONE, TAG_REPLY};
use rkyv::util::AlignedVec;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use zeroproc_sched::{JobError, Never};

thread_local! {
    /// The `Shared` (by address) whose progress thread this is, if any.
    static CALLBACK_THREAD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// The destination (by address) of the one future this thread waits for, if any.
    static WAITING_FOR: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks this thread as waiting for the future whose destination is at `dest` while `f`
/// runs: [`Shared::run_after`] runs that future's callbacks here.
pub(crate) fn waiting_for<T>(dest: usize, f: impl FnOnce() -> T) -> T {
    let outer = WAITING_FOR.with(|w| w.replace(dest));
    let r = f();
    WAITING_FOR.with(|w| w.set(outer));
    r
}

impl Shared {
    /// Polls MPI and the local pool once if no other thread does; true if anything
    /// completed. The callbacks of what completed run as [`run_after`](Self::run_after)
    /// says; on the progress thread, the callbacks deferred to it run first.
    pub(crate) fn progress(&self) -> bool {
        let ran = self.on_callback_thread() && self.run_deferred() > 0;
        let Ok(mut st) = self.state.try_lock() else { return ran };
        let n = self.progress_locked(&mut st);
        let after = std::mem::take(&mut st.after);
        drop(st);
        self.run_after(after);
        if n > 0 {
            self.changed(n as u64);
        }
        n > 0 || ran
    }

    /// Runs what completing jobs left to do (callbacks, wakers). Done-callbacks go to the
    /// progress thread unless this is it (or it has ended): a thread waiting for one
    /// future never runs another's callback, which could overrun its wait — as the local
    /// pool's callback thread, and Python's executor thread, run them. Before, the thread
    /// that received the outcome ran them.
    pub(crate) fn run_after(&self, after: Vec<std::sync::Arc<dyn super::Dest>>) {
        if after.is_empty() {
            return;
        }
        let here = self.on_callback_thread();
        let waited_for = WAITING_FOR.with(|w| w.get());
        let mut deferred = false;
        for d in after {
            // The future this thread waits for: its callbacks hold up only this wait,
            // which needs them run anyway (no hop to the progress thread and back).
            let mine = Arc::as_ptr(&d) as *const () as usize == waited_for;
            if !here && !mine && d.runs_user_code() {
                self.deferred.lock().unwrap_or_else(|e| e.into_inner()).push(d);
                deferred = true;
            } else {
                d.after();
            }
        }
        // SeqCst, against `stop_callbacks`'s store then drain: either it drains what was
        // pushed above, or this sees the thread gone and runs them itself.
        if deferred {
            if self.callback_thread.load(Ordering::SeqCst) {
                // At once: the waiter of this future waits for its callbacks (a `park`
                // of up to 1–2 ms otherwise: 1.4–2.9 ms per submit+callback+result).
                if let Some(t) = self.callback_runner.get() {
                    t.unpark();
                }
            } else {
                self.run_deferred();
            }
        }
    }

    /// Runs the deferred callbacks; how many futures they completed.
    pub(crate) fn run_deferred(&self) -> usize {
        let ds = std::mem::take(&mut *self.deferred.lock().unwrap_or_else(|e| e.into_inner()));
        let n = ds.len();
        for d in ds {
            d.after();
        }
        if n > 0 {
            self.changed(n as u64);
        }
        n
    }

    /// This thread is the pool's progress thread (which runs the callbacks).
    fn on_callback_thread(&self) -> bool {
        CALLBACK_THREAD.with(|c| c.get()) == self as *const Self as usize
    }

    /// Called on the progress thread as it starts: it runs the deferred callbacks.
    pub(crate) fn start_callbacks(&self) {
        CALLBACK_THREAD.with(|c| c.set(self as *const Self as usize));
        let _ = self.callback_runner.set(std::thread::current());
        // SeqCst: see `run_after`.
        self.callback_thread.store(true, Ordering::SeqCst);
    }

    /// Called on the progress thread as it ends: runs what is left; later callbacks run
    /// in the thread that receives their outcome.
    pub(crate) fn stop_callbacks(&self) {
        // SeqCst: see `run_after`.
        self.callback_thread.store(false, Ordering::SeqCst);
        self.run_deferred();
    }

    /// `n` outcomes were stored: wakes the threads sleeping on them, if any.
    fn changed(&self, n: u64) {
        // SeqCst, with the load of `sleeping` below and the waiter's increment of
        // `sleeping` then load of `completed` in `wait_until`: either this sees the
        // sleeper, or the sleeper sees the new count and does not sleep.
        self.completed.fetch_add(n, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) > 0 {
            let _g = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
            self.changed.notify_all();
        }
    }

    fn progress_locked(&self, st: &mut State) -> usize {
        let mut n = 0;
        if let Some(t) = st.targets.iter().position(|t| matches!(t.via, Via::Local(_))) {
            if let Via::Local(p) = &st.targets[t].via {
                p.poll_records();
            }
            if let Some((bytes, _)) = self.local_outbox.take() {
                let mut a = AlignedVec::<16>::with_capacity(bytes.len());
                a.extend_from_slice(&bytes);
                n += self.resolve(st, t, &a);
            }
        }
        let mut msgs = Vec::new();
        let finished = launch::controller().is_some_and(|mut c| !c.receive_for(self.id, &mut msgs));
        for m in msgs {
            match m.tag {
                TAG_DONE => {
                    if let Some(t) = st
                        .targets
                        .iter()
                        .position(|t| matches!(t.via, Via::Agent(r) if r == m.from))
                    {
                        n += self.resolve(st, t, &m.bytes);
                    }
                }
                TAG_REPLY if !m.bytes.is_empty() => {
                    let args = m.bytes.get(16..).unwrap_or_default().to_vec();
                    if m.bytes[0] == op::NOT_CANCELLED && args.len() >= 8 {
                        let token = u64::from_le_bytes(args[..8].try_into().expect("8"));
                        // A refusal for a job already done (its outcome came first) is
                        // read by nobody: not kept. Nor is one of rank 0's own attempt
                        // to move the job (it started): a user's cancel gets its own.
                        if st.stealing.remove(&token) {
                            // Rank 0's move failed: the job started; never tried again.
                            if let Some(o) = st.owed.get_mut(&token) {
                                o.movable = false;
                            }
                        } else if st.owed.contains_key(&token) {
                            st.refused.insert(token);
                        }
                    } else {
                        st.replies.push((m.from, m.bytes[0], args));
                    }
                    n += 1; // someone waits for this: wake the waiters
                }
                _ => zeroproc_sched::note!(
                    "zeroproc-cluster: unexpected message tag {} from rank {}",
                    m.tag,
                    m.from
                ),
            }
        }
        if finished {
            // After the outcomes that arrived before the end: those jobs have their results.
            n += self.fail_agents_jobs(st, JobError::Shutdown).0;
        }
        if n > 0 && !(st.queue.is_empty() && st.local_queue.is_empty()) {
            self.drain_queue(st);
        }
        if n > 0 {
            self.rebalance(st);
        }
        // Jobs a map staged before its input's read blocked (`ClusterMap::refill`): sent
        // now, so a stream whose next item waits for their effect goes on.
        if st.staged_at.is_some_and(|t| t.elapsed() >= super::STAGED_MAX) {
            self.flush(st);
        }
        n
    }

    /// Resolves the outcomes in a `TAG_DONE` batch from target `t`.
    fn resolve(&self, st: &mut State, t: usize, batch: &[u8]) -> usize {
        let mut n = 0;
        let mut moved = false;
        for e in wire::entries(batch, false) {
            let Some(mut o) = st.owed.remove(&e.token) else { continue };
            if o.target == Some(t) {
                st.targets[t].in_flight -= 1;
                if let (false, Via::Agent(rank)) = (o.arrays.is_empty(), &st.targets[t].via) {
                    super::release_shipped(*rank, &o.arrays, e.word as u32 == wire::kind::NO_COPY);
                }
            }
            let kind = e.word as u32;
            // Taken back from a busy node (`rebalance`) and not cancelled by the user:
            // placed again, first in line (it was submitted before anything waiting).
            let asked = st.cancel_asked.remove(&e.token);
            let stolen = st.stealing.remove(&e.token);
            let resend = st.unkeep(&mut o);
            if stolen && !asked && kind == wire::kind::CANCELLED && !st.terminating {
                if let Some((timeout_ns, record)) = resend {
                    o.target = None;
                    st.owed.insert(e.token, o);
                    st.queue.push_front((e.token, timeout_ns, record));
                    moved = true;
                    continue;
                }
            }
            st.refused.remove(&e.token);
            let outcome =
                if kind == wire::kind::OK { Ok(e.body) } else { Err(wire::error_of(kind, e.body)) };
            if o.dest.complete(o.index, outcome) {
                st.after.push(o.dest);
            }
            n += 1;
        }
        // A node that answered everything it held while jobs waited here was starved: its
        // window does not cover the round trip. Grow it (as the local `map` grows its
        // window when a worker is found idle). Long jobs never drain a window at once, so
        // their windows stay small and balance stays fine.
        let tgt = &mut st.targets[t];
        if n > 0 && tgt.in_flight == 0 && !st.queue.is_empty() {
            tgt.window = (tgt.window * 2).min(tgt.max_window);
        }
        if moved {
            self.drain_queue(st);
        }
        n
    }

    /// Fails with `e` every job owed by a node agent, or waiting for one, and returns the
    /// ranks of the agents that owed some. For when none will answer: the cluster was
    /// finished under this pool (`launch::finish`: MPI is gone; `Shutdown`), or `terminate`
    /// got no answer from a node (`Cancelled`). An outcome that arrives later is dropped
    /// (its token is no longer owed: `resolve`). Returns (jobs failed, ranks).
    #[cold]
    pub(crate) fn fail_agents_jobs(
        &self,
        st: &mut State,
        e: JobError<Never>,
    ) -> (usize, Vec<usize>) {
        let agent = |k: u64, t: Option<usize>, st: &State| match t {
            Some(t) => matches!(st.targets[t].via, Via::Agent(_)),
            None => !st.local_queue.contains(k),
        };
        let tokens: Vec<u64> =
            st.owed.iter().filter(|(&k, o)| agent(k, o.target, st)).map(|(&k, _)| k).collect();
        st.queue.clear();
        st.stealing.clear();
        st.cancel_asked.clear();
        let mut ranks: Vec<usize> =
            tokens.iter().filter_map(|&t| st.fail_owed(t, e.clone())).collect();
        ranks.sort_unstable();
        ranks.dedup();
        (tokens.len(), ranks)
    }

    /// Wakes the threads sleeping on this pool's outcomes, if any, to poll (messages for
    /// it were parked by another pool's poll: `route.rs`).
    pub(crate) fn poke(&self) {
        self.changed(1);
    }

    pub(super) fn bump(&self) {
        self.changed(1);
    }

    /// Drives progress until `ready()` or `deadline`; true if `ready()`.
    pub(crate) fn wait_until(
        &self,
        deadline: Option<std::time::Instant>,
        mut ready: impl FnMut() -> bool,
    ) -> bool {
        // Relaxed: a hint for the progress thread.
        self.waiters.fetch_add(1, Ordering::Relaxed);
        let mut idle = Idle::default();
        let r = loop {
            if ready() {
                break true;
            }
            if self.progress() {
                idle.active();
                continue;
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                break ready();
            }
            let pause = idle.next_pause();
            if pause.is_zero() {
                std::thread::yield_now();
                continue;
            }
            // SeqCst: see `changed`.
            let seen = self.completed.load(Ordering::SeqCst);
            let g = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
            // SeqCst: pairs with `changed` — this increment, then the re-read of
            // `completed`, against its increment of `completed`, then its read of `sleeping`.
            self.sleeping.fetch_add(1, Ordering::SeqCst);
            // SeqCst: the re-read of the pair above.
            let g = if self.completed.load(Ordering::SeqCst) == seen {
                self.changed.wait_timeout(g, pause).map_or_else(|e| e.into_inner().0, |r| r.0)
            } else {
                g
            };
            // SeqCst: as above (under the lock, so a notifier that saw us waits for it).
            self.sleeping.fetch_sub(1, Ordering::SeqCst);
            drop(g);
        };
        // Relaxed: as above.
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        r
    }
}
