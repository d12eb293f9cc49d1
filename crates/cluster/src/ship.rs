//! Read-only arrays shipped once per node and cached there (docs/cluster.md, "What is
//! node-local").
//!
//! * **Rank 0** classifies a record's node-local ids ([`classify`]): if every one is a
//!   whole [`SharedArray`](zeroproc_mp::SharedArray) that rank 0 can attach and read now,
//!   the job may run on any node. When such a job goes to node `r`, [`Shipped::ensure`]
//!   compares each array's current version (generation, writes) with the one `r` holds
//!   and, if they differ, sends a snapshot *before* the batch that holds the job: its head
//!   (`TAG_ARRAY`: header words, claim table, evictions) and its elements
//!   (`TAG_ARRAY_DATA`: one buffer for every node that needs this version, kept while a send
//!   of it is in flight). MPI keeps one sender's messages in order, and the agent receives
//!   any tag in order.
//!   It also decides what the node evicts: it knows each node's copies, their sizes and how
//!   many jobs in flight there use each (a copy in use is never evicted, so the alias is
//!   there whenever a job that needs it runs).
//! * **The agent** makes the copy from the head, receives the elements straight into it,
//!   then points the original's id at it in the node's alias table
//!   (`zeroproc_mp::shared::ship`), then frees the copy it replaces — all before it queues
//!   the jobs of the next batch. Its workers' `ArrayHandle::read` opens the copy.

use crate::net::Net;
use crate::wire::{TAG_ARRAY, TAG_ARRAY_DATA};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use zeroproc_mp::shared::ship::{self, AliasTable, NodeCopy, NotShippable, Version};
use zeroproc_shm::SegmentId;

/// The default bytes of array copies each node keeps.
pub const DEFAULT_ARRAY_CACHE: usize = 1 << 30;

/// Relaxed: a setting read at each classification; no data is published with it.
static LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_ARRAY_CACHE);

/// Sets how many bytes of array copies each node keeps (default 1 GiB): arrays shipped to a
/// node stay there, least recently used evicted first once new ones would exceed this (a
/// copy that a job on the node may still read is kept, exceeding it meanwhile). An array
/// larger than the limit is not shipped: a job holding its handle runs on rank 0's own
/// workers or is refused, as every node-local handle was before; `0` ships nothing.
/// Applies to every cluster pool of the run; call it on rank 0.
pub fn set_array_cache_limit(bytes: usize) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

/// The current limit ([`set_array_cache_limit`]).
pub fn array_cache_limit() -> usize {
    LIMIT.load(Ordering::Relaxed)
}

/// Relaxed: a statistic.
static SHIPPED: AtomicU64 = AtomicU64::new(0);

/// How many array copies rank 0 has sent to nodes in this run (one per node per version of
/// an array that a job there reads; again after an eviction).
///
/// ```
/// assert_eq!(zeroproc_cluster::arrays_shipped(), 0);
/// ```
pub fn arrays_shipped() -> u64 {
    SHIPPED.load(Ordering::Relaxed)
}

/// A shipped array a job reads: its id (text) and segment token.
#[derive(Debug, Clone)]
pub(crate) struct Need {
    pub id: String,
    pub token: u64,
}

/// Where a record may run.
pub(crate) enum Placement {
    /// It names no node-local memory.
    Anywhere,
    /// Anywhere, once the node holds these arrays.
    Ship(Vec<Need>),
    /// Only on rank 0: this id (text) cannot be shipped, for the reason given.
    Local(String, String),
}

/// What the segment ids a record's handles hold (`ids`, collected when it was encoded:
/// `pool::Record`) allow (rank 0 attaches each to look).
pub(crate) fn classify(ids: &[String]) -> Placement {
    if ids.is_empty() {
        return Placement::Anywhere;
    }
    let limit = array_cache_limit();
    if limit == 0 {
        let why = "shipping is off (zeroproc_cluster::set_array_cache_limit(0))".to_string();
        return Placement::Local(ids[0].clone(), why);
    }
    let mut needs = Vec::with_capacity(ids.len());
    for id in ids.iter().cloned() {
        let token = id.rsplit(':').next().and_then(|t| u64::from_str_radix(t, 16).ok());
        if token.is_some_and(never_shippable) {
            return Placement::Local(id, NOT_AN_ARRAY.into());
        }
        match ship::probe(&id) {
            Ok(s) if s.bytes <= limit => needs.push(Need { id, token: s.token }),
            Ok(s) => {
                let why = format!(
                    "a copy needs {} bytes, more than a node's array cache holds ({limit} \
                     bytes: zeroproc_cluster::set_array_cache_limit)",
                    s.bytes
                );
                return Placement::Local(id, why);
            }
            Err(NotShippable { permanent, why }) => {
                if let (true, Some(t)) = (permanent, token) {
                    remember_never(t);
                }
                return Placement::Local(id, why);
            }
        }
    }
    Placement::Ship(needs)
}

const NOT_AN_ARRAY: &str = "not a whole SharedArray (a vector, queue, pipe, lock, container…)";

/// Tokens of segments that are no shippable array (queues, containers…): known without
/// attaching them again at every submission. Tokens are random and name one segment for
/// its life. At most `NEVER_MAX` are kept (then forgotten all at once).
static NEVER: std::sync::Mutex<Option<std::collections::HashSet<u64>>> =
    std::sync::Mutex::new(None);
const NEVER_MAX: usize = 4096;

fn never_shippable(token: u64) -> bool {
    NEVER.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|s| s.contains(&token))
}

fn remember_never(token: u64) {
    let mut g = NEVER.lock().unwrap_or_else(|e| e.into_inner());
    let s = g.get_or_insert_with(Default::default);
    if s.len() >= NEVER_MAX {
        s.clear();
    }
    s.insert(token);
}

/// True if a record holding handles of `ids` can only run on rank 0's own pool.
pub(crate) fn only_local(ids: &[String]) -> bool {
    matches!(classify(ids), Placement::Local(..))
}

/// One node's copy, as rank 0 knows it.
struct Held {
    /// The version sent; `None` once the node said its copy failed (`Shipped::failed`):
    /// the next job there ships the array again.
    version: Option<Version>,
    bytes: usize,
    /// Jobs sent to the node that read it and have not answered.
    in_use: usize,
    /// `Shipped::tick` when last needed.
    last: u64,
}

/// Rank 0's record of the copies every node holds (one for the run: the nodes' caches
/// serve every cluster pool).
#[derive(Default)]
pub(crate) struct Shipped {
    nodes: HashMap<usize, HashMap<u64, Held>>,
    tick: u64,
    /// The last snapshot of each array: its version, head, and elements while a send of
    /// them is in flight.
    taken: HashMap<u64, Taken>,
}

/// A snapshot's version, head, and elements (alive while a send holds them).
type Taken = (Version, Vec<u8>, Weak<Vec<u8>>);

impl Shipped {
    /// Makes sure node `rank` holds the current version of every array in `needs`, sending
    /// what it lacks now (so before the batch the job is staged in). Counts the job as a
    /// user of each; `Err` (nothing counted) says why an array cannot be shipped now (not
    /// readable: a split unfinished, the owner writing, dropped).
    pub(crate) fn ensure(
        &mut self,
        net: &mut Net,
        rank: usize,
        needs: &[Need],
    ) -> Result<(), String> {
        for (k, n) in needs.iter().enumerate() {
            if let Err(e) = self.ensure_one(net, rank, n) {
                self.release(rank, &needs[..k]);
                return Err(format!("array {} could not be shipped to node {rank}: {e}", n.id));
            }
        }
        Ok(())
    }

    fn ensure_one(&mut self, net: &mut Net, rank: usize, n: &Need) -> Result<(), String> {
        self.tick += 1;
        let tick = self.tick;
        let now = ship::version(&n.id)?;
        let held = self.nodes.entry(rank).or_default();
        if let Some(h) = held.get_mut(&n.token).filter(|h| h.version == Some(now)) {
            h.in_use += 1;
            h.last = tick;
            return Ok(());
        }
        let bytes = ship::copy_bytes(&n.id)?;
        // Evict the least recently used copies no job on the node may read until this one
        // fits (a copy in use stays: the limit is exceeded meanwhile).
        let limit = array_cache_limit();
        let mut total: usize =
            held.iter().filter(|(&t, _)| t != n.token).map(|(_, h)| h.bytes).sum();
        let mut evict = Vec::new();
        // Also within the node's alias table.
        let mut count = held.len() - usize::from(held.contains_key(&n.token));
        while total + bytes > limit || count + 1 > ship::ALIAS_SLOTS {
            let lru = held
                .iter()
                .filter(|(&t, h)| t != n.token && h.in_use == 0 && !evict.contains(&t))
                .min_by_key(|(_, h)| h.last)
                .map(|(&t, h)| (t, h.bytes));
            let Some((t, b)) = lru else { break };
            evict.push(t);
            total -= b;
            count -= 1;
        }
        // One snapshot per version for every node: reused while a send of it is in flight
        // (a burst of jobs to several nodes), freed with the last send.
        let snap = match self.taken.get(&n.token).and_then(|(v, head, data)| {
            Some((*v, head.clone(), data.upgrade()?)).filter(|s| s.0 == now)
        }) {
            Some(s) => s,
            None => {
                // Snapshots no send holds any more are gone: forget their heads.
                self.taken.retain(|_, s| s.2.strong_count() > 0);
                let s = ship::snapshot(&n.id)?;
                let data = std::sync::Arc::new(s.data);
                self.taken.insert(n.token, (s.version, s.head.clone(), Arc::downgrade(&data)));
                (s.version, s.head, data)
            }
        };
        let (version, head, data) = snap;
        let mut msg = Vec::with_capacity(64 + n.id.len() + head.len());
        msg.extend_from_slice(&(n.id.len() as u32).to_le_bytes());
        msg.extend_from_slice(&(evict.len() as u32).to_le_bytes());
        evict.iter().for_each(|t| msg.extend_from_slice(&t.to_le_bytes()));
        msg.extend_from_slice(n.id.as_bytes());
        msg.resize(msg.len().next_multiple_of(8), 0);
        msg.extend_from_slice(&head);
        let held = self.nodes.entry(rank).or_default();
        net.send(rank, TAG_ARRAY, msg);
        net.send_shared(rank, TAG_ARRAY_DATA, data);
        // Relaxed: a statistics counter (`arrays_shipped`), ordered with nothing.
        SHIPPED.fetch_add(1, Ordering::Relaxed);
        for t in &evict {
            held.remove(t);
        }
        let in_use = held.get(&n.token).map_or(0, |h| h.in_use) + 1;
        held.insert(n.token, Held { version: Some(version), bytes, in_use, last: tick });
        Ok(())
    }

    /// Tells every node to free all its copies (no cluster pool is open).
    pub(crate) fn free_all(&mut self, net: &mut Net) {
        for (rank, held) in self.nodes.iter_mut().filter(|(_, h)| !h.is_empty()) {
            let mut msg = Vec::with_capacity(8 + 8 * held.len());
            msg.extend_from_slice(&0u32.to_le_bytes()); // no id: evictions only
            msg.extend_from_slice(&(held.len() as u32).to_le_bytes());
            held.drain().for_each(|(t, _)| msg.extend_from_slice(&t.to_le_bytes()));
            net.send(*rank, TAG_ARRAY, msg);
        }
        self.taken.clear();
    }

    /// Node `rank` could not make its copy of one of `needs` (a job reading them was refused
    /// there, naming why): its copies of them count as missing, so the next job there ships
    /// them again (one attempt per job sent: nothing retries in a loop). Their space and
    /// users stay counted until those jobs answer.
    pub(crate) fn failed(&mut self, rank: usize, needs: &[Need]) {
        let Some(held) = self.nodes.get_mut(&rank) else { return };
        for n in needs {
            if let Some(h) = held.get_mut(&n.token) {
                h.version = None;
            }
        }
    }

    /// Jobs that needed `needs` on node `rank` have answered.
    pub(crate) fn release(&mut self, rank: usize, needs: &[Need]) {
        let Some(held) = self.nodes.get_mut(&rank) else { return };
        for n in needs {
            if let Some(h) = held.get_mut(&n.token) {
                h.in_use = h.in_use.saturating_sub(1);
            }
        }
    }
}

/// A `TAG_ARRAY` message: the original's id, the tokens to evict, the snapshot's head (an
/// empty id: evictions only, nothing follows).
struct ArrayMsg<'a> {
    id: &'a str,
    evict: Vec<u64>,
    head: &'a [u8],
}

fn parse(b: &[u8]) -> Option<ArrayMsg<'_>> {
    let u32_at = |a: usize| Some(u32::from_le_bytes(b.get(a..a + 4)?.try_into().ok()?) as usize);
    let (id_len, n) = (u32_at(0)?, u32_at(4)?);
    let evict = (0..n)
        .map(|i| Some(u64::from_le_bytes(b.get(8 + i * 8..16 + i * 8)?.try_into().ok()?)))
        .collect::<Option<Vec<u64>>>()?;
    let at = 8 + n * 8;
    let id = std::str::from_utf8(b.get(at..at + id_len)?).ok()?;
    let snap = (at + id_len).next_multiple_of(8);
    Some(ArrayMsg { id, evict, head: b.get(snap..)? })
}

/// The node's alias table, made by `init` before MPI starts (agents only; `set_var` while
/// the process is still single-threaded), taken by the agent.
static TABLE: std::sync::Mutex<Option<AliasTable>> = std::sync::Mutex::new(None);

/// Called by `init` under a launcher before MPI starts: in a rank that may be an agent,
/// creates the node's alias table and names it in the environment its workers inherit.
pub(crate) fn prepare_node() {
    let rank = ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse::<u64>().ok());
    if rank == Some(0) {
        return;
    }
    match AliasTable::create() {
        Ok(t) => {
            // Before MPI_Init and before any pool: no other thread reads the environment.
            std::env::set_var(ship::ALIAS_ENV, t.id().to_string());
            *TABLE.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
        }
        Err(e) => eprintln!("zeroproc-cluster: no array alias table on this node: {e}"),
    }
}

/// Receives the elements rank 0 sends right after a `TAG_ARRAY` into `into` (waiting for
/// them: they are on their way); `Err(length)` if they do not fit (then dropped).
fn receive_data(net: &mut Net, into: &mut [u8]) -> Result<(), usize> {
    let mut idle = crate::idle::Idle::default();
    loop {
        if let Some(r) = net.try_receive_into(0, TAG_ARRAY_DATA, into) {
            return r;
        }
        idle.pause();
    }
}

/// The agent's copies.
pub(crate) struct NodeArrays {
    rank: usize,
    table: Option<AliasTable>,
    /// By the original's token: (original id, copy).
    copies: HashMap<u64, (SegmentId, NodeCopy)>,
    /// Originals (by token) whose last shipment failed here, with why: jobs reading them
    /// fail.
    failed: HashMap<u64, String>,
}

impl NodeArrays {
    pub(crate) fn new(rank: usize) -> Self {
        let table = TABLE.lock().unwrap_or_else(|e| e.into_inner()).take();
        NodeArrays { rank, table, copies: HashMap::new(), failed: HashMap::new() }
    }

    /// A `TAG_ARRAY` message: evicts, makes the copy, receives its elements (the
    /// `TAG_ARRAY_DATA` message rank 0 sent right after), points the original at it.
    pub(crate) fn receive(&mut self, net: &mut Net, b: &[u8]) {
        let Some(m) = parse(b) else {
            eprintln!("zeroproc-cluster agent {}: malformed array message", self.rank);
            // Elements follow unless the id is empty (evictions only).
            if b.get(..4).is_some_and(|l| l != [0; 4]) {
                let _ = receive_data(net, &mut []);
            }
            return;
        };
        for t in m.evict {
            if let Some((orig, copy)) = self.copies.remove(&t) {
                if let Some(table) = self.table.as_mut() {
                    table.set(&orig, None);
                }
                drop(copy);
            }
        }
        if m.id.is_empty() {
            return; // evictions only (`Shipped::free_all`): no copy, no elements follow
        }
        let token = m.id.parse::<SegmentId>().ok().map(|s| s.token());
        let made = self.install(net, m.id, m.head);
        let Some(token) = token else { return };
        if let Err(e) = made {
            let why = format!(
                "node {} could not make its copy of array {}: {e} (rank 0 ships it \
                 again when a job or pool next needs it there)",
                self.rank, m.id
            );
            self.failed.insert(token, why);
        } else {
            self.failed.remove(&token);
        }
    }

    fn install(&mut self, net: &mut Net, id: &str, head: &[u8]) -> Result<(), String> {
        let made = match NodeCopy::create(head) {
            Ok(mut c) => match receive_data(net, c.data_mut()) {
                Ok(()) => Ok(c),
                Err(len) => {
                    Err(format!("{len} bytes of elements for a copy of {}", c.data_mut().len()))
                }
            },
            Err(e) => {
                // The elements must still be taken off the channel.
                let _ = receive_data(net, &mut []);
                Err(e)
            }
        };
        let orig: SegmentId = id.parse().map_err(|e| format!("{e:?}"))?;
        let table = self.table.as_mut().ok_or("the node has no alias table")?;
        let copy = match made {
            Ok(c) => c,
            Err(e) => {
                // No stale copy may answer for it.
                table.set(&orig, None);
                self.copies.remove(&orig.token());
                return Err(e);
            }
        };
        if !table.set(&orig, Some(copy.id())) {
            table.set(&orig, None);
            self.copies.remove(&orig.token());
            return Err(format!("the alias table is full ({} arrays)", ship::ALIAS_SLOTS));
        }
        // The replaced copy goes after the table points at the new one.
        drop(self.copies.insert(orig.token(), (orig, copy)));
        Ok(())
    }

    /// Why a job reading the shipped arrays of segment tokens `arrays` (sent with it by
    /// rank 0) cannot run here (a copy failed to arrive), if so. The agent fails it with
    /// `kind::NO_COPY`, which also tells rank 0 to ship the array again (`Shipped::failed`).
    pub(crate) fn refuse(&self, mut arrays: impl Iterator<Item = u64>) -> Option<String> {
        if self.failed.is_empty() {
            return None;
        }
        arrays.find_map(|t| self.failed.get(&t).cloned())
    }
}
