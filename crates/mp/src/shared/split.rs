//! The split protocol on a mapped array: opening a split (owner), finishing it (anyone who
//! finds every chunk terminal), abandoning it (owner), and the owner's exclusive write
//! mode. States and transitions are in `README.md`.

use super::header::{claim_parts, claim_word, is_terminal, Mode, State, CLOSED, FREE};
use super::mapping::Mapping;
use super::readers;
use super::SharedError;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use std::time::{Duration, Instant};
use zeroproc_shm::process::is_alive;

impl Mapping {
    /// The current state word.
    pub(crate) fn state(&self) -> State {
        // SeqCst: the reader side of the lease handshake (readers.rs) and, for everyone
        // else, at least Acquire: pairs with the Release/SeqCst stores and CASes of the
        // state, so a reader that sees Idle sees every finished chunk's writes.
        State::unpack(self.header().state.load(SeqCst))
    }

    /// Unfinished chunks of the split `s`; if none, moves the state to Idle.
    pub(crate) fn try_finish(&self, s: State) -> usize {
        if s.mode != Mode::Split {
            return 0;
        }
        let n = (s.chunks as usize).min(self.geo().max_chunks);
        let pending = (0..n)
            .filter(|&i| {
                // Acquire: pairs with the writer's Release store of DONE (or the owner's of
                // CLOSED), so its writes to the chunk happen before our reads.
                let w = self.claim(i).map_or(0, |c| c.load(Acquire));
                let (epoch, low) = claim_parts(w);
                epoch != s.epoch || !is_terminal(low)
            })
            .count();
        if pending == 0 {
            let idle = State { mode: Mode::Idle, chunks: 0, ..s };
            // SeqCst: publishes the finish (with everything acquired above) to readers that
            // load Idle; fails harmlessly if someone else finished it first.
            let _ = self.header().state.compare_exchange(s.pack(), idle.pack(), SeqCst, SeqCst);
        }
        pending
    }

    /// Opens a new split of `chunks` chunks of `chunk_len` elements; returns its epoch.
    /// Owner only (under `&mut`).
    pub(crate) fn open_split(&self, chunk_len: usize, chunks: usize) -> Result<u32, SharedError> {
        let s = self.state();
        match s.mode {
            Mode::Split => match self.try_finish(s) {
                0 => {}
                pending => return Err(SharedError::SplitInProgress { pending }),
            },
            Mode::Owner => return Err(SharedError::OwnerWriting),
            Mode::Idle => {}
        }
        let epoch = match s.epoch.wrapping_add(1) {
            0 => 1, // epoch 0 is the closed table of a fresh array
            e => e,
        };
        let h = self.header();
        // SeqCst: before the state store below (`ArrayHeader::writes`; ship.rs: a snapshot
        // that sees a later state sees this).
        h.writes.fetch_add(1, SeqCst);
        let open = State { epoch, mode: Mode::Split, chunks: chunks as u32 };
        // SeqCst: the owner side of the lease handshake (readers.rs): from here on a new
        // reader sees Split (its words not yet of this epoch count as pending).
        h.state.store(open.pack(), SeqCst);
        if let Some(pid) = readers::live_reader(h) {
            // SeqCst: back to Idle; the burnt epoch is never used by any chunk.
            h.state.store(State { mode: Mode::Idle, chunks: 0, ..open }.pack(), SeqCst);
            return Err(SharedError::ReadersActive { pid });
        }
        // Relaxed: published by the Release stores of the claim words below, which a
        // writer acquires before it reads this.
        h.chunk_len.store(chunk_len as u64, Relaxed);
        for i in 0..chunks {
            if let Some(c) = self.claim(i) {
                // Release: publishes `chunk_len` and the owner's earlier writes to the
                // elements; pairs with the Acquire claim CAS in chunk.rs.
                c.store(claim_word(epoch, FREE), Release);
            }
        }
        Ok(epoch)
    }

    /// Closes every unclaimed chunk (and every chunk of a dead writer) of the current
    /// split. Fails with `ChunkBusy` while a live process writes one (the rest are
    /// closed anyway; call again later). Owner only.
    pub(crate) fn abandon(&self) -> Result<(), SharedError> {
        let s = self.state();
        if s.mode != Mode::Split {
            return Ok(());
        }
        let mut busy = None;
        for i in 0..(s.chunks as usize).min(self.geo().max_chunks) {
            let Some(c) = self.claim(i) else { break };
            loop {
                // Acquire: pairs with a writer's Release of DONE/FREE (see `try_finish`).
                let w = c.load(Acquire);
                let (epoch, low) = claim_parts(w);
                if epoch != s.epoch || is_terminal(low) {
                    break;
                }
                if low != FREE && is_alive(low) {
                    busy = Some(low);
                    break;
                }
                // AcqRel: closes exactly the observed free or dead-writer word (a claimant
                // racing us either wins first, and we look again, or finds CLOSED); the
                // Release side pairs with the Acquire loads in `try_finish`.
                if c.compare_exchange(w, claim_word(s.epoch, CLOSED), AcqRel, Relaxed).is_ok() {
                    break;
                }
            }
        }
        if let Some(pid) = busy {
            return Err(SharedError::ChunkBusy { pid });
        }
        self.try_finish(s);
        Ok(())
    }

    /// Waits until every chunk of the current split is terminal.
    pub(crate) fn wait_split(&self, timeout: Duration) -> Result<(), SharedError> {
        let end = Instant::now() + timeout;
        let mut nap = Duration::from_micros(20);
        loop {
            let pending = self.try_finish(self.state());
            if pending == 0 {
                return Ok(());
            }
            let now = Instant::now();
            if now >= end {
                return Err(SharedError::Timeout { pending });
            }
            std::thread::sleep(nap.min(end - now));
            nap = (nap * 2).min(Duration::from_millis(5));
        }
    }

    /// Enters the owner's exclusive write mode (no split open, no live reader).
    pub(crate) fn begin_owner_write(&self) -> Result<State, SharedError> {
        let s = self.state();
        if s.mode == Mode::Split {
            match self.try_finish(s) {
                0 => {}
                pending => return Err(SharedError::SplitInProgress { pending }),
            }
        }
        let h = self.header();
        // SeqCst: before the owner-mode store below (as in `open_split`).
        h.writes.fetch_add(1, SeqCst);
        let w = State { mode: Mode::Owner, chunks: 0, ..s };
        // SeqCst: the owner side of the lease handshake (readers.rs).
        h.state.store(w.pack(), SeqCst);
        if let Some(pid) = readers::live_reader(h) {
            self.end_owner_write(w);
            return Err(SharedError::ReadersActive { pid });
        }
        Ok(w)
    }

    /// Leaves the owner's write mode.
    pub(crate) fn end_owner_write(&self, w: State) {
        // SeqCst (≥ Release): publishes the owner's writes to readers that load Idle.
        self.header().state.store(State { mode: Mode::Idle, ..w }.pack(), SeqCst);
    }

    /// Whether a reader (holding a lease, or the owner) may read now.
    /// Why a reader is refused in the owner's write mode: `OwnerWriting` (try again), or
    /// `OwnerDied` if the owner process is gone — it can never end the write mode, and a
    /// reader told to try again would wait for ever.
    fn owner_writing(&self) -> SharedError {
        let pid = self.header().owner_pid as u32;
        if is_alive(pid) {
            SharedError::OwnerWriting
        } else {
            SharedError::OwnerDied { pid }
        }
    }

    pub(crate) fn readable(&self) -> Result<(), SharedError> {
        let s = self.state();
        match s.mode {
            Mode::Idle => Ok(()),
            Mode::Owner => Err(self.owner_writing()),
            Mode::Split => match self.try_finish(s) {
                0 => Ok(()),
                pending => Err(SharedError::SplitInProgress { pending }),
            },
        }
    }
}
