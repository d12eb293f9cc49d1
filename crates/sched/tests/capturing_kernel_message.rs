//! What `cargo build` prints for an in-place kernel that captures a run-time `alpha`: one
//! error, naming the way such a parameter reaches a kernel (`.args`). Before kparam32 the
//! build printed a second error beside it, from the job's own assertion, saying to pass
//! the data "as the job's argument or as shared state (Pool::share)" — remedies an
//! in-place kernel cannot take.
//!
//! Builds a tiny crate with cargo (offline, its own target directory under
//! `CARGO_TARGET_TMPDIR`: a few minutes the first time), so it is ignored by default:
//! `cargo test --release -p zeroproc-sched --test capturing_kernel_message -- --ignored`.

use std::path::Path;
use zeroproc_testkit::tiny_crate::TinyCrate;

/// The tiny crate's `main`: each in-place call with a closure capturing `alpha`.
const MAIN: &str = r#"
fn main() {
    zeroproc_sched::init();
    let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
    let mut y = zeroproc_mp::SharedArray::<f64>::zeroed(8).unwrap();
    let alpha = std::env::args().count() as f64;
    pool.for_each_chunk_mut(&mut y, 4, move |c: &mut [f64], _| c.iter_mut().for_each(|v| *v *= alpha))
        .unwrap();
    pool.in_place(&mut y)
        .args(2.0)
        .for_each_chunk_mut(4, move |c: &mut [f64], _, k: &f64| c.iter_mut().for_each(|v| *v *= alpha * k))
        .unwrap();
}
"#;

#[test]
#[ignore = "runs cargo on a tiny crate (minutes the first time); run with --ignored"]
fn a_capturing_kernel_gets_one_error_naming_args() {
    let sched = Path::new(env!("CARGO_MANIFEST_DIR"));
    let deps = [
        format!("zeroproc-sched = {{ path = {:?} }}", sched),
        format!("zeroproc-mp = {{ path = {:?} }}", sched.join("../mp")),
    ];
    let krate = TinyCrate {
        name: "capturing-kernel",
        dependencies: &deps,
        files: &[("src/main.rs", MAIN)],
    };
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let lock = sched.join("../../Cargo.lock");
    let (ok, stderr) = krate.build(env!("CARGO"), tmp, &lock, &["--message-format=short"]);
    assert!(!ok, "the build succeeded:\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error[")).collect();
    // One per call, both the in-place message.
    assert_eq!(errors.len(), 2, "{stderr}");
    for e in &errors {
        assert!(e.contains("error[E0080]") && e.contains(".args(alpha)"), "{e}");
    }
    assert!(!stderr.contains("Pool::share"), "{stderr}");
}
