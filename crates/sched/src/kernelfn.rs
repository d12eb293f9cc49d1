//! The kernels of the in-place calls with a run-time parameter
//! ([`Pool::in_place`](crate::Pool::in_place)`(&mut y).args(p)`): each gets `&P` as its
//! last argument. Like every job function (`jobfn.rs`), a kernel is a fn item or a closure
//! that captures nothing: the parameter is what replaces the capture.

use std::ops::Range;
use zeroproc_mp::shared::RowBand;

/// A kernel for [`InPlace::for_each_chunk_mut`](crate::InPlace::for_each_chunk_mut):
/// `Fn(&mut [T], Range<usize>, &P)` — the chunk, where it lies, and the call's parameter —
/// as a fn item or a closure that captures nothing. Blanket-implemented; the bound exists
/// for its error message.
///
/// ```compile_fail,E0277
/// zeroproc_sched::init();
/// let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
/// let mut y = zeroproc_mp::SharedArray::<f64>::zeroed(8).unwrap();
/// let scale = vec![2.0];
/// // error[E0277]: `{closure}` cannot be a chunk kernel: ... captures nothing
/// pool.in_place(&mut y)
///     .args(1.0)
///     .for_each_chunk_mut(4, move |c: &mut [f64], _, _: &f64| c.fill(scale[0]))
///     .unwrap();
/// ```
///
/// A closure capturing only `Copy` values meets this bound and is refused by `cargo build`
/// (not `cargo check`), with a message saying to pass the value with `.args(..)`:
///
/// ```compile_fail,E0080
/// zeroproc_sched::init();
/// let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
/// let mut y = zeroproc_mp::SharedArray::<f64>::zeroed(8).unwrap();
/// let alpha = std::env::args().count() as f64;
/// // error[E0080]: evaluation panicked: this in-place kernel captures variables (a
/// // run-time parameter such as `alpha` or `dt`?): ... Pass a run-time parameter with `args`
/// pool.in_place(&mut y)
///     .for_each_chunk_mut(4, move |c: &mut [f64], _, _: &()| c.iter_mut().for_each(|v| *v *= alpha))
///     .unwrap();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a chunk kernel: it must be a fn item or a closure that \
               captures nothing, taking `(&mut [{T}], Range<usize>, &{P})`",
    label = "captures variables (or does not take `(&mut [{T}], Range<usize>, &{P})`)",
    note = "a worker calls the kernel by its type and gets no bytes of it: what it needs \
            goes in the call's parameter (`.args(p)`), which each call gets as `&{P}`"
)]
pub trait ChunkArgsKernel<T, P>: Fn(&mut [T], Range<usize>, &P) + Copy + Send + 'static {}

#[diagnostic::do_not_recommend]
impl<T, P, K> ChunkArgsKernel<T, P> for K where
    K: Fn(&mut [T], Range<usize>, &P) + Copy + Send + 'static
{
}

/// A kernel for
/// [`InPlace::for_each_chunk_mut_with`](crate::InPlace::for_each_chunk_mut_with):
/// `Fn(&mut [T], &[U], &P)` — a chunk of the output, the same range of the input, and the
/// call's parameter — as a fn item or a closure that captures nothing. Blanket-implemented;
/// the bound exists for its error message.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a chunk kernel: it must be a fn item or a closure that \
               captures nothing, taking `(&mut [{T}], &[{U}], &{P})`",
    label = "captures variables (or does not take `(&mut [{T}], &[{U}], &{P})`)",
    note = "a worker calls the kernel by its type and gets no bytes of it: what it needs \
            goes in the call's parameter (`.args(p)`) or the input `SharedArray`"
)]
pub trait ZipArgsKernel<T, U, P>: Fn(&mut [T], &[U], &P) + Copy + Send + 'static {}

#[diagnostic::do_not_recommend]
impl<T, U, P, K> ZipArgsKernel<T, U, P> for K where K: Fn(&mut [T], &[U], &P) + Copy + Send + 'static
{}

/// A kernel for [`InPlace::for_each_row_band_mut`](crate::InPlace::for_each_row_band_mut):
/// `Fn(&mut [T], RowBand, &P)` — whole rows of a grid, which rows they are, and the call's
/// parameter — as a fn item or a closure that captures nothing. Blanket-implemented; the
/// bound exists for its error message.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a row-band kernel: it must be a fn item or a closure that \
               captures nothing, taking `(&mut [{T}], RowBand, &{P})`",
    label = "captures variables (or does not take `(&mut [{T}], RowBand, &{P})`)",
    note = "a worker calls the kernel by its type and gets no bytes of it: what it needs \
            goes in the call's parameter (`.args(p)`), which each call gets as `&{P}`"
)]
pub trait BandArgsKernel<T, P>: Fn(&mut [T], RowBand, &P) + Copy + Send + 'static {}

#[diagnostic::do_not_recommend]
impl<T, P, K> BandArgsKernel<T, P> for K where K: Fn(&mut [T], RowBand, &P) + Copy + Send + 'static {}

/// A kernel for
/// [`InPlace::for_each_row_band_mut_with`](crate::InPlace::for_each_row_band_mut_with):
/// `Fn(&mut [T], &[U], RowBand, &P)` — whole rows of the output grid, the **whole**
/// read-only input, which rows the band holds, and the call's parameter — as a fn item or
/// a closure that captures nothing. Blanket-implemented; the bound exists for its error
/// message.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a row-band kernel: it must be a fn item or a closure that \
               captures nothing, taking `(&mut [{T}], &[{U}], RowBand, &{P})`",
    label = "captures variables (or does not take `(&mut [{T}], &[{U}], RowBand, &{P})`)",
    note = "a worker calls the kernel by its type and gets no bytes of it: what it needs \
            goes in the call's parameter (`.args(p)`) or the input `SharedArray`"
)]
pub trait BandWithArgsKernel<T, U, P>:
    Fn(&mut [T], &[U], RowBand, &P) + Copy + Send + 'static
{
}

#[diagnostic::do_not_recommend]
impl<T, U, P, K> BandWithArgsKernel<T, U, P> for K where
    K: Fn(&mut [T], &[U], RowBand, &P) + Copy + Send + 'static
{
}
