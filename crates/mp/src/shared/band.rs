//! [`RowBand`]: a chunk of a row-major grid seen as whole rows.

use std::ops::Range;

/// A band of whole rows of a row-major grid of `cols` columns: what a row-band kernel is
/// given beside its `&mut [T]` (which holds `rows.len() * cols` elements, row after row).
///
/// ```
/// use zeroproc_mp::shared::RowBand;
/// let band = RowBand::of_elements(6..12, 3).unwrap(); // elements 6..12 of a 3-wide grid
/// assert_eq!(band.rows, 2..4);
/// assert_eq!(band.elements(), 6..12);
/// assert!(RowBand::of_elements(5..12, 3).is_none()); // not whole rows
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowBand {
    /// The rows of the band, within the whole grid.
    pub rows: Range<usize>,
    /// Columns per row.
    pub cols: usize,
}

impl RowBand {
    /// The band covering the element range `r` of a grid `cols` wide, if `r` is made of
    /// whole rows (and `cols > 0`).
    pub fn of_elements(r: Range<usize>, cols: usize) -> Option<RowBand> {
        let whole = cols > 0 && r.start % cols == 0 && r.end % cols == 0 && r.start <= r.end;
        whole.then(|| RowBand { rows: r.start / cols..r.end / cols, cols })
    }

    /// The band's element range within the grid.
    pub fn elements(&self) -> Range<usize> {
        self.rows.start * self.cols..self.rows.end * self.cols
    }
}
