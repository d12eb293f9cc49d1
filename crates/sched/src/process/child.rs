//! The child's side of a [`Process`](super::Process): parse the spec, arm the parent-death
//! watch of a daemon, attach the argument segment, run the body, and report how it ended.

use super::CURRENT_IDENTITY;
use super::{outcome, Process, ProcessBlock, ARGS_AT, CURRENT_NAME, DAEMON_ENV, LAYOUT};
use super::{MESSAGE_MAX, PROCESS_ENV};
use crate::worker::exit;
use std::sync::atomic::Ordering;
use zeroproc_shm::{Segment, SegmentId};

/// What the parent put in [`PROCESS_ENV`]: `segment|fn_id|fingerprint|parent|identity`
/// (the name is in the segment, after the arguments; the identity is digits and `:`).
struct ChildSpec {
    segment: SegmentId,
    fn_id: u32,
    fingerprint: u64,
    parent: u32,
    identity: String,
}

impl ChildSpec {
    fn parse(raw: &std::ffi::OsStr) -> Option<ChildSpec> {
        let f: Vec<&str> = raw.to_str()?.split('|').collect();
        let [seg, fn_id, fp, parent, identity] = f[..] else { return None };
        Some(ChildSpec {
            segment: seg.parse().ok()?,
            fn_id: fn_id.parse().ok()?,
            fingerprint: u64::from_str_radix(fp, 16).ok()?,
            parent: parent.parse().ok()?,
            identity: identity.to_owned(),
        })
    }
}

/// Runs the body of the `Process` this program was started for. Never returns.
pub(crate) fn child_main(raw: &std::ffi::OsStr) -> ! {
    let Some(spec) = ChildSpec::parse(raw) else {
        crate::note!("zeroproc: malformed {PROCESS_ENV}");
        std::process::exit(exit::BAD_SPEC)
    };
    let daemon = std::env::var_os(DAEMON_ENV).is_some();
    // Not inherited by programs the body starts (see `launch::take_env`).
    std::env::remove_var(DAEMON_ENV);
    if daemon {
        die_with_parent(spec.parent);
    } else {
        // As in Python: a non-daemon child may start pools and processes of its own; a
        // daemon one may not ("daemonic processes are not allowed to have children").
        crate::launch::allow_children();
    }
    if crate::fnid::fingerprint() != spec.fingerprint {
        std::process::exit(exit::FINGERPRINT);
    }
    let Ok(seg) = Segment::attach(&spec.segment, LAYOUT) else { std::process::exit(exit::ATTACH) };
    // SAFETY: the segment's layout hash was checked on attach: its data region starts with
    // a ProcessBlock (all atomics) followed by `args_len` bytes inside the segment.
    let b = unsafe { &*seg.data().cast::<ProcessBlock>() };
    // Relaxed: written before the segment was published (Acquire on attach).
    let len = b.args_len.load(Ordering::Relaxed) as usize;
    // Relaxed: as above.
    let name_len = b.name_len.load(Ordering::Relaxed) as usize;
    if ARGS_AT + len + name_len > seg.data_len() {
        std::process::exit(exit::ATTACH);
    }
    // SAFETY: in bounds (checked above); the parent wrote these bytes before the child
    // existed and never writes them again.
    let args = unsafe { std::slice::from_raw_parts(seg.data().add(ARGS_AT), len) };
    // SAFETY: as above, for the name that follows the arguments.
    let name = unsafe { std::slice::from_raw_parts(seg.data().add(ARGS_AT + len), name_len) };
    let _ = CURRENT_NAME.set(String::from_utf8_lossy(name).into_owned());
    let _ = CURRENT_IDENTITY.set(spec.identity);
    let fn_id = spec.fn_id;
    // Relaxed: as for `args_len`.
    if b.fn_id.load(Ordering::Relaxed) != fn_id {
        crate::note!("zeroproc: function id {fn_id:#x} is not the one this process was made for");
        std::process::exit(exit::BAD_SPEC);
    }
    // Release: pairs with the parent's Acquire in `body_started`.
    b.outcome.store(outcome::STARTED, Ordering::Release);
    crate::worker::quiet_panics();
    crate::worker::overflow::watch_sent();
    let mut ctx = crate::worker::JobCtx::local(args);
    // SAFETY: the id was made by `fnid::id_of` in the parent (it is the one its segment
    // names, checked above), same build (fingerprint checked above).
    let t = unsafe { crate::fnid::resolve(fn_id) };
    t(&mut ctx);
    report(b, ctx.local_status())
}

/// A daemon dies with its parent: by `PR_SET_PDEATHSIG`, and by a watch of the parent
/// process that holds whatever the body does to its credentials (the death signal follows
/// the thread that spawned the child, which is why the parent spawns daemons from a thread
/// living as long as it: `spawner.rs`; this watch follows the process).
fn die_with_parent(parent: u32) {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
    if !crate::launch::watch_parent(parent, exit::ORPHAN) {
        std::process::exit(exit::ORPHAN);
    }
}

/// Writes how the body ended into the block (for `join` and `panic_message`) and exits
/// with Python's code: 0 after it returned, 1 after a panic.
fn report(b: &ProcessBlock, status: Option<(u32, String)>) -> ! {
    let (st, msg) = match status {
        Some((crate::job::status::OK, _)) | None => {
            // Release: pairs with the parent's Acquire load.
            b.outcome.store(outcome::RETURNED, Ordering::Release);
            std::process::exit(0)
        }
        Some(s) => s,
    };
    let code =
        if st == crate::job::status::PANICKED { outcome::PANICKED } else { outcome::BAD_ARGS };
    let kept =
        crate::fit::fit_message(&msg, MESSAGE_MAX, "the whole message is on the child's stderr");
    let bytes = kept.as_bytes();
    let n = bytes.len().min(MESSAGE_MAX);
    for (slot, &c) in b.message.iter().zip(&bytes[..n]) {
        // Relaxed: published by the Release store of the outcome.
        slot.store(c, Ordering::Relaxed);
    }
    // Relaxed: as above.
    b.message_len.store(n as u32, Ordering::Relaxed);
    // Release: pairs with the parent's Acquire load.
    b.outcome.store(code, Ordering::Release);
    crate::note!(
        "zeroproc process {:?} panicked: {msg}",
        Process::current_name().unwrap_or_default()
    );
    std::process::exit(1)
}
