//! Minimum-cost transportation on a small network: every supply node sends
//! its units to the sink, one cheapest path at a time (successive shortest
//! paths from each supply node in turn, as the Hungarian method does row by
//! row), with Dijkstra on reduced costs. Integer costs, so the optimum is
//! exact. The final node potentials are an optimal LP dual, which
//! brokerage uses to prove that the pairs it left out could not help.
//!
//! The min-cost-flow crates on crates.io are unmaintained or bind C++ (mcmf,
//! 2018) and none exposes the potentials; this is the textbook algorithm.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// An arc of the network (`Edge`, not to hide `std::sync::Arc`). An arc and
/// its reverse are stored side by side: arc `e`'s reverse is
/// `e ^ 1`.
#[derive(Debug, Clone)]
struct Edge {
    to: usize,
    /// Remaining capacity.
    residual: i64,
    cost: i64,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Network {
    arcs: Vec<Edge>,
    /// Arcs leaving each node, in insertion order (so results are
    /// deterministic).
    out: Vec<Vec<usize>>,
    /// Node potentials under which every arc with capacity left has a
    /// non-negative reduced cost, less `shift` (added to every node at
    /// once, so a step touches only the nodes it settled).
    potential: Vec<i64>,
    shift: i64,
}

/// Distances too large to be real: not reached.
const UNREACHED: i64 = i64::MAX / 4;

impl Network {
    pub(super) fn new(nodes: usize) -> Network {
        Network {
            arcs: Vec::new(),
            out: vec![Vec::new(); nodes],
            potential: vec![0; nodes],
            shift: 0,
        }
    }

    /// Adds an arc; returns its id, for [`Network::flow`].
    pub(super) fn add_arc(&mut self, from: usize, to: usize, capacity: i64, cost: i64) -> usize {
        let id = self.arcs.len();
        self.arcs.push(Edge {
            to,
            residual: capacity,
            cost,
        });
        self.arcs.push(Edge {
            to: from,
            residual: 0,
            cost: -cost,
        });
        self.out[from].push(id);
        self.out[to].push(id + 1);
        id
    }

    /// Flow on arc `id` (what its reverse can give back).
    pub(super) fn flow(&self, id: usize) -> i64 {
        self.arcs[id ^ 1].residual
    }

    /// Sends `supply` units from each node of `supplies`, in order, to
    /// `sink`, each unit along a cheapest path in the residual network, and
    /// returns the total cost. Every supply node must have a path to the
    /// sink (brokerage gives each seeker a zero-cost "unassigned" arc).
    /// `initial` must be potentials under which every arc has a
    /// non-negative reduced cost.
    pub(super) fn send_each(
        &mut self,
        supplies: &[(usize, i64)],
        sink: usize,
        initial: Vec<i64>,
    ) -> i64 {
        let nodes = self.out.len();
        self.potential = initial;
        self.shift = 0;
        let mut total = 0i64;
        let mut distance = vec![UNREACHED; nodes];
        let mut via = vec![usize::MAX; nodes];
        let mut touched: Vec<usize> = Vec::new();
        let mut heap = BinaryHeap::new();
        let mut settled: Vec<usize> = Vec::new();
        for &(start, supply) in supplies {
            for _ in 0..supply {
                // Dijkstra on reduced costs, stopping at the sink.
                for &node in &touched {
                    distance[node] = UNREACHED;
                }
                touched.clear();
                heap.clear();
                distance[start] = 0;
                touched.push(start);
                heap.push(Reverse((0i64, start)));
                settled.clear();
                while let Some(Reverse((d, node))) = heap.pop() {
                    if d > distance[node] {
                        continue;
                    }
                    settled.push(node);
                    if node == sink {
                        break;
                    }
                    for &id in &self.out[node] {
                        let arc = &self.arcs[id];
                        if arc.residual == 0 {
                            continue;
                        }
                        let reduced = arc.cost + self.potential[node] - self.potential[arc.to];
                        debug_assert!(reduced >= 0, "potentials keep reduced costs non-negative");
                        let next = d + reduced;
                        if next < distance[arc.to] {
                            if distance[arc.to] == UNREACHED {
                                touched.push(arc.to);
                            }
                            distance[arc.to] = next;
                            via[arc.to] = id;
                            heap.push(Reverse((next, arc.to)));
                        }
                    }
                }
                let reach = distance[sink];
                assert!(reach < UNREACHED, "every supply node reaches the sink");
                total += reach - self.potential[start] + self.potential[sink];
                // Settled nodes move by their distance, every other node by
                // the sink's (it is at least that far): reduced costs stay
                // non-negative. Done as "all by the sink's distance, then
                // settled ones back by the difference" to touch few nodes.
                for &node in &settled {
                    self.potential[node] -= reach - distance[node];
                }
                self.shift += reach;
                // One unit along the path.
                let mut node = sink;
                while node != start {
                    let id = via[node];
                    self.arcs[id].residual -= 1;
                    self.arcs[id ^ 1].residual += 1;
                    node = self.arcs[id ^ 1].to;
                }
            }
        }
        total
    }

    /// Node potentials under which every arc with capacity left has a
    /// non-negative reduced cost: with the flow, an optimality proof.
    pub(super) fn potentials(&self) -> Vec<i64> {
        self.potential.iter().map(|p| p + self.shift).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two seekers, two supporters with one place each: the best total
    /// takes the second-best pair for one seeker.
    #[test]
    fn finds_the_best_total_not_the_greedy_one() {
        // 0-1 seekers, 2-3 supporters, 4 sink.
        let mut network = Network::new(5);
        let a = network.add_arc(0, 2, 1, -90);
        let b = network.add_arc(0, 3, 1, -89);
        let c = network.add_arc(1, 2, 1, -80);
        network.add_arc(0, 4, 1, 0);
        network.add_arc(1, 4, 1, 0);
        network.add_arc(2, 4, 1, 0);
        network.add_arc(3, 4, 1, 0);
        let initial = vec![0, 0, -90, -89, -90];
        let cost = network.send_each(&[(0, 1), (1, 1)], 4, initial);
        assert_eq!(cost, -169);
        assert_eq!(
            (network.flow(a), network.flow(b), network.flow(c)),
            (0, 1, 1)
        );
    }

    /// A pair of positive cost is not taken: the zero-cost way out is.
    #[test]
    fn takes_no_pair_that_costs() {
        let mut network = Network::new(3);
        let used = network.add_arc(0, 1, 1, -3);
        let unused = network.add_arc(0, 1, 1, 4);
        network.add_arc(0, 2, 5, 0);
        network.add_arc(1, 2, 5, 0);
        let cost = network.send_each(&[(0, 2)], 2, vec![0, -3, -3]);
        assert_eq!(cost, -3);
        assert_eq!((network.flow(used), network.flow(unused)), (1, 0));
    }
}
