//! The physical plan: parallelism per node and chains of operators that run as one task.
//!
//! Chaining rule (Flink's): node B joins the chain of node A when B's only input is a
//! forward edge from A's main output, A has no other consumer, and both have the same
//! parallelism. A forward edge between nodes of different parallelism becomes a rebalance
//! edge.

use std::fmt::Write as _;

use super::graph::{JobGraph, NodeId, NodeKind, Partitioning};
use crate::error::{Error, Result};

/// A chain of nodes run by one task per subtask.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Nodes in order; the first is the head (a source or a node with channel inputs).
    pub nodes: Vec<NodeId>,
    /// Parallelism of every node of the chain.
    pub parallelism: usize,
}

impl Chain {
    /// The first node.
    pub fn head(&self) -> NodeId {
        self.nodes[0]
    }

    /// The last node (whose outputs leave the task).
    pub fn tail(&self) -> NodeId {
        self.nodes[self.nodes.len() - 1]
    }
}

/// The graph with parallelism resolved and chains formed.
#[derive(Debug, Clone)]
pub struct PhysicalPlan {
    /// The logical graph, with forward edges fixed up.
    pub graph: JobGraph,
    /// Parallelism of each node, by node index.
    pub parallelism: Vec<usize>,
    /// Chains, in topological order of their heads.
    pub chains: Vec<Chain>,
    /// Chain index of each node.
    pub chain_of: Vec<usize>,
}

/// Resolve parallelism and chain operators.
///
/// # Errors
/// An edge from a node that does not exist (a bug in the API layer), or a graph with no
/// source.
pub fn plan(graph: &JobGraph, default_parallelism: usize, chaining: bool) -> Result<PhysicalPlan> {
    let mut graph = graph.clone();
    let n = graph.nodes.len();
    if !graph
        .nodes
        .iter()
        .any(|node| matches!(node.kind, NodeKind::Source(_)))
    {
        return Err(Error::Plan("the job has no source".into()));
    }
    let mut parallelism = Vec::with_capacity(n);
    for node in &graph.nodes {
        let mut p = node.parallelism.unwrap_or(default_parallelism).max(1);
        if let Some(max) = node.max_parallelism {
            p = p.min(max.max(1));
        }
        parallelism.push(p);
    }
    for node in &mut graph.nodes {
        for e in &mut node.inputs {
            if e.from.0 >= n || e.from.0 >= node.id.0 {
                return Err(Error::Internal(format!(
                    "edge into '{}' from unknown or later node {}",
                    node.name, e.from.0
                )));
            }
            if e.partitioning == Partitioning::Forward
                && parallelism[e.from.0] != parallelism[node.id.0]
            {
                e.partitioning = Partitioning::Rebalance;
            }
        }
    }
    let mut consumer_count = vec![0usize; n];
    for node in &graph.nodes {
        for e in &node.inputs {
            consumer_count[e.from.0] += 1;
        }
    }
    let mut chain_of = vec![usize::MAX; n];
    let mut chains: Vec<Chain> = Vec::new();
    for node in &graph.nodes {
        let i = node.id.0;
        let chain_onto = if chaining && node.inputs.len() == 1 {
            let e = &node.inputs[0];
            (e.partitioning == Partitioning::Forward
                && e.port == 0
                && consumer_count[e.from.0] == 1
                && parallelism[e.from.0] == parallelism[i])
                .then_some(e.from.0)
        } else {
            None
        };
        match chain_onto {
            Some(prev) => {
                let c = chain_of[prev];
                chains[c].nodes.push(node.id);
                chain_of[i] = c;
            }
            None => {
                chain_of[i] = chains.len();
                chains.push(Chain {
                    nodes: vec![node.id],
                    parallelism: parallelism[i],
                });
            }
        }
    }
    Ok(PhysicalPlan {
        graph,
        parallelism,
        chains,
        chain_of,
    })
}

impl PhysicalPlan {
    /// A readable DAG: one line per task (chain) with its operators and input edges.
    pub fn explain(&self) -> String {
        let mut s = String::new();
        for (ci, chain) in self.chains.iter().enumerate() {
            let names: Vec<&str> = chain
                .nodes
                .iter()
                .map(|id| self.graph.node(*id).name.as_str())
                .collect();
            let _ = write!(
                s,
                "task {ci} [p={}]: {}",
                chain.parallelism,
                names.join(" -> ")
            );
            let head = self.graph.node(chain.head());
            for e in &head.inputs {
                let _ = write!(
                    s,
                    "  <- {} from task {} ({}{})",
                    e.partitioning,
                    self.chain_of[e.from.0],
                    self.graph.node(e.from).name,
                    if e.port > 0 {
                        format!(" side output {}", e.port)
                    } else {
                        String::new()
                    }
                );
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::graph::Edge;

    fn op() -> NodeKind {
        NodeKind::Operator(crate::operator::factory(|_| {
            Ok(crate::operator::map::MapBatches::new(Ok))
        }))
    }

    fn edge(from: usize, partitioning: Partitioning) -> Edge {
        Edge {
            from: NodeId(from),
            port: 0,
            input: 0,
            partitioning,
        }
    }

    #[test]
    fn chains_forward_and_breaks_at_keyby() {
        let mut g = JobGraph::default();
        let src = crate::connector::tests_support::empty_source();
        g.add("src", NodeKind::Source(src), vec![]);
        g.add("map", op(), vec![edge(0, Partitioning::Forward)]);
        g.add(
            "agg",
            op(),
            vec![edge(1, Partitioning::Hash(vec!["k".into()]))],
        );
        g.add("sink", op(), vec![edge(2, Partitioning::Forward)]);
        let p = plan(&g, 2, true).unwrap();
        assert_eq!(p.chains.len(), 2);
        assert_eq!(p.chains[0].nodes, vec![NodeId(0), NodeId(1)]);
        assert_eq!(p.chains[1].nodes, vec![NodeId(2), NodeId(3)]);
        let p = plan(&g, 2, false).unwrap();
        assert_eq!(p.chains.len(), 4);
    }

    #[test]
    fn forward_between_parallelisms_becomes_rebalance() {
        let mut g = JobGraph::default();
        g.add(
            "src",
            NodeKind::Source(crate::connector::tests_support::empty_source()),
            vec![],
        );
        g.node_mut(NodeId(0)).max_parallelism = Some(1);
        g.add("map", op(), vec![edge(0, Partitioning::Forward)]);
        let p = plan(&g, 4, true).unwrap();
        assert_eq!(p.parallelism, vec![1, 4]);
        assert_eq!(p.chains.len(), 2);
        assert_eq!(
            p.graph.nodes[1].inputs[0].partitioning,
            Partitioning::Rebalance
        );
    }
}
