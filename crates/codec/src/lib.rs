//! # zeroproc-codec (not yet implemented)
//!
//! The layer that will hold rkyv envelopes for jobs and results written in place into ring
//! slots, validated archived views, typed channels (Queue, Pipe) and `SharedArray` handles.
//! It is delivered by the pool issue (#3); today the crate only reserves its place in the
//! workspace so that the dependency order `shm → ring → codec → sched` is fixed.
