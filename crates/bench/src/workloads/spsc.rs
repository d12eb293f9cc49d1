//! zeroproc SPSC ring workloads (filled in when the ring lands).

use hdrhistogram::Histogram;

/// Peer: echo records back.
pub fn echo_peer(_arg: &str) -> Result<(), String> {
    Err("not yet".into())
}
/// Peer: consume records.
pub fn sink_peer(_arg: &str) -> Result<(), String> {
    Err("not yet".into())
}
/// Round trip, spinning.
pub fn round_spin(_s: usize, _h: &mut Histogram<u64>) -> Result<(), String> {
    Err("not yet".into())
}
/// Round trip, default strategy.
pub fn round_default(_s: usize, _h: &mut Histogram<u64>) -> Result<(), String> {
    Err("not yet".into())
}
/// Round trip, sleeping.
pub fn round_sleep(_s: usize, _h: &mut Histogram<u64>) -> Result<(), String> {
    Err("not yet".into())
}
/// Throughput rows.
pub fn throughput_rows(_quick: bool) -> Result<Vec<crate::report::Row>, String> {
    Ok(vec![])
}
