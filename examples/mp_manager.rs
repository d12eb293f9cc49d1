//! Python's `Manager().dict() / list() / Namespace()`: a dict, a list and a namespace
//! mutated from several processes (spawned `Process`es and pool jobs), each change visible
//! to all — without a manager process: the containers live in shared memory and every
//! access happens in the caller's own process, under the container's robust lock.

use zeroproc::container::{DictHandle, ListHandle, NamespaceHandle};
use zeroproc::{Exit, Namespace, Pool, Process, SharedDict, SharedList};

type Handles = (DictHandle<String, u64>, ListHandle<u32>, NamespaceHandle, u32);

/// One process's work: record its pid, bump shared counters, leave a status.
fn worker((d, l, ns, id): Handles) {
    let (d, l, ns) = (d.attach().unwrap(), l.attach().unwrap(), ns.attach().unwrap());
    d.insert(format!("worker-{id}"), std::process::id() as u64).unwrap();
    for _ in 0..1000 {
        // A read-modify-write no other process can interleave with.
        d.update(&"hits".to_string(), |v| *v = Some(v.unwrap_or(0) + 1)).unwrap();
    }
    l.push(id).unwrap();
    ns.update::<u64, _>("finished", |n| *n = Some(n.unwrap_or(0) + 1)).unwrap();
    ns.set(&format!("status-{id}"), String::from("done")).unwrap();
}

/// A pool job reading the namespace and the list another process wrote.
fn summarize((l, ns): (ListHandle<u32>, NamespaceHandle)) -> (usize, u64) {
    let (l, ns) = (l.attach().unwrap(), ns.attach().unwrap());
    (l.len().unwrap(), ns.get::<u64>("finished").unwrap().unwrap_or(0))
}

#[zeroproc::main]
fn main() {
    let d = SharedDict::<String, u64>::new().unwrap();
    let l = SharedList::<u32>::new().unwrap();
    let ns = Namespace::new().unwrap();
    ns.set("experiment", String::from("manager demo")).unwrap();

    let mut procs: Vec<Process> = (0..4)
        .map(|id| {
            let args = (d.handle(), l.handle(), ns.handle(), id);
            Process::spawn(worker, args).unwrap()
        })
        .collect();
    for p in procs.iter_mut() {
        assert_eq!(p.join().unwrap(), Exit::Code(0));
    }

    println!("dict ({} entries):", d.len().unwrap());
    let mut items = d.items().unwrap();
    items.sort();
    for (k, v) in &items {
        println!("  {k:>10} = {v}");
    }
    assert_eq!(d.get(&"hits".into()).unwrap(), Some(4000), "4 processes × 1000 updates");

    let mut seen = l.to_vec().unwrap();
    println!("list (push order across processes): {seen:?}");
    seen.sort();
    assert_eq!(seen, [0, 1, 2, 3]);

    let mut names = ns.names().unwrap();
    names.sort();
    println!("namespace fields: {names:?}");
    println!("  experiment = {:?}", ns.get::<String>("experiment").unwrap().unwrap());
    println!("  finished   = {}", ns.get::<u64>("finished").unwrap().unwrap());

    // The same handles work as pool job arguments.
    let pool = Pool::builder().workers(2).build().unwrap();
    let (len, finished) = pool.submit(summarize, (l.handle(), ns.handle())).result().unwrap();
    println!("a pool worker sees: list len {len}, finished = {finished}");
    assert_eq!((len, finished), (4, 4));
    let s = d.stats();
    println!(
        "dict memory: {} blocks, {} bytes in use of {}; {} mutations, {} recoveries",
        s.blocks_in_use, s.bytes_in_use, s.capacity_bytes, s.mutations, s.recoveries
    );
}
