//! Where a rank's workers go on its node. Normally one rank runs per node and its pool
//! takes the node's cores as on one machine. When several ranks share a machine (testing
//! with `--oversubscribe`, or two agents per node), every pool would pin its worker `i` to
//! the `i`-th core of the same mask and pile up on the first cores; so a rank's pool starts
//! at core `local_rank × workers` of its affinity mask (wrapping), which the launcher's
//! node-local rank (`OMPI_COMM_WORLD_LOCAL_RANK`, `MPI_LOCALRANKID`, `SLURM_LOCALID`) gives.

/// This rank's index among the ranks on its node, if the launcher says.
pub(crate) fn local_rank() -> Option<usize> {
    ["OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMI_LOCAL_RANK", "SLURM_LOCALID"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
}

/// The CPUs this process may run on, in order.
pub(crate) fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity writes at most
    // `size_of::<cpu_set_t>()` bytes into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above; pid 0 is this thread.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r != 0 {
        return Vec::new();
    }
    // SAFETY: CPU_ISSET reads the set initialized above, for indices below CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect()
}

/// The cores for a pool of `workers` on this rank: the affinity mask rotated by
/// `local_rank × workers`; `None` when there is nothing to rotate (first rank of its node,
/// or unknown).
pub(crate) fn cores_for(workers: usize) -> Option<Vec<usize>> {
    let lr = local_rank().filter(|&r| r > 0)?;
    let cpus = allowed_cpus();
    if cpus.is_empty() || workers == 0 {
        return None;
    }
    let start = lr * workers;
    Some((0..workers).map(|i| cpus[(start + i) % cpus.len()]).collect())
}

/// Workers for a pool that asked for `requested` (0: one per core this rank may use).
pub(crate) fn workers(requested: usize) -> usize {
    if requested > 0 {
        return requested;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
