//! The per-slot state word: `seq (40 bits) | state (2 bits) | aux (22 bits)`, and how a
//! word reads relative to the position a process is looking for.
//!
//! ```text
//!  63                         24 23  22 21                     0
//! +-----------------------------+------+------------------------+
//! |  seq = position mod 2^40    |state |  aux                   |
//! +-----------------------------+------+------------------------+
//! ```
//!
//! `aux` is the claimant's pid in `WRITING`/`READING` (never 0; Linux pids are below
//! `PID_MAX_LIMIT` = 2^22), the record kind (`DATA` or `TOMBSTONE`) in `FULL`, and 0 in
//! `EMPTY`. Any other combination cannot be produced by the protocol: it is corruption.

/// Bits of the position kept in a slot's state word.
pub(crate) const SEQ_BITS: u32 = 40;
/// Mask of the stored position bits.
pub(crate) const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;
/// Bits of the `aux` field.
pub(crate) const AUX_BITS: u32 = 22;
/// Mask of the `aux` field; also the largest pid a claim can carry.
pub(crate) const AUX_MASK: u64 = (1 << AUX_BITS) - 1;
const STATE_SHIFT: u32 = AUX_BITS;
const SEQ_SHIFT: u32 = AUX_BITS + 2;

/// `aux` of a `FULL` slot holding a record.
pub(crate) const DATA: u32 = 0;
/// `aux` of a `FULL` slot holding no record (dead or aborted producer): consumers skip it.
pub(crate) const TOMBSTONE: u32 = 1;

/// The four slot states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Free for the producer of position `seq`.
    Empty = 0,
    /// Claimed by the producer whose pid is in `aux`; payload being written.
    Writing = 1,
    /// Published for the consumer of position `seq` (`aux` = `DATA` or `TOMBSTONE`).
    Full = 2,
    /// Claimed by the consumer whose pid is in `aux`; payload being read.
    Reading = 3,
}

/// Packs a state word. `pos` is reduced modulo 2^40; `aux` must fit 22 bits.
#[inline]
pub(crate) const fn pack(pos: u64, state: State, aux: u32) -> u64 {
    ((pos & SEQ_MASK) << SEQ_SHIFT) | ((state as u64) << STATE_SHIFT) | (aux as u64 & AUX_MASK)
}

/// The position (mod 2^40) stored in `w`.
#[inline]
pub(crate) const fn seq(w: u64) -> u64 {
    w >> SEQ_SHIFT
}

/// The state stored in `w`.
#[inline]
pub(crate) const fn state(w: u64) -> State {
    match (w >> STATE_SHIFT) & 3 {
        0 => State::Empty,
        1 => State::Writing,
        2 => State::Full,
        _ => State::Reading,
    }
}

/// The `aux` field of `w` (pid, record kind, or 0).
#[inline]
pub(crate) const fn aux(w: u64) -> u32 {
    (w & AUX_MASK) as u32
}

/// `w` with `delta` added to its position (mod 2^40); state and `aux` unchanged. A slot
/// stores its words with the slot's index taken off the position (`layout::Slot`).
#[inline]
pub(crate) const fn shift_seq(w: u64, delta: u64) -> u64 {
    let low = w & ((1 << SEQ_SHIFT) - 1);
    ((seq(w).wrapping_add(delta) & SEQ_MASK) << SEQ_SHIFT) | low
}

/// `seq - pos` as a signed number of positions in the 40-bit ring (range ±2^39).
#[inline]
pub(crate) const fn lap_diff(seq: u64, pos: u64) -> i64 {
    ((seq.wrapping_sub(pos) << (64 - SEQ_BITS)) as i64) >> (64 - SEQ_BITS)
}

/// Whether `aux` is a value the protocol can store together with `state`.
#[inline]
pub(crate) const fn aux_valid(state: State, aux: u32) -> bool {
    match state {
        State::Empty => aux == 0,
        State::Writing | State::Reading => aux != 0,
        State::Full => aux == DATA || aux == TOMBSTONE,
    }
}

/// How a slot's word relates to the position `pos` a process is working on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// The slot is at `pos`, in this state with this `aux`.
    Here(State, u32),
    /// The slot is still at `pos - capacity` (the previous lap), in this state.
    Behind(State, u32),
    /// The slot is at `pos + capacity`: `pos` was claimed and finished by someone.
    Ahead,
    /// Any other lap. Normal when `pos` came from an old read of the hint; impossible when
    /// the hint still equals `pos` (see README, "corruption").
    Stale,
    /// Not a word the protocol can produce for this slot (seq not congruent to the slot
    /// index, or `aux` invalid for the state).
    Corrupt,
}

/// Classifies `w`, read from the slot of `pos` in a ring of capacity `cap` (a power of two).
#[inline]
pub(crate) fn classify(w: u64, pos: u64, cap: u64) -> View {
    let (s, st, a) = (seq(w), state(w), aux(w));
    if (s ^ pos) & (cap - 1) != 0 || !aux_valid(st, a) {
        return View::Corrupt;
    }
    let d = lap_diff(s, pos);
    if d == 0 {
        View::Here(st, a)
    } else if d == cap as i64 {
        View::Ahead
    } else if d == -(cap as i64) {
        View::Behind(st, a)
    } else {
        View::Stale
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips() {
        for &(pos, st, a) in &[
            (0u64, State::Empty, 0u32),
            (SEQ_MASK, State::Writing, AUX_MASK as u32),
            (12345, State::Full, TOMBSTONE),
            ((1 << 50) + 7, State::Reading, 4_194_303),
        ] {
            let w = pack(pos, st, a);
            assert_eq!(seq(w), pos & SEQ_MASK);
            assert_eq!(state(w), st);
            assert_eq!(aux(w), a);
        }
        assert_eq!(pack(0, State::Empty, 0), 0, "zeroed memory is slot 0, EMPTY, lap 0");
    }

    #[test]
    fn lap_diff_wraps_at_40_bits() {
        assert_eq!(lap_diff(5, 3), 2);
        assert_eq!(lap_diff(3, 5), -2);
        assert_eq!(lap_diff(0, SEQ_MASK), 1, "position 2^40 is stored as 0");
        assert_eq!(lap_diff(SEQ_MASK, 1 << SEQ_BITS), -1);
        // A full u64 position is reduced: 2^40 + 3 vs stored 3.
        assert_eq!(lap_diff(3, (1 << SEQ_BITS) + 3), 0);
    }

    #[test]
    fn classify_covers_every_case() {
        let cap = 4;
        assert_eq!(classify(pack(9, State::Empty, 0), 9, cap), View::Here(State::Empty, 0));
        assert_eq!(classify(pack(5, State::Reading, 7), 9, cap), View::Behind(State::Reading, 7));
        assert_eq!(classify(pack(13, State::Empty, 0), 9, cap), View::Ahead);
        assert_eq!(classify(pack(1, State::Full, DATA), 9, cap), View::Stale);
        assert_eq!(classify(pack(17, State::Empty, 0), 9, cap), View::Stale, "two laps ahead");
        assert_eq!(classify(pack(10, State::Empty, 0), 9, cap), View::Corrupt, "wrong slot");
        assert_eq!(classify(pack(9, State::Empty, 3), 9, cap), View::Corrupt, "EMPTY with aux");
        assert_eq!(classify(pack(9, State::Writing, 0), 9, cap), View::Corrupt, "pid 0");
        assert_eq!(classify(pack(9, State::Full, 2), 9, cap), View::Corrupt, "unknown kind");
        // Wrap-around: the slot of position 2^40 + 1 (stored seq 1) seen from 2^40 - 3.
        let p = (1u64 << SEQ_BITS) - 3;
        assert_eq!(classify(pack(p + 4, State::Empty, 0), p, cap), View::Ahead);
        assert_eq!(classify(pack(p + 4, State::Empty, 0), p + 4, cap), View::Here(State::Empty, 0));
    }
}
