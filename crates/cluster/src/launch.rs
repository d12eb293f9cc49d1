//! Start-up under an MPI launcher: rank 0 returns to `main` as the controller, every other
//! rank becomes a node agent that serves until told to stop, finalizes MPI and exits
//! without running `main`. Worker processes never get here (`zeroproc_sched::init` turns
//! them into workers first), so they never touch MPI.

use crate::net::Net;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The environment variables a launcher sets in each rank (Open MPI's mpirun, PMIx,
/// MPICH/Hydra's PMI, Slurm's srun).
pub const LAUNCHER_VARS: [&str; 4] =
    ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"];

/// Test hook: a value here is mixed into this rank's build fingerprint, so a test can run
/// ranks that look like different builds (`mpirun -n 1 prog : -n 2 -x VAR=1 prog`).
pub const FINGERPRINT_SALT_ENV: &str = "ZEROPROC_CLUSTER_FINGERPRINT_SALT";

/// True if this process was started by an MPI launcher.
pub fn under_launcher() -> bool {
    LAUNCHER_VARS.iter().any(|v| std::env::var_os(v).is_some())
}

/// This process's rank as its launcher numbered it (0 without one): what an error names
/// as where it happened. A worker process inherits its node agent's.
pub(crate) fn own_rank() -> usize {
    if CONTROLLER.get().is_some() {
        return 0;
    }
    ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
        .unwrap_or(0)
}

/// What rank 0 keeps after start-up.
pub(crate) struct Controller {
    /// `None` once MPI was finalized.
    pub net: Option<Net>,
    /// Every rank's build fingerprint, by rank.
    pub fingerprints: Vec<u64>,
    /// Messages received for open pools that have not polled yet.
    pub routes: crate::route::Routes,
    /// The array copies each node holds (`ship.rs`).
    pub shipped: crate::ship::Shipped,
    universe: Option<mpi::environment::Universe>,
}

// SAFETY: MPI runs with MPI_THREAD_MULTIPLE (checked in `init`); the universe is only
// dropped (MPI_Finalize) under the mutex, after the communicator's last use.
unsafe impl Send for Controller {}

static CONTROLLER: OnceLock<Mutex<Controller>> = OnceLock::new();
static STARTED: OnceLock<()> = OnceLock::new();

/// True while MPI is up on rank 0 (a launcher started the run and `finish` has not ended it).
pub(crate) fn live() -> bool {
    controller().is_some_and(|c| c.net.is_some())
}

/// The controller state (rank 0 under a launcher), if any.
pub(crate) fn controller() -> Option<MutexGuard<'static, Controller>> {
    CONTROLLER.get().map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
}

/// The first line of `main` in a program that uses a [`ClusterPool`](crate::ClusterPool):
/// runs [`zeroproc_sched::init`] (a worker process never returns from it), then, under an
/// MPI launcher, initializes MPI, all-gathers the build fingerprints, and — in every rank
/// but 0 — serves as the node agent and exits without returning. Rank 0 returns; MPI is
/// finalized (and the agents stopped) when `main` ends — by [`finish`], which
/// `#[zeroproc::main]` calls through [`MainGuard`] and which is also registered with
/// `atexit`. Without a launcher it only runs `zeroproc_sched::init`. Idempotent.
///
/// ```
/// zeroproc_cluster::init(); // under mpirun, ranks 1.. never get past this line
/// let pool = zeroproc_cluster::ClusterPool::builder().build()?;
/// assert_eq!(pool.submit(|x: u64| x + 1, 1).result(), Ok(2));
/// # Ok::<(), zeroproc_cluster::ClusterError>(())
/// ```
pub fn init() {
    zeroproc_sched::init();
    if !under_launcher() || STARTED.set(()).is_err() {
        return;
    }
    crate::ship::prepare_node();
    let Some((universe, threading)) = mpi::initialize_with_threading(mpi::Threading::Multiple)
    else {
        mpi_came_first();
    };
    if threading != mpi::Threading::Multiple {
        eprintln!(
            "zeroproc-cluster: the MPI library grants {threading:?}, MPI_THREAD_MULTIPLE is needed"
        );
        mpi::topology::Communicator::abort(&universe.world(), 2);
    }
    let net = Net::new(universe.world());
    let fingerprints = gather_fingerprints(&net);
    if net.rank() != 0 {
        let same_build = fingerprints[net.rank()] == fingerprints[0];
        crate::agent::serve(net, same_build);
        drop(universe); // MPI_Finalize
        std::process::exit(0);
    }
    let c = Controller {
        net: Some(net),
        fingerprints,
        routes: Default::default(),
        shipped: Default::default(),
        universe: Some(universe),
    };
    if CONTROLLER.set(Mutex::new(c)).is_err() {
        unreachable!("STARTED guards this");
    }
    // SAFETY: `at_exit` is an `extern "C" fn()` that stays valid for the process's life.
    unsafe { libc::atexit(at_exit) };
}

/// MPI was initialized before `init` (by the program, or a library it called first).
/// Under a launcher that can never work: every worker process starts by running `main`
/// again, so each would initialize MPI as one more process of the job, and every rank would
/// run `main` with no node agents. Before (cluster30), `init` returned as if nothing were
/// wrong: each rank built local pools, their workers' `MPI_Init` failed and Open MPI hung
/// the run. Ends the run now, saying what to change.
#[cold]
fn mpi_came_first() -> ! {
    eprintln!(
        "zeroproc-cluster: zeroproc::init() was called after MPI was initialized (by the \
         program or a library it called first). Worker processes start by running main \
         again, so they would initialize MPI too: make zeroproc::init() (or \
         #[zeroproc::main]) the first line of main, before anything initializes MPI \
         (zeroproc initializes it, with MPI_THREAD_MULTIPLE). Aborting the run."
    );
    let world = mpi::topology::SimpleCommunicator::world();
    mpi::topology::Communicator::abort(&world, 2)
}

extern "C" fn at_exit() {
    // An unwind must not cross the C boundary.
    let _ = std::panic::catch_unwind(finish);
}

/// This rank's fingerprint: the build's (GNU build-id based, the same on every node that
/// runs a copy of the executable), plus the test salt if set.
pub(crate) fn own_fingerprint() -> u64 {
    let fp = zeroproc_sched::fingerprint();
    match std::env::var(FINGERPRINT_SALT_ENV) {
        Ok(s) if !s.is_empty() => {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (fp, s).hash(&mut h);
            h.finish()
        }
        _ => fp,
    }
}

fn gather_fingerprints(net: &Net) -> Vec<u64> {
    use mpi::collective::CommunicatorCollectives;
    let mine = own_fingerprint();
    let mut all = vec![0u64; net.size()];
    net.world().all_gather_into(&mine, &mut all[..]);
    all
}

/// Ends the cluster on rank 0: stops every node agent (their pools are terminated) and
/// finalizes MPI. Called by [`MainGuard`] (which `#[zeroproc::main]` puts in `main`) and by
/// an `atexit` handler; later calls do nothing. A [`ClusterPool`](crate::ClusterPool) still
/// alive afterwards fails new jobs with `Shutdown` — wherever they would have run, rank 0's
/// own workers included (under `mpirun -n 1`, all of them); the jobs it held on the nodes
/// fail with `Shutdown`, those in rank 0's own pool finish. Without a launcher there is no
/// cluster to end: it does nothing, and pools serve on.
pub fn finish() {
    if !live() {
        return;
    }
    // Before taking the controller: a pool's `submit` may hold it (sending), and closing
    // is one atomic store per pool.
    crate::pool::close_live_cluster_pools();
    let Some(mut c) = controller() else { return };
    let Some(net) = c.net.as_mut() else { return };
    for r in 1..net.size() {
        net.send(r, crate::wire::TAG_CMD, crate::wire::command(crate::wire::op::STOP, &[]));
    }
    let silent = c.receive_until_stopped(crate::shared::node_wait(STOP_WAIT));
    if !silent.is_empty() {
        abort_for_silent_agents(&c, &silent);
    }
    let Some(mut net) = c.net.take() else { return };
    net.flush();
    drop(net);
    drop(c.universe.take()); // MPI_Finalize
}

/// Some agents did not answer `STOP` (frozen by SIGSTOP, hung, their host unreachable):
/// `MPI_Finalize` would wait for them for ever (Open MPI's finalize synchronizes every
/// rank; before (cluster30), rank 0 hung there after the message below). Ends the whole
/// run instead, naming them: `MPI_Abort` makes mpirun kill every rank and exit non-zero.
fn abort_for_silent_agents(c: &Controller, silent: &[usize]) -> ! {
    let wait = crate::shared::node_wait(STOP_WAIT);
    let why = format!(
        "did not confirm STOP within {wait:?} (frozen, hung or unreachable); MPI cannot be \
         finalized without them"
    );
    abort_naming(c, silent, &why)
}

/// Ends the run (`MPI_Abort`, exit code [`SILENT_AGENTS_EXIT`]) because the node agents
/// `silent` do not answer; `why` completes "node agents (ranks) [..] ".
pub(crate) fn abort_naming(c: &Controller, silent: &[usize], why: &str) -> ! {
    eprintln!(
        "zeroproc-cluster: node agents (ranks) {silent:?} {why}, so the run is aborted \
         (MPI_Abort, exit code {SILENT_AGENTS_EXIT})"
    );
    match c.net.as_ref() {
        Some(net) => mpi::topology::Communicator::abort(net.world(), SILENT_AGENTS_EXIT),
        // MPI is finalized (not reached: callers check `live`): nothing to abort.
        None => std::process::exit(SILENT_AGENTS_EXIT),
    }
}

/// The exit code a run aborted for silent agents ends with.
const SILENT_AGENTS_EXIT: i32 = 75;

/// How long [`finish`] waits for the agents' last messages.
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Calls [`finish`] when dropped: when `main` returns or unwinds. `#[zeroproc::main]`
/// creates one with the `mpi` feature.
#[derive(Debug)]
#[must_use = "dropping it at once finishes the cluster at once"]
pub struct MainGuard(());

impl MainGuard {
    /// A guard for the end of `main`. The first one also registers the same work with
    /// `atexit`: `std::process::exit` skips `main`'s guard, and the jobs of live pools were
    /// then lost without a word (as without the feature: the facade's `finish_main_at_exit`).
    pub fn new() -> Self {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: registers a plain `extern "C" fn()` that catches every panic; libc
            // calls it from `exit` on the exiting thread.
            unsafe { libc::atexit(finish_main_at_exit) };
        });
        MainGuard(())
    }
}

/// What the guard's drop does, at `exit()`. Registered after [`init`]'s handler, so it
/// runs before it (handlers run in reverse order): pools first, then the cluster.
extern "C" fn finish_main_at_exit() {
    // An unwind must not cross the C boundary.
    let _ = std::panic::catch_unwind(finish_main);
}

/// Pools never dropped are shut down (their jobs finishing first: cluster pools' first, as
/// theirs may wait on rank 0 for the local pools and the agents), the dropped non-daemon
/// `Process` children joined, then the cluster finished — all before MPI is finalized.
fn finish_main() {
    crate::pool::finish_live_cluster_pools();
    zeroproc_sched::shutdown_live_pools();
    zeroproc_sched::join_adopted();
    finish();
}

impl Default for MainGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for MainGuard {
    fn drop(&mut self) {
        // As without the feature (the facade's guard): pools never dropped (a `static`
        // one) are shut down, their jobs finishing first, and Python joins its non-daemon
        // children when the program exits: the `Process` children whose handles were
        // dropped while they ran — all before MPI is finalized.
        finish_main();
    }
}
