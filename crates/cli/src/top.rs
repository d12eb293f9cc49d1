//! `zeroproc top [POOL]`: the running pools of this user, or a live view of one.
//!
//! Pools are found in the per-user registry every pool writes while it lives
//! (`zeroproc_sched::running_pools`: `$XDG_RUNTIME_DIR/zeroproc/`, else
//! `/tmp/zeroproc-<uid>/`; entries of dead processes are swept). Without `POOL` the list is
//! printed (pid, name, workers, uptime). With `POOL` (a name or a controller pid) its
//! segment is mapped **read-only** (`PoolObserver`: `PROT_READ`, owner, header and layout
//! checked) and redrawn every `--interval` seconds: per worker its state, jobs done,
//! jobs/s, busy %, queue depth (jobs queued on its submission ring or running), bytes in
//! and out, respawns. The observer writes nothing and registers nowhere; the pool cannot
//! tell it is watched. `--once` prints one frame (rates averaged since the pool started)
//! and exits.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::time::Duration;
use zeroproc_sched::{running_pools, PoolEntry, PoolObserver, PoolSnapshot};

/// Arguments of `zeroproc top`.
#[derive(clap::Args)]
pub struct Args {
    /// The pool to watch (its name, or its controller's pid); without it, the running
    /// pools are listed.
    pool: Option<String>,
    /// Seconds between refreshes.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    /// Print one frame (rates since the pool started) and exit.
    #[arg(long)]
    once: bool,
}

/// Lists the pools, or watches one.
pub fn run(a: Args) -> Result<(), String> {
    if !(a.interval > 0.0 && a.interval.is_finite()) {
        return Err(format!("--interval must be a positive number of seconds, not {}", a.interval));
    }
    let pools = running_pools();
    let Some(want) = a.pool else {
        print!("{}", list(&pools));
        return Ok(());
    };
    let entry = pick(&pools, &want)?;
    let obs = PoolObserver::attach(&entry.segment).map_err(|e| format!("{}: {e}", entry.name))?;
    let ansi = !a.once && std::io::stdout().is_terminal();
    let mut prev: Option<PoolSnapshot> = None;
    loop {
        let snap = obs.snapshot();
        let text = frame(&entry, prev.as_ref(), &snap, a.interval);
        let mut out = std::io::stdout().lock();
        if ansi {
            // Cursor home, clear screen.
            let _ = write!(out, "\x1b[H\x1b[2J");
        }
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
        drop(out);
        if a.once {
            return Ok(());
        }
        prev = Some(snap);
        std::thread::sleep(Duration::from_secs_f64(a.interval));
        if !running_pools().iter().any(|p| p.path == entry.path) {
            println!("pool {} (pid {}) has ended", entry.name, entry.pid);
            return Ok(());
        }
    }
}

/// The pool `want` names (a name, or a pid owning exactly one pool).
fn pick(pools: &[PoolEntry], want: &str) -> Result<PoolEntry, String> {
    let by_name: Vec<&PoolEntry> = pools.iter().filter(|p| p.name == want).collect();
    let found = if by_name.is_empty() {
        pools.iter().filter(|p| p.pid.to_string() == want).collect()
    } else {
        by_name
    };
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!("no running pool named {want:?}\n{}", list(pools))),
        many => {
            let names: Vec<String> =
                many.iter().map(|p| format!("{} (pid {})", p.name, p.pid)).collect();
            Err(format!("{want:?} matches several pools: {}", names.join(", ")))
        }
    }
}

/// The list of running pools.
fn list(pools: &[PoolEntry]) -> String {
    let mut s = String::new();
    if pools.is_empty() {
        let _ = writeln!(
            s,
            "no running zeroproc pools of this user (registry: {})",
            zeroproc_sched::registry_dir().display()
        );
        return s;
    }
    let _ = writeln!(s, "{:<8} {:<24} {:>7} {:>10}  program", "pid", "name", "workers", "uptime");
    for p in pools {
        let _ = writeln!(
            s,
            "{:<8} {:<24} {:>7} {:>10}  {}",
            p.pid,
            p.name,
            p.workers,
            hms(p.uptime()),
            p.exe
        );
    }
    s
}

/// `h:mm:ss`.
fn hms(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `n` bytes, short.
fn bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} KB", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.2} GB", n as f64 / 1e9),
    }
}

/// One screen: rates over the last interval (against `prev`), or since the pool started.
fn frame(e: &PoolEntry, prev: Option<&PoolSnapshot>, cur: &PoolSnapshot, interval: f64) -> String {
    let mut s = String::new();
    let over = match prev {
        Some(_) => format!("rates over the last {interval:.1} s"),
        None => "rates since the pool started".to_owned(),
    };
    let backlog = match cur.backlog {
        0 => String::new(),
        n => format!(", {n} submitted jobs waiting for room"),
    };
    let _ = writeln!(
        s,
        "zeroproc top — pool {} (pid {}), {} workers{backlog}, up {} — {over}",
        e.name,
        e.pid,
        cur.workers.len(),
        hms(e.uptime())
    );
    let _ = writeln!(
        s,
        "{:<6} {:<8} {:<5} {:>10} {:>9} {:>6} {:>6} {:>9} {:>9} {:>8}",
        "worker", "pid", "state", "jobs", "jobs/s", "busy%", "queue", "in", "out", "respawns"
    );
    // Seconds of the window, and per worker (jobs, busy seconds) at its start.
    let (secs, base): (f64, Vec<(u64, f64)>) = match prev {
        Some(p) => (
            cur.at_ns.saturating_sub(p.at_ns) as f64 / 1e9,
            p.workers.iter().map(|w| (w.jobs_done, w.busy.as_secs_f64())).collect(),
        ),
        None => (e.uptime().as_secs_f64(), vec![(0, 0.0); cur.workers.len()]),
    };
    let secs = secs.max(1e-3);
    let (mut jobs, mut rate, mut busy_sum, mut queue, mut bin, mut bout, mut resp) =
        (0u64, 0.0, 0.0, 0u64, 0u64, 0u64, 0u64);
    for (w, &(j0, b0)) in cur.workers.iter().zip(base.iter().chain(std::iter::repeat(&(0, 0.0)))) {
        let r = w.jobs_done.saturating_sub(j0) as f64 / secs;
        let busy = ((w.busy.as_secs_f64() - b0) / secs * 100.0).clamp(0.0, 100.0);
        let state = if !zeroproc_shm::process::is_alive(w.pid) {
            "gone"
        } else if !w.ready {
            "start"
        } else if w.running != 0 {
            "run"
        } else {
            "idle"
        };
        let _ = writeln!(
            s,
            "{:<6} {:<8} {:<5} {:>10} {:>9.1} {:>6.1} {:>6} {:>9} {:>9} {:>8}",
            w.index,
            w.pid,
            state,
            w.jobs_done,
            r,
            busy,
            w.owed,
            bytes(w.bytes_in),
            bytes(w.bytes_out),
            w.respawns
        );
        jobs += w.jobs_done;
        rate += r;
        busy_sum += busy;
        queue += w.owed;
        bin += w.bytes_in;
        bout += w.bytes_out;
        resp += w.respawns;
    }
    let n = cur.workers.len().max(1) as f64;
    let _ = write!(
        s,
        "{:<6} {:<8} {:<5} {:>10} {:>9.1} {:>6.1} {:>6} {:>9} {:>9} {:>8}",
        "total",
        "",
        "",
        jobs,
        rate,
        busy_sum / n,
        queue,
        bytes(bin),
        bytes(bout),
        resp
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroproc_sched::WorkerSnapshot;

    fn worker(index: usize, jobs: u64, busy_ms: u64) -> WorkerSnapshot {
        WorkerSnapshot {
            index,
            pid: std::process::id(),
            ready: true,
            running: 0,
            jobs_done: jobs,
            busy: Duration::from_millis(busy_ms),
            idle: Duration::ZERO,
            bytes_in: 2048,
            bytes_out: 10,
            owed: 3,
            respawns: 1,
        }
    }

    #[test]
    fn frame_shows_interval_rates_and_totals() {
        let e = PoolEntry {
            name: "p".into(),
            pid: 1,
            workers: 2,
            started: std::time::SystemTime::now(),
            segment: "memfd:1:2:00000000000000ff".parse().unwrap(),
            exe: String::new(),
            path: "/x".into(),
        };
        let a =
            PoolSnapshot { at_ns: 0, workers: vec![worker(0, 10, 0), worker(1, 0, 0)], backlog: 0 };
        let b = PoolSnapshot {
            at_ns: 2_000_000_000,
            workers: vec![worker(0, 30, 1000), worker(1, 40, 2000)],
            backlog: 0,
        };
        let f = frame(&e, Some(&a), &b, 2.0);
        let row0 = f.lines().find(|l| l.starts_with("0 ")).unwrap();
        let cols: Vec<&str> = row0.split_whitespace().collect();
        // worker pid state jobs jobs/s busy% queue in(2) out(2) respawns
        assert_eq!(&cols[2..6], ["idle", "30", "10.0", "50.0"]);
        let total = f.lines().last().unwrap();
        let cols: Vec<&str> = total.split_whitespace().collect();
        assert_eq!(&cols[..5], ["total", "70", "30.0", "75.0", "6"]);
        assert!(f.contains("rates over the last 2.0 s"));
        assert!(!f.contains("waiting for room"));
        let c = PoolSnapshot { backlog: 700, ..b.clone() };
        let f = frame(&e, Some(&b), &c, 2.0);
        assert!(f
            .lines()
            .next()
            .unwrap()
            .contains("2 workers, 700 submitted jobs waiting for room"));
    }

    #[test]
    fn pick_by_name_or_pid() {
        let mk = |name: &str, pid| PoolEntry {
            name: name.into(),
            pid,
            workers: 1,
            started: std::time::SystemTime::now(),
            segment: "memfd:1:2:00000000000000ff".parse().unwrap(),
            exe: String::new(),
            path: format!("/{name}").into(),
        };
        let pools = [mk("a", 10), mk("b", 10), mk("c", 11)];
        assert_eq!(pick(&pools, "b").unwrap().name, "b");
        assert_eq!(pick(&pools, "11").unwrap().name, "c");
        assert!(pick(&pools, "10").unwrap_err().contains("several"));
        assert!(pick(&pools, "zz").is_err());
    }
}
