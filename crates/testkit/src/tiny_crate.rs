//! Building a tiny crate with cargo, to check what a user's build prints (compile-time
//! messages of the public API).

use std::path::Path;
use std::process::Command;

/// A tiny crate: its name, its `[dependencies]` lines and its source files.
pub struct TinyCrate<'a> {
    /// The package name; also its directory under `target_tmpdir`.
    pub name: &'a str,
    /// The `[dependencies]` table's lines, e.g. `zeroproc-sched = { path = "…" }`.
    pub dependencies: &'a [String],
    /// `(path under the crate, text)`, e.g. `("src/main.rs", MAIN)`.
    pub files: &'a [(&'a str, &'a str)],
}

impl TinyCrate<'_> {
    /// Builds the crate offline with the workspace's lock file (the same dependency
    /// versions, no registry look-up) in its own target directory under `target_tmpdir`
    /// (the test's `CARGO_TARGET_TMPDIR`: minutes the first time): whether the build
    /// succeeded, and what it printed on stderr.
    pub fn build(
        &self,
        cargo: &str,
        target_tmpdir: &Path,
        lock_file: &Path,
        args: &[&str],
    ) -> (bool, String) {
        let dir = target_tmpdir.join(self.name);
        let manifest = format!(
            "[package]\nname = {:?}\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\n{}\n\n[workspace]\n",
            self.name,
            self.dependencies.join("\n"),
        );
        write(&dir.join("Cargo.toml"), &manifest);
        for (path, text) in self.files {
            write(&dir.join(path), text);
        }
        std::fs::copy(lock_file, dir.join("Cargo.lock")).expect("copy the lock file");
        let out = Command::new(cargo)
            .args(["build", "--offline", "--quiet"])
            .args(args)
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", dir.join("target"))
            .output()
            .expect("run cargo");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create the directory");
    std::fs::write(path, text).expect("write the file");
}
