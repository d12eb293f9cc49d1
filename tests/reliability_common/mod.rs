//! Shared helpers of the `reliability_*` tests: a hostile same-user view of a live pool's
//! segment (found the way any process of the user could: from a worker's environment).

#![allow(dead_code)] // each test file uses a subset

use std::os::fd::AsRawFd;
use zeroproc::raw::ring::spsc::{DATA_OFFSET, RECORD_HEADER, RING_MAGIC};
use zeroproc::Pool;

/// A count from the environment, or the CI default.
pub fn count(var: &str, default: u64) -> u64 {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The `ZEROPROC_WORKER` spec of a live worker, read from `/proc/PID/environ`.
pub fn worker_spec(pid: u32) -> String {
    let env = std::fs::read(format!("/proc/{pid}/environ")).expect("read environ");
    env.split(|&b| b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok())
        .find_map(|kv| kv.strip_prefix(&format!("{}=", zeroproc::raw::sched::WORKER_ENV)))
        .expect("a worker has the spec in its environment")
        .to_owned()
}

/// The pool's segment mapped read-write behind its back, with its SPSC rings located.
pub struct RawPool {
    base: *mut u8,
    len: usize,
    /// The segment id text of the pool (`memfd:PID:FD:TOKEN`).
    pub segment: String,
    /// The worker spec it was found from.
    pub spec: String,
    /// Offsets of the rings, in order: submission 0, completion 0, submission 1, ...
    pub rings: Vec<usize>,
}

impl RawPool {
    /// Maps `pool`'s segment (worker 0 must be running).
    pub fn of(pool: &Pool) -> RawPool {
        let pid = pool.stats().workers[0].pid;
        let spec = worker_spec(pid);
        let segment = spec.split('|').next().unwrap().to_owned();
        let parts: Vec<&str> = segment.split(':').collect();
        assert_eq!(parts[0], "memfd", "{segment}");
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/{}/fd/{}", parts[1], parts[2]))
            .expect("open the pool segment");
        let len = f.metadata().unwrap().len() as usize;
        // SAFETY: a fresh shared mapping of a file we opened read-write; unmapped in Drop.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED);
        let base = base.cast::<u8>();
        let mut raw = RawPool { base, len, segment, spec, rings: Vec::new() };
        raw.rings =
            (0..len / 4096).map(|p| p * 4096).filter(|&o| raw.u64_at(o) == RING_MAGIC).collect();
        raw
    }

    /// Reads the u64 at byte `off` (volatile: others write it concurrently).
    pub fn u64_at(&self, off: usize) -> u64 {
        assert!(off + 8 <= self.len);
        // SAFETY: in bounds (checked), 8-aligned by every caller's construction.
        unsafe { self.base.add(off).cast::<u64>().read_volatile() }
    }

    /// Writes the u64 at byte `off`.
    pub fn set_u64(&self, off: usize, v: u64) {
        assert!(off + 8 <= self.len);
        // SAFETY: as in `u64_at`; we are deliberately the hostile writer.
        unsafe { self.base.add(off).cast::<u64>().write_volatile(v) }
    }

    /// A copy of the bytes `[off, off + n)`.
    pub fn bytes(&self, off: usize, n: usize) -> Vec<u8> {
        assert!(off + n <= self.len);
        // SAFETY: in bounds (checked); volatile reads of bytes others may be writing.
        (0..n).map(|i| unsafe { self.base.add(off + i).read_volatile() }).collect()
    }

    /// Writes `data` at `off`.
    pub fn write(&self, off: usize, data: &[u8]) {
        assert!(off + data.len() <= self.len);
        for (i, &b) in data.iter().enumerate() {
            // SAFETY: in bounds (checked); we are deliberately the hostile writer.
            unsafe { self.base.add(off + i).write_volatile(b) };
        }
    }

    /// Fills `[off, off + n)` with `byte`.
    pub fn fill(&self, off: usize, n: usize, byte: u8) {
        self.write(off, &vec![byte; n]);
    }

    /// Byte offset of ring `r`'s record buffer, and its capacity.
    pub fn buffer(&self, r: usize) -> (usize, usize) {
        let at = self.rings[r];
        (at + DATA_OFFSET, self.u64_at(at + 8) as usize)
    }

    /// Offsets of ring `r`'s tail and head words.
    pub fn indices(&self, r: usize) -> (usize, usize) {
        (self.rings[r] + 128, self.rings[r] + 256)
    }

    /// Byte offset of the header where ring `r`'s next record goes, once every record
    /// before it was released (the consumer keeps up): its first 8 bytes are the commit
    /// word the consumer polls.
    pub fn next_record(&self, r: usize) -> usize {
        let (_, head) = self.indices(r);
        let (buf, cap) = self.buffer(r);
        buf + self.u64_at(head) as usize % cap
    }

    /// Byte offsets of the job records published in ring `r` and not yet released (from
    /// head to tail; assumes the ring has not wrapped: fresh pools only). Other records
    /// (a SWEEP the supervisor queues on an idle worker after this process dropped a
    /// shared object — another test of the binary may, at any time) are left out: counted,
    /// they failed `garbage_in_queued_job_arguments_is_a_decode_error` 1 run in 5.
    pub fn records(&self, r: usize) -> Vec<usize> {
        let (tail, head) = self.indices(r);
        let (buf, _) = self.buffer(r);
        let (mut pos, end) = (self.u64_at(head) as usize, self.u64_at(tail) as usize);
        let mut v = Vec::new();
        while pos < end {
            let head = self.bytes(buf + pos, 8);
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
            // The record kind: the low 24 bits of the second word (0: a job, `kind::JOB`).
            if u32::from_le_bytes([head[4], head[5], head[6], 0]) == 0 {
                v.push(buf + pos);
            }
            pos += RECORD_HEADER + len.next_multiple_of(RECORD_HEADER);
        }
        v
    }
}

impl Drop for RawPool {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `of`.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}
