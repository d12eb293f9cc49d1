//! With the `tracing` feature: worker start, crash, respawn, time-out and retirement (job
//! quota) are `tracing` events of target `zeroproc`, seen by the application's subscriber.
//! Run: `cargo test -p zeroproc-sched --features tracing --test tracing_events`.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use zeroproc_sched::{JobError, Pool};

zeroproc_sched::test_worker!();

/// Every `zeroproc` event: (level, message, fields as `name=value`).
static SEEN: Mutex<Vec<(tracing::Level, String, String)>> = Mutex::new(Vec::new());

struct Collect;

struct Fields(String, String);

impl Visit for Fields {
    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        if f.name() == "message" {
            self.0 = format!("{v:?}");
        } else {
            self.1.push_str(&format!("{}={v:?} ", f.name()));
        }
    }
}

impl Subscriber for Collect {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.target() == "zeroproc"
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, e: &Event<'_>) {
        let mut f = Fields(String::new(), String::new());
        e.record(&mut f);
        SEEN.lock().unwrap().push((*e.metadata().level(), f.0, f.1));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn install() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| tracing::subscriber::set_global_default(Collect).expect("subscriber"));
}

fn seen(message: &str) -> Vec<String> {
    SEEN.lock().unwrap().iter().filter(|e| e.1 == message).map(|e| e.2.clone()).collect()
}

fn wait_for(message: &str) -> Vec<String> {
    for _ in 0..200 {
        let v = seen(message);
        if !v.is_empty() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no {message:?} event; saw {:?}", SEEN.lock().unwrap());
}

#[test]
fn worker_lifecycle_events_reach_the_subscriber() {
    install();
    let pool = Pool::builder().workers(1).max_jobs_per_worker(3).build().expect("pool");
    assert!(!wait_for("worker started").is_empty());
    // A crash: the event names the signal and the job it was running.
    let f = pool.submit(|_: ()| -> u64 { std::process::abort() }, ());
    let id = f.id();
    assert!(matches!(f.result(), Err(JobError::WorkerDied { .. })));
    let crash = wait_for("worker crashed");
    assert!(
        crash.iter().any(|c| c.contains("signal=6 ") && c.contains(&format!("job={id}"))),
        "{crash:?}"
    );
    assert!(!wait_for("worker respawned").is_empty());
    // A time-out.
    let slow = pool.submit_with_time_limit(
        |_: ()| std::thread::sleep(Duration::from_secs(5)),
        (),
        Duration::from_millis(50),
    );
    assert_eq!(slow.result(), Err(JobError::TimeLimit));
    assert!(wait_for("job timed out")[0].contains("timeout_ms=50"));
    // Retirement after the job quota (3 jobs): an orderly exit, then a replacement.
    for i in 0..4u64 {
        assert_eq!(pool.submit(|x: u64| x + 1, i).result(), Ok(i + 1));
    }
    let exits = wait_for("worker exited");
    assert!(exits.iter().any(|e| e.contains("max_jobs_per_worker")), "{exits:?}");
}

/// Jobs queued behind a long one move to the other worker, and the event says why.
#[test]
fn moved_jobs_are_an_event_naming_why() {
    install();
    let pool = Pool::builder().workers(2).build().expect("pool");
    let long = pool.submit(|_: ()| std::thread::sleep(Duration::from_millis(300)), ());
    let short: Vec<_> = (0..8u64)
        .map(|i| {
            pool.submit(
                |x: u64| {
                    std::thread::sleep(Duration::from_millis(1));
                    x
                },
                i,
            )
        })
        .collect();
    for (i, f) in short.into_iter().enumerate() {
        assert_eq!(f.result(), Ok(i as u64));
    }
    let moved = wait_for("jobs moved");
    assert!(moved.iter().any(|m| m.contains("in one job for 1 ms or more")), "{moved:?}");
    assert_eq!(long.result(), Ok(()));
}
