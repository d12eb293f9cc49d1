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

    /// Pool `pool` is gone: its box and later messages are dropped.
    pub(crate) fn close_route(&mut self, pool: u64) {
        if let Some(b) = self.routes.boxes.remove(&pool) {
            self.routes.parked -= b.parked.len();
        }
    }

    /// Receives what has arrived and appends pool `pool`'s messages to `out` (those that
    /// waited in its box first). False if MPI was finished (nothing will arrive).
    pub(crate) fn receive_for(&mut self, pool: u64, out: &mut Vec<Received>) -> bool {
        let Some(net) = self.net.as_mut() else { return false };
        let routes = &mut self.routes;
        if routes.parked > 0 {
            if let Some(b) = routes.boxes.get_mut(&pool) {
                routes.parked -= b.parked.len();
                out.append(&mut b.parked);
            }
        }
        let mut wake: Vec<Weak<Shared>> = Vec::new();
        while let Some(m) = net.try_receive() {
            match wire::pool_of_message(m.tag, &m.bytes) {
                Some(p) if p == pool => out.push(m),
                Some(p) => {
                    if let Some(b) = routes.boxes.get_mut(&p) {
                        b.parked.push(m);
                        routes.parked += 1;
                        if !wake.iter().any(|w| w.ptr_eq(&b.pool)) {
                            wake.push(b.pool.clone());
                        }
                    }
                }
                None => eprintln!(
                    "zeroproc-cluster: a message (tag {}, {} bytes) from rank {} names no pool",
                    m.tag,
                    m.bytes.len(),
                    m.from
                ),
            }
        }
        net.reap();
        // Lock order: the controller, then a pool's sleepers (never the other way).
        wake.iter().filter_map(Weak::upgrade).for_each(|s| s.poke());
        true
    }
}
