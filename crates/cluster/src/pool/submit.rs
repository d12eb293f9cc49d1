//! Submitting one job: `submit` and its forms, as on [`Pool`](zeroproc_sched::Pool). A job
//! is encoded once here and goes to a node with room in its window, or waits on rank 0 in
//! submission order. `try_submit` and `submit_timeout`/`submit_deadline` are the forms that
//! do not let it wait on rank 0: they hand the arguments back when no node has room (now,
//! or by the deadline) — the cluster's "every submission ring is full".

use super::ClusterPool;
use super::Record;
use crate::future::{ClusterFuture, Slot};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroproc_sched::{JobError, JobFn, Message, SubmitTimeoutError, TrySubmitError};

impl ClusterPool {
    /// Runs `f(args)` on a worker of some node. Never blocks for long: the job waits on
    /// rank 0 until a node has room. A shut-down pool or arguments that cannot be sent give
    /// a future that is already failed ([`JobError::Shutdown`], [`JobError::Decode`],
    /// [`JobError::TooLarge`]).
    pub fn submit<F, A, R>(&self, f: F, args: A) -> ClusterFuture<R>
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        self.submit_timeout_ns(f, args, self.shared.timeout_ns)
    }

    /// [`submit`](Self::submit) with a time limit for this job (overrides the builder's
    /// `job_time_limit`): a job that runs longer has its worker killed (on its node) and
    /// fails with [`JobError::TimeLimit`].
    pub fn submit_with_time_limit<F, A, R>(
        &self,
        f: F,
        args: A,
        limit: Duration,
    ) -> ClusterFuture<R>
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        let ns = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.submit_timeout_ns(f, args, ns)
    }

    /// Like [`submit`](Self::submit) for a function returning `Result<T, E>`: its `Err(e)`
    /// becomes [`JobError::Job(e)`](JobError::Job) (Python: the task's exception).
    ///
    /// ```
    /// zeroproc_cluster::init();
    /// use zeroproc_sched::JobError;
    /// let pool = zeroproc_cluster::ClusterPool::builder().build()?;
    /// let f = pool.submit_fallible(|x: u64| if x > 9 { Err(format!("{x} is too big")) } else { Ok(x) }, 10);
    /// assert_eq!(f.result(), Err(JobError::Job("10 is too big".to_string())));
    /// # Ok::<(), zeroproc_cluster::ClusterError>(())
    /// ```
    pub fn submit_fallible<F, A, T, E>(&self, f: F, args: A) -> ClusterFuture<T, E>
    where
        F: JobFn<A, Result<T, E>>,
        A: Message,
        T: Send + 'static,
        E: Send + 'static,
        Result<T, E>: Message,
    {
        // Acquire: pairs with the Release store in `close`.
        if self.shared.closed.load(Ordering::Acquire) {
            return ClusterFuture::failed(self.shared.clone(), JobError::Shutdown);
        }
        let record = match self.record(zeroproc_sched::raw::fn_id(f), &args) {
            Ok(r) => r,
            Err(e) => return ClusterFuture::failed(self.shared.clone(), e),
        };
        let slot = Slot::<T, E>::new(crate::future::decode_fallible::<T, E>);
        self.place(record, slot, self.shared.timeout_ns)
    }

    fn submit_timeout_ns<F, A, R>(&self, f: F, args: A, timeout_ns: u64) -> ClusterFuture<R>
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        // Acquire: pairs with the Release store in `close`.
        if self.shared.closed.load(Ordering::Acquire) {
            return ClusterFuture::failed(self.shared.clone(), JobError::Shutdown);
        }
        let record = match self.record(zeroproc_sched::raw::fn_id(f), &args) {
            Ok(r) => r,
            Err(e) => return ClusterFuture::failed(self.shared.clone(), e),
        };
        let slot = Slot::<R>::new(crate::future::decode::<R>);
        self.place(record, slot, timeout_ns)
    }

    /// Queues one encoded job whose outcome goes to `slot`, and sends what can go now.
    fn place<R: Send + 'static, E: Send + 'static>(
        &self,
        record: Record,
        slot: Arc<Slot<R, E>>,
        timeout_ns: u64,
    ) -> ClusterFuture<R, E> {
        let mut st = self.shared.lock();
        let token = self.shared.place(&mut st, record, slot.clone(), 0, timeout_ns);
        self.shared.flush(&mut st);
        self.shared.unlock(st);
        let cancel_on_drop = self.shared.cancel_on_drop;
        ClusterFuture { slot, shared: self.shared.clone(), token, cancel_on_drop }
    }

    /// Submits without waiting: `Full(args)` when no node (nor rank 0's own pool) has room
    /// in its window now — the job would wait on rank 0. The arguments come back with every
    /// error.
    ///
    /// ```
    /// zeroproc_cluster::init();
    /// use zeroproc_sched::TrySubmitError;
    /// let pool = zeroproc_cluster::ClusterPool::builder().local_workers(1).window_per_worker(1).build()?;
    /// let busy = pool.try_submit(|ms: u64| std::thread::sleep(std::time::Duration::from_millis(ms)), 200).unwrap();
    /// assert!(matches!(pool.try_submit(|x: u64| x + 1, 1), Err(TrySubmitError::Full(1))));
    /// busy.result().unwrap();
    /// assert_eq!(pool.try_submit(|x: u64| x + 1, 1).unwrap().result(), Ok(2));
    /// # Ok::<(), zeroproc_cluster::ClusterError>(())
    /// ```
    pub fn try_submit<F, A, R>(&self, f: F, args: A) -> Result<ClusterFuture<R>, TrySubmitError<A>>
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        let record = match self.checked_record(f, &args) {
            Ok(r) => r,
            Err(e) => return Err(try_error(e, args)),
        };
        match self.try_place(record, Slot::<R>::new(crate::future::decode::<R>)) {
            Ok(fut) => Ok(fut),
            Err(_) => Err(TrySubmitError::Full(args)),
        }
    }

    /// Submits, waiting at most `timeout` for a node with room (driving progress meanwhile);
    /// `Timeout(args)` if none had room in time.
    pub fn submit_timeout<F, A, R>(
        &self,
        f: F,
        args: A,
        timeout: Duration,
    ) -> Result<ClusterFuture<R>, SubmitTimeoutError<A>>
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        self.submit_until(f, args, Instant::now().checked_add(timeout))
    }

    /// Submits, waiting until `deadline` for a node with room; `Timeout(args)` if none had
    /// room by then.
    pub fn submit_deadline<F, A, R>(
        &self,
        f: F,
        args: A,
        deadline: Instant,
    ) -> Result<ClusterFuture<R>, SubmitTimeoutError<A>>
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        self.submit_until(f, args, Some(deadline))
    }

    fn submit_until<F, A, R>(
        &self,
        f: F,
        args: A,
        deadline: Option<Instant>,
    ) -> Result<ClusterFuture<R>, SubmitTimeoutError<A>>
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        let mut record = match self.checked_record(f, &args) {
            Ok(r) => r,
            Err(e) => return Err(submit_error(e, args)),
        };
        let slot = Slot::<R>::new(crate::future::decode::<R>);
        loop {
            match self.try_place(record, slot.clone()) {
                Ok(fut) => return Ok(fut),
                Err(back) => record = back,
            }
            let local = crate::ship::only_local(&record.ids);
            let room = self.shared.wait_until(deadline, || {
                // Acquire: pairs with the Release store in `close`.
                self.shared.closed.load(Ordering::Acquire) || self.shared.has_room(local)
            });
            // Acquire: as above.
            if self.shared.closed.load(Ordering::Acquire) {
                return Err(SubmitTimeoutError::Shutdown(args));
            }
            if !room {
                return Err(SubmitTimeoutError::Timeout(args));
            }
        }
    }

    /// The record of `f(args)`, or why it cannot be submitted (shut down, not encodable,
    /// too large, a node-local handle with nowhere to run).
    fn checked_record<F, A, R>(&self, f: F, args: &A) -> Result<Record, JobError>
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        // Acquire: pairs with the Release store in `close`.
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(JobError::Shutdown);
        }
        let record = self.record(zeroproc_sched::raw::fn_id(f), args)?;
        if let Some(message) = self.shared.refuse_local(&record.ids) {
            return Err(JobError::Decode { message });
        }
        Ok(record)
    }

    /// Places `record` if a target has room now (nothing waits before it); else hands it
    /// back.
    fn try_place<R: Send + 'static>(
        &self,
        record: Record,
        slot: Arc<Slot<R>>,
    ) -> Result<ClusterFuture<R>, Record> {
        let local = crate::ship::only_local(&record.ids);
        let mut st = self.shared.lock();
        if !st.has_room(local) {
            return Err(record);
        }
        let token = self.shared.place(&mut st, record, slot.clone(), 0, self.shared.timeout_ns);
        self.shared.flush(&mut st);
        self.shared.unlock(st);
        let cancel_on_drop = self.shared.cancel_on_drop;
        Ok(ClusterFuture { slot, shared: self.shared.clone(), token, cancel_on_drop })
    }
}

fn try_error<A>(e: JobError, args: A) -> TrySubmitError<A> {
    match e {
        JobError::Shutdown => TrySubmitError::Shutdown(args),
        JobError::TooLarge { message } => TrySubmitError::TooLarge(args, message),
        // The message alone: `JobError`'s "job data invalid: " prefix under the variant's
        // own "arguments not encodable: " said the cause twice.
        JobError::Decode { message } => TrySubmitError::Encode(args, message),
        e => TrySubmitError::Encode(args, e.to_string()),
    }
}

fn submit_error<A>(e: JobError, args: A) -> SubmitTimeoutError<A> {
    match e {
        JobError::Shutdown => SubmitTimeoutError::Shutdown(args),
        JobError::TooLarge { message } => SubmitTimeoutError::TooLarge(args, message),
        JobError::Decode { message } => SubmitTimeoutError::Encode(args, message),
        e => SubmitTimeoutError::Encode(args, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refused record's reason is said once (it read "arguments not encodable: job data
    /// invalid: ...").
    #[test]
    fn a_refusal_is_said_once() {
        let why = || JobError::Decode { message: "a chunk handle runs on rank 0".into() };
        let t = try_error(why(), 1u8).to_string();
        let s = submit_error(why(), 1u8).to_string();
        for text in [t, s] {
            assert_eq!(text, "arguments not encodable: a chunk handle runs on rank 0");
        }
    }
}
