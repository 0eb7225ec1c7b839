//! From a program to something runnable.
//!
//! The DataStream API (the client) records a logical [`JobGraph`]: nodes are sources and
//! operators, edges are streams with a partitioning. [`physical::plan`] resolves
//! parallelism, fixes forward edges between operators of different parallelism (they become
//! rebalance edges, as in Flink), and chains forward-connected operators into one task, so a
//! batch crosses a thread boundary only where data must be redistributed.

pub mod graph;
pub mod physical;

pub use graph::{Edge, JobGraph, Node, NodeId, NodeKind, Partitioning};
pub use physical::{plan, Chain, PhysicalPlan};
