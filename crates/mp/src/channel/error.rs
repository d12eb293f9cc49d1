//! Errors shared by every channel: setting one up or attaching to one
//! ([`ChannelError`]), a message that arrived damaged ([`CorruptError`]), and the macro that
//! defines the per-operation error enums handing the payload back.

use std::fmt;
use zeroproc_codec::envelope::DecodeError;
use zeroproc_ring::{mpmc, spsc};
use zeroproc_shm::{heap::HeapError, AttachError, CreateError, ParseSegmentIdError};

/// Creating a channel, or attaching to one from a handle, failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ChannelError {
    /// A capacity, slot size or heap size is out of range (the reason is given).
    Config(&'static str),
    /// The segment could not be created (no space, bad size, I/O).
    Create(CreateError),
    /// The segment could not be attached (creator gone, wrong layout, permissions).
    Attach(AttachError),
    /// The handle's segment id does not parse.
    BadId(ParseSegmentIdError),
    /// The segment does not hold a channel this build understands.
    Foreign(&'static str),
    /// The handle is for another kind of channel (e.g. a `Queue` handle used on a pipe).
    KindMismatch {
        /// What the segment holds.
        found: &'static str,
    },
    /// The handle's message type is not the channel's.
    TypeMismatch,
    /// The MPMC ring could not be created or attached.
    Mpmc(String),
    /// An SPSC ring could not be created, attached or claimed.
    Spsc(String),
    /// The spill heap could not be created or attached.
    Heap(HeapError),
    /// That pipe end is in use by another live process (attached there already).
    InUse {
        /// That process.
        pid: u32,
    },
    /// That pipe end was used and closed (dropped) before; it cannot be used again.
    EndClosed,
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelError::Config(why) => write!(f, "bad channel configuration: {why}"),
            ChannelError::Create(e) => write!(f, "creating the channel segment: {e}"),
            ChannelError::Attach(e) => write!(f, "attaching the channel segment: {e}"),
            ChannelError::BadId(e) => write!(f, "bad segment id in channel handle: {e:?}"),
            ChannelError::Foreign(why) => write!(f, "not a channel segment: {why}"),
            ChannelError::KindMismatch { found } => {
                write!(f, "the handle does not match the channel (a {found})")
            }
            ChannelError::TypeMismatch => f.write_str("the channel carries another message type"),
            ChannelError::Mpmc(e) => write!(f, "queue ring: {e}"),
            ChannelError::Spsc(e) => write!(f, "pipe ring: {e}"),
            ChannelError::Heap(e) => write!(f, "spill heap: {e}"),
            ChannelError::InUse { pid } if *pid == std::process::id() => write!(
                f,
                "pipe end in use by another attachment of it in this process ({pid}): an \
                 end serves one attachment at a time (use the one already attached, or \
                 give each user its own pipe)"
            ),
            ChannelError::InUse { pid } => write!(
                f,
                "pipe end in use by process {pid}: an end serves one process at a time \
                 (give each process its own pipe, or use a Queue)"
            ),
            ChannelError::EndClosed => f.write_str(
                "pipe end was closed: an earlier attachment of it was dropped (in this or \
                 another process, e.g. by a previous job), and a pipe end serves one \
                 attachment for its life; give each job its own pipe, or use a Queue",
            ),
        }
    }
}

impl std::error::Error for ChannelError {}

impl From<mpmc::CreateError> for ChannelError {
    fn from(e: mpmc::CreateError) -> Self {
        ChannelError::Mpmc(e.to_string())
    }
}

impl From<mpmc::AttachError> for ChannelError {
    fn from(e: mpmc::AttachError) -> Self {
        ChannelError::Mpmc(e.to_string())
    }
}

impl From<spsc::RingError> for ChannelError {
    fn from(e: spsc::RingError) -> Self {
        match e {
            spsc::RingError::Claimed { pid } => ChannelError::InUse { pid },
            spsc::RingError::Closed => ChannelError::EndClosed,
            e => ChannelError::Spsc(e.to_string()),
        }
    }
}

/// A message arrived damaged and was dropped; the channel keeps working (receive again
/// for the next message).
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptError {
    /// The queue's ring found an invalid slot (and skipped it).
    Ring(mpmc::CorruptError),
    /// A pipe ring's shared indices or record header are invalid (sticky for that end).
    Pipe(spsc::CorruptError),
    /// The record is not a valid envelope of the message type (bytecheck failed, a bad
    /// heap reference, ...).
    Decode(DecodeError),
}

impl fmt::Display for CorruptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorruptError::Ring(c) => write!(f, "corrupted queue slot: {c}"),
            CorruptError::Pipe(c) => write!(f, "corrupted pipe: {c}"),
            CorruptError::Decode(e) => write!(f, "undecodable message: {e}"),
        }
    }
}

impl std::error::Error for CorruptError {}
