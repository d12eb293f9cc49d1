//! A shared heap for variable-size payloads (see README.md).
