//! zeroproc
