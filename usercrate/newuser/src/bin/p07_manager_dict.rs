//! Port of py/p07_manager_dict.py: a `Manager().dict()` filled by five processes.
use zeroproc::{DictHandle, Process, SharedDict};

fn fill((d, k): (DictHandle<String, u64>, u64)) {
    d.attach().unwrap().insert(format!("key{k}"), k * 10).unwrap();
}

#[zeroproc::main]
fn main() {
    let d = SharedDict::<String, u64>::new().unwrap();
    let mut ps: Vec<Process> =
        (0..5).map(|k| Process::spawn(fill, (d.handle(), k)).unwrap()).collect();
    for p in ps.iter_mut() {
        p.join().unwrap();
    }
    let mut keys = d.keys().unwrap();
    keys.sort();
    for k in keys {
        println!("{k} {}", d.get(&k).unwrap().unwrap());
    }
    println!("len {}", d.len().unwrap());
}
