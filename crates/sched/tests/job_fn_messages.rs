//! What `cargo build` prints for a job or `Process` function that cannot be sent, in the
//! three shapes a user coming from Python or rayon writes first:
//!
//! * `Process::spawn(move |_: ()| println!("hello {name}"), ())` (Python's
//!   `Process(target=f, args=(name,))` written as a closure): the error named "a worker"
//!   and remedied with `pool.submit(f, (data, x))` only — not the `Process` call at hand;
//! * `pool.map(move |x: u64| x * k, 0..n)` (rayon's captured `k`): the error said "pass
//!   the data as the job's argument", with no word on how a `map` item carries it;
//! * a `fn` pointer chosen at run time (`let f: fn(u64) -> u64 = if .. { double } else
//!   { triple }`): the same "pass the data as the job's argument", though no data is
//!   involved: the fn items themselves are what can be sent (docs33).
//!
//! Builds a tiny crate with cargo (offline, its own target directory under
//! `CARGO_TARGET_TMPDIR`: a few minutes the first time), so it is ignored by default:
//! `cargo test --release -p zeroproc-sched --test job_fn_messages -- --ignored`.

use std::path::Path;
use zeroproc_testkit::tiny_crate::TinyCrate;

/// A `Process` body capturing a `String` (fails type checking: `JobFn` is not met).
const PROCESS: &str = r#"
fn main() {
    zeroproc_sched::init();
    let name = String::from("bob");
    let mut p = zeroproc_sched::Process::spawn(move |_: ()| println!("hello {name}"), ()).unwrap();
    p.join().unwrap();
}
"#;

/// A `map` capturing a `Copy` scalar and a submitted `fn` pointer (both meet `JobFn` and
/// fail when the job is instantiated: `cargo build`, not `cargo check`).
const CARRIES: &str = r#"
fn double(x: u64) -> u64 { x * 2 }
fn triple(x: u64) -> u64 { x * 3 }
fn main() {
    zeroproc_sched::init();
    let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
    let k = std::env::args().count() as u64;
    let s: u64 = pool.map(move |x: u64| x * k, 0..10u64).map(Result::unwrap).sum();
    let f: fn(u64) -> u64 = if k > 1 { double } else { triple };
    println!("{s} {:?}", pool.submit(f, 2).result());
}
"#;

#[test]
#[ignore = "runs cargo on a tiny crate (minutes the first time); run with --ignored"]
fn unsendable_job_functions_get_messages_naming_the_call_at_hand() {
    let sched = Path::new(env!("CARGO_MANIFEST_DIR"));
    let deps = [format!("zeroproc-sched = {{ path = {:?} }}", sched)];
    let files = [("src/bin/process.rs", PROCESS), ("src/bin/carries.rs", CARRIES)];
    let krate = TinyCrate { name: "job-fn-messages", dependencies: &deps, files: &files };
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let lock = sched.join("../../Cargo.lock");
    let (ok, stderr) = krate.build(env!("CARGO"), tmp, &lock, &["--keep-going", "--bins"]);
    assert!(!ok, "the build succeeded:\n{stderr}");

    // The `Process` body: the message and its remedy name the `Process` call.
    let e0277: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error[E0277]")).collect();
    assert_eq!(e0277.len(), 1, "{stderr}");
    assert!(e0277[0].contains("another process"), "{}", e0277[0]);
    assert!(stderr.contains("Process::spawn(f, (data, x))"), "{stderr}");

    // The captured scalar and the fn pointer: one error each, saying what to write.
    let e0080: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error[E0080]")).collect();
    assert_eq!(e0080.len(), 2, "{stderr}");
    for e in &e0080 {
        assert!(e.contains("pool.map(f, xs.map(|x| (x, k)))"), "{e}");
        assert!(e.contains("pass the fn item itself"), "{e}");
    }
}
