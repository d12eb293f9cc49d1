//! `pool.map(..).progress()`: a progress bar with rate and ETA (mpire's
//! `progress_bar=True`), drawn on stderr by `indicatif` when the `progress` feature is on
//! (default) and stderr is a terminal; nothing otherwise.

/// The template of a bar of known length. `{per_sec}` alone prints four decimals
/// ("6,985.0898/s"); its width is indicatif's precision for it: one decimal, as tqdm's
/// "345.07it/s" shows two (before docs33 the bar read "345.0723/s").
#[cfg(feature = "progress")]
const BAR: &str = "{bar:40} {pos}/{len} items  {per_sec:1}  ETA {eta}  ({elapsed})";

/// The template of a counter (an input of unknown length).
#[cfg(feature = "progress")]
const COUNTER: &str = "{spinner} {pos} items  {per_sec:1}  ({elapsed})";

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
                Some(n) => (ProgressBar::new(n as u64), BAR),
                None => (ProgressBar::no_length(), COUNTER),
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

#[cfg(all(test, feature = "progress"))]
mod tests {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
    use std::sync::{Arc, Mutex};

    /// A terminal that keeps what is drawn.
    #[derive(Debug, Default, Clone)]
    struct Screen(Arc<Mutex<String>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            200
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `template` draws for a bar of `len` (or a counter) after 12,345 items.
    fn drawn(bar: ProgressBar, template: &str) -> String {
        let screen = Screen::default();
        bar.set_draw_target(ProgressDrawTarget::term_like(Box::new(screen.clone())));
        bar.set_style(ProgressStyle::with_template(template).unwrap());
        bar.inc(12_345);
        std::thread::sleep(std::time::Duration::from_millis(30));
        bar.force_draw();
        let s = screen.0.lock().unwrap().clone();
        s
    }

    /// The rate has at most one decimal ("6,985.1/s", "408,945/s"), not indicatif's
    /// default four ("6,985.0898/s").
    #[test]
    fn the_rate_shows_one_decimal() {
        for (bar, t) in
            [(ProgressBar::new(100_000), super::BAR), (ProgressBar::no_length(), super::COUNTER)]
        {
            let s = drawn(bar, t);
            let rate = s.split_whitespace().find(|w| w.ends_with("/s")).expect(&s);
            let digits = rate.trim_end_matches("/s");
            // At most one decimal: a large rate is drawn whole ("408,945/s"), a small one
            // with one ("6,985.1/s"); the test failed on the whole ones 2 runs in 6.
            let frac = digits.split_once('.').map_or("", |(_, f)| f);
            assert!(frac.len() <= 1, "{rate} in {s:?}");
        }
    }
}
