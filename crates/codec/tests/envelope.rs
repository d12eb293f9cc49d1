//! Envelope round trips, and every kind of malformed input is an error, never a panic/UB.

use rkyv::{Archive, Deserialize, Serialize};
use zeroproc_codec::envelope::{
    decode, encode_into, send, DecodeError, EncodeError, Header, HEADER_LEN, SEND_HINT,
};

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Job {
    id: u64,
    name: String,
    data: Vec<f64>,
    tags: Option<Vec<u32>>,
}

fn job(n: usize) -> Job {
    Job {
        id: n as u64 * 7,
        name: format!("job-{n}"),
        data: (0..n).map(|i| i as f64 * 0.5).collect(),
        tags: (n % 2 == 0).then(|| vec![1, 2, n as u32]),
    }
}

/// A 16-byte aligned scratch buffer (ring records are 16-byte aligned).
fn aligned(len: usize) -> Vec<u128> {
    vec![0u128; len.div_ceil(16)]
}

fn bytes(v: &mut [u128]) -> &mut [u8] {
    // SAFETY: u128 has no padding; any byte pattern is a valid u8; lengths multiply out.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), v.len() * 16) }
}

#[test]
fn round_trip_many_shapes() {
    let mut buf = aligned(64 << 10);
    for n in [0, 1, 2, 17, 100, 1000] {
        let j = job(n);
        let b = bytes(&mut buf);
        let len = encode_into(b, Header { job_id: n as u64, fn_id: 9, flags: 3 }, &j).unwrap();
        let (h, a) = decode::<Job>(&b[..len]).unwrap();
        assert_eq!(h, Header { job_id: n as u64, fn_id: 9, flags: 3 });
        let back: Job = rkyv::deserialize::<Job, rkyv::rancor::Error>(a).unwrap();
        assert_eq!(back, j);
    }
}

#[test]
fn every_truncation_is_an_error() {
    let mut buf = aligned(4096);
    let b = bytes(&mut buf);
    let len = encode_into(b, Header::new(1, 1), &job(20)).unwrap();
    for cut in 0..len {
        let r = decode::<Job>(&b[..cut]);
        assert!(r.is_err(), "prefix of {cut}/{len} bytes decoded");
        if cut < HEADER_LEN {
            assert!(matches!(r, Err(DecodeError::Truncated { .. })));
        }
    }
}

#[test]
fn random_garbage_never_panics() {
    // xorshift: deterministic garbage, including garbage behind a valid header.
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut buf = aligned(512);
    let mut accepted = 0;
    for i in 0..20_000 {
        let b = bytes(&mut buf);
        let len = (rnd() % 512) as usize;
        for x in b[..len].iter_mut() {
            *x = rnd() as u8;
        }
        if i % 2 == 0 && len >= HEADER_LEN {
            b[0..2].copy_from_slice(&zeroproc_codec::envelope::MAGIC.to_le_bytes());
            b[2] = zeroproc_codec::envelope::VERSION;
        }
        if let Ok((_, a)) = decode::<Job>(&b[..len]) {
            // Whatever validates must be safe to read completely.
            accepted += a.name.len() + a.data.len();
        }
    }
    // Random bytes essentially never form a valid Job (relative pointers out of range).
    assert!(accepted < 1_000_000);
}

#[test]
fn flipped_bytes_in_a_valid_envelope_are_caught_or_harmless() {
    let mut buf = aligned(4096);
    let b = bytes(&mut buf);
    let len = encode_into(b, Header::new(5, 5), &job(30)).unwrap();
    let orig = b[..len].to_vec();
    let mut rejected = 0;
    for i in 0..len {
        for bit in [0x01u8, 0x80] {
            let mut m = orig.clone();
            m[i] ^= bit;
            let mut al = aligned(len);
            bytes(&mut al)[..len].copy_from_slice(&m);
            match decode::<Job>(&bytes(&mut al)[..len]) {
                Err(_) => rejected += 1,
                Ok((_, a)) => {
                    // Accepted flips changed a value, never memory safety: read it all.
                    let _ = (a.id, a.name.as_str().len(), a.data.iter().count());
                }
            }
        }
    }
    assert!(rejected > 0, "no bit flip was ever rejected");
}

#[test]
fn wrong_magic_and_version_are_refused() {
    let mut buf = aligned(256);
    let b = bytes(&mut buf);
    let len = encode_into(b, Header::new(1, 1), &42u64).unwrap();
    b[2] = 99;
    assert!(matches!(decode::<u64>(&b[..len]), Err(DecodeError::Version { found: 99, .. })));
    b[0] = 0;
    assert!(matches!(decode::<u64>(&b[..len]), Err(DecodeError::BadMagic(_))));
}

/// Decode errors compare equal when the same check failed the same way (so callers can
/// `assert_eq!` on a receive's result); two bytecheck failures compare by their messages.
#[test]
fn decode_errors_compare_by_what_failed() {
    let mut buf = aligned(256);
    let b = bytes(&mut buf);
    let len = encode_into(b, Header::new(1, 1), &2u8).unwrap();
    b[len - 1] = 7; // not a bool
    let invalid = || decode::<bool>(&b[..len]).map(|_| ()).unwrap_err();
    assert_eq!(invalid(), invalid());
    assert!(matches!(invalid(), DecodeError::Invalid(_)));
    assert_eq!(DecodeError::Truncated { len: 3 }, DecodeError::Truncated { len: 3 });
    assert_ne!(DecodeError::Truncated { len: 3 }, DecodeError::Truncated { len: 4 });
    assert_ne!(invalid(), DecodeError::Truncated { len: 3 });
    assert_ne!(DecodeError::BadMagic(1), DecodeError::Version { found: 1, expected: 1 });
}

#[test]
fn too_small_buffer_is_too_large_error() {
    let mut buf = aligned(64);
    let r = encode_into(&mut bytes(&mut buf)[..64], Header::new(1, 1), &job(100));
    assert!(matches!(r, Err(EncodeError::TooLarge { available: 64 })));
    let r = encode_into(&mut bytes(&mut buf)[..8], Header::new(1, 1), &1u8);
    assert!(matches!(r, Err(EncodeError::TooLarge { .. })));
}

#[test]
fn send_through_a_ring_between_threads_including_large_values() {
    let (mut tx, mut rx) = zeroproc_ring::spsc::channel(1 << 16).unwrap();
    let big = job(SEND_HINT / 8 + 100); // archive > SEND_HINT: exercises the fallback
    let expect: Vec<Job> = (0..2000).map(job).chain([big.clone()]).collect();
    let to_send = expect.clone();
    let t = std::thread::spawn(move || {
        for (i, j) in to_send.iter().enumerate() {
            send(&mut tx, Header::new(i as u64, 1), j).unwrap();
        }
    });
    for (i, j) in expect.iter().enumerate() {
        let rec = rx.recv().unwrap();
        let (h, a) = decode::<Job>(&rec).unwrap();
        assert_eq!(h.job_id, i as u64);
        let back: Job = rkyv::deserialize::<Job, rkyv::rancor::Error>(a).unwrap();
        assert_eq!(&back, j);
    }
    t.join().unwrap();
}

#[test]
fn value_larger_than_any_record_is_an_error_not_a_hang() {
    let (mut tx, _rx) = zeroproc_ring::spsc::channel(4096).unwrap();
    let r = send(&mut tx, Header::new(1, 1), &job(10_000));
    assert!(matches!(
        r,
        Err(zeroproc_codec::envelope::SendError::Encode(EncodeError::TooLarge { .. }))
    ));
}

#[test]
fn unchecked_decode_reads_what_encode_wrote() {
    let mut buf = aligned(4096);
    let b = bytes(&mut buf);
    let j = job(40);
    let len = encode_into(b, Header::new(3, 4), &j).unwrap();
    // SAFETY: just encoded from a `Job` by this build, unmodified.
    let (h, a) = unsafe { zeroproc_codec::envelope::decode_unchecked::<Job>(&b[..len]) }.unwrap();
    assert_eq!((h.job_id, h.fn_id), (3, 4));
    let back: Job = rkyv::deserialize::<Job, rkyv::rancor::Error>(a).unwrap();
    assert_eq!(back, j);
    // The cheap checks still apply: header, length, alignment.
    // SAFETY: each call fails on those checks before any archive byte is read.
    unsafe {
        use zeroproc_codec::envelope::decode_unchecked;
        assert!(matches!(decode_unchecked::<Job>(&b[..8]), Err(DecodeError::Truncated { .. })));
        assert!(matches!(
            decode_unchecked::<Job>(&b[..HEADER_LEN + 4]),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            decode_unchecked::<u64>(&b[..HEADER_LEN + 9]),
            Err(DecodeError::Misaligned)
        ));
    }
}

#[test]
fn the_spilled_flag_belongs_to_the_codec() {
    use zeroproc_codec::envelope::FLAG_SPILLED;
    let mut buf = aligned(256);
    let b = bytes(&mut buf);
    let len = encode_into(b, Header { job_id: 1, fn_id: 1, flags: 0xff }, &5u32).unwrap();
    let (h, _) = decode::<u32>(&b[..len]).unwrap();
    assert_eq!(h.flags, !FLAG_SPILLED, "encode_into clears it");
    b[3] |= FLAG_SPILLED;
    assert!(matches!(decode::<u32>(&b[..len]), Err(DecodeError::Spilled)));
    // SAFETY: refused on the header before the archive is touched.
    let r = unsafe { zeroproc_codec::envelope::decode_unchecked::<u32>(&b[..len]) };
    assert!(matches!(r, Err(DecodeError::Spilled)));
}

/// The one-copy path for types archived as their own bytes (`copy_archive`) writes
/// exactly what rkyv's serializer writes, and what it writes decodes; a type it must not
/// take (out-of-line data) still goes through the serializer.
#[test]
fn copied_archives_are_the_serializers_bytes() {
    fn same<T>(v: T)
    where
        T: zeroproc_codec::envelope::Encode
            + for<'a> rkyv::Serialize<
                rkyv::api::high::HighSerializer<
                    rkyv::util::AlignedVec,
                    rkyv::ser::allocator::ArenaHandle<'a>,
                    rkyv::rancor::Error,
                >,
            > + std::fmt::Debug,
    {
        let mut buf = aligned(256);
        let b = bytes(&mut buf);
        let n = encode_into(b, Header::new(3, 4), &v).unwrap();
        let want = rkyv::to_bytes::<rkyv::rancor::Error>(&v).unwrap();
        assert_eq!(&b[HEADER_LEN..n], &want[..], "{v:?}");
        assert_eq!(Header::read(&b[..n]).unwrap(), Header::new(3, 4));
        // Too short for the value: the serializer's TooLarge, as for any other type.
        let r = encode_into(&mut b[..HEADER_LEN + want.len() - 1], Header::new(3, 4), &v);
        assert!(matches!(r, Err(EncodeError::TooLarge { .. })), "{v:?}: {r:?}");
    }
    use rkyv::Archive as _;
    // Which of these take the copy (the others check the serializer path alongside).
    assert!(u64::COPY_OPTIMIZATION.is_enabled() && f64::COPY_OPTIMIZATION.is_enabled());
    assert!(<[u32; 5]>::COPY_OPTIMIZATION.is_enabled());
    assert!(!<(u64, u32)>::COPY_OPTIMIZATION.is_enabled());
    same(0x0123_4567_89ab_cdefu64);
    same(-1.5f64);
    same(7u8);
    same(true);
    same('é');
    same(u128::MAX - 5);
    same([1u32, 2, 3, 4, 5]);
    same([[0.5f32; 3]; 2]);
    same((1u64, 2u32)); // not copy-optimised (padding): serializer
    same(Some(9u64));
    let mut buf = aligned(256);
    let b = bytes(&mut buf);
    let n = encode_into(b, Header::new(1, 1), &[2.5f64, -0.0, 1e300]).unwrap();
    let (_, v) = decode::<[f64; 3]>(&b[..n]).unwrap();
    assert_eq!(v.map(|x| x.to_native()), [2.5, -0.0, 1e300]);
    let n = encode_into(b, Header::new(1, 1), &'z').unwrap();
    b[HEADER_LEN..n].copy_from_slice(&0xD800u32.to_le_bytes()); // a surrogate: not a char
    assert!(decode::<char>(&b[..n]).is_err(), "invalid bytes are still refused");
}
