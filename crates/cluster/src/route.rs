//! Rank 0 may have several cluster pools open at once; they share the one communicator,
//! and whichever thread polls MPI receives every pool's messages. Each message goes to the
//! pool it names (`wire::pool_of_message`): at once if that is the polling pool, else into
//! that pool's box until it polls, and the pool's sleeping waiters are woken to do so.
//! Messages for a pool that is not open (late outcomes of a terminated pool) are dropped:
//! no future waits for them. One pool alone never parks anything.

use crate::launch::Controller;
use crate::net::Received;
use crate::shared::Shared;
use crate::wire;
use std::collections::HashMap;
use std::sync::Weak;

/// One open pool's parked messages, and the pool to wake when some arrive.
#[derive(Default)]
struct PoolBox {
    parked: Vec<Received>,
    pool: Weak<Shared>,
}

/// The boxes of the open pools.
#[derive(Default)]
pub(crate) struct Routes {
    boxes: HashMap<u64, PoolBox>,
    /// Messages in all boxes (zero on the hot path: one pool).
    parked: usize,
}

impl Controller {
    /// Pool `pool` receives from now on.
    pub(crate) fn open_route(&mut self, pool: u64) {
        self.routes.boxes.entry(pool).or_default();
    }

    /// Pool `pool`'s state, whose sleeping waiters are woken when messages are parked.
    pub(crate) fn wake_route(&mut self, pool: u64, shared: Weak<Shared>) {
        if let Some(b) = self.routes.boxes.get_mut(&pool) {
            b.pool = shared;
        }
    }

    /// Pool `pool` is gone: its box and later messages are dropped. The last open pool
    /// gone, the nodes free their array copies (no job can read them any more).
    pub(crate) fn close_route(&mut self, pool: u64) {
        if let Some(b) = self.routes.boxes.remove(&pool) {
            self.routes.parked -= b.parked.len();
        }
        if self.routes.boxes.is_empty() {
            if let Some(net) = self.net.as_mut() {
                self.shipped.free_all(net);
            }
        }
    }

    /// Receives what has arrived and appends pool `pool`'s messages to `out` (those that
    /// waited in its box first). False if MPI was finished (nothing more will arrive; what
    /// arrived before, while `finish` received the agents' last messages, is still handed
    /// out).
    pub(crate) fn receive_for(&mut self, pool: u64, out: &mut Vec<Received>) -> bool {
        let routes = &mut self.routes;
        if routes.parked > 0 {
            if let Some(b) = routes.boxes.get_mut(&pool) {
                routes.parked -= b.parked.len();
                out.append(&mut b.parked);
            }
        }
        let Some(net) = self.net.as_mut() else { return false };
        let mut wake: Vec<Weak<Shared>> = Vec::new();
        while let Some(m) = net.try_receive() {
            match wire::pool_of_message(m.tag, &m.bytes) {
                Some(p) if p == pool => out.push(m),
                Some(p) => routes.park(p, m, &mut wake),
                None => no_pool(&m),
            }
        }
        net.reap();
        // Lock order: the controller, then a pool's sleepers (never the other way).
        wake.iter().filter_map(Weak::upgrade).for_each(|s| s.poke());
        true
    }

    /// `finish`, after sending `STOP`: receives until every agent has sent its last message
    /// (the `STOP` reply) or `wait` passes, parking what arrives for the open pools (their
    /// futures get the outcomes that came; the rest fail with `Shutdown`). An agent's
    /// sends complete only once they are received, and it finalizes MPI after they have.
    /// Returns the ranks that did not answer in time.
    pub(crate) fn receive_until_stopped(&mut self, wait: std::time::Duration) -> Vec<usize> {
        let Some(net) = self.net.as_mut() else { return Vec::new() };
        let routes = &mut self.routes;
        let mut stopped = vec![false; net.size()];
        stopped[0] = true;
        let until = std::time::Instant::now() + wait;
        let mut idle = crate::idle::Idle::default();
        let mut wake: Vec<Weak<Shared>> = Vec::new();
        while stopped.iter().any(|s| !s) {
            let Some(m) = net.try_receive() else {
                net.reap();
                if std::time::Instant::now() > until {
                    break;
                }
                idle.pause();
                continue;
            };
            idle.active();
            if m.tag == wire::TAG_REPLY && m.bytes.first() == Some(&wire::op::STOP) {
                stopped[m.from] = true;
                continue;
            }
            match wire::pool_of_message(m.tag, &m.bytes) {
                Some(p) => routes.park(p, m, &mut wake),
                None => no_pool(&m),
            }
        }
        wake.iter().filter_map(Weak::upgrade).for_each(|s| s.poke());
        (0..stopped.len()).filter(|&r| !stopped[r]).collect()
    }
}

impl Routes {
    /// Keeps `m` in pool `p`'s box (dropped if `p` is not open); notes the pool to wake.
    fn park(&mut self, p: u64, m: Received, wake: &mut Vec<Weak<Shared>>) {
        if let Some(b) = self.boxes.get_mut(&p) {
            b.parked.push(m);
            self.parked += 1;
            if !wake.iter().any(|w| w.ptr_eq(&b.pool)) {
                wake.push(b.pool.clone());
            }
        }
    }
}

fn no_pool(m: &Received) {
    zeroproc_sched::note!(
        "zeroproc-cluster: a message (tag {}, {} bytes) from rank {} names no pool",
        m.tag,
        m.bytes.len(),
        m.from
    );
}
