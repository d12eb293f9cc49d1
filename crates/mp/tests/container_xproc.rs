//! Shared containers across real processes: concurrent atomic updates from several
//! processes add up exactly, and processes SIGKILLed at random points in the middle of
//! mutations never leave a dict or a list inconsistent (every entry intact, counts right,
//! at most one heap block leaked per kill).

use rkyv::rancor::Error;
use std::io::{BufRead, BufReader};
use std::process::Child;
use std::time::Duration;
use zeroproc_mp::container::{DictHandle, ListHandle, NamespaceHandle};
use zeroproc_mp::Namespace;
use zeroproc_mp::{SharedDict, SharedList};
use zeroproc_testkit as tk;
use zeroproc_testkit::{to_hex as hex, unhex};

type Dict = SharedDict<u64, Vec<u64>>;
type List = SharedList<Vec<u64>>;

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A self-checking value: `[key, version, mix(key ^ version ^ i)...]`.
fn make(key: u64, ver: u64, len: usize) -> Vec<u64> {
    let mut v = vec![key, ver];
    v.extend((2..len as u64).map(|i| mix(key ^ ver ^ i)));
    v
}

fn intact(v: &[u64]) -> bool {
    v.len() >= 2 && v.iter().enumerate().skip(2).all(|(i, x)| *x == mix(v[0] ^ v[1] ^ i as u64))
}

fn say(s: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    writeln!(o, "{s}").unwrap();
    o.flush().unwrap();
}

const INCREMENTS: u64 = 2000;

#[test]
fn zp_container_child() {
    tk::child_entry(|role, arg| {
        let parts: Vec<&str> = arg.split(',').collect();
        match role {
            "incr" => {
                let d = rkyv::from_bytes::<DictHandle<String, u64>, Error>(&unhex(parts[0]))
                    .unwrap()
                    .attach()
                    .unwrap();
                let ns = rkyv::from_bytes::<NamespaceHandle, Error>(&unhex(parts[1]))
                    .unwrap()
                    .attach()
                    .unwrap();
                let l = rkyv::from_bytes::<ListHandle<u32>, Error>(&unhex(parts[2]))
                    .unwrap()
                    .attach()
                    .unwrap();
                let me: u32 = parts[3].parse().unwrap();
                for i in 0..INCREMENTS {
                    d.update(&"total".to_string(), |v| *v = Some(v.unwrap_or(0) + 1)).unwrap();
                    ns.update::<u64, _>("count", |v| *v = Some(v.unwrap_or(0) + 1)).unwrap();
                    if i % 10 == 0 {
                        l.push(me).unwrap();
                    }
                }
                d.insert(format!("done-{me}"), INCREMENTS).unwrap();
            }
            "churn" => {
                let d = rkyv::from_bytes::<DictHandle<u64, Vec<u64>>, Error>(&unhex(parts[0]))
                    .unwrap()
                    .attach()
                    .unwrap();
                let l = rkyv::from_bytes::<ListHandle<Vec<u64>>, Error>(&unhex(parts[1]))
                    .unwrap()
                    .attach()
                    .unwrap();
                let mut x: u64 = parts[2].parse().unwrap();
                let mut ver = x << 20;
                for step in 0u64.. {
                    x = mix(x);
                    ver += 1;
                    let key = x % 300;
                    let len = (x >> 20) as usize % 400;
                    match (x >> 40) % 12 {
                        0..=2 => drop(d.insert(key, make(key, ver, len)).unwrap()),
                        3 => drop(d.remove(&key).unwrap()),
                        4 => d.update(&key, |v| *v = Some(make(key, ver, len))).unwrap(),
                        5 if step % 97 == 0 => d.clear().unwrap(),
                        6 => l.push(make(key, ver, len)).unwrap(),
                        7 => drop(l.pop().unwrap()),
                        8 => {
                            let n = l.len().unwrap();
                            l.insert(key as usize % (n + 1), make(key, ver, len)).unwrap();
                        }
                        9 => {
                            let n = l.len().unwrap();
                            if n > 0 {
                                l.remove(key as usize % n).unwrap();
                            }
                        }
                        10 => {
                            let n = l.len().unwrap();
                            if n > 0 {
                                l.set(key as usize % n, make(key, ver, len)).unwrap();
                            }
                        }
                        _ if step % 211 == 0 => l.clear().unwrap(),
                        _ => drop(d.get(&key).unwrap()),
                    }
                    if step == 0 {
                        say("ready");
                    }
                }
            }
            _ => panic!("unknown role {role}"),
        }
    });
}

/// Reads the child's stdout up to its "ready" line; the reader is returned so that the
/// pipe stays open while the child runs.
fn wait_ready(child: &mut Child) -> BufReader<std::process::ChildStdout> {
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while line.trim() != "ready" {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child ended before ready");
    }
    out
}

#[test]
fn updates_from_several_processes_add_up_exactly() {
    let d = SharedDict::<String, u64>::new().unwrap();
    let ns = Namespace::new().unwrap();
    let l = SharedList::<u32>::new().unwrap();
    let kids: Vec<Child> = (0..3)
        .map(|me| {
            let arg =
                format!("{},{},{},{me}", hex(&d.handle()), hex(&ns.handle()), hex(&l.handle()));
            tk::spawn_role("zp_container_child", "incr", &arg)
        })
        .collect();
    for mut k in kids {
        assert!(tk::wait_timeout(&mut k, Duration::from_secs(60)).success());
    }
    assert_eq!(d.get(&"total".into()).unwrap(), Some(3 * INCREMENTS));
    assert_eq!(ns.get::<u64>("count").unwrap(), Some(3 * INCREMENTS));
    let pushed = l.to_vec().unwrap();
    assert_eq!(pushed.len() as u64, 3 * INCREMENTS / 10);
    for me in 0..3 {
        assert_eq!(pushed.iter().filter(|&&x| x == me).count() as u64, INCREMENTS / 10);
        assert_eq!(d.get(&format!("done-{me}")).unwrap(), Some(INCREMENTS));
    }
    assert_eq!(d.stats().recoveries, 0);
}

fn check_consistent(d: &Dict, l: &List, kills: u64) -> (u64, u64) {
    let items = d.items().expect("dict readable after a kill");
    assert_eq!(d.len().unwrap(), items.len());
    for (k, v) in &items {
        assert!(intact(v) && v[0] == *k, "torn dict value under key {k}");
    }
    let vals = l.to_vec().expect("list readable after a kill");
    assert_eq!(l.len().unwrap(), vals.len());
    assert!(vals.iter().all(|v| intact(v)), "torn list value");
    let (ds, ls) = (d.stats(), l.stats());
    let dleak = ds.blocks_in_use - (items.len() as u64 + 1);
    let lleak = ls.blocks_in_use - (vals.len() as u64 + 1);
    assert!(dleak + lleak <= kills, "leaked {dleak}+{lleak} blocks over {kills} kills");
    (dleak + lleak, ds.recoveries + ls.recoveries)
}

#[test]
fn processes_killed_mid_mutation_leave_dict_and_list_consistent() {
    let kills: u64 =
        std::env::var("ZEROPROC_CONTAINER_KILLS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let d = Dict::with_capacity_bytes(32 << 20).unwrap();
    let l = List::with_capacity_bytes(32 << 20).unwrap();
    let (hd, hl) = (hex(&d.handle()), hex(&l.handle()));
    let mut x = 0x1234_5678u64;
    let (mut leaked, mut recoveries) = (0, 0);
    for k in 1..=kills {
        x = mix(x);
        let mut child =
            tk::spawn_role_piped("zp_container_child", "churn", &format!("{hd},{hl},{x}"));
        let _out = wait_ready(&mut child);
        std::thread::sleep(Duration::from_micros(x % 3000));
        tk::sigkill(&child);
        child.wait().unwrap();
        (leaked, recoveries) = check_consistent(&d, &l, k);
        // The survivor keeps using them.
        d.insert(1_000_000 + k, make(1_000_000 + k, k, 8)).unwrap();
        l.push(make(7, k, 8)).unwrap();
    }
    println!(
        "container kills: {kills} SIGKILLs mid-churn; recoveries {recoveries}; \
         leaked blocks {leaked}; dict {} entries, list {} values, all intact",
        d.len().unwrap(),
        l.len().unwrap()
    );
    assert!(recoveries > 0, "no kill landed inside an operation");
}
