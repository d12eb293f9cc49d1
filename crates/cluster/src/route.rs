//! Rank 0 may have several cluster pools open at once; they share the one communicator,
//! and whichever thread polls MPI receives every pool's messages. Each message goes to the
//! pool it names (`wire::pool_of_message`): at once if that is the polling pool, else into
//! that pool's box until it polls. Messages for a pool that is not open (late outcomes of
//! a terminated pool) are dropped: no future waits for them. A parked message waits for its
//! pool's next poll: at once if a thread of that pool is polling, else within that thread's
//! back-off sleep (`idle.rs`: at most 0.5 ms, 2 ms after 20 ms idle) — the cost of sharing
//! the communicator; one pool alone never parks anything.

use crate::launch::Controller;
use crate::net::Received;
use crate::wire;
use std::collections::HashMap;

/// The boxes of the open pools.
#[derive(Default)]
pub(crate) struct Routes {
    boxes: HashMap<u64, Vec<Received>>,
    /// Messages in all boxes (zero on the hot path: one pool).
    parked: usize,
}

impl Controller {
    /// Pool `pool` receives from now on.
    pub(crate) fn open_route(&mut self, pool: u64) {
        self.routes.boxes.entry(pool).or_default();
    }

    /// Pool `pool` is gone: its box and later messages are dropped.
    pub(crate) fn close_route(&mut self, pool: u64) {
        if let Some(b) = self.routes.boxes.remove(&pool) {
            self.routes.parked -= b.len();
        }
    }

    /// Receives what has arrived and appends pool `pool`'s messages to `out` (those that
    /// waited in its box first). False if MPI was finished (nothing will arrive).
    pub(crate) fn receive_for(&mut self, pool: u64, out: &mut Vec<Received>) -> bool {
        let Some(net) = self.net.as_mut() else { return false };
        let routes = &mut self.routes;
        if routes.parked > 0 {
            if let Some(b) = routes.boxes.get_mut(&pool) {
                routes.parked -= b.len();
                out.append(b);
            }
        }
        while let Some(m) = net.try_receive() {
            match wire::pool_of_message(m.tag, &m.bytes) {
                Some(p) if p == pool => out.push(m),
                Some(p) => {
                    if let Some(b) = routes.boxes.get_mut(&p) {
                        b.push(m);
                        routes.parked += 1;
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
        true
    }
}
