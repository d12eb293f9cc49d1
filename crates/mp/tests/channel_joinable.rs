//! In-process tests of `JoinableQueue`: counting, `task_done` errors, `join` forms,
//! handles. (Across processes: `channel_xproc.rs`.)

use std::thread;
use std::time::{Duration, Instant};
use zeroproc_mp::queue::{
    ChannelError, JoinTimeoutError, JoinableQueueHandle, PutTimeoutError, TaskDoneError,
    TryPutError,
};
use zeroproc_mp::{JoinableQueue, Queue};

const MS: Duration = Duration::from_millis(1);

#[test]
fn put_counts_task_done_uncounts_and_refuses_below_zero() {
    let q = JoinableQueue::<u32>::new(4).unwrap();
    assert_eq!(q.task_done(), Err(TaskDoneError));
    q.put(1).unwrap();
    q.try_put(2).unwrap();
    q.put_timeout(3, MS).unwrap();
    q.put_deadline(4, Instant::now()).unwrap();
    assert_eq!(q.unfinished_tasks(), 4);
    assert_eq!((q.len(), q.capacity(), q.is_full(), q.is_empty()), (4, 4, true, false));
    // Refused puts are not counted.
    assert!(matches!(q.try_put(5), Err(TryPutError::Full(5))));
    assert!(matches!(q.put_timeout(5, MS), Err(PutTimeoutError::Timeout(5))));
    assert_eq!(q.unfinished_tasks(), 4);
    assert_eq!(q.get().unwrap(), 1);
    assert_eq!(q.try_get().unwrap(), 2);
    assert_eq!(q.get_timeout(MS).unwrap(), 3);
    assert_eq!(q.get_deadline(Instant::now()).unwrap(), 4);
    assert_eq!(q.unfinished_tasks(), 4, "taking does not finish a task");
    for _ in 0..4 {
        q.task_done().unwrap();
    }
    assert_eq!(q.task_done(), Err(TaskDoneError));
    assert_eq!(TaskDoneError.to_string(), "task_done() called more times than values were put");
    q.join();
}

#[test]
fn reading_forms_delegate() {
    let q = JoinableQueue::<Vec<u16>>::with_slot_size(4, 64).unwrap();
    assert_eq!(q.slot_size(), 64);
    q.put(vec![1, 2]).unwrap();
    q.put(vec![3; 100]).unwrap(); // spilled
    q.put(vec![4]).unwrap();
    q.put(vec![5]).unwrap();
    assert_eq!(q.get_ref().unwrap().len(), 2);
    assert_eq!(q.try_get_ref().unwrap().len(), 100);
    assert_eq!(q.get_with(|v| v[0]).unwrap(), 4);
    assert_eq!(q.try_get_with(|v| v[0]).unwrap(), 5);
    assert!(q.get_ref_deadline(Instant::now()).is_err());
    assert!(q.get_with_deadline(Instant::now(), |v| v.len()).is_err());
    assert_eq!(q.unfinished_tasks(), 4);
    assert!(format!("{q:?}").contains("unfinished"));
}

#[test]
fn join_waits_for_every_task_done() {
    let q = JoinableQueue::<u64>::new(8).unwrap();
    for i in 0..20 {
        if i < 8 {
            q.put(i).unwrap();
        }
    }
    assert_eq!(q.join_timeout(5 * MS), Err(JoinTimeoutError { unfinished: 8 }));
    assert!(q.join_deadline(Instant::now()).is_err());
    assert!(JoinTimeoutError { unfinished: 8 }.to_string().contains("8 tasks"));
    assert!(JoinTimeoutError { unfinished: 1 }.to_string().ends_with(": 1 task unfinished"));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || {
                while let Ok(_v) = q.get() {
                    thread::sleep(Duration::from_micros(200));
                    q.task_done().unwrap();
                }
            })
        })
        .collect();
    for i in 8..100 {
        q.put(i).unwrap();
    }
    let t0 = Instant::now();
    q.join_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(t0.elapsed() < Duration::from_secs(10));
    q.close();
    assert!(q.is_closed());
    assert!(q.put(1).is_err());
    assert_eq!(q.unfinished_tasks(), 0, "a refused put is not counted");
    for w in workers {
        w.join().unwrap();
    }
}

#[test]
fn joinable_handles_attach_only_as_joinable() {
    let q = JoinableQueue::<u8>::new(2).unwrap();
    let h: JoinableQueueHandle<u8> = q.handle();
    assert_eq!(h, h.clone());
    assert!(format!("{h:?}").contains("joinable: true"));
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&h).unwrap();
    let h2 = rkyv::from_bytes::<JoinableQueueHandle<u8>, rkyv::rancor::Error>(&bytes).unwrap();
    let other = h2.attach().unwrap();
    other.put(1).unwrap();
    assert_eq!(q.unfinished_tasks(), 1);
    q.get().unwrap();
    other.task_done().unwrap();
    q.join();
    // A plain queue's handle cannot attach a joinable queue's segment, nor the reverse.
    let plain = Queue::<u8>::new(2).unwrap();
    let forged = rkyv::from_bytes::<JoinableQueueHandle<u8>, rkyv::rancor::Error>(
        &rkyv::to_bytes::<rkyv::rancor::Error>(&plain.handle()).unwrap(),
    )
    .unwrap();
    assert!(matches!(forged.attach(), Err(ChannelError::KindMismatch { found: "Queue" })));
    let built = Queue::<u8>::builder(2).build_joinable().unwrap();
    assert!(built.is_empty());
}
