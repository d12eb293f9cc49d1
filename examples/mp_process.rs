//! Python's `multiprocessing.Process`, both styles of the chapter: a function target, and
//! a "subclass" that overrides `run` (here: a type implementing [`zeroproc::Run`]). Each
//! child computes squares and prints them with its own pid; the parent joins them and
//! reports their exit codes — including one whose body panics.

use zeroproc::{Exit, Process, Run};

/// The subclass style: the object is archived, sent to the child, and `run` is called.
#[zeroproc::data] // encodable as a job/process argument: rkyv's derives, zeroproc's rkyv
struct Squares {
    numbers: Vec<u64>,
}

impl Run for Squares {
    fn run(self) {
        let sq: Vec<u64> = self.numbers.iter().map(|n| n * n).collect();
        println!(
            "  [{} pid {}] squares of {:?} = {:?}",
            Process::current_name().unwrap_or_default(),
            std::process::id(),
            self.numbers,
            sq
        );
    }
}

fn cube(n: u64) {
    println!(
        "  [{} pid {}] {n}^3 = {}",
        Process::current_name().unwrap_or_default(),
        std::process::id(),
        n * n * n
    );
}

#[zeroproc::main]
fn main() {
    println!("parent pid {}", std::process::id());
    let mut children = [
        Process::from_run(Squares { numbers: vec![1, 2, 3] }).name("squares-a"),
        Process::from_run(Squares { numbers: vec![4, 5, 6] }).name("squares-b"),
        Process::new(cube, 7).name("cube"),
        Process::new(|n: u64| assert!(n < 5, "{n} is too big"), 9).name("failing"),
    ];
    for p in children.iter_mut() {
        p.start().expect("start");
    }
    for p in children.iter_mut() {
        let exit = p.join().expect("join");
        let why = p.panic_message().map(|m| format!(" (panicked: {m})")).unwrap_or_default();
        println!("{} (pid {:?}) ended: {exit:?}{why}", p.get_name(), p.pid());
        assert_eq!(exit == Exit::Code(0), p.get_name() != "failing");
    }
}
