//! A panic message cut to the room of the place that carries it back (a completion
//! record, a `Process`'s shared outcome block), keeping what a reader needs.

use std::borrow::Cow;

/// `msg` cut to at most `max` bytes: whole if it fits; else its start and its end (a
/// panic message ends with its location, `(at file:line:col)`) around a note saying how
/// much was cut and `whole` (where the whole message is), each cut at a character
/// boundary. Before, messages were cut at byte `max` without a word: a 20 MiB panic
/// message came back as its first 131,056 bytes, its location lost, ending in U+FFFD when
/// the cut split a character (Python pickles the whole exception). Where the note would
/// take over half of `max` (a small ring's record: `ring_capacity(256)` carries 112 bytes)
/// a bare ` … ` marks the cut, and below that the start alone is kept: never more than `max`
/// bytes (more failed the worker's reservation, and the job came back as `WorkerDied`).
pub(crate) fn fit_message<'m>(msg: &'m str, max: usize, whole: &str) -> Cow<'m, str> {
    if msg.len() <= max {
        return msg.into();
    }
    let full = |cut: usize| {
        format!(" [… {cut} bytes cut: the message had {} bytes; {whole} …] ", msg.len())
    };
    const BARE: &str = " … ";
    let note = |cut: usize| {
        if 2 * full(msg.len()).len() <= max {
            full(cut)
        } else {
            BARE.to_owned()
        }
    };
    if max < BARE.len() {
        let mut end = max;
        while !msg.is_char_boundary(end) {
            end -= 1;
        }
        return msg[..end].into();
    }
    // The end kept: up to 512 bytes, the rest of the room (less the note, sized with the
    // largest figure it can hold) for the start.
    let room = max.saturating_sub(note(msg.len()).len());
    // (Half of it, at most: a small record keeps the message's start too.)
    let tail = room.min(512).min(room / 2);
    let mut head = room - tail;
    let mut from = msg.len() - tail;
    while !msg.is_char_boundary(head) {
        head -= 1;
    }
    while !msg.is_char_boundary(from) {
        from += 1;
    }
    format!("{}{}{}", &msg[..head], note(from - head), &msg[from..]).into()
}

#[cfg(test)]
mod tests {
    use super::fit_message;

    #[test]
    fn a_message_that_fits_is_whole() {
        assert_eq!(fit_message("short", 100, "x"), "short");
    }

    #[test]
    fn a_long_message_keeps_its_start_and_end_at_char_boundaries() {
        // 3-byte characters, so a cut at a fixed byte count would split one.
        let msg = format!("{} (at src/main.rs:7:9)", "€".repeat(100_000));
        let max = 131_056;
        let m = fit_message(&msg, max, "on stderr");
        assert!(m.len() <= max, "{} > {max}", m.len());
        assert!(m.starts_with("€€€"));
        assert!(m.ends_with("€ (at src/main.rs:7:9)"), "the location is kept");
        assert!(!m.contains('\u{FFFD}'));
        let (head, rest) = m.split_once(" [… ").unwrap();
        let (note, tail) = rest.split_once(" …] ").unwrap();
        let cut: usize = note.split(' ').next().unwrap().parse().unwrap();
        assert_eq!(head.len() + cut + tail.len(), msg.len(), "the note says how much was cut");
        assert!(m.contains(&format!("the message had {} bytes", msg.len())));
    }

    /// Records smaller than the note (a small ring's): still at most `max` bytes, the
    /// location kept while a bare mark fits.
    #[test]
    fn a_record_smaller_than_the_note_still_bounds_the_message() {
        let msg = format!("{} (at src/main.rs:3:9)", "€".repeat(200));
        for max in [0, 1, 2, 4, 5, 6, 16, 40, 112, 200, 240, 300] {
            let f = fit_message(&msg, max, "on the worker's stderr");
            assert!(f.len() <= max, "max {max}: {} bytes", f.len());
            if max >= 60 {
                assert!(f.ends_with("(at src/main.rs:3:9)"), "max {max}: {f}");
                assert!(f.starts_with('€'), "max {max}: {f}");
            }
        }
    }

    #[test]
    fn every_width_of_character_fits_with_its_location() {
        for unit in ["y", "é", "€", "🦀"] {
            for reps in [1, 1000, 1500, 1366, 5000] {
                let msg = format!("{} (at src/main.rs:3:9)", unit.repeat(reps));
                let f = fit_message(&msg, 4096, "on stderr");
                assert!(f.len() <= 4096, "{unit} x{reps}: {} bytes", f.len());
                assert!(f.ends_with("(at src/main.rs:3:9)"), "{unit} x{reps}");
                assert_eq!(msg.len() <= 4096, f == msg, "{unit} x{reps}");
            }
        }
    }
}
