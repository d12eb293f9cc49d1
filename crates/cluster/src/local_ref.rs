//! Node-local handles in a job's arguments. A `SharedArray`, queue, lock or container
//! handle carries its segment's id as text — `memfd:PID:FD:TOKEN` (16 hex digits) or
//! `shm:PATH:TOKEN` — which names memory on one node only. The encoded record holds that
//! text verbatim (rkyv stores strings as their bytes), so it can be found without knowing
//! the argument's type: a record that holds one must run on rank 0's own pool, or is refused
//! at submission.

use memchr::memmem::Finder;
use std::sync::LazyLock;

/// The searchers, built once (building one per record showed in profiles).
static FINDERS: LazyLock<[Finder<'static>; 2]> =
    LazyLock::new(|| [Finder::new(b"memfd:"), Finder::new(b"shm:/")]);

/// The first segment id in `record`, if any.
pub(crate) fn find(record: &[u8]) -> Option<String> {
    for finder in FINDERS.iter() {
        for at in finder.find_iter(record) {
            if let Some(len) = id_len(&record[at..]) {
                return Some(String::from_utf8_lossy(&record[at..at + len]).into_owned());
            }
        }
    }
    None
}

/// Every distinct segment id in `record` (none: no allocation).
pub(crate) fn find_all(record: &[u8]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for finder in FINDERS.iter() {
        for at in finder.find_iter(record) {
            if let Some(len) = id_len(&record[at..]) {
                let id = String::from_utf8_lossy(&record[at..at + len]).into_owned();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
    }
    ids
}

/// The length of the segment id at the start of `b`, if one is there.
fn id_len(b: &[u8]) -> Option<usize> {
    let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
    let at = if b.starts_with(b"memfd:") {
        let mut at = 6;
        for _ in 0..2 {
            let n = digits(&b[at..]);
            if n == 0 || b.get(at + n) != Some(&b':') {
                return None;
            }
            at += n + 1;
        }
        at
    } else {
        // shm:PATH:TOKEN — the path runs to the last ':' before the token.
        let end = b.iter().take(4096).position(|&c| c == 0 || c.is_ascii_control())?;
        let colon = b[..end].iter().rposition(|&c| c == b':')?;
        (colon > 5).then_some(colon + 1)?
    };
    let hex = b.get(at..at + 16)?;
    hex.iter().all(u8::is_ascii_hexdigit).then_some(at + 16)
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn finds_segment_ids_and_nothing_else() {
        let mut rec = b"\x00\x01xxmemfd:4242:17:00000000deadbeefyy".to_vec();
        assert_eq!(find(&rec).as_deref(), Some("memfd:4242:17:00000000deadbeef"));
        rec.truncate(rec.len() - 6);
        assert_eq!(find(&rec), None, "a truncated token is not an id");
        assert_eq!(find(b"memfd: is a word"), None);
        assert_eq!(
            find(b"\x00shm:/dev/shm/zp-1:0123456789abcdef\x00").as_deref(),
            Some("shm:/dev/shm/zp-1:0123456789abcdef")
        );
        assert_eq!(find(&[0u8; 64]), None);
        let two =
            b"memfd:1:2:00000000000000aa memfd:3:4:00000000000000bb memfd:1:2:00000000000000aa";
        assert_eq!(
            super::find_all(two),
            ["memfd:1:2:00000000000000aa", "memfd:3:4:00000000000000bb"]
        );
    }
}
