//! The logical job graph: what the user's program asked for, before parallelism and chaining.

use std::fmt;

use crate::connector::SourceFactoryRef;
use crate::operator::OperatorFactory;

/// Index of a node in its [`JobGraph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

/// How the rows of an edge are spread over the parallel subtasks of its consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Partitioning {
    /// Subtask i sends to subtask i (same parallelism); chainable.
    Forward,
    /// By key: hash of these columns, then key group, then subtask (Flink's `keyBy`).
    Hash(Vec<String>),
    /// Every batch to every subtask.
    Broadcast,
    /// Whole batches round-robin over the subtasks.
    Rebalance,
}

impl fmt::Display for Partitioning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Partitioning::Forward => write!(f, "FORWARD"),
            Partitioning::Hash(k) => write!(f, "HASH[{}]", k.join(", ")),
            Partitioning::Broadcast => write!(f, "BROADCAST"),
            Partitioning::Rebalance => write!(f, "REBALANCE"),
        }
    }
}

/// A stream into a node.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Producing node.
    pub from: NodeId,
    /// Output port of the producer (0 = main output, 1.. = side outputs).
    pub port: usize,
    /// Input index at the consumer (0, or 1 for the second input of a join).
    pub input: usize,
    /// How rows are spread over the consumer's subtasks.
    pub partitioning: Partitioning,
}

/// What a node does.
#[derive(Clone)]
pub enum NodeKind {
    /// Reads from outside.
    Source(SourceFactoryRef),
    /// Transforms (or, with no consumer, writes out: sinks are operators).
    Operator(OperatorFactory),
}

impl fmt::Debug for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeKind::Source(s) => write!(f, "Source({})", s.name()),
            NodeKind::Operator(_) => write!(f, "Operator"),
        }
    }
}

/// A transformation in the logical graph.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its id.
    pub id: NodeId,
    /// Display name (unique within the graph once planned).
    pub name: String,
    /// Source or operator.
    pub kind: NodeKind,
    /// Requested parallelism; `None` takes the job default.
    pub parallelism: Option<usize>,
    /// Upper bound on parallelism (a collection source or a single-file sink).
    pub max_parallelism: Option<usize>,
    /// Incoming edges.
    pub inputs: Vec<Edge>,
    /// For a sink node: the factory whose [`SinkFactory::commit`] completes its
    /// two-phase commit (the checkpoint coordinator calls it).
    ///
    /// [`SinkFactory::commit`]: crate::connector::SinkFactory::commit
    pub committer: Option<Committer>,
}

/// The sink factory that commits a sink node's output (see [`Node::committer`]).
#[derive(Clone)]
pub struct Committer(pub crate::connector::SinkFactoryRef);

impl fmt::Debug for Committer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Committer({})", self.0.name())
    }
}

/// The logical DAG of a job.
#[derive(Debug, Clone, Default)]
pub struct JobGraph {
    /// Nodes, in the order the program created them (a topological order).
    pub nodes: Vec<Node>,
}

impl JobGraph {
    /// Add a node and return its id.
    pub fn add(&mut self, name: impl Into<String>, kind: NodeKind, inputs: Vec<Edge>) -> NodeId {
        let id = NodeId(self.nodes.len());
        self.nodes.push(Node {
            id,
            name: name.into(),
            kind,
            parallelism: None,
            max_parallelism: None,
            inputs,
            committer: None,
        });
        id
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0]
    }

    /// The node with this id, mutably.
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id.0]
    }

    /// Edges leaving `id`, as (consumer, edge).
    pub fn consumers(&self, id: NodeId) -> Vec<(NodeId, &Edge)> {
        let mut out = Vec::new();
        for n in &self.nodes {
            for e in &n.inputs {
                if e.from == id {
                    out.push((n.id, e));
                }
            }
        }
        out
    }
}
