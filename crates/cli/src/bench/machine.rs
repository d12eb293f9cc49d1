//! The machine block of a report: CPU, cores, kernel, date, compiler, Python.

use super::python::PyInfo;

/// Where and when a run happened.
#[derive(Debug, Clone)]
pub struct Machine {
    /// `model name` of /proc/cpuinfo.
    pub cpu: String,
    /// Logical CPUs online.
    pub cores: usize,
    /// CPUs this process may run on (affinity mask).
    pub allowed: usize,
    /// /proc/sys/kernel/osrelease.
    pub kernel: String,
    /// UTC, ISO 8601.
    pub date: String,
    /// `rustc --version` of the build.
    pub rustc: String,
    /// Python and numpy versions, if the Python peers ran.
    pub py: PyInfo,
}

impl Machine {
    /// Reads the machine's description.
    pub fn read(py: PyInfo) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let cores = cpuinfo.lines().filter(|l| l.starts_with("processor")).count();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        Machine {
            cpu,
            cores: cores.max(1),
            allowed: zeroproc_bench::affinity::cpus(),
            kernel,
            date: utc_now(),
            rustc: zeroproc_bench::RUSTC_VERSION.into(),
            py,
        }
    }

    /// As a JSON object.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "cpu_model": self.cpu,
            "cores": self.cores,
            "allowed_cpus": self.allowed,
            "kernel": self.kernel,
            "date": self.date,
            "rustc": self.rustc,
            "python": self.py.python,
            "numpy": self.py.numpy,
        })
    }

    /// (label, value) pairs for the tables.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "—".into());
        vec![
            ("CPU", self.cpu.clone()),
            ("cores", format!("{} ({} allowed)", self.cores, self.allowed)),
            ("kernel", self.kernel.clone()),
            ("date", self.date.clone()),
            ("rustc", self.rustc.clone()),
            ("python", opt(&self.py.python)),
            ("numpy", opt(&self.py.numpy)),
        ]
    }
}

/// Now, as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    iso_utc(secs)
}

/// Seconds since the epoch as an ISO 8601 UTC time (civil-from-days, proleptic
/// Gregorian).
fn iso_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_dates() {
        assert_eq!(super::iso_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::iso_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::iso_utc(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
