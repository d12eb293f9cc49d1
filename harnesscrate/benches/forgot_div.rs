//! divan without `zeroproc::init()` before `divan::main()`: the pool's error must say so
//! (it named criterion's macro only). Passes (prints `ok`) when it does.
use std::sync::Once;
use zeroproc::Pool;

#[divan::bench(sample_count = 1, sample_size = 1)]
fn forgot() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let e = Pool::builder().workers(1).build().unwrap_err().to_string();
        assert!(
            e.contains("`zeroproc::init();` before divan::main()")
                || e.contains("the first line of main (before divan::main())"),
            "{e}"
        );
        eprintln!("ok forgot_div: {e}");
    });
}

fn main() {
    divan::main();
}
