//! Counts of outcomes, and the anomalies (an outcome that is not the one the job asked for).

use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct Tally {
    counts: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    pub fn add(&self, key: &str) {
        *self.counts.lock().unwrap().entry(key.to_string()).or_insert(0) += 1;
    }

    /// An outcome that should not happen: counted, and the first 20 of each key printed.
    pub fn anomaly(&self, key: &str, detail: impl std::fmt::Display) {
        let k = format!("ANOMALY {key}");
        let n = {
            let mut c = self.counts.lock().unwrap();
            let n = c.entry(k.clone()).or_insert(0);
            *n += 1;
            *n
        };
        if n <= 20 {
            println!("{k}: {detail}");
        }
    }

    pub fn anomalies(&self) -> u64 {
        let c = self.counts.lock().unwrap();
        c.iter().filter(|(k, _)| k.starts_with("ANOMALY")).map(|(_, v)| v).sum()
    }

    pub fn print(&self) {
        for (k, v) in self.counts.lock().unwrap().iter() {
            println!("  count {k}: {v}");
        }
    }
}
