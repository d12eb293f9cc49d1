//! Shared containers in one process: each operation checked against a std model over
//! thousands of seeded random operations (growth, compaction, clear included), the heap's
//! block count checked against the entry count (no leak), errors that hand values back,
//! panicking update closures, and damaged shared state refused with an error.

use std::collections::HashMap;
use zeroproc_mp::container::ContainerError;
use zeroproc_mp::{Namespace, SharedDict, SharedList};

/// xorshift64*: a deterministic stream for the random operation mixes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn value(rng: &mut Rng) -> Vec<u32> {
    let n = rng.below(40) as usize;
    (0..n).map(|_| rng.next() as u32).collect()
}

#[test]
fn dict_matches_a_hashmap_over_random_operations() {
    let d = SharedDict::<String, Vec<u32>>::with_capacity_bytes(8 << 20).unwrap();
    let mut model: HashMap<String, Vec<u32>> = HashMap::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for step in 0..20_000 {
        let k = format!("key-{}", rng.below(600));
        match rng.below(10) {
            0..=3 => {
                let v = value(&mut rng);
                assert_eq!(d.insert(k.clone(), v.clone()).unwrap(), model.insert(k, v));
            }
            4 | 5 => assert_eq!(d.get(&k).unwrap(), model.get(&k).cloned()),
            6 => assert_eq!(d.remove(&k).unwrap(), model.remove(&k)),
            7 => {
                let extra = rng.next() as u32;
                let mine = d
                    .update(&k, |v| {
                        match v {
                            Some(x) => x.push(extra),
                            None => *v = Some(vec![extra]),
                        }
                        7
                    })
                    .unwrap();
                assert_eq!(mine, 7);
                model.entry(k).or_default().push(extra);
            }
            8 => {
                // Removing through update.
                d.update(&k, |v| *v = None).unwrap();
                model.remove(&k);
            }
            _ if step % 5000 == 4999 => {
                d.clear().unwrap();
                model.clear();
            }
            _ => assert_eq!(d.contains_key(&k).unwrap(), model.contains_key(&k)),
        }
        assert_eq!(d.len().unwrap(), model.len());
    }
    let mut items = d.items().unwrap();
    items.sort();
    let mut want: Vec<_> = model.into_iter().collect();
    want.sort();
    assert_eq!(items, want);
    // One heap block per entry, plus the table: nothing leaked over 20k operations.
    let s = d.stats();
    assert_eq!(s.blocks_in_use, items.len() as u64 + 1, "{s:?}");
    assert_eq!(s.recoveries, 0);
}

#[test]
fn list_matches_a_vec_over_random_operations() {
    let l = SharedList::<Vec<u32>>::with_capacity_bytes(8 << 20).unwrap();
    let mut model: Vec<Vec<u32>> = Vec::new();
    let mut rng = Rng(42);
    for step in 0..20_000 {
        let n = model.len() as u64;
        match rng.below(9) {
            0..=2 => {
                let v = value(&mut rng);
                l.push(v.clone()).unwrap();
                model.push(v);
            }
            3 => assert_eq!(l.pop().unwrap(), model.pop()),
            4 if n > 0 => {
                let i = rng.below(n) as usize;
                let v = value(&mut rng);
                assert_eq!(l.set(i, v.clone()).unwrap(), std::mem::replace(&mut model[i], v));
            }
            5 => {
                let i = rng.below(n + 1) as usize;
                let v = value(&mut rng);
                l.insert(i, v.clone()).unwrap();
                model.insert(i, v);
            }
            6 if n > 0 => {
                let i = rng.below(n) as usize;
                assert_eq!(l.remove(i).unwrap(), model.remove(i));
            }
            7 if n > 0 => {
                let i = rng.below(n) as usize;
                l.update(i, |v| v.push(1)).unwrap();
                model[i].push(1);
            }
            _ if step % 4000 == 3999 => {
                l.clear().unwrap();
                model.clear();
            }
            _ => {
                let i = rng.below(n + 2) as usize;
                assert_eq!(l.get(i).unwrap(), model.get(i).cloned());
            }
        }
        assert_eq!(l.len().unwrap(), model.len());
    }
    assert_eq!(l.to_vec().unwrap(), model);
    let s = l.stats();
    assert_eq!(s.blocks_in_use, model.len() as u64 + 1, "{s:?}");
}

#[test]
fn list_errors_hand_the_value_back_and_change_nothing() {
    let l = SharedList::<String>::new().unwrap();
    l.push("a".into()).unwrap();
    let e = l.insert(5, "x".into()).unwrap_err();
    assert!(matches!(e.error(), ContainerError::IndexOutOfRange { index: 5, len: 1 }));
    assert_eq!(e.into_inner(), "x");
    let e = l.set(1, "y".into()).unwrap_err();
    assert_eq!(e.into_inner(), "y");
    assert!(matches!(l.remove(3), Err(ContainerError::IndexOutOfRange { index: 3, len: 1 })));
    assert_eq!(l.to_vec().unwrap(), ["a"]);
}

#[test]
fn a_full_container_refuses_with_the_value_and_keeps_working() {
    let d = SharedDict::<u32, Vec<u8>>::with_max_capacity_bytes(16 << 10, 16 << 10).unwrap();
    let mut stored = 0u32;
    let err = loop {
        match d.insert(stored, vec![stored as u8; 700]) {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(err.error(), ContainerError::Full { .. }), "{err}");
    let (k, v) = err.into_inner();
    assert_eq!((k, v.len()), (stored, 700));
    assert_eq!(d.len().unwrap(), stored as usize);
    for i in 0..stored {
        assert_eq!(d.get(&i).unwrap().unwrap(), vec![i as u8; 700]);
    }
    // Room comes back after a remove.
    d.remove(&0).unwrap();
    d.insert(stored, vec![1; 700]).unwrap();
    let s = d.stats();
    assert_eq!(s.blocks_in_use, d.len().unwrap() as u64 + 1, "{s:?}");
}

#[test]
fn a_panicking_update_changes_nothing_and_frees_the_lock() {
    let d = SharedDict::<u8, u64>::new().unwrap();
    d.insert(1, 10).unwrap();
    let d2 = d.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        d2.update(&1, |v| {
            *v = Some(99);
            panic!("inside update");
        })
    }));
    assert!(r.is_err());
    assert_eq!(d.get(&1).unwrap(), Some(10));
    d.update(&1, |v| *v = Some(11)).unwrap();
    assert_eq!(d.get(&1).unwrap(), Some(11));
}

#[test]
fn namespace_fields_keep_their_types() {
    let ns = Namespace::new().unwrap();
    ns.set("n", 1u64).unwrap();
    ns.set("s", String::from("x")).unwrap();
    assert!(matches!(ns.get::<String>("n"), Err(ContainerError::TypeMismatch)));
    assert!(matches!(ns.update::<u32, _>("n", |_| ()), Err(ContainerError::TypeMismatch)));
    assert_eq!(ns.get::<u64>("n").unwrap(), Some(1));
    // Rebinding to another type, as in Python.
    ns.set("n", 2.5f64).unwrap();
    assert_eq!(ns.get::<f64>("n").unwrap(), Some(2.5));
    assert!(ns.remove("s").unwrap());
    assert!(!ns.contains("s").unwrap());
    assert_eq!(ns.names().unwrap(), ["n"]);
    assert_eq!(ns.get_with::<f64, _>("n", |a| a.to_native() * 2.0).unwrap(), Some(5.0));
    ns.clear().unwrap();
    assert!(ns.is_empty().unwrap());
}

#[test]
fn attaching_with_other_types_is_refused() {
    let d = SharedDict::<String, u64>::new().unwrap();
    let h = d.handle();
    // Same segment, read as another value type: the handle type is part of the identity.
    let text = format!("{h:?}");
    assert!(text.contains("DictHandle"));
    let l = SharedList::<u64>::new().unwrap();
    let wrong: zeroproc_mp::container::ListHandle<u32> =
        rkyv::from_bytes::<_, rkyv::rancor::Error>(
            &rkyv::to_bytes::<rkyv::rancor::Error>(&l.handle()).unwrap(),
        )
        .unwrap();
    assert!(matches!(wrong.attach(), Err(ContainerError::TypeMismatch)));
    assert!(l.handle().attach().is_ok());
}

#[test]
fn damaged_shared_state_is_an_error_not_a_crash() {
    use zeroproc_mp::container::testing;
    let d = SharedDict::<u32, String>::new().unwrap();
    for i in 0..50 {
        d.insert(i, format!("v{i}")).unwrap();
    }
    // A table offset pointing nowhere, into the header, at a misaligned place.
    for bad in [0u64, 8, 1 << 40, 4097, u64::MAX] {
        let good = testing::set_table_offset(&d, bad);
        assert!(matches!(d.get(&1), Err(ContainerError::Corrupt(_))), "offset {bad}");
        assert!(matches!(
            d.insert(1, "x".into()).map_err(|e| e.into_parts().1),
            Err(ContainerError::Corrupt(_))
        ));
        testing::set_table_offset(&d, good);
    }
    assert_eq!(d.get(&1).unwrap().as_deref(), Some("v1"));
    // Entry lengths beyond their blocks.
    assert_eq!(testing::damage_entries(&d, 1 << 30, 8), 50);
    assert!(matches!(d.get(&1), Err(ContainerError::Corrupt(_))));
    assert!(matches!(d.items(), Err(ContainerError::Corrupt(_))));
    // Lengths that fit but garbage contents: validation refuses the archive.
    let d = SharedDict::<u32, String>::new().unwrap();
    d.insert(1, "hello".into()).unwrap();
    testing::damage_entries(&d, 3, 5);
    // The key no longer matches (a miss) and reading the entries fails validation.
    assert!(!matches!(d.get(&1), Ok(Some(_))));
    assert!(matches!(d.items(), Err(ContainerError::Decode(_))));
}

/// A Namespace field read as another type names the field's type, not "the container's"
/// (a Namespace has none), and a pipe end in use names the fix.
#[test]
fn type_mismatch_and_in_use_messages_name_the_cause() {
    let ns = zeroproc_mp::Namespace::new().unwrap();
    ns.set("x", 1u64).unwrap();
    let e = ns.get::<String>("x").unwrap_err();
    assert!(matches!(e, zeroproc_mp::container::ContainerError::TypeMismatch));
    assert!(e.to_string().contains("Namespace field holds a value of another type"), "{e}");
    let e = zeroproc_mp::channel::ChannelError::InUse { pid: 12 };
    assert!(e.to_string().contains("process 12") && e.to_string().contains("its own pipe"));
}

#[test]
fn a_capacity_too_large_for_the_address_space_is_a_size_error() {
    // Before: `Foreign`, printed "not a container of this build: …", which names another
    // cause (a handle of the wrong kind) for a size asked for at creation.
    let errors = [
        SharedDict::<u64, u64>::with_capacity_bytes(usize::MAX).err(),
        SharedList::<u64>::with_max_capacity_bytes(1 << 16, usize::MAX).err(),
        Namespace::with_max_capacity_bytes(1 << 16, usize::MAX).err(),
    ];
    for e in errors {
        let e = e.expect("a capacity of usize::MAX bytes was accepted");
        assert!(matches!(e, ContainerError::Create(_)), "{e:?}");
        let m = e.to_string();
        assert!(!m.contains("not a container") && m.contains("size"), "{m}");
    }
}

/// A maximum no container can keep to is refused naming the sizes, where it was silently
/// raised: `with_max_capacity_bytes(0, 0)` made a container of 8 KiB, and
/// `with_max_capacity_bytes(1 MiB, 64 KiB)` one that grew to 1 MiB, past the maximum
/// asked for (documented nowhere). A small initial size is still rounded up (as
/// documented on the methods): `capacity_bytes` says what it got.
#[test]
fn a_maximum_below_the_smallest_container_or_the_initial_size_is_refused() {
    use zeroproc_mp::container::MIN_CAPACITY;
    let refused =
        [(0, 0), (0, MIN_CAPACITY - 1), (1 << 20, 64 << 10), (MIN_CAPACITY + 1, MIN_CAPACITY)];
    for (bytes, max_bytes) in refused {
        let errors = [
            SharedDict::<u64, u64>::with_max_capacity_bytes(bytes, max_bytes).err(),
            SharedList::<u64>::with_max_capacity_bytes(bytes, max_bytes).err(),
            Namespace::with_max_capacity_bytes(bytes, max_bytes).err(),
        ];
        for e in errors {
            let e = e.unwrap_or_else(|| panic!("({bytes}, {max_bytes}) was accepted"));
            assert!(
                matches!(e, ContainerError::Capacity { bytes: b, max_bytes: m } if (b, m) == (bytes, max_bytes)),
                "{e:?}"
            );
            let m = e.to_string();
            assert!(m.contains(&format!("max_bytes {max_bytes}")), "{m}");
        }
    }
    // The smallest maximum is accepted, with a small initial size rounded up to it.
    let d = SharedDict::<u64, u64>::with_max_capacity_bytes(0, MIN_CAPACITY).unwrap();
    assert_eq!(
        (d.capacity_bytes(), d.max_capacity_bytes()),
        (MIN_CAPACITY as u64, MIN_CAPACITY as u64)
    );
    d.insert(1, 2).unwrap();
    assert_eq!(d.get(&1).unwrap(), Some(2));
    let l = SharedList::<u64>::with_capacity_bytes(0).unwrap();
    assert_eq!(l.capacity_bytes(), MIN_CAPACITY as u64);
}
