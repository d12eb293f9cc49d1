//! Shared containers' and arrays' errors.

use super::*;

const SHARED: &[Case] = &[
    Case {
        what: "SharedList index past the end (set)",
        python: "IndexError: list assignment index out of range",
        trigger: || {
            let l = setup(SharedList::<u32>::new())?;
            setup(l.push(1))?;
            fails(l.set(5, 2))
        },
        display: &["index 5", "out of range", "len 1"],
        debug: &["IndexOutOfRange"],
    },
    Case {
        what: "SharedList remove past the end",
        python: "IndexError: pop index out of range",
        trigger: || {
            let l = setup(SharedList::<u32>::new())?;
            fails(l.remove(0))
        },
        display: &["index 0", "out of range", "len 0"],
        debug: &["IndexOutOfRange"],
    },
    Case {
        what: "Namespace field read as another type",
        python: "- (no types)",
        trigger: || {
            let ns = setup(Namespace::new())?;
            setup(ns.set("x", 1u64))?;
            fails(ns.get::<String>("x"))
        },
        display: &["type"],
        debug: &["TypeMismatch"],
    },
    Case {
        what: "SharedList value larger than its maximum",
        python: "- (no limit)",
        trigger: || {
            let l = setup(SharedList::<Vec<u8>>::with_max_capacity_bytes(8192, 64 << 10))?;
            let r: Result<(), InsertError<Vec<u8>>> = l.push(vec![0u8; 1 << 20]);
            if let Err(e) = &r {
                if !matches!(e.error(), ContainerError::Full { .. }) {
                    return Err(format!("{e:?}"));
                }
            }
            fails(r)
        },
        display: &["not stored", "full", "maximum"],
        debug: &["InsertError", "Full"],
    },
    Case {
        what: "SharedDict handle attached as another type",
        python: "- (no types)",
        trigger: || {
            use zeroproc::rkyv;
            let d = setup(SharedDict::<String, u64>::new())?;
            let bytes = setup(rkyv::to_bytes::<rkyv::rancor::Error>(&d.handle()))?;
            let h = setup(rkyv::from_bytes::<
                zeroproc::DictHandle<String, u32>,
                rkyv::rancor::Error,
            >(&bytes))?;
            fails(h.attach().map(|_| ()))
        },
        display: &["type"],
        debug: &["TypeMismatch"],
    },
    Case {
        what: "SharedArray handle read after the array was dropped",
        python: "- (a closed SharedMemory's buf raises ValueError/TypeError)",
        trigger: || {
            let a = setup(SharedArray::<f64>::zeroed(16))?;
            let h = a.handle();
            drop(a);
            fails(h.read().map(|g| g.len()))
        },
        display: &["dropped", "keep the SharedArray alive"],
        debug: &["Dropped"],
    },
    Case {
        what: "SharedArray handle attached in a child after the array was dropped",
        python: "FileNotFoundError: [Errno 2] No such file or directory: '/psm_..'",
        trigger: || {
            let a = setup(SharedArray::<f64>::zeroed(1 << 16))?;
            let h = a.handle();
            drop(a);
            zeroproc::shared::cache::release_dropped();
            let mut p = setup(Process::spawn(
                |h: zeroproc::ArrayHandle<f64>| {
                    let e = h.read().err().map(|e| e.to_string()).unwrap_or_default();
                    eprintln!("errors6 child: {e}");
                    std::process::exit(i32::from(!(e.contains("dropped") || e.contains("exited"))));
                },
                h,
            ))?;
            match setup(p.join())? {
                zeroproc::Exit::Code(0) => Ok(("(checked in the child)".into(), String::new())),
                e => Err(format!("the child's message did not name the drop: {e:?}")),
            }
        },
        display: &[],
        debug: &[],
    },
    Case {
        what: "SharedArray handle read as another element type",
        python: "- (no types)",
        trigger: || {
            use zeroproc::rkyv;
            let a = setup(SharedArray::<f64>::zeroed(16))?;
            let bytes = setup(rkyv::to_bytes::<rkyv::rancor::Error>(&a.handle()))?;
            let h =
                setup(rkyv::from_bytes::<zeroproc::ArrayHandle<u64>, rkyv::rancor::Error>(&bytes))?;
            fails(h.read().map(|g| g.len()))
        },
        display: &["element type"],
        debug: &["TypeMismatch"],
    },
    Case {
        what: "SharedVec pushed past its capacity",
        python: "- (list grows)",
        trigger: || {
            let mut v = setup(zeroproc::SharedVec::<u32>::with_capacity(2))?;
            setup(v.push(1))?;
            setup(v.push(2))?;
            fails(v.push(3))
        },
        display: &["full", "capacity of 2", "with_capacity"],
        debug: &["Full"],
    },
    Case {
        what: "SharedArray written while a reader holds it",
        python: "- (no guards)",
        trigger: || {
            let mut a = setup(SharedArray::<f64>::zeroed(16))?;
            let h = a.handle();
            let guard = setup(h.read())?;
            let r = a.write().map(|_| ());
            drop(guard);
            fails(r)
        },
        display: &["reading the array", "drop the guard"],
        debug: &["ReadersActive"],
    },
    Case {
        what: "SharedCell handle attached as another type",
        python: "- (no types)",
        trigger: || {
            use zeroproc::rkyv;
            let c = setup(SharedCell::new(Lock::new()))?;
            let bytes = setup(rkyv::to_bytes::<rkyv::rancor::Error>(&c.handle()))?;
            let h = setup(rkyv::from_bytes::<CellHandle<zeroproc::Event>, rkyv::rancor::Error>(
                &bytes,
            ))?;
            fails(h.attach().map(|_| ()))
        },
        display: &["the cell holds another type"],
        debug: &["TypeMismatch"],
    },
    Case {
        what: "SharedArray larger than the machine",
        python: "OSError: [Errno 28] No space left on device / MemoryError",
        trigger: || fails(SharedArray::<u8>::zeroed(1 << 46).map(|_| ())),
        display: &["bytes"],
        debug: &["Create"],
    },
    Case {
        what: "SharedArray length overflowing the address space",
        python: "OverflowError",
        trigger: || fails(SharedArray::<f64>::zeroed(usize::MAX / 4).map(|_| ())),
        display: &["too large"],
        debug: &["TooLarge"],
    },
    Case {
        what: "chunks_mut(0)",
        python: "ValueError: range() arg 3 must not be zero",
        trigger: || {
            let mut a = setup(SharedArray::<f64>::zeroed(8))?;
            fails(a.chunks_mut(0).map(|c| c.len()))
        },
        display: &["chunk length", "at least 1"],
        debug: &["BadChunkLen"],
    },
    Case {
        what: "read while a split is unfinished",
        python: "-",
        trigger: || {
            let mut a = setup(SharedArray::<f64>::zeroed(8))?;
            let _chunks = setup(a.chunks_mut(4))?;
            fails(a.as_slice().map(|s| s.len()))
        },
        display: &["2 chunks", "not finished", "wait_chunks", "abandon_chunks"],
        debug: &["SplitInProgress"],
    },
    Case {
        what: "wait_chunks runs out",
        python: "-",
        trigger: || {
            let mut a = setup(SharedArray::<f64>::zeroed(8))?;
            let _chunks = setup(a.chunks_mut(4))?;
            fails(a.wait_chunks(Duration::from_millis(5)))
        },
        display: &["timed out", "2 chunks"],
        debug: &["Timeout"],
    },
];

/// Shared containers' and arrays' errors.
pub fn errors6_shared() -> Outcome {
    check(SHARED)
}
