//! `pool.map(..).progress()`: a progress bar with rate and ETA (mpire's
//! `progress_bar=True`), drawn on stderr by `indicatif` when the `progress` feature is on
//! (default) and stderr is a terminal; nothing otherwise.

/// The bar of one `map`, advanced as its results are taken.
#[derive(Default)]
pub(crate) struct Progress {
    #[cfg(feature = "progress")]
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// A bar for `len` items (`None`: unknown, a counter with a rate).
    pub(crate) fn new(len: Option<usize>) -> Self {
        #[cfg(feature = "progress")]
        {
            use indicatif::{ProgressBar, ProgressStyle};
            use std::io::IsTerminal;
            if !std::io::stderr().is_terminal() {
                return Progress { bar: None }; // a log file gets no bar
            }
            let (bar, template) = match len {
                Some(n) => (
                    ProgressBar::new(n as u64),
                    "{bar:40} {pos}/{len} items  {per_sec}  ETA {eta}  ({elapsed})",
                ),
                None => (ProgressBar::no_length(), "{spinner} {pos} items  {per_sec}  ({elapsed})"),
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            Progress { bar: Some(bar) }
        }
        #[cfg(not(feature = "progress"))]
        {
            let _ = len;
            Progress {}
        }
    }

    /// One result taken (`true`), or the map ended (`false`).
    #[inline]
    pub(crate) fn tick(&self, more: bool) {
        #[cfg(feature = "progress")]
        if let Some(b) = &self.bar {
            if more {
                b.inc(1);
            } else if !b.is_finished() {
                b.finish();
                eprintln!(); // leave the finished bar on its own line
            }
        }
        #[cfg(not(feature = "progress"))]
        let _ = more;
    }
}
