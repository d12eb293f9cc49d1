//! What travels: the [`Message`] bound on arguments and results, the completion statuses, and
//! the monomorphized trampolines a worker calls by id (see `fnid.rs`).

use crate::worker::JobCtx;
use std::panic::{catch_unwind, AssertUnwindSafe};
use zeroproc_codec::envelope;

/// Types that can be job arguments and results (and queue, pipe and container values):
/// rkyv-archivable (derive `Archive`,
/// `Serialize`, `Deserialize`), validated with bytecheck when read, deserializable.
/// Blanket-implemented; primitives, tuples, `String`, `Vec<T>`, `Option<T>`,
/// `Result<T, E>` of such types all qualify.
pub use zeroproc_codec::Message;

/// Completion record kinds (the ring record's `kind`), written by the worker.
pub(crate) mod status {
    /// The payload is an envelope holding the result.
    pub const OK: u32 = 0;
    /// The job panicked; the payload is the UTF-8 message.
    pub const PANICKED: u32 = 1;
    /// The arguments failed validation; the payload is the UTF-8 reason.
    pub const BAD_ARGS: u32 = 2;
    /// The result could not be encoded (too large for the ring); UTF-8 reason.
    pub const BAD_RESULT: u32 = 3;
    /// The job was cancelled before it started; no payload.
    pub const SKIPPED: u32 = 4;
    /// The result is larger than the pool can carry (the spill heap cannot hold it);
    /// UTF-8 reason. Reported as `JobError::TooLarge`.
    pub const TOO_LARGE: u32 = 5;
}

/// Envelope flag: the job has a time-out, so the worker records its start time.
pub(crate) const FLAG_TIMED: u8 = 0x01;

/// Submission record kinds, written by the controller.
pub(crate) mod kind {
    /// A job envelope.
    pub const JOB: u32 = 0;
    /// Stop after the jobs before this record.
    pub const STOP: u32 = 1;
    /// No job: wakes an idle worker to sweep its caches, because the controller dropped
    /// shared objects (`PoolHeader::array_drops` moved before this record was committed).
    pub const SWEEP: u32 = 2;
}

/// A value of the zero-sized type `F` (a non-capturing closure or a fn item).
#[inline(always)]
pub(crate) fn conjure<F: Copy>() -> F {
    const {
        assert!(
            std::mem::size_of::<F>() == 0,
            "this job or Process function carries data (a closure that captures \
             variables, or a fn pointer): only fn items and closures that capture nothing \
             can be sent to a worker or another process. A captured value goes in the \
             argument (`pool.submit(f, (x, k))`; in a map, each item a tuple: \
             `pool.map(f, xs.map(|x| (x, k)))`; `Process::spawn(f, (x, k))`; \
             `.initializer_with(f, k)`) or is shared once (`pool.share(&value)`); for a fn \
             pointer, pass the fn item itself (`pool.submit(double, x)`), or one fn that \
             picks by a tag in its argument"
        )
    };
    // SAFETY: `F` is zero-sized (asserted at compile time) and `Copy` (no drop glue, no
    // invariant held in bytes): it has exactly one value, which the submitter held, and
    // zero bytes of it to initialise.
    unsafe { std::mem::zeroed() }
}

/// Calls `F` on one deserialized `A`; completes with the encoded `R`.
pub(crate) fn call<F, A, R>(ctx: &mut JobCtx<'_>)
where
    F: Fn(A) -> R + Copy + 'static,
    A: Message,
    R: Message,
{
    let a = match read_args::<A>(ctx) {
        Some(a) => a,
        None => return,
    };
    let f = conjure::<F>();
    finish(ctx, catch_unwind(AssertUnwindSafe(move || f(a))));
}

/// A `Process` body: calls `F` on one deserialized `A` and drops what it returns (Python
/// ignores a `Process` target's return value; docs/python-mapping.md); completes with `()`.
/// The value's `Drop` runs under `catch_unwind` like the call: a panic in either is the
/// child's panic (exit code 1).
pub(crate) fn call_ignoring<F, A, R>(ctx: &mut JobCtx<'_>)
where
    F: Fn(A) -> R + Copy + 'static,
    A: Message,
{
    let Some(a) = read_args::<A>(ctx) else { return };
    let f = conjure::<F>();
    finish(ctx, catch_unwind(AssertUnwindSafe(move || drop(f(a)))));
}

/// Completes with the job's outcome. User code that runs after the job function — the
/// result's `Encode` and `Drop`, a panic payload's `Drop` — runs under `catch_unwind`
/// too: a panic there fails the job as `PANICKED` instead of unwinding through the
/// worker (which would leave the slot without a worker).
fn finish<R: Message>(ctx: &mut JobCtx<'_>, outcome: std::thread::Result<R>) {
    let r = match outcome {
        Ok(r) => r,
        Err(p) => return ctx.complete_msg(status::PANICKED, &crate::worker::panic_message(p)),
    };
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| ctx.complete_value(r))) {
        // Only encoding can get here (the value's drop is caught inside); the unfinished
        // reservation was abandoned by the unwind, nothing was committed.
        ctx.complete_msg(status::PANICKED, &crate::worker::panic_message(p));
    }
}

/// Runs user code `f` (a callback, a decoder, a waker), containing its panic: `None` if
/// it panicked. The panic's payload is dropped under `catch_unwind` too (its `Drop` is
/// user code as well); a payload whose drop panics again is leaked, never dropped.
/// (Public through [`raw`](crate::raw), for zeroproc-cluster.)
///
/// ```
/// use zeroproc_sched::raw::contain;
/// assert_eq!(contain(|| 2 + 2), Some(4));
/// assert_eq!(contain(|| -> u32 { panic!("user code") }), None);
/// ```
pub fn contain<T>(f: impl FnOnce() -> T) -> Option<T> {
    let p = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => return Some(v),
        Err(p) => p,
    };
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(p))) {
        std::mem::forget(again);
    }
    None
}

/// Writes a line to standard error as `eprintln!` does (captured by the test harness like
/// it), but a write that fails — standard error closed, or a broken pipe (`prog 2>&1 |
/// head` after `head` exits) — is dropped instead of panicking the thread: the
/// supervisor, the callback thread and the cluster's progress thread must not die of a
/// note (review32). Used through [`note!`](crate::note). (Public through
/// [`raw`](crate::raw), for zeroproc-cluster.)
///
/// The line, newline included, is formatted first and written in one piece: standard
/// error is unbuffered, and `eprintln!` with arguments writes each piece with its own
/// `write`, so the notes of processes sharing a terminal (eight `Process` children
/// panicking at once, the workers of a pool started without `init()`) came out
/// interleaved, and a worker killed between two pieces left half a note (before docs33;
/// `tests/stderr_notes_whole.rs`).
///
/// ```
/// zeroproc_sched::raw::say(format_args!("a note: {}", 42));
/// ```
pub fn say(args: std::fmt::Arguments<'_>) {
    let line = format!("{args}\n");
    // One argument and no literal piece: a single `write_all` of `line` (also when a
    // test harness captures it).
    contain(|| eprint!("{line}"));
}

/// `eprintln!` that never panics: [`say`](crate::raw::say).
#[doc(hidden)]
#[macro_export]
macro_rules! note {
    ($($t:tt)*) => {
        $crate::raw::say(::std::format_args!($($t)*))
    };
}

/// Decodes a `T` and calls its [`Run::run`](crate::Run::run) (a `Process` body).
pub(crate) fn call_run<T: crate::Run>(ctx: &mut JobCtx<'_>) {
    let Some(obj) = read_args::<T>(ctx) else { return };
    finish(ctx, catch_unwind(AssertUnwindSafe(move || obj.run())));
}

/// Calls `F` on each item of a chunk; completes with the `Vec<R>`. An inline chunk's
/// items are read from the validated archive in the ring record one at a time as `F`
/// takes them (no `Vec<A>` of the whole chunk first: one pass over the chunk instead of
/// two). A spilled chunk is deserialized whole first, which frees its heap block before
/// `F` runs: a worker killed while `F` runs (time limit, `terminate`, a crash) must not
/// hold the block, which nobody else would ever free.
pub(crate) fn call_chunk<F, A, R>(ctx: &mut JobCtx<'_>)
where
    F: Fn(A) -> R + Copy + 'static,
    A: Message,
    R: Message,
{
    let input = ctx.input;
    let f = conjure::<F>();
    if envelope::is_spilled(input) {
        let Some(items) = read_args::<Vec<A>>(ctx) else { return };
        let run = move || items.into_iter().map(|a| after_item(f(a))).collect::<Vec<R>>();
        return finish(ctx, catch_unwind(AssertUnwindSafe(run)));
    }
    // A user `Deserialize` may panic: caught like the job's own panics.
    let run = || {
        crate::spill::with_archived::<Vec<A>, _>(input, None, |items| {
            let mut out = Vec::with_capacity(items.len());
            for a in items.iter() {
                let a = rkyv::deserialize::<A, rkyv::rancor::Error>(a)
                    .map_err(|e| format!("deserialize: {e}"))?;
                out.push(after_item(f(a)));
            }
            Ok::<_, String>(out)
        })
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(Ok(results))) => finish(ctx, Ok(results)),
        Ok(Ok(Err(e)) | Err(e)) => ctx.complete_msg(status::BAD_ARGS, &e),
        Err(p) => finish::<Vec<R>>(ctx, Err(p)),
    }
}

/// After each item of a chunk: a copy of the worker forked by the item, returning from
/// it, leaves there (`worker::leave_if_forked`, one load) instead of running the chunk's
/// next items, which the worker runs too (before: run twice, once in each process; only
/// the job's end looked). Passes the item's result through.
#[inline]
fn after_item<R>(r: R) -> R {
    crate::worker::leave_if_forked();
    r
}

/// What a [`call_batch`] job returns: the nanoseconds its items took in all, the bytes of
/// its arguments' record ([`SPILLED`] when they went through the spill heap), then either
/// every item's result, or — when any item panicked — each item's result or panic message.
pub(crate) type BatchOut<R> = (u64, u64, Result<Vec<R>, Vec<Result<R, String>>>);

/// [`BatchOut`]'s argument bytes of a batch whose arguments did not fit a ring record.
pub(crate) const SPILLED: u64 = u64::MAX;

/// What a [`call_batch_handback`] job returns: the batch's [`BatchOut`] for the items it
/// ran (a prefix of the batch), then the items it did not start, handed back at the
/// supervisor's request (`WorkerControl::hand_back`): an envelope of their `Vec<A>`
/// ([`encode_owned`]; empty when it ran them all). Encoded apart so that the map's sink,
/// which decodes results on whichever thread drains the completions, holds no `A` (not
/// `Send`).
pub(crate) type BatchBack<R> = (BatchOut<R>, Vec<u8>);

/// Calls `F` on each item of one of `map`'s automatic batches (`pool/map.rs`, "Automatic
/// batches"): as [`call_chunk`], but each item runs under its own `catch_unwind`, so a
/// panic fails only its item, as with one job per item, and the batch's running time is
/// returned for the map's choice of the next batch's size. A spilled batch is
/// deserialized whole first, as in `call_chunk` (a worker killed mid-batch must not hold
/// its heap block). Runs every item (zeroproc-cluster's batches: no time budget).
pub(crate) fn call_batch<F, A, R>(ctx: &mut JobCtx<'_>)
where
    F: Fn(A) -> R + Copy + 'static,
    A: Message,
    R: Message,
{
    match run_batch::<F, A, R>(ctx, false) {
        Some(Ok((out, _))) => finish(ctx, Ok(out)),
        Some(Err(p)) => finish::<BatchOut<R>>(ctx, Err(p)),
        None => {}
    }
}

/// [`call_batch`] that hands back (`Pool::map`'s batches): once the supervisor asks for it
/// (the batch has run a tick, 5 ms: `WorkerControl::hand_back`, looked at before each
/// item after the first, one load), the items not started are handed back, deserialized
/// and encoded again, in the result ([`BatchBack`]); the map places them again, unless
/// the supervisor took them while an item ran (`steal.rs`: the map placed them then). An
/// item that started is never handed back: it runs once.
pub(crate) fn call_batch_handback<F, A, R>(ctx: &mut JobCtx<'_>)
where
    F: Fn(A) -> R + Copy + 'static,
    A: Message,
    R: Message,
{
    let (out, rest) = match run_batch::<F, A, R>(ctx, true) {
        Some(Ok(back)) => back,
        Some(Err(p)) => return finish::<BatchBack<R>>(ctx, Err(p)),
        None => return,
    };
    if rest.is_empty() {
        return finish::<BatchBack<R>>(ctx, Ok((out, Vec::new())));
    }
    // The items' `Serialize` is user code: caught like the job's own panics.
    match catch_unwind(AssertUnwindSafe(|| encode_owned(&rest))) {
        Ok(Ok(bytes)) => finish::<BatchBack<R>>(ctx, Ok((out, bytes.into_vec()))),
        Ok(Err(e)) => ctx.complete_msg(status::BAD_RESULT, &e),
        Err(p) => finish::<BatchBack<R>>(ctx, Err(p)),
    }
}

/// Runs a batch's items until the end or, if it may `hand_back`, until the supervisor
/// asks for the rest or takes it (`steal.rs`: each item is claimed, one store, and the
/// request looked at, one load, before it runs): the outcome and the items not started,
/// or the panic of a user `Deserialize`; `None` when the job was completed already (its
/// arguments failed).
fn run_batch<F, A, R>(
    ctx: &mut JobCtx<'_>,
    hand_back: bool,
) -> Option<std::thread::Result<(BatchOut<R>, Vec<A>)>>
where
    F: Fn(A) -> R + Copy + 'static,
    A: Message,
    R: Message,
{
    let input = ctx.input;
    if hand_back {
        // Before the batch's clock: a registration may take a grace period (steal.rs).
        ctx.ensure_fenced();
    }
    let t0 = std::time::Instant::now();
    let mut out = Batch::<R>::default();
    if envelope::is_spilled(input) {
        let items = read_args::<Vec<A>>(ctx)?;
        let claims = claims(ctx, hand_back, items.len());
        let mut keep = keeper(ctx, hand_back);
        let mut items = items.into_iter();
        let mut rest = Vec::new();
        for (i, a) in items.by_ref().enumerate() {
            if claims.item(i) {
                rest.push(a);
                break;
            }
            out.run(conjure::<F>(), a, &mut keep);
        }
        rest.extend(items);
        return Some(Ok((out.end(t0, SPILLED), rest)));
    }
    let me: &JobCtx<'_> = ctx;
    // A user `Deserialize` may panic: caught like the job's own panics (the whole batch
    // fails then, as a chunk does).
    let run = || {
        crate::spill::with_archived::<Vec<A>, _>(input, None, |items| {
            let claims = claims(me, hand_back, items.len());
            let mut keep = keeper(me, hand_back);
            out.reserve(items.len());
            let de = |a| {
                rkyv::deserialize::<A, rkyv::rancor::Error>(a)
                    .map_err(|e| format!("deserialize: {e}"))
            };
            for (i, a) in items.iter().enumerate() {
                if claims.item(i) {
                    return items[i..].iter().map(de).collect::<Result<Vec<A>, _>>();
                }
                out.run(conjure::<F>(), de(a)?, &mut keep);
            }
            Ok::<_, String>(Vec::new())
        })
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(Ok(rest))) => Some(Ok((out.end(t0, input.len() as u64), rest))),
        Ok(Ok(Err(e)) | Err(e)) => {
            ctx.complete_msg(status::BAD_ARGS, &e);
            None
        }
        Err(p) => Some(Err(p)),
    }
}

/// The claims of a batch of `n` items: published if it may hand back (`Pool::map`'s),
/// none for zeroproc-cluster's batches, which run every item.
#[inline]
fn claims<'a>(ctx: &JobCtx<'a>, hand_back: bool, n: usize) -> crate::worker::Claims<'a> {
    match hand_back {
        true => ctx.batch_claims(n),
        false => crate::worker::Claims::NONE,
    }
}

/// Where a batch keeps its finished items' results for a death in it (`partial.rs`):
/// `Pool::map`'s batches (those that hand back), not zeroproc-cluster's.
#[inline]
fn keeper<'a>(ctx: &JobCtx<'a>, hand_back: bool) -> crate::partial::Keeper<'a> {
    match hand_back {
        true => ctx.batch_keeper(),
        false => crate::partial::Keeper::NONE,
    }
}

/// The results of a batch so far: plain while no item has panicked.
enum Batch<R> {
    Plain(Vec<R>),
    Mixed(Vec<Result<R, String>>),
}

impl<R> Default for Batch<R> {
    fn default() -> Self {
        Batch::Plain(Vec::new())
    }
}

impl<R> Batch<R> {
    fn reserve(&mut self, n: usize) {
        if let Batch::Plain(v) = self {
            v.reserve_exact(n);
        }
    }

    /// Runs one item under its own `catch_unwind`; `keep` gets its result (`partial.rs`:
    /// a plain batch's, up to the first panic).
    #[inline]
    fn run<A>(&mut self, f: impl Fn(A) -> R, a: A, keep: &mut crate::partial::Keeper<'_>)
    where
        R: Message,
    {
        let r = catch_unwind(AssertUnwindSafe(move || f(a))).map_err(crate::worker::panic_message);
        crate::worker::leave_if_forked();
        match (&mut *self, r) {
            (Batch::Plain(v), Ok(r)) => {
                keep.kept(&r);
                v.push(r)
            }
            (Batch::Mixed(v), r) => v.push(r),
            (Batch::Plain(v), Err(m)) => {
                keep.stop();
                let mut all: Vec<Result<R, String>> =
                    std::mem::take(v).into_iter().map(Ok).collect();
                all.push(Err(m));
                *self = Batch::Mixed(all);
            }
        }
    }

    fn end(self, t0: std::time::Instant, arg_bytes: u64) -> BatchOut<R> {
        let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        match self {
            Batch::Plain(v) => (ns, arg_bytes, Ok(v)),
            Batch::Mixed(v) => (ns, arg_bytes, Err(v)),
        }
    }
}

/// Runs the initializer `F` (no arguments, no result).
pub(crate) fn call_init<F, R>(ctx: &mut JobCtx<'_>)
where
    F: Fn() -> R + Copy + 'static,
{
    let f = conjure::<F>();
    // The value is dropped under the catch_unwind: a panicking `Drop` fails the
    // initializer like a panic in its body.
    finish(ctx, catch_unwind(AssertUnwindSafe(move || drop(f()))));
}

/// `value` as an envelope (header + archive) in a buffer of its own, sized by measuring
/// (the one send path into a [`Buffer`]: a `Process`'s arguments travel in its start
/// block, not a ring).
pub(crate) fn encode_owned<A: Message>(value: &A) -> Result<rkyv::util::AlignedVec<16>, String> {
    use zeroproc_codec::send::{send, Buffer, NoOverflow};
    let mut buf = Buffer::new();
    match send(&mut buf, &mut NoOverflow, envelope::Header::new(0, 0), value) {
        Ok(_) => Ok(buf.into_vec()),
        Err(e) => Err(e.to_string()),
    }
}

fn read_args<A: Message>(ctx: &mut JobCtx<'_>) -> Option<A> {
    let input = ctx.input;
    let spilled = envelope::is_spilled(input);
    let heap = if spilled { ctx.spill_heap().cloned() } else { None };
    if spilled && heap.is_none() {
        let why = ctx.why_no_spill_heap();
        ctx.complete_msg(status::BAD_ARGS, &format!("a spilled argument, but {why}"));
        return None;
    }
    let heap = heap.as_ref();
    // A user `Deserialize` may panic: caught like the job's own panics.
    let r = catch_unwind(AssertUnwindSafe(|| crate::spill::decode_owned::<A>(input, heap)));
    match r {
        Ok(Ok(a)) => Some(a),
        Err(p) => {
            ctx.complete_msg(status::PANICKED, &crate::worker::panic_message(p));
            None
        }
        Ok(Err(e)) => {
            ctx.complete_msg(status::BAD_ARGS, &e);
            None
        }
    }
}
