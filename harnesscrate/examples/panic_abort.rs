//! A job that panics in a program built with `panic = "abort"` (`cargo run --profile
//! panic-abort --example panic_abort`): the panic cannot be caught, so the worker aborts
//! and the job fails with `WorkerDied` (SIGABRT), whose message says "the worker's stderr
//! says which". Prints `ok panic_abort: ...` if the worker's stderr (this program's, which
//! it shares) holds the job's panic message and the pool serves on; `check.sh` runs it.
//! Before (harness32), the worker's panic hook kept the message for the job's future,
//! which never got it: nothing was written, and the cause could not be found.

use std::io::Read;

fn main() {
    zeroproc::init();
    if std::env::args().nth(1).as_deref() == Some("inner") {
        let pool = zeroproc::Pool::builder().workers(1).build().unwrap();
        let r = pool.submit(|_: ()| -> u32 { panic!("the job panics on purpose") }, ()).result();
        println!("{r:?}");
        assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2), "the pool serves on");
        return;
    }
    // Runs itself again with stderr on a pipe, to read what the worker wrote there.
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("inner")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}: {stdout} {err}", out.status);
    assert!(stdout.contains("WorkerDied"), "{stdout}");
    assert!(err.contains("the job panics on purpose"), "no panic message on stderr: {err:?}");
    assert!(err.contains("panic = \"abort\""), "the note does not name the cause: {err:?}");
    println!("ok panic_abort: {}", err.trim());
}
