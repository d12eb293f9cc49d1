//! A done-callback that reaches its own future (through state it shares, as a Python
//! callback gets its future): registering another callback on it runs that one next;
//! waiting for it (`result`, `exception`, `wait_*`) panics with a message instead of
//! waiting for ever — this future is done only once its callbacks have run. Before, the
//! first deadlocked the pool's callback thread on the future's lock, the second waited for
//! ever, and every later callback of the pool waited behind them (new-user finding).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zeroproc_sched::{JobFuture, Pool};

zeroproc_sched::test_worker!();

type Slot = Arc<Mutex<Option<JobFuture<u64>>>>;

fn sleepy(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn a_callback_may_add_a_callback_to_its_own_future() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let slot: Slot = Arc::new(Mutex::new(None));
    let (tx, rx) = mpsc::channel();
    let f = pool.submit(sleepy, 50);
    let (s, tx1) = (slot.clone(), tx.clone());
    f.add_done_callback(move |r| {
        let me = s.lock().unwrap();
        let tx2 = tx1.clone();
        me.as_ref().unwrap().add_done_callback(move |r| tx2.send(format!("nested {r:?}")).unwrap());
        tx1.send(format!("first {r:?}")).unwrap();
    });
    *slot.lock().unwrap() = Some(f);
    assert_eq!(rx.recv_timeout(LIMIT).expect("deadlocked"), "first Ok(50)");
    assert_eq!(rx.recv_timeout(LIMIT).expect("nested never ran"), "nested Ok(50)");
    let f = slot.lock().unwrap().take().unwrap();
    assert_eq!(f.result_timeout(LIMIT).ok(), Some(Ok(50)));
}

/// Sends when dropped: also when the callback unwinds.
struct Left(mpsc::Sender<&'static str>);

impl Drop for Left {
    fn drop(&mut self) {
        let _ = self.0.send("left");
    }
}

#[test]
fn a_callback_waiting_for_its_own_future_panics_and_the_pool_goes_on() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let slot: Slot = Arc::new(Mutex::new(None));
    let (tx, rx) = mpsc::channel();
    let f = pool.submit(sleepy, 50);
    let s = slot.clone();
    let left = Left(tx.clone());
    f.add_done_callback(move |_| {
        let _left = left;
        let me = s.lock().unwrap().take().unwrap();
        let _ = me.result(); // Python: returns; here: panics (contained), never hangs
        unreachable!("result() inside its own callback returned");
    });
    *slot.lock().unwrap() = Some(f);
    assert_eq!(rx.recv_timeout(LIMIT).expect("the callback waits for itself"), "left");
    // The pool's callback thread goes on.
    let g = pool.submit(sleepy, 1);
    g.add_done_callback(move |_| tx.send("next").unwrap());
    assert_eq!(rx.recv_timeout(LIMIT).expect("the callback thread is stuck"), "next");
}

/// A callback added to a future that is already done runs at once in the adding thread;
/// it may look at its own future (Python's callback gets its future and may ask it for
/// `exception()`). Before: it ran under the future's lock and `exception_kind` there
/// deadlocked the adding thread (no answer on the channel within 20 s); a callback
/// added there to the same future deadlocked likewise.
#[test]
fn a_callback_added_to_a_done_future_may_look_at_it() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let pool = Pool::builder().workers(1).build().unwrap();
        let f = Arc::new(pool.submit(sleepy, 1));
        assert_eq!(f.exception_kind(), None); // done from here on
        let me = f.clone();
        f.add_done_callback(move |r| {
            let kind = me.exception_kind();
            let tx2 = tx.clone();
            me.add_done_callback(move |r| tx2.send(format!("nested {r:?}")).unwrap());
            tx.send(format!("{r:?} {kind:?}")).unwrap();
        });
        drop(f);
        drop(pool);
    });
    assert_eq!(rx.recv_timeout(LIMIT).as_deref(), Ok("nested Ok(1)"));
    assert_eq!(rx.recv_timeout(LIMIT).as_deref(), Ok("Ok(1) None"));
}
