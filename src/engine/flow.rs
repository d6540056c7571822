//! Minimum-cost flow of any amount: successive shortest paths with Dijkstra
//! on reduced costs (Johnson potentials), stopping when no path of negative
//! cost is left. Integer costs, so the optimum is exact. The min-cost-flow
//! crates on crates.io are unmaintained or bind C++ (mcmf, 2018); this is
//! the textbook algorithm in a hundred lines.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// An arc and its reverse are stored side by side: arc `e`'s reverse is
/// `e ^ 1`.
#[derive(Debug, Clone)]
struct Arc {
    to: usize,
    /// Remaining capacity.
    residual: i64,
    cost: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Network {
    arcs: Vec<Arc>,
    /// Arcs leaving each node, in insertion order (so results are
    /// deterministic).
    out: Vec<Vec<usize>>,
    /// After [`Network::min_cost_flow`]: node potentials under which every
    /// arc with capacity left has a non-negative reduced cost and the sink's
    /// potential is at least the source's (an optimal LP dual: no cycle of
    /// negative cost, even through a return arc sink → source).
    potential: Vec<i64>,
}

/// Distances too large to be real: unreachable.
const UNREACHED: i64 = i64::MAX / 4;

impl Network {
    pub fn new(nodes: usize) -> Network {
        Network {
            arcs: Vec::new(),
            out: vec![Vec::new(); nodes],
            potential: Vec::new(),
        }
    }

    /// Adds an arc; returns its id, for [`Network::flow`].
    pub fn add_arc(&mut self, from: usize, to: usize, capacity: i64, cost: i64) -> usize {
        let id = self.arcs.len();
        self.arcs.push(Arc {
            to,
            residual: capacity,
            cost,
        });
        self.arcs.push(Arc {
            to: from,
            residual: 0,
            cost: -cost,
        });
        self.out[from].push(id);
        self.out[to].push(id + 1);
        id
    }

    /// Flow on arc `id` (what its reverse can give back).
    pub fn flow(&self, id: usize) -> i64 {
        self.arcs[id ^ 1].residual
    }

    /// Sends flow from `source` to `sink` along cheapest paths while a path
    /// of negative cost remains, so the total cost is the least over flows
    /// of any amount. `initial` must be potentials under which every arc
    /// with capacity has a non-negative reduced cost (for a layered network
    /// whose negative arcs all point forward, its shortest distances).
    /// Returns the total cost.
    pub fn min_cost_flow(&mut self, source: usize, sink: usize, initial: Vec<i64>) -> i64 {
        let nodes = self.out.len();
        let mut potential = initial;
        let mut total = 0i64;
        loop {
            // Dijkstra on reduced costs.
            let mut distance = vec![UNREACHED; nodes];
            let mut via = vec![usize::MAX; nodes];
            let mut heap = BinaryHeap::new();
            distance[source] = 0;
            heap.push(Reverse((0i64, source)));
            let mut done = vec![false; nodes];
            while let Some(Reverse((d, node))) = heap.pop() {
                if d > distance[node] || done[node] {
                    continue;
                }
                done[node] = true;
                // Nodes still in the heap are at least this far: the path to
                // the sink is final.
                if node == sink {
                    break;
                }
                for &id in &self.out[node] {
                    let arc = &self.arcs[id];
                    if arc.residual == 0 {
                        continue;
                    }
                    let reduced = arc.cost + potential[node] - potential[arc.to];
                    debug_assert!(reduced >= 0, "potentials keep reduced costs non-negative");
                    let next = d + reduced;
                    if next < distance[arc.to] {
                        distance[arc.to] = next;
                        via[arc.to] = id;
                        heap.push(Reverse((next, arc.to)));
                    }
                }
            }
            if distance[sink] >= UNREACHED {
                // No path left. Unreached nodes (the sink among them) move
                // up together, far enough that the sink's potential is at
                // least the source's: the return arc sink → source of a
                // circulation then has a non-negative reduced cost too.
                let farthest = distance
                    .iter()
                    .copied()
                    .filter(|d| *d < UNREACHED)
                    .max()
                    .unwrap_or(0);
                let lift = farthest.max(potential[source] - potential[sink]);
                for (node, d) in distance.iter().enumerate() {
                    potential[node] += if *d < UNREACHED { *d } else { lift };
                }
                break;
            }
            let path_cost = distance[sink] - potential[source] + potential[sink];
            // Potentials move by the distance, capped at the sink's: nodes
            // not settled before the sink are at least that far, so every
            // arc with capacity keeps a non-negative reduced cost. After the
            // last move the sink's potential exceeds the source's by the
            // cost of the cheapest remaining path.
            let cap = distance[sink];
            for (node, d) in distance.iter().enumerate() {
                potential[node] += (*d).min(cap);
            }
            if path_cost >= 0 {
                break;
            }
            // Augment by the bottleneck.
            let mut bottleneck = i64::MAX;
            let mut node = sink;
            while node != source {
                let id = via[node];
                bottleneck = bottleneck.min(self.arcs[id].residual);
                node = self.arcs[id ^ 1].to;
            }
            let mut node = sink;
            while node != source {
                let id = via[node];
                self.arcs[id].residual -= bottleneck;
                self.arcs[id ^ 1].residual += bottleneck;
                node = self.arcs[id ^ 1].to;
            }
            total += bottleneck * path_cost;
        }
        self.potential = potential;
        total
    }

    /// The final potentials of the last [`Network::min_cost_flow`].
    pub fn potentials(&self) -> &[i64] {
        &self.potential
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two seekers, two supporters with one place each: the best total
    /// takes the second-best pair for one seeker.
    #[test]
    fn finds_the_best_total_not_the_greedy_one() {
        // 0 source, 1-2 seekers, 3-4 supporters, 5 sink.
        let mut network = Network::new(6);
        network.add_arc(0, 1, 1, 0);
        network.add_arc(0, 2, 1, 0);
        let a = network.add_arc(1, 3, 1, -90);
        let b = network.add_arc(1, 4, 1, -89);
        let c = network.add_arc(2, 3, 1, -80);
        network.add_arc(3, 5, 1, 0);
        network.add_arc(4, 5, 1, 0);
        let initial = vec![0, 0, 0, -90, -89, -90];
        let cost = network.min_cost_flow(0, 5, initial);
        assert_eq!(cost, -169);
        assert_eq!(
            (network.flow(a), network.flow(b), network.flow(c)),
            (0, 1, 1)
        );
    }

    /// Positive-cost paths are not taken: flow stops at the best total.
    #[test]
    fn stops_when_more_flow_would_cost() {
        let mut network = Network::new(4);
        network.add_arc(0, 1, 5, 0);
        let used = network.add_arc(1, 2, 1, -3);
        let unused = network.add_arc(1, 2, 1, 4);
        network.add_arc(2, 3, 5, 0);
        let cost = network.min_cost_flow(0, 3, vec![0, 0, -3, -3]);
        assert_eq!(cost, -3);
        assert_eq!((network.flow(used), network.flow(unused)), (1, 0));
    }
}
