//! Single-producer single-consumer ring (see README.md).
