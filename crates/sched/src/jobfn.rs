//! What a job function is: the bounds every `submit`, `map`, `Process` and initializer
//! puts on the function it is given, as traits that say what to do when they are not met.
//!
//! A worker calls a job function by its *type* (`fnid.rs`): the function carries no
//! bytes, so it must be a fn item or a closure that captures nothing. The bounds
//! (`Fn + Copy + Send + 'static`) catch, at the call site and in `cargo check`, every
//! closure that captures something owned and not `Copy` (a `Vec`, a `String`, an `Arc`,
//! a table) — rustc reports the root trait, so the message below is what users see
//! (`#[diagnostic::do_not_recommend]` keeps it from descending to "`Vec<u64>: Copy` is not
//! satisfied"). A closure that borrows a local fails `'static` (borrowck suggests `move`,
//! which then lands here).
//!
//! **What no bound on stable Rust can express:** "zero-sized". A `move` closure that
//! captures only `Copy` data (`move |x| x * k` with `k: u64`) and a function *pointer*
//! (`let f: fn(u64) -> u64 = square`) meet all of the bounds; they are refused after
//! type checking, when the job is instantiated (`job::conjure`'s compile-time assertion):
//! `cargo build` fails with the message, `cargo check` and editors do not show it.
//! Making it a bound would need `generic_const_exprs` (nightly) or taking `fn(A) -> R`
//! pointers, which would turn every job call into an indirect call and drop inlining from
//! the chunked `map` hot loop.

/// A function a pool can run as a job, or a `Process` as its body: `Fn(A) -> R`, a fn
/// item or a closure that captures nothing. Blanket-implemented; the bound exists for its
/// error message.
///
/// ```
/// zeroproc_sched::init();
/// use zeroproc_sched::{JobFn, Pool};
/// fn run_one<F: JobFn<u64, u64>>(pool: &Pool, f: F) -> u64 {
///     pool.submit(f, 20).result().unwrap()
/// }
/// let pool = Pool::builder().workers(1).build()?;
/// assert_eq!(run_one(&pool, |x| x + 1), 21);
/// # Ok::<(), zeroproc_sched::BuildError>(())
/// ```
///
/// A closure that captures a value is refused where it is passed, by `cargo check` too:
///
/// ```compile_fail,E0277
/// zeroproc_sched::init();
/// let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
/// let table = vec![1u64, 2, 3];
/// // error[E0277]: `{closure}` cannot be sent to a worker or another process: a job or
/// // `Process` function must be a fn item or a closure that captures nothing
/// let _ = pool.submit(move |i: usize| table[i], 1);
/// ```
///
/// A closure capturing only `Copy` values (rayon's captured `k`) and a `fn` pointer (a
/// function chosen at run time) meet this bound, and are refused by `cargo build` (not
/// `cargo check`) with a message saying what to write instead: the value in the argument
/// (in a map, each item a tuple), the fn item itself:
///
/// ```compile_fail,E0080
/// zeroproc_sched::init();
/// let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
/// let k = std::env::args().count() as u64;
/// // error[E0080]: evaluation panicked: this job or Process function carries data ...
/// // in a map, each item a tuple: `pool.map(f, xs.map(|x| (x, k)))` ...
/// let _ = pool.map(move |x: u64| x * k, 0..10u64).count();
/// ```
///
/// A job takes exactly one argument: Python's `submit(fn, a, b)` is `submit(f, (a, b))`
/// with `f` taking the tuple, and `submit(os.getpid)` is `submit(|_: ()| getpid(), ())`.
/// A `fn` of two arguments (or of none) gets rustc's own "function is expected to take 1
/// argument" (E0593), which this trait's message cannot replace:
///
/// ```compile_fail,E0593
/// zeroproc_sched::init();
/// let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
/// fn add(a: u64, b: u64) -> u64 { a + b }
/// let _ = pool.submit(add, (1, 2)); // write `|(a, b): (u64, u64)| add(a, b)`
/// ```
///
/// What works: the value travels with each item.
///
/// ```
/// zeroproc_sched::init();
/// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
/// let k = std::env::args().count() as u64;
/// let xs = 0..10u64;
/// let s: u64 = pool.map(|(x, k): (u64, u64)| x * k, xs.map(|x| (x, k))).map(Result::unwrap).sum();
/// assert_eq!(s, 45 * k);
/// # Ok::<(), zeroproc_sched::BuildError>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent to a worker or another process: a job or `Process` \
               function must be a fn item or a closure that captures nothing",
    label = "captures variables (or is not `Fn({A}) -> {R} + Send`)",
    note = "a worker or child process calls the function by its type and gets no bytes of \
            it: pass the data as the argument (`pool.submit(f, (data, x))`, \
            `Process::spawn(f, (data, x))`; in a map, items that carry it: \
            `pool.map(f, xs.map(|x| (x, data.clone())))`) or share it once \
            (`pool.share(&value)` → a `SharedValue<T>` handle passed as an argument)"
)]
pub trait JobFn<A, R>: Fn(A) -> R + Copy + Send + 'static {}

#[diagnostic::do_not_recommend]
impl<F, A, R> JobFn<A, R> for F where F: Fn(A) -> R + Copy + Send + 'static {}

/// A pool's initializer without arguments: `Fn() -> R`, a fn item or a closure that
/// captures nothing (see [`JobFn`]; arguments go through
/// [`PoolBuilder::initializer_with`](crate::PoolBuilder::initializer_with)). What it
/// returns is dropped in the worker, as Python ignores an initializer's return value.
///
/// ```
/// zeroproc_sched::init();
/// let pool = zeroproc_sched::Pool::builder().workers(1).initializer(|| ()).build()?;
/// # Ok::<(), zeroproc_sched::BuildError>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a worker initializer: it must be a fn item or a closure \
               that captures nothing",
    label = "captures variables (or is not `Fn() + Send`)",
    note = "pass the data as the initializer's argument: \
            `.initializer_with(f, args)` calls `f(args)` in every worker"
)]
pub trait InitFn<R = ()>: Fn() -> R + Copy + Send + 'static {}

#[diagnostic::do_not_recommend]
impl<F, R> InitFn<R> for F where F: Fn() -> R + Copy + Send + 'static {}

/// A kernel for [`Pool::for_each_chunk_mut`](crate::Pool::for_each_chunk_mut):
/// `Fn(&mut [T], Range<usize>)` — the chunk and where it lies in the array — as a fn item
/// or a closure that captures nothing (see [`JobFn`]). Blanket-implemented; the bound
/// exists for its error message.
///
/// ```compile_fail,E0277
/// zeroproc_sched::init();
/// let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
/// let mut y = zeroproc_mp::SharedArray::<f64>::zeroed(8).unwrap();
/// let scale = vec![2.0];
/// // error[E0277]: `{closure}` cannot be a chunk kernel: ... captures nothing
/// pool.for_each_chunk_mut(&mut y, 4, move |c: &mut [f64], _| c.fill(scale[0])).unwrap();
/// ```
///
/// A closure capturing only `Copy` values (a run-time `alpha`) meets this bound and is
/// refused by `cargo build` (not `cargo check`), with a message naming the way a
/// run-time parameter reaches a kernel (`pool.in_place(&mut y).args(alpha)`: the example
/// on `Pool::for_each_chunk_mut`):
///
/// ```compile_fail,E0080
/// zeroproc_sched::init();
/// let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
/// let mut y = zeroproc_mp::SharedArray::<f64>::zeroed(8).unwrap();
/// let alpha = std::env::args().count() as f64;
/// // error[E0080]: evaluation panicked: this in-place kernel captures variables (a
/// // run-time parameter such as `alpha` or `dt`?): ...
/// pool.for_each_chunk_mut(&mut y, 4, move |c: &mut [f64], _| c.iter_mut().for_each(|v| *v *= alpha))
///     .unwrap();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a chunk kernel: it must be a fn item or a closure that \
               captures nothing, taking `(&mut [{T}], Range<usize>)`",
    label = "captures variables (or does not take `(&mut [{T}], Range<usize>)`)",
    note = "a worker calls the kernel by its type and gets no bytes of it: pass a run-time \
            parameter with `pool.in_place(&mut y).args(p)` (its kernel gets `&p`), and \
            read-only input in a `SharedArray` with `for_each_chunk_mut_with`"
)]
pub trait ChunkKernel<T>: Fn(&mut [T], std::ops::Range<usize>) + Copy + Send + 'static {}

#[diagnostic::do_not_recommend]
impl<T, K> ChunkKernel<T> for K where K: Fn(&mut [T], std::ops::Range<usize>) + Copy + Send + 'static
{}

/// A kernel for [`Pool::for_each_chunk_mut_with`](crate::Pool::for_each_chunk_mut_with):
/// `Fn(&mut [T], &[U])` — a chunk of the output and the same range of the input — as a fn
/// item or a closure that captures nothing (see [`JobFn`]). Blanket-implemented; the bound
/// exists for its error message.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a chunk kernel: it must be a fn item or a closure that \
               captures nothing, taking `(&mut [{T}], &[{U}])`",
    label = "captures variables (or does not take `(&mut [{T}], &[{U}])`)",
    note = "a worker calls the kernel by its type and gets no bytes of it: what it reads \
            must be in the input `SharedArray`, or in a run-time parameter passed with \
            `pool.in_place(&mut y).args(p)` (its kernel gets `&p`), not in a captured variable"
)]
pub trait ZipKernel<T, U>: Fn(&mut [T], &[U]) + Copy + Send + 'static {}

#[diagnostic::do_not_recommend]
impl<T, U, K> ZipKernel<T, U> for K where K: Fn(&mut [T], &[U]) + Copy + Send + 'static {}

/// A kernel for [`Pool::for_each_row_band_mut`](crate::Pool::for_each_row_band_mut):
/// `Fn(&mut [T], RowBand)` — whole rows of a grid and which rows they are — as a fn item or
/// a closure that captures nothing (see [`JobFn`]). Blanket-implemented; the bound exists
/// for its error message.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a row-band kernel: it must be a fn item or a closure that \
               captures nothing, taking `(&mut [{T}], RowBand)`",
    label = "captures variables (or does not take `(&mut [{T}], RowBand)`)",
    note = "a worker calls the kernel by its type and gets no bytes of it: pass a run-time \
            parameter with `pool.in_place(&mut y).args(p)` (its kernel gets `&p`), and \
            what it reads in a `SharedArray` with `for_each_row_band_mut_with`"
)]
pub trait BandKernel<T>:
    Fn(&mut [T], zeroproc_mp::shared::RowBand) + Copy + Send + 'static
{
}

#[diagnostic::do_not_recommend]
impl<T, K> BandKernel<T> for K where
    K: Fn(&mut [T], zeroproc_mp::shared::RowBand) + Copy + Send + 'static
{
}

/// A kernel for
/// [`Pool::for_each_row_band_mut_with`](crate::Pool::for_each_row_band_mut_with):
/// `Fn(&mut [T], &[U], RowBand)` — whole rows of the output grid, the **whole** read-only
/// input (a stencil reads the rows around its band), and which rows the band holds — as a
/// fn item or a closure that captures nothing (see [`JobFn`]). Blanket-implemented; the
/// bound exists for its error message.
///
/// ```compile_fail,E0277
/// zeroproc_sched::init();
/// let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
/// let x = zeroproc_mp::SharedArray::<f64>::zeroed(8).unwrap();
/// let mut y = zeroproc_mp::SharedArray::<f64>::zeroed(8).unwrap();
/// let w = 0.25;
/// // error[E0277]: `{closure}` cannot be a row-band kernel: ... captures nothing
/// pool.for_each_row_band_mut_with(&mut y, &x, 4, 1, move |b: &mut [f64], x: &[f64], _| {
///     b[0] = w * x[0];
/// })
/// .unwrap();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a row-band kernel: it must be a fn item or a closure that \
               captures nothing, taking `(&mut [{T}], &[{U}], RowBand)`",
    label = "captures variables (or does not take `(&mut [{T}], &[{U}], RowBand)`)",
    note = "a worker calls the kernel by its type and gets no bytes of it: what it reads \
            must be in the input `SharedArray`, or in a run-time parameter passed with \
            `pool.in_place(&mut y).args(p)` (its kernel gets `&p`), not in a captured variable"
)]
pub trait BandWithKernel<T, U>:
    Fn(&mut [T], &[U], zeroproc_mp::shared::RowBand) + Copy + Send + 'static
{
}

#[diagnostic::do_not_recommend]
impl<T, U, K> BandWithKernel<T, U> for K where
    K: Fn(&mut [T], &[U], zeroproc_mp::shared::RowBand) + Copy + Send + 'static
{
}
