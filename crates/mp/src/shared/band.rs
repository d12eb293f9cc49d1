//! [`RowBand`]: a chunk of a row-major grid seen as whole rows.

use std::ops::Range;

/// A band of whole rows of a row-major grid: what a row-band kernel is given beside its
/// `&mut [T]` (which holds `rows.len() * cols` elements, row after row). It says where the
/// band lies in the whole grid — its first row (`rows.start`), its row count
/// (`rows.len()`), the grid's width (`cols`) and height (`grid_rows`) — so a kernel needs
/// nothing else to know whether it touches an edge or to scale coordinates.
///
/// ```
/// use zeroproc_mp::shared::RowBand;
/// // Elements 6..12 of a grid 3 wide and 5 high (15 elements): rows 2 and 3.
/// let band = RowBand::of_elements(6..12, 3, 15).unwrap();
/// assert_eq!(band.rows, 2..4);
/// assert_eq!((band.cols, band.grid_rows), (3, 5));
/// assert_eq!(band.elements(), 6..12);
/// assert!(!band.is_top() && !band.is_bottom());
/// assert!(RowBand::of_elements(5..12, 3, 15).is_none()); // not whole rows
/// assert!(RowBand::of_elements(6..18, 3, 15).is_none()); // past the grid
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RowBand {
    /// The rows of the band, within the whole grid: the first is `rows.start`, there are
    /// `rows.len()`.
    pub rows: Range<usize>,
    /// Columns per row: the grid's width.
    pub cols: usize,
    /// Rows of the whole grid: its height (`rows.end <= grid_rows`).
    pub grid_rows: usize,
}

impl RowBand {
    /// The band covering the element range `r` of a grid `cols` wide holding `grid_len`
    /// elements, if `r` is made of whole rows within the grid (and `cols > 0`, `grid_len`
    /// a multiple of `cols`).
    pub fn of_elements(r: Range<usize>, cols: usize, grid_len: usize) -> Option<RowBand> {
        let whole = cols > 0
            && r.start % cols == 0
            && r.end % cols == 0
            && grid_len % cols == 0
            && r.start <= r.end
            && r.end <= grid_len;
        whole.then(|| RowBand {
            rows: r.start / cols..r.end / cols,
            cols,
            grid_rows: grid_len / cols,
        })
    }

    /// The band's element range within the grid.
    pub fn elements(&self) -> Range<usize> {
        self.rows.start * self.cols..self.rows.end * self.cols
    }

    /// The band holds the grid's first row.
    pub fn is_top(&self) -> bool {
        self.rows.start == 0 && !self.rows.is_empty()
    }

    /// The band holds the grid's last row.
    pub fn is_bottom(&self) -> bool {
        self.rows.end == self.grid_rows && !self.rows.is_empty()
    }
}
