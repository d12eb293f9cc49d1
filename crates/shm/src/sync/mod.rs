//! Robust process-shared synchronisation primitives (see README.md).
