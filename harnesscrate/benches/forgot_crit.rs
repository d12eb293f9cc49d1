//! A criterion bench that forgot zeroproc's `criterion_main!` (criterion's own is used):
//! the pool's error must name the macro. Passes (prints `ok`) when it does.
use criterion::{Criterion, criterion_group, criterion_main};
use zeroproc::Pool;

fn forgot(_c: &mut Criterion) {
    let e = Pool::builder().workers(2).build().unwrap_err().to_string();
    assert!(e.contains("zeroproc::criterion_main!(benches) in place of criterion's"), "{e}");
    println!("ok forgot_crit: {e}");
}

criterion_group!(benches, forgot);
criterion_main!(benches);
