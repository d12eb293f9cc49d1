//! Records the compiler's version for the benchmark reports (`zeroproc bench`'s machine
//! block): `ZEROPROC_BENCH_RUSTC`, read by `zeroproc_bench::RUSTC_VERSION`.

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let v = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ZEROPROC_BENCH_RUSTC={v}");
    println!("cargo:rerun-if-env-changed=RUSTC");
}
