//! Multi-producer multi-consumer ring (see README.md).
