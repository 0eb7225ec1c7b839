//! Restoring a job from a checkpoint or savepoint: which state each new subtask gets.
//!
//! ```text
//!  LoadedCheckpoint (verified) ─▶ per node, per new subtask s of p:
//!     keyed tables    ─▶ segments whose key groups overlap s's range, rows filtered to it
//!     operator tables ─▶ old subtask s's rows (same p) or every old subtask's (rescaled)
//!     state files     ─▶ private copies of every old subtask's directory that overlaps
//!     watermark       ─▶ old subtask s's (same p) or the minimum (rescaled)
//!     source          ─▶ every old subtask's position (the source redistributes its splits)
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::record_batch::RecordBatch;

use crate::checkpoint::manifest::{from_hex, NodeManifest};
use crate::checkpoint::{
    filter_key_groups, LoadedCheckpoint, OperatorState, SnapshotKind, StateFiles, StateTable,
};
use crate::error::{Error, Result};
use crate::plan::PhysicalPlan;
use crate::state::KeyGroupRange;

static RESTORE_DIRS: AtomicU64 = AtomicU64::new(0);

/// Reads the state of one checkpoint for the subtasks of a (possibly rescaled) job.
pub(crate) struct Restorer<'a> {
    pub(crate) checkpoint: &'a LoadedCheckpoint,
    pub(crate) max_parallelism: usize,
}

impl Restorer<'_> {
    /// Check that the checkpoint was written by this job.
    pub(crate) fn check(&self, plan: &PhysicalPlan) -> Result<()> {
        let m = &self.checkpoint.manifest;
        let where_ = self.checkpoint.dir.display();
        if m.max_parallelism != self.max_parallelism {
            return Err(Error::Plan(format!(
                "checkpoint {where_} has {} key groups (max parallelism), the job {}; keep the max parallelism to restore",
                m.max_parallelism, self.max_parallelism
            )));
        }
        let ours: Vec<&str> = plan.graph.nodes.iter().map(|n| n.name.as_str()).collect();
        let theirs: Vec<&str> = m.nodes.iter().map(|n| n.name.as_str()).collect();
        if m.kind != SnapshotKind::Final && ours != theirs {
            return Err(Error::Plan(format!(
                "checkpoint {where_} was written by a different job: its operators are [{}], this job's are [{}]",
                theirs.join(", "),
                ours.join(", ")
            )));
        }
        Ok(())
    }

    fn node(&self, node: usize) -> Result<&NodeManifest> {
        self.checkpoint.manifest.nodes.get(node).ok_or_else(|| {
            Error::Plan(format!(
                "checkpoint {} has no operator #{node}",
                self.checkpoint.dir.display()
            ))
        })
    }

    /// The positions of every old subtask of source `node`, in subtask order.
    pub(crate) fn source_positions(&self, node: usize) -> Result<Vec<Vec<u8>>> {
        let n = self.node(node)?;
        n.subtasks
            .iter()
            .map(|s| {
                s.source_position
                    .as_deref()
                    .and_then(from_hex)
                    .ok_or_else(|| {
                        Error::Plan(format!(
                            "checkpoint {} holds no position for source '{}' subtask {}",
                            self.checkpoint.dir.display(),
                            n.name,
                            s.subtask
                        ))
                    })
            })
            .collect()
    }

    /// State and input watermark of subtask `subtask` of `parallelism` of `node`.
    pub(crate) fn operator_state(
        &self,
        node: usize,
        subtask: usize,
        parallelism: usize,
    ) -> Result<(OperatorState, i64)> {
        let n = self.node(node)?;
        let rescaled = n.parallelism != parallelism;
        let range = KeyGroupRange::for_subtask(self.max_parallelism, parallelism, subtask);
        let mut state = OperatorState {
            rescaled,
            ..OperatorState::default()
        };
        let mut watermark = if rescaled { i64::MAX } else { i64::MIN };
        for old in &n.subtasks {
            let own = old.subtask == subtask;
            if rescaled {
                watermark = watermark.min(old.watermark);
            } else if own {
                watermark = old.watermark;
            }
            for t in &old.tables {
                let idx = match state.tables.iter().position(|x| x.name == t.name) {
                    Some(i) => i,
                    None => {
                        state.tables.push(StateTable {
                            name: t.name.clone(),
                            keyed: t.keyed,
                            batches: Vec::new(),
                        });
                        state.tables.len() - 1
                    }
                };
                for seg in &t.segments {
                    if t.keyed {
                        if seg.kg_end <= range.start || seg.kg_start >= range.end {
                            continue;
                        }
                        let batches = self.checkpoint.read_batches(&seg.file)?;
                        let inside = range.start <= seg.kg_start && seg.kg_end <= range.end;
                        let batches = if inside {
                            batches
                        } else {
                            filter_key_groups(
                                &StateTable {
                                    name: t.name.clone(),
                                    keyed: true,
                                    batches,
                                },
                                range,
                            )?
                        };
                        state.tables[idx].batches.extend(batches);
                    } else if own || rescaled {
                        state.tables[idx]
                            .batches
                            .extend(self.checkpoint.read_batches(&seg.file)?);
                    }
                }
            }
            for f in &old.files {
                let old_range = KeyGroupRange::new(f.kg_start, f.kg_end);
                if old_range.end <= range.start || old_range.start >= range.end {
                    continue;
                }
                let dir = restore_dir(node, subtask);
                self.checkpoint.materialize(f, &dir)?;
                state.files.push(StateFiles {
                    name: f.name.clone(),
                    key_groups: old_range,
                    dir,
                });
            }
        }
        if watermark == i64::MAX {
            watermark = i64::MIN;
        }
        Ok((state, watermark))
    }

    /// In-flight rows stored by an unaligned checkpoint for subtask `subtask` of `node`.
    pub(crate) fn channel_state(
        &self,
        node: usize,
        subtask: usize,
        parallelism: usize,
    ) -> Result<Vec<(usize, RecordBatch)>> {
        let n = self.node(node)?;
        let mut out = Vec::new();
        for old in &n.subtasks {
            if old.channel_state.is_empty() {
                continue;
            }
            if n.parallelism != parallelism {
                return Err(Error::Plan(format!(
                    "checkpoint {} holds in-flight data (an unaligned checkpoint) of '{}' and cannot be restored at another parallelism; take a savepoint (always aligned) to rescale",
                    self.checkpoint.dir.display(),
                    n.name
                )));
            }
            if old.subtask == subtask {
                for c in &old.channel_state {
                    for b in self.checkpoint.read_batches(&c.file)? {
                        out.push((c.input, b));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every sink's committables in the checkpoint, by node.
    pub(crate) fn committables(&self) -> HashMap<usize, Vec<Vec<u8>>> {
        let mut out: HashMap<usize, Vec<Vec<u8>>> = HashMap::new();
        for (i, n) in self.checkpoint.manifest.nodes.iter().enumerate() {
            for s in &n.subtasks {
                for c in &s.committables {
                    if let Some(b) = from_hex(c) {
                        out.entry(i).or_default().push(b);
                    }
                }
            }
        }
        out
    }
}

fn restore_dir(node: usize, subtask: usize) -> PathBuf {
    std::env::temp_dir().join(format!(
        "millstream-restore-{}-{node}-{subtask}-{}",
        std::process::id(),
        RESTORE_DIRS.fetch_add(1, Ordering::Relaxed)
    ))
}
