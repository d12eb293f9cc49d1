//! A done-callback that awaits another future of the same pool with an executor of its own
//! (`futures::executor::block_on`, a runtime's `block_on`: code bridging sync and async).
//! Found by a user program outside the repo (2026-12-06): it never returned. The awaited
//! job's completion was drained by the supervisor, which handed every hook — also the
//! waker-only one of the awaited future — to the callback thread, the very thread blocked
//! in the `block_on`. (A blocking `result()` there worked: a thread waiting on the pool
//! runs the queued hooks.) Wakers now run in the supervisor as they do in any other
//! draining thread; only user callbacks go to the callback thread.

use std::future::Future;
use std::pin::pin;
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;
use zeroproc_sched::Pool;

zeroproc_sched::test_worker!();

struct Unpark(std::thread::Thread);
impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A minimal executor: polls `f`, parking the thread until it is woken (no time-out: a
/// lost wake-up hangs here, as it would in a real executor).
fn block_on<F: Future>(f: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(r) => return r,
            Poll::Pending => std::thread::park(),
        }
    }
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn a_callback_can_await_another_future_of_its_pool() {
    let pool = Pool::builder().workers(2).build().unwrap();
    for _ in 0..5 {
        let other = pool.submit(nap, 50);
        let first = pool.submit(nap, 5);
        let (tx, rx) = mpsc::channel();
        first.add_done_callback(move |_| {
            let _ = tx.send(block_on(other));
        });
        // Before: Err(Timeout) — the callback thread waited in `block_on` for ever.
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(Ok(50)));
        assert_eq!(first.result(), Ok(5));
    }
}
