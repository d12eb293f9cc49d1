//! Port of py/p21_manager_list_imap.py: a `Manager().list()` appended by pool jobs,
//! results taken with `imap_unordered`.
use zeroproc::{ListHandle, Pool, SharedList};

fn work((lst, i): (ListHandle<u64>, u64)) -> u64 {
    lst.attach().unwrap().push(i * i).unwrap();
    i
}

#[zeroproc::main]
fn main() {
    let lst = SharedList::<u64>::new().unwrap();
    let pool = Pool::builder().workers(2).build().unwrap();
    let mut done = 0;
    for r in pool.map_unordered(work, (0..10).map(|i| (lst.handle(), i))) {
        r.unwrap();
        done += 1;
    }
    println!("done {done}");
    let mut v = lst.to_vec().unwrap();
    v.sort();
    println!("{v:?}");
}
