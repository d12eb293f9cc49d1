//! A `harness = false` bench that forgot `zeroproc::init()`: the pool's error must say
//! where it goes, and the worker (this program re-run) must not print what main prints.
use zeroproc::{BuildError, Pool};

fn main() {
    println!("forgot_custom: main starts (once: the worker's copy prints nowhere)");
    let e = Pool::new().unwrap_err();
    assert!(matches!(e, BuildError::NoInit { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("zeroproc::init() must be the first line of main"), "{msg}");
    println!("ok forgot_custom: {msg}");
}
