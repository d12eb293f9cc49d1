//! `SharedList::extend` takes any iterator, as Python's `l.extend(iterable)`: an iterator
//! that reads the same list (or takes its time) works, because its items are all read
//! before the list's lock is taken, as Python's proxy reads the whole iterable before the
//! call reaches the manager.
//!
//! Found by mpsem31: `l.extend((0..3).map(|i| l.len().unwrap() + i))` panicked with "a
//! shared container was used from inside a closure running under its own lock (update,
//! get_with or for_each …)" — naming closures the caller never wrote; CPython 3.11's
//! `l.extend(len(l) + i for i in range(3))` on a `Manager().list()` appends [n, n+1, n+2].

use std::sync::mpsc;
use std::time::Duration;
use zeroproc_mp::SharedList;

#[test]
fn extend_with_an_iterator_reading_the_same_list_appends_as_python() {
    let l = SharedList::<usize>::new().unwrap();
    l.extend([7, 8]).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            l.extend((0..3).map(|i| l.len().unwrap() + i)).unwrap();
            l.to_vec().unwrap()
        }));
        let _ = tx.send(r.map_err(|p| p.downcast_ref::<String>().cloned().unwrap_or_default()));
    });
    let got = rx.recv_timeout(Duration::from_secs(20)).expect("extend hung");
    assert_eq!(got, Ok(vec![7, 8, 2, 3, 4]));
}

#[test]
fn a_value_that_does_not_fit_comes_back_and_the_values_before_it_stay() {
    // A list capped at its first size: values go in until the heap is full; the one that
    // failed comes back in the error.
    let l = SharedList::<Vec<u8>>::with_max_capacity_bytes(64 << 10, 64 << 10).unwrap();
    let err = l.extend((0..100u8).map(|i| vec![i; 4096])).unwrap_err();
    let n = l.len().unwrap();
    assert!(n > 0 && n < 100, "{n} values went in");
    assert_eq!(err.into_inner(), vec![n as u8; 4096]);
    assert!(l.to_vec().unwrap().iter().enumerate().all(|(i, v)| v == &vec![i as u8; 4096]));
}
